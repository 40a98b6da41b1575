"""The base of panels that page through list items in ItemTables (panels 2 and 6)."""

from __future__ import annotations

from textual import work

from ferrite_tui.backend.client import Client
from ferrite_tui.backend.lists import Page
from ferrite_tui.ui.panels.base import Outcome, Panel
from ferrite_tui.ui.screens.dialogs import Field
from ferrite_tui.ui.widgets.items import ItemTable


class ItemPagerPanel(Panel):
    """A panel holding ItemTables: loads their windows in a worker, pages them."""

    def item_client(self) -> Client | None:
        return self.session.client

    def page_to(self, table: ItemTable, where: str) -> None:
        if table.source is None:
            return
        window = table.window
        if where == "head":
            start = 0
        elif where == "tail":
            start = -window
        elif where == "next":
            start = table.start + window
            if table.page is not None and start >= table.page.length:
                start = -window
        elif where == "prev":
            start = max(table.start - window, 0)
        elif where == "jump":
            self.act("jump", lambda: table, self._jump)
            return
        else:
            start = None  # reload
        self.load_items(table, start, move_cursor=where in ("head", "tail", "next", "prev"))

    async def _jump(self, table: ItemTable) -> Outcome | None:
        def check(value: str) -> str | None:
            return None if value.strip().lstrip("-").isdigit() else "a whole number"

        length = table.page.length if table.page else 0
        values = await self.ask(
            "Jump to position", [Field("pos", f"Position (0 … {max(length - 1, 0):,}; "
                                              "negative counts from the tail)", "", check=check)],
            submit_label="Go")
        if values:
            self.load_items(table, int(values["pos"]), move_cursor=True)
        return None

    def load_items(self, table: ItemTable, start: int | None,
                   move_cursor: bool = False) -> None:
        """Load the window at `start` (None: reload the window last asked for, so a refresh
        never undoes a page move still in flight)."""
        if start is None:
            start = table.want_start
        else:
            table.want_start = start
        table.loads_in_flight += 1  # until its worker has read (see refresh_items)
        self._load_worker(table, start, move_cursor)

    def refresh_items(self, table: ItemTable) -> None:
        """The poll's reload of the window shown, unless a load is in flight: its page is
        as new (and the next poll reads it again), while a newer load throws the older one's
        page away (a list opened just before a poll showed its page only after a 2nd read)."""
        if not table.loads_in_flight:
            self.load_items(table, None)

    @work(group="items-load", name="load items", exit_on_error=False)
    async def _load_worker(self, table: ItemTable, start: int, move_cursor: bool) -> None:
        try:
            client = self.item_client()
            source = table.source
            if client is None or source is None:
                return
            table.load_seq += 1
            seq = table.load_seq
            window = table.window
            page = await source.load(client, start, window)  # a failure: one line (Panel)
        finally:
            table.loads_in_flight -= 1
        if table.source is not source or table.load_seq != seq:
            return  # a newer load (or another list) replaced this one
        table.show_page(page)
        if move_cursor and table.row_count:
            table.move_cursor(row=0)
        self.items_loaded(table, page)
        if table.window != window:  # resized while the window was read: read it again
            self.load_items(table, None)

    def items_loaded(self, table: ItemTable, page: Page) -> None:
        """Hook: a window arrived."""
