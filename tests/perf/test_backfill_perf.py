"""Backfill at size: 100 queues of 10,000 items each, rebuilt per minute for the last hour,
beside a full read of the same items (one LRANGE 0 -1 / ZRANGE 0 -1 / XRANGE - + per queue,
what a console without paging would do), in the same run on the same server.

Run: python -m pytest -n 0 -m perf -s tests/perf/test_backfill_perf.py
Size: FERRITE_TUI_PERF_BACKFILL_QUEUES (default 100) x FERRITE_TUI_PERF_BACKFILL_ITEMS (10,000).
Plus FERRITE_TUI_PERF_BACKFILL_BIG (default 2) lists of 500 jobs of 16 KB each.
Figures: time, round trips, commands, items read, the largest reply, and the server's own
SLOWLOG (every command logged: the longest, and how many took over 5 ms).
Assertions are on counts and bounds, never on seconds: the items and bytes each backfill
command asked for, as the server logged its arguments (LRANGE/ZRANGE ranges, COUNTs), the
largest reply in bytes, round trips, items read; and the median read command against the
full read's in the same run.
"""

from __future__ import annotations

import json
import os
import time

import pytest
import redis.asyncio as aioredis

from ferrite_tui.backend.backfill import KEY_BYTES, PAGE, PAGE_BYTES, Backfill
from ferrite_tui.backend.itemtimes import item_time
from ferrite_tui.backend.models import QueueKind, QueueRef
from ferrite_tui.backend.trends import Trends
from helpers import client_at, longest, slowlog_on, slowlog_read

pytestmark = pytest.mark.perf

QUEUES = int(os.environ.get("FERRITE_TUI_PERF_BACKFILL_QUEUES", "100"))
ITEMS = int(os.environ.get("FERRITE_TUI_PERF_BACKFILL_ITEMS", "10000"))
BIG = int(os.environ.get("FERRITE_TUI_PERF_BACKFILL_BIG", "2"))
BIG_ITEMS, BIG_BYTES = 500, 16_000
HOUR_MS = 3_600_000


def refs_for(n: int) -> list[QueueRef]:
    """Six in ten reliable/work lists, two dead-letter lists, one priority set, one stream."""
    out = []
    for i in range(n):
        slot = i % 10
        if slot < 6:
            out.append(QueueRef(QueueKind.WORK, f"bench:work:{i}"))
        elif slot < 8:
            out.append(QueueRef(QueueKind.DLQ, f"bench:main:{i}:dlq"))
        elif slot == 8:
            out.append(QueueRef(QueueKind.PRIORITY, f"bench:prio:{i}"))
        else:
            out.append(QueueRef(QueueKind.STREAM, f"bench:events:{i}"))
    return out + [QueueRef(QueueKind.WORK, f"bench:big:{i}") for i in range(BIG)]


