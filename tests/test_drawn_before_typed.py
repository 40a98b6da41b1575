"""A dialog takes no key before it is on the terminal, and a dialog whose frame was lost is
drawn again.

On a loaded machine `t` on Dead letters left the last frame on the terminal for over a
minute while the target dialog, open and focused, took the keys typed into it (`zzz` then
Enter set the requeue target). Textual throws away a frame computed while an update batch
is open (`App._display`), and a dialog that changes nothing afterwards is not drawn again.
Here an update batch is held open while the dialog comes up, as a slow Textual batch
(a recompose, a pop of several screens) does when the machine is starved."""

from __future__ import annotations

import time

from textual._compositor import ChopsUpdate
from textual.screen import Screen
from textual.widgets import Input

import painting
from ferrite_tui.ui.screens.dialogs import FormScreen
from helpers import async_wait_until, running
from test_deadletters_ui import DLQ, TARGET, dead, make_app, open_dlq


class FramesSeen:
    """Every frame the app writes, as (time, screen, whole, the dialog's text field then)."""

    def __init__(self, app) -> None:
        self.frames: list[tuple[float, Screen, bool, str | None]] = []
        display = app._display

        def recorded(screen, renderable) -> None:
            if renderable is not None and not app._batch_count:
                field = screen.query(Input).first() if screen.query(Input) else None
                self.frames.append((time.monotonic(), screen, not isinstance(
                    renderable, ChopsUpdate), field.value if field is not None else None))
            display(screen, renderable)

        app._display = recorded

    def whole(self, screen) -> list[tuple[float, Screen, bool, str | None]]:
        return [f for f in self.frames if f[1] is screen and f[2]]


async def test_a_dialog_whose_frame_was_lost_is_drawn_and_takes_no_key_before(
        redis_url, sync, tmp_path, monkeypatch):
    monkeypatch.setattr(Screen, "_compositor_refresh", painting.REAL_PAINT)  # real frames
    sync.rpush(DLQ, *[dead(i, "boom") for i in range(5)])
    sync.rpush(TARGET, b"x")
    app = make_app(redis_url, tmp_path)
    async with running(app, size=(100, 30)) as pilot:
        panel = await open_dlq(app, pilot)
        frames = FramesSeen(app)
        app._begin_batch()  # a batch open when the dialog comes up: its frame is dropped
        try:
            await pilot.press("t")
            await async_wait_until(lambda: isinstance(app.screen, FormScreen)
                                   and app.screen.focused is not None)
            dialog = app.screen
            field = dialog.query_one(Input)
            before = field.value
            await pilot.pause()
        finally:
            app._end_batch()
        await pilot.press("z", "z", "z")
        await async_wait_until(lambda: field.value.endswith("zzz"), timeout=5,
                               message="the keys typed reach the dialog once drawn")
        await async_wait_until(lambda: frames.whole(dialog), timeout=5,
                               message="the dialog was never drawn whole")
        first = frames.whole(dialog)[0]  # (how soon: the pty stress test, under load)
        assert first[3] == before  # nothing typed reached it before it was drawn
        await pilot.press("escape")
        await async_wait_until(lambda: app.screen is app.screen_stack[0])
        assert panel.display
