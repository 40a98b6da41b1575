"""The poll's own costs (issue 23: the poll at least 8x the naive loop): commands sent tick
after tick are packed once, and a rate starting where the last one did is the rate a
search from the start finds."""

from __future__ import annotations

import json
import time
from typing import Any

import hiredis
import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrite_tui.backend.history import Series
from ferrite_tui.backend.packing import PackedCommands, pack
from helpers import monitor_at


def job(i: int) -> str:
    return json.dumps({"id": f"j{i}", "payload": i, "enqueued_at": int(time.time() * 1000)})


async def test_the_second_poll_packs_only_the_commands_that_changed(
        redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    r = redis.Redis.from_url(redis_url)
    for i in range(20):
        r.rpush(f"work{i}", job(i), job(i + 1))
        r.rpush(f"queue:r{i}", job(i))
        r.rpush(f"queue:r{i}:processing", job(i))  # with queue:r{i}: one reliable queue
        r.zadd(f"queue:d{i}:scheduled", {job(i): int(time.time() * 1000) + 60_000})
        r.xadd(f"stream{i}", {"data": job(i)})
    r.close()
    packed: list[tuple] = []
    pack_command = hiredis.pack_command

    def counted(command: Any) -> bytes:
        packed.append(command)
        return pack_command(command)

    monkeypatch.setattr(hiredis, "pack_command", counted)
    m = monitor_at(redis_url)
    await m.connect()
    try:
        await m.discover()
        refs = m.discovery.refs
        assert len(refs) == 80
        await m.poller.snapshot(refs)
        await m.poller.snapshot(refs)  # the second follows the first's ends: read as usual
        sent: list[int] = []
        pipeline = m.client.raw_pipeline

        async def counting(commands: list[tuple]) -> list[Any]:
            sent.append(len(commands))
            return await pipeline(commands)

        m.client.raw_pipeline = counting  # type: ignore[method-assign]
        packed.clear()
        await m.poller.snapshot(refs)
    finally:
        await m.aclose()
    # What still changes from tick to tick (due times up to now, the TIME and INFO
    # around them) is packed again; the per-queue reads, most of the poll, are not.
    assert sum(sent) >= 3 * len(refs)  # (Redis 7.0 sends fewer than 6.2: 285 against 305)
    assert len(packed) <= sum(sent) // 5, (
        f"{len(packed)} of {sum(sent)} commands packed again: "
        f"{sorted({c[0] for c in packed})}")


def test_packed_commands_are_the_bytes_hiredis_packs() -> None:
    packer = PackedCommands()
    commands: list[tuple] = [("LLEN", "a"), ("LINDEX", "a", -1), ("GET", "k\udcff"),
                             ("LPOS", "l", b"x" * 5000), ("ZCOUNT", "z", "-inf", 2.5),
                             ("ZCOUNT", "z", "-inf", 5), ("HGET", "h", b"\x00\xff")]
    want = b"".join(pack(c) for c in commands)
    for _ in range(3):  # first packed, then from the kept bytes
        assert packer.pack(commands) == want
    many = [("LLEN", f"k{i}") for i in range(20_000)]  # past a generation: kept ones rotate
    for _ in range(3):
        assert packer.pack(many) == b"".join(map(pack, many))
        assert packer.pack(commands) == want


def rate_searched(samples: list[tuple[float, float]], span_s: float) -> float | None:
    """The rate as a search from the oldest sample finds it."""
    if len(samples) < 2:
        return None
    newest_t, newest_v = samples[-1]
    start = 0
    for i, (t, _v) in enumerate(samples):
        if newest_t - t >= span_s:
            start = i
    oldest_t, oldest_v = samples[start]
    return None if newest_t <= oldest_t else (newest_v - oldest_v) / (newest_t - oldest_t)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.tuples(st.floats(0.01, 4.0), st.integers(-50, 50)),
                          st.just("clear"), st.sampled_from([2.0, 10.0, 30.0])),
                max_size=120))
