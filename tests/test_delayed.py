"""Delayed queues backend (backend/delayed.py) against real servers."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter

import pytest
import redis.asyncio as aioredis
from redis.exceptions import WatchError

from ferrite_tui.backend.audit import AuditLog
from ferrite_tui.backend.delayed import (
    Cursor,
    DelayedQueue,
    clock_text,
    due_text,
    parse_due,
    parse_duration,
)
from ferrite_tui.backend.envelopes import dumps
from ferrite_tui.backend.errors import ReadOnlyError
from ferrite_tui.backend.priority import ZItem
from helpers import REDUCED, async_wait_until, client_at, skip_as_the_server_lacks

KEY = "queue:reports:scheduled"
READY = "queue:reports:ready"
NOW = 1_800_000_000_000  # a fixed clock: 2027-01-15


def job(i: int, due: int) -> bytes:
    return dumps({"id": f"job-{i}", "payload": {"n": i}, "scheduled_at": due}).encode()


@pytest.fixture
def dq(client):
    return DelayedQueue(client, KEY, READY)


async def zadd(client, mapping):
    await client.redis.zadd(KEY, mapping)


async def test_view_pages_in_due_order_with_counts_and_timeline(client, dq):
    mapping = {job(i, NOW - 60_000 + i * 30_000): NOW - 60_000 + i * 30_000 for i in range(10)}
    mapping[b"\xff\x00not json"] = NOW + 3 * 3_600_000  # beyond the hour
    await zadd(client, mapping)
    await client.redis.rpush(READY, b"a", b"b")
    view = await dq.view(limit=4, now=NOW, buckets=6)
    assert view.round_trips == 1
    assert view.card == 11
    assert view.overdue == 3  # due at -60s, -30s and exactly now
    assert view.ready == 2
    assert view.oldest_overdue_ms == 60_000
    assert [it.env.id for it in view.items] == ["job-0", "job-1", "job-2", "job-3"]
    assert view.timeline is not None
    # 6 buckets of 10 minutes: +30s..+4m30s in the first bucket (jobs 3..9)
    assert view.timeline.counts == (7, 0, 0, 0, 0, 0)
    assert view.timeline.overdue == 3 and view.timeline.later == 1
    seen = list(view.items)
    cursor = view.next_cursor
    while cursor is not None:
        page = await dq.view(cursor, limit=4, now=NOW, buckets=0)
        seen.extend(page.items)
        cursor = page.next_cursor
    assert [it.member for it in seen] == [m for m, _ in sorted(mapping.items(),
                                                               key=lambda kv: kv[1])]
    assert seen[-1].env.kind == "binary"


async def test_paging_through_ties_visits_every_member_once(client, dq):
    # 25 jobs at the same due time between others: the (score, skip) cursor walks them.
    mapping = {job(i, NOW): NOW for i in range(25)}
    mapping.update({job(100 + i, NOW - 1000 - i): NOW - 1000 - i for i in range(3)})
    mapping.update({job(200 + i, NOW + 1000 + i): NOW + 1000 + i for i in range(3)})
    await zadd(client, mapping)
    seen: list = []
    cursor = None
    for _ in range(20):
        page = await dq.view(cursor, limit=7, now=NOW, buckets=0)
        seen.extend(it.member for it in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(mapping) == len(set(seen))


async def test_run_now_moves_the_exact_member_unchanged(client, dq, tmp_path):
    a, b = job(1, NOW - 5000), job(2, NOW + 60_000)
    await zadd(client, {a: NOW - 5000, b: NOW + 60_000})
    await client.redis.rpush(READY, b"earlier")
    view = await dq.view(now=NOW)
    target = next(it for it in view.items if it.member == b)
    result = await dq.run_now(target)
    assert result.ok
    assert await client.redis.lrange(READY, 0, -1) == [b"earlier", b]
    assert await client.redis.zrange(KEY, 0, -1) == [a]
    log = AuditLog(tmp_path / "audit.log").read()
    assert log[-1]["action"] == "run now" and log[-1]["ids"] == ["job-2"]
    assert log[-1]["keys"] == [KEY, READY]


async def test_run_now_of_a_rescored_or_removed_job_changes_nothing(client, dq):
    a, b = job(1, NOW), job(2, NOW)
    await zadd(client, {a: NOW, b: NOW + 1})
    items = {it.member: it for it in (await dq.view(now=NOW)).items}
    await client.redis.zadd(KEY, {a: NOW + 99})  # the application re-scores it
    await client.redis.zrem(KEY, b)  # ... and takes the other one
    r1 = await dq.run_now(items[a])
    r2 = await dq.run_now(items[b])
    assert not r1.done and len(r1.rescored) == 1 and "re-scored" in r1.message("moved")
    assert not r2.done and len(r2.gone) == 1 and "nothing was changed" in r2.message("moved")
    assert await client.redis.llen(READY) == 0
    assert await client.redis.zscore(KEY, a) == NOW + 99


async def test_non_envelope_members_move_as_they_are(client, dq):
    odd = [b"\x80\x04binary\xff", b"plain text job", b'{"order":7}']
    await zadd(client, {m: NOW - i for i, m in enumerate(odd)})
    view = await dq.view(now=NOW)
    assert {it.env.kind for it in view.items} == {"binary", "text", "json"}
    report = await dq.run_now_many(list(view.items), chunk_size=2)
    assert report.done == 3
    assert await client.redis.lrange(READY, 0, -1) == list(reversed(odd))  # due order


async def test_postpone_set_due_cancel_and_schedule(client, dq):
    future, late = job(1, NOW + 60_000), job(2, NOW - 120_000)
    await zadd(client, {future: NOW + 60_000, late: NOW - 120_000})
    items = {it.member: it for it in (await dq.view(now=NOW)).items}
    assert (await dq.postpone(items[future], 300_000, now=NOW)).ok
    assert (await dq.postpone(items[late], 300_000, now=NOW)).ok
    assert await client.redis.zscore(KEY, future) == NOW + 360_000
    assert await client.redis.zscore(KEY, late) == NOW + 300_000  # from now, not from then
    # the old view is stale now: acting on it reports and changes nothing
    stale = await dq.cancel(items[future])
    assert not stale.done and stale.rescored
    items = {it.member: it for it in (await dq.view(now=NOW)).items}
    assert (await dq.set_due(items[future], NOW + 1)).ok
    assert await client.redis.zscore(KEY, future) == NOW + 1
    items = {it.member: it for it in (await dq.view(now=NOW)).items}
    assert (await dq.cancel(items[late])).ok
    assert await client.redis.zrange(KEY, 0, -1) == [future]
    member = await dq.schedule({"report": "daily"}, NOW + 5000)
    data = json.loads(member)
    assert set(data) == {"id", "payload", "scheduled_at"}
    assert data["scheduled_at"] == NOW + 5000 and data["payload"] == {"report": "daily"}
    assert await client.redis.zscore(KEY, member) == NOW + 5000
    assert await client.redis.llen(READY) == 0


async def test_bulk_postpone_and_cancel_marked(client, dq):
    mapping = {job(i, NOW + i): NOW + i for i in range(30)}
    await zadd(client, mapping)
    items = list((await dq.view(now=NOW, limit=100)).items)
    await client.redis.zrem(KEY, items[0].member)
    report = await dq.postpone_many(items[:10], 60_000, now=NOW, chunk_size=3)
    assert (report.done, report.skipped) == (9, 1)
    report = await dq.cancel_many(items[10:], chunk_size=7)
    assert report.done == 20
    assert await client.redis.zcard(KEY) == 9
    report = await dq.set_due_many(items[1:10], NOW, chunk_size=4)
    assert report.skipped == 9  # the view is stale: they were postponed


async def test_run_all_overdue_in_chunks_with_progress_and_cancel(client, dq):
    overdue = {job(i, NOW - 10_000 + i): NOW - 10_000 + i for i in range(450)}
    future = {job(1000 + i, NOW + 1 + i): NOW + 1 + i for i in range(20)}
    await zadd(client, {**overdue, **future})
    expected = await dq.overdue_count(NOW)
    assert expected == 450
    seen = []
    report = await dq.run_overdue(NOW, expected, chunk_size=100,
                                  progress=lambda r: seen.append(r.processed))
    assert (report.done, report.skipped, report.failed) == (450, 0, 0)
    assert seen == [100, 200, 300, 400, 450]
    ready = await client.redis.lrange(READY, 0, -1)
    assert ready == [m for m, _ in sorted(overdue.items(), key=lambda kv: kv[1])]
    assert await client.redis.zcard(KEY) == 20
    # cancel after the first chunk
    await client.redis.delete(READY)
    await zadd(client, overdue)
    from ferrite_tui.backend.bulk import Cancel
    cancel = Cancel()
    report = await dq.run_overdue(NOW, 450, chunk_size=100,
                                  progress=lambda r: cancel.set(), cancel=cancel)
    assert report.cancelled and report.done == 100
    assert await client.redis.llen(READY) == 100
    assert await client.redis.zcard(KEY) == 370


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


async def _promoter(url: str, stop: asyncio.Event, use_lua: bool, moved: Counter,
                    start: asyncio.Event, after_first: asyncio.Event | None = None) -> None:
    """The application's process_scheduled: Lua where available, else WATCH/MULTI in 50s.
    With `after_first`, it waits for that event once it has moved its first jobs."""
    r = aioredis.Redis.from_url(url)
    await start.wait()
    try:
        while not stop.is_set():
            if after_first is not None and moved["n"]:
                await after_first.wait()
                after_first = None
            if use_lua:
                moved["n"] += int(await r.eval(LUA_PROCESS_SCHEDULED, 2, KEY, READY, NOW))
            else:
                async with r.pipeline(transaction=True) as pipe:
                    try:
                        await pipe.watch(KEY)
                        due = await pipe.zrangebyscore(KEY, "-inf", NOW, start=0, num=50)
                        if due:
                            pipe.multi()
                            for j in due:
                                pipe.zrem(KEY, j)
                                pipe.rpush(READY, j)
                            await pipe.execute()
                            moved["n"] += len(due)
                        else:
                            await pipe.reset()
                    except WatchError:
                        pass
            await asyncio.sleep(0)
    finally:
        await r.aclose()


@pytest.mark.parametrize("lua", [False, True])
async def test_a_running_promoter_racing_run_all_never_duplicates_or_drops(
        client, dq, redis_url, lua):
    """The application's promoter runs all along (the seed's Lua script, or its WATCH/MULTI
    form), a producer keeps adding jobs (some already due), and X runs: afterwards every
    due job is in exactly one place, the ready list or still scheduled, and none twice."""
    if lua and (REDUCED or not client.capabilities.lua):
        skip_as_the_server_lacks(client.settings.url, "lua", "Lua is not available")
    rng = random.Random(5)
    due = {job(i, NOW - rng.randint(0, 600_000)): 0 for i in range(2000)}
    due = {m: json.loads(m)["scheduled_at"] for m in due}
    future = {job(10_000 + i, NOW + 1 + i): NOW + 1 + i for i in range(50)}
    await zadd(client, {**due, **future})
    stop, moved = asyncio.Event(), Counter[str]()
    added: dict[bytes, int] = {}

    async def producer():
        for i in range(300):
            if stop.is_set():
                return
            when = NOW - 5 if i % 2 else NOW + 10_000 + i  # half of them already due
            m = job(20_000 + i, when)
            await client.redis.zadd(KEY, {m: when})
            added[m] = when
            await asyncio.sleep(0)

    # Both must really run at once. The Lua promoter moves everything due in one call, so
    # it starts once X has moved its first chunk; the WATCH promoter loses every race
    # against X's chunks, so X starts once it has moved its first batch.
    # Under load the WATCH promoter could also move every job before X's first chunk (X
    # then skipped all 2,000): it waits, after its first batch, until X has moved jobs too.
    started, x_moved = asyncio.Event(), asyncio.Event()
    if not lua:
        started.set()

    def progress(report) -> None:
        started.set()
        if report.done:
            x_moved.set()

    tasks = [asyncio.create_task(_promoter(redis_url, stop, lua, moved, started,
                                           None if lua else x_moved)),
             asyncio.create_task(producer())]
    try:
        if not lua:
            await async_wait_until(lambda: moved["n"] > 0, timeout=10,
                                   message="the promoter never moved a job")
        report = await dq.run_overdue(NOW, len(due), chunk_size=40, progress=progress)
    finally:
        stop.set()
        started.set()
        x_moved.set()
        await asyncio.gather(*tasks)
    everything_due = set(due) | {m for m, when in added.items() if when <= NOW}
    ready = await client.redis.lrange(READY, 0, -1)
    still = await client.redis.zrangebyscore(KEY, "-inf", NOW)
    counts = Counter(ready + still)
    assert set(counts) == everything_due, "no due job was dropped"
    assert max(counts.values()) == 1, "no job was moved twice"
    assert report.done >= 40 and moved["n"] > 0, "both movers took jobs"
    assert report.done + moved["n"] == len(ready)
    assert report.failed == 0 and report.done + report.skipped <= len(due)
    assert await client.redis.zcount(KEY, NOW + 1, "+inf") == len(future) + sum(
        1 for when in added.values() if when > NOW)


async def test_every_mutation_is_refused_in_read_only_mode(redis_url):
    c = client_at(redis_url, read_only=True)
    await c.connect()
    try:
        await c.redis.zadd(KEY, {job(1, NOW): NOW})
        dq = DelayedQueue(c, KEY, READY)
        item = ZItem.of(job(1, NOW), NOW)
        names = [n for n in dir(DelayedQueue)
                 if getattr(getattr(DelayedQueue, n), "mutation", None)]
        assert len(names) >= 10
        calls: dict[str, tuple] = {
            "run_now": (item,), "set_due": (item, NOW), "postpone": (item, 1000),
            "cancel": (item,), "schedule": ({}, NOW), "run_now_many": ([item],),
            "postpone_many": ([item], 1000), "set_due_many": ([item], NOW),
            "cancel_many": ([item],), "run_overdue": (NOW, 1),
        }
        assert set(names) == set(calls)
        before = c.round_trips.count
        for name, args in calls.items():
            with pytest.raises(ReadOnlyError):
                await getattr(dq, name)(*args)
        assert c.round_trips.count == before  # refused before anything was sent
        assert await c.redis.zcard(KEY) == 1 and await c.redis.llen(READY) == 0
    finally:
        await c.aclose()


async def test_only_inclusive_score_reads_reach_the_server(client, dq):
    """Ferrite's rules: no ZRANGE BYSCORE/REV, no '(' bounds (checked in SLOWLOG)."""
    r = client.redis
    old = (await r.config_get("slowlog-log-slower-than"))["slowlog-log-slower-than"]
    await r.config_set("slowlog-log-slower-than", 0)
    await r.config_set("slowlog-max-len", 10_000)
    try:
        await r.slowlog_reset()
        await zadd(client, {job(i, NOW - 100 + i * 50): NOW - 100 + i * 50 for i in range(10)})
        view = await dq.view(limit=3, now=NOW)
        await dq.view(view.next_cursor, limit=3, now=NOW)
        await dq.run_now(view.items[0])
        await dq.postpone(view.items[1], 1000, now=NOW)
        await dq.run_overdue(NOW, 5, chunk_size=2)
        log = await r.slowlog_get(10_000)
    finally:
        await r.config_set("slowlog-log-slower-than", old)
    commands = [[a.upper() if isinstance(a, bytes) else a for a in e["command"].split()]
                for e in log]
    names = {c[0] for c in commands if c}
    assert b"ZRANGEBYSCORE" in names and b"ZCOUNT" in names
    assert b"ZRANGE" not in names and b"EVAL" not in names and b"EVALSHA" not in names
    for c in commands:
        if c and c[0] in (b"ZRANGEBYSCORE", b"ZCOUNT", b"ZREVRANGEBYSCORE"):
            assert not any(a.startswith(b"(") for a in c[2:4]), c


def test_parse_and_word_times():
    assert parse_duration("4m10s") == 250_000
    assert parse_duration("1h30m") == 5_400_000
    assert parse_duration("90") == 90_000
    assert parse_duration("500ms") == 500
    for bad in ("", "soon", "5 parsecs", "m5"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert parse_due("now", NOW) == NOW
    assert parse_due("+10m", NOW) == NOW + 600_000
    assert parse_due("in 2h", NOW) == NOW + 7_200_000
    assert parse_due("1800000123456", NOW) == 1_800_000_123_456
    at = parse_due("2030-01-01T00:00:00+00:00", NOW)
    assert at == 1_893_456_000_000
    hhmm = parse_due("12:00", NOW)
    assert NOW <= hhmm <= NOW + 86_400_000
    with pytest.raises(ValueError):
        parse_due("yesterday-ish", NOW)
    assert due_text(NOW + 250_000, NOW) == "in 4m10s"
    assert due_text(NOW - 120_000, NOW) == "overdue 2m00s"
    assert due_text(42, NOW) == "42"  # not a plausible timestamp: the number
    assert due_text(1.5e20, NOW) == "1.5e+20"
    assert clock_text(7) == "7"
    assert clock_text(NOW).startswith("2027-01-1")
    assert Cursor(1.0, 2) == Cursor(1.0, 2)
