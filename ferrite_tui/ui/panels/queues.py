"""Panel 2: work queues and reliable queues."""

from __future__ import annotations

from rich.text import Text

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.models import QueueKind, QueueStats, Snapshot
from ferrite_tui.ui.panels.base import Panel, alert_cell, key_cell, rate_cells, trend_cell
from ferrite_tui.ui.widgets.table import Column


class QueuesPanel(Panel):
    TITLE = "Queues"
    KINDS = (QueueKind.WORK, QueueKind.RELIABLE)

    def columns(self) -> list[Column]:
        return [
            Column("kind", "kind", 9, priority=2),
            Column("key", "key", 30),
            Column("depth", "depth", 8, justify="right"),
            Column("processing", "processing", 10, priority=1, justify="right"),
            Column("in", "in/s", 7, priority=1, justify="right"),
            Column("out", "out/s", 7, priority=1, justify="right"),
            Column("trend", "trend", 12, priority=3),
            Column("oldest", "oldest", 7, priority=2, justify="right"),
            Column("alerts", "alerts", 20),
        ]

    def row(self, q: QueueStats) -> dict[str, object]:
        return {
            "kind": q.ref.kind.label, "key": key_cell(q), "depth": fmt.count(q.depth),
            "processing": "-" if q.processing is None else fmt.count(q.processing),
            **rate_cells(q), "trend": trend_cell(q, self.history),
            "oldest": fmt.duration(q.oldest_ms), "alerts": alert_cell(q),
        }
