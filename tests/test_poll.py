"""The poll against a real server: figures, round trips, and keys that change under it."""

import json
import time

import pytest
import redis

from ferrite_tui.backend.client import ConnectionSettings
from ferrite_tui.backend.monitor import Monitor
from ferrite_tui.config import AlertConfig, Config


def job(i, t=None):
    t = int(time.time() * 1000) if t is None else t
    return json.dumps({"id": f"j{i}", "payload": {"n": i}, "enqueued_at": t})


@pytest.fixture
def r(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


async def monitor_for(url, config=None):
    m = Monitor(ConnectionSettings(url=url), config or Config())
    await m.connect()
    await m.discover()
    return m


def by_key(snap):
    return {q.ref.key: q for q in snap.queues}


async def test_figures_of_every_kind(r, redis_url):
    NOW = int(time.time() * 1000)  # ages below are measured from here
    r.rpush("queue:orders", job(1, NOW - 60_000), job(2))
    r.lpush("queue:orders:processing", job(3, NOW - 400_000))
    r.zadd("jobs:priority", {job(4, NOW - 5_000): 100, job(5): 1})
    due = {json.dumps({"id": f"s{i}", "payload": i, "scheduled_at": NOW + d}): NOW + d
           for i, d in enumerate((-120_000, -1_000, 60_000))}
    r.zadd("queue:reports:scheduled", due)
    r.rpush("queue:reports:ready", "x", "y")
    dead = {"job": {"id": "d", "payload": 1, "retry_count": 3, "last_error": "e",
                    "first_attempt": NOW}, "dead_at": NOW - 30_000, "reason": "e"}
    r.rpush("queue:main:dlq", json.dumps(dead))
    r.xadd("events:main", {"data": "{}"})
    r.xadd("events:main", {"data": "{}"})
    r.xgroup_create("events:main", "workers", "0")
    r.xreadgroup("workers", "w1", {"events:main": ">"}, count=1)
    m = await monitor_for(redis_url)
    try:
        await m.poll()
        snap = await m.poll()  # the second poll knows the stream's groups
    finally:
        await m.aclose()
    q = by_key(snap)
    orders = q["queue:orders"]
    assert (orders.depth, orders.processing) == (2, 1)
    assert 59_000 <= orders.oldest_ms <= 70_000
    assert "1 stale processing" in orders.alerts and orders.stale == 1
    prio = q["jobs:priority"]
    assert prio.depth == 2 and 4_000 <= prio.oldest_ms <= 15_000  # the top job's age
    sched = q["queue:reports:scheduled"]
    assert (sched.depth, sched.overdue, sched.ready) == (3, 2, 2)
    assert 119_000 <= sched.oldest_ms <= 130_000
    assert any("overdue" in a for a in sched.alerts)
    dlq = q["queue:main:dlq"]
    assert dlq.depth == 1 and 29_000 <= dlq.oldest_ms <= 40_000 and "1 dead" in dlq.alerts
    stream = q["events:main"]
    assert stream.depth == 2 and stream.pending == 1
    (group,) = stream.groups
    assert (group.name, group.consumers, group.pending) == ("workers", 1, 1)
    if m.capabilities.xinfo_lag:
        assert group.lag == 1
    else:
        assert group.lag is None  # never a false 0
    assert stream.oldest_ms is not None
    assert snap.server.used_memory and snap.server.keyspace


async def test_round_trips_do_not_grow_with_queues(r, redis_url):
    counts = {}
    for n in (5, 200):
        r.flushall()
        pipe = r.pipeline(transaction=False)
        for i in range(n):
            pipe.rpush(f"queue:q{i}", job(i))
            pipe.rpush(f"queue:q{i}:processing", job(i))
            pipe.zadd(f"prio{i}", {job(i): 1})
            pipe.xadd(f"stream{i}", {"data": "1"})
        pipe.execute()
        m = await monitor_for(redis_url)
        try:
            await m.poll()
            snap = await m.poll()
        finally:
            await m.aclose()
        assert len(snap.queues) == 3 * n
        counts[n] = snap.round_trips
    assert counts[5] == counts[200] <= 3


async def test_vanished_and_retyped_keys_give_a_line_not_a_crash(r, redis_url):
    r.rpush("emails", "a", "b")
    r.rpush("gone", "x")
    m = await monitor_for(redis_url)
    try:
        r.delete("emails")
        r.set("emails", "now a string")
        r.delete("gone")
        snap = await m.poll()
    finally:
        await m.aclose()
    q = by_key(snap)
    assert q["emails"].error and "wrong type" in q["emails"].error
    assert q["gone"].depth == 0 and q["gone"].error is None


async def test_list_in_and_out_rates_come_from_measured_moves(r, redis_url):
    r.rpush("work", *[f"old{i}" for i in range(50)])
    m = await monitor_for(redis_url)
    try:
        await m.poll()
        r.rpush("work", *[f"new{i}" for i in range(30)])
        r.lpop("work", 20)
        snap = await m.poll()
    finally:
        await m.aclose()
    work = by_key(snap)["work"]
    if not m.capabilities.lpos:
        pytest.skip("LPOS not available")
    assert work.in_rate > 0 and work.out_rate > 0
    # 30 in and 20 out over the same elapsed time.
    assert work.in_rate / work.out_rate == pytest.approx(1.5, rel=0.01)


async def test_alert_thresholds_come_from_config(r, redis_url):
    r.rpush("emails", *range(12))
    cfg = Config(alerts=AlertConfig(depth=10))
    m = await monitor_for(redis_url, cfg)
    try:
        snap = await m.poll()
    finally:
        await m.aclose()
    assert by_key(snap)["emails"].alerts == ("depth ≥ 10",)


async def test_pubsub_channels_are_listed(r, redis_url):
    from helpers import wait_until

    # An earlier test's pattern subscriber may still be closing on this worker's server.
    wait_until(lambda: r.execute_command("PUBSUB", "NUMPAT") == 0, timeout=10)
    p = r.pubsub()
    p.subscribe("orders.created")
    p.get_message(timeout=1)
    try:
        m = await monitor_for(redis_url)
        try:
            snap = await m.poll()
        finally:
            await m.aclose()
    finally:
        p.close()
    assert [(c.name, c.subscribers) for c in snap.channels] == [("orders.created", 1)]
    assert snap.numpat == 0


async def test_right_end_consumers_fall_back_to_the_net_change(r, redis_url):
    """RPUSH + RPOP (the seed's reliable queue pops the right end): moves between polls are
    not visible, so in and out are marked lower bounds, never shown as exact."""
    r.rpush("queue:lifo", *[f"old{i}" for i in range(20)])
    m = await monitor_for(redis_url)
    try:
        await m.poll()
        r.rpop("queue:lifo", 5)
        r.rpush("queue:lifo", *[f"new{i}" for i in range(3)])
        r.rpop("queue:lifo", 3)  # the old tail is gone, the head never moved
        snap = await m.poll()
    finally:
        await m.aclose()
    lifo = by_key(snap)["queue:lifo"]
    assert lifo.in_lower and lifo.out_lower and lifo.rate_note
    assert lifo.consumer_end == "tail"
    assert lifo.net_rate is not None and lifo.net_rate < 0


async def test_a_list_with_a_big_end_is_read_again_only_when_it_changes(r, redis_url):
    """A 512 KB item at a list's end is read with the items next to it, then only the
    length and those small items are asked while they stand; its age stands meanwhile. A
    turnover that keeps the length (the big item taken, another pushed) moves the item next
    to it, so the ends are read again."""
    NOW = int(time.time() * 1000)
    big = json.dumps({"id": "big", "payload": "x" * (512 << 10), "enqueued_at": NOW - 60_000})
    r.rpush("queue:orders", big, job(2, NOW - 1_000))
    m = await monitor_for(redis_url)
    sent = lambda: int(r.info("stats")["total_net_output_bytes"])  # noqa: E731
    try:
        await m.poll()
        await m.poll()
        before = sent()
        snap = await m.poll()
        snap = await m.poll()
        assert sent() - before < 64 << 10
        orders = by_key(snap)["queue:orders"]
        assert orders.depth == 2 and 59_000 <= orders.oldest_ms <= 70_000
        r.lpop("queue:orders")
        r.rpush("queue:orders", job(3, NOW - 5_000))
        await m.poll()  # the item next to the big one moved: the ends are read next
        snap = await m.poll()
        orders = by_key(snap)["queue:orders"]
        assert orders.depth == 2 and orders.oldest_ms < 30_000  # the big item is gone
        r.rpush("queue:orders", big)  # big at the tail now: watched again, then emptied
        for _ in range(4):
            await m.poll()
        r.delete("queue:orders")
        orders = by_key(await m.poll())["queue:orders"]
        assert orders.depth == 0 and orders.oldest_ms is None
    finally:
        await m.aclose()


async def test_a_priority_set_with_a_big_top_member_is_read_again_when_its_size_changes(
        r, redis_url):
    NOW = int(time.time() * 1000)
    big = json.dumps({"id": "big", "payload": "x" * (512 << 10), "enqueued_at": NOW - 60_000})
    r.zadd("jobs:priority", {big: 100, job(2, NOW - 1_000): 1})
    m = await monitor_for(redis_url)
    sent = lambda: int(r.info("stats")["total_net_output_bytes"])  # noqa: E731
    try:
        await m.poll()
        await m.poll()
        before = sent()
        snap = await m.poll()
        snap = await m.poll()
        assert sent() - before < 64 << 10
        prio = by_key(snap)["jobs:priority"]
        assert prio.depth == 2 and 59_000 <= prio.oldest_ms <= 70_000
        r.zpopmax("jobs:priority")
        await m.poll()  # the size changed: the members are read at the next poll
        snap = await m.poll()
        prio = by_key(snap)["jobs:priority"]
        assert prio.depth == 1 and prio.oldest_ms < 30_000
    finally:
        await m.aclose()


async def test_a_stream_with_a_big_entry_is_not_read_whole_each_poll(r, redis_url):
    """XINFO STREAM holds the first and last entries whole: with a 512 KB one, the poll
    asks only whether an entry came after the last id, and reads it again once one did."""
    r.xadd("events:big", {"data": "x" * (512 << 10)})
    r.xgroup_create("events:big", "workers", "0")
    r.xreadgroup("workers", "w1", {"events:big": ">"})
    m = await monitor_for(redis_url)
    sent = lambda: int(r.info("stats")["total_net_output_bytes"])  # noqa: E731
    try:
        await m.poll()
        await m.poll()
        before = sent()
        snap = await m.poll()
        snap = await m.poll()
        assert sent() - before < 64 << 10
        assert by_key(snap)["events:big"].depth == 1
        r.xadd("events:big", {"data": "small"})
        r.xadd("events:big", {"data": "small"})
        snap = await m.poll()  # seen: read whole again at the next poll
        snap = await m.poll()
        snap = await m.poll()
        stream = by_key(snap)["events:big"]
        assert stream.depth == 3 and stream.error is None
        added = m.history.series(stream.ref.ident, "added").last()
        assert added is None or added[1] == 3  # the counter, where the server has one
    finally:
        await m.aclose()


async def test_a_big_job_in_a_processing_list_is_not_read_each_poll(r, redis_url):
    """A reliable queue's processing list is read whole (bounded in items) for stale jobs:
    holding a 512 KB job, only the length and its small items are read while they stand."""
    NOW = int(time.time() * 1000)
    big = json.dumps({"id": "big", "payload": "x" * (512 << 10), "enqueued_at": NOW - 1_000})
    r.rpush("queue:orders", job(1))
    r.rpush("queue:orders:processing", job(2, NOW - 1_000), big, job(3, NOW - 1_000))
    m = await monitor_for(redis_url)
    sent = lambda: int(r.info("stats")["total_net_output_bytes"])  # noqa: E731
    try:
        await m.poll()
        await m.poll()
        before = sent()
        snap = await m.poll()
        snap = await m.poll()
        assert sent() - before < 64 << 10
        assert by_key(snap)["queue:orders"].processing == 3
        r.lrem("queue:orders:processing", 1, big)  # acked
        await m.poll()
        snap = await m.poll()
        orders = by_key(snap)["queue:orders"]
        assert orders.processing == 2
        assert m.poller._processing["queue:orders:processing"][0] == [
            job(2, NOW - 1_000).encode(), job(3, NOW - 1_000).encode()]
    finally:
        await m.aclose()
