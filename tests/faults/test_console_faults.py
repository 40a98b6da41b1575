"""The console (through Pilot) against hostile data, in read-only mode under MONITOR, and
as an ACL user without write rights."""

from __future__ import annotations

import json
import threading

import pytest
import redis
import redis.asyncio as aioredis
from faultkit import dead, figure

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.config import Config
from ferrite_tui.demo.seeding import seed
from ferrite_tui.ui.app import FerriteApp
from helpers import CommandRecorder, async_wait_until, client_at, mutating, running, wait_until

#: Per panel (work queues, streams, dead letters, scheduled, priority), the mutating keys
#: pressed on its first item; each is followed by "y" (a confirmation, if one opened) and
#: escape (closes whatever is left open).
ACTIONS = {"2": "dR", "5": "ca", "6": "rD", "4": "x"}


async def press_everything(app, pilot) -> int:
    presses = 0
    for panel, keys in ACTIONS.items():
        await pilot.press(panel, "tab", "down")
        presses += 3
        for key in keys:
            await pilot.press(key, "y", "escape")
            presses += 3
    await pilot.pause()
    return presses


async def seeded(url: str) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        await seed(client)
    finally:
        await client.aclose()


def make_app(url: str, tmp_path, **settings) -> FerriteApp:
    return FerriteApp(Config(), ConnectionSettings(url=url, **settings), refresh=1.0,
                      audit_path=tmp_path / "audit.log")


async def wait_for_queues(app, count: int) -> None:
    await async_wait_until(lambda: app.monitor and app.monitor.snapshot
                           and len(app.monitor.snapshot.queues) >= count, timeout=30)


def state_of(r: redis.Redis) -> dict:
    """Every key's type and size: what a mutation would change."""
    out = {}
    for key in r.scan_iter(count=1000):
        kind = r.type(key).decode()
        size = {"list": r.llen, "zset": r.zcard, "stream": r.xlen, "hash": r.hlen,
                "set": r.scard}.get(kind, lambda k: 0)(key)
        pending = 0
        if kind == "stream":
            pending = sum(g["pending"] for g in r.xinfo_groups(key))
        out[key] = (kind, size, pending)
    return out


async def test_read_only_under_monitor_sends_no_mutating_command(fresh_server, tmp_path):
    """Read-only mode, every mutating key on every panel, the probe included: the server's
    MONITOR feed holds no command that writes."""
    await seeded(fresh_server.url)
    r = redis.Redis.from_url(fresh_server.url)
    before = state_of(r)
    with CommandRecorder("127.0.0.1", fresh_server.port) as rec:
        app = make_app(fresh_server.url, tmp_path, read_only=True)
        async with running(app) as pilot:
            await wait_for_queues(app, 7)
            presses = await press_everything(app, pilot)
        r.execute_command("PING", "end-of-run")
        wait_until(lambda: ["end-of-run"] in [a for _, _, a in rec.commands], timeout=30)
    names = [n for n in rec.names() if n != "MONITOR"]
    writes = mutating(r, names)
    figure(f"read-only under MONITOR: {presses} key presses, {len(names):,} commands seen "
           f"({len(set(names))} kinds), {len(writes)} mutating {writes}")
    assert "INFO" in names and writes == []
    assert state_of(r) == before
    r.close()


@pytest.fixture
def no_write_user(fresh_server):
    r = redis.Redis.from_url(fresh_server.url)
    r.execute_command("ACL", "SETUSER", "ops", "on", ">ops-pw", "~*", "&*", "+@all",
                      "-@write", "-@scripting")
    yield f"redis://ops:ops-pw@127.0.0.1:{fresh_server.port}/0", r
    r.close()


