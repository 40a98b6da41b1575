"""The console driven through Textual's Pilot against a real server with the demo's data."""

from typing import cast

import redis
import redis.asyncio as aioredis
from rich.text import Text
from textual.widget import Widget
from textual.widgets import Input, Static, TabbedContent

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.backend.models import QueueKind
from ferrite_tui.config import Config
from ferrite_tui.demo.seeding import seed
from ferrite_tui.ui.app import FerriteApp
from ferrite_tui.ui.panels.deadletters.panel import DeadLettersPanel
from ferrite_tui.ui.panels.priority import PriorityPanel
from ferrite_tui.ui.screens.help import HelpScreen
from ferrite_tui.ui.widgets.status import StatusLine
from ferrite_tui.ui.widgets.table import KeyedTable
from frozen import feed, frozen_app
from helpers import async_wait_until

ALL_KINDS = set(QueueKind)


async def seeded(url):
    client = aioredis.Redis.from_url(url)
    await seed(client)
    await client.aclose()


def make_app(url, tmp_path, **settings):
    return FerriteApp(Config(), ConnectionSettings(url=url, **settings), refresh=0.2,
                      audit_path=tmp_path / "audit.log")


async def wait_for_queues(app, pilot, count):
    await async_wait_until(
        lambda: app.monitor and app.monitor.snapshot
        and len(app.monitor.snapshot.queues) >= count, timeout=15)
    await pilot.pause()
    await async_wait_until(lambda: overview_table(app).row_count >= count, timeout=10)


def overview_table(app):
    return app.panel("overview").table


def row_keys(table: KeyedTable):
    return [str(k.value) for k in table.rows]


