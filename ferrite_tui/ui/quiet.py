"""Work that can wait, waits while a key is on its way to its dialog.

On a 2-core machine with one busy process per core the console gets about a third of a
core, and a dialog came 1-4 s after its key. Measured between the key and the dialog's
first frame (time stamps on the event loop, cProfile of the app): the key waited behind
- the poll's snapshot applied to the panels and the layout that follows (60-400 ms of CPU
  on the Scheduled and Pub/Sub panels at 200x60), and
- the garbage collector's full passes (every 1.5-2 s, 100-230 ms of CPU each; not
  addressed here).
So a snapshot that arrives while a key waits (ui/keyhold.py `waiting`) is kept and applied
once the key's dialog is drawn (only the newest: a snapshot is the whole state), and not
while the panels are hidden behind an opaque screen (a dialog's): then when it closes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ferrite_tui.backend.models import Snapshot
from ferrite_tui.ui.keyhold import KeyHold

CHECK_EVERY_S = 0.05
# A key that keeps the poll waiting longer than this (a bulk action's worker, keys typed
# without pause) lets it through: the data on screen is never older than this for a key.
MAX_DEFER_S = 2.0


class SnapshotGate:
    """Snapshots in from the poll, applied when no key waits for its screen."""

    def __init__(self, app: Any, key_hold: KeyHold, apply: Callable[[Snapshot], None]) -> None:
        self.app = app
        self.key_hold = key_hold
        self.apply = apply
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

    def _arm(self, needed: bool) -> None:
        if needed and self._timer is None:
            self._timer = self.app.set_interval(CHECK_EVERY_S, self._check)
        elif not needed and self._timer is not None:
            self._timer.stop()
            self._timer = None