async def test_acl_user_without_writes(fresh_server, no_write_user, tmp_path):
    """Not read-only, but the user may not write: every kind of action is refused by the
    server, worded as one line saying what to ask for, and nothing changes."""
    from ferrite_tui.backend.connection import describe_error
    from ferrite_tui.backend.dlq import DeadLetters
    from ferrite_tui.backend.lists import ListItems
    from ferrite_tui.backend.priority import PriorityQueue
    from ferrite_tui.backend.streams import Streams

    url, r = no_write_user
    await seeded(fresh_server.url)
    before = state_of(r)
    client = client_at(url, username="ops")
    await client.connect()
    dl, items, streams = DeadLetters(client), ListItems(client), Streams(client)
    dlq_page = await dl.page("queue:main:dlq", 0, 5)
    work_page = await items.page("queue:orders", 0, 5)
    pq = PriorityQueue(client, "jobs:priority")
    top = (await pq.page()).items[0]
    pending = (await streams.pending_page("events:main", "workers")).entries
    actions = {
        "requeue one": lambda: dl.requeue("queue:main:dlq", "queue:main", dlq_page.items[:1]),
        "requeue all": lambda: dl.requeue_head("queue:main:dlq", "queue:main", 5),
        "delete": lambda: items.delete("queue:orders", work_page.items[:1]),
        "purge": lambda: items.purge("queue:orders"),
        "priority remove": lambda: pq.remove(top),
        "stream ack": lambda: streams.ack("events:main", "workers", [pending[0].id]),
        "stream to DLQ": lambda: streams.dead_letter("events:main", "workers", pending[:1],
                                                     "events:main:dlq"),
    }
    lines = {}
    for name, action in actions.items():
        try:
            result = await action()
        except Exception as exc:
            lines[name] = describe_error(exc, client.settings)
        else:  # refused per item (acks report per id)
            reasons = getattr(result, "reasons", {}) or {}
            lines[name] = next(iter(reasons.values()), "") or "; ".join(
                getattr(result, "errors", []) or [])
    await client.aclose()
    refused = [n for n, line in lines.items() if "may not run" in line]
    figure(f"ACL user without writes: {len(actions)} kinds of action, {len(refused)} refused "
           "with one line saying what to ask for, 0 keys changed")
    for name, line in lines.items():
        assert "may not run" in line and "\n" not in line and "Command #" not in line, \
            (name, line)
    assert state_of(r) == before


HOSTILE_KEYS = [
    b"queue:\x1b[31mred\x1b[0m",
    b"queue:[bold]markup[/bold]:dlq",
    b"queue:\x9b2J\xe2\x80\xaeevil",
    b"queue:bin\x00\xff\xfe",
    "queue:ünïcödé:dlq".encode(),
]


@pytest.mark.once
@pytest.mark.scenario
async def test_hostile_data_and_keys_changing_under_the_console(redis_url, tmp_path):
    r = redis.Redis.from_url(redis_url)
    for key in HOSTILE_KEYS:
        r.rpush(key, b"\x1b]0;pwn\x07", b"[red]x[/red]", bytes(range(256)), dead(1))
    r.rpush("queue:huge", b"x" * (2 << 20))  # one 2 MB value
    r.set("queue:wrong:dlq", "a string where a DLQ is expected")
    r.hset("queue:main", "a", "hash where a list is expected")
    stop = threading.Event()
    flips = 0

    def flipper() -> None:
        """Keys vanish and change type while the console reads them."""
        nonlocal flips
        c = redis.Redis.from_url(redis_url)
        while not stop.is_set():
            c.delete("queue:flip")
            c.rpush("queue:flip", dead(2), dead(3))
            c.delete("queue:flip")
            c.zadd("queue:flip", {"m": 1})
            c.delete("queue:vanish:dlq")
            c.rpush("queue:vanish:dlq", json.dumps({"n": flips}))
            flips += 1
            stop.wait(0.005)  # leave the console's thread the CPU (same process)
        c.close()

    thread = threading.Thread(target=flipper, daemon=True)
    thread.start()
    app = make_app(redis_url, tmp_path)
    try:
        async with running(app) as pilot:
            await wait_for_queues(app, 5)
            for panel in "2678":
                await pilot.press(panel, "tab", "down", "enter", "w", "h", "escape")
            await pilot.pause()
            polls_done = app.monitor.snapshot is not None
    finally:
        stop.set()
        thread.join(timeout=10)
    assert polls_done and app.return_code in (None, 0)
    assert not app.crash_log.exists() or "hostile" not in app.crash_log.read_text()
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "ferrite_tui", "status", redis_url, "--json"],
                         capture_output=True, encoding="utf-8", timeout=120)  # strict UTF-8
    code = out.returncode
    assert code == 0, out.stderr
    data = json.loads(out.stdout)
    shown = " ".join(q["key"] for q in data["queues"])
    figure(f"hostile data: {len(HOSTILE_KEYS)} hostile keys, a 2 MB value, wrong types, "
           f"{flips:,} key flips during the run; console exit {app.return_code}, "
           f"status exit {code}, {len(data['queues'])} queues listed")
    assert code == 0
    assert "\x1b" not in out.stdout and "\x9b" not in out.stdout
    assert "[bold]markup[/bold]" in shown
    assert "queue:bin\x00\udcff\udcfe" in shown  # the exact bytes, recoverable
    r.close()
