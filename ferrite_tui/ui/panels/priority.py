"""Panel 3: priority queues (sorted sets of job envelopes)."""

from __future__ import annotations

from rich.text import Text

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.models import QueueKind, QueueStats, Snapshot
from ferrite_tui.ui.panels.base import Panel, alert_cell, key_cell, rate_cells, trend_cell
from ferrite_tui.ui.widgets.table import Column


class PriorityPanel(Panel):
    TITLE = "Priority"
    KINDS = (QueueKind.PRIORITY,)

    def columns(self) -> list[Column]:
        return [
            Column("key", "key", 30),
            Column("depth", "jobs", 8, justify="right"),
            Column("net", "Δ/s", 7, priority=1, justify="right"),
            Column("trend", "trend", 12, priority=2),
            Column("oldest", "top job age", 11, priority=1, justify="right"),
            Column("alerts", "alerts", 20),
        ]

    def row(self, q: QueueStats) -> dict[str, object]:
        return {
            "key": key_cell(q), "depth": fmt.count(q.depth), "net": fmt.signed_rate(q.net_rate),
            "trend": trend_cell(q, self.history), "oldest": fmt.duration(q.oldest_ms),
            "alerts": alert_cell(q),
        }
