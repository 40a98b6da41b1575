"""Work that can wait, waits for the operator (ui/quiet.py).

On a busy machine a dialog came seconds after its key, and the poll's snapshots were applied
to the panels (and laid out) behind it while it was open."""

from __future__ import annotations

import gc
from dataclasses import replace

from ferrite_tui.ui.messages import SnapshotReady
from ferrite_tui.ui.screens.dialogs import Field, FormScreen
from ferrite_tui.ui.screens.help import HelpScreen
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


async def test_no_collection_starts_while_a_key_waits_for_its_dialog():
    """The collector's passes (a full one: 100-230 ms of CPU) fell between a key and its
    dialog on a busy machine. The heap loaded at start is frozen once the data is on screen
    (full passes leave it out), and no collection starts while a key waits for what it
    asked for; the collector is as it was once the console has gone."""
    threshold = gc.get_threshold()
    app = frozen_app()
    started_while_waiting: list[int] = []

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and app.is_running and app.key_hold.waiting():
            started_while_waiting.append(info["generation"])

    async with app.run_test() as pilot:
        await feed(pilot)
        await async_wait_until(lambda: app.snapshot_gate.collector.frozen, timeout=10,
                               message="the heap loaded at start never frozen")
        assert gc.get_freeze_count() > 0
        await async_wait_until(lambda: not app.key_hold.waiting(), timeout=10)
        gc.callbacks.append(watch)
        try:
            for _ in range(3):  # a screen's compose makes thousands of objects
                await pilot.press("question_mark")
                await async_wait_until(lambda: isinstance(app.screen, HelpScreen), timeout=10,
                                       message="the help never opened")
                await async_wait_until(lambda: gc.get_threshold() == threshold, timeout=10,
                                       message="collections never came back")
                await pilot.press("escape")
                await async_wait_until(lambda: not isinstance(app.screen, HelpScreen),
                                       timeout=10)
        finally:
            gc.callbacks.remove(watch)
    assert started_while_waiting == []
    assert gc.get_threshold() == threshold
    assert gc.get_freeze_count() == 0
