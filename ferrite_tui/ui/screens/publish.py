"""The stream publish dialog (XADD with field/value rows), used by the Streams panel."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ferrite_tui.backend import streams as st
from ferrite_tui.escaping import printable
from ferrite_tui.ui.screens.dialogs import DIALOG_CSS


class PublishScreen(ModalScreen[tuple[str, list[tuple[str, str]], int | None] | None]):
    """XADD with field/value rows: by default one `data` field whose JSON is validated.

    ctrl+n adds a row; a row with an empty name is left out. Dismisses with
    (stream, [(field, value), ...], maxlen or None), or None on escape."""

    DEFAULT_CSS = DIALOG_CSS.replace("{name}", "PublishScreen") + """
    PublishScreen #pub-rows { height: auto; max-height: 14; }
    PublishScreen .pub-row { height: auto; margin: 0; }
    PublishScreen .pub-row Input { margin: 0; }
    PublishScreen .pub-name { width: 18; }
    PublishScreen .pub-value { width: 1fr; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel"),
                Binding("ctrl+n", "add_row", "Add field", id="publish.add_row")]

    def __init__(self, stream: str) -> None:
        super().__init__()
        self.stream = stream
        self.rows = 0

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Publish to a stream (XADD)"), classes="dialog-title")
            yield Label(Text("stream"))
            # The stream's name as shown everywhere (escaped); left as it is, it is the name.
            yield Input(printable(self.stream), id="pub-stream")
            yield Label(Text("fields (name, value); a `data` value must be JSON · ctrl+n adds"))
            with VerticalScroll(id="pub-rows"):
                yield self._row("data", "{}")
            yield Label(Text("MAXLEN ~ (optional: trim the stream to about this length)"))
            yield Input("", placeholder="e.g. 10000", id="pub-maxlen")
            yield Static(classes="dialog-error", id="error")
            with Horizontal():
                yield Button("Publish", variant="primary", id="ok")
                yield Button("Add field (ctrl+n)", id="add")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#pub-value-0", Input).focus()

    def _row(self, name: str = "", value: str = "") -> Horizontal:
        i = self.rows
        self.rows += 1
        return Horizontal(Input(name, placeholder="field", id=f"pub-name-{i}",
                                classes="pub-name"),
                          Input(value, placeholder="value", id=f"pub-value-{i}",
                                classes="pub-value"), classes="pub-row")

    async def action_add_row(self) -> None:
        row = self._row()
        await self.query_one("#pub-rows").mount(row)
        row.query_one(".pub-name", Input).focus()

    def values(self) -> tuple[str, list[tuple[str, str]], str]:
        fields = []
        for i in range(self.rows):
            name = self.query_one(f"#pub-name-{i}", Input).value
            value = self.query_one(f"#pub-value-{i}", Input).value
            if name:
                fields.append((name, value))
        stream = self.query_one("#pub-stream", Input).value
        if stream == printable(self.stream):
            stream = self.stream
        return stream, fields, self.query_one("#pub-maxlen", Input).value.strip()

    def problem(self) -> str | None:
        stream, fields, maxlen = self.values()
        if not stream:
            return "give the stream's key"
        if not fields:
            return "give at least one field"
        for name, value in fields:
            if name == "data":
                bad = st.validate_json(value)
                if bad:
                    return f"data: {bad}"
        if maxlen and not maxlen.isdigit():
            return "MAXLEN: a whole number, or empty"
        return None

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _submit(self) -> None:
        problem = self.problem()
        if problem:
            self.query_one("#error", Static).update(Text(printable(problem)))
            return
        stream, fields, maxlen = self.values()
        self.dismiss((stream, fields, int(maxlen) if maxlen else None))

    @on(Button.Pressed, "#add")
    async def _add(self) -> None:
        await self.action_add_row()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

