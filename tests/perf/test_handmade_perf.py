"""Discovery and the first poll on 1,000 hand-made queues (due-time sets in ms and in
seconds, priority sets, wrapper dead-letter lists, jobs with their own time fields) among
100,000 unrelated keys, side by side with 1,000 plain lists among as many, in one run: the
evidence sampling may cost at most twice the plain case.

Run: python -m pytest -n 0 -m perf -s tests/perf/test_handmade_perf.py
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import redis

from helpers import monitor_at

pytestmark = pytest.mark.perf

QUEUES = 1_000
UNRELATED = 100_000
ROUNDS = 3  # alternated, best of each: the machine is shared


def fill_handmade(r: redis.Redis, now_ms: int) -> None:
    now_s = now_ms // 1000
    pipe = r.pipeline(transaction=False)
    for i in range(QUEUES):
        shape = i % 5
        if shape == 0:
            pipe.zadd(f"emails:{i}:delayed", {f'{{"id":"d{i}-{j}"}}': now_ms + (j - 2) * 60_000
                                              for j in range(5)})
        elif shape == 1:
            pipe.zadd(f"retry:hooks:{i}", {f"r{i}-{j}": now_s + (j - 2) * 60 for j in range(5)})
        elif shape == 2:
            pipe.zadd(f"jobs:{i}:by_priority", {f'{{"id":"p{i}-{j}"}}': j for j in range(5)})
        elif shape == 3:
            pipe.rpush(f"work:{i}:failed", *[json.dumps(
                {"queue": f"work:{i}", "job": {"id": f"j{i}-{j}"}, "error": "boom",
                 "failed_at": now_s - 60}) for j in range(3)])
        else:
            pipe.rpush(f"work:{i}", *[json.dumps({"id": f"w{i}-{j}", "created_at": now_s})
                                      for j in range(3)])
    pipe.execute()


def fill_plain(r: redis.Redis) -> None:
    pipe = r.pipeline(transaction=False)
    for i in range(QUEUES):
        pipe.rpush(f"list:{i}", "a", "b", "c")
    pipe.execute()


async def discover_and_poll(url: str) -> tuple[float, int, int]:
    monitor = monitor_at(url)
    await monitor.connect()
    before = monitor.client.round_trips.count
    start = time.perf_counter()
    await monitor.discover()
    snap = await monitor.poll()
    elapsed = time.perf_counter() - start
    trips = monitor.client.round_trips.count - before
    await monitor.aclose()
    return elapsed, trips, len(snap.queues)


def test_handmade_within_twice_plain_lists(redis_url):
    base = redis_url.rsplit("/", 1)[0]
    urls = {"hand-made": f"{base}/1", "plain lists": f"{base}/2"}
    for url in urls.values():
        r = redis.Redis.from_url(url)
        r.flushdb()
        r.execute_command("DEBUG", "POPULATE", UNRELATED, "cache")
        r.close()
    r = redis.Redis.from_url(urls["hand-made"])
    s, us = r.time()
    fill_handmade(r, s * 1000 + us // 1000)
    r.close()
    r = redis.Redis.from_url(urls["plain lists"])
    fill_plain(r)
    r.close()

    best: dict[str, tuple[float, int, int]] = {}
    for _ in range(ROUNDS):
        for name, url in urls.items():
            got = asyncio.run(discover_and_poll(url))
            if name not in best or got[0] < best[name][0]:
                best[name] = got
    for url in urls.values():
        r = redis.Redis.from_url(url)
        r.flushdb()
        r.close()
    hand, plain = best["hand-made"], best["plain lists"]
    ratio = hand[0] / plain[0]
    print(f"\ndiscovery + first poll, {QUEUES:,} queues among {UNRELATED:,} unrelated keys "
          f"(best of {ROUNDS}):"
          f"\n  hand-made:   {hand[0]:.2f} s, {hand[1]} round trips, {hand[2]} queues"
          f"\n  plain lists: {plain[0]:.2f} s, {plain[1]} round trips, {plain[2]} queues"
          f"\n  ratio {ratio:.2f}")
    assert hand[2] == plain[2] == QUEUES
    assert ratio <= 2.0
