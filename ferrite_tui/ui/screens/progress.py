"""A modal progress bar for bulk work, with cancel (escape or c), and `with_progress`, the
one way a bulk run shows it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, ProgressBar, Static

from ferrite_tui.backend.bulk import BulkReport, Cancel
from ferrite_tui.escaping import printable
from ferrite_tui.ui.screens.dialogs import DIALOG_CSS


class ProgressScreen(ModalScreen[None]):
    """Shows a bulk run's progress: `with_progress` wires it."""

    DEFAULT_CSS = DIALOG_CSS.replace("{name}", "ProgressScreen")
    BINDINGS = [Binding("escape,c", "cancel", "Cancel")]

    def __init__(self, title: str, total: int, cancel: Cancel) -> None:
        super().__init__()
        self.title_text = title
        self.total = total
        self.cancel = cancel
        self.finished = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(printable(self.title_text)), classes="dialog-title")
            yield ProgressBar(total=max(self.total, 1), id="bar")
            yield Static(Text(f"0 of {self.total}"), id="counts")
            yield Button("Cancel (c)", id="cancel")

    def update(self, report: BulkReport) -> None:
        if not self.is_mounted:
            return
        self.query_one("#bar", ProgressBar).update(progress=report.processed)
        self.query_one("#counts", Static).update(
            # The summary quotes the server's reasons for failed items.
            Text(printable(f"{report.processed} of {report.total}: {report.summary()}")))

    def on_mount(self) -> None:
        if self.finished:  # the work ended before the dialog was even shown
            self.dismiss(None)

    def finish(self) -> None:
        self.finished = True
        if self.is_mounted:
            self.dismiss(None)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.cancel.set()
        self.query_one("#counts", Static).update(Text("cancelling after this chunk…"))


Work = Callable[[Callable[[BulkReport], None], Cancel], Awaitable[BulkReport]]


async def with_progress(app: App[object], title: str, total: int, work: Work) -> BulkReport:
    """Run `work(progress, cancel)` (a BulkRunner, or a backend call that takes both) with
    the progress dialog shown; the dialog closes however the work ends."""
    cancel = Cancel()
    screen = ProgressScreen(title, total, cancel)
    await app.push_screen(screen)  # mounted before finish() can dismiss it
    try:
        return await work(screen.update, cancel)
    finally:
        screen.finish()
