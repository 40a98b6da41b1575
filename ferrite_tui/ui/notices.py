"""What the operator is told: every notification literal text, kept in `notices`, errors
pinned until dismissed, one toast per repeating subject, and an internal error as one line
(the traceback in a file), never a traceback on the screen."""

from __future__ import annotations

import traceback
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import App
from textual.notifications import Notification, Notify, SeverityLevel

from ferrite_tui.escaping import printable, printable_lines
from ferrite_tui.ui.widgets.notices import NoticeLine

# Error toasts stay this long unless dismissed (Textual needs a finite timeout).
ERROR_TOAST_S = 24 * 3600.0


@dataclass(frozen=True)
class Notice:
    """One notification as shown: always literal text (markup is never read)."""

    message: str
    severity: str
    markup: bool = False



class NoticesApp(App[None]):
    """The app's notifications and its way out on an internal error."""

    def __init__(self, crash_log: Path) -> None:
        super().__init__()
        self.notices: deque[Notice] = deque(maxlen=500)
        self.crash_log = crash_log
        # Notices get lines of their own (NoticeLine), not toasts over the data.
        self._disable_notifications = True

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Every notification is literal text: messages carry key names, values and server
        errors, which must never be read as markup (widgets pass markup=True by default).
        The last few are kept in `notices` (what the operator was told; tests read it).
        Errors need reading, so they stay until dismissed (escape)."""
        # The last gate for server text in a toast: each line escaped (callers escape
        # names already; printable leaves escaped text as it is).
        message = printable_lines(message)
        title = printable(title)
        self.notices.append(Notice(message, severity))
        if severity == "error":
            timeout = ERROR_TOAST_S
            title = title or "error (escape dismisses)"
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def _refresh_notifications(self) -> None:
        super()._refresh_notifications()
        if self.screen_stack:
            for line in self.screen_stack[0].query(NoticeLine):
                line.show(self._notifications)

    def pinned_errors(self) -> list:
        return [n for n in self._notifications if n.severity == "error"]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "dismiss_errors":
            return bool(self.pinned_errors())
        return True

    def action_dismiss_errors(self) -> None:
        for note in self.pinned_errors():
            self._unnotify(note)

    def _fatal_error(self) -> None:
        """An internal error exits with one line; the traceback goes to a file."""
        try:
            self.crash_log.parent.mkdir(parents=True, exist_ok=True)
            # Exceptions quote key names: escaped, so the file is valid UTF-8 and safe to cat.
            self.crash_log.write_text(printable_lines(traceback.format_exc()))
            where = str(self.crash_log)
        except OSError:
            where = "(could not write the crash log)"
        self._exit_renderables.append(
            Text(f"ferrite-tui stopped on an internal error; details in {where}")
        )
        self._close_messages_no_wait()




class RepeatingNotices:
    def __init__(self) -> None:
        # subject -> (the toast shown, its message without the count, how many times)
        self._shown: dict[str, tuple[Notification, str, int]] = {}

    def show(self, app: Any, subject: str, message: str, *, severity: str = "error",
             timeout: float | None = None) -> None:
        count = 1
        previous = self._shown.get(subject)
        if previous is not None:
            toast, text, seen = previous
            if toast in app._notifications:
                if text == message:
                    count = seen + 1
                app._unnotify(toast)
        shown = message if count == 1 else f"{message} (×{count})"
        toast = Notification(shown, "", severity,  # type: ignore[arg-type]
                             app.NOTIFICATION_TIMEOUT if timeout is None else timeout,
                             markup=False)
        app.post_message(Notify(toast))
        self._shown[subject] = (toast, message, count)
