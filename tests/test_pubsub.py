"""Pub/Sub backend against real servers: exact counts, patterns, pause, buffer bounds,
recording, publish, resubscribe after a restart, and a server that refuses SUBSCRIBE."""

from __future__ import annotations

import json

import pytest
import redis.asyncio as aioredis

from ferrite_tui.backend.audit import AuditLog
from ferrite_tui.backend.client import Client
from ferrite_tui.backend.errors import ReadOnlyError
from ferrite_tui.backend.pubsub import PubSub, Tail, glob_match, is_pattern, tail_matches
from ferrite_tui.backend.recording import Entry, ndjson_line, read_ndjson
from helpers import async_wait_until, client_at

HOSTILE = [
    b"\x1b[31mred\x1b[0m \x1b]0;title\x07",  # ANSI + OSC
    b"[bold red]markup[/] [link=http://x]y[/link]",  # Rich markup
    b"\x00\x01\x02\x7f\x9b ctrl",  # control chars
    b"\xff\xfe\xc3\x28 not utf-8",  # invalid UTF-8
    b"x" * (1 << 20),  # 1 MiB
]
REFUSED = ['rename-command SUBSCRIBE ""', 'rename-command PSUBSCRIBE ""']


def make_client(url, tmp_path=None, read_only=False) -> Client:
    audit = AuditLog(tmp_path / "audit.log") if tmp_path is not None else None
    return client_at(url, audit, read_only=read_only)


@pytest.fixture
async def client(redis_url, tmp_path):
    c = make_client(redis_url, tmp_path)
    yield c
    await c.aclose()


@pytest.fixture
async def pub(redis_url):
    r = aioredis.from_url(redis_url, protocol=2)
    yield r
    await r.aclose()


async def live(tail: Tail) -> None:
    tail.start()
    await async_wait_until(lambda: tail.state.status == "live",
                           message=f"tail never went live ({tail.state})")


async def publish_many(r, channel, n, body=b"m-{i}"):
    for start in range(0, n, 500):
        pipe = r.pipeline(transaction=False)
        for i in range(start, min(n, start + 500)):
            pipe.publish(channel, body.replace(b"{i}", str(i).encode()))
        await pipe.execute()


async def test_tail_counts_exactly_what_was_published(client, pub):
    tail = Tail(client)
    try:
        await live(tail)
        await publish_many(pub, "orders.created", 3000)
        await publish_many(pub, "orders.paid", 1234)
        await async_wait_until(lambda: tail.received >= 4234, message="not all arrived")
        assert tail.received == 4234
        assert tail.by_channel == {b"orders.created": 3000, b"orders.paid": 1234}
        msgs = [e for e in tail.entries() if e.is_message]
        assert len(msgs) == 4234 and tail.dropped == 0
        created = [e.data for e in msgs if e.channel == b"orders.created"]
        assert created == [f"m-{i}".encode() for i in range(3000)]  # in order, none lost
        assert all(e.pattern == b"*" for e in msgs)
    finally:
        await tail.aclose()
    assert tail.state.status == "stopped"


async def test_patterns_and_plain_channels(client, pub):
    assert is_pattern("orders.*") and not is_pattern("orders.created")
    assert glob_match("orders.*", "orders.paid") and not glob_match("orders.*", "users.x")
    assert tail_matches(["a", "orders.*"], "orders.x") and not tail_matches(["a"], "b")
    tail = Tail(client, ["orders.*", "audit"])  # PSUBSCRIBE orders.* + SUBSCRIBE audit
    try:
        await live(tail)
        await publish_many(pub, "orders.created", 10)
        await publish_many(pub, "users.signup", 7)
        await publish_many(pub, "audit", 3)
        await publish_many(pub, "orders.paid", 5)
        await async_wait_until(lambda: tail.received >= 18)
        # one more round trip, so anything wrongly delivered would have arrived as well
        await pub.publish("audit", "last")
        await async_wait_until(lambda: tail.received >= 19)
        assert tail.by_channel == {b"orders.created": 10, b"audit": 4, b"orders.paid": 5}
        audit = [e for e in tail.entries() if e.channel == b"audit"]
        assert audit[0].pattern is None  # SUBSCRIBE, not a pattern
        # changing the patterns resubscribes and notes it in the log
        await tail.set_patterns(["users.*"])
        await async_wait_until(lambda: tail.state.status == "live")
        await publish_many(pub, "users.signup", 2)
        await publish_many(pub, "orders.created", 2)
        await pub.publish("users.signup", "end")
        await async_wait_until(lambda: tail.by_channel.get(b"users.signup") == 3)
        assert tail.by_channel[b"orders.created"] == 10
        assert any(e.kind == Entry.NOTE and b"users.*" in e.data for e in tail.entries())
    finally:
        await tail.aclose()


