"""The notices on screen now: the console's own model, not Textual's toasts.

What the operator is told is shown on lines of its own (`widgets/notices.py`); this holds
what those lines show. An error is pinned until dismissed (escape); other notices go when
their time is up; a notice that repeats (a read failing on every poll) is one notice whose
count goes up (`RepeatingNotices` in `notices.py`). No Textual here: plain data.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field


@dataclass(eq=False)
class ShownNotice:
    """One notice on screen: literal text (markup is never read)."""

    message: str
    title: str = ""
    severity: str = "information"
    timeout: float | None = None  # seconds; None: pinned until dismissed
    raised_at: float = field(default_factory=time.time)

    @property
    def time_left(self) -> float:
        """Seconds until it goes (infinite while pinned)."""
        if self.timeout is None:
            return math.inf
        return self.raised_at + self.timeout - time.time()


class NoticeBoard:
    """The notices shown now, in the order raised; expired ones go as the board is read."""

    def __init__(self) -> None:
        self._shown: list[ShownNotice] = []

    def add(self, notice: ShownNotice) -> None:
        self._shown.append(notice)

    def remove(self, notice: ShownNotice) -> None:
        self._shown = [n for n in self._shown if n is not notice]

    def shown(self) -> list[ShownNotice]:
        """The notices shown now (reaping the ones whose time is up)."""
        self._shown = [n for n in self._shown if n.time_left > 0]
        return list(self._shown)

    def is_shown(self, notice: ShownNotice) -> bool:
        return any(n is notice for n in self.shown())

    def errors(self) -> list[ShownNotice]:
        return [n for n in self.shown() if n.severity == "error"]
