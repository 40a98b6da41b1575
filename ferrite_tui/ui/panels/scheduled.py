"""Panel 4: delayed queues (scheduled sorted set + ready list)."""

from __future__ import annotations

from rich.text import Text

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.models import QueueKind, QueueStats, Snapshot
from ferrite_tui.ui.panels.base import Panel, alert_cell, key_cell, rate_cells, trend_cell
from ferrite_tui.ui.widgets.table import Column


class ScheduledPanel(Panel):
    TITLE = "Scheduled"
    KINDS = (QueueKind.DELAYED,)

    def columns(self) -> list[Column]:
        return [
            Column("key", "scheduled set", 30),
            Column("depth", "scheduled", 9, justify="right"),
            Column("overdue", "overdue", 8, justify="right"),
            Column("oldest", "oldest overdue", 14, priority=1, justify="right"),
            Column("ready", "ready", 7, priority=1, justify="right"),
            Column("trend", "overdue trend", 13, priority=2),
            Column("alerts", "alerts", 20),
        ]

    def row(self, q: QueueStats) -> dict[str, object]:
        return {
            "key": key_cell(q), "depth": fmt.count(q.depth), "overdue": fmt.count(q.overdue),
            "oldest": fmt.duration(q.oldest_ms), "ready": fmt.count(q.ready),
            "trend": trend_cell(q, self.history, "overdue"), "alerts": alert_cell(q),
        }
