"""The Streams panel's tables: three linked ones on top (streams -> groups of the
highlighted stream -> consumers of the highlighted group), the layout, the selection, and
the plot of the group's pending and lag history."""

from __future__ import annotations

import time
from typing import cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import DataTable, Static

from ferrite_tui import formatting as fmt
from ferrite_tui.backend import stream_ids
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.history import History
from ferrite_tui.backend.models import GroupStats, QueueRef, QueueStats, Snapshot
from ferrite_tui.backend.streams import (
    ConsumerInfo,
    GroupInfo,
    PendingEntry,
    PendingPage,
    StreamEntry,
    Streams,
    StreamSummary,
)
from ferrite_tui.config import AlertConfig
from ferrite_tui.ui.panels.base import (
    BEFORE_FIRST_POLL,
    NothingSelected,
    Panel,
    alert_cell,
    key_cell,
)
from ferrite_tui.ui.panels.streams.columns import (
    BROWSER_COLUMNS,
    CONSUMER_COLUMNS,
    GROUP_COLUMNS,
    PENDING_COLUMNS,
)
from ferrite_tui.ui.panels.streams.paging import StreamPaging
from ferrite_tui.ui.widgets.items import PagedTable
from ferrite_tui.ui.widgets.table import Column, KeyedTable

try:  # the plot is a nicety: the panel works without it
    from textual_plotext import PlotextPlot
except ImportError:  # pragma: no cover
    PlotextPlot = None  # type: ignore[assignment,misc]

OVERVIEW_EVERY_S = 5.0
TAIL_KEEP = 500
SORTS = ("id", "idle", "deliveries", "consumer")


