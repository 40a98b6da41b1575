"""What the Streams panel's parts (tables.py, plot.py, detail.py, actions.py) read and call
on the panel: a protocol, so they do not import the panel that holds them. The panel keeps
what Textual needs on a widget (the view state as reactives, the tables, workers, dialogs);
each part keeps its own state."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rich.text import Text
    from textual.app import App
    from textual.widgets import Static
    from textual.worker import Worker

    from ferrite_tui.backend.bulk import BulkReport, BulkRunner
    from ferrite_tui.backend.client import Client
    from ferrite_tui.backend.history import History
    from ferrite_tui.backend.models import QueueKind, QueueStats, Snapshot
    from ferrite_tui.backend.streams import PendingEntry, StreamEntry, Streams
    from ferrite_tui.ui.screens.dialogs import Field
    from ferrite_tui.ui.session import Session
    from ferrite_tui.ui.widgets.items import PagedTable
    from ferrite_tui.ui.widgets.table import KeyedTable


class StreamsView(Protocol):
    """The Streams panel, as its parts see it."""

    KINDS: tuple[QueueKind, ...]
    snapshot: Snapshot | None
    history: History | None

    # The view state (reactives: a change redraws and re-reads what shows it).
    mode: str  # "pending" entries, or the "browser"
    sort: str  # order of the pending entries shown
    min_idle_ms: int  # pending filter
    tail: bool  # the browser follows the newest
    consumer: str | None  # pending of one consumer
    page_start: str  # pending page: XPENDING start id
    browser_end: str  # browser page: newest id shown

    @property
    def app(self) -> App[Any]: ...

    @property
    def session(self) -> Session: ...

    @property
    def is_mounted(self) -> bool: ...

    # Its widgets.
    @property
    def table(self) -> KeyedTable: ...

    @property
    def groups_table(self) -> KeyedTable: ...

    @property
    def consumers_table(self) -> KeyedTable: ...

    @property
    def pending_table(self) -> PagedTable[PendingEntry]: ...

    @property
    def browser_table(self) -> PagedTable[StreamEntry]: ...

    @property
    def detail_head(self) -> Static: ...

    def items(self, snap: Snapshot) -> list[QueueStats]: ...

    def redraw(self) -> None: ...

    def backend(self) -> Streams | None: ...

    def streams(self) -> Streams: ...

    def client(self) -> Client: ...

    def set_group(self, name: str | None) -> None:
        """Select this group of the selected stream (its consumers and pages reset)."""

    def run_worker(self, work: Coroutine[Any, Any, Any], *args: Any,
                   **kwargs: Any) -> Worker[Any]: ...  # DOMNode.run_worker

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = False) -> None: ...

    def inspect_value(self, title: str, value: bytes, meta: list[tuple[str, str]],
                      fields: list[tuple[bytes, bytes]] | None = None) -> None: ...

    async def confirm(self, title: str, body: str | Text, label: str = "Yes", *,
                      typed: str | None = None) -> bool: ...

    async def ask(self, title: str, fields: list[Field], submit_label: str = "OK",
                  body: str | Text | None = None) -> dict[str, str] | None: ...

    async def run_bulk(self, title: str, runner: BulkRunner[Any]) -> BulkReport: ...
