"""Panel 5: streams, their consumer groups and consumers, pending entries, a stream browser.

Three linked tables on top (streams -> groups of the highlighted stream -> consumers of the
highlighted group); below, the pending entries of the group (or of one consumer: enter on
it) or the stream browser (`b`), beside a plot of the group's pending and lag history.

The panel holds its parts (`tables`, `detail`, `paging`, `plot`, `actions`: see
__init__.py), each with its own state, seeing the panel through `StreamsView`. The panel
keeps what Textual needs on a widget (the view state as reactives whose watchers redraw
and re-read, the keys, the events) and changes the selection (`set_stream`, `set_group`).
"""

from __future__ import annotations

from typing import cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import DataTable, Static

from ferrite_tui.backend.history import History
from ferrite_tui.backend.models import QueueRef, QueueStats, Snapshot
from ferrite_tui.backend.streams import (
    ConsumerInfo,
    GroupInfo,
    PendingEntry,
    PendingPage,
    StreamEntry,
    Streams,
)
from ferrite_tui.ui.panels.base import BEFORE_FIRST_POLL, NothingSelected, Panel
from ferrite_tui.ui.panels.streams.actions import StreamActions
from ferrite_tui.ui.panels.streams.columns import (
    BROWSER_COLUMNS,
    CONSUMER_COLUMNS,
    GROUP_COLUMNS,
    PENDING_COLUMNS,
)
from ferrite_tui.ui.panels.streams.detail import SORTS, StreamDetail
from ferrite_tui.ui.panels.streams.paging import StreamPaging
from ferrite_tui.ui.panels.streams.plot import StreamPlot
from ferrite_tui.ui.panels.streams.tables import STREAM_COLUMNS, StreamTables
from ferrite_tui.ui.widgets.items import PagedTable
from ferrite_tui.ui.widgets.table import Column, KeyedTable


