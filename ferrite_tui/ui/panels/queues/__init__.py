"""Panel 2, Queues: panel.py (work and reliable queues: tables, items, keys, actions),
library.py (what it adds for the queues of libraries such as RQ, Celery and dramatiq)."""

from ferrite_tui.ui.panels.queues.panel import QueuesPanel

__all__ = ["QueuesPanel"]
