"""The backend as the UI sees it: connect, discover, poll on a loop, reconnect with backoff.

One Monitor per connection. Its loop never has two polls in flight: the next poll is armed
only when the last one finished. Discovery runs beside it as its own task, so a large
keyspace slows neither the poll nor the UI.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ferrite_tui.backend.advice import Advisor
from ferrite_tui.backend.audit import AuditLog
from ferrite_tui.backend.backfill import Backfill, BackfillReport
from ferrite_tui.backend.client import Client
from ferrite_tui.backend.connection import (
    ConnectionSettings,
    describe_error,
    is_connection_failure,
)
from ferrite_tui.backend.discovery import Discovery
from ferrite_tui.backend.errors import BackendError
from ferrite_tui.backend.history import History
from ferrite_tui.backend.keyspace import KeyspaceFeed
from ferrite_tui.backend.models import ConnectionState, DiscoveryProgress, QueueRef, Snapshot
from ferrite_tui.backend.newkeys import NewKeys
from ferrite_tui.backend.notifications import KeyEvents
from ferrite_tui.backend.poll import Poller
from ferrite_tui.backend.remembered import Remembered
from ferrite_tui.backend.trends import Trends
from ferrite_tui.config import Config

log = logging.getLogger(__name__)

BACKOFF_S = (1, 2, 4, 8, 10)
#: How long the first poll waits for the first discovery pass (a big keyspace's takes
#: longer: the server's figures and the "scanning" line come first then).
FIRST_DISCOVERY_WAIT_S = 1.0


class ClusterPoller(Poller):
    """The poll as on one server; on a cluster the snapshot carries the cluster table."""

    async def snapshot(self, refs: list[QueueRef]) -> Snapshot:
        snap = await super().snapshot(refs)
        router = self.client.cluster
        if router is None:
            return snap
        return replace(snap, cluster=router.view())


@dataclass
class Listener:
    """Callbacks the loop calls; the UI turns each into a message."""

    on_snapshot: Callable[[Snapshot], None] = lambda s: None
    on_state: Callable[[ConnectionState], None] = lambda s: None
    on_discovery: Callable[[DiscoveryProgress], None] = lambda p: None


class Monitor:
    def __init__(self, settings: ConnectionSettings, config: Config, *,
                 audit: AuditLog | None = None, match: tuple[str, ...] | None = None,
                 refresh: float | None = None, remember_in: Path | None = None) -> None:
        self.settings = settings
        self.config = config
        self.refresh = refresh or config.refresh
        self.client = Client(settings, audit)
        self.discovery = Discovery(self.client, config, match or _profile_match(config, settings))
        # The console (which keeps state): queues seen before, and new keys at once where
        # the server publishes key events.
        self.new_keys: NewKeys | None = None
        # One subscription to keyspace notifications feeds both the new keys and, opted
        # in, the exact moves (the poll's).
        self.keyspace = KeyspaceFeed(self.client)
        if remember_in is not None:
            self.new_keys = NewKeys(self.keyspace)
            if config.discovery.remember_days > 0:
                self.discovery.remembered = Remembered(
                    remember_in, settings.server_identity,
                    config.discovery.remember_days * 86400)
        self.history = History(config.history_minutes * 60)
        self.poller = ClusterPoller(
            self.client, config.alerts, self.history,
            {q.key: q.visibility_timeout for q in config.queues if q.visibility_timeout},
        )
        if config.exact_from_notifications:
            self.poller.events = KeyEvents(self.keyspace)
        # Per-minute trends: rebuilt from the data after the first discovery and on ctrl+r,
        # then fed by every poll.
        self.trends = Trends(config.trend_minutes or 60)
        self.backfill_report: BackfillReport | None = None
        self._backfill_wanted = config.trend_minutes > 0
        self.advisor = Advisor(config.alerts)
        self.state = ConnectionState("connecting")
        self.snapshot: Snapshot | None = None
        self._wake = asyncio.Event()
        self._first_data = asyncio.Event()  # the loop's first snapshot is out
        self._rescan = asyncio.Event()
        self._discovery_task: asyncio.Task | None = None
        self._stopped = False

    @property
    def capabilities(self):
        return self.client.capabilities

    # -- one-shot use (status command, tests) ------------------------------------------

    async def connect(self) -> None:
        await self.client.connect()
        self.state = ConnectionState("live", last_ok=self.client.server_clock.now_s())

    async def discover(self, progress: Callable[[DiscoveryProgress], None] | None = None):
        return await self.discovery.run(progress)

    async def poll(self) -> Snapshot:
        self.snapshot = self._recorded(await self._snapshot())
        return self.snapshot

    async def _snapshot(self) -> Snapshot:
        """One poll; what discovery left out, and which queues it must keep, go along."""
        self.poller.left_out = self.discovery.left_out
        unreadable = self.discovery.unreadable
        self.poller.access_note = (
            f"{unreadable:,} key{'s' if unreadable != 1 else ''} not readable by user "
            f"{self.client.username}") if unreadable else None
        self.poller.max_queues = self.config.discovery.max_queues
        new_keys = self.new_keys
        if new_keys is not None and new_keys.pending and not self.discovery.busy:
            await self.discovery.notice(new_keys.take())
            new_keys.known = {k for ref in self.discovery.refs for k in ref.keys}
        snap = await self.poller.snapshot(self.discovery.refs)
        self.discovery.keep_first = {q.ref.ident for q in snap.queues if q.severity
                                     or (q.ref.kind.value == "stream" and q.groups)}
        self.discovery.in_use = {q.ref.ident for q in snap.queues
                                 if (q.in_rate or 0) > 0 or (q.out_rate or 0) > 0}
        return snap

    async def backfill(self, refs: list[QueueRef] | None = None) -> BackfillReport:
        """Rebuild the trend window from the data of these queues (default: every queue
        discovered so far)."""
        self._backfill_wanted = False
        report = await Backfill(self.client, self.trends, minutes=self.config.trend_minutes) \
            .run(self.discovery.refs if refs is None else refs)
        self.backfill_report = report
        return report

    def _recorded(self, snap: Snapshot) -> Snapshot:
        """The poll's snapshot, recorded into the trends, its alerts annotated."""
        self.trends.record(snap)
        self.trends.forget({q.ref.ident for q in snap.queues})
        return replace(snap, alert_notes=self.advisor.annotate(snap, self.trends))

    async def aclose(self) -> None:
        self.stop()
        if self._discovery_task is not None:
            self._discovery_task.cancel()
            # The task's own CancelledError comes back as a result; ours still propagates.
            await asyncio.gather(self._discovery_task, return_exceptions=True)
        await self.keyspace.aclose()
        await self.client.aclose()

    # -- the loop ---------------------------------------------------------------------

    def poll_now(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """End run() and the discovery loop at their next step. Cancelling alone is not
        enough on Python 3.11, where a cancel that meets a finishing wait (redis-py wraps
        its socket writes in one) can be lost."""
        self._stopped = True
        self._wake.set()
        self._rescan.set()

    def use_config(self, config: Config) -> None:
        """A changed config (a queue's kind corrected): discovery uses it from a rescan,
        started now."""
        self.config = self.discovery.config = config
        self.rescan_now()

    def rescan_now(self) -> None:
        self._backfill_wanted = self.config.trend_minutes > 0
        self._rescan.set()
        self._wake.set()

    async def run(self, listener: Listener) -> None:
        """Poll until cancelled. Never raises for server trouble; it reports states."""
        attempt = 0
        connected = False
        try:
            while not self._stopped:
                if not connected:
                    try:
                        await self.client.connect()
                    except BackendError as exc:
                        cause = exc.__cause__
                        if cause is not None and not is_connection_failure(cause):
                            # Wrong password, TLS refusal: retrying will not help. Wait for
                            # ctrl+r (poll_now) before trying again.
                            self._set_state(listener, ConnectionState(
                                "failed", error=str(exc), last_ok=self.state.last_ok))
                            await self._wait(None)
                            continue
                        attempt += 1
                        await self._backoff(listener, attempt, str(exc))
                        continue
                    connected = True
                    attempt = 0
                    self._start_discovery(listener)
                    if self.snapshot is None:
                        # The first poll waits a little for discovery's first pass: an
                        # empty first table, drawn and then replaced, was start-up time.
                        await self._wait(FIRST_DISCOVERY_WAIT_S)
                try:
                    async with asyncio.timeout(self.settings.command_timeout + 2):
                        snap = await self._snapshot()
                except Exception as exc:
                    if is_connection_failure(exc):
                        connected = False
                        attempt += 1
                        await self._backoff(listener, attempt, describe_error(exc, self.settings))
                        continue
                    # A reply we could not read is reported and the loop goes on.
                    log.debug("poll failed", exc_info=True)
                    self._set_state(listener, ConnectionState(
                        "live", error=describe_error(exc, self.settings),
                        last_ok=self.state.last_ok))
                    await self._wait(self.refresh)
                    continue
                self.snapshot = snap = self._recorded(snap)
                self._set_state(listener, ConnectionState("live", last_ok=snap.taken_at))
                listener.on_snapshot(snap)
                self._first_data.set()
                await self._wait(self.refresh)
        finally:
            if self._discovery_task is not None:
                self._discovery_task.cancel()

    def _set_state(self, listener: Listener, state: ConnectionState) -> None:
        if state != self.state:
            self.state = state
            listener.on_state(state)

    async def _wait(self, seconds: float | None) -> None:
        try:
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        except TimeoutError:
            pass
        self._wake.clear()

    async def _backoff(self, listener: Listener, attempt: int, error: str) -> None:
        delay = BACKOFF_S[min(attempt - 1, len(BACKOFF_S) - 1)]
        deadline = time.monotonic() + delay
        while (left := deadline - time.monotonic()) > 0:
            self._set_state(listener, ConnectionState(
                "reconnecting", attempt=attempt, next_retry_s=round(left),
                error=error, last_ok=self.state.last_ok))
            await self._wait(min(1.0, left))
            if self._rescan.is_set():  # ctrl+r: try now
                break

    def _start_discovery(self, listener: Listener) -> None:
        if self._discovery_task is not None and not self._discovery_task.done():
            return
        self._discovery_task = asyncio.create_task(self._discover_loop(listener))

    async def _discover_loop(self, listener: Listener) -> None:
        """Discover now, then again every rescan_seconds or when asked."""
        while not self._stopped:
            self._rescan.clear()
            try:
                await self.discovery.run(listener.on_discovery)
                if self.new_keys is not None:
                    self.new_keys.known = {k for r in self.discovery.refs for k in r.keys}
                    self.new_keys.start()
                self._wake.set()  # poll the new queues right away
                if self._backfill_wanted:
                    # After the first data: its reads and CPU delayed the first screen.
                    await self._first_data.wait()
                    try:
                        await self.backfill()
                    except Exception as exc:  # a note on screen, never a crash
                        if is_connection_failure(exc):
                            raise
                        log.debug("backfill failed", exc_info=True)
                        self.trends.notes = [
                            f"trends not rebuilt: {describe_error(exc, self.settings)}"]
                    self._wake.set()  # show the rebuilt trends
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                listener.on_discovery(DiscoveryProgress(
                    scanned=0, found=len(self.discovery.refs), done=True,
                    error=describe_error(exc, self.settings)))
                if is_connection_failure(exc):
                    return  # the poll loop reconnects and restarts discovery
            try:
                async with asyncio.timeout(self.config.discovery.rescan_seconds or None):
                    await self._rescan.wait()
            except TimeoutError:
                pass


def _profile_match(config: Config, settings: ConnectionSettings) -> tuple[str, ...] | None:
    profile = config.profiles.get(settings.profile)
    return profile.match if profile is not None else None
