"""Panel 5: streams and their consumer groups."""

from __future__ import annotations

from rich.text import Text

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.models import QueueKind, QueueStats, Snapshot
from ferrite_tui.ui.panels.base import Panel, alert_cell, key_cell, rate_cells, trend_cell
from ferrite_tui.ui.widgets.table import Column


class StreamsPanel(Panel):
    TITLE = "Streams"
    KINDS = (QueueKind.STREAM,)

    def columns(self) -> list[Column]:
        return [
            Column("key", "stream", 26),
            Column("depth", "length", 8, justify="right"),
            Column("groups", "groups", 6, priority=2, justify="right"),
            Column("pending", "pending", 8, justify="right"),
            Column("lag", "max lag", 8, priority=1, justify="right"),
            Column("in", "in/s", 7, priority=1, justify="right"),
            Column("out", "read/s", 7, priority=2, justify="right"),
            Column("oldest", "oldest pending", 14, priority=1, justify="right"),
            Column("alerts", "alerts", 18),
        ]

    def row(self, q: QueueStats) -> dict[str, object]:
        lags = [g.lag for g in q.groups if g.lag is not None]
        lag = fmt.count(max(lags)) if lags else ("n/a" if q.groups else "-")
        return {
            "key": key_cell(q), "depth": fmt.count(q.depth), "groups": len(q.groups),
            "pending": fmt.count(q.pending), "lag": lag, "in": fmt.rate(q.in_rate),
            "out": fmt.rate(q.out_rate), "oldest": fmt.duration(q.oldest_ms),
            "alerts": alert_cell(q),
        }

    def summary(self, items: list[QueueStats]) -> Text:
        out = super().summary(items)
        if any(g.lag is None for q in items for g in q.groups):
            out.append("  lag n/a: this server's XINFO GROUPS does not report it", style="dim")
        return out
