"""Panel 1: every queue on one table, the worst first."""

from __future__ import annotations

from rich.text import Text

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.models import QueueKind, QueueStats, Snapshot
from ferrite_tui.ui.panels.base import (
    Panel,
    alert_cell,
    key_cell,
    mark_cell,
    open_queue,
    rate_cells,
    trend_cell,
)
from ferrite_tui.ui.widgets.table import Column


def secondary(q: QueueStats) -> str:
    """The one extra figure that matters for each kind."""
    kind = q.ref.kind
    if kind is QueueKind.RELIABLE:
        return f"{fmt.count(q.processing or 0)} processing"
    if kind is QueueKind.DELAYED:
        return f"{fmt.count(q.overdue or 0)} overdue, {fmt.count(q.ready or 0)} ready"
    if kind is QueueKind.STREAM:
        return f"{len(q.groups)} groups, {fmt.count(q.pending or 0)} pending"
    if kind is QueueKind.DLQ and q.ref.target_key:
        return f"→ {q.ref.target_key}"
    return ""


class OverviewPanel(Panel):
    TITLE = "Overview"
    KINDS = tuple(QueueKind)
    EMPTY = "No queues found yet. Discovery is running; ctrl+r rescans now."

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
        return {
            "mark": mark_cell(q),
            "kind": q.ref.kind.label,
            "key": key_cell(q),
            "depth": fmt.count(q.depth),
            **rate_cells(q),
            "trend": trend_cell(q, self.history),
            "oldest": fmt.duration(q.oldest_ms),
            "detail": secondary(q),
            "alerts": alert_cell(q),
        }

    def summary(self, items: list[QueueStats]) -> Text:
        alerting = sum(1 for q in items if q.severity)
        jobs = sum(q.depth for q in items if q.ref.kind is not QueueKind.STREAM)
        out = Text(f"{len(items)} queues · {fmt.count(jobs)} jobs waiting")
        if alerting:
            out.append(f" · {alerting} need attention", style="bold yellow")
        out.append("   enter: open in its panel · ≈ net change only (no counters on lists)",
                   style="dim")
        return out

    def open_row(self, ident: str) -> None:
        open_queue(self, ident)
