"""The item pager: one window of a list's items in a markable table, and the paging every
panel with list items shares (panels 2 and 6).

Keys (the one paging keymap): home head, end tail, pagedown/] next, pageup/[ previous,
: jump to a position; space marks (actions then apply to every marked item).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.css.query import NoMatches

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.envelopes import Envelope, decode, printable
from ferrite_tui.backend.lists import ListItems, Page
from ferrite_tui.backend.movebase import Item
from ferrite_tui.ui.widgets.table import Column, KeyedTable

if TYPE_CHECKING:
    from ferrite_tui.ui.protocols import ConsoleApp

T = TypeVar("T")

# One notch of a mouse wheel arrives as several scroll events: one page per notch.
WHEEL_PAGE_S = 0.3

PAGING_BINDINGS = [
    Binding("home", "page('head')", "Head", id="items.head"),
    Binding("end", "page('tail')", "Tail", id="items.tail"),
    Binding("pagedown,right_square_bracket", "page('next')", "Next page", id="items.next"),
    Binding("pageup,left_square_bracket", "page('prev')", "Prev page", id="items.prev"),
    Binding("colon", "jump", "Jump to", id="items.jump"),
]


def row_key(item: Item) -> str:
    return f"{item.pos}:{hashlib.sha1(item.raw).hexdigest()[:16]}"


def age_text(env: Envelope, now_ms: int, t: int | None = None) -> str:
    t = env.time_ms if t is None else t
    if t is None:
        return "-"
    return fmt.duration(max(now_ms - t, 0))


def id_text(env: Envelope) -> Text:
    if env.id is not None:
        return Text(printable(env.id, 60), no_wrap=True, overflow="ellipsis")
    return Text(f"({env.kind})", style="dim")


# -- the item pager shared by panels 2 and 6 ----------------------------------------------

@dataclass
class Source:
    """Where an ItemTable's rows come from: a list key read in windows, or a fixed list of
    items (a filter's matches) paged in memory."""

    key: str
    items: list[Item] | None = None

    async def load(self, client, start: int, count: int) -> Page:
        if self.items is None:
            return await ListItems(client).page(self.key, start, count)
        n = len(self.items)
        if start < 0:
            start = max(n + start, 0)
        start = max(0, min(start, max(n - count, 0)))
        return Page(self.key, start, n, tuple(self.items[start:start + count]))


class PagedTable(KeyedTable, Generic[T]):
    """A keyed table showing one page of a data source: the one paging keymap (the panel
    owning the source pages it through `on_page(where)`, where is head, tail, next, prev or
    jump) and the one mark implementation (space marks; actions then apply to every marked
    row, else to the one under the cursor)."""

    BINDINGS = [
        *PAGING_BINDINGS,
        Binding("space", "mark", "Mark", id="items.mark"),
    ]

    def __init__(self, columns: Iterable[Column], *, markable: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(columns, **kwargs)
        self.markable = markable
        self.marks: dict[str, T] = {}
        self.by_key: dict[str, T] = {}
        self.on_page: Callable[[str], None] | None = None
        self.on_marks: Callable[[], None] | None = None  # redraw rows with their marks

    def show(self, rows: list[tuple[str, T, dict[str, object]]]) -> None:
        """Show these (row key, value, cells) rows; marks of rows still shown are kept."""
        self.by_key = {key: value for key, value, _ in rows}
        self.set_rows([(key, cells) for key, _, cells in rows])

    def current(self) -> T | None:
        key = self.cursor_key
        return self.by_key.get(key) if key else None

    def selected(self) -> list[T]:
        """Marked rows, else the one under the cursor."""
        if self.marks:
            return list(self.marks.values())
        item = self.current()
        return [item] if item is not None else []

    def is_marked(self, key: str) -> bool:
        return key in self.marks

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "mark" and not self.markable:
            return False
        return True

    def action_page(self, where: str) -> None:
        if self.on_page:
            self.on_page(where)

    # A page fits the table (nothing to scroll), so the mouse wheel turns pages instead.
    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._wheel(event, "next")

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._wheel(event, "prev")

    _wheel_last: tuple[str, float] = ("", 0.0)  # the last page the wheel turned, and when

    def _wheel(self, event: events.MouseEvent, where: str) -> None:
        if self.on_page is None or self.max_scroll_y > 0:
            return  # a table taller than its page scrolls as any other
        event.stop()
        now = time.monotonic()
        last, at = self._wheel_last
        if where != last or now - at >= WHEEL_PAGE_S:
            self._wheel_last = (where, now)
            self.action_page(where)

    def action_jump(self) -> None:
        self.action_page("jump")

    def action_mark(self) -> None:
        key = self.cursor_key
        if key is None or key not in self.by_key:
            return
        if key in self.marks:
            del self.marks[key]
        else:
            self.marks[key] = self.by_key[key]
        row = self.cursor_row
        if self.on_marks is not None:
            self.on_marks()
        if row + 1 < self.row_count:
            self.move_cursor(row=row + 1)


class ItemTable(PagedTable[Item]):
    """One window of a list's items. The panel gives it columns and a row function."""

    BINDINGS = [Binding("escape", "leave", "Back", id="items.back", show=False)]

    def __init__(self, columns: list[Column],
                 row: Callable[[Item, Envelope, bool], dict[str, object]],
                 **kwargs: Any) -> None:
        super().__init__(columns, **kwargs)
        self.row_fn = row
        self.source: Source | None = None
        self.page: Page | None = None
        self.start = 0
        self.on_leave: Callable[[], None] | None = None
        self.on_marks = self._redraw_marks
        self.load_seq = 0
        self.loads_in_flight = 0  # window reads started and not answered yet
        self.want_start = 0

    def _redraw_marks(self) -> None:
        if self.page is not None:
            self.show_page(self.page)

    @property
    def window(self) -> int:
        if not self.size.height:
            return 20  # not laid out yet; the resize that follows reloads at the right size
        return max(self.size.height - 1, 3)

    def on_resize(self, event) -> None:
        super().on_resize(event)
        if self.source is not None and self.page is not None and self.on_page is not None \
                and len(self.page.items) != min(self.window, self.page.length):
            self.on_page("reload")

    def set_source(self, source: Source | None) -> None:
        if source != self.source:
            self.marks.clear()
            self.start = self.want_start = 0
            self.page = None
            self.set_rows([])
        self.source = source

    def show_page(self, page: Page) -> None:
        self.page = page
        self.start = page.start
        rows = []
        for item in page.items:
            key = row_key(item)
            rows.append((key, item, self.row_fn(item, decode(item.raw), key in self.marks)))
        self.show(rows)

    def action_leave(self) -> None:
        # An open `/` filter is cleared first (the app's escape), as everywhere else.
        try:
            filter_input = self.app.query_one("#filter")
        except NoMatches:
            filter_input = None
        if filter_input is not None and filter_input.display:
            cast("ConsoleApp", self.app).action_step_back()
            self.focus()
            return
        if self.on_leave:
            self.on_leave()


def mark_prefix(marked: bool) -> Text:
    return Text("●" if marked else " ", style="bold magenta")