class StreamTables(Panel):
    """State, layout and the top tables; StreamDetail and StreamsPanel build on it."""

    #: View state; its watchers (detail.py) redraw and re-read what depends on it.
    mode: reactive[str] = reactive("pending", init=False)  # pending entries, or browser
    sort: reactive[str] = reactive("id", init=False)  # order of the pending entries shown
    min_idle_ms: reactive[int] = reactive(0, init=False)  # pending filter
    tail: reactive[bool] = reactive(False, init=False)  # browser follows the newest
    consumer: reactive[str | None] = reactive(None, init=False)  # pending of one consumer
    page_start: reactive[str] = reactive("-", init=False)  # pending page: XPENDING start id
    browser_end: reactive[str] = reactive("+", init=False)  # browser page: newest id shown

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._backend: Streams | None = None
        self.stream: str | None = None
        self.group: str | None = None
        self.consumer: str | None = None  # pending filtered to this consumer
        self.page_stack: list[str] = []  # starts of the pages before this one
        self.page: PendingPage | None = None
        self.bodies: dict[str, StreamEntry | None] = {}
        self.summaries: dict[str, StreamSummary] = {}
        self._summaries_at = 0.0
        self.group_rows: list[GroupInfo] = []
        self.consumer_rows: list[ConsumerInfo] = []
        self.browser_rows: list[StreamEntry] = []
        self.browser_stack: list[str] = []  # ends of the newer browser pages
        self.detail_error: str | None = None
        self._refreshing = False
        self._again = False
        self._alerted: set[tuple[str, str, str]] = set()
        self._plot_stamp: tuple | None = None
        self._plot_at = 0.0
        self.paging = StreamPaging(self)  # home, end, ] and [ on the lower lists

    # -- layout ------------------------------------------------------------------------

    def columns(self) -> list[Column]:
        return [
            Column("key", "stream", 8, fit=True),
            Column("depth", "length", 6, priority=1, justify="right"),
            Column("pending", "pend", 5, justify="right"),
            Column("groups", "grp", 3, priority=2, justify="right"),
            Column("first", "first", 6, priority=3, justify="right"),
            Column("last", "last", 6, priority=1, justify="right"),
            Column("memory", "memory", 9, priority=4, justify="right"),
            Column("alerts", "alerts", 14, priority=1),
        ]

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
            if PlotextPlot is not None:
                yield PlotextPlot(id="plot")

    def on_mount(self) -> None:
        self.browser_table.display = False
        self.pending_table.on_page = self.paging.page_to
        self.browser_table.on_page = self.paging.page_to
        self.share_top_width()

    # Implemented by StreamDetail (the lower half), called from the selection here.
    def refresh_detail(self) -> None:
        raise NotImplementedError

    def draw_detail(self) -> None:
        raise NotImplementedError

    def inspect(self, entry_id: str) -> None:
        raise NotImplementedError

    def draw_now(self) -> None:
        raise NotImplementedError

    @work(group="streams-end", exclusive=True, exit_on_error=False)
    async def go_to_end(self) -> None:
        await self.paging.to_end()

    def action_goto(self) -> None:
        raise NotImplementedError

    def on_show(self) -> None:
        self.share_top_width()
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
    def pending_table(self) -> PagedTable[PendingEntry]:
        return cast("PagedTable[PendingEntry]", self.query_one("#pending", PagedTable))

    @property
    def browser_table(self) -> PagedTable[StreamEntry]:
        return cast("PagedTable[StreamEntry]", self.query_one("#browser", PagedTable))

    # -- configuration -----------------------------------------------------------------

    @property
    def alerts_cfg(self) -> AlertConfig:
        return self.session.config.alerts

    @property
    def poison_at(self) -> int:
        return int(self.alerts_cfg.stream_poison_deliveries)

    @property
    def dead_ms(self) -> int:
        return int(self.alerts_cfg.stream_dead_consumer_seconds * 1000)

    def dlq_key(self) -> str:
        suffix = self.session.config.discovery.dlq_suffix or ":dlq"
        return f"{self.stream}{suffix}"

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
        s = self.summaries.get(q.ref.key)
        now_ms = self.session.now_ms()

        def age(entry_id: str | None) -> str:
            t = stream_ids.id_ms(entry_id)
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
        caps = self.session.capabilities
        if self.session.client is not None and caps.server_kind != "unknown" \
                and not caps.xautoclaim:
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
        self.share_top_width()
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
        the detail refresh keeps it if the stream has it. The groups table's cursor moves
        to it too: a RowHighlighted still queued for the row it was on (the refresh's
        redraw) is then stale and cannot take the selection back."""
        if self.stream is None:
            return
        self.groups_table.select_key(name)
        if name != self.group:
            self._select_group(name)
            self.refresh_detail()

    # -- selection ---------------------------------------------------------------------

    def _select_stream(self, key: str | None) -> None:
        if key == self.stream:
            return
        self.stream = key
        self.refresh_bindings()  # its layout's actions, in the footer
        self.group = self.consumer = None
        self.group_rows, self.consumer_rows = [], []
        self.groups_table.set_rows([])
        self.consumers_table.set_rows([])
        self._reset_pages()
        self.browser_rows, self.browser_stack = [], []
        self.browser_end = "+"
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
        self.page, self.page_stack = None, []
        self.pending_table.set_rows([])
        self.page_start = "-"

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = str(event.row_key.value) if event.row_key is not None else None
        table = event.data_table
        if isinstance(table, KeyedTable) and key != table.cursor_key:
            return  # a stale event: the cursor moved on (set_rows, then select_key)
        table_id = table.id
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
            self._show_mode("pending")
            self.pending_table.focus()
        elif table_id in ("pending", "browser"):
            self.inspect(key)

    def action_back(self) -> None:
        focused = self.app.focused
        fid = focused.id if focused is not None else None
        if fid in ("pending", "browser"):
            self.consumer = None
            (self.consumers_table if self.consumer_rows else self.groups_table).focus()
        elif fid == "consumers":
            self.groups_table.focus()
        elif fid == "groups":
            self.table.focus()
        else:
            self.ferrite.action_step_back()

    def _show_mode(self, mode: str) -> None:
        self.mode = mode

    # -- drawing -----------------------------------------------------------------------

    def polled_stream(self, stream: str | None = None) -> QueueStats | None:
        """The stream (by default the highlighted one) as the last poll saw it."""
        key = stream or self.stream
        if self.snapshot is None or key is None:
            return None
        return next((q for q in self.snapshot.queues
                     if q.ref.key == key and q.ref.kind in self.KINDS), None)

    def stream_ref(self) -> QueueRef | None:
        polled = self.polled_stream()
        return polled.ref if polled is not None else None

    def _polled_group(self, name: str | None) -> GroupStats | None:
        """This group as the last poll saw it: alerts, dead consumers, idle entries."""
        polled = self.polled_stream()
        return next((g for g in polled.groups if g.name == name), None) if polled else None

    def _dead_consumers(self) -> set[str]:
        polled = self._polled_group(self.group)
        return set(polled.dead_consumers) if polled is not None else set()

    def _group_alert(self, g: GroupInfo) -> Text:
        """The poll's alerts for this group (the poll computes every alert)."""
        polled = self._polled_group(g.name)
        if polled is None:
            return Text("…", style="dim")
        alerts = ", ".join(polled.alerts)
        return Text(alerts, style="bold yellow") if alerts else Text("ok", "green")

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
        self.share_top_width()

    def _draw_consumers(self) -> None:
        rows = []
        for c in self.consumer_rows:
            dead = c.name in self._dead_consumers()
            name = Text(printable(c.name, 60), no_wrap=True, overflow="ellipsis")
            if dead:  # marked in the name too: at 80 columns the dead? column is left out
                name = Text.assemble(("✗ ", "bold red"), name, no_wrap=True,
                                     overflow="ellipsis")
            if c.name == self.consumer:
                name.stylize("bold reverse")
            rows.append((c.name, {
                "name": name, "pending": fmt.count(c.pending),
                "idle": fmt.duration(c.idle_ms),
                "inactive": "n/a" if c.inactive_ms is None else fmt.duration(c.inactive_ms),
                # Not reading for the dead-consumer time, holding nothing: not dead (no
                # entries stuck), not live either (no claim default goes to it).
                "dead": Text("dead?", style="bold red") if dead else
                Text("quiet", style="yellow") if not c.reading(self.dead_ms) else
                Text("", style="dim"),
            }))
        self.consumers_table.set_rows(rows)
        self.share_top_width()

    def share_top_width(self) -> None:
        """The three top tables share the width by what they need (names whole), not by
        fixed shares: at 80 columns a group or consumer name is cut only when the three
        together cannot show their names."""
        for table in (self.table, self.groups_table, self.consumers_table):
            width = f"{table.natural_width}fr"
            if str(table.styles.width) != width:
                table.styles.width = width

    def draw_plot(self) -> None:
        if PlotextPlot is None or not self.is_mounted:
            return
        plot = self.query_one("#plot", PlotextPlot)
        if not plot.display or plot.has_class("-narrow"):
            return
        # Plotting costs a few ms: only when what it shows changed, at most once a second.
        polled = self.polled_stream()
        ident = polled.ref.ident if polled is not None else None
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
                t0 = series.samples[-1][0]
                xs = [round(t - t0, 1) for t, _ in series.samples]
                plt.plot(xs, series.values(), label=label, marker="braille")
        plt.title(title)
        plt.xlabel("seconds ago")
        plot.refresh()

