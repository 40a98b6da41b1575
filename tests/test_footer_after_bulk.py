"""The footer follows the panel after a bulk action: `R y` on Dead letters, then `1`, shows
the Overview's keys (a modal that closed before it was ever drawn took the footer's pending
read of the keys with it, and the footer kept the Dead letters' keys for the session)."""

from __future__ import annotations

from ferrite_tui.ui.widgets.footer import KeyFooter
from helpers import async_wait_until, running
from test_deadletters_ui import DLQ, TARGET, dead, make_app, open_dlq


async def test_footer_follows_the_panel_after_a_bulk_requeue(redis_url, sync, tmp_path):
    sync.rpush(DLQ, *[dead(i, "boom") for i in range(5)])
    sync.rpush(TARGET, b"x")
    app = make_app(redis_url, tmp_path)
    async with running(app, size=(80, 24)) as pilot:
        app.app_focus = True  # as in a terminal: the footer follows focus changes
        footer = app.query_one(KeyFooter)
        panel = await open_dlq(app, pilot)
        await async_wait_until(lambda: "R" in footer.keys())
        await pilot.press("R")
        await async_wait_until(lambda: app.screen.__class__.__name__ == "ConfirmScreen")
        await pilot.press("y")
        await async_wait_until(lambda: sync.llen(DLQ) == 0)
        await async_wait_until(lambda: app.screen is app.screen_stack[0])
        await pilot.press("1")
        await async_wait_until(lambda: app.panel("overview").display)
        await async_wait_until(lambda: "R" not in footer.keys(), timeout=5)
        assert "Requeue" not in footer.render().plain
        await pilot.press("6")  # and it follows the next switch too
        await async_wait_until(lambda: "Requeue" in footer.render().plain, timeout=5)
        assert panel.display
