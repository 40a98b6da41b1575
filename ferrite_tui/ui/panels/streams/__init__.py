"""Panel 5, Streams: tables.py (the linked tables on top), detail.py (pending entries and
the browser below), paging.py (home, end, ] and [ on those; the panel holds it),
panel.py (keys and actions)."""

from ferrite_tui.ui.panels.streams.paging import parse_when
from ferrite_tui.ui.panels.streams.panel import StreamsPanel

__all__ = ["StreamsPanel", "parse_when"]
