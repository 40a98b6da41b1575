"""What the Pub/Sub panel's parts (channels.py, actions.py) read and call on the panel:
a protocol, so they do not import the panel that imports them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.text import Text

    from ferrite_tui.backend.models import Snapshot
    from ferrite_tui.backend.pubsub import Tail
    from ferrite_tui.ui.screens.dialogs import Field
    from ferrite_tui.ui.session import Session


class PubSubView(Protocol):
    EMPTY: str
    NOT_SHARDED: str
    tail: Tail | None
    snapshot: Snapshot | None
    filter_text: str
    channel_filter: bytes | None  # the channel the log is filtered to
    filter_sharded: bool  # that channel is a sharded one
    # (all channels' msgs/s or None, msgs/s per channel) as the tail measured them
    rates: tuple[float | None, dict[bytes, float]]

    @property
    def session(self) -> Session: ...

    def sharded_available(self) -> bool: ...

    def start_tail(self) -> None: ...

    def pull(self, force: bool = False) -> None: ...

    def update_status(self) -> None: ...

    async def ask(self, title: str, fields: list[Field], submit_label: str = "OK",
                  body: str | Text | None = None) -> dict[str, str] | None: ...
