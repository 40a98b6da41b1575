"""The item pager: one window of a list's items in a markable table, and the paging every
panel with list items shares (panels 2 and 6).

Keys (the one paging keymap): home head, end tail, pagedown/] next, pageup/[ previous,
: jump to a position; space marks (actions then apply to every marked item).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from collections.abc import Callable

from rich.text import Text
from textual.binding import Binding

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.envelopes import Envelope, decode, printable
from ferrite_tui.backend.lists import ListItems, Page
from ferrite_tui.backend.moves import Item
from ferrite_tui.ui.widgets.table import Column, KeyedTable

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


class ItemTable(KeyedTable):
    """One window of a list's items. The panel gives it columns and a row function."""

    BINDINGS = [
        *PAGING_BINDINGS,
        Binding("space", "mark", "Mark", id="items.mark"),
        Binding("escape", "leave", "Back", id="items.back", show=False),
    ]

    def __init__(self, columns: list[Column],
                 row: Callable[[Item, Envelope, bool], dict[str, object]], **kwargs) -> None:
        super().__init__(columns, **kwargs)
        self.row_fn = row
        self.source: Source | None = None
        self.page: Page | None = None
        self.start = 0
        self.marks: dict[str, Item] = {}
        self.by_key: dict[str, Item] = {}
        self.on_leave: Callable[[], None] | None = None
        self.on_page: Callable[[str], None] | None = None
        self.load_seq = 0
        self.want_start = 0

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
        self.by_key = {}
        for item in page.items:
            key = row_key(item)
            self.by_key[key] = item
            rows.append((key, self.row_fn(item, decode(item.raw), key in self.marks)))
        self.set_rows(rows)

    def current(self) -> Item | None:
        key = self.cursor_key
        return self.by_key.get(key) if key else None

    def selected(self) -> list[Item]:
        """Marked items, else the one under the cursor."""
        if self.marks:
            return list(self.marks.values())
        item = self.current()
        return [item] if item else []

    def action_page(self, where: str) -> None:
        if self.on_page:
            self.on_page(where)

    def action_mark(self) -> None:
        key = self.cursor_key
        if key is None:
            return
        if key in self.marks:
            del self.marks[key]
        else:
            self.marks[key] = self.by_key[key]
        if self.page is not None:
            row = self.cursor_row
            self.show_page(self.page)
            if row + 1 < self.row_count:
                self.move_cursor(row=row + 1)

    def action_jump(self) -> None:
        if self.on_page:
            self.on_page("jump")

    def action_leave(self) -> None:
        # An open `/` filter is cleared first (the app's escape), as everywhere else.
        try:
            filter_input = self.app.query_one("#filter")
        except Exception:
            filter_input = None
        if filter_input is not None and filter_input.display:
            self.app.action_back()
            self.focus()
            return
        if self.on_leave:
            self.on_leave()


def mark_prefix(marked: bool) -> Text:
    return Text("●" if marked else " ", style="bold magenta")
