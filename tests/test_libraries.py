"""The queue libraries' own layouts, made by the libraries themselves (producers and
workers), as `status --json` and the backend see them.

Libraries that need Lua (dramatiq, BullMQ, saq) are skipped on the reduced server; there
the Lua warning is tested instead. Tests that run a library's worker are marked
`libraries` (run them once in CI with `-m libraries`).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import subprocess
import sys
import time
from typing import cast

import pytest
import redis

from ferrite_tui.backend.libraries.actions import LibraryActions
from ferrite_tui.backend.libraries.browse import StateItem
from ferrite_tui.config import Config
from helpers import (
    REDUCED,
    async_wait_until,
    client_at,
    dramatiq_worker_runs,
    monitor_at,
    wait_until,
)

needs_lua = pytest.mark.skipif(REDUCED, reason="the library needs Lua (reduced server)")


def status(url: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "ferrite_tui", "status", url, "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def library_queues(data: dict, library: str) -> dict[str, dict]:
    return {q["name"]: q for q in data["queues"] if q.get("library") == library}


def counts(q: dict) -> dict[str, int | None]:
    """label -> count of each state key."""
    return {s["label"]: s["count"] for s in q["states"]}


def generic_keys(data: dict) -> set[str]:
    return {q["key"] for q in data["queues"] if "library" not in q}


async def monitor_snapshot(url: str):
    m = monitor_at(url)
    await m.connect()
    try:
        await m.discover()
        return await m.poll(), m
    finally:
        await m.aclose()


async def describe(url: str, library: str, label: str, member: bytes) -> dict[str, str]:
    """The inspector's library fields of `member` in the state labelled `label`."""
    from ferrite_tui.backend.libraries.items import describe as describe_member

    snap, _ = await monitor_snapshot(url)
    ref = next(s.ref for s in snap.queues if s.ref.library and s.ref.library.library == library)
    state = next(s for s in ref.library.states if s.name == label)
    client = client_at(url)
    await client.connect()
    try:
        return dict(await describe_member(client, ref.library, state, member))
    finally:
        await client.aclose()


# -- RQ ------------------------------------------------------------------------------------

def rq_layout(url: str, flag) -> tuple:
    """RQ's own producer and worker: one job done, one failed, one scheduled in an hour,
    then one more queued."""
    from rq import Queue

    import libjobs
    from rqworker import QuietWorker

    conn = redis.Redis.from_url(url)
    q = Queue("default", connection=conn)
    q.enqueue(libjobs.ok, 1)
    failing = q.enqueue(libjobs.flaky, str(flag))
    scheduled = q.enqueue_in(datetime.timedelta(hours=1), libjobs.ok, 3)
    QuietWorker([q], connection=conn).work(burst=True)
    queued = q.enqueue(libjobs.ok, 4)
    return conn, q, failing.id, scheduled.id, queued.id


@pytest.mark.libraries
async def test_rq_states_and_requeue_from_failed(redis_url, tmp_path):
    flag = tmp_path / "fail"
    flag.touch()
    conn, q, failed_id, _scheduled_id, queued_id = rq_layout(redis_url, flag)
    data = status(redis_url)
    rq_queues = library_queues(data, "rq")
    assert set(rq_queues) == {"default"}
    c = counts(rq_queues["default"])
    assert (c["queued"], c["wip"], c["scheduled"], c["failed"], c["finished"]) == (1, 0, 1, 1, 1)
    assert rq_queues["default"]["depth"] == 1
    # Results streams, job hashes and worker keys are RQ's, not queues.
    assert not any(k.startswith("rq:") for k in generic_keys(data))
    sched = next(s for s in rq_queues["default"]["states"] if s["label"] == "scheduled")
    # Seconds scores read as seconds: due in about an hour, not 20000 days ago.
    assert 3_000_000 < sched["next_at_ms"] - time.time() * 1000 < 3_700_000
    assert not any("overdue" in a for a in rq_queues["default"]["alerts"])
    assert "1 failed" in rq_queues["default"]["alerts"]
    fields = await describe(redis_url, "rq", "failed", failed_id.encode())
    assert fields["description"].startswith("libjobs.flaky(")
    assert fields["status"] == "failed"
    # RQ's exc_string (base64 of zlib) decoded: the traceback's last line, as text.
    assert "ValueError: flaky:" in fields["traceback"]
    assert fields["data"].startswith("pickle, ") and "libjobs.flaky" in fields["data"]

    # Requeue from failed with the console, then RQ's own worker runs it successfully.
    snap, _ = await monitor_snapshot(redis_url)
    ref = next(s.ref for s in snap.queues if s.ref.library and s.ref.library.library == "rq")
    client = client_at(redis_url)
    await client.connect()
    try:
        res = await LibraryActions(client).rq_requeue_failed(ref.library, [failed_id])
        again = await LibraryActions(client).rq_requeue_failed(ref.library, [failed_id])
    finally:
        await client.aclose()
    assert (res.done, again.done, again.skipped) == ([failed_id], [], [failed_id])
    assert conn.zscore("rq:failed:default", failed_id) is None
    assert conn.hget(f"rq:job:{failed_id}", "status") == b"queued"
    assert conn.ttl(f"rq:job:{failed_id}") == -1
    assert conn.lrange("rq:queue:default", 0, -1) == [queued_id.encode(), failed_id.encode()]
    flag.unlink()
    from rq.job import Job

    from rqworker import QuietWorker

    QuietWorker([q], connection=conn).work(burst=True)
    assert Job.fetch(failed_id, connection=conn).get_status() == "finished"
    assert conn.zscore("rq:finished:default", failed_id) is not None
    conn.close()


