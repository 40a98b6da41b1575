"""The poll with big values (issue 21, item 6): an item over 16 KB read for an age or an id
(a list's end, a set's top, a stream's end entry, a job in a processing list) is not read
again at every poll while its key stands still; bytes counted with INFO stats."""

import json
import time

import pytest
import redis

from test_poll import by_key, job, monitor_for  # the poll tests' own helpers


@pytest.fixture
def r(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


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


async def test_a_lagging_groups_big_backlog_is_not_read_again_each_poll(r, redis_url):
    """Without stream counters (Redis < 7, Ferrite) deliveries are counted from the ids
    after a lagging group's position, and XRANGE returns whole entries: with a 512 KB one
    there, the ids read stand (entries never change) and only new ones are read."""
    r.xadd("events:big", {"data": "first"})
    r.xadd("events:big", {"data": "x" * (512 << 10)})  # behind the group's position
    for i in range(4):
        r.xadd("events:big", {"data": f"small {i}"})
    r.xgroup_create("events:big", "workers", "0")
    r.xreadgroup("workers", "w1", {"events:big": ">"}, count=1)
    m = await monitor_for(redis_url)
    sent = lambda: int(r.info("stats")["total_net_output_bytes"])  # noqa: E731
    try:
        for _ in range(3):
            await m.poll()
        before = sent()
        await m.poll()
        await m.poll()
        assert sent() - before < 64 << 10
        flow = m.history.flow(by_key(m.snapshot)["events:big"].ref.ident, "read:workers")
        delivered = flow.total
        r.xreadgroup("workers", "w1", {"events:big": ">"}, count=2)
        r.xadd("events:big", {"data": "new"})
        snap = await m.poll()
        stream = by_key(snap)["events:big"]
        (group,) = stream.groups
        assert stream.depth == 7 and group.pending == 3
        assert flow.total - delivered == 2  # the two deliveries, counted from the kept ids
    finally:
        await m.aclose()
