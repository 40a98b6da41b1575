"""ACL users: the probe tells "missing" from "not permitted", sends only read commands in
read-only mode, and a refused command reads as one line saying what to ask for."""

from __future__ import annotations

import json

import pytest
import redis

from ferrite_tui.backend.audit import AuditLog
from ferrite_tui.backend.client import Client
from ferrite_tui.backend.connection import ConnectionSettings, describe_error
from ferrite_tui.backend.dlq import DeadLetters
from ferrite_tui.backend.errors import BackendError
from ferrite_tui.backend.monitor import Monitor
from ferrite_tui.backend.movebase import Item
from ferrite_tui.backend.priority import PriorityQueue
from ferrite_tui.backend.pubsub import Tail
from ferrite_tui.cli.status import status_json, status_table
from ferrite_tui.config import Config, QueueDecl
from helpers import REDUCED, CommandRecorder, async_wait_until, client_at, mutating, wait_until

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
    client = client_at(url, AuditLog(tmp_path / "audit.log"),
                       username="ops" if "ops:" in url else None, read_only=read_only)
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


# -- a common ACL: its own keys, everything but @dangerous (no INFO, no ACL) ---------------

APP_PASSWORD = "app-pw"


@pytest.fixture
def app_user(fresh_server):
    """User `app`: `~queue:* +@all -@dangerous`, as many deployments give an application;
    a key outside its pattern (`other:list`) is there too."""
    r = redis.Redis.from_url(fresh_server.url)
    r.execute_command("ACL", "SETUSER", "app", "on", f">{APP_PASSWORD}", "~queue:*", "&*",
                      "+@all", "-@dangerous")
    r.rpush("queue:orders", json.dumps({"id": "a", "payload": 1, "enqueued_at": 1}))
    r.rpush("queue:main:dlq", json.dumps({"n": 1}))
    r.rpush("other:list", "x", "y")
    r.rpush("other:dlq", "z")
    yield f"redis://app:{APP_PASSWORD}@127.0.0.1:{fresh_server.port}/0", r
    r.close()


def app_settings(url: str, read_only: bool = False) -> ConnectionSettings:
    return ConnectionSettings(url=url, username="app", read_only=read_only)


async def test_a_user_without_info_connects_and_polls_with_unknown_server_figures(app_user):
    url, _ = app_user
    with redis.Redis.from_url(url) as app, pytest.raises(redis.exceptions.NoPermissionError):
        app.info()  # the premise: INFO is refused
    m = Monitor(app_settings(url), Config())
    try:
        await m.connect()
        caps = m.client.capabilities
        assert not caps.info and caps.version.startswith("?")
        assert any("may not run INFO" in n for n in caps.notes)
        await m.discover()
        snap = await m.poll()
        snap = await m.poll()
    finally:
        await m.aclose()
    depths = {q.ref.key: q.depth for q in snap.queues}
    assert depths == {"queue:orders": 1, "queue:main:dlq": 1}
    assert all(q.error is None for q in snap.queues)
    server = snap.server
    # Unknown, not 0: INFO was not read.
    assert server.used_memory is None and server.clients is None and server.ops_per_sec is None


async def test_keys_outside_the_users_pattern_are_counted_not_dropped_silently(app_user):
    url, _ = app_user
    m = Monitor(app_settings(url), Config())
    try:
        await m.connect()
        await m.discover()
        snap = await m.poll()
    finally:
        await m.aclose()
    assert snap.access_note == "2 keys not readable by user app"
    caps = m.client.capabilities
    assert "2 keys not readable by user app (outside its key patterns)" in status_table(
        snap, caps, m.client.settings)
    assert status_json(snap, caps, m.client.settings)["access_note"] == snap.access_note


async def test_the_probe_names_a_key_inside_the_users_pattern(app_user, tmp_path):
    url, _ = app_user
    client = Client(app_settings(url), AuditLog(tmp_path / "audit.log"))
    try:
        caps = await client.connect()
    finally:
        await client.aclose()
    assert caps.probe_key.startswith("queue:")
    assert caps.lpos  # list rates are measured, not "?"
    assert caps.xautoclaim is (not REDUCED)
    assert "LPOS" not in caps.denied and "XAUTOCLAIM" not in caps.denied
    assert "LPOS" not in caps.unknown and "XAUTOCLAIM" not in caps.unknown


