"""Unlucky environments (issue 21): a console whose clock is an hour off the server's, and a
server that is a replica. Each records its figure."""

from __future__ import annotations

import json

import pytest
import redis
from faultkit import figure

from helpers import FERRITE, CommandRecorder, async_wait_until, mutating, wait_until
from test_server_clock import READY, RUN_ALL_DUE, SCHEDULED, arrange, faked, needs_faketime


@needs_faketime
@pytest.mark.parametrize("skew", ["+1h", "-1h"])
def test_console_clock_an_hour_off(redis_url, skew):
    """1,000 jobs due in 30-47 min and 5 due a minute ago (server's clock): `status` and
    run all due, with the console's clock an hour ahead or behind."""
    r = redis.Redis.from_url(redis_url)
    try:
        later, due = arrange(r)
        out = faked(["-m", "ferrite_tui", "status", redis_url, "--json"], offset=skew)
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        overdue = next(q for q in data["queues"] if q["key"] == SCHEDULED)["overdue"]
        run = faked(["-c", RUN_ALL_DUE, redis_url], offset=skew)
        assert run.returncode == 0, run.stderr
        report = json.loads(run.stdout.strip().splitlines()[-1])
        early = len(set(later) - set(r.zrange(SCHEDULED, 0, -1)))
        ready = r.lrange(READY, 0, -1)
    finally:
        r.close()
    figure(f"console clock {skew} off the server's: {overdue} of 5 due shown overdue "
           f"(1,000 due in 30-47 min), run all due moved {report['done']}, {early} early; "
           f"offset measured {data['server']['clock_offset_ms'] / 1000:+.1f} s")
    assert overdue == 5 and report == {"count": 5, "done": 5} and early == 0
    assert ready == due


@pytest.mark.skipif(FERRITE, reason="the Ferrite stand-in's INFO has no replication section")
async def test_every_change_refused_on_a_replica(server_factory, tmp_path):
    """The console on a replica: every mutating key of the Dead letters panel, before any
    dialog, with nothing written (MONITOR)."""
    from ferrite_tui.backend.connection import ConnectionSettings
    from ferrite_tui.backend.envelopes import dumps
    from ferrite_tui.config import Config
    from ferrite_tui.ui.app import FerriteApp
    from ferrite_tui.ui.screens.dialogs import ConfirmScreen, FormScreen

    primary, replica = server_factory(), server_factory()
    p, rr = redis.Redis.from_url(primary.url), redis.Redis.from_url(replica.url)
    try:
        p.rpush("queue:main:dlq", *[dumps({"job": {"id": f"d{i}", "payload": i},
                                           "dead_at": 1, "reason": "r"}) for i in range(20)])
        rr.execute_command("REPLICAOF", "127.0.0.1", primary.port)
        wait_until(lambda: rr.llen("queue:main:dlq") == 20, timeout=20)
        app = FerriteApp(Config(), ConnectionSettings(url=replica.url), refresh=60,
                         audit_path=tmp_path / "audit.log")
        keys = ("r", "R", "d", "D", "e")
        dialogs = 0
        async with app.run_test(size=(120, 36)) as pilot:
            await async_wait_until(lambda: app.monitor and app.monitor.snapshot and any(
                q.ref.key == "queue:main:dlq" for q in app.monitor.snapshot.queues), timeout=15)
            await pilot.press("6")
            panel = app.panel("dlq")
            await async_wait_until(lambda: panel.items_table.page is not None
                                   and panel.items_table.row_count > 0, timeout=10)
            panel.items_table.focus()
            await pilot.pause()
            with CommandRecorder("127.0.0.1", replica.port) as recorder:
                for key in keys:
                    await pilot.press(key)
                    await pilot.pause()
                    dialogs += isinstance(app.screen, (ConfirmScreen, FormScreen))
                    if dialogs:
                        await pilot.press("escape")
                await async_wait_until(lambda: sum("replica of" in n.message
                                                   for n in app.notices) >= len(keys))
                writes = mutating(rr, [n for n in recorder.names() if n != "REPLCONF"])
        refused = sum("replica of" in n.message for n in app.notices)
    finally:
        p.close()
        rr.close()
    figure(f"replica: {len(keys)} mutating keys, {refused} refused naming the primary, "
           f"{dialogs} dialogs opened, {len(writes)} write commands sent")
    assert dialogs == 0 and writes == [] and refused >= len(keys)
