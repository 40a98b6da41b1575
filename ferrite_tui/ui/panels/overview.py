"""Panel 1: every queue on one table, the worst first; below it each alert with since when
it holds and what to press, and the last hour's trends in the space left."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.libraries.model import State, state_totals
from ferrite_tui.backend.models import TOTALS, AlertNote, QueueKind, QueueStats, Snapshot
from ferrite_tui.presentation import secondary
from ferrite_tui.ui.messages import OpenQueue
from ferrite_tui.ui.panels.base import (
    Panel,
    alert_cell,
    key_cell,
    mark_cell,
    open_queue,
    rate_cells,
    trend_cell,
)
from ferrite_tui.ui.widgets.table import FIGURE_CAP, Column, KeyedTable
from ferrite_tui.ui.widgets.trends import TrendCharts, chart_data, complete_minutes, strip_text

ALERT_ROWS = 6  # alert lines shown before the list scrolls
CHARTS_MIN_HEIGHT = 10
ALERT_ROWS_HOLD_S = 60
CHARTS_EVERY_S = 5  # below this the charts are not readable: the tables keep the space


#: A library queue's states beside its pending depth (the column shows when any is found).
LIBRARY_STATES = (State.SCHEDULED, State.ACTIVE, State.FAILED)


def library_states_cell(q: QueueStats) -> str:
    """'1 · 0 · 4': scheduled, in progress, failed ('?' unread or only in a key every
    queue shares, such as Celery's unacked; '-' no such state)."""
    if q.ref.library is None:
        return ""
    totals = state_totals([c._replace(size=None) if c.shared else c for c in q.states])
    return " · ".join("-" if s not in totals else "?" if totals[s] is None
                      else fmt.count(totals[s]) for s in LIBRARY_STATES)


def since_cell(note: AlertNote, now: float) -> Text:
    """How long the condition has held: '≥' where only a lower bound is known (first seen
    by the console, or before the trend window began)."""
    if note.since is None:
        return Text("?", style="dim")
    bound = note.since_from == "seen" or note.before_window
    held = max(now - note.since, 0)
    if bound and held < 1:  # just noticed: "≥0ms" would read as a figure
        return Text("new", style="dim")
    text = ("≥" if bound else "") + fmt.age(held * 1000)
    return Text(text, style="dim" if note.since_from == "seen" else "")


MIN_ALERT_HEAD = 16  # below this the queue's name is unreadable: cut the step instead


def alert_text(note: AlertNote, room: int = 1_000) -> Text:
    """'events:main › analytics: 25 pending — 5, then C to hand them to a live consumer';
    where that does not fit in `room` cells, the step in a few words ('— 5 C to a live
    consumer'), and what still does not fit ends in '…'."""
    where = printable(note.key, 60) + (f" › {printable(note.group, 40)}" if note.group else "")
    head = Text(no_wrap=True, overflow="ellipsis")
    head.append(where, style="bold")
    head.append(": ")
    head.append(printable(note.alert, 60), style="yellow")
    step = Text(" — ")
    step.append(note.panel_key, style="bold reverse")
    full = f", then {note.action}"
    if head.cell_len + step.cell_len + len(full) <= room or not note.short_action:
        step.append(full)
        out = head + step
        out.truncate(room, overflow="ellipsis")
        return out
    step.append(f" {note.short_action}")
    # The key to press is what the operator acts on: the name and the words give way first.
    head_room = room - step.cell_len
    if head.cell_len > head_room >= MIN_ALERT_HEAD:
        head.truncate(head_room)  # ends in "…" (the head's overflow)
    out = head + step
    out.no_wrap, out.overflow = True, "ellipsis"
    out.truncate(room, overflow="ellipsis")
    return out


class OverviewPanel(Panel):
    TITLE = "Overview"
    KINDS = tuple(QueueKind)
    EMPTY = "No queues found yet. Discovery is running; ctrl+r rescans now."

    DEFAULT_CSS = """
    OverviewPanel > #note { text-wrap: nowrap; text-overflow: ellipsis; }
    OverviewPanel > #table { height: auto; }
    OverviewPanel > #alerts { height: auto; overflow-x: hidden; }
    OverviewPanel > #legend { height: 1; color: $text-muted; padding: 0 1; }
    OverviewPanel > TrendCharts { height: 1fr; }
    OverviewPanel > #strip { height: auto; padding: 0 1; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.notes: dict[str, AlertNote] = {}
        self._charts_stamp: tuple | None = None
        self._charts_shown: tuple | None = None
        self._alert_rows, self._alert_rows_since = 0, 0.0  # the alert list's height, since

    def compose(self) -> ComposeResult:
        yield from super().compose()
        yield KeyedTable([
            Column("for", "for", 7, justify="right"),
            Column("alert", "alert — next step", 30, grow=True),
        ], id="alerts")
        yield Static("", id="legend")
        yield TrendCharts(id="charts")
        yield Static("", id="strip")

    def on_resize(self, event) -> None:
        self.redraw()

    def _layout(self) -> None:
        """The tables first, at their natural height; the charts get what is left, if
        that is enough to read them."""
        if not self.is_mounted:
            return
        table = self.table
        alerts = self.query_one("#alerts", KeyedTable)
        charts = self.query_one("#charts", TrendCharts)
        legend = self.query_one("#legend", Static)
        room = self.size.height - 1  # under the summary line
        table_need = table.row_count + 1
        rows = min(len(self.notes), ALERT_ROWS)
        now = self.snapshot.taken_at if self.snapshot is not None else 0.0
        # Fewer alerts shrink the list only after ALERT_ROWS_HOLD_S: an alert that comes and
        # goes moved the charts under it each time, and they were drawn again whole.
        if rows >= self._alert_rows or now - self._alert_rows_since >= ALERT_ROWS_HOLD_S:
            self._alert_rows, self._alert_rows_since = rows, now
        alert_need = self._alert_rows + 1 if self._alert_rows else 0
        if table_need + alert_need > room and alert_need:
            # The queue table keeps priority; the alerts keep at least their worst line.
            alert_need = max(min(alert_need, 2), room - table_need)
        alerts.display = bool(alert_need)
        alerts.styles.height = alert_need
        table.styles.max_height = max(room - alert_need, 2)
        free = room - min(table_need, room - alert_need) - alert_need - 1  # - legend
        show = free >= CHARTS_MIN_HEIGHT and self.snapshot is not None
        charts.display = legend.display = show
        # Too little room for charts, enough for four lines: the same trends as sparklines.
        self.query_one("#strip", Static).display = not show and free + 1 >= 4 \
            and self.snapshot is not None

    def columns(self) -> list[Column]:
        return [
            Column("mark", "", 1),
            Column("kind", "kind", 12, priority=2),
            Column("key", "key", 26),
            Column("depth", "depth", 8, justify="right"),
            Column("in", "in/s", 7, priority=1, justify="right"),
            Column("out", "out/s", 7, priority=1, justify="right"),
            Column("trend", "trend", 12, priority=3),
            Column("oldest", "oldest", 7, priority=1, justify="right"),
            Column("detail", "detail", 24, priority=4),
            Column("alerts", "alerts", 20),
        ]

    def items(self, snap: Snapshot) -> list[QueueStats]:
        return sorted(snap.queues, key=lambda q: (-q.severity, -q.depth, q.ref.key))

    def row(self, q: QueueStats) -> dict[str, object]:
        alerts = alert_cell(q)
        alerts.no_wrap, alerts.overflow = True, "ellipsis"  # a narrow column shows '…'
        return {
            "mark": mark_cell(q),
            "kind": q.ref.kind.label,
            "key": key_cell(q),
            "depth": fmt.count(q.depth),
            **rate_cells(q),
            "trend": trend_cell(q, self.history),
            "oldest": fmt.age(q.oldest_ms),
            "detail": secondary(q, self.session.now_ms() / 1000),
            "node": self._node(q),
            "states": library_states_cell(q),
            "alerts": alerts,
        }

    def update_snapshot(self, snap: Snapshot, history) -> None:
        if snap.cluster is not None and not any(c.key == "node" for c in self.table.all_columns):
            # On a cluster, a column saying which primary holds each queue (after the key).
            self.table.insert_column(3, Column("node", "node", 15, priority=1))
        if not any(c.key == "states" for c in self.table.all_columns) and any(
                q.ref.library is not None for q in snap.queues):
            # Library queues: scheduled, in progress and failed beside the depth.
            self.table.insert_column(next(i for i, c in enumerate(self.table.all_columns)
                                          if c.key == "depth") + 1,
                                     Column("states", "sch·run·fail", 12, priority=1,
                                            justify="right"))
        super().update_snapshot(snap, history)

    def _node(self, q: QueueStats) -> str:
        """The primary (host:port) holding the queue's key; empty off a cluster."""
        view = self.snapshot.cluster if self.snapshot is not None else None
        return (view.node_of(q.ref.key) or "?") if view is not None else ""

    def summary(self, items: list[QueueStats]) -> Text:
        alerting = sum(1 for q in items if q.severity)
        out = Text(f"{len(items)} queues")
        if alerting:
            out.append(f" · {alerting} need attention", style="bold yellow")
        if self.snapshot is not None and self.snapshot.access_note:
            # Before the totals, which the line's width may cut: keys not shown are news.
            out.append(f" · {printable(self.snapshot.access_note, 120)}", style="yellow")
        totals = self.snapshot.totals(items) if self.snapshot else {}
        for key, label in TOTALS.items():
            if totals.get(key):
                out.append(f" · {fmt.count(totals[key])} {label}")
        if self.snapshot is not None and self.snapshot.left_out:
            out.append(f" · {self.snapshot.left_out:,} not shown (max_queues "
                       f"{self.snapshot.max_queues:,}: raise it in [discovery])",
                       style="bold yellow")
        out.append("   enter: open in its panel · tab: alerts · ≥ lower bound · ? unknown",
                   style="dim")
        out.no_wrap, out.overflow = True, "ellipsis"  # one line; cut with '…', never wrapped
        return out

    def open_row(self, ident: str) -> None:
        open_queue(self, ident)

    def redraw(self) -> None:
        super().redraw()
        snap = self.snapshot
        if snap is None:
            return
        notes = [n for n in snap.alert_notes
                 if not self.filter_text or self.filter_text.lower() in n.key.lower()]
        self.notes = {f"{n.ident}\x00{n.alert}": n for n in notes}
        now = snap.taken_at
        # The alert column gets what the 'for' column (as wide as its longest age: a
        # figure is not cut) and the cells' padding leave.
        since = {row_key: since_cell(n, now) for row_key, n in self.notes.items()}
        for_width = min(max([7, *(cell.cell_len for cell in since.values())]), FIGURE_CAP)
        scrollbar = 2 if len(self.notes) > ALERT_ROWS else 0
        room = max((self.size.width or 120) - 2 - for_width - 2 - 2 - scrollbar, 20)
        self.query_one("#alerts", KeyedTable).set_rows([
            (row_key, {"for": since[row_key], "alert": alert_text(n, room)})
            for row_key, n in self.notes.items()])
        self._layout()
        trends = self.session.trends
        strip = self.query_one("#strip", Static)
        if not self.active():  # charts cost time: only on the tab shown (redrawn on return)
            self._charts_stamp = self._charts_shown = None
            return
        if not (self.query_one("#charts").display or strip.display):
            return
        # Summing every queue's minutes costs a few ms per hundred queues: at most every
        # CHARTS_EVERY_S, or when the size changes. They are drawn again only when what
        # they show changed (the charts: complete minutes, so about once a minute).
        stamp = (trends.rebuilt_at, trends.rebuilding, strip.display, self.size)
        tick = (int(snap.taken_at // CHARTS_EVERY_S), stamp)
        if tick == self._charts_stamp:
            return
        self._charts_stamp = tick
        data = chart_data(trends, snap)
        if not strip.display:
            data = complete_minutes(data)
        if (stamp, data) == self._charts_shown:
            return
        self._charts_shown = (stamp, data)
        if strip.display:
            strip.update(strip_text(data, self.size.width - 2))
            return
        self.query_one("#charts", TrendCharts).draw(data)
        self.query_one("#legend", Static).update(self.legend(trends, data))

    def legend(self, trends, data) -> Text:
        minutes = trends.window_minutes
        out = Text(f"last {minutes} min, per minute · ")
        if trends.rebuilding:
            out.append("rebuilding from the data… ", style="bold")
        if data.live_from is not None or any(data.rebuilt):
            out.append("rebuilt from the data", style="bold")
            out.append(" (jobs still queued: a floor)")
            if data.live_from is not None:
                out.append(" ┆ then live")
        elif not trends.rebuilding:
            out.append("live only (not rebuilt)")
        if data.sampled:
            out.append(" · ≈ sampled")
        if data.alert_starts:
            out.append(" · ")
            out.append("│ alert starts", style="dark_orange")
        for note in trends.notes[:1]:
            out.append(f" · {printable(note, 80)}", style="yellow")
        return out

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id != "alerts":
            super().on_data_table_row_selected(event)
            return
        event.stop()
        note = self.notes.get(str(event.row_key.value))
        if note is not None:
            self.post_message(OpenQueue(note.ident, group=note.group))
