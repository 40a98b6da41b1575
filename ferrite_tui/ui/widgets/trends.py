"""The Overview's charts: the last hour per minute, rebuilt part and live part marked."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.app import ComposeResult
from textual.containers import Horizontal

from ferrite_tui.backend.models import QueueKind, Snapshot
from ferrite_tui.backend.trends import Trends, minute_of

try:  # the charts are a nicety: the Overview works without them
    from textual_plotext import PlotextPlot
except ImportError:  # pragma: no cover
    PlotextPlot = None  # type: ignore[assignment,misc]

KIND_COLORS = {
    QueueKind.WORK: "cyan", QueueKind.RELIABLE: "blue", QueueKind.PRIORITY: "magenta",
    QueueKind.DELAYED: "yellow", QueueKind.STREAM: "green", QueueKind.DLQ: "red",
}
ALERT_COLOR = "orange"


@dataclass
class ChartData:
    """Per-minute sums over every queue, for minutes -window..0 (0: the current one)."""

    xs: list[int]
    backlog: dict[QueueKind, list[float | None]] = field(default_factory=dict)
    arrivals: list[float | None] = field(default_factory=list)
    out: list[float | None] = field(default_factory=list)
    dead: list[float | None] = field(default_factory=list)
    rebuilt: list[bool] = field(default_factory=list)  # some value of that minute was rebuilt
    alert_starts: list[int] = field(default_factory=list)  # x of each alert's start
    sampled: bool = False

    @property
    def live_from(self) -> int | None:
        """x of the first live minute after rebuilt ones (where the marker goes)."""
        for x, was_rebuilt, prev in zip(self.xs[1:], self.rebuilt[1:], self.rebuilt):
            if prev and not was_rebuilt:
                return x
        return None


def _add(total: list[float | None], values: list[float | None]) -> None:
    for i, v in enumerate(values):
        if v is not None:
            total[i] = (total[i] or 0.0) + v


def chart_data(trends: Trends, snap: Snapshot) -> ChartData:
    now_min = minute_of(snap.taken_at)
    first = now_min - trends.window_minutes
    n = now_min - first + 1
    data = ChartData(xs=list(range(-n + 1, 1)))
    data.arrivals, data.out, data.dead = [None] * n, [None] * n, [None] * n
    data.rebuilt = [False] * n
    for q in snap.queues:
        ident = q.ref.ident
        for metric in trends.metrics(ident):
            series = trends.get(ident, metric)
            if series is None:
                continue
            data.sampled = data.sampled or series.sampled
            for m in series.rebuilt:
                if first <= m <= now_min:
                    data.rebuilt[m - first] = True
        backlog = trends.get(ident, "backlog")
        if backlog is not None:
            total = data.backlog.setdefault(q.ref.kind, [None] * n)
            _add(total, backlog.window(first, now_min))
        for metric, total in (("arrivals", data.arrivals), ("out", data.out),
                              ("dead", data.dead)):
            series = trends.get(ident, metric)
            if series is not None and not (metric == "arrivals" and q.ref.kind is QueueKind.DLQ):
                _add(total, series.window(first, now_min))
    for note in snap.alert_notes:
        if note.since is not None:
            x = max(minute_of(note.since) - now_min, -n + 1)
            if x not in data.alert_starts:
                data.alert_starts.append(x)
    return data


class TrendCharts(Horizontal):
    """Backlog by kind, total in/out, and dead-letter arrivals, side by side."""

    DEFAULT_CSS = """
    TrendCharts { height: 1fr; }
    TrendCharts > PlotextPlot { width: 1fr; height: 100%; }
    """

    def compose(self) -> ComposeResult:
        if PlotextPlot is not None:
            yield PlotextPlot(id="chart-backlog")
            yield PlotextPlot(id="chart-flow")
            yield PlotextPlot(id="chart-dead")

    def draw(self, data: ChartData) -> None:
        if PlotextPlot is None or not self.is_mounted:
            return
        marker = " (rebuilt┆live)" if data.live_from is not None else (
            " (rebuilt)" if any(data.rebuilt) else "")
        est = " ≈" if data.sampled else ""
        backlog = self.query_one("#chart-backlog", PlotextPlot)
        self._start(backlog, f"backlog by kind{est}{marker}", data)
        for kind, values in data.backlog.items():
            self._line(backlog, data.xs, values, kind.label, KIND_COLORS[kind])
        self._finish(backlog, data)

        flow = self.query_one("#chart-flow", PlotextPlot)
        self._start(flow, f"in / out per min{est}{marker}", data)
        self._line(flow, data.xs, data.arrivals, "in", "green")
        self._line(flow, data.xs, data.out, "out (live)", "blue")
        self._finish(flow, data)

        dead = self.query_one("#chart-dead", PlotextPlot)
        self._start(dead, f"dead letters per min{est}{marker}", data)
        if any(data.dead):  # a bar for every minute, so each is one minute wide
            dead.plt.bar(data.xs, [v or 0 for v in data.dead], color="red", width=0.8)
        self._finish(dead, data)

    @staticmethod
    def _start(plot, title: str, data: ChartData) -> None:
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)

    @staticmethod
    def _line(plot, xs: list[int], values: list[float | None], label: str, color: str) -> None:
        pairs = [(x, v) for x, v in zip(xs, values) if v is not None]
        if pairs:
            plot.plt.plot([x for x, _ in pairs], [v for _, v in pairs], label=label,
                          color=color, marker="braille")

    @staticmethod
    def _finish(plot, data: ChartData) -> None:
        plt = plot.plt
        plt.xlim(data.xs[0] - 0.5, 0.5)
        span = len(data.xs) - 1
        ticks = [-span + i * span // 4 for i in range(5)]
        plt.xticks(ticks, [f"{t}m" if t else "now" for t in ticks])
        if data.live_from is not None:
            plt.vline(data.live_from, "gray")
        for x in data.alert_starts:
            plt.vline(x, ALERT_COLOR)
        plot.refresh()