async def test_a_read_only_probe_that_cannot_ask_acl_dryrun_says_unknown(app_user, tmp_path):
    url, _ = app_user
    with redis.Redis.from_url(url) as app, pytest.raises(redis.exceptions.NoPermissionError):
        app.execute_command("ACL", "DRYRUN", "app", "PING")
    client = Client(app_settings(url, read_only=True), AuditLog(tmp_path / "audit.log"))
    try:
        caps = await client.connect()
    finally:
        await client.aclose()
    assert not caps.lua and not caps.xautoclaim  # could not tell: not "works"
    if not REDUCED:  # (renamed away, they are simply missing)
        assert {"EVAL", "XAUTOCLAIM"} <= set(caps.unknown)
        assert any("could not tell whether this user may run EVAL" in n for n in caps.notes)
        assert any("XAUTOCLAIM: could not tell" in n for n in caps.notes)
    assert caps.publish is None


async def test_pubsub_note_does_not_promise_publish_when_channels_are_refused(fresh_server,
                                                                            tmp_path):
    r = redis.Redis.from_url(fresh_server.url)
    r.execute_command("ACL", "SETUSER", "app", "on", f">{APP_PASSWORD}", "~queue:*",
                      "resetchannels", "+@all", "-@dangerous")
    url = f"redis://app:{APP_PASSWORD}@127.0.0.1:{fresh_server.port}/0"
    with redis.Redis.from_url(url) as app, pytest.raises(redis.exceptions.NoPermissionError):
        app.publish("orders.created", "x")  # the premise
    client = Client(app_settings(url), AuditLog(tmp_path / "audit.log"))
    tail = Tail(client)
    try:
        caps = await client.connect()
        assert not caps.subscribe
        tail.start()
        await async_wait_until(lambda: tail.state.status == "refused")
        error = tail.state.error or ""
    finally:
        await tail.stop()
        await client.aclose()
        r.close()
    assert "publish still work" not in error
    assert "whether user app may publish could not be told" in error


async def test_refusals_of_a_key_name_the_key_and_the_pattern_to_ask_for(app_user, tmp_path):
    url, r = app_user
    client = Client(app_settings(url), AuditLog(tmp_path / "audit.log"))
    await client.connect()
    try:
        with pytest.raises(BackendError) as err:
            await DeadLetters(client).requeue_head("queue:main:dlq", "other:list", 1)
    finally:
        await client.aclose()
    assert str(err.value) == ("user app may not access keys queue:main:dlq or other:list: "
                              "ask for a key pattern (~pattern) that covers it")
    assert r.llen("queue:main:dlq") == 1 and r.llen("other:list") == 2
    config = Config(queues=(QueueDecl(key="other:dlq", kind="dlq", target_key="other:q"),))
    m = Monitor(app_settings(url), config)
    try:
        await m.connect()
        await m.discover()
        snap = await m.poll()
    finally:
        await m.aclose()
    other = next(q for q in snap.queues if q.ref.key == "other:dlq")
    assert other.error == ("user app may not access key other:dlq: ask for a key pattern "
                           "(~pattern) that covers it")


async def test_the_probe_key_comes_from_the_users_pattern_where_acl_getuser_is_allowed(
        fresh_server, tmp_path):
    r = redis.Redis.from_url(fresh_server.url)
    r.execute_command("ACL", "SETUSER", "app", "on", f">{APP_PASSWORD}", "~queue:*", "&*",
                      "+@all", "-@dangerous", "+acl|getuser")
    r.close()
    url = f"redis://app:{APP_PASSWORD}@127.0.0.1:{fresh_server.port}/0"
    client = Client(app_settings(url), AuditLog(tmp_path / "audit.log"))
    try:
        caps = await client.connect()  # an empty server: no key to find by SCAN
    finally:
        await client.aclose()
    assert caps.probe_key == "queue:__ferrite_tui_probe__"
    assert caps.lpos and "LPOS" not in caps.unknown


async def test_without_a_readable_key_the_probe_says_unknown(fresh_server, tmp_path):
    r = redis.Redis.from_url(fresh_server.url)
    r.execute_command("ACL", "SETUSER", "app", "on", f">{APP_PASSWORD}", "~queue:*", "&*",
                      "+@all", "-@dangerous")
    r.rpush("other:list", "x")
    r.close()
    url = f"redis://app:{APP_PASSWORD}@127.0.0.1:{fresh_server.port}/0"
    client = Client(app_settings(url), AuditLog(tmp_path / "audit.log"))
    try:
        caps = await client.connect()
    finally:
        await client.aclose()
    assert not caps.lpos and not caps.xautoclaim
    assert {"LPOS", "XAUTOCLAIM"} <= set(caps.unknown) and not caps.denied
    assert any("no key user app may read was found" in n for n in caps.notes)
