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
        panel = app.query_one("#panel-dlq")
        await async_wait_until(lambda: panel.table.row_count > 0 and panel.table.has_focus)
        await async_wait_until(lambda: footer_keys(app)[:2] == ["enter", "r"])
        await pilot.press("enter")
        await async_wait_until(lambda: not panel.table.has_focus)
        await async_wait_until(lambda: footer_keys(app)[:3] == ["r", "R", "d"])
        keys = footer_keys(app)
        # paging keys come after every action of the panel
        assert keys.index("home") > keys.index("x")