@pytest.mark.libraries
async def test_rq_run_scheduled_now_and_delete(redis_url, tmp_path):
    conn, q, _failed_id, scheduled_id, queued_id = rq_layout(redis_url, tmp_path / "no-flag")
    snap, _ = await monitor_snapshot(redis_url)
    ref = next(s.ref for s in snap.queues if s.ref.library and s.ref.library.library == "rq")
    client = client_at(redis_url)
    await client.connect()
    try:
        actions = LibraryActions(client)
        res = await actions.rq_run_now(ref.library, [scheduled_id])
        deleted = await actions.rq_delete(ref.library, "rq:queue:default", [queued_id])
    finally:
        await client.aclose()
    assert res.done == [scheduled_id] and deleted.done == [queued_id]
    assert conn.zcard("rq:scheduled:default") == 0
    assert not conn.exists(f"rq:job:{queued_id}")
    assert conn.lrange("rq:queue:default", 0, -1) == [scheduled_id.encode()]
    from rq.job import Job

    from rqworker import QuietWorker

    QuietWorker([q], connection=conn).work(burst=True)
    assert Job.fetch(scheduled_id, connection=conn).get_status() == "finished"
    conn.close()


async def test_rq_actions_respect_read_only(redis_url, tmp_path):
    from rq import Queue

    import libjobs

    conn = redis.Redis.from_url(redis_url)
    job = Queue("default", connection=conn).enqueue_in(datetime.timedelta(hours=1),
                                                        libjobs.ok, 1)
    snap, _ = await monitor_snapshot(redis_url)
    ref = next(s.ref for s in snap.queues if s.ref.library)
    client = client_at(redis_url, read_only=True)
    await client.connect()
    try:
        from ferrite_tui.backend.errors import ReadOnlyError

        with pytest.raises(ReadOnlyError):
            await LibraryActions(client).rq_run_now(ref.library, [job.id])
    finally:
        await client.aclose()
    assert conn.zcard("rq:scheduled:default") == 1
    conn.close()


# -- Celery -----------------------------------------------------------------------------

def celery_app(url: str):
    from celery import Celery

    app = Celery("t", broker=url)
    app.conf.broker_transport_options = {"priority_steps": list(range(10)),
                                         "queue_order_strategy": "priority"}
    return app


