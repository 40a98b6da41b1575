"""Discovery over a million unrelated keys: time, round trips, and how long the event loop
(the UI's loop) is ever held, side by side with the poll running at the same time.

Run: python -m pytest -n 0 -m perf -s tests/perf/test_discovery_perf.py
"""

import asyncio
import time

import pytest
import redis

from helpers import monitor_at

pytestmark = pytest.mark.perf

KEYS = 1_000_000


async def loop_lag_probe(stop: asyncio.Event, lags: list[float]) -> None:
    """How late a 10 ms timer fires: the longest stretch the loop was busy elsewhere."""
    while not stop.is_set():
        start = time.perf_counter()
        await asyncio.sleep(0.01)
        lags.append(time.perf_counter() - start - 0.01)


async def run(url: str):
    monitor = monitor_at(url)
    await monitor.connect()
    lags: list[float] = []
    stop = asyncio.Event()
    probe = asyncio.create_task(loop_lag_probe(stop, lags))
    polls = 0

    async def poll_while_scanning():
        nonlocal polls
        while not stop.is_set():
            await monitor.poll()
            polls += 1
            await asyncio.sleep(0.2)

    poller = asyncio.create_task(poll_while_scanning())
    before = monitor.client.round_trips.count
    start = time.perf_counter()
    refs = await monitor.discover()
    elapsed = time.perf_counter() - start
    stop.set()
    await asyncio.gather(probe, poller)
    trips = monitor.client.round_trips.count - before - polls
    await monitor.aclose()
    # Baseline in the same run: the bare SCAN loop alone, no TYPE, no classification.
    r = redis.Redis.from_url(url)
    start = time.perf_counter()
    cursor, scans = 0, 0
    while True:
        cursor, _ = r.scan(cursor=cursor, count=1000)
        scans += 1
        if cursor == 0:
            break
    bare = time.perf_counter() - start
    r.close()
    return refs, elapsed, trips, max(lags), polls, bare, scans


def test_million_unrelated_keys(redis_url):
    r = redis.Redis.from_url(redis_url)
    r.execute_command("DEBUG", "POPULATE", KEYS, "cache")
    r.rpush("queue:the-one", "x")
    r.close()
    refs, elapsed, trips, worst_lag, polls, bare, scans = asyncio.run(run(redis_url))
    print(f"\ndiscovery of {KEYS + 1:,} keys: {elapsed:.1f} s, {trips} round trips, "
          f"{polls} polls meanwhile, longest event-loop stall {worst_lag * 1000:.0f} ms"
          f"\nbaseline: bare SCAN COUNT 1000 loop {bare:.1f} s, {scans} calls")
    assert [ref.key for ref in refs] == ["queue:the-one"]
    assert trips <= 2 * scans + 2  # one SCAN + one TYPE pipeline per batch
    assert polls >= 1  # the poll kept running during the scan
