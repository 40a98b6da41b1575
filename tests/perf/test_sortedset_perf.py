"""Sorted-set queues at size (issue 5), each figure beside a baseline from the same run.

1. A schedule of 1,000,000 jobs: round trips and time to open panel 4 and show its first page
   (the real app through Pilot, and the backend call alone), against the seed's way of
   reading a schedule (`zrangebyscore_with_scores(-inf, +inf)`, as its `cancel` does); the
   same for a 1,000,000-job priority queue (panel 3) against a full ZREVRANGE.
2. Run all of 50,000 overdue jobs: jobs/s, round trips and the longest single command in
   SLOWLOG (and the longest MULTI block) of the chunked WATCH/MULTI mover, against the seed's
   process_scheduled Lua script on the same data, where Lua is available.

Run: python -m pytest -n 0 -m perf -s tests/perf/test_sortedset_perf.py
Sizes: FERRITE_TUI_PERF_SCHEDULE (default 1,000,000), FERRITE_TUI_PERF_OVERDUE (50,000).
Assertions are on counts and bounds (round trips, rows fetched, SLOWLOG), never on seconds.
"""

from __future__ import annotations

import os
import time
from typing import cast

import pytest
import redis.asyncio as aioredis

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.backend.delayed import DelayedQueue
from ferrite_tui.backend.priority import CHUNK_SIZE, PAGE_SIZE, PriorityQueue
from ferrite_tui.config import Config
from ferrite_tui.ui.app import FerriteApp
from ferrite_tui.ui.panels.priority import PriorityPanel
from ferrite_tui.ui.panels.scheduled import ScheduledPanel
from helpers import async_wait_until, client_at, longest, slowlog_on, slowlog_read

pytestmark = pytest.mark.perf

SCHEDULE = int(os.environ.get("FERRITE_TUI_PERF_SCHEDULE", 1_000_000))
OVERDUE = int(os.environ.get("FERRITE_TUI_PERF_OVERDUE", 50_000))
KEY = "queue:bench:scheduled"
READY = "queue:bench:ready"
PKEY = "jobs:bench"

LUA_PROCESS_SCHEDULED = """
local jobs = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local count = 0
for _, job in ipairs(jobs) do
    redis.call('ZREM', KEYS[1], job)
    redis.call('RPUSH', KEYS[2], job)
    count = count + 1
end
return count
"""


def member(i: int, at: int) -> bytes:
    return (b'{"id":"job-%08d","payload":{"report":"daily","n":%d},"scheduled_at":%d}'
            % (i, i, at))


async def fill(r, key: str, n: int, score, batch: int = 10_000) -> None:
    for start in range(0, n, batch):
        pipe = r.pipeline(transaction=False)
        pipe.zadd(key, {member(i, score(i)): score(i) for i in range(start, min(n, start + batch))})
        await pipe.execute()


def longest_multi_block(entries) -> int:
    """A MULTI block holds the server for the sum of its commands: ZREM + RPUSH pairs."""
    best, i = 0, 0
    while i < len(entries) - 1:
        if entries[i][0] == "ZREM" and entries[i + 1][0] == "RPUSH":
            best = max(best, entries[i][1] + entries[i + 1][1])
            i += 2
        else:
            i += 1
    return best


def row(label: str, *cols: object) -> str:
    return f"  {label:<46}" + "".join(f"{c!s:>18}" for c in cols)


