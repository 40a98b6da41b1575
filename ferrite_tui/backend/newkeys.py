"""New keys at once, where the server already publishes key-event notifications.

A queue created after the last rescan would wait for the next one (every rescan_seconds; a
busy queue that is mostly empty may never be caught by SCAN at all). Where the server's
`notify-keyspace-events` has E and the classes of lists, sorted sets or streams (l, z, t, or
A), a connection of its own subscribes to the key events that add to those keys (one
channel per event, not every event of every key) and collects the names of keys the console
does not list yet, bounded; the monitor hands them to discovery at the next poll, which
types and classifies only those keys. The console never changes server configuration: with
notifications off this says why and discovery goes on as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from ferrite_tui.backend.envelopes import key_text

log = logging.getLogger(__name__)

#: Events that create a list, sorted set or stream (key-event channel names).
EVENTS = {"l": ("lpush", "rpush", "lmove", "rpoplpush", "linsert"), "z": ("zadd",),
          "t": ("xadd",)}
#: Names kept between two polls; more are counted, and left to the next rescan.
MAX_PENDING = 10_000
RETRY_S = 30.0
NEEDED = "notify-keyspace-events with E and l, z or t (e.g. 'Elzt')"


def channels_for(flags: str, db: int) -> list[str]:
    """The key-event channels to subscribe to for this setting (empty: not published)."""
    have = set(flags)
    if "A" in have:
        have |= set("lzt")
    if "E" not in have:
        return []
    return [f"__keyevent@{db}__:{event}" for cls, events in EVENTS.items() if cls in have
            for event in events]


class NewKeys:
    """Collects the names of keys created since the last `take`."""

    def __init__(self, client: Any) -> None:
        self.client = client  # backend.client.Client
        self.pending: set[str] = set()
        self.overflow = 0  # names not kept (more than MAX_PENDING between two polls)
        self.known: set[str] = set()  # keys the console lists (not collected)
        self.reason: str | None = "starting"  # why names are not collected, or None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._task is None and self.client.cluster is None:
            self._task = asyncio.create_task(self._run())

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def take(self) -> set[str]:
        names, self.pending = self.pending, set()
        self.overflow = 0
        return names

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # refused, or the connection dropped: later again
                log.debug("new-key notifications: %s", exc)
                self.reason = f"not subscribed ({type(exc).__name__}); retrying"
            await asyncio.sleep(RETRY_S)

    async def _listen(self) -> None:
        (reply,) = await self.client.raw_pipeline([("CONFIG", "GET",
                                                    "notify-keyspace-events")])
        if isinstance(reply, Exception) or not isinstance(reply, list) or len(reply) < 2:
            self.reason = f"cannot read notify-keyspace-events (needs {NEEDED})"
            return
        db = self.client.redis.connection_pool.connection_kwargs.get("db", 0)
        channels = channels_for(key_text(reply[1]), db)
        if not channels:
            self.reason = f"the server does not publish key events ({NEEDED})"
            return
        redis = self.client.pubsub_connection()
        pubsub = redis.pubsub()
        try:
            await pubsub.subscribe(*channels)
            self.reason = None
            while True:
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
                if msg is None or msg.get("type") != "message":
                    continue
                name = key_text(msg["data"])
                if name in self.known or name in self.pending:
                    continue
                if len(self.pending) < MAX_PENDING:
                    self.pending.add(name)
                else:
                    self.overflow += 1
        finally:
            self.reason = "notification connection closed"
            with contextlib.suppress(Exception):
                await pubsub.aclose()
                await redis.aclose()
