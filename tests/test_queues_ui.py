"""Panel 2 end to end through Pilot against a real server: paging, inspect, delete, purge,
move, ack, nack, recover stale, read-only."""

from __future__ import annotations

import json
import time

import pytest
import redis
from textual.widgets import Input

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.config import Config
from ferrite_tui.ui.app import FerriteApp
from ferrite_tui.ui.panels.queues import QueuesPanel
from ferrite_tui.ui.screens.inspector import InspectorScreen
from helpers import async_wait_until, running

Q, P = "queue:orders", "queue:orders:processing"


@pytest.fixture
def sync(redis_url):
    r = redis.Redis.from_url(redis_url)
    yield r
    r.close()


def job(i: int, enqueued_at: int) -> bytes:
    return json.dumps({"id": f"job-{i}", "payload": {"n": i}, "enqueued_at": enqueued_at},
                      separators=(",", ":")).encode()


def make_app(redis_url, tmp_path, read_only=False):
    return FerriteApp(Config(), ConnectionSettings(url=redis_url, read_only=read_only),
                      refresh=0.2, audit_path=tmp_path / "audit.log")


async def open_queue(app, pilot, key: str) -> QueuesPanel:
    await async_wait_until(lambda: app.monitor is not None and app.monitor.snapshot is not None
                           and any(q.ref.key == key for q in app.monitor.snapshot.queues))
    await pilot.press("2")
    panel = app.panel("queues")
    await async_wait_until(lambda: panel.table.row_count > 0)
    ident = next(q.ref.ident for q in app.monitor.snapshot.queues if q.ref.key == key)
    panel.table.focus()
    panel.table.select_key(ident)
    await pilot.pause()
    await pilot.press("enter")
    await async_wait_until(lambda: panel.items_table.page is not None
                           and panel.items_table.page.key == key
                           and panel.items_table.row_count > 0)
    return panel


def positions(table):
    return [table.by_key[k].pos for k in table.row_keys]


async def test_paging_windows_of_the_visible_height(redis_url, sync, tmp_path):
    sync.rpush("emails", *[f"mail {i}".encode() for i in range(500)])
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        panel = await open_queue(app, pilot, "emails")
        items = panel.items_table
        window = items.window
        await async_wait_until(lambda: items.row_count == window)
        assert 10 <= window <= 30 and positions(items) == list(range(window))
        await pilot.press("pagedown")
        await async_wait_until(lambda: positions(items)[0] == window)
        await pilot.press("end")
        await async_wait_until(lambda: positions(items)[-1] == 499)
        assert len(positions(items)) == window
        await pilot.press("left_square_bracket")
        await async_wait_until(lambda: positions(items)[-1] == 499 - window)
        await pilot.press("home")
        await async_wait_until(lambda: positions(items)[0] == 0)
        await pilot.press("colon")
        await async_wait_until(lambda: app.screen.query("#field-pos"))
        app.screen.query_one("#field-pos", Input).value = "250"
        await pilot.press("enter")
        await async_wait_until(lambda: positions(items)[0] == 250)
        assert items.page is not None
        assert all(len(items.page.items) <= window for _ in [0])  # windows, never the list
        await pilot.press("enter")
        await async_wait_until(lambda: isinstance(app.screen, InspectorScreen))
        assert app.screen.value == b"mail 250"
        await pilot.press("escape")
        await async_wait_until(lambda: not isinstance(app.screen, InspectorScreen))


async def test_delete_move_and_purge(redis_url, sync, tmp_path):
    sync.rpush("emails", *[f"mail {i}".encode() for i in range(30)])
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        panel = await open_queue(app, pilot, "emails")
        items = panel.items_table
        items.focus()
        items.move_cursor(row=1)
        await pilot.press("d")
        await async_wait_until(lambda: app.screen.__class__.__name__ == "ConfirmScreen")
        await pilot.press("y")
        await async_wait_until(lambda: sync.llen("emails") == 29)
        assert b"mail 1" not in sync.lrange("emails", 0, -1)
        await async_wait_until(lambda: items.page is not None and items.page.length == 29
                               and items.has_focus)
        items.move_cursor(row=0)
        await pilot.press("space", "space", "m")
        await async_wait_until(lambda: app.screen.query("#field-target"))
        app.screen.query_one("#field-target", Input).value = "emails:later"
        await pilot.press("enter")
        await async_wait_until(lambda: sync.llen("emails:later") == 2)
        assert sync.lrange("emails:later", 0, -1) == [b"mail 0", b"mail 2"]
        await async_wait_until(lambda: items.has_focus)
        await pilot.press("D")
        await async_wait_until(lambda: app.screen.query("#typed"))
        app.screen.query_one("#typed", Input).value = "wrong"
        await pilot.press("enter")
        await pilot.pause()
        assert sync.llen("emails") == 27
        app.screen.query_one("#typed", Input).value = "emails"
        await pilot.press("enter")
        await async_wait_until(lambda: not sync.exists("emails"))
    actions = [json.loads(x)["action"] for x in (tmp_path / "audit.log").read_text().splitlines()]
    assert actions == ["delete items", "move items", "purge queue"]