async def test_celery_priority_sublists_are_one_queue_and_purge(redis_url):
    import libjobs

    app = celery_app(redis_url)
    add = app.task(name="jobs.add")(libjobs.add)
    add.delay(1, 2)
    add.apply_async((3, 4), priority=5)
    add.apply_async((5, 6), priority=5)
    add.apply_async((7, 8), queue="other")
    data = status(redis_url)
    celery = library_queues(data, "celery")
    assert set(celery) == {"celery", "other"}
    assert celery["celery"]["depth"] == 3  # 1 + 2 in the priority-5 sublist
    assert counts(celery["celery"])["priority 5"] == 2
    r = redis.Redis.from_url(redis_url)
    fields = await describe(redis_url, "celery", "queued", r.lindex("celery", -1))
    r.close()
    assert (fields["task"], fields["argsrepr"]) == ("jobs.add", "(1, 2)")
    # LPUSH producer: row 0 of a next-first window is the next job, the newest is last.
    from ferrite_tui.backend.libraries.items import next_index, read_next_first

    add.apply_async((9, 9))
    client = client_at(redis_url)
    await client.connect()
    try:
        page = await read_next_first(client, "celery", 0, 10)
        tail_page = await read_next_first(client, "celery", 1, 1)
    finally:
        await client.aclose()
    assert [json.loads(it.raw)["headers"]["argsrepr"] for it in page.items] == ["(1, 2)", "(9, 9)"]
    assert [next_index(it) for it in page.items] == [0, 1] and page.start == 0
    assert [json.loads(it.raw)["headers"]["argsrepr"] for it in tail_page.items] == ["(9, 9)"]
    assert tail_page.start == 1
    redis.Redis.from_url(redis_url).lpop("celery")  # back to the counts below
    assert not any(k.startswith("celery") or k.startswith("_kombu") or k == "other"
                   for k in generic_keys(data))
    snap, _ = await monitor_snapshot(redis_url)
    ref = next(s.ref for s in snap.queues if s.ref.library and s.ref.library.name == "celery")
    client = client_at(redis_url)
    await client.connect()
    try:
        stale = await LibraryActions(client).celery_purge(ref.library, seen=2)
        res = await LibraryActions(client).celery_purge(ref.library, seen=3)
    finally:
        await client.aclose()
    assert stale.done == [] and res.done == ["3"]
    r = redis.Redis.from_url(redis_url)
    assert r.llen("celery") == 0 and r.llen("celery\x06\x165") == 0 and r.llen("other") == 1
    r.close()


# -- dramatiq -------------------------------------------------------------------------------

@needs_lua
@pytest.mark.libraries
async def test_dramatiq_states_and_requeue_dead(redis_url, tmp_path):
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    import libjobs

    flag = tmp_path / "fail"
    flag.touch()
    broker = RedisBroker(url=redis_url)
    dramatiq.set_broker(broker)
    ok = dramatiq.actor(libjobs.ok, max_retries=0, queue_name="default", broker=broker,
                        actor_name="ok")
    flaky = dramatiq.actor(libjobs.flaky, max_retries=0, queue_name="default",
                           broker=broker, actor_name="flaky")
    conn = redis.Redis.from_url(redis_url)
    ok.send(1)
    dead = flaky.send(str(flag))
    ok.send_with_options(args=(3,), delay=3_600_000)
    worker = dramatiq.Worker(broker, worker_timeout=50, worker_threads=1)
    worker.start()
    try:
        wait_until(lambda: conn.zcard("dramatiq:default.XQ") == 1
                   and conn.llen("dramatiq:default") == 0, timeout=60,
                   message="dramatiq worker did not dead-letter the failing job")
    finally:
        worker.stop()
    ok.send(4)
    data = status(redis_url)
    q = library_queues(data, "dramatiq")["default"]
    c = counts(q)
    assert (c["queued"], c["dead"]) == (1, 1)
    assert sum(s["count"] for s in q["states"] if s["state"] == "scheduled") == 1
    assert not any(k.startswith("dramatiq:") for k in generic_keys(data))
    fields = await describe(redis_url, "dramatiq", "dead",
                            conn.zrange("dramatiq:default.XQ", 0, 0)[0])
    assert fields["actor_name"] == "flaky"

    snap, _ = await monitor_snapshot(redis_url)
    ref = next(s.ref for s in snap.queues if s.ref.library)
    redis_id = conn.zrange("dramatiq:default.XQ", 0, 0)[0].decode()
    client = client_at(redis_url)
    await client.connect()
    try:
        res = await LibraryActions(client).dramatiq_requeue_dead(ref.library, [redis_id])
    finally:
        await client.aclose()
    assert res.done == [redis_id]
    assert conn.zcard("dramatiq:default.XQ") == 0 and conn.hlen("dramatiq:default.XQ.msgs") == 0
    flag.unlink()
    dramatiq_worker_runs(broker, dead.message_id)
    assert conn.zcard("dramatiq:default.XQ") == 0
    conn.close()


# -- BullMQ ------------------------------------------------------------------------------

