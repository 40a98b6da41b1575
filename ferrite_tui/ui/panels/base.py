"""What every panel shares: a snapshot goes in, a filtered, keyed table comes out."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.widgets import DataTable, Static

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.history import History
from ferrite_tui.backend.models import QueueKind, QueueRef, QueueStats, Snapshot
from ferrite_tui.ui.messages import OpenQueue
from ferrite_tui.ui.widgets.table import Column, KeyedTable


class Panel(Vertical):
    """A tab's content. Subclasses set TITLE and KINDS and give `columns` and `row`."""

    TITLE = ""
    KINDS: tuple[QueueKind, ...] = ()
    EMPTY = "No queues of this kind found (yet). Discovery rescans every 30 s; ctrl+r now."

    DEFAULT_CSS = """
    Panel { height: 1fr; }
    Panel > .panel-note { height: 1; color: $text-muted; padding: 0 1; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.snapshot: Snapshot | None = None
        self.history: History | None = None
        self.filter_text = ""

    def columns(self) -> list[Column]:
        raise NotImplementedError

    def row(self, q: QueueStats) -> dict[str, object]:
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        yield Static(Text(self.EMPTY, no_wrap=True, overflow="ellipsis"), classes="panel-note",
                     id="note")
        yield KeyedTable(self.columns(), id="table")

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#table", KeyedTable)

    def items(self, snap: Snapshot) -> list[QueueStats]:
        return snap.by_kind(*self.KINDS)

    def matches(self, q: QueueStats) -> bool:
        return not self.filter_text or self.filter_text.lower() in q.ref.key.lower()

    def update_snapshot(self, snap: Snapshot, history: History | None) -> None:
        self.snapshot = snap
        self.history = history
        # A hidden panel keeps the snapshot and draws it when its tab is shown (the app
        # calls show_latest): idle cost is one panel's rows per poll, not eight.
        self.stale = not self.active()
        if not self.stale:
            self.redraw()

    def show_latest(self) -> None:
        """The tab was just shown: catch up with the snapshots it skipped while hidden."""
        if getattr(self, "stale", False) and self.snapshot is not None:
            self.update_snapshot(self.snapshot, self.history)

    def redraw(self) -> None:
        if self.snapshot is None:
            return
        items = self.items(self.snapshot)
        shown = [q for q in items if self.matches(q)]
        self.table.set_rows([(q.ref.ident, self.row(q)) for q in shown])
        if not items:
            text = Text(self.EMPTY)
        elif self.filter_text:
            text = Text(f"filter “{self.filter_text}”: {len(shown)} of {len(items)}")
        else:
            text = self.summary(items)
        # Static.update re-lays out the screen: only when the words change (idle cost).
        if text != getattr(self, "_note_text", None):
            self._note_text = text
            self.query_one("#note", Static).update(text)

    def summary(self, items: list[QueueStats]) -> Text:
        return Text(f"{len(items)} queue{'s' if len(items) != 1 else ''}")

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self.redraw()

    def active(self) -> bool:
        """Whether this panel's tab is the one shown (panels read items only while shown)."""
        try:
            return self.app.active_panel() is self
        except NoMatches:  # the app is still composing or already tearing down
            return False

    def ref_of(self, ident: str | None) -> QueueRef | None:
        """The queue with this row key in the last snapshot."""
        if ident is None or self.snapshot is None:
            return None
        for q in self.snapshot.queues:
            if q.ref.ident == ident:
                return q.ref
        return None

    def focus_ident(self, ident: str) -> bool:
        table = self.table
        table.focus()
        return table.select_key(ident)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.open_row(str(event.row_key.value))

    def open_row(self, ident: str) -> None:
        """enter on a row; panels with a detail view override this."""


# -- cells shared by several panels --------------------------------------------------------

def key_cell(q: QueueStats) -> Text:
    return Text(printable(q.ref.key, 200), no_wrap=True, overflow="ellipsis")


def alert_cell(q: QueueStats) -> Text:
    if q.error:
        return Text(printable(q.error, 80), style="bold red")
    if q.alerts:
        return Text(", ".join(q.alerts), style="bold yellow")
    return Text("ok", style="green")


def mark_cell(q: QueueStats) -> Text:
    if q.error:
        return Text("✖", style="bold red")
    if q.alerts:
        return Text("▲", style="bold yellow")
    return Text("·", style="dim")


def trend_cell(q: QueueStats, history: History | None, metric: str = "depth") -> Text:
    series = history.get(q.ref.ident, metric) if history else None
    return Text(fmt.sparkline(series.values() if series else [], 12), style="cyan")


def rate_cells(q: QueueStats) -> dict[str, object]:
    """in/s and out/s where measured; a marked net figure (≈) where only depth is known."""
    if q.in_rate is not None or q.out_rate is not None:
        return {"in": fmt.rate(q.in_rate), "out": fmt.rate(q.out_rate)}
    net = q.net_rate
    if net is None:
        return {"in": "n/a", "out": "n/a"}
    return {
        "in": "≈" + fmt.rate(net) if net > 0.05 else "≈0",
        "out": "≈" + fmt.rate(-net) if net < -0.05 else "≈0",
    }


def open_queue(panel: Panel, ident: str) -> None:
    panel.post_message(OpenQueue(ident))
