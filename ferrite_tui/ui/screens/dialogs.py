"""Small modal dialogs every panel uses: confirm, typed confirm, and a form.

All text passed in is shown literally (Text, never markup). Titles, labels and the values a
form starts with may be server text (key, group, consumer and channel names): they are
shown through `printable`, as everywhere else (a body is a Text its caller built so).

A dialog's screen is opaque: over the panels dimmed (Textual's see-through modal), its first
frame was the whole panel screen rendered again and tinted cell by cell, and so was every
poll's change while it stayed open: 2-3 times the CPU of the dialog itself, on a machine
where the console gets a third of a core. The dialog names what it acts on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ferrite_tui.escaping import matches_typed, printable
from ferrite_tui.ui.textual_private import bind_key
from ferrite_tui.ui.widgets.table import escaped_text
from ferrite_tui.websession import BrowserSession

DIALOG_CSS = """
{name} { align: center middle; background: $background; }
{name} > Vertical {
    width: 76; max-width: 95%; height: auto; max-height: 100%;
    border: thick $warning 60%; background: $surface; padding: 0 1;
}
{name} DialogBody { height: auto; }
{name} .dialog-title { text-style: bold; margin-bottom: 1; }
{name} .dialog-error { color: $error; height: auto; }
{name} Horizontal { height: auto; margin-top: 1; }
{name} Horizontal.dialog-buttons { dock: bottom; margin-top: 0; }
{name} Button { margin-right: 2; }
{name} Input { margin-bottom: 1; }
"""


class DialogBody(VerticalScroll, can_focus=False):
    """Everything above a dialog's buttons; scrolls when the terminal is short, so the
    buttons (docked under it) are always on screen."""


class ConfirmScreen(ModalScreen[bool]):
    """Yes/no. `y` or enter on the button confirms; `n` or escape cancels."""

    DEFAULT_CSS = DIALOG_CSS.replace("{name}", "ConfirmScreen")
    BINDINGS = [Binding("escape,n", "cancel", "Cancel"), Binding("y", "confirm", "Yes")]

    def __init__(self, title: str, body: str | Text, confirm_label: str = "Yes") -> None:
        super().__init__()
        self.title_text = title
        self.body = escaped_text(body if isinstance(body, Text) else Text(body), lines=True)
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical():
            with DialogBody():
                yield Static(Text(printable(self.title_text)), classes="dialog-title")
                yield Static(self.body)
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.confirm_label} (y)", variant="warning", id="yes")
                yield Button("Cancel (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()  # the safe choice has focus

    @on(Button.Pressed, "#yes")
    def action_confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#no")
    def action_cancel(self) -> None:
        self.dismiss(False)


class ChoiceScreen(ModalScreen[str | None]):
    """One of several named choices, none preselected but the safe one (escape: `safe`).
    `choices`: (value, button label, key)."""

    DEFAULT_CSS = DIALOG_CSS.replace("{name}", "ChoiceScreen")

    def __init__(self, title: str, body: str | Text, choices: list[tuple[str, str, str]],
                 safe: str) -> None:
        super().__init__()
        self.title_text = title
        self.body = body if isinstance(body, Text) else Text(body)
        self.choices = choices
        self.safe = safe
        for value, _label, key in choices:
            bind_key(self, key, f"choose({value!r})")
        bind_key(self, "escape", f"choose({safe!r})")

    def compose(self) -> ComposeResult:
        with Vertical():
            with DialogBody():
                yield Static(Text(self.title_text), classes="dialog-title")
                yield Static(self.body)
            with Horizontal(classes="dialog-buttons"):
                for value, label, key in self.choices:
                    yield Button(f"{label} ({key})", id=f"choice-{value}",
                                 variant="default" if value == self.safe else "warning")

    def on_mount(self) -> None:
        self.query_one(f"#choice-{self.safe}", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(str(event.button.id).removeprefix("choice-"))

    def action_choose(self, value: str) -> None:
        self.dismiss(value)


class TypedConfirmScreen(ModalScreen[bool]):
    """For irreversible bulk actions: the operator types `expected` (e.g. the key name) as
    shown, escapes included (a name with a newline or ESC cannot be typed as it is), or
    the name itself."""

    DEFAULT_CSS = DIALOG_CSS.replace("{name}", "TypedConfirmScreen")
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, body: str | Text, expected: str) -> None:
        super().__init__()
        self.title_text = title
        self.body = escaped_text(body if isinstance(body, Text) else Text(body), lines=True)
        self.expected = expected

    def compose(self) -> ComposeResult:
        with Vertical():
            with DialogBody():
                yield Static(Text(printable(self.title_text)), classes="dialog-title")
                yield Static(self.body)
                yield Label(Text(f"Type {printable(self.expected)} to confirm:"))
                yield Input(id="typed")
                yield Static(classes="dialog-error", id="error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Confirm", variant="error", id="yes")
                yield Button("Cancel", id="no")

    def on_mount(self) -> None:
        self.query_one("#typed", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#yes")
    def _submit(self) -> None:
        if matches_typed(self.query_one("#typed", Input).value, self.expected):
            self.dismiss(True)
        else:
            self.query_one("#error", Static).update(Text("That is not the text asked for."))

    @on(Button.Pressed, "#no")
    def action_cancel(self) -> None:
        self.dismiss(False)


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    value: str = ""
    placeholder: str = ""
    password: bool = False
    # Returns an error message, or None when the value is fine.
    check: Callable[[str], str | None] | None = None


def check_output_path(path: str) -> str | None:
    """A Field check for a file to write (save, export, record)."""
    browser = BrowserSession.from_environ()
    if browser is not None and not browser.writes:
        # The file would land on the serving host, written by a read-only visitor.
        return "read-only browser session: files cannot be written on the server host"
    if not path.strip():
        return "give a file name"
    target = Path(path).expanduser()
    if target.is_dir():
        return "that is a directory"
    if not target.parent.exists():
        return "the directory does not exist"
    return None


class FormScreen(ModalScreen[dict[str, str] | None]):
    """A few labelled inputs; dismisses with {name: value} or None on escape."""

    DEFAULT_CSS = DIALOG_CSS.replace("{name}", "FormScreen")
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, fields: list[Field], submit_label: str = "OK",
                 body: str | Text | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.fields = fields
        self.submit_label = submit_label
        self.body = body

    def compose(self) -> ComposeResult:
        with Vertical():
            with DialogBody():
                yield Static(Text(printable(self.title_text)), classes="dialog-title")
                if self.body is not None:
                    yield Static(escaped_text(self.body if isinstance(self.body, Text)
                                              else Text(self.body), lines=True))
                for f in self.fields:
                    yield Label(Text(printable(f.label)))
                    yield Input(printable(f.value), placeholder=printable(f.placeholder),
                                password=f.password, id=f"field-{f.name}")
                yield Static(classes="dialog-error", id="error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.submit_label, variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        # Keys typed before the dialog appeared wait for this (see ui/keyhold.py).
        if self.fields:
            self.query_one(f"#field-{self.fields[0].name}", Input).focus()

    def values(self) -> dict[str, str]:
        """What was typed; a value left as it was shown is the original (a default that
        is server text, such as a key name with a control character, is shown escaped)."""
        out = {}
        for f in self.fields:
            typed = self.query_one(f"#field-{f.name}", Input).value
            out[f.name] = f.value if typed == printable(f.value) else typed
        return out

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _submit(self) -> None:
        values = self.values()
        for f in self.fields:
            problem = f.check(values[f.name]) if f.check else None
            if problem:
                self.query_one("#error", Static).update(
                    Text(printable(f"{f.label}: {problem}")))
                self.query_one(f"#field-{f.name}", Input).focus()
                return
        self.dismiss(values)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
