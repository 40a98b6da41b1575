"""Messages from the poll worker to the screen ("attributes down, messages up")."""

from __future__ import annotations

from textual.message import Message

from ferrite_tui.backend.models import ConnectionState, DiscoveryProgress, Snapshot


class SnapshotReady(Message):
    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class ConnectionChanged(Message):
    def __init__(self, state: ConnectionState) -> None:
        super().__init__()
        self.state = state


class DiscoveryProgressed(Message):
    # A burst of progress reports during a long scan merges into the newest one.
    def __init__(self, progress: DiscoveryProgress) -> None:
        super().__init__()
        self.progress = progress

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, DiscoveryProgressed)


class OpenQueue(Message):
    """Show this queue in the panel of its kind (and this stream group, if given)."""

    def __init__(self, ident: str, group: str | None = None) -> None:
        super().__init__()
        self.ident = ident
        self.group = group
