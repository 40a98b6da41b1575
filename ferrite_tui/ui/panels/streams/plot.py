"""The Streams panel's plot of the selected group's pending and lag history (a nicety: the
panel works without textual-plotext)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ferrite_tui.backend.envelopes import printable

if TYPE_CHECKING:
    from ferrite_tui.ui.panels.streams.tables import StreamTables
    from ferrite_tui.ui.panels.streams.view import StreamsView

try:
    from textual_plotext import PlotextPlot
except ImportError:  # pragma: no cover
    PlotextPlot = None  # type: ignore[assignment,misc]


class StreamPlot:
    """The plot widget (None without textual-plotext) and when it was last drawn."""

    def __init__(self, view: StreamsView, tables: StreamTables) -> None:
        self.view = view
        self.tables = tables
        self.widget: PlotextPlot | None = PlotextPlot(id="plot") \
            if PlotextPlot is not None else None
        self.drawn_for: tuple[str | None, str | None] | None = None  # (stream ident, group)
        self.drawn_at = 0.0  # monotonic

    def fit(self, width: int) -> None:
        """Left out when the panel is narrow."""
        if self.widget is not None:
            self.widget.set_class(width < 110, "-narrow")

    def draw(self) -> None:
        plot = self.widget
        if plot is None or not self.view.is_mounted:
            return
        if not plot.display or plot.has_class("-narrow"):
            return
        # Plotting costs a few ms: only when what it shows changed, at most once a second.
        polled = self.tables.polled_stream()
        ident = polled.ref.ident if polled is not None else None
        group = self.tables.group
        stamp = (ident, group)
        now = time.monotonic()
        if stamp == self.drawn_for and now - self.drawn_at < 1.0:
            return
        self.drawn_for, self.drawn_at = stamp, now
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        title = "pending / lag"
        history = self.view.history
        if history is not None and ident is not None and group is not None:
            title = f"{printable(group, 20)}: pending / lag"
            for metric, label in (("pending", "pending"), ("lag", "lag")):
                series = history.get(ident, f"{metric}:{group}")
                if series is None or not series.samples:
                    continue
                t0 = series.samples[-1][0]
                xs = [round(t - t0, 1) for t, _ in series.samples]
                plt.plot(xs, series.values(), label=label, marker="braille")
        plt.title(title)
        plt.xlabel("seconds ago")
        plot.refresh()
