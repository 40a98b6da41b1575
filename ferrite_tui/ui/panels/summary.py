"""Panels 2-7 at the level of whole queues: one live table per kind."""

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


class PubSubPanel(Panel):
    TITLE = "Pub/Sub"
    EMPTY = "No channel has a subscriber right now (PUBSUB CHANNELS is empty)."

    def columns(self) -> list[Column]:
        return [Column("channel", "channel", 40), Column("subs", "subscribers", 11,
                                                          justify="right")]

    def redraw(self) -> None:
        snap = self.snapshot
        if snap is None:
            return
        shown = [c for c in snap.channels
                 if not self.filter_text or self.filter_text.lower() in c.name.lower()]
        self.table.set_rows([
            (f"channel:{c.name}", {"channel": printable(c.name, 200), "subs": fmt.count(c.subscribers)})
            for c in shown
        ])
        numpat = "n/a" if snap.numpat is None else str(snap.numpat)
        note = Text(f"{len(shown)} active channels · {numpat} pattern subscriptions (NUMPAT)")
        if not snap.channels:
            note = Text(self.EMPTY + f" · {numpat} pattern subscriptions (NUMPAT)")
        self.query_one("#note").update(note)
