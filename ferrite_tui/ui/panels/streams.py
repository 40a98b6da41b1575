"""Panel 5: streams, their consumer groups and consumers, pending entries, a stream browser.

Three linked tables on top (streams -> groups of the highlighted stream -> consumers of the
highlighted group); below, the pending entries of the group (or of one consumer: enter on
it) or the stream browser (`b`), beside a plot of the group's pending and lag history.

Reads run in one worker at a time, armed by the poll (only while this tab is shown); each
action runs in a worker of its own group, and every server error becomes one line.
"""

from __future__ import annotations

import time
from datetime import datetime

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Static

from ferrite_tui import formatting as fmt
from ferrite_tui.backend import streams as st
from ferrite_tui.backend.bulk import BulkRunner, Cancel, ChunkResult
from ferrite_tui.backend.client import describe_error
from ferrite_tui.backend.envelopes import decode, printable
from ferrite_tui.backend.history import History
from ferrite_tui.backend.models import QueueKind, QueueStats, Snapshot
from ferrite_tui.backend.streams import (
    ConsumerInfo, GroupInfo, PendingEntry, PendingPage, StreamEntry, StreamSummary, Streams,
)
from ferrite_tui.ui.panels.base import Panel, alert_cell, key_cell
from ferrite_tui.ui.screens.dialogs import DIALOG_CSS, ConfirmScreen, Field, FormScreen
from ferrite_tui.ui.widgets.table import Column, KeyedTable

try:  # the plot is a nicety: the panel works without it
    from textual_plotext import PlotextPlot
except ImportError:  # pragma: no cover
    PlotextPlot = None  # type: ignore[assignment,misc]

OVERVIEW_EVERY_S = 5.0
BROWSE_PAGE = 50
TAIL_KEEP = 500
CONSOLE_CONSUMER = "ferrite-tui"
SORTS = ("id", "idle", "deliveries", "consumer")

GROUP_COLUMNS = [
    Column("name", "group", 8),
    Column("consumers", "cons", 4, priority=2, justify="right"),
    Column("pending", "pend", 6, justify="right"),
    Column("lag", "lag", 6, justify="right"),
    Column("ldid", "last delivered", 16, priority=3),
    Column("read", "read", 7, priority=4, justify="right"),
    Column("oldest", "oldest idle", 8, priority=1, justify="right"),
    Column("alert", "alert", 10, priority=2),
]
CONSUMER_COLUMNS = [
    Column("name", "consumer", 11),
    Column("pending", "pend", 5, justify="right"),
    Column("idle", "idle", 6, priority=1, justify="right"),
    Column("inactive", "inactive", 8, priority=2, justify="right"),
    Column("dead", "dead?", 5, priority=1),
]
PENDING_COLUMNS = [
    Column("mark", "", 2),
    Column("id", "id", 16),
    Column("consumer", "consumer", 11),
    Column("idle", "idle", 6, justify="right"),
    Column("deliveries", "deliv", 5, justify="right"),
    Column("age", "age", 6, priority=2, justify="right"),
    Column("preview", "data", 26),
]
BROWSER_COLUMNS = [
    Column("id", "id", 16),
    Column("age", "age", 6, justify="right"),
    Column("nfields", "fields", 6, priority=2, justify="right"),
    Column("preview", "data", 46),
]


