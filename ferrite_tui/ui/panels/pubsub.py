"""Panel 7: pub/sub channels."""

from __future__ import annotations

from rich.text import Text

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.models import QueueKind, QueueStats, Snapshot
from ferrite_tui.ui.panels.base import Panel, alert_cell, key_cell, rate_cells, trend_cell
from ferrite_tui.ui.widgets.table import Column


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
