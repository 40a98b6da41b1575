"""Panel 6 end to end through Pilot against a real server."""

from __future__ import annotations

import json

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.config import Config
from ferrite_tui.ui.app import FerriteApp
from ferrite_tui.ui.panels.deadletters import DeadLettersPanel
from ferrite_tui.ui.screens.inspector import InspectorScreen
from helpers import async_wait_until, running

DLQ, TARGET = "queue:main:dlq", "queue:main"


def dead(i: int, reason: str) -> bytes:
    return json.dumps({"job": {"id": f"job-{i}", "payload": {"n": i}, "retry_count": 3,
                               "last_error": reason, "first_attempt": 1000},
                       "dead_at": 2000 + i, "reason": reason}).encode()


def make_app(redis_url, tmp_path, read_only=False):
    return FerriteApp(Config(), ConnectionSettings(url=redis_url, read_only=read_only),
                      refresh=0.2, audit_path=tmp_path / "audit.log")


async def open_dlq(app, pilot) -> DeadLettersPanel:
    await async_wait_until(lambda: app.monitor is not None and app.monitor.snapshot is not None
                           and app.monitor.snapshot.by_kind(*DeadLettersPanel.KINDS))
    await pilot.press("6")
    panel = app.panel("dlq")
    await async_wait_until(lambda: panel.items_table.page is not None
                           and panel.items_table.row_count > 0)
    panel.items_table.focus()
    await pilot.pause()
    return panel


def ids(sync, key):
    return [json.loads(v).get("id") or json.loads(v)["job"]["id"] for v in sync.lrange(key, 0, -1)]


async def test_requeue_one_marked_and_delete(redis_url, sync, tmp_path):
    sync.rpush(DLQ, *[dead(i, f"timeout after {i}s") for i in range(10)])
    sync.rpush(TARGET, b'{"id":"x","payload":1,"retry_count":0}')
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        panel = await open_dlq(app, pilot)
        await pilot.press("r")  # cursor on job-0: requeued, no confirmation for one
        await async_wait_until(lambda: sync.llen(DLQ) == 9)
        assert ids(sync, TARGET)[-1] == "job-0"
        await async_wait_until(lambda: panel.items_table.page.length == 9
                               and panel.items_table.row_count == 9)
        panel.items_table.move_cursor(row=0)
        await pilot.press("space", "space")  # marks job-1 and job-2
        assert len(panel.items_table.marks) == 2
        await pilot.press("r")
        await async_wait_until(lambda: app.screen.__class__.__name__ == "ConfirmScreen")
        await pilot.press("y")
        await async_wait_until(lambda: sync.llen(DLQ) == 7)
        assert ids(sync, TARGET)[-2:] == ["job-1", "job-2"]
        await async_wait_until(lambda: panel.items_table.page.length == 7)
        panel.items_table.move_cursor(row=0)
        await pilot.press("d")
        await async_wait_until(lambda: app.screen.__class__.__name__ == "ConfirmScreen")
        await pilot.press("y")
        await async_wait_until(lambda: sync.llen(DLQ) == 6)
        assert "job-3" not in ids(sync, DLQ) and "job-3" not in ids(sync, TARGET)
    log = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]
    assert [e["action"] for e in log] == ["requeue dead letters"] * 2 + ["delete dead letters"]


async def test_filter_group_and_requeue_all_shown(redis_url, sync, tmp_path):
    values = [dead(i, f"SMTP timeout after {i}ms" if i % 2 else f"card {i} declined")
              for i in range(40)]
    sync.rpush(DLQ, *values)
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        panel = await open_dlq(app, pilot)
        await pilot.press("g")
        await async_wait_until(lambda: panel.groups_table.row_count == 2)
        panel.groups_table.select_key("SMTP timeout after #ms")
        await pilot.press("enter")
        entries = panel.entries
        await async_wait_until(lambda: entries.scan_state is not None
                               and entries.scan_state.complete
                               and entries.flt.group == "SMTP timeout after #ms")
        assert len(panel.entries.scan_state.matches) == 20
        await pilot.press("R")
        await async_wait_until(lambda: app.screen.__class__.__name__ == "ConfirmScreen")
        assert "20" in str(app.screen.body)
        await pilot.press("y")
        await async_wait_until(lambda: sync.llen(TARGET) == 20)
        assert sorted(ids(sync, TARGET)) == sorted(f"job-{i}" for i in range(1, 40, 2))
        # escape drops the group; `/` filters by substring over the rest
        await pilot.press("escape")
        assert panel.entries.flt.group is None
        await pilot.press("slash")
        await pilot.press(*"card 1")
        await async_wait_until(lambda: entries.scan_state is not None
                               and entries.scan_state.complete
                               and entries.flt.text == "card 1")
        assert sorted(json.loads(i.raw)["job"]["id"] for i in panel.entries.scan_state.matches) == \
            ["job-10", "job-12", "job-14", "job-16", "job-18"]


