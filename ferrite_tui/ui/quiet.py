"""Work that can wait, waits while a key is on its way to its dialog.

On a 2-core machine with one busy process per core the console gets about a third of a
core, and a dialog came 1-4 s after its key. Measured between the key and the dialog's
first frame (time stamps on the event loop, cProfile of the app): the key waited behind
- the poll's snapshot applied to the panels and the layout that follows (60-400 ms of CPU
  on the Scheduled and Pub/Sub panels at 200x60), and
- the garbage collector's full passes, started by whatever allocated next: every 1.5-2 s,
  100-230 ms of CPU each, over some 250k objects, most of them the modules, classes and
  styles loaded at start, which never become garbage.
So a snapshot that arrives while a key waits (ui/keyhold.py `waiting`) is kept and applied
once the key's dialog is drawn (only the newest: a snapshot is the whole state), and no
sooner than it would be anyway while the panels are hidden behind an opaque screen. The
heap loaded at start is frozen (left out of every pass), and full passes run from a timer
when no key waits, instead of in the middle of a key's work.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

from ferrite_tui.backend.models import Snapshot
from ferrite_tui.ui.keyhold import KeyHold

CHECK_EVERY_S = 0.05
# A key that keeps the poll waiting longer than this (a bulk action's worker, keys typed
# without pause) lets it through: the data on screen is never older than this for a key.
MAX_DEFER_S = 2.0
# Full collections: this often when no key waits and none came for AFTER_KEY_S (keys come
# in bursts: a panel's key, then its dialog's); at the latest after LATEST_S.
FULL_EVERY_S = 5.0
AFTER_KEY_S = 2.0
LATEST_S = 15.0
# Young generations stay automatic; the oldest is collected only by the timer.
NO_AUTOMATIC_FULL = 1_000_000
# The collectors of the consoles running in this process, and the thresholds found before.
_RUNNING: list[Collector] = []
_FOUND: list[tuple[int, int, int]] = []


class Collector:
    """Full garbage collections between keys, over what was not loaded at start."""

    def __init__(self, app: Any, key_hold: KeyHold) -> None:
        self.app = app
        self.key_hold = key_hold
        self.started = False
        self.last = 0.0
        self._timer: Any = None

    def start(self) -> None:
        """Once the console shows its data: what is loaded by then stays for good."""
        if self.started or not self.app.is_running:
            return
        self.started = True
        if not _RUNNING:  # the first console in this process (tests run several)
            _FOUND.append(gc.get_threshold())
            gc.collect(1)  # the young garbage of the start (a full pass: a second in tests)
            gc.freeze()
            young, middle, _ = _FOUND[0]
            gc.set_threshold(young, middle, NO_AUTOMATIC_FULL)
        _RUNNING.append(self)
        self.last = time.monotonic()
        self._timer = self.app.set_interval(FULL_EVERY_S / 5, self._tick)

    def _tick(self) -> None:
        now = time.monotonic()
        since = now - self.last
        quiet = now - self.key_hold.last_typed >= AFTER_KEY_S and not self.key_hold.waiting()
        if since >= LATEST_S or (since >= FULL_EVERY_S and quiet):
            gc.collect()
            self.last = time.monotonic()

    def stop(self) -> None:
        """The app is leaving: the process's collector as it was, after the last console."""
        if not self.started:
            return
        self.started = False
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        _RUNNING.remove(self)
        if not _RUNNING:
            gc.set_threshold(*_FOUND.pop())
            gc.unfreeze()


class SnapshotGate:
    """Snapshots in from the poll, applied when no key waits for its screen; the collector
    started once the first one is on screen."""

    def __init__(self, app: Any, key_hold: KeyHold, apply: Callable[[Snapshot], None],
                 collector: Collector) -> None:
        self.app = app
        self.key_hold = key_hold
        self.apply = apply
        self.collector = collector
        self.pending: Snapshot | None = None
        self.since = 0.0
        self._timer: Any = None

    def offer(self, snapshot: Snapshot) -> None:
        if self.pending is None:
            self.since = time.monotonic()
        self.pending = snapshot
        self._check()

    def _hidden(self) -> bool:
        """The panels are not on screen: an opaque screen is on top of them."""
        stack = self.app.screen_stack
        return len(stack) > 1 and all(s.styles.background.a == 1 for s in stack[1:])

    def _check(self) -> None:
        snapshot = self.pending
        if snapshot is None:
            self._arm(False)
            return
        waited = time.monotonic() - self.since
        if self._hidden() or (self.key_hold.waiting() and waited < MAX_DEFER_S):
            self._arm(True)
            return
        self.pending = None
        self._arm(False)
        self.apply(snapshot)
        if not self.collector.started:
            self.app.call_after_refresh(self.collector.start)

    def _arm(self, needed: bool) -> None:
        if needed and self._timer is None:
            self._timer = self.app.set_interval(CHECK_EVERY_S, self._check)
        elif not needed and self._timer is not None:
            self._timer.stop()
            self._timer = None
