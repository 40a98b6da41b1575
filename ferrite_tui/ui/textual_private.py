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

from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.control import Control
from textual._compositor import ChopsUpdate
from textual.app import App
from textual.binding import Binding
from textual.dom import DOMNode
from textual.driver import Driver
from textual.message import Message
from textual.message_pump import MessagePump
from textual.screen import Screen
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
     "a partial frame written from where each line changed, not from the widget's left "
     "edge (ChangedSpansUpdate): the bytes an age ticking in a table row costs"),
    (DataTable, "_data",
     "a changed cell repainted alone (update_cell repaints the whole table)"),
    (DataTable, "_update_count", "the row caches are keyed on it: bumped with a cell"),
    (DOMNode, "_bindings",
     "a node's bindings for a key, after the keymap (a disabled key says why), and "
     "bindings a dialog adds per instance (its choice keys)"),
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


class ChangedSpansUpdate(ChopsUpdate):
    """A partial frame that writes each changed span from the first segment it touches.

    Textual's `render_segments` writes a changed span from the start of the widget's line
    (`strip.crop(0, ...)`): one cell of a table at column 115 rewrote the whole row up to
    it, and an age ticking in every row of the Overview was ~22 KB/s at 200x60. Whole
    segments are skipped (a table cell is one segment, and no wide character is cut)."""

    def __init__(self, update: ChopsUpdate) -> None:
        super().__init__(update.chops, update.spans, update.chop_ends)

    def render_segments(self, console: Console) -> str:
        out: list[str] = []
        last_y = self.spans[-1][0]
        for y, x1, x2 in self.spans:
            for end, (x, strip) in zip(self.chop_ends[y], self.chops[y].items()):
                if strip is None or x > x2 or end <= x1:
                    continue
                skip = 0
                for segment in strip:  # the segments wholly before the change
                    width = segment.cell_length
                    if x + skip + width > x1:
                        break
                    skip += width
                out.append(Control.move_to(x + skip, y).segment.text)
                out.append(strip.crop(skip, min(end, x2) - x).render(console))
            if y != last_y:
                out.append("\n")
        return "".join(out)


def display_frame(app: App[Any], screen: Screen[Any], renderable: Any) -> bool | None:
    """Textual's own `_display` (for the app's override of that hook); then None if nothing
    reached the terminal (no frame, or an update batch open), else whether the frame was the
    whole screen (not only the parts that changed). A partial frame is written from where
    each line changed (`ChangedSpansUpdate`)."""
    if type(renderable) is ChopsUpdate:
        renderable = ChangedSpansUpdate(renderable)
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