async def populate(r, refs: list[QueueRef], now: int) -> None:
    """Every queue gets ITEMS items with times spread evenly over the last hour."""
    for ref in refs:
        pipe = r.pipeline(transaction=False)
        times = [now - HOUR_MS + i * HOUR_MS // ITEMS for i in range(ITEMS)]
        if ref.key.startswith("bench:big:"):
            pad = "x" * BIG_BYTES
            for start in range(0, BIG_ITEMS, 50):
                pipe.rpush(ref.key, *[json.dumps({"id": f"b{i}", "payload": pad,
                                                  "enqueued_at": times[i * ITEMS // BIG_ITEMS]})
                                      for i in range(start, start + 50)])
        elif ref.kind is QueueKind.WORK:
            for start in range(0, ITEMS, 1000):
                pipe.rpush(ref.key, *[json.dumps({"id": f"j{i}", "payload": {"n": i},
                                                  "enqueued_at": times[i]})
                                      for i in range(start, start + 1000)])
        elif ref.kind is QueueKind.DLQ:
            for start in range(0, ITEMS, 1000):
                pipe.rpush(ref.key, *[json.dumps({"job": {"id": f"d{i}", "payload": {"n": i},
                                                          "retry_count": 3,
                                                          "last_error": "boom",
                                                          "first_attempt": times[i]},
                                                  "dead_at": times[i], "reason": "boom"})
                                      for i in range(start, start + 1000)])
        elif ref.kind is QueueKind.PRIORITY:
            for start in range(0, ITEMS, 1000):
                pipe.zadd(ref.key, {json.dumps({"id": f"p{i}", "payload": {"n": i},
                                                "enqueued_at": times[i]}): i % 10
                                    for i in range(start, start + 1000)})
        else:
            for i, t in enumerate(times):
                pipe.xadd(ref.key, {"data": "{}"}, id=f"{t}-{i}")
            pipe.xgroup_create(ref.key, "workers", id="0")
        await pipe.execute()
        if ref.kind is QueueKind.STREAM:
            await r.xreadgroup("workers", "w1", {ref.key: ">"}, count=ITEMS)


async def full_read(r, refs: list[QueueRef]) -> tuple[int, int]:
    """The baseline: every item in one command per queue, all pipelined, and the same
    time read from each (so only the way of reading differs). (items, largest reply bytes)"""
    pipe = r.pipeline(transaction=False)
    for ref in refs:
        if ref.kind in (QueueKind.WORK, QueueKind.DLQ):
            pipe.execute_command("LRANGE", ref.key, 0, -1)
        elif ref.kind is QueueKind.PRIORITY:
            pipe.execute_command("ZRANGE", ref.key, 0, -1)
        else:
            pipe.execute_command("XRANGE", ref.key, "-", "+")
            pipe.xpending_range(ref.key, "workers", "-", "+", ITEMS)
    items = largest = 0
    for reply in await pipe.execute():
        items += len(reply)
        largest = max(largest, sum(len(raw) for raw in reply if isinstance(raw, bytes)))
        for raw in reply:
            if isinstance(raw, bytes):
                item_time(raw)
    return items, largest


def asked(r_entries: list[dict]) -> list[tuple[str, str, int]]:
    """(command, key, items it asked for) of each page command the server logged: the
    range of an LRANGE / ZRANGE, the COUNT of an XRANGE / XPENDING."""
    out = []
    for e in r_entries:
        args = [a.decode(errors="replace") for a in e["command"].split()]
        name = args[0].upper() if args else ""
        if name in ("LRANGE", "ZRANGE") and len(args) >= 4:
            out.append((name, args[1], int(args[3]) - int(args[2]) + 1))
        elif name == "XRANGE" and "COUNT" in (a.upper() for a in args):
            out.append((name, args[1], int(args[-1])))
        elif name == "XPENDING" and len(args) >= 6:
            out.append((name, args[1], int(args[5])))
    return out


async def test_backfill_beside_a_full_read(redis_url):
    r = aioredis.Redis.from_url(redis_url)
    client = client_at(redis_url)
    await client.connect()
    try:
        now = int(time.time() * 1000)
        refs = refs_for(QUEUES)
        await populate(r, refs, now)

        await slowlog_on(r)
        started = time.perf_counter()
        full_items, full_largest = await full_read(r, refs)
        full_s = time.perf_counter() - started
        full_entries = await slowlog_read(r)
        full_longest = longest(full_entries)

        await slowlog_on(r)
        trends = Trends(60)
        started = time.perf_counter()
        report = await Backfill(client, trends, minutes=60).run(refs, now_ms=now)
        backfill_s = time.perf_counter() - started
        logged = await r.slowlog_get(200_000)
        entries = await slowlog_read(r)
        back_longest = longest(entries)
        over = sum(1 for _, us in entries if us > 5000)
        full_over = sum(1 for _, us in full_entries if us > 5000)

        print(f"\nbackfill of {QUEUES} queues x {ITEMS:,} items (last 60 min, per minute)")
        print(f"{'':14}{'time':>9}{'round trips':>13}{'commands':>10}{'items':>11}"
              f"{'longest command':>22}")
        print(f"{'':14}{'time':>9}{'':13}{'':10}{'':11}{'largest reply':>22}{'> 5 ms':>9}")
        print(f"{'full read':14}{full_s:>8.2f}s{1:>13}{len(refs) + QUEUES // 10:>10}"
              f"{full_items:>11,}{full_longest[0]:>16,} µs {full_longest[1]}")
        print(f"{'':57}{full_largest:>20,} B{full_over:>9}")
        print(f"{'backfill':14}{backfill_s:>8.2f}s{report.round_trips:>13}"
              f"{report.commands:>10}{report.items_read:>11,}"
              f"{back_longest[0]:>16,} µs {back_longest[1]}")
        print(f"{'':57}{report.max_reply_bytes:>20,} B{over:>9} "
              f"({report.max_reply_command}, at most {report.max_reply_items} items)")
        slowest = sorted(entries, key=lambda e: -e[1])[:5]
        print(f"sampled queues: {len(report.sampled)}; notes: {report.notes[:3]}; "
              f"5 slowest backfill commands: {slowest}; over 5 ms: "
              f"{sum(1 for _, us in entries if us > 5000)} of {len(entries)}")

        assert report.notes == []
        # Every page command, as the server logged it, asked for at most a page; the big
        # jobs' pages hold at most PAGE_BYTES, and at most KEY_BYTES are read per big key.
        pages_asked = asked(logged)
        assert pages_asked and max(n for _, _, n in pages_asked) <= PAGE + 1
        big = [n for _, key, n in pages_asked if key.startswith("bench:big:")]
        if BIG:
            assert big and max(big) <= PAGE_BYTES // BIG_BYTES
            assert sum(big) * BIG_BYTES <= BIG * KEY_BYTES * 1.1
        assert report.max_reply_bytes <= PAGE_BYTES * 1.2 < full_largest
        assert full_items >= QUEUES * ITEMS
        # Bounded: at most ITEMS items per queue (lists and sets), pending read in pages.
        assert report.items_read <= QUEUES * ITEMS + QUEUES // 10 * ITEMS + BIG * BIG_ITEMS
        # Short commands: pages, not whole queues. The typical (median) read command is far
        # shorter than the full read's, on the same server in the same run (the longest
        # single one is printed; on a busy machine it includes time the server waited for a
        # CPU, so it is not asserted).
        reads = ("LRANGE", "ZRANGE", "XPENDING", "XRANGE")
        pages = sorted(us for name, us in entries if name in reads)
        whole = sorted(us for name, us in full_entries if name in reads)
        print(f"median read command: backfill {pages[len(pages) // 2]:,} µs, "
              f"full read {whole[len(whole) // 2]:,} µs")
        assert len(pages) >= QUEUES * ITEMS // PAGE // 2
        assert pages[len(pages) // 2] * 4 < whole[len(whole) // 2]
        # Round trips: a handful of batched pipelines, plus one per page of pending entries.
        assert report.round_trips <= 1 + QUEUES * ITEMS * 2 // 50_000 + ITEMS // PAGE + 2
        # The rebuilt series is right: every DLQ got ITEMS / 60 dead letters a minute.
        dlq = next(ref for ref in refs if ref.kind is QueueKind.DLQ)
        dead = trends.get(dlq.ident, "dead")
        assert dead is not None
        full_minutes = sorted(dead.points)[1:-1]
        assert all(abs(dead.points[m] - ITEMS / 60) <= 2 for m in full_minutes)
    finally:
        await client.aclose()
        await r.aclose()