async def test_open_a_million_job_schedule_and_priority_queue(fresh_server, tmp_path):
    r = aioredis.Redis.from_url(fresh_server.url)
    now = int(time.time() * 1000)
    t = time.perf_counter()
    # due times spread over ±12 h around now: about half are overdue
    await fill(r, KEY, SCHEDULE, lambda i: now - 43_200_000 + (i * 86_400_000) // SCHEDULE)
    await fill(r, PKEY, SCHEDULE, lambda i: (i * 7919) % 100)
    print(f"\n  loaded 2 x {SCHEDULE:,} jobs in {time.perf_counter() - t:.1f} s")

    client = client_at(fresh_server.url)
    await client.connect()
    try:
        dq = DelayedQueue(client, KEY, READY)
        t = time.perf_counter()
        view = await dq.view(None, PAGE_SIZE, buckets=30)
        view_ms = (time.perf_counter() - t) * 1000
        pq = PriorityQueue(client, PKEY)
        t = time.perf_counter()
        pview = await pq.view(0, PAGE_SIZE, bins=12)
        pview_ms = (time.perf_counter() - t) * 1000
        deep = await pq.view(SCHEDULE // 2, PAGE_SIZE, lo=20, hi=80, bins=12)
        rt = client.round_trips.count
        t = time.perf_counter()
        everything = await client.redis.zrangebyscore(KEY, "-inf", "+inf", withscores=True)
        seed_ms = (time.perf_counter() - t) * 1000
        seed_rt = client.round_trips.count - rt
        t = time.perf_counter()
        ptop = await client.redis.zrevrange(PKEY, 0, -1, withscores=True)
        pseed_ms = (time.perf_counter() - t) * 1000
    finally:
        await client.aclose()

    # the real console: start, then press 4 and wait for the first page
    app = FerriteApp(Config(), ConnectionSettings(url=fresh_server.url), refresh=60,
                     audit_path=tmp_path / "audit.log")
    async with app.run_test(size=(120, 36)) as pilot:
        await async_wait_until(lambda: app.monitor and app.monitor.snapshot and len(
            app.monitor.snapshot.queues) >= 2, timeout=60)
        await pilot.pause()
        t = time.perf_counter()
        await pilot.press("8")  # baseline: Textual's own cost of switching to a panel
        await pilot.pause()
        switch_ms = (time.perf_counter() - t) * 1000
        rt0 = app.monitor.client.round_trips.count
        t = time.perf_counter()
        await pilot.press("4")
        panel = cast(ScheduledPanel, app.panel("scheduled"))
        await async_wait_until(lambda: panel.loads >= 1 and panel.jobs.row_count, timeout=60)
        open_ms = (time.perf_counter() - t) * 1000
        open_rt = app.monitor.client.round_trips.count - rt0
        rt0 = app.monitor.client.round_trips.count
        t = time.perf_counter()
        await pilot.press("3")
        ppanel = cast(PriorityPanel, app.panel("priority"))
        await async_wait_until(lambda: ppanel.loads >= 1 and ppanel.jobs.row_count, timeout=60)
        popen_ms = (time.perf_counter() - t) * 1000
        popen_rt = app.monitor.client.round_trips.count - rt0
    await r.aclose()

    print(f"\n  schedule of {SCHEDULE:,} jobs ({view.overdue:,} overdue)")
    print(row("", "round trips", "ms", "rows fetched"))
    print(row("panel 4: press 4 -> first page on screen", open_rt, f"{open_ms:.0f}", PAGE_SIZE))
    print(row("baseline: press 8 (Server panel, no paging)", "-", f"{switch_ms:.0f}", "-"))
    print(row("DelayedQueue.view (page + counts + timeline)", view.round_trips,
              f"{view_ms:.1f}", len(view.items) + 1))
    print(row("baseline: seed's ZRANGEBYSCORE -inf +inf", seed_rt, f"{seed_ms:.0f}",
              len(everything)))
    print(f"  priority queue of {SCHEDULE:,} jobs")
    print(row("panel 3: press 3 -> first page on screen", popen_rt, f"{popen_ms:.0f}", PAGE_SIZE))
    print(row("PriorityQueue.view (page + histogram)", pview.round_trips, f"{pview_ms:.1f}",
              len(pview.page.items) + 2))
    print(row("PriorityQueue.view, mid-set page, range filter", deep.round_trips, "-",
              len(deep.page.items) + 2))
    print(row("baseline: ZREVRANGE 0 -1 (read everything)", 1, f"{pseed_ms:.0f}", len(ptop)))

    assert view.round_trips == 1 and pview.round_trips == 2 and deep.round_trips == 2
    assert len(view.items) == PAGE_SIZE and len(pview.page.items) == PAGE_SIZE
    assert all(20 <= it.score <= 80 for it in deep.page.items) and deep.page.items
    assert open_rt <= 2 and popen_rt <= 3  # the page (+ a poll that may land meanwhile)
    assert len(everything) == SCHEDULE and len(ptop) == SCHEDULE


async def test_run_all_of_50k_overdue_jobs_against_the_seed_script(fresh_server):
    r = aioredis.Redis.from_url(fresh_server.url)
    client = client_at(fresh_server.url)
    await client.connect()
    now = int(time.time() * 1000)
    due = lambda i: now - 3_600_000 + i  # noqa: E731  (all overdue, distinct, in order)
    results = {}
    try:
        # ours: chunked WATCH / ZRANGEBYSCORE / MULTI ZREM RPUSH EXEC
        await fill(r, KEY, OVERDUE, due)
        await fill(r, KEY, 1000, lambda i: now + 3_600_000 + i)  # not due: must stay
        await slowlog_on(r)
        dq = DelayedQueue(client, KEY, READY)
        rt0 = client.round_trips.count
        t = time.perf_counter()
        expected = await dq.overdue_count(now)
        report = await dq.run_overdue(now, expected, chunk_size=CHUNK_SIZE)
        secs = time.perf_counter() - t
        entries = await slowlog_read(r)
        ours_rt = client.round_trips.count - rt0
        assert report.done == OVERDUE and await r.llen(READY) == OVERDUE
        assert await r.zcard(KEY) == 1000
        first, last = await r.lindex(READY, 0), await r.lindex(READY, -1)
        assert first == member(0, due(0)) and last == member(OVERDUE - 1, due(OVERDUE - 1))
        results["ours"] = (OVERDUE / secs, ours_rt, longest(entries),
                           longest_multi_block(entries))

        # baseline: the seed's process_scheduled (one EVAL), same data, same server
        if client.capabilities.lua:
            await r.delete(KEY, READY)
            await fill(r, KEY, OVERDUE, due)
            await fill(r, KEY, 1000, lambda i: now + 3_600_000 + i)
            await slowlog_on(r)
            t = time.perf_counter()
            moved = await r.eval(LUA_PROCESS_SCHEDULED, 2, KEY, READY, now)
            secs = time.perf_counter() - t
            entries = await slowlog_read(r)
            assert moved == OVERDUE and await r.llen(READY) == OVERDUE
            lua_longest = longest(entries)
            results["lua"] = (OVERDUE / secs, 1, lua_longest, lua_longest[0])
    finally:
        await r.config_set("slowlog-log-slower-than", 10_000)
        await client.aclose()
        await r.aclose()

    print(f"\n  run all of {OVERDUE:,} overdue jobs (chunk {CHUNK_SIZE})")
    print(row("", "jobs/s", "round trips", "longest cmd µs", "longest block µs"))
    rate, rt, (us, name), block = results["ours"]
    print(row(f"chunked WATCH/MULTI (longest: {name})", f"{rate:,.0f}", rt, us, block))
    if "lua" in results:
        rate, rt, (us, name), block = results["lua"]
        print(row(f"baseline: seed's Lua script ({name})", f"{rate:,.0f}", rt, us, block))
    else:
        print(row("baseline: seed's Lua script", "n/a (no Lua on this server)", "", "", ""))

    chunks = -(-OVERDUE // CHUNK_SIZE)
    assert results["ours"][1] <= 3 * chunks + 5  # WATCH, read, MULTI..EXEC per chunk
    if "lua" in results:
        # the server is never held as long as by the one-shot script
        assert results["ours"][2][0] < results["lua"][2][0]
        assert results["ours"][3] < results["lua"][3]
