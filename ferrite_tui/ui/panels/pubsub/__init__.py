"""Panel 7, Pub/Sub: channels.py (the channel table and its note), actions.py (the
dialogs: patterns, sharded channels, record, publish), panel.py (tail, log, keys)."""

from ferrite_tui.ui.panels.pubsub.panel import PubSubPanel

__all__ = ["PubSubPanel"]