async def test_buffer_is_bounded_and_what_falls_off_is_counted(client, pub):
    tail = Tail(client, buffer=100)
    try:
        await live(tail)
        await publish_many(pub, "c", 250)
        await async_wait_until(lambda: tail.received == 250)
        assert tail.buffered == 100 and tail.dropped == 150
        entries, skipped = tail.since(0)
        assert skipped == 150 and [e.data for e in entries][:1] == [b"m-150"]
        newest = entries[-1].seq
        assert tail.since(newest) == ([], 0)
        later, skipped = tail.since(newest - 5)
        assert skipped == 0 and len(later) == 5
    finally:
        await tail.aclose()


async def test_buffer_is_bounded_in_bytes_too(client, pub):
    tail = Tail(client, buffer=1000, max_bytes=10_000)
    try:
        await live(tail)
        await publish_many(pub, "c", 50, body=b"{i}" + b"x" * 1000)
        await async_wait_until(lambda: tail.received == 50)
        assert tail.buffered <= 10 and tail.dropped == 50 - tail.buffered
    finally:
        await tail.aclose()


async def test_pause_keeps_counting(client, pub):
    tail = Tail(client)
    try:
        await live(tail)
        await publish_many(pub, "c", 5)
        await async_wait_until(lambda: tail.received == 5)
        tail.pause()
        assert tail.paused and tail.since_pause == 0
        await publish_many(pub, "c", 40)
        await async_wait_until(lambda: tail.received == 45)
        assert tail.since_pause == 40
        tail.resume()
        assert not tail.paused and tail.since_pause == 0
        assert sum(1 for e in tail.entries() if e.is_message) == 45
    finally:
        await tail.aclose()


async def test_hostile_messages_arrive_byte_exact(client, pub):
    tail = Tail(client)
    try:
        await live(tail)
        for body in HOSTILE:
            await pub.publish(b"evil\x1b[2J\xff", body)
        await async_wait_until(lambda: tail.received == len(HOSTILE))
        got = [e for e in tail.entries() if e.is_message]
        assert [e.data for e in got] == HOSTILE
        assert got[0].channel == b"evil\x1b[2J\xff"
        assert got[0].channel_text.encode("utf-8", "surrogateescape") == got[0].channel
    finally:
        await tail.aclose()


async def test_recording_holds_exactly_what_arrived_from_the_start(client, pub, tmp_path):
    path = tmp_path / "rec" / "tail.ndjson"
    tail = Tail(client)
    try:
        await live(tail)
        await publish_many(pub, "before", 7)
        await async_wait_until(lambda: tail.received == 7)
        tail.start_recording(path)
        with pytest.raises(RuntimeError):
            tail.start_recording(path)
        await publish_many(pub, "during", 500)
        for body in HOSTILE[:4]:
            await pub.publish(b"bin\xfe", body)
        await async_wait_until(lambda: tail.received == 511)
        recorder = tail.stop_recording()
        assert recorder is not None and recorder.messages == 504
        await publish_many(pub, "after", 3)
        await async_wait_until(lambda: tail.received == 514)
    finally:
        await tail.aclose()
    records = read_ndjson(path)
    assert [(r["channel"], r["message"]) for r in records] == (
        [(b"during", f"m-{i}".encode()) for i in range(500)]
        + [(b"bin\xfe", body) for body in HOSTILE[:4]]
    )
    assert all(r["time"].endswith("Z") and r["pattern"] == b"*" for r in records)
    # never overwrites an existing recording
    with pytest.raises(FileExistsError):
        Tail(client).start_recording(path)
    # markers (gaps) are written as events, not messages
    marker = json.loads(ndjson_line(Entry(1, 0.0, b"", None, b"gap of 1 s", Entry.GAP)))
    assert marker == {"time": "1970-01-01T00:00:00.000000Z", "event": "gap",
                      "note": "gap of 1 s"}


