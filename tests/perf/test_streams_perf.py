"""Stream consumer groups at size (issue 4), each figure beside a baseline from the same run.

1. A group with 100,000 pending entries: time, round trips and rows fetched to show the
   panel's first page (groups with lag, consumers, the first page of XPENDING and the
   entries' bodies), against reading the whole pending list at once (XPENDING - + N).
2. Claim all of them idle longer than T (the panel's `C`): entries/s, round trips and the
   longest single command in SLOWLOG, with XAUTOCLAIM where the server has it, else the
   XPENDING + XCLAIM fallback; against the seed's way (claim_pending: XPENDING, then one
   XCLAIM per entry) on 10,000 of them.

Run: python -m pytest -n 0 -m perf -s tests/perf/test_streams_perf.py
Sizes: FERRITE_TUI_PERF_PENDING (default 100,000), FERRITE_TUI_PERF_NAIVE (10,000).
Assertions are on counts and bounds (round trips, rows fetched, SLOWLOG), never on seconds.
"""

from __future__ import annotations

import os
import time

import pytest
import redis.asyncio as aioredis

from ferrite_tui.backend import streams as st
from ferrite_tui.backend.streams import Streams
from helpers import client_at

pytestmark = pytest.mark.perf

PENDING = int(os.environ.get("FERRITE_TUI_PERF_PENDING", 100_000))
NAIVE = int(os.environ.get("FERRITE_TUI_PERF_NAIVE", 10_000))
KEY, GROUP = "bench:events", "workers"
IDLE_MS = 600_000
# No single command may hold the server longer than this (SLOWLOG, microseconds).
LONGEST_BOUND_US = 250_000


async def populate(r, n: int, key: str = KEY) -> list[bytes]:
    """n entries, all read by 'dead' and left pending with an idle of IDLE_MS."""
    ids: list[bytes] = []
    for start in range(0, n, 10_000):
        pipe = r.pipeline(transaction=False)
        for i in range(start, min(n, start + 10_000)):
            pipe.xadd(key, {"data": f'{{"id":"job-{i}","payload":{{"n":{i}}}}}'})
        ids += await pipe.execute()
    await r.xgroup_create(key, GROUP, id="0")
    for _ in range(0, n, 10_000):
        await r.xreadgroup(GROUP, "dead", {key: ">"}, count=10_000)
    pipe = r.pipeline(transaction=False)
    for i in range(0, n, 1_000):
        pipe.execute_command(b"XCLAIM", key, GROUP, "dead", 0, *ids[i:i + 1_000],
                             "IDLE", IDLE_MS, "JUSTID")
    await pipe.execute()
    return ids


async def slowlog_on(r) -> None:
    await r.config_set("slowlog-log-slower-than", 0)
    await r.config_set("slowlog-max-len", 100_000)
    await r.slowlog_reset()


async def longest(r) -> tuple[int, str, int]:
    """(microseconds, command, commands logged) since the reset, SLOWLOG/CONFIG excluded."""
    entries = await r.slowlog_get(100_000)
    best, name, count = 0, "-", 0
    for e in entries:
        cmd = e["command"]
        cmd_name = (cmd.split()[0] if cmd else b"?").decode(errors="replace").upper()
        if cmd_name in ("SLOWLOG", "CONFIG"):
            continue
        count += 1
        if int(e["duration"]) > best:
            best, name = int(e["duration"]), cmd_name
    return best, name, count


