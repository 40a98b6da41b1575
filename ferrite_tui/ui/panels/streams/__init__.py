"""Panel 5, Streams: panel.py (the panel: keys, events, view state) holds its parts, each a
plain class seeing it through view.py's protocol: tables.py (the linked tables on top and
the selection), detail.py (pending entries and the browser below), paging.py (home, end,
] and [ on those), plot.py (pending and lag history), actions.py (selections and steps)."""

from ferrite_tui.ui.panels.streams.paging import parse_when
from ferrite_tui.ui.panels.streams.panel import StreamsPanel

__all__ = ["StreamsPanel", "parse_when"]
