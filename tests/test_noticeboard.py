"""The console's own notices: errors pinned until dismissed, others gone when their time is
up, a repeating subject one notice that counts (no Textual toast list involved)."""

from __future__ import annotations

import time

from ferrite_tui.ui.noticeboard import NoticeBoard, ShownNotice
from ferrite_tui.ui.notices import ERROR_TITLE
from frozen import frozen_app
from helpers import async_wait_until


def test_timed_notices_go_and_pinned_ones_stay():
    board = NoticeBoard()
    long_ago = time.time() - 3600
    board.add(ShownNotice("old news", timeout=5, raised_at=long_ago))
    board.add(ShownNotice("still failing", severity="error", timeout=None, raised_at=long_ago))
    fresh = ShownNotice("fresh", timeout=5)
    board.add(fresh)
    assert [n.message for n in board.shown()] == ["still failing", "fresh"]
    assert [n.message for n in board.errors()] == ["still failing"]
    board.remove(fresh)
    assert not board.is_shown(fresh)


async def test_errors_pin_and_a_repeating_read_counts():
    app = frozen_app()
    async with app.run_test(size=(100, 30)) as pilot:
        app.notify("went wrong", severity="error")
        app.notify("fine", timeout=0.01)
        await async_wait_until(lambda: [n.title for n in app.pinned_errors()] == [ERROR_TITLE])
        await async_wait_until(lambda: [n.message for n in app.notice_board.shown()]
                               == ["went wrong"])
        panel = app.panel("overview")
        for _ in range(3):
            panel.read_notices.show(app, "read", "cannot read", timeout=30)
            await pilot.pause()
        shown = [n.message for n in app.notice_board.shown()]
        assert shown == ["went wrong", "cannot read (×3)"], shown
        await pilot.press("escape")  # dismisses every error shown, the repeating one too
        await async_wait_until(lambda: not app.pinned_errors())
        assert app.notice_board.shown() == []