async def test_first_page_and_claim_all_vs_naive(fresh_server):
    url = fresh_server.url
    r = aioredis.Redis.from_url(url)
    client = client_at(url, command_timeout=60)
    await client.connect()
    backend = Streams(client)
    try:
        await populate(r, PENDING)

        # 1. First page: what the panel reads to show the group, its consumers and page 1.
        rt0, t = client.round_trips.count, time.perf_counter()
        groups = await backend.groups(KEY)
        consumers = await backend.consumers(KEY, GROUP)
        page = await backend.pending_page(KEY, GROUP, count=st.PAGE_SIZE)
        bodies = await backend.entries(KEY, [e.id for e in page.entries])
        ours_s, ours_rt = time.perf_counter() - t, client.round_trips.count - rt0
        ours_rows = len(page.entries)
        assert groups[0].pending == PENDING and consumers[0].pending == PENDING
        assert ours_rows == st.PAGE_SIZE and len(bodies) == st.PAGE_SIZE
        assert ours_rt <= 6

        rt0, t = client.round_trips.count, time.perf_counter()
        everything = await client.redis.execute_command(b"XPENDING", KEY, GROUP, "-", "+",
                                                        PENDING)
        base_s, base_rt = time.perf_counter() - t, client.round_trips.count - rt0
        assert len(everything) == PENDING

        print(f"\n[streams] first page of {PENDING:,} pending entries")
        print(f"  panel (groups+lag, consumers, page, bodies): {ours_s * 1000:8.1f} ms, "
              f"{ours_rt} round trips, {ours_rows} pending rows fetched")
        print(f"  baseline XPENDING - + {PENDING}:            {base_s * 1000:8.1f} ms, "
              f"{base_rt} round trip,  {len(everything):,} pending rows fetched")

        # 2. Claim all idle entries to 'rescuer' (XAUTOCLAIM, or the fallback).
        await slowlog_on(r)
        rt0, t = client.round_trips.count, time.perf_counter()
        report = await backend.claim_idle(KEY, GROUP, "rescuer", IDLE_MS // 2)
        claim_s, claim_rt = time.perf_counter() - t, client.round_trips.count - rt0
        claim_us, claim_cmd, _ = await longest(r)
        assert report.done == PENDING and report.skipped == 0
        summary = await backend.pending_summary(KEY, GROUP)
        assert summary.consumers == (("rescuer", PENDING),)
        chunks = -(-PENDING // st.CLAIM_CHUNK)
        assert claim_rt <= 2 * chunks + 4
        assert claim_us < LONGEST_BOUND_US

        # Baseline: the seed's claim_pending on NAIVE entries of a second stream.
        await r.delete(KEY)
        await r.config_set("slowlog-log-slower-than", 1_000_000)
        await populate(r, NAIVE, key=KEY + ":naive")
        await slowlog_on(r)
        rt0, t = client.round_trips.count, time.perf_counter()
        rows = await client.redis.execute_command(b"XPENDING", KEY + ":naive", GROUP, "-",
                                                  "+", NAIVE)
        claimed = 0
        for row in rows:
            if int(row[2]) >= IDLE_MS // 2:
                got = await client.redis.execute_command(
                    b"XCLAIM", KEY + ":naive", GROUP, "rescuer", IDLE_MS // 2, row[0])
                claimed += len(got)
        naive_s, naive_rt = time.perf_counter() - t, client.round_trips.count - rt0
        naive_us, naive_cmd, _ = await longest(r)
        assert claimed == NAIVE and naive_rt == NAIVE + 1

        how = "XAUTOCLAIM" if client.capabilities.xautoclaim else "XPENDING IDLE + XCLAIM"
        print(f"[streams] claim all idle: {how}, chunks of {st.CLAIM_CHUNK}")
        print(f"  panel  {PENDING:>7,} entries: {PENDING / claim_s:10,.0f} entries/s, "
              f"{claim_rt:6,} round trips, longest command {claim_us:6,} µs ({claim_cmd})")
        print(f"  naive  {NAIVE:>7,} entries: {NAIVE / naive_s:10,.0f} entries/s, "
              f"{naive_rt:6,} round trips, longest command {naive_us:6,} µs ({naive_cmd})")
        print(f"  speed-up {(PENDING / claim_s) / (NAIVE / naive_s):.1f}x, "
              f"round trips per entry {claim_rt / PENDING:.4f} vs {naive_rt / NAIVE:.4f}")
        assert claim_rt / PENDING < naive_rt / NAIVE / 50
    finally:
        await r.config_set("slowlog-log-slower-than", 10_000)
        await r.aclose()
        await client.aclose()
