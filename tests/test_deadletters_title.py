"""The Dead letters title line follows the panel's view state by itself (reactives bound to
the title): offline, on the frozen snapshot (tests/frozen.py)."""

from __future__ import annotations

from ferrite_tui.ui.panels.deadletters.title import DeadLetterTitle
from frozen import feed, frozen_app
from helpers import async_wait_until


async def test_title_follows_list_target_filter_marks_and_groups():
    app = frozen_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await feed(pilot)
        await pilot.press("6")
        panel = app.panel("dlq")
        title = panel.query_one("#items-title", DeadLetterTitle)

        def shown() -> str:
            return str(title.render())

        await async_wait_until(lambda: "queue:main:dlq → queue:main" in shown(),
                               message="the highlighted list and its target")
        panel.entries.targets = {"queue:main:dlq": "queue:retry"}
        await async_wait_until(lambda: "→ queue:retry" in shown(), message="a new target")

        panel.set_filter("/(/")
        await async_wait_until(lambda: "bad regular expression" in shown())
        panel.set_filter("boom")
        await async_wait_until(lambda: "filter “boom”" in shown() and "bad" not in shown())

        panel.entries.marked = 3
        await async_wait_until(lambda: "3 marked" in shown())
        panel.action_groups()
        await pilot.pause()
        assert panel.groups_table.display and not panel.items_table.display
        panel.action_groups()
        await pilot.pause()
        assert panel.items_table.display and not panel.groups_table.display
