"""The demo's seed data and live workload (ferrite_tui.demo.workload), on real servers."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import pytest
from redis.asyncio import Redis

from ferrite_tui.demo.layout import DEMO_CHANNELS, DEMO_KEYS, DEMO_PATTERNS
from ferrite_tui.demo.seeding import seed
from ferrite_tui.demo.server import reduced_args
from ferrite_tui.demo.workload import Workload
from helpers import async_wait_until

NOW = 1_760_000_000_000  # a fixed "now" (ms) for deterministic seeds
RATE = 10.0  # tests run the workload ten times faster than the demo

JOB_FIELDS = {"id", "payload", "enqueued_at"}
SCHEDULED_FIELDS = {"id", "payload", "scheduled_at"}
RETRY_FIELDS = {"id", "payload", "retry_count", "last_error", "first_attempt"}
DEAD_FIELDS = {"job", "dead_at", "reason"}


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    r = Redis.from_url(redis_url)
    try:
        yield r
    finally:
        await r.aclose()


def parse(raw: bytes, fields: set[str]) -> dict[str, Any]:
    value = json.loads(raw)
    assert isinstance(value, dict) and set(value) == fields, raw
    return value


def assert_uuid(text: Any) -> None:
    assert isinstance(text, str)
    assert str(uuid.UUID(text)) == text


def normalise(reason: str) -> str:
    return re.sub(r"\d+", "#", reason)


async def lrange_all(r: Redis, key: str) -> list[bytes]:
    return await r.lrange(key, 0, -1)  # test data only (small)


async def dump(r: Redis) -> dict[str, Any]:
    """Every value of every demo key, stream groups and pending entries included."""
    out: dict[str, Any] = {}
    for key, info in DEMO_KEYS.items():
        kind = (await r.type(key)).decode()
        assert kind == info["type"], key
        if kind == "list":
            out[key] = await lrange_all(r, key)
        elif kind == "zset":
            out[key] = await r.zrange(key, 0, -1, withscores=True)
        else:
            groups = await r.xinfo_groups(key)
            out[key] = {
                "entries": await r.xrange(key),
                "groups": sorted(
                    (g["name"], g["consumers"], g["pending"], g["last-delivered-id"])
                    for g in groups
                ),
                "consumers": {
                    g["name"]: sorted((c["name"], c["pending"])
                                      for c in await r.xinfo_consumers(key, g["name"]))
                    for g in groups
                },
                "pending": {
                    g["name"]: [(p["message_id"], p["consumer"], p["times_delivered"])
                                for p in await r.xpending_range(key, g["name"], "-", "+", 1000)]
                    for g in groups
                },
            }
    return out


# -- seed -------------------------------------------------------------------------------


def test_demo_keys_describe_the_seed_layout() -> None:
    assert {k: v["type"] for k, v in DEMO_KEYS.items()} == {
        "emails": "list",
        "queue:orders": "list",
        "queue:orders:processing": "list",
        "events:main": "stream",
        "jobs:priority": "zset",
        "queue:reports:scheduled": "zset",
        "queue:reports:ready": "list",
        "queue:main": "list",
        "queue:main:dlq": "list",
    }
    assert DEMO_KEYS["events:main"]["groups"] == {
        "workers": ["worker-1", "worker-2"], "analytics": ["analytics-dead"]}
    assert DEMO_CHANNELS == ("orders.created", "orders.paid", "orders.cancelled")
    assert DEMO_PATTERNS == ("orders.*",)


async def test_seed_creates_every_key_with_seed_envelopes(client: Redis) -> None:
    await seed(client, now_ms=NOW)
    for key, info in DEMO_KEYS.items():
        assert (await client.type(key)).decode() == info["type"], key

    # 1. work queue: plain EmailJob JSON
    emails = await lrange_all(client, "emails")
    assert 35 <= len(emails) <= 45
    for raw in emails:
        job = parse(raw, {"to", "subject", "body"})
        assert "@" in job["to"]

    # 2. reliable queue: JobWrapper, ms timestamps; 3 stale jobs in processing
    orders = await lrange_all(client, "queue:orders")
    assert 55 <= len(orders) <= 65
    for raw in orders:
        job = parse(raw, JOB_FIELDS)
        assert_uuid(job["id"])
        assert isinstance(job["payload"], dict)
        assert NOW - 3_600_000 < job["enqueued_at"] <= NOW
    processing = [parse(raw, JOB_FIELDS) for raw in await lrange_all(client,
                                                                      "queue:orders:processing")]
    assert len(processing) == 8
    assert sum(NOW - job["enqueued_at"] > 300_000 for job in processing) == 3
    # BRPOPLPUSH pushes on the left: the newest job is at the head
    assert processing[0]["enqueued_at"] == max(job["enqueued_at"] for job in processing)

    # 3. stream: field "data" = JSON; groups workers and analytics; poison entries
    entries = await client.xrange("events:main")
    assert 250 <= len(entries) <= 10_000
    for entry_id, fields in entries:
        assert set(fields) == {b"data"}
        assert isinstance(json.loads(fields[b"data"]), dict)
        assert int(entry_id.split(b"-")[0]) <= NOW
    groups = {g["name"]: g for g in await client.xinfo_groups("events:main")}
    assert set(groups) == {b"workers", b"analytics"}
    workers = {c["name"]: c for c in await client.xinfo_consumers("events:main", "workers")}
    assert set(workers) == {b"worker-1", b"worker-2"}
    assert all(1 <= c["pending"] <= 5 for c in workers.values())
    assert groups[b"workers"]["last-delivered-id"] == entries[-1][0]  # no lag
    analytics = await client.xinfo_consumers("events:main", "analytics")
    assert [c["name"] for c in analytics] == [b"analytics-dead"]
    assert 20 <= analytics[0]["pending"] <= 30
    dead_pending = await client.xpending_range("events:main", "analytics", "-", "+", 100)
    assert {p["consumer"] for p in dead_pending} == {b"analytics-dead"}
    assert sum(p["times_delivered"] >= 6 for p in dead_pending) >= 3  # poison
    worker_pending = await client.xpending_range("events:main", "workers", "-", "+", 100)
    assert any(p["times_delivered"] >= 6 for p in worker_pending)
    # analytics-dead read the oldest entries only: the group lags behind
    assert groups[b"analytics"]["last-delivered-id"] == entries[len(dead_pending) - 1][0]

    # 4. priority queue: score = priority, TaskJob payloads
    members = await client.zrange("jobs:priority", 0, -1, withscores=True)
    assert 45 <= len(members) <= 55
    by_type: dict[str, set[float]] = {}
    for raw, score in members:
        job = parse(raw, JOB_FIELDS)
        assert_uuid(job["id"])
        assert set(job["payload"]) == {"task_type", "data"}
        by_type.setdefault(job["payload"]["task_type"], set()).add(score)
    assert by_type["critical_alert"] == {100.0}
    assert by_type["send_email"] == {50.0}
    assert by_type["cleanup"] == {10.0}
    assert len(by_type) >= 4

    # 5. delayed queue: score = scheduled_at (ms); ~80 in the next hour, ~15 overdue
    scheduled = await client.zrange("queue:reports:scheduled", 0, -1, withscores=True)
    overdue = future = 0
    for raw, score in scheduled:
        job = parse(raw, SCHEDULED_FIELDS)
        assert_uuid(job["id"])
        assert job["scheduled_at"] == score
        if score < NOW:
            overdue += 1
            assert 60_000 <= NOW - score <= 20 * 60_000
        else:
            future += 1
            assert score - NOW <= 3_600_000
    assert 12 <= overdue <= 18 and 70 <= future <= 90
    ready = [parse(raw, SCHEDULED_FIELDS) for raw in await lrange_all(client,
                                                                       "queue:reports:ready")]
    assert 1 <= len(ready) <= 10
    assert all(job["scheduled_at"] <= NOW for job in ready)

    # 6. main queue: RetryWrapper
    main = [parse(raw, RETRY_FIELDS) for raw in await lrange_all(client, "queue:main")]
    assert 25 <= len(main) <= 35
    for job in main:
        assert_uuid(job["id"])
        assert 0 <= job["retry_count"] <= 3
        assert (job["last_error"] is None) == (job["retry_count"] == 0)
        assert job["first_attempt"] <= NOW


async def test_seed_dlq_has_dead_letters_and_three_oddities(client: Redis) -> None:
    await seed(client, now_ms=NOW)
    dlq = await lrange_all(client, "queue:main:dlq")
    letters, oddities = [], []
    for raw in dlq:
        try:
            value = json.loads(raw)
        except (UnicodeDecodeError, ValueError):
            value = None
        if isinstance(value, dict) and set(value) == DEAD_FIELDS:
            letters.append(value)
        else:
            oddities.append(raw)
    assert 110 <= len(letters) <= 130
    for dead in letters:
        assert set(dead["job"]) == RETRY_FIELDS
        assert_uuid(dead["job"]["id"])
        assert dead["job"]["retry_count"] == 3
        assert dead["job"]["first_attempt"] < dead["dead_at"] <= NOW
        assert isinstance(dead["reason"], str) and dead["reason"]
    # dead letters are pushed on the right as they die: oldest first
    assert [d["dead_at"] for d in letters] == sorted(d["dead_at"] for d in letters)

    # exactly three entries are not the envelope: a JSON object, a text line, binary
    assert len(oddities) == 3
    binary = [raw for raw in oddities if not _is_utf8(raw)]
    assert len(binary) == 1
    texts = [raw.decode() for raw in oddities if _is_utf8(raw)]
    as_json = [t for t in texts if _json_object(t)]
    assert len(as_json) == 1 and "job" not in json.loads(as_json[0])
    plain = [t for t in texts if not _json_object(t)]
    assert len(plain) == 1 and "\n" not in plain[0]

    # reasons vary in their numbers and ids, so grouping by normalised reason means something
    reasons = [d["reason"] for d in letters]
    groups = {normalise(r) for r in reasons}
    assert len(set(reasons)) > len(groups) >= 5
    assert "SMTP timeout after #ms" in groups
    assert "payment declined: card # expired" in groups
    assert "HTTP # from https://api.example.com/v#/charge" in groups
    assert any(g.startswith("validation failed: missing field '") for g in groups)
    biggest = max(sum(normalise(r) == g for r in reasons) for g in groups)
    assert biggest >= 10


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


async def test_seed_is_deterministic(client: Redis) -> None:
    await seed(client, now_ms=NOW, rng_seed=7)
    first = await dump(client)
    await client.flushall()
    await seed(client, now_ms=NOW, rng_seed=7)
    assert await dump(client) == first

    await client.flushall()
    await seed(client, now_ms=NOW, rng_seed=8)
    assert (await dump(client))["queue:orders"] != first["queue:orders"]
    await client.flushall()
    await seed(client, now_ms=NOW + 1, rng_seed=7)
    assert (await dump(client))["events:main"] != first["events:main"]


async def test_seed_replaces_previous_demo_data(client: Redis) -> None:
    await seed(client, now_ms=NOW)
    first = await dump(client)
    await client.rpush("emails", b"extra")
    await client.set("unrelated", b"kept")
    await seed(client, now_ms=NOW)
    assert await dump(client) == first
    assert await client.get("unrelated") == b"kept"


async def test_seed_without_now_uses_the_clock(client: Redis) -> None:
    before = time.time_ns() // 1_000_000
    await seed(client)
    after = time.time_ns() // 1_000_000
    processing = [json.loads(raw) for raw in await lrange_all(client, "queue:orders:processing")]
    newest = max(job["enqueued_at"] for job in processing)
    assert before - 60_000 <= newest <= after


# -- workload ---------------------------------------------------------------------------


@asynccontextmanager
async def running(workload: Workload) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``workload`` in a task; on exit stop it and check that it ended cleanly."""
    stop = asyncio.Event()
    task = asyncio.create_task(workload.run(stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)
    assert task.done() and task.exception() is None
    left = [t for t in asyncio.all_tasks() if t.get_name().startswith("workload:")]
    assert left == []


async def snapshot(r: Redis) -> dict[str, Any]:
    """What the seed left, to tell afterwards that every queue moved."""
    scheduled = await r.zrange("queue:reports:scheduled", 0, -1, withscores=True)
    groups = {g["name"]: g for g in await r.xinfo_groups("events:main")}
    return {
        "emails": set(await lrange_all(r, "emails")),
        "emails_head": await r.lindex("emails", 0),
        "orders": set(await lrange_all(r, "queue:orders")),
        "processing": set(await lrange_all(r, "queue:orders:processing")),
        "xlen": await r.xlen("events:main"),
        "workers_last": groups[b"workers"]["last-delivered-id"],
        "analytics": (groups[b"analytics"]["last-delivered-id"], groups[b"analytics"]["pending"]),
        "priority": {m for m, _ in await r.zrange("jobs:priority", 0, -1, withscores=True)},
        "priority_top": (await r.zrevrange("jobs:priority", 0, 0))[0],
        "scheduled": {m for m, _ in scheduled},
        "overdue": [m for m, score in scheduled if score <= time.time() * 1000],
        "ready": await lrange_all(r, "queue:reports:ready"),
        "main": set(await lrange_all(r, "queue:main")),
        "main_head": await r.lindex("queue:main", 0),
        "dlq_len": await r.llen("queue:main:dlq"),
    }


def _stream_id(raw: bytes) -> tuple[int, int]:
    ms, seq = raw.split(b"-")
    return int(ms), int(seq)


async def movement(r: Redis, before: dict[str, Any], workload: Workload) -> dict[str, bool]:
    """Which queues have moved (produced into and consumed from) since ``before``."""
    counts = workload.counts
    groups = {g["name"]: g for g in await r.xinfo_groups("events:main")}
    emails = await lrange_all(r, "emails")
    priority = {m for m, _ in await r.zrange("jobs:priority", 0, -1, withscores=True)}
    scheduled = {m for m, _ in await r.zrange("queue:reports:scheduled", 0, -1, withscores=True)}
    ready = await lrange_all(r, "queue:reports:ready")
    main = await lrange_all(r, "queue:main")
    dlq_tail = await r.lrange("queue:main:dlq", -1, -1)
    numsub = dict(await r.pubsub_numsub(*DEMO_CHANNELS))
    return {
        "emails produced": any(raw not in before["emails"] for raw in emails),
        "emails consumed": before["emails_head"] not in emails,
        # RPUSH and BRPOPLPUSH work the same (right) end, so new jobs may be taken as soon
        # as pushed: count the replies (an LREM that answered 1 removed a real job).
        "orders produced": counts["orders.pushed"] >= 20,
        "orders acked": counts["orders.acked"] >= 20,
        "orders processing kept": before["processing"] <= set(
            await lrange_all(r, "queue:orders:processing")),
        "stream grew by 20": await r.xlen("events:main") >= before["xlen"] + 20,
        "workers read on": _stream_id(groups[b"workers"]["last-delivered-id"])
        > _stream_id(before["workers_last"]),
        "workers acked": groups[b"workers"]["pending"] <= 5 + 2 * 10,
        "analytics is dead": (groups[b"analytics"]["last-delivered-id"],
                              groups[b"analytics"]["pending"]) == before["analytics"],
        "priority produced": any(m not in before["priority"] for m in priority),
        "priority highest taken": before["priority_top"] not in priority,
        "scheduled produced": any(m not in before["scheduled"] for m in scheduled),
        "overdue moved": bool(before["overdue"]) and not set(before["overdue"]) & scheduled,
        "ready consumed": not set(before["ready"]) & set(ready)
        and counts["reports.done"] > len(before["ready"]),
        "main produced": counts["main.pushed"] >= 20,
        "main consumed": before["main_head"] not in main,
        "dlq grew": await r.llen("queue:main:dlq") > before["dlq_len"]
        and bool(dlq_tail) and json.loads(dlq_tail[0])["job"]["retry_count"] == 3,
        "subscribers": numsub.get(b"orders.created") == 1 and numsub.get(b"orders.paid") == 1
        and numsub.get(b"orders.cancelled") == 0 and await r.pubsub_numpat() == 1,
        "published": counts["pubsub.published"] > 0 and counts["pubsub.received"] > 0,
    }


#: A job is dead-lettered at its fourth failure (30% each): one fresh job in 120 or so,
#: and three trips through the main queue after its first try. By 2,000 tries of the main
#: worker some 1,100 such chains are complete, and the chance that none failed four times
#: is below 1 in 10,000: the dead letter is awaited by the worker's tries, not by the clock
#: (a loaded machine's worker makes 30-40 tries/s, an idle one's 250).
TRIES_FOR_A_DEAD_LETTER = 2_000
#: The main worker making no try for this long is a stall.
STALL_S = 20.0


def main_tries(workload: Workload) -> int:
    counts = workload.counts
    return counts["main.done"] + counts["main.retried"] + counts["main.dead"]


async def wait_for_all_movement(r: Redis, before: dict[str, Any], workload: Workload,
                                timeout: float = 40.0) -> None:
    """Every queue moved within `timeout`; the dead letters by the main worker's tries."""
    last: dict[str, bool] = {}

    async def all_moved() -> bool:
        last.update(await movement(r, before, workload))
        return all(moved for name, moved in last.items() if name != "dlq grew")

    try:
        await async_wait_until(all_moved, timeout=timeout, interval=0.1)
    except AssertionError:
        stuck = sorted(name for name, ok in last.items() if not ok)
        raise AssertionError(f"queues that did not move: {stuck}; counts: "
                             f"{dict(workload.counts)}") from None

    async def dead_lettered_or_tried(tries: int) -> bool:
        last.update(await movement(r, before, workload))
        return last["dlq grew"] or main_tries(workload) > tries

    while not last["dlq grew"] and main_tries(workload) < TRIES_FOR_A_DEAD_LETTER:
        tries = main_tries(workload)
        await async_wait_until(partial(dead_lettered_or_tried, tries), timeout=STALL_S,
                               interval=0.1, message=f"the main worker stalled at {tries} tries")
    assert last["dlq grew"], (f"no dead letter after {main_tries(workload):,} tries of the "
                              f"main worker; counts: {dict(workload.counts)}")


async def wait_disconnected(r: Redis) -> None:
    """Until only ``r``'s own connection is left on the server."""
    async def alone() -> bool:
        return len(await r.client_list()) == 1 and await r.pubsub_numpat() == 0

    await async_wait_until(alone, timeout=10, message="workload connections left open")


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Workload("redis://127.0.0.1:1/0", rate=0)


@pytest.mark.scenario
async def test_workload_moves_every_queue(server_factory) -> None:
    # A private server: the final check counts every connection on it, and other tests'
    # clients on the shared session server would be counted too.
    url = server_factory().url
    client = Redis.from_url(url)
    await seed(client)
    before = await snapshot(client)
    workload = Workload(url, rate=RATE, rng_seed=3)
    async with running(workload):
        await wait_for_all_movement(client, before, workload)

        # Publishes reach all three channels (seen from our own pattern subscriber).
        seen: set[bytes] = set()
        pubsub = client.pubsub()
        await pubsub.psubscribe("orders.*")
        try:
            async def all_channels() -> bool:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
                if message:
                    seen.add(message["channel"])
                    json.loads(message["data"])
                return seen >= {c.encode() for c in DEMO_CHANNELS}

            await async_wait_until(all_channels, timeout=20, interval=0)
        finally:
            await pubsub.aclose()

    assert not [name for name in workload.counts if name.endswith(".errors")], workload.counts
    await wait_disconnected(client)

    # What the workload wrote follows the seed's envelopes.
    for raw in await client.lrange("queue:orders", -5, -1):
        assert_uuid(parse(raw, JOB_FIELDS)["id"])
    for raw in await client.lrange("emails", -5, -1):
        parse(raw, {"to", "subject", "body"})
    for raw, score in await client.zrange("jobs:priority", 0, -1, withscores=True):
        job = parse(raw, JOB_FIELDS)
        assert {"task_type", "data"} == set(job["payload"]) and score in {
            100.0, 75.0, 50.0, 25.0, 10.0, 5.0}
    for raw, score in await client.zrange("queue:reports:scheduled", -5, -1, withscores=True):
        assert parse(raw, SCHEDULED_FIELDS)["scheduled_at"] == score
    for raw in await client.lrange("queue:main", 0, 20):
        job = parse(raw, RETRY_FIELDS)
        assert (job["last_error"] is None) == (job["retry_count"] == 0)
    (last_dead,) = await client.lrange("queue:main:dlq", -1, -1)
    dead = parse(last_dead, DEAD_FIELDS)
    assert set(dead["job"]) == RETRY_FIELDS and dead["job"]["retry_count"] == 3
    assert dead["job"]["last_error"] and dead["reason"]
    (_, fields), = await client.xrevrange("events:main", count=1)
    assert set(fields) == {b"data"} and isinstance(json.loads(fields[b"data"]), dict)
    await client.aclose()


@pytest.mark.scenario
async def test_workload_without_lua_or_xautoclaim(server_factory) -> None:
    """Ferrite stand-in: EVAL, EVALSHA, SCRIPT and XAUTOCLAIM renamed away."""
    server = server_factory(extra_args=reduced_args())
    r = Redis.from_url(server.url)
    try:
        with pytest.raises(Exception, match=r"(?i)unknown command"):
            await r.eval("return 1", 0)
        await seed(r)
        before = await snapshot(r)
        workload = Workload(server.url, rate=RATE)
        async with running(workload):
            await wait_for_all_movement(r, before, workload)
        assert not [n for n in workload.counts if n.endswith(".errors")], workload.counts
        assert workload.counts["priority.taken"] > 0 and workload.counts["reports.moved"] > 0
        await wait_disconnected(r)
    finally:
        await r.aclose()


async def test_workload_survives_server_loss_quietly(
    server_factory, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    server = server_factory()
    workload = Workload(server.url, rate=RATE)
    async with running(workload):
        await async_wait_until(lambda: workload.counts["events.acked"] > 0, timeout=20)
        server.kill()
        await async_wait_until(
            lambda: sum(n for k, n in workload.counts.items() if k.endswith(".errors")) >= 3,
            timeout=20, message="workers never noticed the server going away")
        # It comes back (empty: nothing was saved) and the workload carries on by itself,
        # recreating the consumer group it needs.
        server.start()
        acked = workload.counts["events.acked"]
        await async_wait_until(lambda: workload.counts["events.acked"] > acked
                               and workload.counts["main.pushed"] > 0, timeout=30)
        server.kill()  # and it goes away again while the workload stops
        errors = sum(n for k, n in workload.counts.items() if k.endswith(".errors"))
        await async_wait_until(
            lambda: sum(n for k, n in workload.counts.items() if k.endswith(".errors"))
            > errors, timeout=20)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    loud = [r for r in caplog.records if r.levelno > logging.DEBUG]
    assert loud == []
    assert not any(r.exc_info for r in caplog.records)


def test_workload_module_imports_no_textual() -> None:
    code = ("import sys, ferrite_tui.demo.workload; "
            "sys.exit(any(m == 'textual' or m.startswith('textual.') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
