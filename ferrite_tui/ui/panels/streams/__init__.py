"""Panel 5, Streams: tables.py (the linked tables on top), detail.py (pending entries and
the browser below), panel.py (keys and actions)."""

from ferrite_tui.ui.panels.streams.panel import StreamsPanel
from ferrite_tui.ui.panels.streams.tables import parse_when

__all__ = ["StreamsPanel", "parse_when"]
