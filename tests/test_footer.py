"""At 80x24 the footer shows what can be done first: the panel's actions, then the focused
table's paging keys; on a list of queues, `enter` (the next step) leads."""

from __future__ import annotations

import redis

from ferrite_tui.ui.widgets.footer import KeyFooter
from helpers import async_wait_until, running
from test_deadletters_ui import DLQ, dead, make_app


def footer_keys(app) -> list[str]:
    return app.query_one(KeyFooter).keys()


async def test_footer_puts_actions_first_and_enter_on_the_list(redis_url, tmp_path):
    r = redis.Redis.from_url(redis_url)
    r.rpush(DLQ, *[dead(i, "boom") for i in range(30)])
    r.close()
    app = make_app(redis_url, tmp_path)
    async with running(app, size=(80, 24)) as pilot:
        app.app_focus = True  # as in a terminal: the footer follows focus changes
        await async_wait_until(lambda: app.monitor is not None and app.monitor.snapshot)
        await pilot.press("6")
        panel = app.panel("dlq")
        await async_wait_until(lambda: panel.table.row_count > 0 and panel.table.has_focus)
        await async_wait_until(lambda: footer_keys(app)[:2] == ["enter", "r"])
        await pilot.press("enter")
        await async_wait_until(lambda: not panel.table.has_focus)
        await async_wait_until(lambda: footer_keys(app)[:3] == ["r", "R", "d"])
        keys = footer_keys(app)
        # paging keys come after every action of the panel
        assert keys.index("home") > keys.index("x")


async def test_footer_keys_click_dim_when_disabled_and_never_cut_a_key():
    """The footer is one line of text: a click on a key runs it, a disabled key (read-only)
    does nothing, hovering shows a key's tooltip, and a key with no room is left out whole
    (an ellipsis says there are more) rather than drawn in part."""
    from dataclasses import replace

    from ferrite_tui.ui.screens.help import HelpScreen
    from frozen import feed, frozen_app

    app = frozen_app()
    assert app.settings is not None
    app.settings = replace(app.settings, read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        app.app_focus = True
        await feed(pilot)
        footer = app.query_one(KeyFooter)
        await pilot.press("6")
        await async_wait_until(lambda: footer.keys()[:2] == ["enter", "r"])
        await pilot.press("enter")
        await async_wait_until(lambda: footer.keys()[:2] == ["r", "R"])
        line = footer.render().plain
        assert len(line) == 80 and line.rstrip().endswith("^p palette")
        shown = footer.shown_keys()
        assert 2 <= len(shown) < len(footer.keys())  # the DLQ's keys do not fit in 80
        assert line.split("▏")[0].rstrip().endswith("…")
        requeue = footer.entries()[0]
        assert requeue.key == "r" and not requeue.enabled  # read-only
        screen = app.screen
        await pilot.click(KeyFooter, offset=(line.index("Requeue"), 0))
        await pilot.pause()
        assert app.screen is screen  # a disabled key does nothing
        await pilot.press("escape", "1")
        await async_wait_until(lambda: "? Help" in footer.render().plain)
        line = footer.render().plain
        await pilot.click(KeyFooter, offset=(line.index("? Help"), 0))
        await async_wait_until(lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await async_wait_until(lambda: not isinstance(app.screen, HelpScreen))
        # last: a tooltip shown over the footer would take the clicks above
        await pilot.hover(KeyFooter, offset=(line.index("palette"), 0))
        await async_wait_until(lambda: footer.palette is not None
                               and footer.tooltip == footer.palette.tooltip != "")


async def test_one_read_of_the_keys_finds_the_selected_queue_once(redis_url, sync, tmp_path):
    """The footer asks every binding of the Streams panel whether it is offered and with
    which word, and the palette lists every action: each answer depends on the stream
    selected, found by scanning the snapshot. One read finds it once, not once per key."""
    from ferrite_tui.ui.commands import panel_commands
    from test_streams_ui import make_app as streams_app
    from test_streams_ui import open_streams, seed

    seed(sync)
    app = streams_app(redis_url, tmp_path)
    async with running(app, size=(120, 36)) as pilot:
        app.app_focus = True
        panel = await open_streams(app, pilot, pending=10)
        found = panel.action_queue
        calls: list[object] = []

        def counted():
            calls.append(None)
            return found()

        panel.action_queue = counted
        footer = app.query_one(KeyFooter)
        footer._stale = True
        entries = footer.entries()
        assert "Claim" in [e.description for e in entries]  # the layout's words
        assert len(calls) == 1, f"{len(calls)} scans for {len(entries)} keys"
        calls.clear()
        commands = list(panel_commands(panel))
        assert len(commands) > 10
        assert len(calls) == 1, f"{len(calls)} scans for {len(commands)} commands"
        # Outside a read (a key, an action) the queue is found afresh, never kept.
        assert panel.check_action("claim", ()) and panel.check_action("ack", ())
        assert len(calls) == 3