@needs_lua
@pytest.mark.libraries
async def test_bullmq_states_delayed_scores_and_declared_actions(redis_url):
    from bullmq import Queue, Worker

    conn = redis.Redis.from_url(redis_url)

    async def process(job, token):
        if job.data.get("fail"):
            raise ValueError("boom")
        return "ok"

    queue = Queue("mail", {"connection": redis_url})
    await queue.add("send", {"x": 1})
    await queue.add("send", {"fail": True}, {"attempts": 1})
    await queue.add("later", {"x": 2}, {"delay": 3_600_000})
    worker = Worker("mail", process, {"connection": redis_url})
    try:
        await async_wait_until(lambda: conn.zcard("bull:mail:failed") == 1
                               and conn.zcard("bull:mail:completed") == 1, timeout=60,
                               message="BullMQ worker did not finish its jobs")
    finally:
        await worker.close()
    first = await queue.add("send", {"x": 4})
    await queue.add("send", {"x": 5})
    await queue.close()
    data = status(redis_url)
    q = library_queues(data, "bullmq")["mail"]
    c = counts(q)
    assert (c["wait"], c["delayed"], c["failed"], c["completed"]) == (2, 1, 1, 1)
    delayed = next(s for s in q["states"] if s["label"] == "delayed")
    assert 3_000_000 < delayed["next_at_ms"] - time.time() * 1000 < 3_700_000
    # BullMQ's own retry / promote / remove, through its package (where Lua runs).
    assert q["actions"] == ["requeue", "run_now", "delete"]
    assert not any(k.startswith("bull:") for k in generic_keys(data))
    # LPUSH producer: the next job is at the tail.
    assert conn.lindex("bull:mail:wait", -1).decode() == first.id
    failed_id = conn.zrange("bull:mail:failed", 0, 0)[0]
    fields = await describe(redis_url, "bullmq", "failed", failed_id)
    assert fields["failedReason"] == "boom" and "ValueError: boom" in fields["traceback"]
    conn.close()


# -- arq, huey, saq, taskiq ----------------------------------------------------------------

@pytest.mark.libraries
async def test_arq_due_and_deferred(redis_url):
    from arq import create_pool
    from arq.connections import RedisSettings
    from arq.worker import Worker

    async def ok(ctx, x):
        return x

    async def boom(ctx, x):
        raise ValueError("boom")

    settings = RedisSettings.from_dsn(redis_url)
    pool = await create_pool(settings)
    await pool.enqueue_job("ok", 1)
    await pool.enqueue_job("boom", 2)
    worker = Worker(functions=[ok, boom], redis_settings=settings, burst=True, max_tries=1,
                    poll_delay=0.05, handle_signals=False)
    await worker.main()
    await worker.close()
    await pool.enqueue_job("ok", 3, _defer_by=3600)
    await pool.enqueue_job("ok", 4)
    await pool.aclose()
    data = status(redis_url)
    q = library_queues(data, "arq")["arq:queue"]
    c = counts(q)
    assert (c["due"], c["deferred"]) == (1, 1)
    assert not any(k.startswith("arq:") for k in generic_keys(data))


async def test_huey_queue_schedule_and_results(redis_url):
    from huey import RedisHuey

    import libjobs

    huey = RedisHuey("jobs", url=redis_url)
    ok = huey.task()(libjobs.ok)
    boom = huey.task()(libjobs.boom)

    ok(1)
    boom(2)
    ok.schedule((3,), delay=3600)
    for _ in range(3):  # the consumer's own steps: dequeue, execute (or schedule)
        try:
            huey.execute(huey.dequeue())
        except Exception:
            pass
    ok(4)
    ok(5)
    data = status(redis_url)
    q = library_queues(data, "huey")["jobs"]
    c = counts(q)
    # huey's own counts; its failure (a stored huey.utils.Error) is failed, not done.
    from huey.utils import Error

    results = [huey.serializer.deserialize(v) for v in huey.all_results().values()]
    errors = sum(isinstance(r, Error) for r in results)
    assert (c["queued"], c["schedule"], c["results"], c["errors"]) == (
        huey.pending_count(), huey.scheduled_count(), len(results) - errors, errors) == (
        2, 1, 1, 1)
    assert q["totals"]["failed"] == 1 and q["totals"]["done"] == 1
    sched = next(s for s in q["states"] if s["label"] == "schedule")
    assert 3_000_000 < sched["next_at_ms"] - time.time() * 1000 < 3_700_000
    assert not any("overdue" in a for a in q["alerts"])
    assert not any(k.startswith("huey.") for k in generic_keys(data))
    r = redis.Redis.from_url(redis_url)
    fields = await describe(redis_url, "huey", "queued", r.lindex("huey.redis.jobs", -1))
    r.close()
    # A pickle is summarised from its opcodes, never loaded.
    assert fields["body"].startswith("pickle, ") and "libjobs.ok" in fields["body"]
    table = subprocess.run([sys.executable, "-m", "ferrite_tui", "status", redis_url],
                           capture_output=True, text=True, timeout=120, check=True).stdout
    row = next(line for line in table.splitlines() if "huey.redis.jobs" in line)
    assert row.split()[0] == "huey" and "scheduled 1 · done 1 · failed 1" in row


