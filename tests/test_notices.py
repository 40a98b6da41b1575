"""Notices take lines of their own above the footer: they never cover the selected row or
a dialog, and errors stay until escape."""

from __future__ import annotations

import pytest
import redis

from ferrite_tui.ui.screens.dialogs import FormScreen
from ferrite_tui.ui.widgets.footer import KeyFooter
from ferrite_tui.ui.widgets.notices import NoticeLine
from helpers import async_wait_until, running
from test_deadletters_ui import DLQ, dead, make_app, open_dlq


@pytest.fixture
def sync(redis_url):
    r = redis.Redis.from_url(redis_url)
    yield r
    r.close()


def overlaps(a, b) -> bool:
    return bool(a.intersection(b).area)


async def test_notices_make_room_and_keep_the_selected_row_in_view(redis_url, sync, tmp_path):
    sync.rpush(DLQ, *[dead(i, "boom") for i in range(40)])
    app = make_app(redis_url, tmp_path)
    async with running(app, size=(80, 24)) as pilot:
        panel = await open_dlq(app, pilot)
        table = panel.items_table
        await async_wait_until(lambda: table.row_count >= 5)
        await pilot.pause()
        # The cursor on the last row the table shows.
        last_visible = table.scroll_offset.y + table.scrollable_content_region.height - 2
        table.move_cursor(row=min(last_visible, table.row_count - 1))
        await pilot.pause()
        for i in range(3):
            app.notify(f"note {i}")
        app.notify("something failed", severity="error")
        notices = app.query_one(NoticeLine)
        await async_wait_until(lambda: notices.display and notices.region.height == 2)
        await pilot.pause()
        assert not overlaps(notices.region, table.region)
        assert not overlaps(notices.region, app.query_one(KeyFooter).region)
        text = notices.render().plain
        assert text.startswith("▌ error (escape dismisses): something failed")
        assert "more)" in text
        # The selected row is still inside the table's visible rows.
        row = table.cursor_row
        top = table.scroll_offset.y
        assert top <= row < top + table.scrollable_content_region.height - 1

        # A dialog: notices stay on the main screen's line, under the dialog, not on it.
        await pilot.press("e")
        await async_wait_until(lambda: isinstance(app.screen, FormScreen))
        app.notify("while the dialog is open")
        await pilot.pause()
        assert not app.screen.query(NoticeLine)
        await pilot.press("escape")  # first escape: the error goes
        await async_wait_until(lambda: not app.pinned_errors())
        assert isinstance(app.screen, FormScreen)
        await pilot.press("escape")
        await async_wait_until(lambda: not isinstance(app.screen, FormScreen))