def test_a_rate_from_where_the_last_one_started_is_the_searched_rate(steps: list) -> None:
    series = Series(window_s=60.0, max_points=40)
    t = 0.0
    span = 10.0
    for step in steps:
        if step == "clear":
            series.samples.clear()  # as the poll does after a restart
        elif isinstance(step, float):
            span = step  # another span asked of the same series
        else:
            gap, value = step
            t += gap
            series.add(t, float(value))
        assert series.rate(span) == rate_searched(list(series.samples), span)


async def test_replies_reach_the_parser_in_small_slices_and_whole(
        redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """hiredis moves the rest of its buffer to the front each time it has read 1 KB of it:
    a 256 KB read handed over whole was copied over and over (a tenth of a poll's
    instructions at 1,000 queues). Replies are fed FEED_BYTES at a time, and still arrive
    whole and in order: small ones, a value far larger than a slice, error replies."""
    from ferrite_tui.backend import client as client_module

    big = b"x" * 300_000
    r = redis.Redis.from_url(redis_url)
    r.set("big", big)
    r.rpush("list", *[job(i) for i in range(50)])
    r.set("text", "not a list")
    r.close()
    fed: list[int] = []

    class CountingReader(hiredis.Reader):
        def feed(self, data: Any, offset: int = 0, length: int = -1) -> None:
            fed.append(len(data) - offset if length == -1 else length)
            super().feed(data, offset, length)

    monkeypatch.setattr(client_module.hiredis, "Reader", CountingReader)
    m = monitor_at(redis_url)
    await m.connect()
    try:
        commands: list[tuple] = []
        for i in range(3000):
            commands += [("LINDEX", "list", i % 50), ("LLEN", "text")]
        commands.insert(1234, ("GET", "big"))
        replies = await m.client.raw_pipeline(commands)
    finally:
        await m.aclose()
    assert len(replies) == len(commands)
    assert replies[1234] == big
    rest = replies[:1234] + replies[1235:]
    assert [json.loads(v)["id"] for v in rest[0::2]] == [f"j{i % 50}" for i in range(3000)]
    assert all(isinstance(e, redis.ResponseError) and "WRONGTYPE" in str(e)
               for e in rest[1::2])
    assert sum(fed) >= len(big)
    assert max(fed) <= client_module.FEED_BYTES, f"fed {max(fed):,} bytes at once"


def test_positional_builders_check_the_field_order() -> None:
    """QueueStats and GroupStats are built positionally in the poll (keywords cost twice
    the time for two dozen fields): a field added or moved stops the import, loudly."""
    from dataclasses import dataclass

    from ferrite_tui.backend.slotinit import check_order

    @dataclass
    class Figures:
        depth: int
        oldest_ms: int

    check_order(Figures, ("depth", "oldest_ms"))
    with pytest.raises(ImportError, match="Figures's fields changed"):
        check_order(Figures, ("oldest_ms", "depth"))


def test_a_queues_series_fetched_once_are_the_ones_history_holds() -> None:
    """The depth series and in/out flows the poll keeps per queue are the very objects
    History holds, also after a queue is forgotten (rescan), started again (failover) or
    every series is (restart)."""
    from ferrite_tui.backend.history import History

    history = History()

    def same(name: str) -> bool:
        q = history.queue(name)
        return (q.depth is history.series(name, "depth") and q.flow_in is history.flow(
            name, "in") and q.flow_out is history.flow(name, "out"))

    history.queue("work:a").depth.add(1.0, 5)
    history.queue("work:b").depth.add(1.0, 7)
    assert same("work:a") and same("work:b")
    history.forget({"work:b"})
    assert history.get("work:a", "depth") is None and same("work:a")
    assert not history.queue("work:a").depth.samples  # a new series, not the old one
    assert history.queue("work:b").depth.samples
    history.forget_name("work:b")
    assert same("work:b") and not history.queue("work:b").depth.samples
    history.queue("work:b").depth.add(2.0, 1)
    history.reset()
    assert same("work:b") and not history.queue("work:b").depth.samples
