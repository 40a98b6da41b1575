"""Exact list and sorted-set moves from keyspace notifications (opt-in).

The one subscription to the server's key-event (or keyspace) notifications
(keyspace.KeyspaceFeed, shared with the new-key reader) hands over every key's events; this
counts, for every polled key, the commands that added to it and those that took from it, so
lists drained between polls, stacks and priority sets get their in/out too. The server must
already publish them: `notify-keyspace-events` with E or K, and l (lists) and z (sorted
sets). The console never changes server configuration; it says what would be needed.

A command notifies once however many elements it moves (RPUSH k a b c, LREM k 0 v): the
poll checks the counts against the change in size and marks the figures as lower bounds
where they disagree. The setting is read again with every poll (CONFIG GET, in its
pipeline), so counts that went quiet because notifications were turned off are never
taken for "nothing moved".
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from ferrite_tui.backend.envelopes import key_text

if TYPE_CHECKING:
    from ferrite_tui.backend.keyspace import KeyspaceFeed

#: Events that add elements, and those that take them (key-event names, as published).
ADDS = frozenset({"lpush", "rpush", "linsert", "zadd"})
TAKES = frozenset({"lpop", "rpop", "lrem", "ltrim", "zrem", "zrembyscore", "zrembyrank",
                   "zrembylex", "zpopmin", "zpopmax"})
# Anything else that changes a key's size (DEL, expiry, RENAME, LREM of several, a store
# over it) shows as a size change the counts do not explain: the poll marks that interval.
# (A list emptied by a pop also notifies "del", so DEL cannot restart the counts.)
NEEDED = "notify-keyspace-events with E (or K) and l, z (e.g. 'Elz')"


def missing_classes(flags: str) -> str | None:
    """What the server's notify-keyspace-events value lacks for counting, or None."""
    have = set(flags)
    if "A" in have:
        have |= set("glshzxetd")
    lacking = [c for c in "lz" if c not in have]
    if not have & {"E", "K"}:
        lacking.insert(0, "E or K")
    return ", ".join(lacking) or None


class KeyEvents:
    """Counts adds and takes per watched key from the server's notifications, as the one
    subscription (keyspace.KeyspaceFeed) hands them over.

    `counts[key]` is [adds, takes]; `generation` grows whenever counting (re)started, so
    the poller never takes a difference across a gap."""

    def __init__(self, feed: KeyspaceFeed) -> None:
        self.feed = feed
        feed.counting = self
        self.counts: dict[str, list[int]] = {}
        self.watched: set[str] = set()
        self.generation = 0
        self.live = False  # subscribed, and the server's setting allows counting
        self.reason: str | None = "starting"  # why figures are not counted, or None
        self.flags: str | None = None  # the server's notify-keyspace-events, last read
        # Counts as of each poll: (generation, counts) by the poll's number (see mark).
        self.marks: dict[int, tuple[int, dict[str, tuple[int, int]]]] = {}
        self.behind = False  # marks asked two polls ago and more are still unanswered
        self._pings: set[asyncio.Task] = set()
        self._subscribed = False  # the feed's pattern is subscribed

    async def aclose(self) -> None:
        await self.feed.aclose()
        self.live = False

    def observe_setting(self, reply: Any) -> None:
        """The poll's CONFIG GET notify-keyspace-events reply: counting holds only while
        the server publishes what is needed."""
        if isinstance(reply, Exception) or not isinstance(reply, list) or len(reply) < 2:
            self.flags = None
            self._stop_counting("CONFIG GET notify-keyspace-events is refused: cannot tell "
                                f"whether the server publishes what is counted ({NEEDED})")
            self.feed.observe(None)
            return
        flags = key_text(reply[1])
        self.flags = flags
        lacking = missing_classes(flags)
        if lacking:
            self._stop_counting(f"the server's notify-keyspace-events is '{flags}' (lacks "
                                f"{lacking}): exact in/out needs {NEEDED}; the console never "
                                "changes server configuration")
        elif not self._subscribed:
            self.reason = "subscribing to keyspace notifications"
        elif not self.live:
            # Published again after a gap: count anew (no difference spans the gap).
            self.generation += 1
            self.marks.clear()
            self.live, self.reason = True, None
        # Now published on the other channel kind, or no longer: the feed subscribes anew.
        self.feed.observe(flags)

    def mark(self, seq: int) -> bool:
        """Ask for the counts as they are once every notification of the commands the
        server ran so far has been read: a PING on the subscriber's connection is answered
        after them. Returns whether it was asked."""
        pubsub = self.feed.pubsub
        if pubsub is None or not self.live:
            return False
        for old in [s for s in self.marks if s < seq - 4]:
            del self.marks[old]
        task = asyncio.create_task(self._ping(pubsub, seq))
        self._pings.add(task)
        task.add_done_callback(self._pings.discard)
        return True

    @staticmethod
    async def _ping(pubsub: Any, seq: int) -> None:
        with contextlib.suppress(Exception):  # a lost connection shows in the reader
            await pubsub.ping(f"mark:{seq}")

    def observe_cluster(self) -> None:
        self._stop_counting("not on a cluster (notifications are published per node)")

    def _stop_counting(self, reason: str) -> None:
        if self.live:
            self.generation += 1
        self.live = False
        self.reason = reason

    # -- from the feed ------------------------------------------------------------------

    def subscribed(self) -> None:
        """The feed's pattern is subscribed: counting starts anew."""
        self._subscribed = True
        self.generation += 1
        self.marks.clear()
        self.live, self.reason = True, None

    def unsubscribed(self, reason: str, after_close: bool = False) -> None:
        if self.flags is not None and missing_classes(self.flags):
            # Closed because the server's setting lacks what is counted: that stays the
            # reason (the close came after the poll that read the setting, or raced it).
            self._subscribed = False
            return
        if self._subscribed:
            self._subscribed = False
            self._stop_counting(reason)
        elif after_close and not self.live:
            self.reason = reason

    def answered(self, token: str) -> None:
        """A mark's PING answered: every notification before it has been counted."""
        if token.startswith("mark:"):
            self.marks[int(token[5:])] = (self.generation, {
                k: (v[0], v[1]) for k, v in self.counts.items()})

    def count(self, key: str, event: str) -> None:
        if key not in self.watched:
            return
        counts = self.counts.get(key)
        if counts is None:
            counts = self.counts[key] = [0, 0]
        if event in ADDS:
            counts[0] += 1
        elif event in TAKES:
            counts[1] += 1

    def watch(self, keys: set[str]) -> None:
        self.watched = keys
        for key in [k for k in self.counts if k not in keys]:
            del self.counts[key]

    def status(self) -> str:
        """"on" while counting, else why not (for status, help and the Server panel)."""
        if self.live and self.behind:
            return ("behind: notifications come faster than this console reads them; "
                    "figures from the lists themselves until it catches up")
        return "on" if self.live else (self.reason or "off")
