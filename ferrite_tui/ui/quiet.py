"""Work that can wait, waits while a key is on its way to its dialog.

On a 2-core machine with one busy process per core the console gets about a third of a
core, and a dialog came 1-4 s after its key. Measured between the key and the dialog's
first frame (time stamps on the event loop, cProfile of the app): the key waited behind
- the poll's snapshot applied to the panels and the layout that follows (60-400 ms of CPU
  on the Scheduled and Pub/Sub panels at 200x60), and
- the garbage collector's full passes (every 1.5-2 s, 100-230 ms of CPU each, over the
  heap loaded at start and a reference cycle per line drawn: ui/textual_private.py).
So a snapshot that arrives while a key waits (ui/keyhold.py `waiting`) is kept and applied
once the key's dialog is drawn (only the newest: a snapshot is the whole state), and not
while the panels are hidden behind an opaque screen (a dialog's): then when it closes;
and no collection starts while a key waits (`Collector`).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

from ferrite_tui.backend.models import Snapshot
from ferrite_tui.ui.keyhold import KeyHold
from ferrite_tui.ui.textual_private import free_strips_without_collector

CHECK_EVERY_S = 0.05
# A key that keeps the poll waiting longer than this (a bulk action's worker, keys typed
# without pause) lets it through: the data on screen is never older than this for a key.
MAX_DEFER_S = 2.0


# The consoles running in this process that froze its heap (tests run several in turn),
# and those holding automatic collections back, with the threshold found before.
_FROZEN_BY: list[object] = []
_PAUSED_BY: list[object] = []
_YOUNG_THRESHOLD: list[int] = []
# Keys come in bursts (a panel's key, then its dialog's): collections stay held back until
# none came for AFTER_KEY_S, or for LONGEST_S at most while no key waits; past MAX_PAUSE_S
# they run whatever waits (the garbage of a longer pause is bounded).
AFTER_KEY_S = 1.0
LONGEST_S = 5.0
MAX_PAUSE_S = 10.0


class Collector:
    """The garbage collector kept out of the way of keys. Its full passes came every
    1.5-2 s at 100-230 ms of CPU each, and on a busy machine one often fell between a key
    and its dialog. So
    - the heap loaded at start (modules, classes, styles, the first screen's widgets) is
      frozen once the first data is on screen: full passes no longer walk it;
    - while a key waits for what it asked for (its dialog drawn), and for a second after
      the last key, no collection starts: the garbage made meanwhile is collected after.
    Automatic collection otherwise stays as Python has it: holding full passes back for
    longer let cyclic garbage pile up (the big-value fault test ran 1.5-2x as long)."""

    def __init__(self, app: Any, key_hold: KeyHold) -> None:
        self.app = app
        self.key_hold = key_hold
        self.frozen = False
        self.paused_at: float | None = None
        self.last_key = 0.0
        self._timer: Any = None
        free_strips_without_collector()  # a frame's lines, freed by reference counting
        key_hold.key_listeners.append(self.key_typed)

    def data_shown(self) -> None:
        """A snapshot went to the panels: the first one freezes the heap once drawn."""
        if not self.frozen:
            self.app.call_after_refresh(self.freeze)

    def freeze(self) -> None:
        """Once the first data is on screen: what is loaded by then stays for good."""
        if self.frozen or not self.app.is_running:
            return
        self.frozen = True
        if not _FROZEN_BY:
            gc.collect(1)  # the young garbage of the start, not frozen with it
            gc.freeze()
        _FROZEN_BY.append(self)

    def key_typed(self) -> None:
        """A key came: no collection until it has done what it asked for."""
        self.last_key = time.monotonic()
        if self.paused_at is None:
            self.paused_at = self.last_key
            if not _PAUSED_BY:
                _YOUNG_THRESHOLD.append(gc.get_threshold()[0])
                gc.set_threshold(0)  # (0: no automatic collection; gc.disable is the poll's)
            _PAUSED_BY.append(self)
        if self._timer is None:
            self._timer = self.app.set_interval(CHECK_EVERY_S, self.check)

    def check(self) -> None:
        """Collections back once no key waits (checked by a timer while held back)."""
        paused_at = self.paused_at
        if paused_at is None:
            return
        now = time.monotonic()
        if now - paused_at < MAX_PAUSE_S and (self.key_hold.waiting() or (
                now - self.last_key < AFTER_KEY_S and now - paused_at < LONGEST_S)):
            return
        self._resume()

    def _resume(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self.paused_at is None:
            return
        self.paused_at = None
        _PAUSED_BY.remove(self)
        if not _PAUSED_BY:
            gc.set_threshold(_YOUNG_THRESHOLD.pop())

    def stop(self) -> None:
        """The console is leaving: after the last one, the collector as it was."""
        self._resume()
        if not self.frozen:
            return
        self.frozen = False
        _FROZEN_BY.remove(self)
        if not _FROZEN_BY:
            gc.unfreeze()


class SnapshotGate:
    """Snapshots in from the poll, applied when no key waits for its screen; the first
    one on screen freezes the heap loaded at start (`Collector`)."""

    def __init__(self, app: Any, key_hold: KeyHold, apply: Callable[[Snapshot], None]) -> None:
        self.app = app
        self.key_hold = key_hold
        self.apply = apply
        self.collector = Collector(app, key_hold)
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
        self.collector.data_shown()

    def _arm(self, needed: bool) -> None:
        if needed and self._timer is None:
            self._timer = self.app.set_interval(CHECK_EVERY_S, self._check)
        elif not needed and self._timer is not None:
            self._timer.stop()
            self._timer = None
