"""The app in this process on an emulated terminal, and what it should show.

`run_test(headless=False)` with `EmulatedDriver` runs the app as on a terminal: every frame
goes through the app's own `_display` (the console's `ChangedCellsUpdate`, which writes only
the cells its `TerminalShadow` says differ) into a VT emulator (pyte), the terminal. Beside
it, `FrameCheck` feeds a second emulator, the reference, what Textual itself would have
written for the same frame (its `render_segments`, every dirty cell). The two must agree
after every frame: a cell that differs is one the shadow believed the terminal showed and
it did not (or the other way round).

    app.driver_class = EmulatedDriver
    async with app.run_test(headless=False, size=(80, 24)) as pilot:
        check = FrameCheck(app)
        ...
        assert not check.differences
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyte
from textual._compositor import CompositorUpdate
from textual.app import App
from textual.drivers.headless_driver import HeadlessDriver

#: What Textual's Linux driver sets before the first frame that changes how text lands:
#: no line wrap (a line written to the last column stays on its line).
TERMINAL_SETUP = "\x1b[?7l"


def new_terminal(width: int, height: int) -> tuple[pyte.Screen, pyte.Stream]:
    screen = pyte.Screen(width, height)
    stream = pyte.Stream(screen)
    stream.feed(TERMINAL_SETUP)
    return screen, stream


class EmulatedDriver(HeadlessDriver):
    """Textual's test driver, but not headless: what the app writes goes to a terminal
    emulator of the app's size (`terminal`), as a real terminal would take it."""

    def __init__(self, app: App[Any], **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        width, height = self._get_terminal_size()
        self.terminal, self._stream = new_terminal(width, height)

    @property
    def is_headless(self) -> bool:
        return False

    def write(self, data: str) -> None:
        self._stream.feed(data)

    def resize(self, width: int, height: int) -> None:
        """The terminal window resized. As pyte does it: columns cut at the right, lines
        taken from the top when it gets shorter (xterm and tmux do so when the cursor is on
        the bottom line), blank where it grew."""
        self.terminal.resize(height, width)


def cell_rows(screen: pyte.Screen) -> list[list[tuple[Any, ...]]]:
    """Every cell of the screen: text and attributes."""
    return [[tuple(screen.buffer[y][x]) for x in range(screen.columns)]
            for y in range(screen.lines)]


def text_of(screen: pyte.Screen) -> str:
    return "\n".join(screen.display)


@dataclass
class Difference:
    frame: int
    kind: str  # the frame's class: ChangedCellsUpdate's source (ChopsUpdate) or LayoutUpdate
    lines: list[int]
    terminal: str
    reference: str


@dataclass
class FrameCheck:
    """After every frame the app writes, the terminal is compared with the reference.
    Installed before the app runs (`FrameCheck(app)`), so both start blank."""

    app: App[Any]
    # Whether the app knows the terminal's size. A terminal resized reflows what it shows
    # its own way before the app hears of it (and frames written in between land on that):
    # no comparison then, and the reference starts again from the terminal once it does.
    settled: Callable[[], bool] = lambda: True
    frames: int = 0
    differences: list[Difference] = field(default_factory=list)
    keep: int = 10  # differences kept (after one, the following frames often differ too)

    def __post_init__(self) -> None:
        self.reference: pyte.Screen | None = None
        self._stream: pyte.Stream | None = None
        self._unsettled = False
        display = self.app._display  # the app's own hook (the console's ChangedCellsUpdate)

        def checked_display(screen: Any, renderable: Any) -> None:
            app = self.app
            written = (isinstance(renderable, CompositorUpdate) and not app._batch_count
                       and app.is_running and not app._closed)
            own = renderable.render_segments(app.console) if written else ""
            display(screen, renderable)
            if written:
                self._reference_stream().feed(own)
                self._compare(type(renderable).__name__)

        self.app._display = checked_display  # type: ignore[method-assign]

    @property
    def driver(self) -> EmulatedDriver:
        driver = self.app._driver
        assert isinstance(driver, EmulatedDriver), "run the app with EmulatedDriver"
        return driver

    def _reference_stream(self) -> pyte.Stream:
        if self._stream is None:
            term = self.driver.terminal
            self.reference, self._stream = new_terminal(term.columns, term.lines)
        return self._stream

    def resize(self, width: int, height: int) -> None:
        self.driver.resize(width, height)
        if self.reference is not None:
            self.reference.resize(height, width)

    def _compare(self, kind: str) -> None:
        self.frames += 1
        term, ref = self.driver.terminal, self.reference
        assert ref is not None
        if not self.settled():
            self._unsettled = True
            return
        if self._unsettled:
            self._unsettled = False
            self.reference = copy.deepcopy(term)
            self._stream = pyte.Stream(self.reference)
            return
        if len(self.differences) >= self.keep:
            return
        rows_t, rows_r = cell_rows(term), cell_rows(ref)
        lines = [y for y, (a, b) in enumerate(zip(rows_t, rows_r)) if a != b]
        if lines:
            self.differences.append(Difference(self.frames, kind, lines, text_of(term),
                                               text_of(ref)))
