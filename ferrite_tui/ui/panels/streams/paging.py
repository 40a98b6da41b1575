"""The Streams panel's paging of its lower lists: pending entries (XPENDING from a start
id, oldest first) and the stream browser (from an end id, newest first). Home goes to the
first entry, End to the last, ] and [ page, : goes to an id or a time (the browser).

`StreamPaging` is held by the panel (`panel.paging`), which keeps the keys' entry points;
it sees the panel through `PagingView`, and keeps the pages before the one shown. After
Home or End the cursor goes to the first or last row of the page once it is drawn
(`place_cursor`)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from ferrite_tui.backend import stream_ids
from ferrite_tui.backend.streams import (
    LAST_PAGE_CHUNK,
    LAST_PAGE_READS,
    PendingPage,
    Streams,
)

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from textual.worker import Worker

    from ferrite_tui.backend.streams import StreamEntry
    from ferrite_tui.ui.widgets.table import KeyedTable

BROWSE_PAGE = 50  # the browser's page


def parse_when(text: str, now_ms: int) -> str | None:
    """An id, epoch ms, ISO time, or '-5m' / '-2h' / '-30s' as a browse end id."""
    text = text.strip()
    if not text:
        return None
    if stream_ids.check_id(text) is None and "-" in text:
        return text
    if text.isdigit():
        return Streams.time_end(int(text))
    if text.startswith("-") and text[-1:] in "smhd" and text[1:-1].isdigit():
        mult = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}[text[-1]]
        return Streams.time_end(now_ms - int(text[1:-1]) * mult)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.astimezone()
    return Streams.time_end(int(when.timestamp() * 1000))


class PagingView(Protocol):
    """What the paging uses of the Streams panel."""

    mode: str
    tail: bool
    consumer: str | None
    min_idle_ms: int
    page_start: str
    browser_end: str

    @property
    def stream(self) -> str | None: ...

    @property
    def group(self) -> str | None: ...

    @property
    def page(self) -> PendingPage | None: ...

    @property
    def browser_rows(self) -> list[StreamEntry]: ...

    def backend(self) -> Streams | None: ...

    def action_goto(self) -> None: ...

    def draw_now(self) -> None: ...

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = False) -> None: ...

    def run_worker(self, work: Coroutine[Any, Any, Any], *args: Any,
                   **kwargs: Any) -> Worker[Any]: ...  # DOMNode.run_worker


class StreamPaging:
    """Home, End, ] and [ on pending entries and the browser."""

    def __init__(self, panel: PagingView) -> None:
        self.panel = panel
        #: where the cursor goes once the page is drawn: "first" (row 0), an entry's id
        #: (End: kept until the page holding it is drawn), or None
        self.cursor_at: str | None = None
        self.page_stack: list[str] = []  # starts of the pending pages before this one
        self.browser_stack: list[str] = []  # ends of the newer browser pages

    def page_to(self, where: str) -> None:
        """The paging keymap (head, tail, next, prev, jump) of both lists."""
        p = self.panel
        if where == "next":
            self.next_page()
        elif where == "prev":
            self.prev_page()
        elif where == "head":
            self.cursor_at = "first"
            if p.mode == "browser":
                same = p.browser_end == "+"
                self.browser_stack = []
                p.browser_end = "+"
            else:
                same = p.page_start == "-"
                self.page_stack = []
                p.page_start = "-"
            if same:  # no page to read: the cursor goes up at once
                p.draw_now()
        elif where == "tail":
            # in a worker of the panel's (its failure: one line); a new End replaces it
            p.run_worker(self.to_end(), name="go_to_end", group="streams-end",
                         exclusive=True, exit_on_error=False)
        elif where == "jump" and p.mode == "browser":
            p.action_goto()
        elif where == "jump":
            p.notify("Pending entries page by id: home, end, ] and [ (: goes to a time in "
                     "the browser, b)", timeout=3)

    async def to_end(self) -> None:
        """End: the page holding the last entry (the oldest, in the browser), read first,
        then shown with the cursor on that entry."""
        p = self.panel
        backend, stream, group = p.backend(), p.stream, p.group
        if backend is None or stream is None:
            return
        if p.mode == "browser":
            found = await backend.first_page_end(stream, BROWSE_PAGE)
            if found is None or stream != p.stream or p.mode != "browser":
                return
            end, self.cursor_at = found
            p.tail = False
            same = end == p.browser_end
            if not same:
                self.browser_stack.append(p.browser_end)
            p.browser_end = end
        elif group is not None:
            start, last, whole = await backend.last_page_start(
                stream, group, min_idle_ms=p.min_idle_ms, consumer=p.consumer)
            if (stream, group) != (p.stream, p.group) or p.mode != "pending":
                return
            self.cursor_at = last
            if not whole:
                p.notify(f"more than {LAST_PAGE_CHUNK * LAST_PAGE_READS:,} pending: end "
                         "went that far; ] goes on", timeout=5)
            same = start == p.page_start
            if not same:
                self.page_stack.append(p.page_start)
            p.page_start = start
        else:
            return
        if same:  # no page to read (its change reads it and places the cursor)
            p.draw_now()

    def place_cursor(self, table: KeyedTable) -> None:
        """After Home or End, once the page is drawn: the cursor on its first row, or on
        the entry End went to (a page drawn before that one was read keeps the request)."""
        if self.cursor_at is None or not table.row_count:
            return
        if self.cursor_at == "first":
            table.move_cursor(row=0, animate=False)
        elif not table.select_key(self.cursor_at):
            return
        self.cursor_at = None

    def next_page(self) -> None:
        p = self.panel
        if p.mode == "browser":
            if not p.browser_rows:
                return
            before = stream_ids.prev_id(p.browser_rows[-1].id)
            if before is None:
                return
            p.tail = False
            self.browser_stack.append(p.browser_end)
            p.browser_end = before
        else:
            if p.page is None or not p.page.next_start:
                p.notify("this is the last page", timeout=2)
                return
            self.page_stack.append(p.page_start)
            p.page_start = p.page.next_start

    def prev_page(self) -> None:
        p = self.panel
        if p.mode == "browser":
            p.browser_end = self.browser_stack.pop() if self.browser_stack else "+"
        else:
            p.page_start = self.page_stack.pop() if self.page_stack else "-"
