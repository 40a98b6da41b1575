"""Panel 6, Dead letters: entries.py (the lists, entries, filter and groups), panel.py (keys
and actions)."""

from ferrite_tui.ui.panels.deadletters.panel import DeadLettersPanel

__all__ = ["DeadLettersPanel"]
