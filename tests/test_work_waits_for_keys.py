"""Work that can wait, waits for the operator (ui/quiet.py).

On a busy machine a dialog came seconds after its key: the poll's snapshots were applied to
the panels (and laid out) behind the opaque dialog nobody could see them through, and the
garbage collector's full passes walked the whole heap loaded at start, at whatever moment
an allocation set them off."""

from __future__ import annotations

import gc
from dataclasses import replace

from ferrite_tui.ui.messages import SnapshotReady
from ferrite_tui.ui.quiet import NO_AUTOMATIC_FULL
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


async def test_full_collections_leave_out_the_start_and_are_restored_after():
    before = gc.get_threshold()
    app = frozen_app()
    async with app.run_test() as pilot:
        await feed(pilot)
        await async_wait_until(lambda: app.collector.started, timeout=10,
                               message="the collector never started after the first data")
        assert gc.get_threshold()[2] == NO_AUTOMATIC_FULL  # full passes: the timer's only
        assert gc.get_freeze_count() > 0  # what was loaded at start is left out of them
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
