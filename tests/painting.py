"""Headless test apps paint no frames, unless ``FERRITE_TUI_TEST_PAINT=1``.

Textual's test driver throws every painted frame away: no terminal shows it. Painting them
was a third of the suite's CPU. So a headless app skips the paint; its layout, focus,
messages and widgets' state are as in a terminal, and:
- a test that reads the screen paints it then (snapshots, ``export_screenshot``,
  ``render_lines``, ``render_full_update``);
- each app's screen is painted whole when its test leaves ``run_test``, so a widget that
  cannot draw still fails its test;
- ``FERRITE_TUI_TEST_PAINT=1`` paints every frame, as a terminal would (one of CI's runs).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen

PAINT_EVERY_FRAME = os.environ.get("FERRITE_TUI_TEST_PAINT") == "1"
REAL_PAINT = Screen._compositor_refresh  # for a test that needs the frames themselves


def install() -> None:
    if PAINT_EVERY_FRAME:
        return
    paint = REAL_PAINT

    def refresh_without_paint(self: Screen[Any]) -> None:
        app = self.app
        if not app.is_headless or app.is_inline or self is not app.screen:
            paint(self)
            return
        # What a paint does besides drawing: the dirty state is cleared, mouse-over updated,
        # the app told a whole frame was shown (keys wait for one).
        whole = self._compositor.size.region in self._compositor._dirty_regions
        self._dirty_widgets.clear()
        self._compositor._dirty_regions.clear()
        app._update_mouse_over(self)
        if whole and not app._batch_count and hasattr(app, "key_hold"):
            app.key_hold.frame_shown(self, whole)

    run_test = App.run_test

    @asynccontextmanager
    async def run_test_painting_the_last_screen(self: App[Any], *args: Any,
                                                **kwargs: Any) -> AsyncIterator[Pilot[Any]]:
        async with run_test(self, *args, **kwargs) as pilot:
            yield pilot
            if self.is_running and self.screen_stack:
                self.screen._compositor.render_update(
                    full=True, screen_stack=self._background_screens)

    Screen._compositor_refresh = refresh_without_paint  # type: ignore[method-assign]
    App.run_test = run_test_painting_the_last_screen  # type: ignore[method-assign,assignment]