@needs_lua
@pytest.mark.libraries
async def test_saq_states(redis_url):
    from saq import Queue, Worker

    async def ok(ctx, x=0):
        return x

    async def boom(ctx, x=0):
        raise ValueError("boom")

    conn = redis.Redis.from_url(redis_url)
    queue = Queue.from_url(redis_url, name="mail")
    await queue.connect()
    await queue.enqueue("ok", x=1)
    await queue.enqueue("boom", x=2)
    await queue.enqueue("ok", x=3, scheduled=int(time.time()) + 3600)
    worker = Worker(queue, functions=[ok, boom], concurrency=1, dequeue_timeout=0.05)
    task = asyncio.create_task(worker.start())
    try:
        await async_wait_until(lambda: conn.llen("saq:mail:queued") == 0
                               and conn.llen("saq:mail:active") == 0
                               and conn.zcard("saq:mail:incomplete") == 1, timeout=60,
                               message="saq worker did not finish its jobs")
    finally:
        await worker.stop()
        task.cancel()
    await queue.enqueue("ok", x=4)
    await queue.disconnect()
    data = status(redis_url)
    q = library_queues(data, "saq")["mail"]
    c = counts(q)
    assert (c["queued"], c["active"], c["scheduled"]) == (1, 0, 1)
    assert q["read_only"]
    assert not any(k.startswith("saq:") for k in generic_keys(data))
    conn.close()


async def test_taskiq_stream(redis_url):
    from taskiq_redis import RedisStreamBroker

    stream = RedisStreamBroker(redis_url)
    import libjobs

    ok = stream.task(task_name="ok")(libjobs.own_copy(libjobs.ok))
    await stream.startup()
    await ok.kiq(1)
    await ok.kiq(2)
    await stream.shutdown()
    data = status(redis_url)
    q = library_queues(data, "taskiq")["taskiq"]
    assert q["kind"] == "stream"
    assert [g["name"] for g in q["groups"]] == ["taskiq"]
    assert q["groups"][0]["lag"] in (2, None)  # None where the server has no lag field


# -- all together, and the seed's keys ---------------------------------------------------

async def test_seed_keys_are_never_mistaken(redis_url, tmp_path):
    """The seed's layouts classify exactly as without libraries, next to RQ, Celery and
    huey keys (whose names look like work lists)."""
    import redis.asyncio as aioredis

    from ferrite_tui.demo.seeding import seed

    client = aioredis.Redis.from_url(redis_url)
    await seed(client)
    await client.aclose()
    before = {(q["kind"], q["key"]) for q in status(redis_url)["queues"]}
    from rq import Queue

    import libjobs

    conn = redis.Redis.from_url(redis_url)
    Queue("default", connection=conn).enqueue(libjobs.ok, 1)
    app = celery_app(redis_url)
    # A queue name of its own: kombu declares a queue (its binding set) once per process.
    app.task(name="jobs.add")(libjobs.add).apply_async((1, 2), queue="mixed")
    from huey import RedisHuey

    RedisHuey("jobs", url=redis_url).task()(libjobs.ok)(1)
    data = status(redis_url)
    after = {(q["kind"], q["key"]) for q in data["queues"] if "library" not in q}
    assert after == before
    assert {q["library"] for q in data["queues"] if "library" in q} == {"rq", "celery", "huey"}
    conn.close()


# -- a library that needs Lua, on a server without it --------------------------------------

