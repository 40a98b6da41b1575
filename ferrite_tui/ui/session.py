"""What a panel may use of the connection, handed down by the app ("attributes down").

Panels read the client, the clock, the config and the poller's settings here, and ask for a
poll through `poll_now`; they never walk `app.monitor`, and never hold a redis connection of
their own. One clock for the whole UI: tests and snapshots freeze it by giving the app
another one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ferrite_tui.backend.client import Client
from ferrite_tui.backend.connection import ConnectionSettings, describe_error
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.history import History
from ferrite_tui.backend.journal import Journal
from ferrite_tui.backend.models import Capabilities
from ferrite_tui.backend.monitor import Monitor
from ferrite_tui.backend.reliable import DEFAULT_VISIBILITY_S
from ferrite_tui.backend.trends import Trends
from ferrite_tui.config import Config


@dataclass
class Session:
    config: Config
    settings: ConnectionSettings | None = None
    clock: Callable[[], float] = time.time
    audit_path: Path = Path("audit.log")
    monitor: Monitor | None = None
    # With no Monitor (snapshot tests, screenshots) there is no server I/O: snapshots are
    # posted by the caller, with this history and these capabilities.
    offline_history: History = field(default_factory=History)
    offline_capabilities: Capabilities = field(default_factory=Capabilities)
    offline_trends: Trends = field(default_factory=Trends)
    # Offline, items may still be read through a client the caller connected (snapshot
    # tests of item views and dialogs: frozen snapshot and clock, items from a seeded server).
    offline_client: Client | None = None

    @property
    def client(self) -> Client | None:
        """The connection's client, or None before connecting (or offline)."""
        return self.monitor.client if self.monitor is not None else self.offline_client

    @property
    def read_only(self) -> bool:
        return bool(self.settings is not None and self.settings.read_only)

    @property
    def history(self) -> History:
        return self.monitor.history if self.monitor is not None else self.offline_history

    @property
    def trends(self) -> Trends:
        """Per-minute trends of the last hour: rebuilt at open, then fed by the poll."""
        return self.monitor.trends if self.monitor is not None else self.offline_trends

    @property
    def capabilities(self) -> Capabilities:
        return self.monitor.capabilities if self.monitor is not None else \
            self.offline_capabilities

    def clock_offset_ms(self) -> int:
        """Server - console clock, as the last poll measured it (0 offline: the frozen
        clock of snapshot tests is the server's)."""
        if self.monitor is None:
            return 0
        return self.monitor.client.server_clock.offset_ms or 0

    def now_ms(self) -> int:
        """Now by the server's clock: every due, overdue and age on screen uses it."""
        return int(self.clock() * 1000) + self.clock_offset_ms()

    def server_now_s(self) -> float:
        return self.now_ms() / 1000

    def refusal(self, action: str) -> str | None:
        """Why a change may not be made here (the client's guard: a replica), shown before
        any dialog; None when it may."""
        client = self.client
        refused = client.refusal(action) if client is not None else None
        return printable(refused, 300) if refused else None

    def poll_now(self) -> None:
        """Poll at once (after an action), instead of at the next tick."""
        if self.monitor is not None:
            self.monitor.poll_now()

    def visibility_s(self, key: str) -> float:
        """How long a job may sit in this processing list before it counts as stale."""
        timeout = None
        if self.monitor is not None:
            timeout = self.monitor.poller.visibility_timeouts.get(key)
        if timeout is None:
            timeout = self.config.alerts.processing_stale_seconds
        return timeout or DEFAULT_VISIBILITY_S

    def journal(self) -> Journal:
        """Where bulk runs keep their progress, beside the audit log."""
        server = self.settings.server_identity if self.settings is not None else ""
        return Journal(Path(self.audit_path).parent / "bulk", server=server)

    def describe(self, exc: BaseException) -> str:
        """One line for any failure, naming this connection."""
        return describe_error(exc, self.settings)
