"""The poll against a real server: figures, round trips, and keys that change under it."""

import json
import time

import pytest
import redis

from ferrite_tui.config import AlertConfig, Config
from helpers import monitor_at, skip_as_the_server_lacks


def job(i, t=None):
    t = int(time.time() * 1000) if t is None else t
    return json.dumps({"id": f"j{i}", "payload": {"n": i}, "enqueued_at": t})


@pytest.fixture
def r(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


async def monitor_for(url, config=None):
    m = monitor_at(url, config or Config())
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
        skip_as_the_server_lacks(m.settings.url, "lpos", "LPOS not available")
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


async def test_a_capped_stream_read_by_a_group_alerts_on_lag_not_on_length(r, redis_url):
    """A stream trimmed with MAXLEN keeps ~N entries of history whatever its consumers do:
    its length is no backlog. With the group caught up there is no alert; a stream nobody
    reads still gets the depth alert."""
    for i in range(30):
        r.xadd("events:capped", {"data": json.dumps({"n": i})}, maxlen=20, approximate=False)
        r.xadd("events:unread", {"data": json.dumps({"n": i})})
    r.xgroup_create("events:capped", "workers", id="$")  # caught up: lag 0, nothing pending
    cfg = Config(alerts=AlertConfig(depth=10))
    m = await monitor_for(redis_url, cfg)
    try:
        snap = await m.poll()
    finally:
        await m.aclose()
    assert by_key(snap)["events:capped"].depth == 20
    assert by_key(snap)["events:capped"].alerts == ()
    assert by_key(snap)["events:unread"].alerts == ("depth ≥ 10",)


async def test_ages_come_from_the_time_fields_teams_use(r, redis_url):
    """Jobs stamped with created_at / timestamp / ts (epoch s, epoch ms or ISO 8601), not
    the guide's enqueued_at, still have an age, so "old jobs" can fire for them."""
    from datetime import UTC, datetime, timedelta

    server_now = r.time()
    now_s = server_now[0] + server_now[1] / 1e6
    old = now_s - 3600
    r.rpush("jobs:seconds", json.dumps({"task": "a", "created_at": int(old)}))
    r.rpush("jobs:millis", json.dumps({"task": "b", "timestamp": int(old * 1000)}))
    iso = (datetime.fromtimestamp(old, UTC)).isoformat().replace("+00:00", "Z")
    r.rpush("jobs:iso", json.dumps({"task": "c", "ts": iso}))
    naive = datetime.fromtimestamp(old, UTC).replace(tzinfo=None) + timedelta(0)
    r.rpush("jobs:naive", json.dumps({"task": "d", "created_at": naive.isoformat()}))
    r.rpush("jobs:none", json.dumps({"task": "e", "created_at": 42}))  # not a time
    m = await monitor_for(redis_url, Config(alerts=AlertConfig(oldest_age_seconds=600)))
    try:
        snap = await m.poll()
    finally:
        await m.aclose()
    queues = by_key(snap)
    for key in ("jobs:seconds", "jobs:millis", "jobs:iso", "jobs:naive"):
        age = queues[key].oldest_ms
        assert age is not None and 3_595_000 <= age <= 3_660_000, (key, age)
        assert "old jobs" in queues[key].alerts
    assert queues["jobs:none"].oldest_ms is None
