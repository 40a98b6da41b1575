"""The Overview's charts: the last hour per minute, rebuilt part and live part marked."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from rich.text import Text
from textual.containers import Horizontal

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.kinds import REGISTRY
from ferrite_tui.backend.models import QueueKind, Snapshot
from ferrite_tui.backend.trends import Trends, minute_of

CHART_IDS = ("chart-backlog", "chart-flow", "chart-dead")


def plot_class() -> Any:
    """textual-plotext's PlotextPlot, imported when the first chart is drawn (after the first
    data is on screen: the plotting library is a good part of the start-up); None without it
    (the charts are a nicety: the Overview works without them)."""
    try:
        from textual_plotext import PlotextPlot
    except ImportError:  # pragma: no cover
        return None
    return PlotextPlot

# RGB: plotext's named colors follow the terminal theme and several come out alike.
# (each kind's backlog line: its layout's color, KindLayout.color)
IN_COLOR, OUT_COLOR, DEAD_COLOR = (110, 210, 90), (90, 140, 255), (240, 70, 70)
ALERT_COLOR = (255, 150, 40)


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
    live_from: int | None = None  # x of the minute the live part starts, after a rebuilt one


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
        deaths = REGISTRY.layout(q.ref.kind).arrivals_are_deaths  # charted as dead
        for each in trends.metrics(ident).values():
            data.sampled = data.sampled or each.sampled
            for m in each.rebuilt:
                if first <= m <= now_min:
                    data.rebuilt[m - first] = True
        backlog = trends.get(ident, "backlog")
        if backlog is not None:
            total = data.backlog.setdefault(q.ref.kind, [None] * n)
            _add(total, backlog.window(first, now_min))
        for metric, total in (("arrivals", data.arrivals), ("out", data.out),
                              ("dead", data.dead)):
            series = trends.get(ident, metric)
            if series is not None and not (metric == "arrivals" and deaths):
                _add(total, series.window(first, now_min))
    if trends.live_since is not None and any(data.rebuilt):
        x = minute_of(trends.live_since) - now_min
        if x > data.xs[0]:
            data.live_from = x
    for note in snap.alert_notes:
        if note.since is not None:
            x = max(minute_of(note.since) - now_min, -n + 1)
            if x not in data.alert_starts:
                data.alert_starts.append(x)
    data.alert_starts.sort()  # the notes' order changes with their figures, the lines do not
    return data


def complete_minutes(data: ChartData) -> ChartData:
    """The data without the current minute's values: that minute is still filling, and
    charting it drew the charts again on every poll (at 200x60 most of the bytes written)."""
    def cut(values: list[float | None]) -> list[float | None]:
        return [*values[:-1], None]

    return replace(data, backlog={kind: cut(v) for kind, v in data.backlog.items()},
                   arrivals=cut(data.arrivals), out=cut(data.out), dead=cut(data.dead))


def strip_text(data: ChartData, width: int) -> Text:
    """The charts in four lines, for a terminal with no room for them: a sparkline per
    minute of the backlog, the arrivals and the dead letters, with the latest value."""
    n = max(min(len(data.xs), width - 20), 8)
    backlog: list[float | None] = [None] * len(data.xs)
    for values in data.backlog.values():
        _add(backlog, values)
    out = Text(no_wrap=True, overflow="ellipsis")
    where = "rebuilt┆live" if data.live_from is not None else (
        "rebuilt" if any(data.rebuilt) else "live")
    out.append(f"last {len(data.xs) - 1} min per minute ({where})"
               f"{', ≈ sampled' if data.sampled else ''}\n", style="dim")
    for label, values, style in (("backlog", backlog, "cyan"), ("in/min", data.arrivals, "green"),
                                 ("dead/min", data.dead, "red")):
        shown = [v or 0.0 for v in values][-n:]
        last = next((v for v in reversed(values) if v is not None), None)
        out.append(f"{label:<9}")
        out.append(fmt.sparkline(shown, n), style=style)
        out.append(f" {fmt.count(round(last)) if last is not None else '-':>7}\n")
    out.rstrip()
    return out


class TrendCharts(Horizontal):
    """Backlog by kind, total in/out, and dead-letter arrivals, side by side. The charts are
    made when first drawn, after a frame (the first data goes to the screen before them)."""

    DEFAULT_CSS = """
    TrendCharts { height: 1fr; }
    TrendCharts > PlotextPlot { width: 1fr; height: 100%; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._waiting: ChartData | None = None  # drawn once the charts are made

    def draw(self, data: ChartData) -> None:
        if not self.is_mounted:
            return
        if not self.children:
            if self._waiting is None:
                self.call_after_refresh(self._make_charts)
            self._waiting = data
            return
        self._draw(data)

    def _make_charts(self) -> None:
        data, self._waiting = self._waiting, None
        plot = plot_class()
        if plot is None or data is None or self.children or not self.is_mounted:
            return
        self.mount(*(plot(id=chart) for chart in CHART_IDS))
        self._draw(data)

    def _draw(self, data: ChartData) -> None:
        PlotextPlot = plot_class()
        marker = " (rebuilt┆live)" if data.live_from is not None else (
            " (rebuilt)" if any(data.rebuilt) else "")
        est = " ≈" if data.sampled else ""
        backlog = self.query_one("#chart-backlog", PlotextPlot)
        self._start(backlog, f"backlog by kind{est}{marker}", data)
        for kind, values in data.backlog.items():
            self._line(backlog, data.xs, values, kind.label, REGISTRY.layout(kind).color)
        self._finish(backlog, data)

        flow = self.query_one("#chart-flow", PlotextPlot)
        self._start(flow, f"in / out per min{est}{marker}", data)
        self._line(flow, data.xs, data.arrivals, "in", IN_COLOR)
        self._line(flow, data.xs, data.out, "out (live)", OUT_COLOR)
        self._finish(flow, data)

        dead = self.query_one("#chart-dead", PlotextPlot)
        self._start(dead, f"dead letters per min{est}{marker}", data)
        if any(data.dead):  # a bar for every minute, so each is one minute wide
            dead.plt.bar(data.xs, [v or 0 for v in data.dead], color=DEAD_COLOR, width=0.8)
        self._finish(dead, data)

    @staticmethod
    def _start(plot, title: str, data: ChartData) -> None:
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)

    @staticmethod
    def _line(plot, xs: list[int], values: list[float | None], label: str,
              color: tuple[int, int, int]) -> None:
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
            plt.vline(data.live_from, (150, 150, 150))
        for x in data.alert_starts:
            plt.vline(x, ALERT_COLOR)
        plot.refresh()
