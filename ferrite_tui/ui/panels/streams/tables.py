"""The Streams panel's three linked tables on top (streams -> groups of the highlighted
stream -> consumers of the highlighted group) and the selection they make: the stream and
group shown, their rows as last read, and what the poll says of them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from ferrite_tui import formatting as fmt
from ferrite_tui.backend import stream_ids
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.models import GroupStats, QueueRef, QueueStats
from ferrite_tui.backend.streams import ConsumerInfo, GroupInfo, StreamSummary
from ferrite_tui.ui.panels.base import alert_cell, key_cell
from ferrite_tui.ui.widgets.table import Column

if TYPE_CHECKING:
    from ferrite_tui.ui.panels.streams.view import StreamsView

STREAM_COLUMNS = [
    Column("key", "stream", 8, fit=True),
    Column("depth", "length", 6, priority=1, justify="right"),
    Column("pending", "pend", 5, justify="right"),
    Column("groups", "grp", 3, priority=2, justify="right"),
    Column("first", "first", 6, priority=3, justify="right"),
    Column("last", "last", 6, priority=1, justify="right"),
    Column("memory", "memory", 9, priority=4, justify="right"),
    Column("alerts", "alerts", 14, priority=1),
]


class StreamTables:
    """The top tables' selection and rows; the panel changes the selection (set_stream,
    set_group) and resets what hangs off it."""

    def __init__(self, view: StreamsView) -> None:
        self.view = view
        self.stream: str | None = None  # the stream selected
        self.group: str | None = None  # its group selected
        self.group_rows: list[GroupInfo] = []  # the stream's groups as last read
        self.consumer_rows: list[ConsumerInfo] = []  # the group's consumers as last read
        self.summaries: dict[str, StreamSummary] = {}  # first/last id, memory per stream
        self.summaries_at = 0.0  # when they were read (monotonic)

    # -- the stream table (from the poll) ----------------------------------------------

    def row(self, q: QueueStats) -> dict[str, object]:
        s = self.summaries.get(q.ref.key)
        now_ms = self.view.session.now_ms()

        def age(entry_id: str | None) -> str:
            t = stream_ids.id_ms(entry_id)
            return "-" if t is None else fmt.duration(max(now_ms - t, 0))

        return {
            "key": key_cell(q), "depth": fmt.count(q.depth), "pending": fmt.count(q.pending),
            "groups": len(q.groups),
            "first": age(s.first_id) if s else "…",
            "last": age(s.last_id if s and s.last_id else q.last_id),
            "memory": fmt.size(s.memory) if s else "…",
            "alerts": alert_cell(q),
        }

    def summary(self, items: list[QueueStats]) -> Text:
        out = Text(f"{len(items)} stream{'s' if len(items) != 1 else ''}")
        if self.stream:
            out.append("  ·  ")
            out.append(printable(self.stream, 60), style="bold")
            if self.group:
                out.append(" / ")
                out.append(printable(self.group, 40), style="bold")
        kinds = {g.lag_kind for g in self.group_rows}
        if kinds & {"counted", "estimate"}:
            out.append("  lag counted here (XINFO has none)" +
                       ("; ≈ estimated" if "estimate" in kinds else ""), style="yellow")
        session = self.view.session
        caps = session.capabilities
        if session.client is not None and caps.server_kind != "unknown" \
                and not caps.xautoclaim:
            out.append("  no XAUTOCLAIM: C uses XPENDING + XCLAIM", style="yellow")
        out.append("   tab: next table · enter: open · ? help", style="dim")
        return out

    def stream_of(self, ident: str | None) -> str | None:
        snapshot = self.view.snapshot
        if ident is None or snapshot is None:
            return None
        for q in snapshot.queues:
            if q.ref.ident == ident:
                return q.ref.key
        return None

    # -- what the poll saw -------------------------------------------------------------

    @property
    def poison_at(self) -> int:
        """Deliveries from which a pending entry is poison (the config's alert)."""
        return int(self.view.session.config.alerts.stream_poison_deliveries)

    @property
    def dead_ms(self) -> int:
        """Idle time after which a consumer holding entries is dead (the config's alert)."""
        return int(self.view.session.config.alerts.stream_dead_consumer_seconds * 1000)

    def polled_stream(self, stream: str | None = None) -> QueueStats | None:
        """The stream (by default the highlighted one) as the last poll saw it."""
        key = stream or self.stream
        snapshot = self.view.snapshot
        if snapshot is None or key is None:
            return None
        return next((q for q in snapshot.queues
                     if q.ref.key == key and q.ref.kind in self.view.KINDS), None)

    def stream_ref(self) -> QueueRef | None:
        polled = self.polled_stream()
        return polled.ref if polled is not None else None

    def polled_group(self, name: str | None) -> GroupStats | None:
        """This group as the last poll saw it: alerts, dead consumers, idle entries."""
        polled = self.polled_stream()
        return next((g for g in polled.groups if g.name == name), None) if polled else None

    def dead_consumers(self) -> set[str]:
        polled = self.polled_group(self.group)
        return set(polled.dead_consumers) if polled is not None else set()

    def group_alert(self, g: GroupInfo) -> Text:
        """The poll's alerts for this group (the poll computes every alert)."""
        polled = self.polled_group(g.name)
        if polled is None:
            return Text("…", style="dim")
        alerts = ", ".join(polled.alerts)
        return Text(alerts, style="bold yellow") if alerts else Text("ok", "green")

    # -- selection ---------------------------------------------------------------------

    def clear_groups(self) -> None:
        """A new stream: no group rows or consumer rows until they are read."""
        self.group_rows, self.consumer_rows = [], []
        self.view.groups_table.set_rows([])
        self.view.consumers_table.set_rows([])

    def clear_consumers(self) -> None:
        """A new group: no consumer rows until they are read."""
        self.consumer_rows = []
        self.view.consumers_table.set_rows([])

    def selected_consumer(self) -> ConsumerInfo | None:
        key = self.view.consumers_table.cursor_key
        return next((c for c in self.consumer_rows if c.name == key), None)

    def selected_group(self) -> GroupInfo | None:
        return next((g for g in self.group_rows if g.name == self.group), None)

    # -- drawing -----------------------------------------------------------------------

    def draw_groups(self) -> None:
        rows = []
        for g in self.group_rows:
            lag = Text(g.lag_text, style="yellow" if g.lag_kind == "estimate" else "")
            if g.lag is None:
                lag.stylize("dim")
            rows.append((g.name, {
                "name": Text(printable(g.name, 60), no_wrap=True, overflow="ellipsis"),
                "consumers": g.consumers, "pending": fmt.count(g.pending), "lag": lag,
                "ldid": g.last_delivered_id,
                "read": "n/a" if g.entries_read is None else fmt.count(g.entries_read),
                "oldest": fmt.duration(g.oldest_idle_ms), "alert": self.group_alert(g),
            }))
        groups_table = self.view.groups_table
        groups_table.set_rows(rows)
        if self.group is not None:
            groups_table.select_key(self.group)
        self.share_top_width()

    def draw_consumers(self) -> None:
        dead_ms = self.dead_ms
        rows = []
        for c in self.consumer_rows:
            dead = c.name in self.dead_consumers()
            name = Text(printable(c.name, 60), no_wrap=True, overflow="ellipsis")
            if dead:  # marked in the name too: at 80 columns the dead? column is left out
                name = Text.assemble(("✗ ", "bold red"), name, no_wrap=True,
                                     overflow="ellipsis")
            if c.name == self.view.consumer:
                name.stylize("bold reverse")
            rows.append((c.name, {
                "name": name, "pending": fmt.count(c.pending),
                "idle": fmt.duration(c.idle_ms),
                "inactive": "n/a" if c.inactive_ms is None else fmt.duration(c.inactive_ms),
                # Not reading for the dead-consumer time, holding nothing: not dead (no
                # entries stuck), not live either (no claim default goes to it).
                "dead": Text("dead?", style="bold red") if dead else
                Text("quiet", style="yellow") if not c.reading(dead_ms) else
                Text("", style="dim"),
            }))
        self.view.consumers_table.set_rows(rows)
        self.share_top_width()

    def share_top_width(self) -> None:
        """The three top tables share the width by what they need (names whole), not by
        fixed shares: at 80 columns a group or consumer name is cut only when the three
        together cannot show their names."""
        view = self.view
        for table in (view.table, view.groups_table, view.consumers_table):
            width = f"{table.natural_width}fr"
            if str(table.styles.width) != width:
                table.styles.width = width

    def consumer_list(self) -> Text:
        """The group's consumers in a line each dialog about them shows."""
        out = Text("Consumers of this group: ")
        if not self.consumer_rows:
            out.append("none yet", style="dim")
        dead_ms = self.dead_ms
        for i, c in enumerate(self.consumer_rows):
            if i:
                out.append(", ")
            out.append(printable(c.name, 40), style="bold")
            state = ("dead" if c.name in self.dead_consumers() else
                     "live" if c.reading(dead_ms) else "not reading")
            out.append(f" ({c.pending} pending, idle {fmt.duration(c.idle_ms)}, {state})")
        return out