def parse_when(text: str, now_ms: int) -> str | None:
    """An id, epoch ms, ISO time, or '-5m' / '-2h' / '-30s' as a browse end id."""
    text = text.strip()
    if not text:
        return None
    if st.check_id(text) is None and "-" in text:
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
            yield Input(self.stream, id="pub-stream")
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
        return (self.query_one("#pub-stream", Input).value, fields,
                self.query_one("#pub-maxlen", Input).value.strip())

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
            self.query_one("#error", Static).update(Text(problem))
            return
        stream, fields, maxlen = self.values()
        self.dismiss((stream, fields, int(maxlen) if maxlen else None))

    @on(Button.Pressed, "#add")
    async def _add(self) -> None:
        await self.action_add_row()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class StreamsPanel(Panel):
    TITLE = "Streams"
    KINDS = (QueueKind.STREAM,)
    EMPTY = "No streams found (yet). Discovery rescans every 30 s; ctrl+r now. n publishes."

    DEFAULT_CSS = """
    StreamsPanel #streams-top { height: 1fr; min-height: 5; max-height: 12; }
    StreamsPanel #streams-top > KeyedTable { height: 100%; }
    StreamsPanel #table { width: 3fr; }
    StreamsPanel #groups { width: 3fr; }
    StreamsPanel #consumers { width: 2.4fr; }
    StreamsPanel #detail-head { height: 1; padding: 0 1; background: $boost; }
    StreamsPanel #bottom { height: 2fr; }
    StreamsPanel.-narrow #table { width: 24; }
    StreamsPanel.-narrow #groups, StreamsPanel.-narrow #consumers { width: 1fr; }
    StreamsPanel #bottom > KeyedTable { width: 1fr; height: 100%; }
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

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._backend: Streams | None = None
        self.stream: str | None = None
        self.group: str | None = None
        self.consumer: str | None = None  # pending filtered to this consumer
        self.mode = "pending"
        self.min_idle_ms = 0
        self.sort = "id"
        self.page_start = "-"
        self.page_stack: list[str] = []
        self.page: PendingPage | None = None
        self.bodies: dict[str, StreamEntry | None] = {}
        self.summaries: dict[str, StreamSummary] = {}
        self._summaries_at = 0.0
        self.group_rows: list[GroupInfo] = []
        self.consumer_rows: list[ConsumerInfo] = []
        self.browser_rows: list[StreamEntry] = []
        self.browser_end = "+"
        self.browser_stack: list[str] = []
        self.tail = False
        self.detail_error: str | None = None
        self._refreshing = False
        self._again = False
        self._alerted: set[tuple[str, str, str]] = set()
        self._plot_stamp: tuple | None = None
        self._plot_at = 0.0

    # -- layout ------------------------------------------------------------------------

    def columns(self) -> list[Column]:
        return [
            Column("key", "stream", 12),
            Column("depth", "length", 6, priority=1, justify="right"),
            Column("pending", "pend", 5, justify="right"),
            Column("groups", "grp", 3, priority=2, justify="right"),
            Column("first", "first", 6, priority=3, justify="right"),
            Column("last", "last", 6, priority=1, justify="right"),
            Column("memory", "memory", 9, priority=4, justify="right"),
            Column("alerts", "alerts", 14, priority=1),
        ]

    def compose(self) -> ComposeResult:
        yield Static(Text(self.EMPTY), classes="panel-note", id="note")
        with Horizontal(id="streams-top"):
            yield KeyedTable(self.columns(), id="table")
            yield KeyedTable(GROUP_COLUMNS, id="groups")
            yield KeyedTable(CONSUMER_COLUMNS, id="consumers")
        yield Static(Text(""), id="detail-head")
        with Horizontal(id="bottom"):
            yield KeyedTable(PENDING_COLUMNS, id="pending")
            yield KeyedTable(BROWSER_COLUMNS, id="browser")
            if PlotextPlot is not None:
                yield PlotextPlot(id="plot")

    def on_mount(self) -> None:
        self.query_one("#browser", KeyedTable).display = False

    def on_show(self) -> None:
        if self.snapshot is not None:
            self.draw_plot()
            self.refresh_detail()

    def on_resize(self, event) -> None:
        if PlotextPlot is not None:
            self.query_one("#plot").set_class(event.size.width < 110, "-narrow")
        self.set_class(event.size.width < 100, "-narrow")

    @property
    def groups_table(self) -> KeyedTable:
        return self.query_one("#groups", KeyedTable)

    @property
    def consumers_table(self) -> KeyedTable:
        return self.query_one("#consumers", KeyedTable)

    @property
    def pending_table(self) -> KeyedTable:
        return self.query_one("#pending", KeyedTable)

    @property
    def browser_table(self) -> KeyedTable:
        return self.query_one("#browser", KeyedTable)

    # -- configuration -----------------------------------------------------------------

    @property
    def alerts_cfg(self):
        return self.app.config.alerts

    @property
    def poison_at(self) -> int:
        return int(getattr(self.alerts_cfg, "stream_poison_deliveries", st.POISON_DELIVERIES))

    @property
    def dead_ms(self) -> int:
        return int(getattr(self.alerts_cfg, "stream_dead_consumer_seconds", 300) * 1000)

    def dlq_key(self) -> str:
        suffix = self.app.config.discovery.dlq_suffix or ":dlq"
        return f"{self.stream}{suffix}"

    def backend(self) -> Streams | None:
        monitor = getattr(self.app, "monitor", None)
        if monitor is None:
            return None
        if self._backend is None or self._backend.client is not monitor.client:
            self._backend = Streams(monitor.client)
        return self._backend

    def _error(self, exc: BaseException) -> None:
        self.notify(describe_error(exc, getattr(self.app, "settings", None)),
                    severity="error", timeout=6)

    # -- the stream table (from the poll) ----------------------------------------------

    def row(self, q: QueueStats) -> dict[str, object]:
        s = self.summaries.get(q.ref.key)
        now_ms = int(time.time() * 1000)

        def age(entry_id: str | None) -> str:
            t = st.id_ms(entry_id)
            return "-" if t is None else fmt.duration(max(now_ms - t, 0))

        return {
            "key": key_cell(q), "depth": fmt.count(q.depth), "pending": fmt.count(q.pending),
            "groups": len(q.groups),
            "first": age(s.first_id) if s else "…",
            "last": age(s.last_id if s and s.last_id else q.last_id),
            "memory": fmt.size(s.memory) if s else "…",
            "alerts": alert_cell(q),
        }

    def summary(self, items: list[QueueStats]) -> Text:
        out = Text(f"{len(items)} stream{'s' if len(items) != 1 else ''}")
        if self.stream:
            out.append("  ·  ")
            out.append(printable(self.stream, 60), style="bold")
            if self.group:
                out.append(" / ")
                out.append(printable(self.group, 40), style="bold")
        kinds = {g.lag_kind for g in self.group_rows}
        if kinds & {"counted", "estimate"}:
            out.append("  lag counted here (XINFO has none)" +
                       ("; ≈ estimated" if "estimate" in kinds else ""), style="yellow")
        monitor = getattr(self.app, "monitor", None)
        if monitor is not None and monitor.client.capabilities.server_kind != "unknown" \
                and not monitor.client.capabilities.xautoclaim:
            out.append("  no XAUTOCLAIM: C uses XPENDING + XCLAIM", style="yellow")
        out.append("   tab: next table · enter: open · ? help", style="dim")
        return out

    def stream_of(self, ident: str | None) -> str | None:
        if ident is None or self.snapshot is None:
            return None
        for q in self.snapshot.queues:
            if q.ref.ident == ident:
                return q.ref.key
        return None

    def update_snapshot(self, snap: Snapshot, history: History | None) -> None:
        super().update_snapshot(snap, history)
        keys = [q.ref.key for q in self.items(snap)]
        if self.stream is None or self.stream not in keys:
            if self.stream is not None and self.stream not in keys:
                self._select_stream(None)
            current = self.stream_of(self.table.cursor_key)
            if current is not None:
                self._select_stream(current)
        if self.active():
            self.draw_plot()
            self.refresh_detail()

    def focus_ident(self, ident: str) -> bool:
        found = super().focus_ident(ident)
        key = self.stream_of(ident)
        if key is not None:
            self._select_stream(key)
            self.refresh_detail()
        return found

    def select_group(self, name: str) -> None:
        """Select this group of the selected stream (e.g. from an alert on the Overview);
        the detail refresh keeps it if the stream has it."""
        if self.stream is None or name == self.group:
            return
        self._select_group(name)
        self.refresh_detail()

    # -- selection ---------------------------------------------------------------------

    def _select_stream(self, key: str | None) -> None:
        if key == self.stream:
            return
        self.stream = key
        self.group = None
        self.consumer = None
        self.group_rows, self.consumer_rows = [], []
        self.groups_table.set_rows([])
        self.consumers_table.set_rows([])
        self._reset_pages()
        self.browser_rows, self.browser_end, self.browser_stack = [], "+", []
        self.detail_error = None
        self.draw_detail()
        self.draw_plot()

    def _select_group(self, name: str | None) -> None:
        if name == self.group:
            return
        self.group = name
        self.consumer = None
        self.consumer_rows = []
        self.consumers_table.set_rows([])
        self._reset_pages()
        self.draw_detail()
        self.draw_plot()

    def _reset_pages(self) -> None:
        self.page, self.page_start, self.page_stack = None, "-", []
        self.pending_table.set_rows([])

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = str(event.row_key.value) if event.row_key is not None else None
        table_id = event.data_table.id
        if table_id == "table":
            stream = self.stream_of(key)
            if stream is not None and stream != self.stream:
                self._select_stream(stream)
                self.refresh_detail()
        elif table_id == "groups" and key is not None and key != self.group:
            self._select_group(key)
            self.refresh_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        key = str(event.row_key.value)
        table_id = event.data_table.id
        if table_id == "table":
            self._select_stream(self.stream_of(key))
            self.groups_table.focus()
            self.refresh_detail()
        elif table_id == "groups":
            self._select_group(key)
            self._show_mode("pending")
            self.pending_table.focus()
            self.refresh_detail()
        elif table_id == "consumers":
            self.consumer = None if self.consumer == key else key
            self._reset_pages()
            self._show_mode("pending")
            self.pending_table.focus()
            self.draw_detail()
            self.refresh_detail()
        elif table_id in ("pending", "browser"):
            self.inspect(key)

    def action_back(self) -> None:
        focused = self.app.focused
        fid = focused.id if focused is not None else None
        if fid in ("pending", "browser"):
            if self.consumer is not None:
                self.consumer = None
                self._reset_pages()
                self.draw_detail()
                self.refresh_detail()
            (self.consumers_table if self.consumer_rows else self.groups_table).focus()
        elif fid == "consumers":
            self.groups_table.focus()
        elif fid == "groups":
            self.table.focus()
        else:
            self.app.action_back()

    def _show_mode(self, mode: str) -> None:
        self.mode = mode
        self.pending_table.display = mode == "pending"
        self.browser_table.display = mode == "browser"

    # -- reading -----------------------------------------------------------------------

    def refresh_detail(self) -> None:
        if self._refreshing:
            self._again = True
            return
        self._refreshing = True
        self._refresh_worker()

    @work(group="streams-refresh", exit_on_error=False)
    async def _refresh_worker(self) -> None:
        try:
            while True:
                self._again = False
                try:
                    await self._refresh_once()
                    self.detail_error = None
                except Exception as exc:  # one line, never a traceback
                    self.detail_error = describe_error(exc, getattr(self.app, "settings", None))
                self.draw_detail()
                if not self._again:
                    break
        finally:
            self._refreshing = False

    async def _refresh_once(self) -> None:
        backend = self.backend()
        if backend is None or self.snapshot is None:
            return
        keys = [q.ref.key for q in self.items(self.snapshot)]
        if keys and time.monotonic() - self._summaries_at >= OVERVIEW_EVERY_S:
            self._summaries_at = time.monotonic()
            self.summaries = await backend.overview(keys[:500])
            self.redraw()
        stream = self.stream
        if stream is None:
            return
        groups = await backend.groups(stream)
        if stream != self.stream:
            return
        self.group_rows = groups
        self._record_lag(stream, groups)
        self._draw_groups()
        names = [g.name for g in groups]
        if self.group not in names:
            self._select_group(self.groups_table.cursor_key if self.groups_table.cursor_key
                               in names else (names[0] if names else None))
        group = self.group
        if self.mode == "browser":
            await self._refresh_browser(backend, stream)
        if group is None:
            return
        consumers = await backend.consumers(stream, group)
        if (stream, group) != (self.stream, self.group):
            return
        self.consumer_rows = consumers
        self._draw_consumers()
        if self.mode == "pending":
            page = await backend.pending_page(
                stream, group, start=self.page_start, count=st.PAGE_SIZE,
                min_idle_ms=self.min_idle_ms, consumer=self.consumer)
            # Entries trimmed away since their body was cached show as deleted.
            first = self.summaries.get(stream)
            floor = st.parse_id(first.first_id) if first and first.first_id else None
            if floor is not None or (first and first.length == 0):
                for e in page.entries:
                    if self.bodies.get(e.id) is not None and (
                            floor is None or st.parse_id(e.id) < floor):
                        self.bodies[e.id] = None
            missing = [e.id for e in page.entries if e.id not in self.bodies]
            if missing:
                self.bodies.update(await backend.entries(stream, missing))
            if (stream, group) != (self.stream, self.group):
                return
            if len(self.bodies) > 5_000:
                keep = {e.id for e in page.entries}
                self.bodies = {k: v for k, v in self.bodies.items() if k in keep}
            self.page = page
            self._draw_pending()

    async def _refresh_browser(self, backend: Streams, stream: str) -> None:
        if self.tail and self.browser_end == "+" and self.browser_rows:
            new = await backend.newer(stream, self.browser_rows[0].id, count=TAIL_KEEP)
            rows = (new + self.browser_rows)[:TAIL_KEEP]
            # A trimmed or deleted stream: drop rows the server no longer has.
            first = self.summaries.get(stream)
            if first and first.first_id:
                floor = st.parse_id(first.first_id)
                rows = [r for r in rows if st.parse_id(r.id) >= floor]
        else:
            rows = await backend.browse(stream, end=self.browser_end, count=BROWSE_PAGE)
        if stream == self.stream:
            self.browser_rows = rows
            self._draw_browser()

    def _record_lag(self, stream: str, groups: list[GroupInfo]) -> None:
        """Where the poll has no lag (Ferrite, Redis 6), keep the computed one for the plot."""
        history = self.history
        if history is None or self.snapshot is None:
            return
        ident = next((q.ref.ident for q in self.snapshot.queues
                      if q.ref.key == stream and q.ref.kind is QueueKind.STREAM), None)
        if ident is None:
            return
        polled = {g.name: g.lag for q in self.snapshot.queues if q.ref.ident == ident
                  for g in q.groups}
        now = time.monotonic()
        for g in groups:
            if polled.get(g.name) is None and g.lag is not None:
                history.series(ident, f"lag:{g.name}").add(now, g.lag)
            self._check_alerts(stream, g)

    def _check_alerts(self, stream: str, g: GroupInfo) -> None:
        cfg = self.alerts_cfg
        for kind, crossed, text in (
            ("lag", g.lag is not None and cfg.stream_lag > 0 and g.lag >= cfg.stream_lag,
             f"lag {g.lag_text}"),
            ("idle", g.oldest_idle_ms is not None and cfg.oldest_age_seconds > 0
             and g.oldest_idle_ms >= cfg.oldest_age_seconds * 1000,
             f"oldest pending idle {fmt.duration(g.oldest_idle_ms)}"),
        ):
            key = (stream, g.name, kind)
            if crossed and key not in self._alerted:
                self._alerted.add(key)
                self.notify(f"{printable(stream, 40)} / {printable(g.name, 30)}: {text}",
                            severity="warning", timeout=6)
            elif not crossed:
                self._alerted.discard(key)

    # -- drawing -----------------------------------------------------------------------

    def _group_alert(self, g: GroupInfo) -> Text:
        cfg = self.alerts_cfg
        parts = []
        if g.lag is not None and cfg.stream_lag > 0 and g.lag >= cfg.stream_lag:
            parts.append("lag")
        if g.oldest_idle_ms is not None and cfg.oldest_age_seconds > 0 \
                and g.oldest_idle_ms >= cfg.oldest_age_seconds * 1000:
            parts.append("idle")
        return Text(", ".join(parts), style="bold yellow") if parts else Text("ok", "green")

    def _draw_groups(self) -> None:
        rows = []
        for g in self.group_rows:
            lag = Text(g.lag_text, style="yellow" if g.lag_kind == "estimate" else "")
            if g.lag is None:
                lag.stylize("dim")
            rows.append((g.name, {
                "name": Text(printable(g.name, 60), no_wrap=True, overflow="ellipsis"),
                "consumers": g.consumers, "pending": fmt.count(g.pending), "lag": lag,
                "ldid": g.last_delivered_id,
                "read": "n/a" if g.entries_read is None else fmt.count(g.entries_read),
                "oldest": fmt.duration(g.oldest_idle_ms), "alert": self._group_alert(g),
            }))
        self.groups_table.set_rows(rows)
        if self.group is not None:
            self.groups_table.select_key(self.group)

    def _draw_consumers(self) -> None:
        rows = []
        for c in self.consumer_rows:
            dead = c.dead(self.dead_ms)
            name = Text(printable(c.name, 60), no_wrap=True, overflow="ellipsis")
            if c.name == self.consumer:
                name.stylize("bold reverse")
            rows.append((c.name, {
                "name": name, "pending": fmt.count(c.pending),
                "idle": fmt.duration(c.idle_ms),
                "inactive": "n/a" if c.inactive_ms is None else fmt.duration(c.inactive_ms),
                "dead": Text("dead?", style="bold red") if dead else Text("", style="dim"),
            }))
        self.consumers_table.set_rows(rows)

    def shown_entries(self) -> list[PendingEntry]:
        if self.page is None:
            return []
        entries = list(self.page.entries)
        if self.sort == "idle":
            entries.sort(key=lambda e: -e.idle_ms)
        elif self.sort == "deliveries":
            entries.sort(key=lambda e: -e.deliveries)
        elif self.sort == "consumer":
            entries.sort(key=lambda e: e.consumer)
        return entries

    def _draw_pending(self) -> None:
        now_ms = int(time.time() * 1000)
        rows = []
        for e in self.shown_entries():
            body = self.bodies.get(e.id, "?")
            if body is None:
                preview = Text("(deleted from the stream)", style="italic red")
            elif body == "?":
                preview = Text("…", style="dim")
            else:
                preview = Text(body.preview(120), no_wrap=True, overflow="ellipsis")
            poison = e.is_poison(self.poison_at)
            t = st.id_ms(e.id)
            rows.append((e.id, {
                "mark": Text("P!", style="bold red") if poison else Text(""),
                "id": e.id,
                "consumer": Text(printable(e.consumer, 60), no_wrap=True, overflow="ellipsis"),
                "idle": fmt.duration(e.idle_ms),
                "deliveries": Text(str(e.deliveries), style="bold red" if poison else ""),
                "age": "-" if t is None else fmt.duration(max(now_ms - t, 0)),
                "preview": preview,
            }))
        self.pending_table.set_rows(rows)

    def _draw_browser(self) -> None:
        now_ms = int(time.time() * 1000)
        rows = []
        for e in self.browser_rows:
            t = st.id_ms(e.id)
            rows.append((e.id, {
                "id": e.id,
                "age": "-" if t is None else fmt.duration(max(now_ms - t, 0)),
                "nfields": len(e.fields),
                "preview": Text(e.preview(160), no_wrap=True, overflow="ellipsis"),
            }))
        self.browser_table.set_rows(rows)

    def draw_detail(self) -> None:
        head = Text()
        if self.detail_error:
            head.append(printable(self.detail_error, 200), style="bold red")
        elif self.stream is None:
            head.append("select a stream", style="dim")
        elif self.mode == "browser":
            head.append("entries of ", style="dim")
            head.append(printable(self.stream, 50), style="bold")
            head.append(" newest first" if self.browser_end == "+" else
                        f" at or before {self.browser_end}")
            head.append(f" · {len(self.browser_rows)} shown")
            head.append(" · LIVE TAIL" if self.tail else "", style="bold green")
            head.append("  ] older · [ newest · t tail · g go to · p pending", style="dim")
        elif self.group is None:
            head.append("no consumer groups on this stream: G creates one", style="dim")
        else:
            head.append("pending of ", style="dim")
            head.append(printable(self.group, 40), style="bold")
            if self.consumer is not None:
                head.append(" held by ", style="dim")
                head.append(printable(self.consumer, 40), style="bold")
            if self.min_idle_ms:
                head.append(f" · idle ≥ {fmt.duration(self.min_idle_ms)}")
            page_no = len(self.page_stack) + 1
            shown = len(self.page.entries) if self.page else 0
            head.append(f" · page {page_no}, {shown} shown")
            if self.page is not None and self.page.next_start:
                head.append(" (more: ])")
            head.append(f" · sort {self.sort}")
            poison = sum(1 for e in self.shown_entries() if e.is_poison(self.poison_at))
            if poison:
                head.append(f" · {poison} poison (≥{self.poison_at} deliveries)",
                            style="bold red")
            head.append("  c/C claim a/A ack k/K DLQ i idle s sort", style="dim")
        self.query_one("#detail-head", Static).update(head)

    def draw_plot(self) -> None:
        if PlotextPlot is None or not self.is_mounted:
            return
        plot = self.query_one("#plot", PlotextPlot)
        if not plot.display or plot.has_class("-narrow"):
            return
        # Plotting costs a few ms: only when what it shows changed, at most once a second.
        ident = next((q.ref.ident for q in (self.snapshot.queues if self.snapshot else ())
                      if q.ref.key == self.stream and q.ref.kind is QueueKind.STREAM), None)
        stamp = (ident, self.group)
        now = time.monotonic()
        if stamp == self._plot_stamp and now - self._plot_at < 1.0:
            return
        self._plot_stamp, self._plot_at = stamp, now
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        title = "pending / lag"
        if self.history is not None and ident is not None and self.group is not None:
            title = f"{printable(self.group, 20)}: pending / lag"
            for metric, label in (("pending", "pending"), ("lag", "lag")):
                series = self.history.get(ident, f"{metric}:{self.group}")
                if series is None or not series.samples:
                    continue
                t0 = series.samples[-1].t
                xs = [round(s.t - t0, 1) for s in series.samples]
                plt.plot(xs, series.values(), label=label, marker="braille")
        plt.title(title)
        plt.xlabel("seconds ago")
        plot.refresh()

    # -- selected things ---------------------------------------------------------------

    def selected_entry(self) -> PendingEntry | None:
        key = self.pending_table.cursor_key
        if self.page is None or key is None:
            return None
        return next((e for e in self.page.entries if e.id == key), None)

    def selected_consumer(self) -> ConsumerInfo | None:
        key = self.consumers_table.cursor_key
        return next((c for c in self.consumer_rows if c.name == key), None)

    def selected_group(self) -> GroupInfo | None:
        return next((g for g in self.group_rows if g.name == self.group), None)

    def _need_group(self) -> bool:
        if self.stream is None or self.group is None:
            self.notify("select a stream and a consumer group first", timeout=3)
            return False
        return True

    def _need_entry(self) -> PendingEntry | None:
        if not self._need_group():
            return None
        if self.mode != "pending":
            self.notify("these keys act on pending entries: p shows them", timeout=3)
            return None
        entry = self.selected_entry()
        if entry is None:
            self.notify("no pending entry selected", timeout=3)
        return entry

    def _default_consumer(self, exclude: str | None = None) -> str:
        live = [c.name for c in self.consumer_rows
                if not c.dead(self.dead_ms) and c.name != exclude]
        return live[0] if live else CONSOLE_CONSUMER

    def _consumer_list(self) -> Text:
        out = Text("Consumers of this group: ")
        if not self.consumer_rows:
            out.append("none yet", style="dim")
        for i, c in enumerate(self.consumer_rows):
            if i:
                out.append(", ")
            out.append(printable(c.name, 40), style="bold")
            out.append(f" ({c.pending} pending, idle {fmt.duration(c.idle_ms)}"
                       f"{', dead?' if c.dead(self.dead_ms) else ''})")
        return out

    def _after(self, message: str, severity: str = "information") -> None:
        self.notify(message, severity=severity, timeout=5)
        self.bodies.clear()
        self.refresh_detail()
        monitor = getattr(self.app, "monitor", None)
        if monitor is not None:
            monitor.poll_now()

    # -- inspect -----------------------------------------------------------------------

    def inspect(self, entry_id: str) -> None:
        if self.stream is not None:
            self._inspect_worker(self.stream, entry_id)

    @work(group="streams-inspect", exit_on_error=False)
    async def _inspect_worker(self, stream: str, entry_id: str) -> None:
        from ferrite_tui.ui.screens.inspector import InspectorScreen

        backend = self.backend()
        if backend is None:
            return
        try:
            entry = (await backend.entries(stream, [entry_id]))[entry_id]
        except Exception as exc:
            self._error(exc)
            return
        meta = [("stream", printable(stream, 200)), ("id", entry_id)]
        t = st.id_ms(entry_id)
        if t is not None:
            meta.append(("added", datetime.fromtimestamp(t / 1000).isoformat(
                sep=" ", timespec="seconds")))
        pending = next((e for e in (self.page.entries if self.page else ())
                        if e.id == entry_id), None)
        if pending is not None and self.mode == "pending":
            meta += [("group", printable(self.group or "", 100)),
                     ("consumer", printable(pending.consumer, 100)),
                     ("idle", fmt.duration(pending.idle_ms)),
                     ("deliveries", str(pending.deliveries)
                      + ("  (poison)" if pending.is_poison(self.poison_at) else ""))]
        if entry is None:
            meta.append(("note", "this entry is no longer in the stream (deleted or trimmed)"))
            self.app.push_screen(InspectorScreen(f"{stream} {entry_id}", b"", meta=meta,
                                                 fields=[]))
            return
        data = entry.data
        if data is None:
            meta.append(("note", "no `data` field: all fields are shown"))
        else:
            meta.append(("data", decode(data).kind))
        self.app.push_screen(InspectorScreen(
            f"{stream} {entry_id}", data if data is not None else b"", meta=meta,
            fields=list(entry.fields)))

    # -- actions: claim ----------------------------------------------------------------

    def action_claim(self) -> None:
        if not self.app.writable("claim"):
            return
        entry = self._need_entry()
        if entry is None:
            return
        stream, group = self.stream, self.group
        body = Text()
        body.append(f"Entry {entry.id}, held by ")
        body.append(printable(entry.consumer, 60), style="bold")
        body.append(f", idle {fmt.duration(entry.idle_ms)}, {entry.deliveries} deliveries.\n")
        body.append("It is claimed only if nobody took it since you saw it (min-idle).\n",
                    style="dim")
        body.append_text(self._consumer_list())

        def done(values: dict[str, str] | None) -> None:
            if values:
                self._claim_worker(stream, group, values["consumer"], [entry])

        self.app.push_screen(FormScreen(
            "Claim pending entry", [Field("consumer", "to consumer (pick one or a new name)",
                                          self._default_consumer(entry.consumer),
                                          check=lambda v: None if v else "give a name")],
            submit_label="Claim", body=body), done)

    @work(group="streams-claim", exit_on_error=False)
    async def _claim_worker(self, stream, group, consumer, entries) -> None:
        try:
            result = await self.backend().claim(stream, group, consumer, entries)
        except Exception as exc:
            self._error(exc)
            return
        self._after(f"claim to {printable(consumer, 40)}: {result.summary('claimed')}",
                    "information" if result.done else "warning")

    def action_claim_idle(self) -> None:
        if not self.app.writable("claim all idle") or not self._need_group():
            return
        stream, group = self.stream, self.group
        g = self.selected_group()
        default_s = max(self.min_idle_ms, self.dead_ms) // 1000
        body = Text(f"Claims every pending entry of this group idle at least T seconds "
                    f"({g.pending if g else '?'} pending now), in chunks, with progress.\n")
        body.append_text(self._consumer_list())

        def check_s(v: str) -> str | None:
            try:
                return None if float(v) >= 0 else "must be ≥ 0"
            except ValueError:
                return "a number of seconds"

        def done(values: dict[str, str] | None) -> None:
            if values:
                self._claim_idle_worker(stream, group, values["consumer"],
                                        int(float(values["idle"]) * 1000),
                                        g.pending if g else None)

        self.app.push_screen(FormScreen(
            "Claim all idle entries", [
                Field("consumer", "to consumer", self._default_consumer(),
                      check=lambda v: None if v else "give a name"),
                Field("idle", "idle at least (seconds)", str(default_s), check=check_s),
            ], submit_label="Claim", body=body), done)

    @work(group="streams-claim-idle", exit_on_error=False)
    async def _claim_idle_worker(self, stream, group, consumer, min_idle_ms, total) -> None:
        from ferrite_tui.ui.screens.progress import ProgressScreen

        cancel = Cancel()
        screen = ProgressScreen(f"Claiming entries idle ≥ {fmt.duration(min_idle_ms)}",
                                total or 0, cancel)
        self.app.push_screen(screen)
        try:
            report = await self.backend().claim_idle(
                stream, group, consumer, min_idle_ms, total=total,
                progress=screen.update, cancel=cancel)
        except Exception as exc:
            screen.dismiss(None) if screen.is_mounted else None
            self._error(exc)
            return
        screen.finish(report)
        self._after(f"claim idle to {printable(consumer, 40)}: {report.summary('claimed')}")

    # -- actions: ack ------------------------------------------------------------------

    def action_ack(self) -> None:
        if not self.app.writable("ack"):
            return
        entry = self._need_entry()
        if entry is not None:
            self._ack_worker(self.stream, self.group, [entry.id])

    def action_ack_all(self) -> None:
        if not self.app.writable("ack all shown") or not self._need_group():
            return
        entries = self.shown_entries() if self.mode == "pending" else []
        if not entries:
            self.notify("no pending entries shown", timeout=3)
            return
        stream, group = self.stream, self.group
        ids = [e.id for e in entries]
        body = Text(f"Acknowledge the {len(ids)} pending entries shown (this page"
                    f"{', one consumer' if self.consumer else ''}"
                    f"{', idle filter' if self.min_idle_ms else ''}) in group ")
        body.append(printable(group, 40), style="bold")
        body.append(". They leave the pending list and are never redelivered.")

        def done(ok: bool | None) -> None:
            if ok:
                self._ack_worker(stream, group, ids)

        self.app.push_screen(ConfirmScreen(f"Ack {len(ids)} entries?", body,
                                           f"Ack {len(ids)}"), done)

    @work(group="streams-ack", exit_on_error=False)
    async def _ack_worker(self, stream, group, ids) -> None:
        backend = self.backend()

        async def chunk(part) -> ChunkResult:
            res = await backend.ack(stream, group, part)
            return ChunkResult(done=len(res.done), skipped=len(res.skipped))

        try:
            report = await BulkRunner(ids, chunk, chunk_size=st.ACK_CHUNK).run()
        except Exception as exc:
            self._error(exc)
            return
        self._after(f"ack: {report.summary('acked')}",
                    "information" if report.done else "warning")

    # -- actions: dead letters ---------------------------------------------------------

    def action_dead_letter(self) -> None:
        if not self.app.writable("move to DLQ"):
            return
        entry = self._need_entry()
        if entry is None:
            return
        if not entry.is_poison(self.poison_at):
            self.notify(f"entry {entry.id} has {entry.deliveries} deliveries, under the "
                        f"poison threshold {self.poison_at}: not moved", severity="warning")
            return
        self._ask_dlq([entry])

    def action_dead_letter_all(self) -> None:
        if not self.app.writable("move poison to DLQ") or not self._need_group():
            return
        entries = [e for e in self.shown_entries() if e.is_poison(self.poison_at)]
        if not entries:
            self.notify(f"no poison entries shown (≥{self.poison_at} deliveries)", timeout=3)
            return
        self._ask_dlq(entries)

    def _ask_dlq(self, entries: list[PendingEntry]) -> None:
        stream, group = self.stream, self.group
        body = Text(f"Move {len(entries)} poison entr{'y' if len(entries) == 1 else 'ies'} "
                    "to a dead-letter list (the seed's DeadLetter envelope, reason "
                    "\"max deliveries exceeded\") and ack each in the same MULTI/EXEC.")

        def done(values: dict[str, str] | None) -> None:
            if values:
                self._dlq_worker(stream, group, entries, values["dlq"])

        self.app.push_screen(FormScreen(
            f"Move {len(entries)} to DLQ", [Field("dlq", "dead-letter list key",
                                                   self.dlq_key(),
                                                   check=lambda v: None if v else "required")],
            submit_label=f"Move {len(entries)}", body=body), done)

    @work(group="streams-dlq", exit_on_error=False)
    async def _dlq_worker(self, stream, group, entries, dlq) -> None:
        try:
            result = await self.backend().dead_letter(stream, group, entries, dlq)
        except Exception as exc:
            self._error(exc)
            return
        self._after(f"to {printable(dlq, 40)}: {result.summary('moved')}",
                    "information" if result.done else "warning")

    # -- actions: publish --------------------------------------------------------------

    def action_publish(self) -> None:
        if not self.app.writable("publish"):
            return

        def done(result) -> None:
            if result:
                stream, fields, maxlen = result
                self._publish_worker(stream, fields, maxlen)

        self.app.push_screen(PublishScreen(self.stream or ""), done)

    @work(group="streams-publish", exit_on_error=False)
    async def _publish_worker(self, stream, fields, maxlen) -> None:
        try:
            new_id = await self.backend().publish(stream, fields, maxlen=maxlen)
        except Exception as exc:
            self._error(exc)
            return
        self._after(f"published {new_id} to {printable(stream, 60)}")

    # -- actions: groups and consumers -------------------------------------------------

    def action_delete_consumer(self) -> None:
        if not self.app.writable("delete consumer") or not self._need_group():
            return
        consumer = self.selected_consumer()
        if consumer is None or self.app.focused is not self.consumers_table:
            self.notify("select a consumer in the consumers table (tab to it), then d",
                        timeout=4)
            return
        stream, group = self.stream, self.group
        body = Text("Delete consumer ")
        body.append(printable(consumer.name, 60), style="bold")
        body.append(" from group ")
        body.append(printable(group, 40), style="bold")
        if consumer.pending:
            body.append(f".\nIt holds {consumer.pending} pending entries: deleting drops them "
                        "from the group's pending list; they will not be redelivered. Claim "
                        "them first (C) to keep them.", style="bold red")
        else:
            body.append(". It holds no pending entries.")

        def done(ok: bool | None) -> None:
            if ok:
                self._delete_consumer_worker(stream, group, consumer.name, consumer.pending)

        self.app.push_screen(ConfirmScreen(
            "Delete consumer?", body,
            f"Delete, dropping {consumer.pending}" if consumer.pending else "Delete"), done)

    @work(group="streams-delconsumer", exit_on_error=False)
    async def _delete_consumer_worker(self, stream, group, name, pending) -> None:
        try:
            dropped = await self.backend().delete_consumer(stream, group, name,
                                                           allow_pending=pending)
        except Exception as exc:
            self._error(exc)
            return
        self._after(f"consumer {printable(name, 40)} deleted ({dropped} pending dropped)")

    def action_create_group(self) -> None:
        if not self.app.writable("create group"):
            return
        if self.stream is None:
            self.notify("select a stream first", timeout=3)
            return
        stream = self.stream

        def done(values: dict[str, str] | None) -> None:
            if values:
                self._group_worker("create", stream, values["name"], values["start"].strip())

        self.app.push_screen(FormScreen("Create consumer group", [
            Field("name", "group name", "", check=lambda v: None if v else "required"),
            Field("start", "start at: $ (new entries only), 0 (everything) or an id", "$",
                  check=lambda v: st.check_id(v, allow=("$", "0"))),
        ], submit_label="Create"), done)

    def action_set_group_id(self) -> None:
        if not self.app.writable("set group id") or not self._need_group():
            return
        stream, group = self.stream, self.group
        g = self.selected_group()
        body = Text("Entries after this id are delivered next (XGROUP SETID). Pending "
                    "entries are unchanged.")

        def done(values: dict[str, str] | None) -> None:
            if values:
                self._group_worker("setid", stream, group, values["id"].strip())

        self.app.push_screen(FormScreen(f"Set last id of {printable(group, 40)}", [
            Field("id", "last delivered id: $, 0 or an id",
                  g.last_delivered_id if g else "$",
                  check=lambda v: st.check_id(v, allow=("$", "0"))),
        ], submit_label="Set", body=body), done)

    @work(group="streams-group", exit_on_error=False)
    async def _group_worker(self, what, stream, group, start) -> None:
        try:
            if what == "create":
                await self.backend().create_group(stream, group, start)
                message = f"group {printable(group, 40)} created at {start}"
            else:
                await self.backend().set_group_id(stream, group, start)
                message = f"group {printable(group, 40)} now at {start}"
        except Exception as exc:
            self._error(exc)
            return
        self._after(message)

    # -- view controls -----------------------------------------------------------------

    def action_min_idle(self) -> None:
        def check(v: str) -> str | None:
            try:
                return None if float(v or 0) >= 0 else "must be ≥ 0"
            except ValueError:
                return "a number of seconds"

        def done(values: dict[str, str] | None) -> None:
            if values is not None:
                self.min_idle_ms = int(float(values["idle"] or 0) * 1000)
                self._reset_pages()
                self.draw_detail()
                self.refresh_detail()

        self.app.push_screen(FormScreen("Show pending entries idle at least", [
            Field("idle", "seconds (0: all)", str(self.min_idle_ms // 1000), check=check),
        ]), done)

    def action_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self._draw_pending()
        self.draw_detail()

    def action_show_pending(self) -> None:
        self._show_mode("pending")
        self.pending_table.focus()
        self.draw_detail()
        self.refresh_detail()

    def action_show_browser(self) -> None:
        if self.stream is None:
            self.notify("select a stream first", timeout=3)
            return
        self._show_mode("browser")
        self.browser_table.focus()
        self.draw_detail()
        self.refresh_detail()

    def action_tail(self) -> None:
        if self.mode != "browser":
            self.action_show_browser()
        self.tail = not self.tail
        if self.tail:
            self.browser_end, self.browser_stack = "+", []
        self.draw_detail()
        self.refresh_detail()

    def action_goto(self) -> None:
        if self.stream is None:
            self.notify("select a stream first", timeout=3)
            return

        def check(v: str) -> str | None:
            return None if parse_when(v, int(time.time() * 1000)) else \
                "an id, epoch ms, ISO time (2026-01-31T10:00) or -5m / -2h"

        def done(values: dict[str, str] | None) -> None:
            if values:
                self._show_mode("browser")
                self.tail = False
                self.browser_stack = []
                self.browser_end = parse_when(values["when"], int(time.time() * 1000)) or "+"
                self.browser_table.focus()
                self.draw_detail()
                self.refresh_detail()

        self.app.push_screen(FormScreen("Go to an id or a time", [
            Field("when", "entries at or before", "-5m", check=check)]), done)

    def action_next_page(self) -> None:
        if self.mode == "browser":
            if not self.browser_rows:
                return
            before = st.prev_id(self.browser_rows[-1].id)
            if before is None:
                return
            self.tail = False
            self.browser_stack.append(self.browser_end)
            self.browser_end = before
        else:
            if self.page is None or not self.page.next_start:
                self.notify("this is the last page", timeout=2)
                return
            self.page_stack.append(self.page_start)
            self.page_start = self.page.next_start
        self.draw_detail()
        self.refresh_detail()

    def action_prev_page(self) -> None:
        if self.mode == "browser":
            self.browser_end = self.browser_stack.pop() if self.browser_stack else "+"
        else:
            self.page_start = self.page_stack.pop() if self.page_stack else "-"
        self.draw_detail()
        self.refresh_detail()