async def test_requeue_all_unfiltered_and_non_envelopes(redis_url, sync, tmp_path):
    sync.rpush(DLQ, *[dead(i, "boom") for i in range(30)], b"plain text", b"\xff\xfe")
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        await open_dlq(app, pilot)
        await pilot.press("R")
        await async_wait_until(lambda: app.screen.__class__.__name__ == "ConfirmScreen")
        assert "32" in str(app.screen.body)
        sync.rpush(DLQ, dead(99, "late"))  # arrives after the count: stays
        await pilot.press("y")
        await async_wait_until(lambda: sync.llen(TARGET) == 32)
        assert sync.lrange(DLQ, 0, -1) == [dead(99, "late")]
        assert sync.lrange(TARGET, -2, -1) == [b"plain text", b"\xff\xfe"]
        await async_wait_until(lambda: any("moved unchanged" in str(n.message)
                                           for n in app.notices))


async def test_inspect_hostile_entry_and_read_only(redis_url, sync, tmp_path):
    hostile = (b'{"job":{"id":"\\u001b[2J[red]x","payload":"\\u009b31m"},'
               b'"reason":"[b]r\\u001b","dead_at":1}')
    sync.rpush(DLQ, hostile)
    app = make_app(redis_url, tmp_path, read_only=True)
    async with running(app) as pilot:
        panel = await open_dlq(app, pilot)
        cells = [str(c) for c in panel.items_table.get_row_at(0)]
        assert any("[red]x" in c for c in cells) and not any("\x1b" in c for c in cells)
        for key in ("r", "R", "d", "D", "e"):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen.__class__.__name__ != "ConfirmScreen"
        assert sync.llen(DLQ) == 1 and not sync.exists(TARGET)
        assert sum("read-only" in str(n.message) for n in app.notices) >= 5
        await pilot.press("enter")
        await async_wait_until(lambda: isinstance(app.screen, InspectorScreen)
                               and app.screen.rendered is not None)  # built off the loop
        from textual.widgets import TextArea
        text = app.screen.query_one(TextArea).text
        assert "\x1b" not in text and "\x9b" not in text and "[red]x" in text
        await pilot.press("escape")
    assert not (tmp_path / "audit.log").exists()


async def test_unknown_target_is_asked(redis_url, sync, tmp_path):
    from dataclasses import replace

    from textual.widgets import Input

    from ferrite_tui.config import QueueDecl
    sync.rpush("failed-jobs", dead(1, "x"))
    cfg = replace(Config(), queues=(QueueDecl(key="failed-jobs", kind="dlq"),))
    app = FerriteApp(cfg, ConnectionSettings(url=redis_url), refresh=0.2,
                     audit_path=tmp_path / "audit.log")
    async with running(app) as pilot:
        panel = await open_dlq(app, pilot)
        assert panel.entries.target_of(panel.entries.current_ref) is None
        await pilot.press("r")
        await async_wait_until(lambda: app.screen.query("#field-target"))
        app.screen.query_one("#field-target", Input).value = "jobs"
        await pilot.press("enter")
        await async_wait_until(lambda: sync.llen("jobs") == 1)
        assert json.loads(sync.lindex("jobs", 0))["retry_count"] == 0


