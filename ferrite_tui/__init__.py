"""ferrite-tui: a terminal console for message queues on Ferrite and Redis."""

__version__ = "0.1.0"
