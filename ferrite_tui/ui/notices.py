"""What the operator is told: every notification literal text, kept in `notices`, errors
pinned until dismissed, one notice per repeating subject, and an internal error as one line
(the traceback in a file), never a traceback on the screen.

The notices shown are the console's own (`noticeboard.NoticeBoard`), drawn by the main
screen's `NoticeLine`s; Textual's toasts are off (`textual_private.disable_toasts`)."""

from __future__ import annotations

import traceback
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import App
from textual.message import Message
from textual.notifications import SeverityLevel

from ferrite_tui.escaping import printable, printable_lines
from ferrite_tui.ui.noticeboard import NoticeBoard, ShownNotice
from ferrite_tui.ui.protocols import ConsoleApp
from ferrite_tui.ui.textual_private import disable_toasts
from ferrite_tui.ui.widgets.notices import NoticeLine

ERROR_TITLE = "error (escape dismisses)"


@dataclass(frozen=True)
class Notice:
    """One notification as told (the history in `notices`): always literal text."""

    message: str
    severity: str
    markup: bool = False


class NoticeRaised(Message):
    """A notice to show: posted, so `notify` may be called from any thread (as Textual's)."""

    def __init__(self, notice: ShownNotice) -> None:
        super().__init__()
        self.notice = notice


class NoticesApp(App[None]):
    """The app's notifications and its way out on an internal error."""

    def __init__(self, crash_log: Path) -> None:
        super().__init__()
        self.notices: deque[Notice] = deque(maxlen=500)
        self.notice_board = NoticeBoard()
        self.crash_log = crash_log
        # Notices get lines of their own (NoticeLine), not toasts over the data.
        disable_toasts(self)

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Every notification is literal text: messages carry key names, values and server
        errors, which must never be read as markup (widgets pass markup=True by default).
        The last few are kept in `notices` (what the operator was told; tests read it).
        Errors need reading, so they stay until dismissed (escape)."""
        # The last gate for server text in a notice: each line escaped (callers escape
        # names already; printable leaves escaped text as it is).
        message = printable_lines(message)
        title = printable(title)
        self.notices.append(Notice(message, severity))
        if severity == "error":
            self.show_notice(ShownNotice(message, title or ERROR_TITLE, severity, None))
        else:
            self.show_notice(ShownNotice(message, title, severity,
                                         self.NOTIFICATION_TIMEOUT if timeout is None
                                         else timeout))

    def show_notice(self, notice: ShownNotice) -> None:
        self.post_message(NoticeRaised(notice))

    @on(NoticeRaised)
    def _notice_raised(self, message: NoticeRaised) -> None:
        self.notice_board.add(message.notice)
        self.refresh_notices()

    def refresh_notices(self) -> None:
        """The main screen's notice lines show the board as it is now."""
        stack = self.screen_stack
        if stack:
            for line in stack[0].query(NoticeLine):
                line.show(self.notice_board)

    def pinned_errors(self) -> list[ShownNotice]:
        return self.notice_board.errors()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "dismiss_errors":
            return bool(self.pinned_errors())
        return True

    def action_dismiss_errors(self) -> None:
        for note in self.pinned_errors():
            self.notice_board.remove(note)
        self.refresh_notices()

    def _fatal_error(self) -> None:  # Textual's hook (listed in textual_private.HOOKS)
        """An internal error exits with one line; the traceback goes to a file."""
        try:
            self.crash_log.parent.mkdir(parents=True, exist_ok=True)
            # Exceptions quote key names: escaped, so the file is valid UTF-8 and safe to cat.
            self.crash_log.write_text(printable_lines(traceback.format_exc()))
            where = str(self.crash_log)
        except OSError:
            where = "(could not write the crash log)"
        self.panic(Text(f"ferrite-tui stopped on an internal error; details in {where}"))


class RepeatingNotices:
    """One notice per subject that repeats (a read failing on every poll): shown again,
    it replaces the last one and counts (×N) while the text stays the same."""

    def __init__(self) -> None:
        # subject -> (the notice shown, its message without the count, how many times)
        self._shown: dict[str, tuple[ShownNotice, str, int]] = {}

    def show(self, app: ConsoleApp, subject: str, message: str, *, severity: str = "error",
             timeout: float | None = None) -> None:
        count = 1
        previous = self._shown.get(subject)
        if previous is not None:
            notice, text, seen = previous
            if app.notice_board.is_shown(notice):
                if text == message:
                    count = seen + 1
                app.notice_board.remove(notice)
                app.refresh_notices()
        shown = message if count == 1 else f"{message} (×{count})"
        notice = ShownNotice(shown, "", severity,
                             app.NOTIFICATION_TIMEOUT if timeout is None else timeout)
        app.show_notice(notice)
        self._shown[subject] = (notice, message, count)
