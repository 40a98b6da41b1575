"""One toast per subject: an error that repeats on every poll (a key whose type keeps
changing) updates its toast with a count instead of stacking a new one each time."""

from __future__ import annotations

from typing import Any

from textual.notifications import Notification, Notify


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
