"""The message inspector every panel opens with `enter` on an item.

    InspectorScreen(title, value, meta=[(label, text), ...], fields=[(field, value), ...])

Shows the metadata, the size, and the value in one of four views: pretty-printed,
highlighted JSON (`p`), raw text (`w`), hex (`h`), and a stream entry's field list (`f`).
`c` copies the value to the clipboard (OSC 52, so it works over SSH) up to COPY_LIMIT (a
bigger value would flood the terminal: `c` says so and offers the file instead), `s` saves the
raw bytes to a file, `escape` closes. Values over 1 MB are shown truncated, with a note.

A view's text is built in a thread and the text area holds at most VIEW_LIMIT characters
(48 K; the hex view covers the first HEX_LIMIT bytes): the text area lays out everything it
holds on the event loop, so a 10 MB value must never reach it whole.

Everything from the server is shown literally: control characters (ESC and the C1 range
included) become visible escapes, so no value can drive the terminal.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen
from textual.widgets import Static, TextArea

from ferrite_tui import formatting as fmt
from ferrite_tui.backend import boundedjson
from ferrite_tui.backend.envelopes import decode
from ferrite_tui.escaping import json_safe, printable, printable_lines
from ferrite_tui.files import SAVED, default_file, resolve
from ferrite_tui.ui.screens.dialogs import Field, FormScreen, check_output_path
from ferrite_tui.websession import refuse_file_writes

#: Values larger than this are shown truncated.
SHOW_LIMIT = 1 << 20
#: The most `c` writes to the terminal as OSC 52 (base64 makes it a third larger).
COPY_LIMIT = 1 << 20
#: Characters a view puts in the text area (its layout runs on the event loop).
VIEW_LIMIT = 48 << 10
#: The hex view covers at most this many bytes (16 per line, 76 characters each).
HEX_LIMIT = 8 << 10

def pretty_json(raw: bytes) -> str | None:
    """The value pretty-printed as JSON, or None when it is not JSON."""
    try:
        data = boundedjson.loads(raw.decode("utf-8"), strict=False)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    try:
        text = json.dumps(data, indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return None
    # json.dumps escapes C0 controls but not DEL/C1 or bidi overrides: escape those too
    # (they can only occur inside strings, where \uXXXX is a valid JSON escape).
    return json_safe(text)


def raw_text(raw: bytes) -> str:
    return printable_lines(raw)


def hex_dump(raw: bytes, limit: int = HEX_LIMIT) -> str:
    lines = []
    for offset in range(0, min(len(raw), limit), 16):
        chunk = raw[offset:offset + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        ascii_ = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}  {hexes:<47}  {ascii_}")
    if len(raw) > limit:
        lines.append(f"… {len(raw) - limit:,} more bytes not shown in the hex view")
    return "\n".join(lines)


def fields_text(fields: list[tuple[bytes, bytes]]) -> str:
    out = []
    for name, value in fields:
        pretty = pretty_json(value[:SHOW_LIMIT]) if len(value) <= SHOW_LIMIT else None
        head = printable(name, 200)
        if pretty is not None and ("\n" in pretty):
            out.append(f"{head} =")
            out.extend("    " + line for line in pretty.splitlines())
        else:
            out.append(f"{head} = {printable(value[:SHOW_LIMIT])}")
    return "\n".join(out)


def _is_binary(raw: bytes) -> bool:
    try:
        raw[:4096].decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < 4090
    return b"\x00" in raw[:4096]


class InspectorScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    InspectorScreen { align: center middle; }
    InspectorScreen > Vertical {
        width: 96%; height: 92%; border: thick $accent 60%; background: $surface;
        padding: 0 1;
    }
    InspectorScreen .insp-title { text-style: bold; height: auto; }
    InspectorScreen #insp-meta { height: auto; max-height: 12; overflow-y: auto; }
    InspectorScreen #insp-info { height: auto; color: $text-muted; }
    InspectorScreen #insp-note { height: auto; color: $warning; }
    InspectorScreen TextArea { height: 1fr; }
    InspectorScreen #insp-keys { height: 1; color: $text-muted; }
    """

    BINDINGS = [
        Binding("escape,q", "close", "Close", id="inspector.close"),
        Binding("p", "view('pretty')", "Pretty JSON", id="inspector.pretty"),
        Binding("w", "view('raw')", "Raw", id="inspector.raw"),
        Binding("h", "view('hex')", "Hex", id="inspector.hex"),
        Binding("f", "view('fields')", "Fields", id="inspector.fields"),
        Binding("c,y", "copy", "Copy", id="inspector.copy"),
        Binding("s", "save", "Save", id="inspector.save"),
    ]

    def __init__(self, title: str, value: bytes, *, meta: list[tuple[str, str]] | tuple = (),
                 fields: list[tuple[bytes, bytes]] | None = None) -> None:
        super().__init__()
        if isinstance(value, str):
            value = value.encode("utf-8", "surrogateescape")
        self.title_text = title
        self.value = value or b""
        self.meta = list(meta)
        self.fields = fields
        self.rendered: str | None = None  # the view the text area holds now
        self.truncated = len(self.value) > SHOW_LIMIT
        self.shown = self.value[:SHOW_LIMIT]
        self.binary = _is_binary(self.shown)
        self._pretty = None if self.truncated or self.binary else pretty_json(self.shown)
        if fields is not None and not self.value:
            self.mode = "fields"
        elif self._pretty is not None:
            self.mode = "pretty"
        elif self.binary:
            self.mode = "hex"
        else:
            self.mode = "raw"

    # -- layout ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(printable(self.title_text, 300)), classes="insp-title")
            yield Static(self._meta_text(), id="insp-meta")
            yield Static(id="insp-info")
            yield Static(id="insp-note")
            yield TextArea("", read_only=True, soft_wrap=True, show_line_numbers=False,
                           id="insp-body")
            yield Static(Text("p pretty · w raw · h hex" + (" · f fields" if self.fields
                                                            is not None else "")
                              + " · c copy · s save · escape close"), id="insp-keys")

    def on_mount(self) -> None:
        self._show()
        self.query_one(TextArea).focus()

    def _meta_text(self) -> Text:
        out = Text()
        width = max((len(k) for k, _ in self.meta), default=0)
        for i, (label, value) in enumerate(self.meta):
            if i:
                out.append("\n")
            out.append(f"{printable(label):<{width}}  ", style="bold")
            out.append(printable(value, 400))
        return out

    def _kind_label(self) -> str:
        if self.fields is not None and not self.value:
            return "stream entry"
        if self.truncated:
            return "large value"
        env = decode(self.shown)
        label = {"job": "job envelope", "retry": "retry envelope", "scheduled": "scheduled job",
                 "dead": "dead letter", "json": "JSON", "text": "text",
                 "binary": "binary"}.get(env.kind, env.kind)
        return f"{label} ({env.note})" if env.note else label

    def body_text(self, mode: str | None = None) -> str:
        """The text of a view (the current one by default), at most VIEW_LIMIT characters."""
        mode = mode or self.mode
        if mode == "fields" and self.fields is not None:
            text = fields_text(self.fields)
        elif mode == "pretty" and self._pretty is not None:
            text = self._pretty
        elif mode == "hex":
            text = hex_dump(self.shown)
        else:
            # Decode a little more than fits: escapes only make the text longer.
            text = raw_text(self.shown[:VIEW_LIMIT + 4])
        return text[:VIEW_LIMIT]

    def _view_cut(self) -> bool:
        """Whether the current view shows less than the (shown part of the) value."""
        if self.mode == "hex":
            return len(self.shown) > HEX_LIMIT
        if self.mode == "pretty" and self._pretty is not None:
            return len(self._pretty) > VIEW_LIMIT
        if self.mode == "fields" and self.fields is not None:
            return sum(len(n) + len(v) for n, v in self.fields) > VIEW_LIMIT
        return len(self.shown) > VIEW_LIMIT

    def _show(self) -> None:
        info = Text(f"{self._kind_label()} · {fmt.size(len(self.value))}"
                    f" ({len(self.value):,} bytes) · view: {self.mode}")
        self.query_one("#insp-info", Static).update(info)
        notes = []
        whole = "save uses the whole value" if self.copy_size() > COPY_LIMIT \
            else "copy and save use the whole value"
        if self.truncated:
            notes.append(f"Value is {fmt.size(len(self.value))}: only the first "
                         f"{fmt.size(SHOW_LIMIT)} is shown ({whole}).")
        if self.mode == "pretty" and self._pretty is None:
            notes.append("Not JSON: showing the raw value.")
        if self.mode == "hex" and len(self.shown) > HEX_LIMIT:
            notes.append(f"The hex view covers the first {fmt.size(HEX_LIMIT)}.")
        elif self._view_cut():
            notes.append(f"This view shows the first {fmt.size(VIEW_LIMIT)} characters "
                         f"({whole}).")
        note = self.query_one("#insp-note", Static)
        note.update(Text(" ".join(notes)))
        note.display = bool(notes)
        self._render_view(self.mode)

    @work(exclusive=True, group="inspector-render", exit_on_error=False)
    async def _render_view(self, mode: str) -> None:
        """Build the view's text off the event loop, then hand it to the text area."""
        text = await asyncio.to_thread(self.body_text, mode)
        if mode != self.mode or not self.is_mounted:
            return  # another view was asked for meanwhile, or the inspector was closed
        area = self.query_one(TextArea)
        language = "json" if mode == "pretty" and self._pretty is not None else None
        if language and language not in area.available_languages:
            language = None
        try:
            area.language = language
        except Exception:  # highlighting is a nicety; never fail the inspector over it
            area.language = None
        area.load_text(text)
        self.rendered = mode

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        # File names and errors are shown literally, never as markup.
        super().notify(message, title=title, severity=severity, timeout=timeout,
                       markup=markup)

    # -- actions -----------------------------------------------------------------------

    def action_close(self) -> None:
        self.dismiss(None)

    def action_view(self, mode: str) -> None:
        if mode == "fields" and self.fields is None:
            self.notify("No field list for this item", timeout=2)
            return
        if mode == "pretty" and self._pretty is None:
            reason = ("it is over 1 MB" if self.truncated else "it is binary" if self.binary
                      else "it is not JSON")
            self.notify(f"No JSON view: {reason}", timeout=2)
            return
        self.mode = mode
        self._show()

    def copy_text(self) -> str:
        if self.fields is not None and not self.value:
            return fields_text(self.fields)
        return self.value.decode("utf-8", errors="backslashreplace")

    def copy_size(self) -> int:
        if self.fields is not None and not self.value:
            return sum(len(n) + len(v) for n, v in self.fields)
        return len(self.value)

    def action_copy(self) -> None:
        size = self.copy_size()
        if size > COPY_LIMIT:
            self.notify(f"Not copied: the value is {fmt.size(size)}, over the "
                        f"{fmt.size(COPY_LIMIT)} a copy sends to the terminal; save it to a "
                        "file instead", severity="warning", timeout=6)
            self.action_save()
            return
        text = self.copy_text()
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied {len(text):,} characters (OSC 52)", timeout=2)

    def action_save(self) -> None:
        if refuse_file_writes(self.notify, "save"):
            return

        default = default_file(SAVED, "value", ".bin")
        self.app.push_screen(
            FormScreen("Save the raw value to a file",
                       [Field("path", f"File (a bare name goes to {default.parent})",
                              str(default),
                              check=lambda v: check_output_path(str(resolve(v, SAVED))))],
                       submit_label="Save"),
            self._save_to,
        )

    def save_to(self, path: str) -> Path:
        target = resolve(path, SAVED)
        data = self.value
        if self.fields is not None and not self.value:
            data = self.copy_text().encode("utf-8")
        target.write_bytes(data)
        return target

    def _save_to(self, values: dict[str, str] | None) -> None:
        if not values:
            return
        try:
            target = self.save_to(values["path"])
        except OSError as exc:
            self.notify(f"Cannot save: {exc.strerror or exc}", severity="error")
            return
        self.notify(f"Saved {len(self.value):,} bytes to {printable(str(target), 200)}",
                    timeout=3)