async def test_rates_divide_by_measured_elapsed_time(client, pub):
    now = [100.0]
    tail = Tail(client, monotonic=lambda: now[0])
    try:
        await live(tail)
        assert tail.rates() == (None, {})  # one sample: no rate yet
        await publish_many(pub, "a", 50)
        await publish_many(pub, "b", 10)
        await async_wait_until(lambda: tail.received == 60)
        now[0] += 2.0
        total, per = tail.rates()
        assert total == pytest.approx(30.0)
        assert per == {b"a": pytest.approx(25.0), b"b": pytest.approx(5.0)}
    finally:
        await tail.aclose()


async def test_publish_reports_receivers_and_is_audited(client, pub, tmp_path):
    ps = PubSub(client)
    assert PubSub.publish.mutation == "publish"
    assert await ps.publish("nobody.listens", "x") == 0
    tail = Tail(client, ["orders.*"])
    try:
        await live(tail)
        assert await ps.publish("orders.created", b'{"id":1}') == 1
        await async_wait_until(lambda: tail.received == 1)
        assert tail.entries()[-1].data == b'{"id":1}'
    finally:
        await tail.aclose()
    lines = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]
    assert [(x["action"], x["keys"], x["count"]) for x in lines] == [
        ("publish", ["nobody.listens"], 1), ("publish", ["orders.created"], 1)]


async def test_publish_is_refused_in_read_only_mode(redis_url, tmp_path):
    client = make_client(redis_url, tmp_path, read_only=True)
    try:
        before = client.round_trips.count
        with pytest.raises(ReadOnlyError):
            await PubSub(client).publish("c", "x")
        assert client.round_trips.count == before
        assert not (tmp_path / "audit.log").exists()
    finally:
        await client.aclose()


async def test_resubscribes_after_the_server_restarts(server_factory, tmp_path):
    server = server_factory()
    client = make_client(server.url, tmp_path)
    tail = Tail(client)
    pub = aioredis.from_url(server.url, protocol=2)
    try:
        await live(tail)
        await publish_many(pub, "c", 10)
        await async_wait_until(lambda: tail.received == 10)
        await pub.aclose()
        server.restart()
        await async_wait_until(lambda: tail.gaps == 1 and tail.state.status == "live",
                               timeout=20, message="tail did not resubscribe")
        pub = aioredis.from_url(server.url, protocol=2)
        await publish_many(pub, "c", 10)
        await async_wait_until(lambda: tail.received == 20)
        kinds = [e.kind for e in tail.entries()]
        assert kinds.count(Entry.GAP) == 1
        # the gap marker sits between the two bursts
        gap = kinds.index(Entry.GAP)
        assert kinds[:10] == [Entry.MESSAGE] * 10 and kinds[-10:] == [Entry.MESSAGE] * 10
        assert 10 <= gap < len(kinds) - 10
        assert b"resubscribed" in tail.entries()[gap].data
    finally:
        await tail.aclose()
        await pub.aclose()
        await client.aclose()


