"""ACL users: the probe tells "missing" from "not permitted", sends only read commands in
read-only mode, and a refused command reads as one line saying what to ask for."""

from __future__ import annotations

import json

import pytest
import redis

from ferrite_tui.backend.audit import AuditLog
from ferrite_tui.backend.client import BackendError, Client, ConnectionSettings, describe_error
from ferrite_tui.backend.dlq import DeadLetters
from ferrite_tui.backend.moves import Item
from ferrite_tui.backend.priority import PriorityQueue
from helpers import REDUCED, CommandRecorder, mutating, wait_until

PASSWORD = "ops-pw"


@pytest.fixture
def acl_server(fresh_server):
    """A private server with user `ops`, who may read everything but write nothing and run
    no scripts."""
    r = redis.Redis.from_url(fresh_server.url)
    r.execute_command("ACL", "SETUSER", "ops", "on", f">{PASSWORD}", "~*", "&*", "+@all",
                      "-@write", "-@scripting")
    yield fresh_server, r
    r.close()


def ops_url(server) -> str:
    return f"redis://ops:{PASSWORD}@127.0.0.1:{server.port}/0"


async def connect(url: str, tmp_path, read_only: bool = False) -> Client:
    client = Client(ConnectionSettings(url=url, username="ops" if "ops:" in url else None,
                                       read_only=read_only),
                    AuditLog(tmp_path / "audit.log"))
    await client.connect()
    return client


async def test_probe_tells_not_permitted_from_missing(acl_server, tmp_path):
    server, _ = acl_server
    client = await connect(ops_url(server), tmp_path)
    try:
        caps = client.capabilities
        assert not caps.lua and not caps.xautoclaim
        if REDUCED:  # renamed away: missing, whatever the ACL says
            assert "EVAL" not in caps.denied and "XAUTOCLAIM" not in caps.denied
            assert any("Lua is unavailable" in n for n in caps.notes)
        else:
            assert set(caps.denied) >= {"EVAL", "XAUTOCLAIM"}
            assert any("Lua is not permitted" in n for n in caps.notes)
            assert any("XAUTOCLAIM is not permitted" in n for n in caps.notes)
        assert caps.lpos and caps.scan_type  # reads are permitted
    finally:
        await client.aclose()


@pytest.mark.parametrize("user", ["default", "ops"])
async def test_read_only_probe_sends_only_read_commands(acl_server, tmp_path, user):
    server, r = acl_server
    url = ops_url(server) if user == "ops" else server.url
    with CommandRecorder("127.0.0.1", server.port) as rec:
        client = await connect(url, tmp_path, read_only=True)
        await client.aclose()
        r.execute_command("PING", "end-of-probe")
        wait_until(lambda: ["end-of-probe"] in [a for _, _, a in rec.commands])
    sent = rec.names()
    assert "INFO" in sent  # the recorder did see the probe
    assert mutating(r, sent) == [], sent
    if user == "default" and not REDUCED:
        client_caps = client.capabilities
        assert client_caps.lua and client_caps.xautoclaim  # found without running them


async def test_a_refused_write_is_one_line_saying_what_to_ask_for(acl_server, tmp_path):
    server, r = acl_server
    r.rpush("queue:main:dlq", *[json.dumps({"n": i}) for i in range(3)])
    client = await connect(ops_url(server), tmp_path)
    try:
        with pytest.raises(BackendError) as err:
            await DeadLetters(client).requeue_head("queue:main:dlq", "queue:main", 3)
        assert str(err.value) == ("user ops may not run LTRIM: ask for +@list write "
                                  "or use --read-only")
        with pytest.raises(BackendError) as err:
            await DeadLetters(client).delete("queue:main:dlq",
                                             [Item(json.dumps({"n": 1}).encode(), 1, 3)])
        assert str(err.value) == ("user ops may not run LREM: ask for +@list write "
                                  "or use --read-only")
        r.zadd("jobs:priority", {json.dumps({"id": "a", "payload": {"x": 1}}): 5})
        pq = PriorityQueue(client, "jobs:priority")
        page = await pq.page()
        try:
            await pq.remove(page.items[0])
        except Exception as exc:
            line = describe_error(exc, client.settings)
        else:
            pytest.fail("the removal was not refused")
        assert line == "user ops may not run ZREM: ask for +@sortedset write or use --read-only"
        assert r.llen("queue:main:dlq") == 3 and r.zcard("jobs:priority") == 1
    finally:
        await client.aclose()
