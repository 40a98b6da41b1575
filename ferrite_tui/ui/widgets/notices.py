"""Notifications on their own lines above the footer.

Floating toasts covered table rows (the selected one among them) and dialogs. Here the
latest notices take one line each, docked under the data, which makes room for them: they
never cover anything. Errors stay until escape dismisses them (see NoticesApp.notify).
What they show is the console's own `NoticeBoard`.
"""

from __future__ import annotations

import math

from rich.text import Text
from textual.timer import Timer
from textual.widget import Widget

from ferrite_tui.backend.envelopes import printable
from ferrite_tui.ui.noticeboard import NoticeBoard, ShownNotice

SHOWN = 2  # at most this many lines: the data keeps the rest of the screen
STYLE = {"information": "green", "warning": "yellow", "error": "bold red"}


class NoticeLine(Widget):
    DEFAULT_CSS = """
    NoticeLine {
        dock: bottom;
        height: auto;
        max-height: 2;
        background: $panel;
        display: none;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.notes: list[ShownNotice] = []
        self.more = 0  # notices shown beyond these lines
        self._timer: Timer | None = None

    def show(self, board: NoticeBoard) -> None:
        notes = board.shown()
        # Errors first (they wait to be read), then the newest.
        notes.sort(key=lambda n: (n.severity != "error", -n.raised_at))
        self.notes = notes[:SHOWN]
        self.more = len(notes) - len(self.notes)
        self.display = bool(self.notes)
        self.refresh(layout=True)
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        soonest = min((n.time_left for n in notes), default=math.inf)
        if soonest != math.inf:
            # Come back when the next one expires (reading the board reaps it).
            self._timer = self.set_timer(max(soonest, 0.05) + 0.05, lambda: self.show(board))

    def render(self) -> Text:
        out = Text(no_wrap=True, overflow="ellipsis")
        more = self.more
        for i, note in enumerate(self.notes):
            if i:
                out.append("\n")
            style = STYLE.get(note.severity, "")
            out.append("▌ ", style=style)
            if note.title:
                out.append(f"{printable(note.title, 40)}: ", style=style)
            out.append(printable(str(note.message), 300))
            if i == 0 and more > 0:
                out.append(f"  (+{more} more)", style="dim")
        return out