async def test_a_gap_says_the_server_dropped_a_tail_that_fell_behind(server_factory, tmp_path):
    """The server closes a subscriber whose output buffer passes its pub/sub limit; the gap
    line says so (Redis 7+ counts it in INFO; elsewhere it is named the likely cause)."""
    import redis

    server = server_factory()
    client = make_client(server.url, tmp_path)
    tail = Tail(client, ["fast"])
    sync = redis.Redis.from_url(server.url)
    try:
        await live(tail)
        sync.config_set("client-output-buffer-limit", "pubsub 262144 131072 1")
        # Published while this event loop (the tail's reader) is blocked: the tail falls
        # behind by far more than the limit and the socket buffers.
        pipe = sync.pipeline(transaction=False)
        for _ in range(300):
            pipe.publish("fast", b"x" * 100_000)
        pipe.execute()
        await async_wait_until(lambda: tail.gaps == 1 and tail.state.status == "live",
                               timeout=30, message=f"no gap: {tail.state}")
        (gap,) = [e for e in tail.entries() if e.kind == Entry.GAP]
        assert b"pub/sub output buffer limit" in gap.data, gap.data
        assert b"client-output-buffer-limit pubsub: 256.0 KiB at once" in gap.data, gap.data
        assert tail.received < 300  # what the server had not sent yet was lost
    finally:
        await tail.aclose()
        sync.close()
        await client.aclose()


async def test_refused_subscribe_is_one_line_and_publish_still_works(server_factory, tmp_path):
    server = server_factory(extra_args=REFUSED)
    client = make_client(server.url, tmp_path)
    tail = Tail(client)
    try:
        caps = await client.connect()
        assert caps.subscribe is False
        tail.start()
        await async_wait_until(lambda: tail.state.status == "refused")
        error = tail.state.error
        assert error and "\n" not in error and "refused PSUBSCRIBE" in error
        assert "publish still work" in error
        assert not tail.running  # no retry loop against a refusing server
        assert await PubSub(client).publish("orders.created", "x") == 0
        assert await client.redis.pubsub_numpat() == 0
        # plain channel names use SUBSCRIBE, refused as well
        await tail.set_patterns(["orders.created"])
        await async_wait_until(lambda: tail.state.status == "refused"
                               and "refused SUBSCRIBE" in (tail.state.error or ""))
    finally:
        await tail.aclose()
        await client.aclose()


async def test_idle_subscription_is_pinged_and_a_silent_one_replaced(server_factory, tmp_path):
    server = server_factory()
    client = make_client(server.url, tmp_path)
    tail = Tail(client)
    tail.idle_ping_s, tail.ping_deadline_s = 0.2, 0.6
    admin = aioredis.from_url(server.url, protocol=2)
    try:
        await live(tail)
        await async_wait_until(lambda: tail.pongs >= 2, message="idle tail never pinged")
        assert tail.gaps == 0
        # the server stops answering for a while: the PING goes unanswered, the tail gives
        # up on that connection, resubscribes when the server answers again, marks a gap
        await admin.execute_command("CLIENT", "PAUSE", 1500, "ALL")
        await async_wait_until(lambda: tail.gaps == 1 and tail.state.status == "live",
                               timeout=15)
        await admin.publish("c", "after")
        await async_wait_until(lambda: tail.received == 1)
        assert any(e.kind == Entry.NOTE and b"silent" in e.data for e in tail.entries())
    finally:
        await tail.aclose()
        await admin.aclose()
        await client.aclose()


async def test_keyspace_notifications_reach_a_tail_only_when_a_pattern_names_them(client, pub):
    """With notify-keyspace-events on (exact in/out, the demo), `*` would sweep every key
    event into the tail: they are kept out unless a pattern is about them."""
    if await pub.config_set("notify-keyspace-events", "El") is not True:
        pytest.skip("the server refuses CONFIG SET")
    broad, named = Tail(client, ["*"]), Tail(client, ["__keyevent@*"])
    try:
        await live(broad)
        await live(named)
        await pub.rpush("queue:x", "a", "b")
        await pub.lpop("queue:x")
        await pub.publish("orders.created", "o-1")
        await async_wait_until(lambda: broad.received >= 1 and named.received >= 2)
        assert broad.by_channel == {b"orders.created": 1}
        assert broad.notifications_skipped == 2
        assert named.by_channel == {b"__keyevent@0__:rpush": 1, b"__keyevent@0__:lpop": 1}
    finally:
        await broad.aclose()
        await named.aclose()
        await pub.config_set("notify-keyspace-events", "")