async def test_reliable_ack_nack_recover(redis_url, sync, tmp_path):
    now = int(time.time() * 1000)
    sync.rpush(Q, job(100, now))
    # processing: two stale (10 min old) at the tail, three fresh at the head
    sync.lpush(P, job(1, now - 600_000), job(2, now - 600_000), job(3, now), job(4, now),
               job(5, now))
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        panel = await open_queue(app, pilot, Q)
        proc = panel.proc_table
        await async_wait_until(lambda: proc.display and proc.row_count == 5)
        stale_cells = [str(proc.get_row_at(r)[4]) for r in range(5)]
        assert stale_cells == ["", "", "", "STALE", "STALE"]
        await pilot.press("tab")
        assert proc.has_focus
        proc.move_cursor(row=0)  # job-5
        await pilot.press("a")
        await async_wait_until(lambda: app.screen.__class__.__name__ == "ConfirmScreen")
        await pilot.press("y")
        await async_wait_until(lambda: sync.llen(P) == 4)
        await async_wait_until(lambda: proc.row_count == 4 and proc.has_focus)
        proc.move_cursor(row=0)  # job-4
        await pilot.press("r")
        await async_wait_until(lambda: app.screen.__class__.__name__ == "ConfirmScreen")
        await pilot.press("y")
        await async_wait_until(lambda: sync.llen(P) == 3)
        assert sync.lindex(Q, 0) == job(4, now)  # nack: back to the head
        await async_wait_until(lambda: proc.has_focus)
        await pilot.press("R")
        await async_wait_until(lambda: app.screen.__class__.__name__ == "ConfirmScreen")
        body = app.screen.body.plain
        assert "2 job(s)" in body and "job-1" in body and "job-2" in body
        await pilot.press("y")
        await async_wait_until(lambda: sync.llen(P) == 1)
        assert sorted(sync.lrange(Q, 0, 1)) == sorted([job(1, now - 600_000),
                                                        job(2, now - 600_000)])
        assert sync.lrange(P, 0, -1) == [job(3, now)]


async def test_read_only_refuses_and_hostile_items_render_literally(redis_url, sync, tmp_path):
    sync.rpush("emails", b"\x1b[2J\x1b]0;owned\x07[bold]x[/bold]", b"\x9b31mred")
    app = make_app(redis_url, tmp_path, read_only=True)
    async with running(app) as pilot:
        panel = await open_queue(app, pilot, "emails")
        items = panel.items_table
        await async_wait_until(lambda: items.row_count == 2)
        cells = " ".join(str(c) for r in range(2) for c in items.get_row_at(r))
        assert "\x1b" not in cells and "\x9b" not in cells and "[bold]x[/bold]" in cells
        items.focus()
        for key in ("d", "D", "m", "a", "r", "R"):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is app.screen_stack[0]
        assert sum("read-only" in str(n.message) for n in app.notices) >= 6
        assert sync.llen("emails") == 2
    assert not (tmp_path / "audit.log").exists()


async def test_narrow_terminal(redis_url, sync, tmp_path):
    sync.rpush(Q, job(1, 1))
    sync.lpush(P, job(2, 1))
    app = make_app(redis_url, tmp_path)
    async with running(app, size=(80, 24)) as pilot:
        panel = await open_queue(app, pilot, Q)
        await async_wait_until(lambda: panel.proc_table.row_count == 1)
        assert panel.items_table.window >= 3
        assert "pos" in [c.key for c in panel.items_table.shown]


async def test_a_failing_action_is_one_line_and_the_console_stays(redis_url, sync, tmp_path):
    """The key changes type behind the console's back: the action's worker fails, and the
    panel's one failure handler says so in one line naming the action."""
    sync.rpush("emails", *[f"mail {i}".encode() for i in range(5)])
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        panel = await open_queue(app, pilot, "emails")
        sync.delete("emails")
        sync.set("emails", "now a string")
        await pilot.press("D")
        # (The page reloads that polls trigger fail the same way, each on its own line.)
        def purge_lines():
            return [n for n in app.notices if n.message.startswith("purge the queue: ")]
        await async_wait_until(lambda: purge_lines())
        (line,) = purge_lines()
        assert line.severity == "error" and "wrong type" in line.message
        assert "\n" not in line.message and "Traceback" not in line.message
        assert app.is_running and app.screen is app.screen_stack[0]
        assert panel.is_mounted
    assert sync.get("emails") == b"now a string"