async def test_interrupted_run_is_shown_and_finished(redis_url, sync, tmp_path):
    import subprocess
    import sys

    from ferrite_tui.backend.connection import ConnectionSettings
    from ferrite_tui.backend.journal import BulkRecord, Journal

    sync.rpush(DLQ, *[dead(i, "SMTP timeout after 5ms" if i < 6 else "other") for i in range(10)])
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    rec = BulkRecord("requeue dead letters", DLQ, TARGET, 8, group="SMTP timeout after #ms",
                     done=2, pid=gone.pid)
    Journal(tmp_path / "bulk", ConnectionSettings(url=redis_url).server_identity).save(rec)
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        panel = await open_dlq(app, pilot)
        assert panel.entries.interrupted and "2 of 8" in panel.entries.interrupted[0].describe()
        assert "interrupted" in str(panel.query_one("#items-title").render())
        await pilot.press("F")
        await async_wait_until(lambda: app.screen.__class__.__name__ == "ConfirmScreen",
                               timeout=15)
        assert "6 entries" in str(app.screen.body)
        await pilot.press("y")
        await async_wait_until(lambda: sync.llen(TARGET) == 6)
        await async_wait_until(lambda: not panel.entries.interrupted)
    assert not list((tmp_path / "bulk").glob("bulk-*.json"))


async def test_hostile_key_names_in_notifications_are_literal(redis_url, sync, tmp_path):
    key = "jobs[/x][b]:dlq"
    sync.rpush(key, dead(1, "boom"))
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        panel = await open_dlq(app, pilot)
        assert panel.entries.current_ref.key == key
        await pilot.press("r")
        await async_wait_until(lambda: sync.llen("jobs[/x][b]") == 1)
        await async_wait_until(lambda: any("requeued" in str(n.message)
                                           for n in app.notices))
        assert all(not n.markup for n in app.notices if "requeued" in str(n.message))


async def test_read_only_disables_actions_and_the_palette_lists_them(redis_url, sync, tmp_path):
    """check_action dims every mutation in read-only mode (footer and palette); the palette
    names each action of the panel shown, and running one goes through the same pipeline."""
    from ferrite_tui.ui.commands import panel_commands

    sync.rpush(DLQ, *[dead(i, "boom") for i in range(3)])
    ro = make_app(redis_url, tmp_path, read_only=True)
    async with running(ro) as pilot:
        panel = await open_dlq(ro, pilot)
        assert panel.check_action("requeue_all", ()) is None
        assert panel.check_action("export", ()) is True
        commands = {name: help_text for name, _, help_text in panel_commands(panel)}
        assert commands["Dead letters: requeue all shown (R)"] == "disabled: read-only mode"
        assert "Dead letters: export what is shown (NDJSON) (x)" in commands
        before = len(ro.notices)
        dict((n, cb) for n, cb, _ in panel_commands(panel))["Dead letters: delete all shown (D)"]()
        assert "read-only" in ro.notices[-1].message and len(ro.notices) == before + 1
    rw = make_app(redis_url, tmp_path)
    async with running(rw) as pilot:
        panel = await open_dlq(rw, pilot)
        assert panel.check_action("requeue_all", ()) is True
        callbacks = {name: cb for name, cb, _ in panel_commands(panel)}
        assert all("disabled" not in h for _, _, h in panel_commands(panel))
        callbacks["Dead letters: requeue all shown (R)"]()
        await async_wait_until(lambda: rw.screen.__class__.__name__ == "ConfirmScreen")
        assert "3" in str(rw.screen.body)
        await pilot.press("n")
    assert sync.llen(DLQ) == 3


async def test_delete_all_is_confirmed_by_typing_a_hostile_name_as_shown(redis_url, sync,
                                                                          tmp_path):
    """A name with a newline and ESC cannot be typed as it is: the dialog shows it escaped
    and typing that form confirms; anything else does not."""
    from rich.text import Text
    from textual.widgets import Input, Label

    from ferrite_tui.escaping import printable

    dlq = "queue:a\nb\x1b[2J:dlq"
    sync.rpush(dlq, *[dead(i, "boom") for i in range(3)])
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        await open_dlq(app, pilot)
        await pilot.press("D")
        await async_wait_until(lambda: app.screen.query("#typed"))
        asked = " ".join(str(label.render()) if not isinstance(label.render(), Text)
                         else label.render().plain for label in app.screen.query(Label))
        assert f"Type {printable(dlq)} to confirm" in asked
        assert "\x1b" not in asked and "\n" not in asked
        typed = app.screen.query_one("#typed", Input)
        typed.value = "queue:a b:dlq"
        await pilot.press("enter")
        await pilot.pause()
        assert sync.llen(dlq) == 3 and app.screen.query("#typed")
        typed.value = "queue:a\\nb\\x1b[2J:dlq"  # as shown
        await pilot.press("enter")
        await async_wait_until(lambda: not sync.exists(dlq))