async def test_lua_libraries_are_flagged_on_a_server_without_lua(tmp_path):
    """dramatiq's own keys, made on a server with Lua, copied (DUMP/RESTORE) to one
    without: the console flags the queue there, and only there."""
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    import libjobs
    from ferrite_tui.demo.server import RedisServer, reduced_args
    from helpers import SERVER_BINARY

    full = RedisServer(binary=SERVER_BINARY)
    reduced = RedisServer(binary=SERVER_BINARY, extra_args=reduced_args())
    full.start()
    try:
        reduced.start()
        try:
            broker = RedisBroker(url=full.url)
            ok = dramatiq.actor(libjobs.ok, queue_name="default", broker=broker,
                                actor_name="ok")
            ok.send(1)
            ok.send(2)
            src = redis.Redis.from_url(full.url)
            dst = redis.Redis.from_url(reduced.url)
            for key in src.scan_iter(count=1000):
                dst.restore(key, 0, src.dump(key))
            src.close()
            dst.close()
            on_full = library_queues(status(full.url), "dramatiq")["default"]
            on_reduced = library_queues(status(reduced.url), "dramatiq")["default"]
            broker.close()
        finally:
            reduced.stop()
    finally:
        full.stop()
    warning = "dramatiq needs Lua; this server has none"
    assert on_full["depth"] == on_reduced["depth"] == 2
    assert warning in on_reduced["alerts"] and warning not in on_full["alerts"]


async def test_celery_requeue_unacked_past_visibility_timeout(redis_url):
    """kombu (Celery's transport) takes a message without acking it; once past the
    visibility timeout the console puts it back where kombu's consumer gets it next."""
    from dataclasses import replace

    from kombu import Connection

    conn = Connection(redis_url)
    simple = conn.SimpleQueue("jobs")
    simple.put({"n": 1})
    simple.put({"n": 2})
    taken = simple.get(timeout=10)  # unacked: now in `unacked` + `unacked_index`
    assert taken.payload == {"n": 1}
    r = redis.Redis.from_url(redis_url)
    (tag,) = [t.decode() for t in r.hkeys("unacked")]
    data = status(redis_url)
    q = library_queues(data, "celery")["jobs"]
    assert counts(q)["reserved"] == 1 and counts(q)["eta"] == 0 and q["depth"] == 1
    snap, _ = await monitor_snapshot(redis_url)
    ref = next(s.ref for s in snap.queues if s.ref.library and s.ref.library.name == "jobs")
    client = client_at(redis_url)
    await client.connect()
    try:
        actions = LibraryActions(client)
        early = await actions.celery_requeue_unacked(ref.library, [tag])  # within the timeout
        lib = replace(ref.library, visibility_timeout_s=0.0)
        res = await actions.celery_requeue_unacked(lib, [tag], now_s=time.time() + 1)
    finally:
        await client.aclose()
    assert early.skipped == [tag] and res.done == [tag]
    assert r.hlen("unacked") == 0 and r.zcard("unacked_index") == 0
    again = simple.get(timeout=10)  # kombu's own consumer gets it next, marked redelivered
    assert again.payload == {"n": 1} and again.headers.get("redelivered") is True
    again.ack()
    assert simple.get(timeout=10).payload == {"n": 2}
    simple.close()
    conn.release()
    r.close()


@needs_lua
async def test_dramatiq_producer_heartbeat_is_no_dead_worker(redis_url):
    """dramatiq beats on every dispatch, enqueue included: a producer that stopped beating
    holds no message and is no dead worker (a killed worker holding messages is, on their
    queue only: test_library_own_counts.py)."""
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    import libjobs

    broker = RedisBroker(url=redis_url, heartbeat_timeout=60_000)
    ok = dramatiq.actor(libjobs.ok, queue_name="beats", broker=broker, actor_name="ok")
    ok.send(1)
    ok.send(2)  # the first send's dispatch writes this process's heartbeat
    r = redis.Redis.from_url(redis_url)
    assert r.zcard("dramatiq:__heartbeats__") == 1
    q = library_queues(status(redis_url), "dramatiq")["beats"]
    assert not any("dead worker" in a for a in q["alerts"])
    # The producer, silent for longer than the timeout (as if it ended two minutes ago).
    (producer,) = r.zrange("dramatiq:__heartbeats__", 0, 0)
    r.zadd("dramatiq:__heartbeats__", {producer: int(time.time() * 1000) - 120_000})
    q = library_queues(status(redis_url), "dramatiq")["beats"]
    assert not any("dead worker" in a for a in q["alerts"])
    broker.close()
    r.close()


