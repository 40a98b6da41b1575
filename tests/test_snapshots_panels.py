"""Snapshot tests of every panel at 80x24 and 160x50, and of help and the connect screen at
80x24, from the frozen data and clock (tests/frozen.py): the footer at 80x24 shows the
panel's keys, and text is not cut where there is room."""

from __future__ import annotations

import pytest

from frozen import feed, frozen_app

PANEL_KEYS = "12345678"
SIZES = [(80, 24), (160, 50)]


def open_panel(key: str):
    async def run_before(pilot) -> None:
        await feed(pilot)
        await pilot.press(key)
        await pilot.pause()
        await pilot.pause()
    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("key", PANEL_KEYS)
def test_panel_snapshot(snap_compare, key, size):
    """Panel `key` at the list level, as it first appears."""
    assert snap_compare(frozen_app(), terminal_size=size, run_before=open_panel(key))


def test_help_on_dead_letters_snapshot(snap_compare):
    """Help lists the current panel's keys first."""
    async def run_before(pilot) -> None:
        await open_panel("6")(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
    assert snap_compare(frozen_app(), terminal_size=(80, 24), run_before=run_before)


def test_connect_screen_snapshot(snap_compare, tmp_path):
    """The connect screen fits 80x24: the form scrolls, the buttons stay in view."""
    from textual.widgets import Input

    from ferrite_tui.config import Config
    from ferrite_tui.ui.app import FerriteApp
    from ferrite_tui.ui.screens.connect import ConnectScreen

    async def run_before(pilot) -> None:
        await pilot.app.push_screen(ConnectScreen(pilot.app.config))
        # The focused input's cursor shows steadily: a blinking one is drawn or not
        # depending on when the picture is taken (a busy machine, parallel workers).
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        await pilot.pause()

    app = FerriteApp(Config(), None, poll=False, audit_path=tmp_path / "audit.log")
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
