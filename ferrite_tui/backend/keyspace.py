"""The one subscription to the server's keyspace notifications.

Two readers use them: exact list / sorted-set moves (notifications.KeyEvents, opt-in) and
new keys at once (newkeys.NewKeys, for the console's remembered queues). One connection of
its own subscribes to what the readers need under the server's `notify-keyspace-events`
and hands each (key, event) to both: the key-event (or keyspace) pattern when moves are
counted (it carries every new key too), else only the channels of the events that create
lists, sorted sets and streams. What is subscribed follows the setting, read with every
poll when moves are counted, else here when (re)subscribing. The console never changes
server configuration: a reader that gets nothing says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from ferrite_tui.backend.envelopes import key_text
from ferrite_tui.backend.newkeys import NewKeys, channels_for
from ferrite_tui.backend.notifications import KeyEvents, missing_classes

log = logging.getLogger(__name__)

#: Looked at again this often while nothing can be subscribed, or after a lost connection
#: (while moves are counted, the poll's reading of the setting comes sooner).
RETRY_S = 5.0
NEW_KEYS_RETRY_S = 30.0
#: The subscription is confirmed within this long, or it is given up for now.
SUBSCRIBE_S = 5.0


def counting_pattern(flags: str, db: int) -> str:
    """The pattern moves are counted from: key events where published, else keyspace."""
    return f"__{'keyevent' if 'E' in flags else 'keyspace'}@{db}__:*"


class KeyspaceFeed:
    """One pub/sub connection feeding the readers registered on it."""

    def __init__(self, client: Any) -> None:
        self.client = client  # backend.client.Client
        self.counting: KeyEvents | None = None
        self.new_keys: NewKeys | None = None
        self.flags: str | None = None  # the server's notify-keyspace-events, last read
        self.pubsub: Any = None  # while subscribed (the marks are PINGs on it)
        self.subscribed: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
        self._task: asyncio.Task | None = None
        self._changed = asyncio.Event()

    @property
    def db(self) -> int:
        return int(self.client.redis.connection_pool.connection_kwargs.get("db", 0))

    def wanted(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(patterns, channels) the readers need under the setting last read."""
        flags = self.flags
        if flags is None:
            return (), ()
        if self.counting is not None and not missing_classes(flags):
            # Every key's events: new keys are among them (one message each, not two).
            return (counting_pattern(flags, self.db),), ()
        if self.new_keys is not None:
            return (), tuple(channels_for(flags, self.db))
        return (), ()

    def start(self) -> None:
        if self._task is None and self.client.cluster is None:
            self._task = asyncio.create_task(self._run())

    def observe(self, flags: str | None) -> None:
        """The setting as a poll read it: subscribe anew when the readers need other
        channels under it."""
        self.flags = flags
        self.start()
        if self.wanted() != self.subscribed:
            self._changed.set()

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            self._changed.clear()
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # refused, or the connection dropped: later again
                log.debug("keyspace notifications: %s", exc)
                self._tell_lost(f"lost ({type(exc).__name__}); retrying", after_close=True)
            if not self._changed.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(
                            RETRY_S if self.counting is not None else NEW_KEYS_RETRY_S):
                        await self._changed.wait()

    async def _read_setting(self) -> None:
        (reply,) = await self.client.raw_pipeline([("CONFIG", "GET", "notify-keyspace-events")])
        if isinstance(reply, Exception) or not isinstance(reply, list) or len(reply) < 2:
            self.flags = None
        else:
            self.flags = key_text(reply[1])

    async def _listen(self) -> None:
        if self.counting is None or self.flags is None:
            await self._read_setting()  # moves counted: each poll reads it
        patterns, channels = wanted = self.wanted()
        if self.new_keys is not None:
            self.new_keys.not_subscribed(self.flags, counted=bool(patterns))
        if not patterns and not channels:
            return
        redis = self.client.pubsub_connection()
        pubsub = redis.pubsub()
        try:
            if patterns:
                await pubsub.psubscribe(*patterns)
            if channels:
                await pubsub.subscribe(*channels)
            confirmed = 0
            async with asyncio.timeout(SUBSCRIBE_S):
                while confirmed < len(patterns) + len(channels):
                    msg = await pubsub.get_message(ignore_subscribe_messages=False,
                                                   timeout=1)
                    if msg and msg.get("type") in ("psubscribe", "subscribe"):
                        confirmed += 1
            self.pubsub, self.subscribed = pubsub, wanted
            if self.counting is not None and patterns:
                self.counting.subscribed()
            if self.new_keys is not None:
                self.new_keys.reason = None
            await self._dispatch(pubsub, by_event=not patterns or "__keyevent@" in patterns[0])
        finally:
            self.pubsub, self.subscribed = None, ((), ())
            self._tell_lost("closed")
            with contextlib.suppress(Exception):
                await pubsub.aclose()
                await redis.aclose()

    async def _dispatch(self, pubsub: Any, by_event: bool) -> None:
        """Each (key, event) to the readers, until what is wanted changes."""
        counting, new_keys = self.counting, self.new_keys
        while not self._changed.is_set():
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            if msg is None:
                continue
            kind = msg.get("type")
            if kind == "pong":
                if counting is not None:
                    counting.answered(key_text(msg["data"] or b""))
                continue
            if kind not in ("pmessage", "message"):
                continue
            # Key events: the channel names the event, the message the key; keyspace
            # notifications the other way round.
            tail = key_text(msg["channel"]).split("__:", 1)[-1]
            data = key_text(msg["data"])
            key, event = (data, tail) if by_event else (tail, data)
            if counting is not None:
                counting.count(key, event)
            if new_keys is not None:
                new_keys.created(key, event)

    def _tell_lost(self, why: str, after_close: bool = False) -> None:
        """The readers hear that nothing comes now, and why (`after_close`: the closing
        already stopped them; this says more)."""
        text = f"notification connection {why}"
        if self.counting is not None:
            self.counting.unsubscribed(text, after_close)
        if self.new_keys is not None and (after_close or self.new_keys.reason is None):
            self.new_keys.reason = text
