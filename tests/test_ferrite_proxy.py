"""The Ferrite stand-in proxy itself: each rule refuses or strips what it says, and nothing
else changes (runs on every server; builds its own proxy whatever the suite's setting)."""

from __future__ import annotations

import pytest
import redis

from ferrite_proxy import FerriteStandIn
from helpers import SERVER_BINARY, client_at


@pytest.fixture(params=[False, True], ids=["subscribe-works", "subscribe-refused"])
def stand_in(request):
    server = FerriteStandIn(SERVER_BINARY, refuse_subscribe=request.param)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def r(stand_in):
    client = redis.Redis.from_url(stand_in.url)
    yield client
    client.close()


def error_of(r, *args) -> str:
    with pytest.raises(redis.ResponseError) as err:
        r.execute_command(*args)
    return str(err.value)


def test_lua_and_xautoclaim_are_unknown_commands(r):
    for args in (("EVAL", "return 1", 0), ("EVALSHA", "a" * 40, 0), ("SCRIPT", "FLUSH"),
                 ("XAUTOCLAIM", "s", "g", "c", 0, "0-0")):
        assert error_of(r, *args) == f"unknown command '{args[0]}'"


def test_zrange_takes_only_start_stop_withscores_and_bounds_are_inclusive(r):
    r.zadd("z", {"a": 1, "b": 2, "c": 3})
    assert r.execute_command(b"ZRANGE", "z", 0, -1)[:2] == [b"a", b"b"]
    assert len(r.execute_command(b"ZRANGE", "z", 0, -1, "WITHSCORES")) in (3, 6)
    for extra in (("BYSCORE",), ("REV",), ("WITHSCORES", "LIMIT", 0, 1)):
        assert error_of(r, "ZRANGE", "z", 0, -1, *extra) == "syntax error"
    assert error_of(r, "ZCOUNT", "z", "(1", 3) == "min or max is not a float"
    assert error_of(r, "ZRANGEBYSCORE", "z", 1, "(3") == "min or max is not a float"
    assert r.zcount("z", 1, 3) == 3  # inclusive bounds work


def test_a_refused_command_inside_multi_aborts_the_transaction(r):
    pipe = r.pipeline(transaction=True)
    pipe.rpush("l", "x")
    pipe.execute_command("EVAL", "return 1", 0)
    with pytest.raises(redis.exceptions.ResponseError):
        pipe.execute()
    assert r.llen("l") == 0


def test_xinfo_without_lag_entries_read_inactive(r):
    r.xadd("s", {"data": "1"})
    r.xgroup_create("s", "g", "0")
    r.xreadgroup("g", "c", {"s": ">"})
    (group,) = r.execute_command(b"XINFO", "GROUPS", "s")
    names = set(group) if isinstance(group, dict) else set(group[::2])  # RESP3 / RESP2
    assert b"name" in names and b"pending" in names
    assert b"lag" not in names and b"entries-read" not in names
    (consumer,) = r.execute_command(b"XINFO", "CONSUMERS", "s", "g")
    names = set(consumer) if isinstance(consumer, dict) else set(consumer[::2])
    assert b"idle" in names and b"inactive" not in names


def test_info_has_four_sections_without_clients_or_ops(r):
    info = r.execute_command(b"INFO")
    info = (info if isinstance(info, bytes) else str(info).encode()).decode()
    sections = {line[2:].strip().lower() for line in info.splitlines() if line.startswith("# ")}
    assert sections == {"server", "stats", "memory", "keyspace"} or \
        sections == {"server", "stats", "memory"}  # keyspace is empty on an empty server
    assert "connected_clients:" not in info and "instantaneous_ops_per_sec:" not in info
    assert "total_commands_processed:" in info and "redis_version:" in info
    assert r.execute_command(b"INFO", "commandstats") in (b"", "")


async def test_the_console_probe_sees_ferrite(stand_in):
    client = client_at(stand_in.url)
    await client.connect()
    try:
        caps = client.capabilities
        assert not caps.lua and not caps.xautoclaim and not caps.denied
        assert caps.lpos and caps.scan_type
        assert caps.subscribe is (not stand_in.proxy.refuse_subscribe)
    finally:
        await client.aclose()


def test_pipelines_and_large_replies_pass_unchanged(r):
    values = [bytes([i % 256]) * (i * 37 % 5000) for i in range(2000)]
    pipe = r.pipeline(transaction=False)
    for start in range(0, 2000, 500):
        pipe.rpush("big", *values[start:start + 500])
    pipe.execute()
    assert r.lrange("big", 0, -1) == values
    pipe = r.pipeline(transaction=False)
    for i in range(3000):
        pipe.lindex("big", i % 2000)
    assert pipe.execute() == [values[i % 2000] for i in range(3000)]
