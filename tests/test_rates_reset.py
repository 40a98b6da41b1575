"""Rates start again after a server restart or a flush, instead of reading the old and the
new contents of a list as traffic."""

from __future__ import annotations

import json

import pytest
import redis

from ferrite_tui.backend.monitor import Monitor
from helpers import FERRITE, async_wait_until, monitor_at

DLQ = "queue:main:dlq"


def dead(i: int) -> str:
    return json.dumps({"job": {"id": f"d{i}", "payload": i, "retry_count": 3,
                               "last_error": "e", "first_attempt": 1},
                       "dead_at": 1, "reason": "e"})


async def polled(m: Monitor):
    async def attempt():
        try:
            return await m.poll()
        except Exception:  # reconnecting after the restart
            return None
    return await async_wait_until(attempt, timeout=30)


def dlq(snap):
    return {q.ref.key: q for q in snap.queues}[DLQ]


async def check_reset(server, upset, poll_between: bool = False) -> None:
    r = redis.Redis.from_url(server.url)
    m = monitor_at(server.url)
    try:
        r.rpush(DLQ, *[dead(i) for i in range(40)])
        await m.connect()
        await m.discover()
        await polled(m)
        r.rpush(DLQ, dead(100))
        before = dlq(await polled(m))
        assert before.in_rate is not None  # the ordinary case has rates
        upset(r)
        r = redis.Redis.from_url(server.url)
        if poll_between:
            await polled(m)  # sees the emptied server before the keys come back
        r.rpush(DLQ, *[dead(200 + i) for i in range(25)])  # new contents, same name
        after = dlq(await polled(m))
        assert after.depth == 25
        if poll_between:  # measured from the empty poll: a real rise, never the old depth
            assert after.net_rate is not None and after.net_rate > 0
            # From empty to 25 items: at least 25 arrived, so in/out are marked lower bounds
            # (or unknown), never exact figures taken from the old contents.
            assert after.in_rate is None or after.in_lower, (after.in_rate, after.in_lower)
            assert after.out_rate is None or after.out_lower, (after.out_rate, after.out_lower)
        else:
            assert after.in_rate is None and after.out_rate is None, (after.in_rate,
                                                                      after.out_rate)
            assert after.net_rate is None and "growing" not in " ".join(after.alerts)
    finally:
        await m.aclose()
        r.close()


@pytest.mark.skipif(FERRITE, reason="Ferrite's INFO has no commandstats: a flush refilled "
                    "before the next poll cannot be seen there")
async def test_rates_reset_after_flushall(fresh_server):
    await check_reset(fresh_server, lambda r: r.flushall())


async def test_rates_reset_after_a_flush_seen_empty(fresh_server):
    """The signal Ferrite has too: the key count of INFO keyspace fell to 0."""
    await check_reset(fresh_server, lambda r: r.flushall(), poll_between=True)


async def test_rates_reset_after_a_restart(fresh_server):
    await check_reset(fresh_server, lambda r: (r.close(), fresh_server.restart()))
