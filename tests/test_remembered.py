"""Queues seen before on a server are listed by the next console at depth 0 with when they
were last seen, for [discovery] remember_days; per server (address and database)."""

from __future__ import annotations

import json
from dataclasses import replace

from ferrite_tui.backend.monitor import Monitor
from ferrite_tui.backend.remembered import FILE_NAME, Remembered
from ferrite_tui.config import Config, DiscoveryConfig
from helpers import monitor_at


async def console(url: str, state, config: Config | None = None) -> Monitor:
    m = monitor_at(url, config or Config(), remember_in=state)
    await m.connect()
    await m.discover()
    return m


async def test_a_busy_usually_empty_queue_is_there_from_the_first_screen(
        redis_url, sync, tmp_path):
    sync.rpush("queue:main", b'{"id":"1","payload":1,"enqueued_at":1}')
    sync.rpush("work:x:failed", b'{"job":{"a":1},"error":"boom"}')
    first = await console(redis_url, tmp_path)
    await first.aclose()
    sync.delete("queue:main", "work:x:failed")  # drained, as it mostly is

    second = await console(redis_url, tmp_path)
    try:
        snap = {q.ref.key: q for q in (await second.poll()).queues}
    finally:
        await second.aclose()
    main = snap["queue:main"]
    assert main.depth == 0 and main.error is None and main.ref.last_seen is not None
    dlq = snap["work:x:failed"]
    assert dlq.ref.kind.value == "dlq" and dlq.ref.target_key == "work:x"

    # Another database of the same server is another server: nothing of these there.
    other = await console(redis_url.rsplit("/", 1)[0] + "/3", tmp_path)
    try:
        assert not any(r.key == "queue:main" for r in other.discovery.refs)
    finally:
        await other.aclose()


async def test_forgotten_after_remember_days_and_off_at_zero(redis_url, sync, tmp_path):
    sync.rpush("jobs", b"x")
    await (await console(redis_url, tmp_path)).aclose()
    sync.delete("jobs")
    path = tmp_path / FILE_NAME
    data = json.loads(path.read_text())
    (server,) = data
    data[server]["work:jobs"]["seen"] -= 8 * 86400  # seen 8 days ago
    path.write_text(json.dumps(data))
    m = await console(redis_url, tmp_path)
    await m.aclose()
    assert not any(r.key == "jobs" for r in m.discovery.refs)
    assert "work:jobs" not in json.loads(path.read_text())[server]

    sync.rpush("jobs", b"x")
    off = replace(Config(), discovery=DiscoveryConfig(remember_days=0))
    await (await console(redis_url, tmp_path / "off", off)).aclose()
    assert not (tmp_path / "off" / FILE_NAME).exists()


def test_damaged_file_is_no_failure(tmp_path):
    (tmp_path / FILE_NAME).write_text("{not json")
    store = Remembered(tmp_path, "redis://h:1/0", 3600)
    assert store.refs(1000.0) == []


def test_channels_for_the_setting():
    from ferrite_tui.backend.newkeys import channels_for
    assert channels_for("", 0) == [] and channels_for("Klz", 0) == []  # no key events
    assert "__keyevent@2__:zadd" in channels_for("Ez", 2)
    assert "__keyevent@0__:rpush" not in channels_for("Ez", 0)
    assert {c.rsplit(":", 1)[1] for c in channels_for("EA", 0)} >= {"rpush", "zadd", "xadd"}


def _scan_calls(r) -> int:
    """How many SCANs the server has answered (its own count, whoever sent them)."""
    return r.info("commandstats").get("cmdstat_scan", {}).get("calls", 0)


async def test_new_keys_appear_at_once_with_key_events(server_factory, tmp_path):
    """With key events published, a queue created after the rescan is listed at the next
    poll, not the next rescan; without them, nothing is subscribed and it says why."""
    import redis

    from helpers import async_wait_until

    server = server_factory(extra_args=["notify-keyspace-events Elz"])
    r = redis.Redis.from_url(server.url)
    m = await console(server.url, tmp_path)
    try:
        assert m.new_keys is not None
        m.new_keys.start()
        await async_wait_until(lambda: m.new_keys.reason is None)
        scans = _scan_calls(r)
        r.rpush("orders:new", b"job")
        r.zadd("retry:new", {'{"id":1}': r.time()[0] + 60})  # due in a minute (epoch s)
        await async_wait_until(lambda: {"orders:new", "retry:new"} <= m.new_keys.pending)
        snap = {q.ref.key: q for q in (await m.poll()).queues}
        assert snap["orders:new"].depth == 1
        assert snap["retry:new"].ref.kind.value == "delayed"
        assert _scan_calls(r) == scans  # no rescan: only the new keys were read
    finally:
        await m.aclose()
        r.close()

    quiet = server_factory()
    m = await console(quiet.url, tmp_path)
    try:
        assert m.new_keys is not None
        m.new_keys.start()
        await async_wait_until(lambda: m.new_keys.reason != "starting")
        assert "does not publish key events" in (m.new_keys.reason or "")
    finally:
        await m.aclose()
