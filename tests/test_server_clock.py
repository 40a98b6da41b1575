"""The server's clock decides due, overdue and ages (issue 21, item 4): the console runs
under libfaketime with its clock an hour ahead of a real server's (the server itself runs
unfaked), and nothing due later may read overdue or be run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest
import redis

from ferrite_tui.backend.envelopes import dumps
from ferrite_tui.backend.servertime import (
    SHOWN_OFFSET_MS,
    ServerClock,
    replication_of,
    time_reply_ms,
)

FAKETIME = shutil.which("faketime")
needs_faketime = pytest.mark.skipif(FAKETIME is None,
                                    reason="faketime (Debian package faketime) not installed")

SCHEDULED = "queue:reports:scheduled"
READY = "queue:reports:ready"
HOUR_S = 3600


def faked(args: list[str], offset: str = "+1h", timeout: float = 60) -> subprocess.CompletedProcess:
    """Run a Python process with its clock shifted by `offset` (libfaketime)."""
    env = dict(os.environ)
    env.pop("FAKETIME", None)
    env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"  # elapsed time (asyncio, rates) stays true
    return subprocess.run([FAKETIME or "faketime", "-f", offset, sys.executable, *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def server_ms(r: redis.Redis) -> int:
    sec, usec = r.time()
    return sec * 1000 + usec // 1000


def arrange(r: redis.Redis) -> tuple[list[bytes], list[bytes]]:
    """1,000 jobs due in 30-47 min and 5 due a minute ago (by the server's clock), a dead
    letter that died 2 min ago and a reliable queue whose job waits for 10 s."""
    now = server_ms(r)
    later = {dumps({"id": f"later-{i}", "payload": i, "scheduled_at": now + d}).encode(): now + d
             for i, d in enumerate(range(30 * 60_000, 47 * 60_000, 1020))}
    assert len(later) == 1000
    due = {dumps({"id": f"due-{i}", "payload": i, "scheduled_at": now - 60_000 + i}).encode():
           now - 60_000 + i for i in range(5)}
    r.zadd(SCHEDULED, {**later, **due})
    r.rpush("queue:main:dlq", dumps({
        "job": {"id": "d1", "payload": 1, "retry_count": 3, "last_error": "boom",
                "first_attempt": now - 300_000},
        "dead_at": now - 120_000, "reason": "max retries"}))
    r.rpush("queue:orders", dumps({"id": "o1", "payload": 1, "enqueued_at": now - 10_000}))
    return list(later), sorted(due, key=lambda m: due[m])


@needs_faketime
def test_faketime_shifts_the_console_only(redis_url):
    """The premise: under faketime the process's clock is an hour ahead, the server's is not."""
    r = redis.Redis.from_url(redis_url)
    try:
        out = faked(["-c", "import time; print(time.time())"])
        assert out.returncode == 0, out.stderr
        assert abs(float(out.stdout) - time.time() - HOUR_S) < 60
        assert abs(server_ms(r) / 1000 - time.time()) < 5
    finally:
        r.close()


@needs_faketime
def test_status_with_the_console_an_hour_ahead_shows_nothing_overdue(redis_url):
    r = redis.Redis.from_url(redis_url)
    try:
        arrange(r)
    finally:
        r.close()
    out = faked(["-m", "ferrite_tui", "status", redis_url, "--json"])
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    by_key = {q["key"]: q for q in data["queues"]}
    sched = by_key[SCHEDULED]
    assert sched["depth"] == 1005
    assert sched["overdue"] == 5  # the 1,000 due in 30-47 min are not
    assert data["totals"]["overdue"] == 5
    # Ages by the server's clock: a minute, two minutes, ten seconds (not an hour more).
    assert 55_000 <= sched["oldest_ms"] < 5 * 60_000
    assert 115_000 <= by_key["queue:main:dlq"]["oldest_ms"] < 5 * 60_000
    assert 9_000 <= by_key["queue:orders"]["oldest_ms"] < 5 * 60_000
    offset = data["server"]["clock_offset_ms"]
    assert abs(offset + HOUR_S * 1000) < 5_000, offset
    assert abs(data["server"]["time_ms"] / 1000 - time.time()) < 60
    table = faked(["-m", "ferrite_tui", "status", redis_url])
    assert table.returncode == 0, table.stderr
    assert "console clock 1h" in table.stdout and "ahead of the server's" in table.stdout


RUN_ALL_DUE = textwrap.dedent("""
    import asyncio, json, sys
    from ferrite_tui.backend.client import ConnectionSettings
    from ferrite_tui.backend.delayed import DelayedQueue
    from ferrite_tui.backend.monitor import Monitor
    from ferrite_tui.config import Config
    from ferrite_tui.ui.session import Session

    async def main(url):
        monitor = Monitor(ConnectionSettings(url=url), Config())
        await monitor.connect()
        try:
            await monitor.discover()
            await monitor.poll()
            # As the Scheduled panel's X: the cutoff is the session's now, counted, run.
            session = Session(Config(), monitor.settings, monitor=monitor)
            dq = DelayedQueue(monitor.client, {scheduled!r}, {ready!r})
            cutoff = session.now_ms()
            count = await dq.overdue_count(cutoff)
            report = await dq.run_overdue(cutoff, count)
            print(json.dumps({{"count": count, "done": report.done}}))
        finally:
            await monitor.aclose()

    asyncio.run(main(sys.argv[1]))
""").format(scheduled=SCHEDULED, ready=READY)


@needs_faketime
def test_run_all_due_with_the_console_an_hour_ahead_runs_only_what_is_due(redis_url):
    r = redis.Redis.from_url(redis_url)
    try:
        later, due = arrange(r)
        out = faked(["-c", RUN_ALL_DUE, redis_url])
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout.strip().splitlines()[-1]) == {"count": 5, "done": 5}
        assert r.lrange(READY, 0, -1) == due
        assert set(r.zrange(SCHEDULED, 0, -1)) == set(later)  # none due later moved
    finally:
        r.close()


def test_clock_offset_from_time_at_the_middle_of_the_round_trip():
    local = 1_800_003_600.0  # the console an hour ahead of the server
    clock = ServerClock(local=lambda: local)
    assert clock.now_ms() == 1_800_003_600_000  # not measured yet: the local clock
    assert clock.observe([b"1800000000", b"250000"], local - 0.1, local + 0.1) == \
        1_800_000_000_250
    # TIME ran within those 200 ms: the offset is the low end (server now never ahead).
    assert clock.offset_ms == -3_599_850
    assert clock.uncertainty_ms == 200
    assert clock.now_ms() == 1_800_000_000_150
    assert clock.shown_offset_ms == -3_599_850
    assert clock.observe(redis.ResponseError("unknown command 'TIME'"), 0, 0) is None
    assert clock.offset_ms == -3_599_850  # kept
    # A wider reading (a long pipeline) does not replace a narrower one...
    clock.observe([b"1800000001", b"0"], local + 0.5, local + 1.5)
    assert clock.offset_ms == -3_599_850
    # ...a narrower one does, and so does a reading outside it (a clock stepped).
    clock.observe([b"1800000002", b"0"], local + 2.0, local + 2.01)
    assert clock.offset_ms == -3_600_010 and clock.uncertainty_ms == 10
    clock.observe([b"1800000003", b"0"], local - 7200.0, local - 7199.0)
    assert clock.offset_ms == round(1_800_000_003_000 - (local - 7199.0) * 1000)
    assert time_reply_ms([b"x", b"1"]) is None


def test_a_server_without_a_replication_section_has_an_unknown_role():
    assert replication_of({"redis_version": "0.3.0"}).role is None
    assert replication_of({"redis_version": "0.3.0"}).refusal("requeue") is None
    assert replication_of({"role": "master"}).role == "primary"


async def test_server_panel_shows_the_offset_past_a_second():
    import io
    from dataclasses import replace

    from rich.console import Console

    from frozen import feed, frozen_app, frozen_snapshot

    def drawn(app) -> str:
        console = Console(width=200, record=True, file=io.StringIO())
        console.print(app.query_one("ServerPanel").query_one("#info").content)
        return console.export_text()

    app = frozen_app()
    async with app.run_test(size=(160, 50)) as pilot:
        await feed(pilot, replace(frozen_snapshot(), clock_offset_ms=-3_600_400))
        await pilot.press("8")
        await pilot.pause()
        assert "console clock 1h00m ahead of the server's (every time shown is the " \
            "server's)" in drawn(app)
        await feed(pilot, replace(frozen_snapshot(), clock_offset_ms=-900))
        await pilot.pause()
        assert "console clock" not in drawn(app)  # TIME's own noise is not news


def test_status_json_reports_the_role_and_the_clock(redis_url):
    """Ferrite's INFO (and the stand-in's) has no replication section: the role is unknown
    (null), never "primary" by default."""
    from helpers import FERRITE

    out = subprocess.run([sys.executable, "-m", "ferrite_tui", "status", redis_url, "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    server = json.loads(out.stdout)["server"]
    assert server["role"] == (None if FERRITE else "primary")
    assert abs(server["clock_offset_ms"]) < SHOWN_OFFSET_MS  # one machine: no offset
    assert abs(server["time_ms"] / 1000 - time.time()) < 60