async def test_pending_age_from_the_library_body_time(redis_url):
    """RQ keeps ids in its queue: the next job's age comes from its hash's ISO
    `enqueued_at`, read in the poll's second round trip (no per-queue round trip)."""
    from rq import Queue

    import libjobs
    from ferrite_tui.config import AlertConfig

    conn = redis.Redis.from_url(redis_url)
    q = Queue("default", connection=conn)
    first = q.enqueue(libjobs.ok, 1)
    q.enqueue(libjobs.ok, 2)
    # RQ's own field, aged as if the job had waited ten minutes.
    old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=10)
    conn.hset(f"rq:job:{first.id}", "enqueued_at", old.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    m = monitor_at(redis_url, Config(alerts=AlertConfig(oldest_age_seconds=300)))
    await m.connect()
    try:
        await m.discover()
        snap = await m.poll()
    finally:
        await m.aclose()
    (stats,) = [s for s in snap.queues if s.ref.library]
    assert 595_000 <= stats.oldest_ms <= 700_000
    assert "old jobs" in stats.alerts
    assert snap.round_trips == 2
    conn.close()


async def test_a_page_of_library_jobs_reads_a_big_body_only_in_the_inspector(redis_url):
    """arq keeps each job's pickle in a string: a page on screen (read at every poll)
    asks its size first and reads a big one's first bytes only; the inspector reads it
    whole."""
    from arq import create_pool
    from arq.connections import RedisSettings

    from ferrite_tui.backend.libraries.browse import read_state
    from ferrite_tui.backend.lists import BIG_ITEM

    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    big_job = await pool.enqueue_job("ok", "x" * (40 * BIG_ITEM))
    await pool.enqueue_job("ok", 1)
    await pool.aclose()
    assert big_job is not None
    snap, _ = await monitor_snapshot(redis_url)
    ref = next(s.ref for s in snap.queues if s.ref.library and s.ref.library.library == "arq")
    state = next(s for s in ref.library.states if s.name == "due")
    conn = redis.Redis.from_url(redis_url)
    client = client_at(redis_url)
    await client.connect()
    try:
        before = int(conn.info("stats")["total_net_output_bytes"])
        page = await read_state(client, state, 0, 20, int(time.time() * 1000))
        sent = int(conn.info("stats")["total_net_output_bytes"]) - before
    finally:
        await client.aclose()
    assert sent < 4 * BIG_ITEM, sent
    bodies = {it.raw.decode(): dict(cast(StateItem, it).fields) for it in page.items}
    assert "read whole when opened" in bodies[big_job.job_id]["body"]
    small = next(f for job_id, f in bodies.items() if job_id != big_job.job_id)
    assert "read whole" not in str(small)
    whole = await describe(redis_url, "arq", state.name, big_job.job_id.encode())
    assert "read whole" not in str(whole)
    conn.close()


async def test_a_page_of_rq_jobs_reads_a_big_job_hash_only_in_the_inspector(redis_url):
    """RQ keeps each job in a hash: its size (MEMORY USAGE) is asked first, and a big one
    is left for the inspector."""
    import os

    from rq import Queue

    import libjobs
    from ferrite_tui.backend.libraries.browse import read_state
    from ferrite_tui.backend.lists import BIG_ITEM

    conn = redis.Redis.from_url(redis_url)
    q = Queue("default", connection=conn)
    big_job = q.enqueue(libjobs.ok, os.urandom(8 * BIG_ITEM))  # (random: zlib keeps it big)
    small_job = q.enqueue(libjobs.ok, 1)
    snap, _ = await monitor_snapshot(redis_url)
    ref = next(s.ref for s in snap.queues if s.ref.library and s.ref.library.library == "rq")
    state = next(s for s in ref.library.states if s.name == "queued")
    client = client_at(redis_url)
    await client.connect()
    try:
        before = int(conn.info("stats")["total_net_output_bytes"])
        page = await read_state(client, state, 0, 20, int(time.time() * 1000))
        sent = int(conn.info("stats")["total_net_output_bytes"]) - before
    finally:
        await client.aclose()
    bodies = {it.raw.decode(): dict(cast(StateItem, it).fields) for it in page.items}
    assert sent < 4 * BIG_ITEM, sent
    assert "read whole when opened" in bodies[big_job.id]["body"]
    assert bodies[small_job.id]["description"].startswith("libjobs.ok")
    whole = await describe(redis_url, "rq", "queued", big_job.id.encode())
    assert whole["description"].startswith("libjobs.ok")
    conn.close()
