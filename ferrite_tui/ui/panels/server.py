"""Panel 8: the server itself: identity, load, memory, keyspace, what it can do, history."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Static
from textual_plotext import PlotextPlot

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.history import History
from ferrite_tui.backend.models import Capabilities, Snapshot


def _t(value: object) -> Text:
    return Text(printable(str(value), 120))


class ServerPanel(Vertical):
    TITLE = "Server"

    DEFAULT_CSS = """
    ServerPanel #server-top { height: 1fr; }
    ServerPanel #server-info { width: 1fr; min-width: 36; }
    ServerPanel #server-caps { width: 1fr; min-width: 36; }
    ServerPanel #server-plots { height: 1fr; min-height: 8; }
    ServerPanel PlotextPlot { width: 1fr; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.snapshot: Snapshot | None = None
        self.history: History | None = None
        self.capabilities: Capabilities | None = None
        self.filter_text = ""

    def compose(self) -> ComposeResult:
        with Horizontal(id="server-top"):
            with VerticalScroll(id="server-info"):
                yield Static(Text("waiting for the first poll…"), id="info")
            with VerticalScroll(id="server-caps"):
                yield Static(id="caps")
        with Horizontal(id="server-plots"):
            yield PlotextPlot(id="ops-plot")
            yield PlotextPlot(id="mem-plot")

    def set_capabilities(self, caps: Capabilities) -> None:
        self.capabilities = caps

    def set_filter(self, text: str) -> None:
        self.filter_text = text

    def update_snapshot(self, snap: Snapshot, history: History | None) -> None:
        self.snapshot = snap
        self.history = history
        # Drawn while shown; a hidden panel catches up in show_latest (as Panel does).
        self.stale = getattr(self.app, "active_panel", lambda: self)() is not self
        if not self.stale:
            self.redraw()

    def show_latest(self) -> None:
        if getattr(self, "stale", False):
            self.redraw()

    def redraw(self) -> None:
        snap = self.snapshot
        if snap is None:
            return
        s = snap.server
        info = s.info
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        caps = self.capabilities
        if caps is not None:
            table.add_row("server", _t(f"{caps.server_kind} {caps.version}".strip()))
        for label, value in (
            ("mode", info.get("redis_mode")),
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
            if value is not None:
                table.add_row(label, _t(value))
        for db, ks in sorted(s.keyspace.items()):
            table.add_row(_t(db), _t(", ".join(f"{k}={v}" for k, v in ks.items())))
        if not s.keyspace:
            table.add_row("keyspace", "empty or not reported")
        self.query_one("#info", Static).update(table)

        if caps is not None:
            ct = Table.grid(padding=(0, 2))
            ct.add_column()
            ct.add_column()
            for label, ok in caps.as_rows():
                ct.add_row(Text("✔", style="green") if ok else Text("✖", style="red"), label)
            for note in caps.notes:
                ct.add_row("", Text(note, style="dim"))
            self.query_one("#caps", Static).update(ct)
        self._plot("#ops-plot", "ops", "ops/s", 1.0)
        self._plot("#mem-plot", "memory", "memory (MiB)", 1 / (1024 * 1024))

    def _plot(self, selector: str, metric: str, title: str, scale: float) -> None:
        plot = self.query_one(selector, PlotextPlot)
        series = self.history.get("@server", metric) if self.history else None
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        if series and len(series.samples) >= 2:
            now = series.samples[-1].t
            xs = [s.t - now for s in series.samples]
            ys = [s.value * scale for s in series.samples]
            plt.plot(xs, ys, marker="braille")
            plt.xlabel("seconds ago")
        plot.refresh()


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None



