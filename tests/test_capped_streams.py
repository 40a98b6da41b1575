"""A capped stream (trimmed by XADD MAXLEN as it is written) alerts on its groups' lag and
pending, never on its length; a stream that only grows still alerts on depth."""

from __future__ import annotations

from dataclasses import replace

from ferrite_tui.backend.capped import CappedStreams
from ferrite_tui.config import AlertConfig, Config
from helpers import monitor_at


def test_judgement():
    c = CappedStreams()
    assert not c.observe("s", "5-0", 10)  # one look tells nothing
    assert c.observe("s", "9-0", 10)  # first id moved, length stayed: trimmed
    assert c.observe("s", None, None)  # not read this poll: the judgement stands
    assert not c.observe("s", "12-0", 4)  # drained from the head (XDEL consumers)
    assert not c.observe("t", "1-0", 3) and not c.observe("t", "1-0", 9)  # only grows


async def test_a_capped_stream_alerts_on_lag_not_depth(redis_url, sync):
    for i in range(30):
        sync.xadd("events:capped", {"data": str(i)}, maxlen=10, approximate=False)
        sync.xadd("events:growing", {"data": str(i)})
    config = replace(Config(), alerts=AlertConfig(depth=10, stream_lag=5))
    m = monitor_at(redis_url, config)
    await m.connect()
    await m.discover()
    try:
        first = {q.ref.key: q for q in (await m.poll()).queues}
        assert "depth ≥ 10" in first["events:capped"].alerts  # not yet seen trimming
        for i in range(5):
            sync.xadd("events:capped", {"data": str(i)}, maxlen=10, approximate=False)
        snap = {q.ref.key: q for q in (await m.poll()).queues}
    finally:
        await m.aclose()
    capped, growing = snap["events:capped"], snap["events:growing"]
    assert capped.capped and capped.depth == 10
    assert not any(a.startswith("depth") for a in capped.alerts), capped.alerts
    assert not growing.capped and "depth ≥ 10" in growing.alerts
