"""Panel 6: dead-letter lists and their target queues."""

from __future__ import annotations

from rich.text import Text

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.models import QueueKind, QueueStats, Snapshot
from ferrite_tui.ui.panels.base import Panel, alert_cell, key_cell, rate_cells, trend_cell
from ferrite_tui.ui.widgets.table import Column


class DeadLettersPanel(Panel):
    TITLE = "Dead letters"
    KINDS = (QueueKind.DLQ,)

    def columns(self) -> list[Column]:
        return [
            Column("key", "dead-letter list", 28),
            Column("target", "target queue", 22, priority=1),
            Column("depth", "dead", 8, justify="right"),
            Column("net", "growth/s", 8, priority=1, justify="right"),
            Column("trend", "trend", 12, priority=2),
            Column("oldest", "oldest", 7, priority=2, justify="right"),
            Column("alerts", "alerts", 18),
        ]

    def row(self, q: QueueStats) -> dict[str, object]:
        target = q.ref.target_key
        return {
            "key": key_cell(q),
            "target": printable(target, 80) if target else Text("(unknown)", style="yellow"),
            "depth": fmt.count(q.depth), "net": fmt.signed_rate(q.net_rate),
            "trend": trend_cell(q, self.history), "oldest": fmt.duration(q.oldest_ms),
            "alerts": alert_cell(q),
        }