class StreamsPanel(Panel):
    TITLE = "Streams"
    KINDS = Panel.kinds_in("streams")
    EMPTY = "No streams found (yet). Discovery rescans every 30 s; ctrl+r now. n publishes."

    DEFAULT_CSS = """
    /* short tables take only their rows; the pending entries get the rest */
    StreamsPanel #streams-top { height: auto; max-height: 12; }
    StreamsPanel #streams-top > KeyedTable { height: auto; min-height: 2; max-height: 12; }
    StreamsPanel #detail-head { height: 1; padding: 0 1; background: $boost; }
    StreamsPanel #streams-bottom { height: 1fr; }
    StreamsPanel #streams-bottom > KeyedTable { width: 1fr; height: 100%; }
    StreamsPanel #plot { width: 34; height: 100%; }
    StreamsPanel #plot.-narrow { display: none; }
    """

    BINDINGS = [
        Binding("c", "claim", "Claim", id="streams.claim"),
        Binding("C", "claim_idle", "Claim idle", id="streams.claim_idle"),
        Binding("a", "ack", "Ack", id="streams.ack"),
        Binding("A", "ack_all", "Ack shown", id="streams.ack_all"),
        Binding("k", "dead_letter", "To DLQ", id="streams.dlq"),
        Binding("K", "dead_letter_all", "Poison to DLQ", id="streams.dlq_all", show=False),
        Binding("n", "publish", "Publish", id="streams.publish"),
        Binding("d", "delete_consumer", "Del consumer", id="streams.delete_consumer",
                show=False),
        Binding("G", "create_group", "New group", id="streams.create_group", show=False),
        Binding("L", "set_group_id", "Set group id", id="streams.set_group_id", show=False),
        Binding("i", "min_idle", "Min idle", id="streams.min_idle", show=False),
        Binding("s", "sort", "Sort", id="streams.sort", show=False),
        Binding("p", "show_pending", "Pending", id="streams.pending", show=False),
        Binding("b", "show_browser", "Browse", id="streams.browse"),
        Binding("t", "tail", "Tail", id="streams.tail", show=False),
        Binding("g", "goto", "Go to", id="streams.goto", show=False),
        Binding("right_square_bracket", "next_page", "Next page", id="streams.next",
                show=False),
        Binding("left_square_bracket", "prev_page", "Prev page", id="streams.prev",
                show=False),
        Binding("escape", "back", "Back", id="streams.back", show=False),
    ]

    MUTATIONS = {
        # claim, claim_idle, ack, ack_all, dead_letter(_all), delete_consumer, create_group,
        # set_group_id: the stream layout's (backend/kinds/stream.py)
        **Panel.layout_mutations(*KINDS),
        "publish": "publish to a stream",
    }
    # publish names its stream in its own dialog (checked there)
    OWN_ACTIONS = frozenset({"publish"})
    COMMANDS = {
        "min_idle": "show pending entries idle at least…", "sort": "sort pending entries",
        "show_pending": "show pending entries", "show_browser": "browse the stream",
        "tail": "live tail on/off", "goto": "go to an id or a time",
    }
    #: panel action -> the layout action it is on a library's stream (taskiq's)
    LIBRARY_ACTION_OF = {"claim": "claim", "claim_idle": "claim", "ack": "ack",
                         "ack_all": "ack"}

    #: View state; its watchers redraw and re-read what depends on it.
    mode: reactive[str] = reactive("pending", init=False)  # pending entries, or browser
    sort: reactive[str] = reactive("id", init=False)  # order of the pending entries shown
    min_idle_ms: reactive[int] = reactive(0, init=False)  # pending filter
    tail: reactive[bool] = reactive(False, init=False)  # browser follows the newest
    consumer: reactive[str | None] = reactive(None, init=False)  # pending of one consumer
    page_start: reactive[str] = reactive("-", init=False)  # pending page: XPENDING start id
    browser_end: reactive[str] = reactive("+", init=False)  # browser page: newest id shown

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._backend: Streams | None = None  # the stream reads of the current client
        self.tables = StreamTables(self)
        self.paging = StreamPaging(self)
        self.detail = StreamDetail(self, self.tables, self.paging)
        self.plot = StreamPlot(self, self.tables)
        self.actions = StreamActions(self, self.tables, self.detail)

    # -- layout ------------------------------------------------------------------------

    def columns(self) -> list[Column]:
        return STREAM_COLUMNS

    def compose(self) -> ComposeResult:
        yield Static(Text(BEFORE_FIRST_POLL), classes="panel-note", id="note")
        with Horizontal(id="streams-top"):
            yield KeyedTable(self.columns(), id="table")
            yield KeyedTable(GROUP_COLUMNS, id="groups")
            yield KeyedTable(CONSUMER_COLUMNS, id="consumers")
        yield Static(Text(""), id="detail-head")
        with Horizontal(id="streams-bottom"):
            yield PagedTable[PendingEntry](PENDING_COLUMNS, markable=False, id="pending")
            yield PagedTable[StreamEntry](BROWSER_COLUMNS, markable=False, id="browser")
            if self.plot.widget is not None:
                yield self.plot.widget

    def on_mount(self) -> None:
        self.browser_table.display = False
        self.pending_table.on_page = self.paging.page_to
        self.browser_table.on_page = self.paging.page_to
        self.tables.share_top_width()

    def on_show(self) -> None:
        self.tables.share_top_width()
        if self.snapshot is not None:
            self.plot.draw()
            self.detail.refresh()

    def on_resize(self, event) -> None:
        self.plot.fit(event.size.width)
        self.set_class(event.size.width < 100, "-narrow")

    @property
    def groups_table(self) -> KeyedTable:
        return self.query_one("#groups", KeyedTable)

    @property
    def consumers_table(self) -> KeyedTable:
        return self.query_one("#consumers", KeyedTable)

    @property
    def pending_table(self) -> PagedTable[PendingEntry]:
        return cast("PagedTable[PendingEntry]", self.query_one("#pending", PagedTable))

    @property
    def browser_table(self) -> PagedTable[StreamEntry]:
        return cast("PagedTable[StreamEntry]", self.query_one("#browser", PagedTable))

    @property
    def detail_head(self) -> Static:
        return self.query_one("#detail-head", Static)

    # -- the connection --------------------------------------------------------------------

    def backend(self) -> Streams | None:
        """The stream reads and moves on this connection (None before connecting)."""
        client = self.session.client
        if client is None:
            return None
        if self._backend is None or self._backend.client is not client:
            self._backend = Streams(client)
        return self._backend

    def streams(self) -> Streams:
        """As `backend`, for actions: says so when there is no connection yet."""
        backend = self.backend()
        if backend is None:
            raise NothingSelected("not connected yet")
        return backend

    # -- the stream table (from the poll) ----------------------------------------------

    def row(self, q: QueueStats) -> dict[str, object]:
        return self.tables.row(q)

    def summary(self, items: list[QueueStats]) -> Text:
        return self.tables.summary(items)

    def update_snapshot(self, snap: Snapshot, history: History | None) -> None:
        super().update_snapshot(snap, history)
        tables = self.tables
        tables.share_top_width()
        keys = [q.ref.key for q in self.items(snap)]
        if tables.stream is None or tables.stream not in keys:
            if tables.stream is not None and tables.stream not in keys:
                self.set_stream(None)
            current = tables.stream_of(self.table.cursor_key)
            if current is not None:
                self.set_stream(current)
        if self.active():
            self.plot.draw()
            self.detail.refresh()

    def focus_ident(self, ident: str) -> bool:
        found = super().focus_ident(ident)
        key = self.tables.stream_of(ident)
        if key is not None:
            self.set_stream(key)
            self.detail.refresh()
        return found

    def select_group(self, name: str) -> None:
        """Select this group of the selected stream (e.g. from an alert on the Overview);
        the detail refresh keeps it if the stream has it. The groups table's cursor moves
        to it too: a RowHighlighted still queued for the row it was on (the refresh's
        redraw) is then stale and cannot take the selection back."""
        if self.tables.stream is None:
            return
        self.groups_table.select_key(name)
        if name != self.tables.group:
            self.set_group(name)
            self.detail.refresh()

    # -- selection: what hangs off it is reset ----------------------------------------

    def set_stream(self, key: str | None) -> None:
        tables, detail = self.tables, self.detail
        if key == tables.stream:
            return
        tables.stream = key
        self.refresh_bindings()  # its layout's actions, in the footer
        tables.group = None
        self.consumer = None
        tables.clear_groups()
        detail.reset_pages()
        detail.browser_rows, self.paging.browser_stack = [], []
        self.browser_end = "+"
        detail.error = None
        detail.draw_head()
        self.plot.draw()

    def set_group(self, name: str | None) -> None:
        if name == self.tables.group:
            return
        self.tables.group = name
        self.consumer = None
        self.tables.clear_consumers()
        self.detail.reset_pages()
        self.detail.draw_head()
        self.plot.draw()

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = str(event.row_key.value) if event.row_key is not None else None
        table = event.data_table
        if isinstance(table, KeyedTable) and key != table.cursor_key:
            return  # a stale event: the cursor moved on (set_rows, then select_key)
        table_id = table.id
        if table_id == "table":
            stream = self.tables.stream_of(key)
            if stream is not None and stream != self.tables.stream:
                self.set_stream(stream)
                self.detail.refresh()
        elif table_id == "groups" and key is not None and key != self.tables.group:
            self.set_group(key)
            self.detail.refresh()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        key = str(event.row_key.value)
        table_id = event.data_table.id
        if table_id == "table":
            self.set_stream(self.tables.stream_of(key))
            self.groups_table.focus()
            self.detail.refresh()
        elif table_id == "groups":
            self.set_group(key)
            self.mode = "pending"
            self.pending_table.focus()
            self.detail.refresh()
        elif table_id == "consumers":
            self.consumer = None if self.consumer == key else key
            self.mode = "pending"
            self.pending_table.focus()
        elif table_id in ("pending", "browser"):
            self.detail.inspect(key)

    def action_back(self) -> None:
        focused = self.app.focused
        fid = focused.id if focused is not None else None
        if fid in ("pending", "browser"):
            self.consumer = None
            (self.consumers_table if self.tables.consumer_rows else self.groups_table).focus()
        elif fid == "consumers":
            self.groups_table.focus()
        elif fid == "groups":
            self.table.focus()
        else:
            self.ferrite.action_step_back()

    # -- view state: each change redraws what shows it ---------------------------------

    def watch_mode(self, mode: str) -> None:
        self.pending_table.display = mode == "pending"
        self.browser_table.display = mode == "browser"
        self.detail.draw_head()

    def watch_min_idle_ms(self) -> None:
        self.detail.reset_pages()
        self.detail.draw_head()
        self.detail.refresh()

    def watch_tail(self, tail: bool) -> None:
        if tail:
            self.paging.browser_stack = []
            self.browser_end = "+"
        self.detail.draw_head()
        self.detail.refresh()

    def watch_consumer(self) -> None:
        self.detail.reset_pages()
        self.tables.draw_consumers()
        self.detail.draw_head()
        self.detail.refresh()

    def watch_page_start(self) -> None:
        self.detail.draw_head()
        self.detail.refresh()

    watch_browser_end = watch_page_start  # either page moved: its head, then its read

    def watch_sort(self) -> None:
        self.detail.draw_pending()
        self.detail.draw_head()

    # -- keys: view ----------------------------------------------------------------------

    def action_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]

    def action_show_pending(self) -> None:
        self.detail.show("pending")

    def action_show_browser(self) -> None:
        if self.tables.stream is None:
            self.notify("select a stream first", timeout=3)
            return
        self.detail.show("browser")

    def action_tail(self) -> None:
        if self.mode != "browser":
            self.action_show_browser()
        self.tail = not self.tail

    def action_min_idle(self) -> None:
        self.act("min_idle", lambda: None, self.actions.min_idle)

    def action_goto(self) -> None:
        self.act("goto", self.actions.stream_selected, self.actions.goto)

    def action_next_page(self) -> None:
        self.paging.next_page()

    def action_prev_page(self) -> None:
        self.paging.prev_page()

    # -- keys: actions (each through the base's action pipeline) -----------------------

    def action_queue(self) -> QueueRef | None:
        """The stream highlighted (its library's layout, if a library's: taskiq)."""
        return self.tables.stream_ref()

    def action_claim(self) -> None:
        self.act("claim", self.actions.entry_selected, self.actions.claim)

    def action_claim_idle(self) -> None:
        self.act("claim_idle", self.actions.group_selected, self.actions.claim_idle)

    def action_ack(self) -> None:
        self.act("ack", self.actions.entry_selected,
                 lambda t: self.actions.ack(t[0], t[1], [t[2].id], confirm=False))

    def action_ack_all(self) -> None:
        self.act("ack_all", self.actions.shown_selected,
                 lambda t: self.actions.ack(t[0], t[1], [e.id for e in t[2]]))

    def action_dead_letter(self) -> None:
        self.act("dead_letter", self.actions.poison_selected, self.actions.dead_letter)

    def action_dead_letter_all(self) -> None:
        self.act("dead_letter_all", self.actions.poison_shown, self.actions.dead_letter)

    def action_publish(self) -> None:
        self.act("publish", self.actions.publish_target, self.actions.publish)

    def action_delete_consumer(self) -> None:
        self.act("delete_consumer", self.actions.consumer_selected,
                 self.actions.delete_consumer)

    def action_create_group(self) -> None:
        self.act("create_group", self.actions.stream_selected, self.actions.create_group)

    def action_set_group_id(self) -> None:
        self.act("set_group_id", self.actions.group_selected, self.actions.set_group_id)

    def after_action(self) -> None:
        self.detail.bodies.clear()
        self.detail.refresh()
        super().after_action()

    # -- what the parts hold, read as the panel's (paging, the tests) ------------------

    @property
    def stream(self) -> str | None:
        return self.tables.stream

    @property
    def group(self) -> str | None:
        return self.tables.group

    @property
    def group_rows(self) -> list[GroupInfo]:
        return self.tables.group_rows

    @group_rows.setter
    def group_rows(self, rows: list[GroupInfo]) -> None:
        self.tables.group_rows = rows

    @property
    def consumer_rows(self) -> list[ConsumerInfo]:
        return self.tables.consumer_rows

    @consumer_rows.setter
    def consumer_rows(self, rows: list[ConsumerInfo]) -> None:
        self.tables.consumer_rows = rows

    @property
    def page(self) -> PendingPage | None:
        return self.detail.page

    @page.setter
    def page(self, page: PendingPage | None) -> None:
        self.detail.page = page

    @property
    def browser_rows(self) -> list[StreamEntry]:
        return self.detail.browser_rows

    @property
    def detail_error(self) -> str | None:
        return self.detail.error

    @property
    def _refreshing(self) -> bool:
        return self.detail.refreshing

    def stream_ref(self) -> QueueRef | None:
        return self.tables.stream_ref()

    def selected_entry(self) -> PendingEntry | None:
        return self.detail.selected_entry()

    def _dead_consumers(self) -> set[str]:
        return self.tables.dead_consumers()

    def _draw_groups(self) -> None:
        self.tables.draw_groups()

    def _draw_consumers(self) -> None:
        self.tables.draw_consumers()

    def _draw_pending(self) -> None:
        self.detail.draw_pending()

    def draw_detail(self) -> None:
        self.detail.draw_head()

    def draw_now(self) -> None:
        self.detail.draw_now()
