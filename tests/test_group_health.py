"""Stream group health beyond the bounded pending scan: a group holding more entries than
one XPENDING page reads gets exact idle counts and dead verdicts from XPENDING IDLE where
the server has it, and a count marked "+" where it does not."""

import dataclasses

import pytest
import redis

from ferrite_tui.backend.poll import PENDING_SCAN
from ferrite_tui.config import AlertConfig, Config
from helpers import monitor_at, skip_as_the_server_lacks

STREAM = "events:big"
DEAD_HELD = 1200  # more than one pending page, all idle for ten minutes
LIVE_HELD = 400
LIVE_IDLE = 100  # of the live consumer's entries, idle too (it still touches the others)


@pytest.fixture
def big_group(redis_url):
    r = redis.Redis.from_url(redis_url)
    pipe = r.pipeline(transaction=False)
    for i in range(DEAD_HELD + LIVE_HELD):
        pipe.xadd(STREAM, {"data": str(i)})
    pipe.execute()
    r.xgroup_create(STREAM, "g", "0")
    dead = [e for _, entries in r.xreadgroup("g", "dead", {STREAM: ">"}, count=DEAD_HELD)
            for e, _ in entries]
    live = [e for _, entries in r.xreadgroup("g", "live", {STREAM: ">"}, count=LIVE_HELD)
            for e, _ in entries]
    # XCLAIM to the same holder with IDLE sets how long the entries have been idle.
    r.xclaim(STREAM, "g", "dead", 0, dead, idle=600_000)
    r.xclaim(STREAM, "g", "live", 0, live[-LIVE_IDLE:], idle=600_000)
    assert DEAD_HELD + LIVE_HELD > PENDING_SCAN
    yield r
    r.close()


async def group_after_polls(url: str, idle_form: bool | None):
    alerts = AlertConfig(oldest_age_seconds=60, stream_dead_consumer_seconds=120)
    m = monitor_at(url, Config(alerts=alerts))
    await m.connect()
    try:
        if idle_form is not None:
            m.client.capabilities = dataclasses.replace(m.client.capabilities,
                                                        xpending_idle=idle_form)
        await m.discover()
        for _ in range(3):  # groups, then their size, then the idle scan of the large one
            snap = await m.poll()
    finally:
        await m.aclose()
    (q,) = [q for q in snap.queues if q.ref.key == STREAM]
    (group,) = q.groups
    return q, group


@pytest.mark.usefixtures("big_group")
async def test_large_group_idle_count_and_dead_consumer_are_exact(redis_url):
    q, group = await group_after_polls(redis_url, None)
    if not group.scan_complete and f"{PENDING_SCAN:,}+ idle" in " ".join(group.alerts):
        skip_as_the_server_lacks(redis_url, "xpending_idle", "this server has no XPENDING IDLE")
    idle = DEAD_HELD + LIVE_IDLE
    assert group.scan_complete, group
    assert group.idle_count == idle and q.idle_pending == idle
    assert group.dead_consumers == ("dead",)
    held = {c.name: c.pending for c in group.holders}
    assert held == {"dead": DEAD_HELD, "live": LIVE_HELD}
    assert group.oldest_idle_ms is not None and group.oldest_idle_ms >= 600_000
    assert f"{idle:,} idle ≥ 1m00s" in group.alerts
    assert "1 dead consumer" in q.alerts


@pytest.mark.usefixtures("big_group")
async def test_without_idle_form_the_count_is_a_marked_lower_bound(redis_url):
    _q, group = await group_after_polls(redis_url, False)
    assert not group.scan_complete
    assert group.idle_count == PENDING_SCAN  # the first page: the dead holder's entries
    assert f"{PENDING_SCAN:,}+ idle ≥ 1m00s" in group.alerts
