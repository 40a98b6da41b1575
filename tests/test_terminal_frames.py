"""What the terminal shows is what Textual drew, frame after frame, on the demo's traffic.

The console writes only the cells that changed (`ChangedCellsUpdate`, from what its
`TerminalShadow` says the terminal shows). Once the Scheduled panel at 80x24 showed four
rows of its jobs one second older than the rows under them (the same ids twice, out of due
order), after `/ escape 4` on the demo: rows the shadow believed were on the terminal and
were not would look like that. Here the console runs in this process on an emulated
terminal (tests/emulated.py): after every frame, the terminal is compared cell by cell with
a second one fed what Textual itself writes (every changed cell, no shadow); the jobs'
due column is checked in due order on the terminal as frames come, through the lead's
keys on a panel's first visit, panel switches, the filter, help and resizes. The frame
check fails when the shadow is wrong: the last test breaks it on purpose. (Before the
shadow was forgotten on a resize, the resizes here failed it.)"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from textual import events

from emulated import EmulatedDriver, FrameCheck, text_of
from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.config import Config
from ferrite_tui.demo.traffic import DemoTraffic, demo_config
from ferrite_tui.ui.app import FerriteApp
from ferrite_tui.ui.textual_private import ChangedCellsUpdate

#: A key as the terminal's parser gives it: (key, character).
KEYS = {"/": ("slash", "/"), "escape": ("escape", "\x1b"), "?": ("question_mark", "?"),
        "ctrl+p": ("ctrl+p", None), "enter": ("enter", "\r")}
#: A job row of the Scheduled panel: its due time and the start of its id.
JOB_ROW = re.compile(r"\s+((?:overdue \S+)|(?:in \S+))\s+([0-9a-f]{8})")


def seconds(due: str) -> int | None:
    """`in 1m05s` -> 65, overdue -> -1 (the order the panel sorts by)."""
    if due.startswith("overdue"):
        return -1
    m = re.fullmatch(r"in (?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", due)
    if m is None:
        return None
    h, mi, s = (int(x) if x else 0 for x in m.groups())
    return h * 3600 + mi * 60 + s


def out_of_order(screen: str) -> str | None:
    """Why the jobs on screen are not one table in due order (an id twice, a due time
    earlier than the row above it by more than the second a poll may tick), or None."""
    rows = [(seconds(m.group(1)), m.group(2)) for m in map(JOB_ROW.match, screen.splitlines())
            if m is not None]
    ids = [i for _, i in rows]
    if len(set(ids)) != len(ids):
        return "an id shown twice"
    dues = [d for d, _ in rows if d is not None]
    if any(b < a - 1 for a, b in pairwise(dues)):
        return "due times out of order"
    return None


def app_terminal_size(app: FerriteApp) -> tuple[int, int]:
    driver = app._driver
    assert isinstance(driver, EmulatedDriver)
    return driver.terminal.columns, driver.terminal.lines


def drawn_whole_since_resized(app: FerriteApp) -> bool:
    """Whether the app has drawn a whole frame at the terminal's size. Between a resize and
    that frame the terminal shows its own reflow of the old picture (pyte, as xterm and
    tmux, drops lines from the top when it gets shorter), whatever the app writes."""
    return app.terminal_shadow.size == app_terminal_size(app)


class Watch:
    """The console on an emulated terminal: its frames checked against Textual's own, and
    each terminal picture against `invariant`."""

    def __init__(self, app: FerriteApp, check: FrameCheck,
                 invariant: Callable[[str], str | None]) -> None:
        self.app, self.check, self.invariant = app, check, invariant
        self.broken: list[str] = []

    @property
    def screen(self) -> str:
        driver = self.app._driver
        assert isinstance(driver, EmulatedDriver)
        return text_of(driver.terminal)

    def keys(self, *names: str) -> None:
        """Keys in one burst, as one read from the terminal brings them."""
        for name in names:
            key, char = KEYS.get(name, (name, name))
            self.app.post_message(events.Key(key, char))

    @property
    def drawn(self) -> str:
        """What Textual drew (the reference terminal)."""
        return text_of(self.check.reference) if self.check.reference is not None else ""

    async def until(self, needle: str, timeout: float = 30) -> None:
        """Watch the terminal (every frame's picture checked) until Textual has drawn
        `needle`."""
        deadline = time.monotonic() + timeout
        while needle not in self.drawn:
            self._look()
            assert time.monotonic() < deadline, (
                f"{needle!r} never drawn; the terminal:\n{self.screen}\nwhat Textual drew:\n"
                f"{self.drawn}")
            await asyncio.sleep(0.02)
        self._look()

    async def watch(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._look()
            await asyncio.sleep(0.02)

    def _look(self) -> None:
        if not drawn_whole_since_resized(self.app):
            return
        why = self.invariant(self.screen)
        if why and len(self.broken) < 5:
            self.broken.append(f"{why}:\n{self.screen}")

    async def resize(self, width: int, height: int) -> None:
        self.check.resize(width, height)
        size = events.Resize.from_dimensions((width, height), None)
        self.app.post_message(size)

    def failures(self) -> list[str]:
        return [f"frame {d.frame} ({d.kind}): lines {d.lines} differ\nterminal:\n{d.terminal}"
                f"\nwhat Textual drew:\n{d.reference}" for d in self.check.differences] \
            + self.broken


@pytest.fixture
def demo_url(fresh_server: Any) -> Iterator[str]:
    """A private server with the demo's data and live traffic."""
    traffic = DemoTraffic(fresh_server.url)
    traffic.start()
    try:
        yield fresh_server.url
    finally:
        traffic.stop()


@asynccontextmanager
async def on_terminal(url: str, tmp_path: Path, size: tuple[int, int] = (80, 24),
                      invariant: Callable[[str], str | None] = out_of_order
                      ) -> AsyncIterator[Watch]:
    app = FerriteApp(demo_config(Config()), ConnectionSettings(url=url, profile="demo"),
                     audit_path=tmp_path / "audit.log")
    app.driver_class = EmulatedDriver
    check = FrameCheck(app, settled=lambda: app.size == app_terminal_size(app))
    async with app.run_test(headless=False, size=size) as pilot:
        watch = Watch(app, check, invariant)
        try:
            await watch.until("need attention", timeout=60)
            yield watch
        finally:
            app.workers.cancel_group(app, "poll")
            await pilot.pause()


async def tour(watch: Watch) -> None:
    """The lead's keys on the Scheduled panel's first visit, then every panel, the filter,
    help and resizes. (The command palette: tests/faults/test_frames_under_load.py.)"""
    watch.keys("/", "escape", "4")
    await watch.until("in due order")
    await watch.watch(2.5)
    for key, shown in [("1", "need attention"), ("4", "in due order"), ("6", "dead-letter"),
                       ("2", "processing"), ("5", "analytics"), ("7", "orders."),
                       ("8", "XAUTOCLAIM"), ("3", "highest priority"), ("4", "in due order")]:
        watch.keys(key)
        await watch.until(shown)
        await watch.watch(0.3)
    watch.keys("?")
    await watch.until("Everywhere")
    watch.keys("escape")
    await watch.until("in due order")
    for width, height in [(120, 40), (80, 24), (100, 30), (80, 24)]:
        await watch.resize(width, height)
        await watch.watch(0.6)
    await watch.until("in due order")
    await watch.watch(1.5)


async def test_the_terminal_shows_what_textual_drew(demo_url, tmp_path):
    async with on_terminal(demo_url, tmp_path) as watch:
        await tour(watch)
    assert watch.check.frames > 40  # frames were written and compared
    assert not watch.failures(), "\n\n".join(watch.failures())


async def test_a_frame_the_shadow_took_and_the_terminal_did_not_get_is_caught(
        demo_url, tmp_path, monkeypatch):
    """The check fails when the shadow is wrong: here every third partial frame is taken
    into the shadow and not written (as a frame recorded and then dropped would be)."""
    render = ChangedCellsUpdate.render_segments
    frames = 0

    def every_third_lost(self: ChangedCellsUpdate, console: Any) -> str:
        nonlocal frames
        frames += 1
        written = render(self, console)  # the shadow takes it
        return "" if frames % 3 == 0 else written

    monkeypatch.setattr(ChangedCellsUpdate, "render_segments", every_third_lost)
    async with on_terminal(demo_url, tmp_path, invariant=lambda screen: None) as watch:
        watch.keys("4")
        await watch.until("in due order")
        await watch.watch(2)
    assert watch.check.differences, "a wrong shadow went unnoticed"
