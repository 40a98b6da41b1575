"""What the poll asks: a figure already known is not asked again (issue 23's poll speed),
and the figures stay those of the full read."""

import json
import time

import redis

from helpers import monitor_at


def job(i):
    return json.dumps({"id": f"j{i}", "payload": i, "enqueued_at": int(time.time() * 1000)})


def recording(client):
    """Every command `client` pipelines from now on, by poll (rounds[-1]: the last)."""
    rounds: list[list[list]] = []
    pipeline = client.raw_pipeline

    async def recorded(commands):
        rounds[-1].append(list(commands))
        return await pipeline(commands)

    client.raw_pipeline = recorded
    return rounds


async def test_standing_queues_are_not_asked_what_is_known(redis_url):
    r = redis.Redis.from_url(redis_url)
    r.rpush("queue:orders", job(1), job(2))
    r.rpush("queue:orders:processing", job(3))
    r.xadd("events", {"n": "1"})
    r.xgroup_create("events", "idle", "$")
    m = monitor_at(redis_url)
    await m.connect()
    try:
        await m.discover()
        rounds = recording(m.client)
        for _ in range(3):
            rounds.append([])
            snap = await m.poll()
        names = [c[0] for trip in rounds[-1] for c in trip]
        assert len(rounds[-1]) == 1  # one round trip: nothing moved
        assert "LPOS" not in names  # both ends stand: they are where LPOS would find them
        assert ("LLEN", "queue:orders:processing") not in rounds[-1][0]  # read whole
        assert "XPENDING" not in names  # the group holds nothing
        orders = next(q for q in snap.queues if q.ref.key == "queue:orders")
        assert (orders.depth, orders.processing, orders.in_rate, orders.out_rate) == \
            (2, 1, 0.0, 0.0)
        assert not orders.in_lower and not orders.out_lower
        (group,) = next(q for q in snap.queues if q.ref.key == "events").groups
        assert (group.pending, group.idle_count) == (0, 0)

        # Moves: the list that moved is followed in round trip 2, its figures exact; the
        # group that came to hold entries is scanned there too.
        r.rpush("queue:orders", job(4), job(5))
        r.lpop("queue:orders")
        r.xreadgroup("idle", "c1", {"events": ">"})
        r.xadd("events", {"n": "2"})
        r.xreadgroup("idle", "c1", {"events": ">"})
        rounds.append([])
        snap = await m.poll()
        assert len(rounds[-1]) == 2
        second = [c[0] for c in rounds[-1][1]]
        assert second.count("LPOS") == 2 and "XPENDING" in second
        orders = next(q for q in snap.queues if q.ref.key == "queue:orders")
        assert orders.depth == 3 and orders.in_rate and orders.out_rate
        assert not orders.in_lower and not orders.out_lower
        (group,) = next(q for q in snap.queues if q.ref.key == "events").groups
        assert group.pending == 1 and group.holders[0].name == "c1"
    finally:
        await m.aclose()
        r.close()
