"""Panel 8: the server itself: identity, load, memory, keyspace, what it can do, history."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Static
from textual_plotext import PlotextPlot

from ferrite_tui import formatting as fmt
from ferrite_tui.backend import crossslot
from ferrite_tui.backend.connection import describe_error
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.history import History
from ferrite_tui.backend.models import Capabilities, ClusterView, Snapshot
from ferrite_tui.backend.servertime import SHOWN_OFFSET_MS, Replication, offset_text
from ferrite_tui.presentation import origin_lines
from ferrite_tui.ui.screens.dialogs import ConfirmScreen

if TYPE_CHECKING:
    from ferrite_tui.backend.crossslot import InFlight
    from ferrite_tui.ui.protocols import ConsoleApp


#: The ops/s and memory plots are drawn again at most this often.
PLOTS_EVERY_S = 5


def _t(value: object) -> Text:
    return Text(printable(str(value), 120))


def role_text(rep: Replication) -> str:
    if rep.role is None:
        return "unknown (INFO has no replication section)"
    if rep.is_replica:
        return f"replica of {rep.primary or '?'} (changes refused: they go to the primary)"
    return rep.role


def clock_text(snap: Snapshot) -> str | None:
    """The console's clock against the server's, when off by more than a second."""
    offset_ms = snap.clock_offset_ms
    if snap.server_time_ms is None:
        return "server time unknown (TIME not answered): ages use " + (
            "the console's clock" if offset_ms is None else "the last offset measured")
    if offset_ms is None or abs(offset_ms) <= SHOWN_OFFSET_MS:
        return None
    return f"{offset_text(offset_ms)} (every time shown is the server's)"


class ServerPanel(Vertical):
    TITLE = "Server"
    BINDINGS = [
        Binding("f", "finish_inflight", "Finish moves in flight", id="server.finish"),
    ]

    DEFAULT_CSS = """
    ServerPanel #server-top { height: 1fr; }
    ServerPanel #server-info { width: 1fr; min-width: 36; }
    ServerPanel #server-caps { width: 1fr; min-width: 36; }
    ServerPanel #server-plots { height: 1fr; min-height: 8; }
    ServerPanel #cluster { height: auto; max-height: 50%; display: none; padding: 0 1; }
    ServerPanel PlotextPlot { width: 1fr; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.snapshot: Snapshot | None = None
        self.history: History | None = None
        self.capabilities: Capabilities | None = None
        self.filter_text = ""
        self.inflight: InFlight | None = None  # once checked (clusters only)
        self._inflight_checked = False
        self.stale = False  # snapshots arrived while hidden: drawn in show_latest
        # What is on screen, so an unchanged part is not drawn again.
        self._info_shown: list[tuple[str, str]] | None = None
        self._caps_shown: tuple | None = None
        self._plots_tick: int | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="server-top"):
            with VerticalScroll(id="server-info"):
                yield Static(Text("waiting for the first poll…"), id="info")
            with VerticalScroll(id="server-caps"):
                yield Static(id="caps")
        with VerticalScroll(id="cluster"):
            yield Static(id="cluster-table")
        with Horizontal(id="server-plots"):
            yield PlotextPlot(id="ops-plot")
            yield PlotextPlot(id="mem-plot")

    @property
    def ferrite(self) -> ConsoleApp:
        """The app, as panels see it (ui/protocols.py)."""
        return cast("ConsoleApp", self.app)

    def on_show(self) -> None:
        # No table here takes focus when the tab opens: focus the info pane, so the
        # panel's keys (f) reach it.
        self.call_after_refresh(self.query_one("#server-info").focus)

    def set_capabilities(self, caps: Capabilities) -> None:
        self.capabilities = caps

    def set_filter(self, text: str) -> None:
        self.filter_text = text

    def update_snapshot(self, snap: Snapshot, history: History | None) -> None:
        self.snapshot = snap
        self.history = history
        # Drawn while shown; a hidden panel catches up in show_latest (as Panel does).
        self.stale = self.ferrite.active_panel() is not self
        if not self.stale:
            self.redraw()

    def show_latest(self) -> None:
        if self.stale:
            self.redraw()

    def focus_ident(self, ident: str) -> bool:
        return False  # no queues here

    def select_group(self, name: str) -> None:
        """No groups here."""

    def redraw(self) -> None:
        snap = self.snapshot
        if snap is None:
            return
        s = snap.server
        info = s.info
        rows: list[tuple[str | Text, str | Text]] = []
        caps = self.capabilities
        if caps is not None:
            rows.append(("server", _t(f"{caps.server_kind} {caps.version}".strip())))
        # Which server and profile, and why: each setting something chose, and where.
        settings = self.ferrite.session.settings
        if settings is not None:
            rows += [(name, Text(printable(line, 160), style="dim"))
                     for name, line in origin_lines(self.ferrite.config, settings,
                                                    self.ferrite.match)]
        # Without INFO the figures exist but cannot be read: "?" and why, never 0 or n/a.
        client = self.ferrite.session.client
        user = client.username if client is not None else "default"
        unread = f"? (user {user} may not run INFO)" \
            if caps is not None and not caps.info else None
        for label, value in (
            ("mode", info.get("redis_mode")),
            ("role", role_text(s.replication)),
            ("replication", s.replication.lag_text() or None),
            ("clock", clock_text(snap)),
            ("uptime", fmt.duration(s.uptime_s * 1000) if s.uptime_s is not None else "n/a"),
            ("memory", fmt.size(s.used_memory)),
            ("peak memory", fmt.size(_int(info.get("used_memory_peak")))),
            ("max memory",
             fmt.size(_int(info.get("maxmemory"))) if info.get("maxmemory") else "n/a"),
            ("clients", "n/a" if s.clients is None else s.clients),
            ("ops/s", fmt.rate(s.ops_per_sec)
             + ("" if "instantaneous_ops_per_sec" in info or s.ops_per_sec is None
                else " (from command count)")),
            ("commands", fmt.count(_int(info.get("total_commands_processed")))),
            ("poll", f"{snap.poll_ms:.0f} ms, {snap.round_trips} round trip"
                     + ("s" if snap.round_trips != 1 else "") + f", {len(snap.queues)} queues"),
        ):
            if unread is not None and label in ("uptime", "memory", "clients", "ops/s",
                                                "commands"):
                rows.append((label, _t(unread)))
            elif value is not None and not (unread is not None and value == "n/a"):
                rows.append((label, _t(value)))
        for db, ks in sorted(s.keyspace.items()):
            rows.append((_t(db), _t(", ".join(f"{k}={v}" for k, v in ks.items()))))
        if not s.keyspace:
            rows.append(("keyspace", unread or "empty or not reported"))
        shown = [(str(name), str(text)) for name, text in rows]
        if shown != self._info_shown:  # an unchanged table is not drawn again
            # Laid out again only when a row's length changed (its height may have).
            layout = self._info_shown is None or [(k, len(v)) for k, v in shown] != [
                (k, len(v)) for k, v in self._info_shown]
            self._info_shown = shown
            table = Table.grid(padding=(0, 2))
            table.add_column(style="bold")
            table.add_column()
            for row in rows:
                table.add_row(*row)
            self.query_one("#info", Static).update(table, layout=layout)
        if snap.cluster is not None:
            self.query_one("#cluster").display = True
            self.query_one("#cluster-table", Static).update(
                Group(*cluster_tables(snap.cluster, self.inflight,
                                      width=self.size.width or 160)))
            if not self._inflight_checked:
                self._inflight_checked = True
                self.check_inflight()

        if caps is not None and (caps.as_rows(), caps.notes) != self._caps_shown:
            self._caps_shown = (caps.as_rows(), caps.notes)
            ct = Table.grid(padding=(0, 2))
            ct.add_column()
            ct.add_column()
            for label, ok in caps.as_rows():
                ct.add_row(Text("✔", style="green") if ok else Text("✖", style="red"), label)
            for note in caps.notes:
                ct.add_row("", Text(note, style="dim"))
            self.query_one("#caps", Static).update(ct)
        # The plots: every PLOTS_EVERY_S, not every poll (plotting both was most of the
        # panel's CPU, idle at 200x60).
        tick = int(snap.taken_at // PLOTS_EVERY_S)
        if tick != self._plots_tick:
            self._plots_tick = tick
            self._plot("#ops-plot", "ops", "ops/s", 1.0)
            self._plot("#mem-plot", "memory", "memory (MiB)", 1 / (1024 * 1024))

    # -- moves between hash slots left in flight by a console that died ----------------------

    @work(group="server-inflight", exit_on_error=False)
    async def check_inflight(self, announce: bool = True) -> None:
        client = self.ferrite.session.client
        if client is None or client.cluster is None:
            return
        try:
            self.inflight = await crossslot.inflight(client)
        except Exception as exc:
            self.notify(f"could not look for moves in flight: {describe_error(exc)}",
                        severity="warning")
            return
        self.redraw()
        pending = self.inflight.items
        if pending and announce:
            self.notify(f"{pending} item(s) in flight from an interrupted move between hash "
                        "slots: Server panel (8), f to finish", severity="warning", timeout=12)

    def action_finish_inflight(self) -> None:
        if not self.ferrite.writable("finish moves in flight"):
            return
        self._finish_worker()

    @work(group="server-finish", exit_on_error=False)
    async def _finish_worker(self) -> None:
        session = self.ferrite.session
        client = session.client
        if client is None or client.cluster is None:
            self.notify("'finish moves in flight': only on a cluster", timeout=3)
            return
        try:
            found = await crossslot.inflight(client)
        except Exception as exc:
            self.notify(describe_error(exc), severity="error")
            return
        self.inflight = found
        self.redraw()
        if not found.chunks:
            self.notify("no moves in flight", timeout=3)
            return
        spent = sum(1 for _, _, marked in found.chunks if marked)
        ok = await self.app.push_screen_wait(ConfirmScreen(
            "Finish moves in flight",
            Text(f"Deliver {found.items} item(s) from {len(found.chunks) - spent} staged "
                 f"chunk(s) to their target lists, and clean {spent} chunk(s) already "
                 "delivered? Each chunk is pushed once (its done-marker is checked)."),
            "Finish"))
        if not ok:
            return
        try:
            report = await crossslot.finish_inflight(client)
        except Exception as exc:
            self.notify(describe_error(exc), severity="error")
            return
        self.notify(report.summary(), severity="warning" if report.errors else "information",
                    timeout=8)
        self.check_inflight(announce=False)
        session.poll_now()

    def _plot(self, selector: str, metric: str, title: str, scale: float) -> None:
        plot = self.query_one(selector, PlotextPlot)
        series = self.history.get("@server", metric) if self.history else None
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        if series and len(series.samples) >= 2:
            now = series.samples[-1][0]
            xs = [t - now for t, _ in series.samples]
            ys = [v * scale for _, v in series.samples]
            plt.plot(xs, ys, marker="braille")
            plt.xlabel("seconds ago")
        plot.refresh()


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None





#: Below this width the node table is compact (slot counts, link up/down), so that every
#: node's address stays whole: an 80-column terminal must tell the nodes apart.
COMPACT_BELOW = 120


def cluster_tables(view: ClusterView, inflight=None, width: int = 160) -> list:
    """The cluster: state line, one row per node, recent events."""
    compact = width < COMPACT_BELOW
    head = Text()
    head.append("cluster ", style="bold")
    head.append(view.state, style="green" if view.state == "ok" else "bold red")
    head.append(" · " + view.summary())
    if inflight is not None:
        if inflight.items:
            head.append(f" · {inflight.items} item(s) in flight (f: finish)", style="bold yellow")
        elif inflight.chunks:
            head.append(f" · {len(inflight.chunks)} delivered chunk(s) to clean (f)")
    out: list = [head]
    if view.failover:
        out.append(Text(printable(view.failover, 200), style="bold yellow"))
    nodes = Table(box=None, padding=(0, 1), show_edge=False)
    widest = max((len(n.address) for n in view.nodes), default=4)
    for name, justify, least in (("node", "left", widest), ("role", "left", 7),
                                 ("slots", "left", 5), ("memory", "right", 7),
                                 ("ops/s", "right", 5), ("link", "left", 4),
                                 ("repl offset", "right", 6), ("state", "left", 2)):
        nodes.add_column(name, justify=justify, no_wrap=True,  # type: ignore[arg-type]
                         min_width=least)
    for n in view.nodes:
        state = n.state
        bad = bool(n.error) or n.failing
        if compact:
            slots = str(n.slot_count) if n.slots else "-"
            link = "up" if n.link == "connected" else "down"
            if n.error:
                state = "unreachable"  # the reason is the event line below
        else:
            slots = f"{n.slot_count} ({' '.join(n.slots)})" if n.slots else "-"
            link = n.link
        nodes.add_row(
            _t(n.address), n.role, _t(printable(slots, 40)), fmt.size(n.used_memory),
            fmt.rate(n.ops_per_sec) if n.ops_per_sec is not None else "n/a",
            Text(link, style="green" if n.link == "connected" else "bold red"),
            "n/a" if n.repl_offset is None else str(n.repl_offset),
            Text(printable(state, 60), style="bold red" if bad else "green"),
        )
    out.append(nodes)
    if view.shard_channels:
        shown = ", ".join(
            f"{name} ({'?' if subs is None else subs} @{node})"
            for name, subs, node in view.shard_channels[:8])
        more = len(view.shard_channels) - 8
        out.append(Text(printable(f"sharded channels: {shown}"
                                  + (f" and {more} more" if more > 0 else ""), 400)))
    for _when, text in view.events[-4:]:
        out.append(Text(printable(text, 200), style="dim"))
    return out