async def test_overview_lists_every_kind_and_keys_switch_panels(redis_url, tmp_path):
    await seeded(redis_url)
    app = make_app(redis_url, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for_queues(app, pilot, 7)
        kinds = {QueueKind(k.split(":", 1)[0]) for k in row_keys(overview_table(app))}
        assert kinds == ALL_KINDS
        tabs = app.query_one("#tabs", TabbedContent)
        for key, tab in zip("12345678", ["overview", "queues", "priority", "scheduled",
                                         "streams", "dlq", "pubsub", "server"]):
            await pilot.press(key)
            await pilot.pause()
            assert tabs.active == tab
        await pilot.press("1")
        await pilot.pause()
        status = app.query_one(StatusLine).status_text().plain
        assert "live" in status


async def test_enter_opens_the_queue_in_its_panel(redis_url, tmp_path):
    await seeded(redis_url)
    app = make_app(redis_url, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for_queues(app, pilot, 7)
        table = overview_table(app)
        table.focus()
        target = "dlq:queue:main:dlq"
        assert table.select_key(target)
        await pilot.press("enter")
        await pilot.pause()
        tabs = app.query_one("#tabs", TabbedContent)
        assert tabs.active == "dlq"
        panel = cast(DeadLettersPanel, app.panel("dlq"))
        await async_wait_until(lambda: panel.table.cursor_key == target, timeout=5)


async def test_help_lists_bindings_and_closes(redis_url, tmp_path):
    app = make_app(redis_url, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = " ".join(str(key) for key, _ in app.screen.rows())
        for key in ("ctrl+r", "ctrl+p", "escape", "1 … 8"):
            assert key in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_read_only_says_so_on_mutating_keys(redis_url, tmp_path):
    await seeded(redis_url)
    with redis.Redis.from_url(redis_url) as r:
        before = r.llen("queue:main:dlq")
    app = make_app(redis_url, tmp_path, read_only=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for_queues(app, pilot, 7)
        assert "READ-ONLY" in app.query_one(StatusLine).render().plain
        await pilot.press("6")
        await pilot.pause()
        await pilot.press("R")
        await pilot.pause()
        messages = [n.message for n in app.notices]
        assert any("read-only" in m for m in messages), messages
    with redis.Redis.from_url(redis_url) as r:
        assert r.llen("queue:main:dlq") == before
    assert not (tmp_path / "audit.log").exists()


async def test_filter_narrows_the_table_and_escape_clears(redis_url, tmp_path):
    await seeded(redis_url)
    app = make_app(redis_url, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for_queues(app, pilot, 7)
        await pilot.press("slash")
        await pilot.press(*"orders")
        await pilot.pause()
        assert row_keys(overview_table(app)) == ["reliable:queue:orders"]
        await pilot.press("escape")
        await pilot.pause()
        assert len(row_keys(overview_table(app))) >= 7


async def test_narrow_terminal_keeps_the_essential_columns(redis_url, tmp_path):
    await seeded(redis_url)
    app = make_app(redis_url, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_queues(app, pilot, 7)
        shown = [c.key for c in overview_table(app).shown]
        assert {"key", "depth", "alerts"} <= set(shown)
        assert "detail" not in shown
        width = sum(c.width + 2 for c in overview_table(app).shown)
        assert width <= 80


async def test_hostile_names_render_literally(redis_url, tmp_path):
    r = redis.Redis.from_url(redis_url)
    r.rpush(b"\x1b[31m[bold]evil[/bold]\x07", "x")
    r.close()
    app = make_app(redis_url, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for_queues(app, pilot, 1)
        table = overview_table(app)
        key_col = [c.key for c in table.shown].index("key")
        cell = table.get_row_at(0)[key_col]
        assert isinstance(cell, Text)
        assert cell.plain == "\\x1b[31m[bold]evil[/bold]\\x07"
        assert not cell.spans  # nothing was read as markup


async def test_header_shows_reconnecting_and_recovers(fresh_server, tmp_path):
    r = redis.Redis.from_url(fresh_server.url)
    r.rpush("emails", "x")
    r.close()
    app = FerriteApp(Config(), ConnectionSettings(url=fresh_server.url, command_timeout=1,
                                                  connect_timeout=1),
                     refresh=0.2, audit_path=tmp_path / "audit.log")
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for_queues(app, pilot, 1)
        fresh_server.kill()
        status = app.query_one(StatusLine)
        await async_wait_until(lambda: "reconnecting (attempt" in status.status_text().plain,
                               timeout=15)
        assert overview_table(app).row_count == 1  # last data stays on screen
        await pilot.press("2")  # keys still answer while the server is away
        await pilot.pause()
        assert app.query_one("#tabs", TabbedContent).active == "queues"
        fresh_server.start()
        await async_wait_until(lambda: "live" in status.status_text().plain, timeout=20)


async def test_connect_screen_when_no_url(redis_url, tmp_path):
    from ferrite_tui.ui.screens.connect import ConnectScreen

    app = FerriteApp(Config(), None, refresh=0.2, audit_path=tmp_path / "audit.log")
    async with app.run_test(size=(100, 50)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ConnectScreen)
        url_input = app.screen.query_one("#url", Input)
        url_input.value = "redis://127.0.0.1:1/0"
        await pilot.click("#connect")
        error = app.screen.query_one("#connect-error", Static)
        await async_wait_until(lambda: "cannot reach" in str(error.content), timeout=10)
        url_input.value = redis_url
        url_input.focus()
        await pilot.press("enter")  # enter in any field connects, as a keyboard user would
        await async_wait_until(lambda: not isinstance(app.screen, ConnectScreen), timeout=10,
                               message=repr(error.content))
        assert app.settings is not None and app.settings.url == redis_url
        await async_wait_until(lambda: app.monitor is not None
                               and app.monitor.snapshot is not None, timeout=10)


async def test_theme_and_refresh_choices_persist_beside_the_config(redis_url, tmp_path):
    from ferrite_tui.config import load

    path = tmp_path / "config.toml"
    path.write_text('refresh = 2.0\n')
    app = FerriteApp(load(path), ConnectionSettings(url=redis_url), poll=False,
                     audit_path=tmp_path / "audit.log")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        app.theme = "nord"
        app.set_refresh(5.0)
        await pilot.pause()
    assert path.read_text() == 'refresh = 2.0\n'
    again = load(path)
    assert (again.theme, again.refresh) == ("nord", 5.0)


async def test_notifications_never_read_markup(redis_url, tmp_path):
    app = make_app(redis_url, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        app.panel("overview").notify("key [bold]x[/bold] \x1b[31m")
        await pilot.pause()
        (note,) = [n for n in app.notices if "key" in n.message]
        assert note.markup is False


async def test_every_panel_switches_to_every_other():
    """A panel that keeps focus inside itself would pull its tab back; number keys must
    leave every panel for every other one. Only focus and tabs matter here, so the app runs
    offline on the frozen snapshot (tests/frozen.py)."""
    app = frozen_app()
    tabs_by_key = dict(zip("12345678", ["overview", "queues", "priority", "scheduled",
                                         "streams", "dlq", "pubsub", "server"]))
    async with app.run_test(size=(120, 36)) as pilot:
        await feed(pilot)
        await async_wait_until(lambda: overview_table(app).row_count >= 7)
        tabs = app.query_one("#tabs", TabbedContent)
        stuck = []
        keys = list(tabs_by_key)
        # From every panel to its neighbours and to the panel four away: every panel is
        # left three times, to targets on both sides.
        pairs = [(a, keys[(i + step) % 8]) for i, a in enumerate(keys) for step in (1, 4, 7)]
        for a, b in pairs:
            await pilot.press(a)
            await pilot.pause()
            await pilot.press(b)
            await pilot.pause()
            if tabs.active != tabs_by_key[b]:
                stuck.append(f"{a}->{b} stayed on {tabs.active}")
        assert len(pairs) == 24
        assert not stuck, "; ".join(stuck)


async def test_from_the_tab_strip_down_or_the_panel_number_goes_back_to_the_list():
    """Tab reaches the tab strip; Down, or the number of the panel already shown, brings
    focus back to the panel's list (neither did: the operator was left on the tabs)."""
    from textual.widgets import Tabs

    app = frozen_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await feed(pilot)
        table = overview_table(app)
        await async_wait_until(lambda: table.row_count >= 7 and table.has_focus)
        for back in ("down", "1"):
            app.query_one(Tabs).focus()
            await async_wait_until(lambda: isinstance(app.focused, Tabs))
            await pilot.press(back)
            await async_wait_until(lambda: table.has_focus, message=f"{back}: {app.focused}")


async def test_home_and_end_move_to_the_first_and_last_row_of_every_list():
    """End did nothing in the alert list (DataTable's Home/End move between columns, and
    ours fit the width): in a list of queues or alerts they go to the first and last row."""
    from dataclasses import replace

    from ferrite_tui.backend.models import AlertNote
    from ferrite_tui.ui.widgets.table import KeyedTable
    from frozen import NOW, frozen_snapshot

    snapshot = frozen_snapshot()
    notes = tuple(AlertNote(ident=q.ref.ident, key=q.ref.key, alert=f"alert {i}",
                            since=NOW - 60 * i, since_from="data", before_window=False,
                            action="", panel_key="2")
                  for i, q in enumerate(snapshot.queues[:4]))
    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, replace(snapshot, alert_notes=notes))
        table = overview_table(app)
        alerts = app.query_one("#alerts", KeyedTable)
        await async_wait_until(lambda: table.row_count >= 7 and alerts.row_count == 4,
                               message=f"{table.row_count} {alerts.row_count}")
        for shown in (table, alerts):
            shown.focus()
            await pilot.press("end")
            await async_wait_until(lambda shown=shown: shown.cursor_row == shown.row_count - 1)
            await pilot.press("home")
            await async_wait_until(lambda shown=shown: shown.cursor_row == 0)


async def test_a_tab_clicked_builds_its_panel_at_the_screen_size():
    """Panels are built when first shown, by key or by a click on the tab; one built by a
    click is laid out at the screen's size (at 80 columns the histogram gives way)."""
    app = frozen_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await feed(pilot)
        assert [cast(Widget, p).id for p in app.panels()] == ["panel-overview"]
        tab = app.query_one("#tabs", TabbedContent).get_tab("priority")
        await pilot.click(tab)
        panel = cast(PriorityPanel, app.panel("priority"))
        await async_wait_until(lambda: panel.is_mounted and panel.display
                               and panel.size.width == 80)
        await async_wait_until(lambda: not panel.query_one("#plot").display)
        assert app.query_one("#tabs", TabbedContent).active == "priority"
        await pilot.press("5")
        await async_wait_until(lambda: app.panel("streams").display)
        assert [cast(Widget, p).id for p in app.panels()] == ["panel-overview", "panel-priority",
                                                "panel-streams"]
