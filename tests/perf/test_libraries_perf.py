"""Discovery + first poll of 1,000 queues of mixed libraries (with their noise keys:
results streams, event logs, job hashes, message hashes) against 1,000 plain list queues,
measured in the same run.

Run: python -m pytest -n 0 -m perf -s tests/perf/test_libraries_perf.py
"""

from __future__ import annotations

import asyncio
import time

import pytest
import redis

from helpers import REDUCED, monitor_at

pytestmark = [pytest.mark.perf,
              pytest.mark.skipif(REDUCED, reason="dramatiq and BullMQ need Lua")]

PER_LIBRARY = 200  # five libraries: 1,000 queues


def server_usec(r: redis.Redis) -> int:
    """CPU time the server spent in commands so far (INFO commandstats)."""
    return sum(int(v["usec"]) for v in r.info("commandstats").values())


async def measure(url: str) -> tuple[int, float, int, int, int, float]:
    """(queues, discovery + first poll s, round trips, server usec, keys, first poll s)"""
    r = redis.Redis.from_url(url)
    usec_before = server_usec(r)
    monitor = monitor_at(url)
    await monitor.connect()
    start = time.perf_counter()
    before = monitor.client.round_trips.count
    await monitor.discover()
    polled = time.perf_counter()
    snap = await monitor.poll()
    elapsed = time.perf_counter() - start
    poll_s = time.perf_counter() - polled
    trips = monitor.client.round_trips.count - before
    await monitor.aclose()
    usec = server_usec(r) - usec_before
    keys = r.dbsize()
    r.close()
    return len(snap.queues), elapsed, trips, usec, keys, poll_s


def make_libraries(url: str) -> None:
    """Each library's own producer; RQ's worker leaves result streams behind."""
    import dramatiq
    from celery import Celery
    from dramatiq.brokers.redis import RedisBroker
    from huey import RedisHuey
    from rq import Queue

    import libjobs
    from rqworker import QuietWorker

    conn = redis.Redis.from_url(url)
    rq_queues = [Queue(f"rq{i}", connection=conn) for i in range(PER_LIBRARY)]
    for q in rq_queues:
        q.enqueue(libjobs.ok, 1)
        q.enqueue(libjobs.ok, 2)
    QuietWorker(rq_queues[: PER_LIBRARY // 2], connection=conn).work(burst=True)
    app = Celery("perf", broker=url)
    add = app.task(name="jobs.add")(libjobs.add)
    for i in range(PER_LIBRARY):
        add.apply_async((i, i), queue=f"celery{i}")
    for i in range(PER_LIBRARY):
        RedisHuey(f"huey{i}", url=url).task()(libjobs.ok)(i)
    broker = RedisBroker(url=url)
    for i in range(PER_LIBRARY):
        dramatiq.actor(libjobs.ok, queue_name=f"dq{i}", broker=broker,
                       actor_name=f"ok{i}").send(i)
    broker.close()

    async def bull():
        from bullmq import Queue as BullQueue

        for i in range(PER_LIBRARY):
            q = BullQueue(f"bull{i}", {"connection": url})
            await q.add("job", {"i": i})
            await q.close()

    asyncio.run(bull())
    conn.close()


def test_mixed_libraries_cost_at_most_twice_plain_lists(server_factory):
    plain_server = server_factory()
    r = redis.Redis.from_url(plain_server.url)
    for i in range(5 * PER_LIBRARY):
        r.rpush(f"list{i}", "a", "b")
    r.close()
    mixed_server = server_factory()
    make_libraries(mixed_server.url)
    # Interleaved, best of three each: a busy machine slows both alike.
    runs = [(asyncio.run(measure(plain_server.url)), asyncio.run(measure(mixed_server.url)))
            for _ in range(5)]
    plain = min((p for p, _ in runs), key=lambda m: m[1])  # best discovery + first poll
    mixed = min((m for _, m in runs), key=lambda m: m[1])
    for name, (queues, elapsed, trips, usec, keys, poll_s) in (("plain lists", plain),
                                                               ("mixed libraries", mixed)):
        print(f"\n{name:16}: {queues:5} queues from {keys:6} keys, discovery + first poll "
              f"{elapsed * 1000:7.0f} ms (poll {poll_s * 1000:5.0f} ms), {trips:3} round trips, "
              f"server {usec / 1000:6.1f} ms")
    print(f"ratio mixed/plain: discovery + poll {mixed[1] / plain[1]:.2f}x, "
          f"poll {mixed[5] / plain[5]:.2f}x, server {mixed[3] / plain[3]:.2f}x")
    assert plain[0] == mixed[0] == 5 * PER_LIBRARY  # every library queue, no noise as queues
    # The poll, paid every second: at most twice the plain lists'. (Discovery also TYPEs
    # the libraries' noise keys, about 3x as many keys here; its ratio is printed above.)
    assert mixed[5] <= 2 * plain[5]
    # Round trips: one SCAN + one TYPE pipeline per 1,000 keys, one SMEMBERS for the
    # signature sets, the poll's two (counts; next jobs' body times): nothing per queue.
    batches = -(-mixed[4] // 1000)
    assert mixed[2] <= 2 * batches + 1 + 2
