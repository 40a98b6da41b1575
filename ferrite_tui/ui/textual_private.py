"""Every use of Textual's private names, in one place, each with why it is needed.

Textual is pinned `>=8,<9`; a private name may still go in a minor release. Code elsewhere
in the console calls the functions here (or, for a hook Textual calls, overrides the name
listed in `HOOKS`), so a rename is one edit in this file. `tests/test_textual_private.py`
checks that every name in `USED` still exists on the installed Textual classes, and names
the one that went.

Where Textual 8 has a public way, the console uses it instead: `App.screen_stack` (not
`_screen_stack`), `App.is_running` (not `_running`), `App.panic` (not `_exit_renderables`
and `_close_messages_no_wait`), and notices of the console's own (`ui/noticeboard.py`, not
`_notifications`, `_unnotify` and `_refresh_notifications`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.cells import get_character_cell_size
from rich.console import Console
from rich.control import Control
from rich.style import Style
from textual._compositor import ChopsUpdate, LayoutUpdate
from textual.app import App
from textual.binding import Binding
from textual.dom import DOMNode
from textual.driver import Driver
from textual.geometry import Size
from textual.message import Message
from textual.message_pump import MessagePump
from textual.screen import Screen
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

# (class, private name, why the console needs it): the test checks each exists.
USED: tuple[tuple[type, str, str], ...] = (
    (App, "_driver",
     "served in a browser: the web driver's meta channel carries the console's location "
     "to the page (ui/weblocation.py)"),
    (Driver, "_app",
     "the web driver's navigation from the page is posted to the app it drives"),
    (App, "_disable_notifications",
     "no toast rack on screens: notices have lines of their own (NoticeLine), never over "
     "the data; only run_test(notifications=...) sets it publicly"),
    (App, "_fatal_error",
     "the hook Textual calls on an unhandled exception: one line out and the traceback "
     "to a file, never on the screen"),
    (Screen, "_callbacks",
     "key bursts: a screen callback waiting for the next refresh (focus after a tab "
     "switch) must run before the next held key"),
    (Message, "_stop_propagation",
     "key bursts: whether a widget stopped the key in flight (handled there)"),
    (MessagePump, "_message_queue",
     "key bursts: messages still waiting at a widget that may move focus (read only)"),
    (App, "_display",
     "the hook that writes a frame to the terminal: keys wait until the screen on top has "
     "been drawn whole (ui/keyhold.py)"),
    (App, "_batch_count",
     "a frame computed while an update batch is open is thrown away by _display: not drawn"),
    (ChopsUpdate, "render_segments",
     "a partial frame writes only the cells that changed (ChangedCellsUpdate), not each "
     "line from the widget's left edge: the bytes an age ticking in a table row costs"),
    (LayoutUpdate, "render_segments",
     "a whole frame is what the terminal shows next (TerminalShadow)"),
    (DataTable, "_data",
     "a changed cell repainted alone (update_cell repaints the whole table)"),
    (DataTable, "_update_count", "the row caches are keyed on it: bumped with a cell"),
    (DOMNode, "_bindings",
     "a node's bindings for a key, after the keymap (a disabled key says why), and "
     "bindings a dialog adds per instance (its choice keys)"),
)

# Public methods of Textual's replaced in the process, with why (checked by the same test).
REPLACED: tuple[tuple[type, str, str], ...] = (
    (Strip, "divide",
     "a strip divided at its own length cached [itself] in its own cache: a reference cycle "
     "per line drawn, freed only by the garbage collector (a third of its garbage)"),
)

# Textual-serve (the browser) is subclassed in ferrite_tui/serve.py: the names it overrides
# or reads, checked by the same test.
SERVE_USED: tuple[tuple[str, str, str], ...] = (
    ("textual_serve.app_service:AppService", "_build_environment",
     "the console's environment (the browser session's limits) for its process"),
    ("textual_serve.app_service:AppService", "_open_app_process",
     "start the console with the argv and environment of the session"),
    ("textual_serve.server:Server", "_make_app", "the routes of `serve`"),
    ("textual_serve.server:Server", "_process_messages",
     "the page's messages, within the session's limits"),
)

# Hooks the console overrides by their private names (listed in USED too).
HOOKS = ("_fatal_error", "_display")


_textual_divide = Strip.divide


def _divide_without_cycle(strip: Strip, cuts: Iterable[int]) -> Sequence[Strip]:
    """`Strip.divide`, but a strip cut only at its own end is returned as it is, not cached
    in itself: freed when the frame is, not left to the garbage collector."""
    length = strip.cell_length
    kept = [cut for cut in cuts if cut <= length]
    if kept == [length]:
        return [strip]
    return _textual_divide(strip, kept)


def free_strips_without_collector() -> None:
    """Strips (a frame's lines) freed by reference counting (see REPLACED)."""
    Strip.divide = _divide_without_cycle  # type: ignore[method-assign,assignment]


def app_driver(app: App[Any]) -> Driver | None:
    """The driver the app runs on (None before it starts)."""
    return app._driver


def driven_app(driver: Driver) -> App[Any]:
    """The app a driver drives."""
    return driver._app


def disable_toasts(app: App[Any]) -> None:
    """Screens get no toast rack (set before the first screen is composed)."""
    app._disable_notifications = True


def screen_callbacks_pending(screen: Screen[Any]) -> bool:
    """Whether a callback waits for the screen's next refresh (a focus() after a switch)."""
    return bool(screen._callbacks)


def propagation_stopped(message: Message) -> bool:
    """Whether a handler stopped this message (a widget handled the key)."""
    return message._stop_propagation


def queued_messages(pump: MessagePump) -> tuple[Message, ...]:
    """The messages waiting in a widget's queue (Textual keeps them in `values`; read only)."""
    return tuple(getattr(pump._message_queue, "values", ()))


def bindings_for_key(node: DOMNode, key: str) -> Iterable[Binding]:
    """This node's bindings of a key, the keymap applied."""
    return node._bindings.key_to_bindings.get(key, ())


def bind_key(node: DOMNode, key: str, action: str) -> None:
    """A binding added to one instance (hidden from the footer): a dialog's choice keys."""
    node._bindings.bind(key, action, show=False)


#: One terminal cell as drawn: its text, style, and 0 (narrow), 1 or 2 (a wide character's
#: first or second cell: a change to either rewrites both).
Cell = tuple[str, Style | None, int]
#: Unchanged cells between two changes written anyway, rather than a cursor move (~8 bytes).
JOIN_GAP = 6


def strip_cells(strip: Strip) -> list[Cell]:
    cells: list[Cell] = []
    for text, style, control in strip:
        if control:
            continue
        if text.isascii() and text.isprintable():  # one cell each: most of a frame's text
            cells += [(char, style, 0) for char in text]
            continue
        for char in text:
            width = get_character_cell_size(char)
            if width == 2:
                cells += [(char, style, 1), (char, style, 2)]
            elif width == 1 or not cells:
                cells.append((char, style, 0))
            else:  # a combining character: part of the cell(s) before
                head = cells[-1]
                joined = head[0] + char
                if head[2] == 2:
                    cells[-2] = (joined, head[1], 1)
                cells[-1] = (joined, head[1], head[2])
    return cells


class TerminalShadow:
    """What the terminal shows, line by line, as the frames written left it: a partial frame
    is written only where it differs (`ChangedCellsUpdate`). A whole frame (a resize, a
    screen switch) is written whole and taken as the new picture, at its size."""

    def __init__(self) -> None:
        self.lines: dict[int, list[Cell]] = {}
        # Lines of the last whole frame not yet read as cells: made into cells when a
        # partial frame first touches them, not before the whole frame is written (a
        # dialog's first frame waited ~50 ms of CPU for its 60 lines at 200 columns).
        self.unread: dict[int, Iterable[Strip]] = {}
        self.size: Size | None = None  # of the last whole frame
        self.screen: object | None = None  # whose whole frame it was

    def whole_frame(self, update: LayoutUpdate, screen: object = None) -> None:
        self.clear()
        self.size = update.region.size
        self.screen = screen
        if update.region.x:
            return  # not the whole width: nothing known
        self.unread = dict(enumerate(update.strips, update.region.y))

    def clear(self) -> None:
        self.lines.clear()
        self.unread = {}

    def line(self, y: int) -> list[Cell] | None:
        strips = self.unread.pop(y, None)
        if strips is not None:
            self.lines[y] = [cell for strip in strips for cell in strip_cells(strip)]
        return self.lines.get(y)

    def forget(self) -> None:
        """Nothing known of the terminal (until the next whole frame)."""
        self.clear()
        self.size = self.screen = None


class ChangedCellsUpdate(ChopsUpdate):
    """A partial frame that writes only the cells that differ from what the terminal shows.

    Textual's `render_segments` writes a changed span from the start of the widget's line
    (`strip.crop(0, ...)`): one cell of a table at column 115 rewrote the whole row up to
    it, an age ticking in every row of the Overview was ~22 KB/s at 200x60, and a table
    whose rows changed order, or a summary line whose totals moved, was written whole."""

    def __init__(self, update: ChopsUpdate, shadow: TerminalShadow) -> None:
        super().__init__(update.chops, update.spans, update.chop_ends)
        self.shadow = shadow

    def render_segments(self, console: Console) -> str:
        out: list[str] = []
        for y, x1, x2 in self.spans:
            shown = self.shadow.line(y)
            for end, (x, strip) in zip(self.chop_ends[y], self.chops[y].items()):
                if strip is None or x > x2 or end <= x1:
                    continue
                start, stop = max(x, x1), min(end, x2)
                cells = strip_cells(strip.crop(start - x, stop - x))
                for a, b in self._changed(shown, start, cells):
                    out.append(Control.move_to(a, y).segment.text)
                    out.append(strip.crop(a - x, b - x).render(console))
                if shown is not None and len(shown) >= start + len(cells):
                    shown[start:start + len(cells)] = cells
        return "".join(out)

    @staticmethod
    def _changed(shown: list[Cell] | None, start: int,
                 cells: list[Cell]) -> list[tuple[int, int]]:
        """The runs [a, b) of columns whose cells differ from `shown` (all when unknown),
        never cutting a wide character."""
        if shown is None or len(shown) < start + len(cells):
            return [(start, start + len(cells))] if cells else []
        if shown[start:start + len(cells)] == cells:  # the common case, compared in C
            return []
        runs: list[list[int]] = []
        for i, cell in enumerate(cells):
            if cell != shown[start + i]:
                if runs and i - runs[-1][1] <= JOIN_GAP:
                    runs[-1][1] = i + 1
                else:
                    runs.append([i, i + 1])
        for run in runs:
            if cells[run[0]][2] == 2 and run[0] > 0:
                run[0] -= 1
            if cells[run[1] - 1][2] == 1 and run[1] < len(cells):
                run[1] += 1
        return [(start + a, start + b) for a, b in runs]


def display_frame(app: App[Any], screen: Screen[Any], renderable: Any,
                  shadow: TerminalShadow | None = None) -> bool | None:
    """Textual's own `_display` (for the app's override of that hook); then None if nothing
    reached the terminal (no frame, or an update batch open), else whether the frame was the
    whole screen (not only the parts that changed). With a `shadow` of the terminal, a
    partial frame writes only the cells that changed (`ChangedCellsUpdate`)."""
    written = (renderable is not None and not app._batch_count and app.is_running
               and not app.is_headless and not app.is_inline)
    if shadow is not None and written:
        if isinstance(renderable, LayoutUpdate):
            shadow.whole_frame(renderable, screen)
        elif shadow.screen is not screen:
            # Another screen than the last whole frame's (a dialog closed): until its own
            # whole frame, its partial frames are written as Textual writes them. The
            # full-run frame check once found cells of a closed help screen left on the
            # terminal by a partial frame diffed across that switch.
            shadow.forget()
        elif shadow.size != app.size:
            # The terminal was resized since the last whole frame: it cut or moved what it
            # showed (xterm and tmux drop lines from the top when the cursor is at the
            # bottom), so the shadow is no guide. This frame is written as Textual writes
            # it, and a whole one asked for once the screen is laid out at the new size.
            shadow.forget()
            if screen.outer_size == app.size:
                screen.refresh()
        elif type(renderable) is ChopsUpdate:
            renderable = ChangedCellsUpdate(renderable, shadow)
        else:
            shadow.forget()
    App._display(app, screen, renderable)
    if renderable is None or app._batch_count:
        return None
    return not isinstance(renderable, ChopsUpdate)


def set_cell_repainting_it_alone(table: DataTable[Any], row: str, column: str,
                                 value: object) -> None:
    """update_cell without repainting the whole table: the cell's region only."""
    row_key, column_key = RowKey(row), ColumnKey(column)
    table._data[row_key][column_key] = value
    table._update_count += 1
    table.refresh_coordinate(table.get_cell_coordinate(row_key, column_key))