async def test_a_run_a_dead_server_stopped_is_resumed_by_f(server_factory, tmp_path,
                                                            after_check, monkeypatch):
    """R, and the server dies under the first chunk and is not back within the bound: the
    line says so, names the server and says F resumes it; once the server is back, F
    requeues every letter, once."""
    import redis

    from ferrite_tui.backend import bulk
    from helpers import FERRITE

    if FERRITE:
        import pytest

        pytest.skip("the stand-in proxy does not restart its server")
    monkeypatch.setattr(bulk, "DEFAULT_FAILURE_BOUND_S", 0.5, raising=False)
    server = server_factory(extra_args=["appendonly yes", "appendfsync always"])
    sync = redis.Redis.from_url(server.url)
    sync.rpush(DLQ, *[dead(i, "boom") for i in range(1200)])
    app = make_app(server.url, tmp_path)
    try:
        async with running(app) as pilot:
            panel = await open_dlq(app, pilot)
            after_check(server.kill)  # between the first chunk's check and its EXEC
            await pilot.press("R")
            await async_wait_until(lambda: app.screen.__class__.__name__ == "ConfirmScreen")
            await pilot.press("y")
            line = await async_wait_until(lambda: next(
                (str(n.message) for n in app.notices if "stopped by" in str(n.message)), None),
                timeout=20)
            assert f"127.0.0.1:{server.port}" in line and "F on this panel resumes it" in line
            assert "1,200 not attempted" in line
            assert panel.entries.interrupted and panel.entries.interrupted[-1].stopped
            server.start()
            await async_wait_until(lambda: app.monitor is not None
                                   and app.monitor.snapshot is not None
                                   and not app.monitor.snapshot.queues[0].error, timeout=30)
            await pilot.press("F")
            await async_wait_until(lambda: app.screen.__class__.__name__ == "ConfirmScreen",
                                   timeout=15)
            await pilot.press("y")
            await async_wait_until(lambda: sync.llen(TARGET) == 1200, timeout=20)
            await async_wait_until(lambda: not panel.entries.interrupted)
        assert sync.llen(DLQ) == 0
        assert sorted(ids(sync, TARGET)) == sorted(f"job-{i}" for i in range(1200))
    finally:
        sync.close()


async def test_a_record_that_is_not_a_job_is_shown_before_it_is_pushed(redis_url, sync,
                                                                        tmp_path):
    """A team's own dead-letter record (not the seed's envelope, nothing the console knows
    how to unwrap): even a single r asks first, showing the value exactly as it will be
    written (escaped) and where; no means nothing moves."""
    # A raw ESC byte in the error text: the confirmation must show it, escaped.
    record = (b'{"job": {"to": "ops@example.com"}, "error": "SMTP 550 \x1b[31mno", '
              b'"failed_at": 1700000000, "attempts": 5}')
    sync.rpush(DLQ, record)
    sync.rpush(TARGET, b'{"id":"x","payload":1,"retry_count":0}')
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        await open_dlq(app, pilot)
        await pilot.press("r")
        await async_wait_until(lambda: app.screen.__class__.__name__ == "ConfirmScreen")
        body = str(app.screen.body)
        assert "1 other value moved unchanged" in body
        assert "RPUSH to the tail of queue:main" in body
        # The value as written, escaped: the ESC byte shown, never sent to the terminal.
        assert '{"job": {"to": "ops@example.com"}, "error": "SMTP 550 \\x1b[31mno"' in body
        assert "\x1b" not in body
        await pilot.press("n")
        await async_wait_until(lambda: app.screen.__class__.__name__ != "ConfirmScreen")
        assert sync.llen(TARGET) == 1 and sync.lrange(DLQ, 0, -1) == [record]
        await pilot.press("r")
        await async_wait_until(lambda: app.screen.__class__.__name__ == "ConfirmScreen")
        await pilot.press("y")
        await async_wait_until(lambda: sync.llen(DLQ) == 0)
    assert sync.lrange(TARGET, -1, -1) == [record]  # byte for byte, once
