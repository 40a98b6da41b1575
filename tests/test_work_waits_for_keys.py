"""Work that can wait, waits for the operator (ui/quiet.py).

On a busy machine a dialog came seconds after its key, and the poll's snapshots were applied
to the panels (and laid out) behind it while it was open."""

from __future__ import annotations

from dataclasses import replace

from ferrite_tui.ui.messages import SnapshotReady
from ferrite_tui.ui.screens.dialogs import Field, FormScreen
from frozen import feed, frozen_app, frozen_snapshot
from helpers import async_wait_until


async def test_a_snapshot_waits_behind_a_dialog_and_is_applied_when_it_closes():
    app = frozen_app()
    async with app.run_test() as pilot:
        await feed(pilot)
        first = app._last_snapshot
        assert first is not None
        await app.push_screen(FormScreen("Target queue", [Field("target", "Target")]))
        await pilot.pause()
        assert app.screen.styles.background.a == 1  # the panels are hidden: nothing to draw
        later = replace(frozen_snapshot(), taken_at=first.taken_at + 5)
        app.post_message(SnapshotReady(later))
        await pilot.pause()
        assert app._last_snapshot is first  # kept for later, not applied behind the dialog
        app.pop_screen()
        await async_wait_until(lambda: app._last_snapshot is later, timeout=10,
                               message="the snapshot kept behind the dialog never applied")
