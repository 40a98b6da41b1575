"""Notifications on their own lines above the footer.

Floating toasts covered table rows (the selected one among them) and dialogs. Here the
latest notices take one line each, docked under the data, which makes room for them: they
never cover anything. Errors stay until escape dismisses them (see FerriteApp.notify).
"""

from __future__ import annotations

from rich.text import Text
from textual.notifications import Notification
from textual.timer import Timer
from textual.widget import Widget

from ferrite_tui.backend.envelopes import printable

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
        self.notes: list[Notification] = []
        self._timer: Timer | None = None

    def show(self, notifications) -> None:
        notes = list(notifications)
        # Errors first (they wait to be read), then the newest.
        notes.sort(key=lambda n: (n.severity != "error", -n.raised_at))
        self.notes = notes[:SHOWN]
        self.display = bool(self.notes)
        self.refresh(layout=True)
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if notes:
            # Come back when the next one expires (reading the app's list reaps it).
            soonest = min(n.time_left for n in notes)
            self._timer = self.set_timer(max(soonest, 0.05) + 0.05,
                                         lambda: self.show(self.app._notifications))

    def render(self) -> Text:
        out = Text(no_wrap=True, overflow="ellipsis")
        more = len(list(self.app._notifications)) - len(self.notes)
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
