"""New keys at once, where the server already publishes key-event notifications.

A queue created after the last rescan would wait for the next one (every rescan_seconds; a
busy queue that is mostly empty may never be caught by SCAN at all). Where the server's
`notify-keyspace-events` has E and the classes of lists, sorted sets or streams (l, z, t, or
A), the one subscription (keyspace.KeyspaceFeed, shared with the counting of moves) takes the
key events that add to those keys (one channel per event, not every event of every key,
unless moves are counted from them all) and this collects the names of keys the console
does not list yet, bounded; the monitor hands them to discovery at the next poll, which
types and classifies only those keys. The console never changes server configuration: with
notifications off this says why and discovery goes on as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ferrite_tui.backend.keyspace import KeyspaceFeed

#: Events that create a list, sorted set or stream (key-event channel names).
EVENTS = {"l": ("lpush", "rpush", "lmove", "rpoplpush", "linsert"), "z": ("zadd",),
          "t": ("xadd",)}
CREATING = frozenset(event for events in EVENTS.values() for event in events)
#: Names kept between two polls; more are counted, and left to the next rescan.
MAX_PENDING = 10_000
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
    """Collects the names of keys created since the last `take`, from what the one
    subscription (keyspace.KeyspaceFeed) hands over."""

    def __init__(self, feed: KeyspaceFeed) -> None:
        self.feed = feed
        feed.new_keys = self
        self.pending: set[str] = set()
        self.overflow = 0  # names not kept (more than MAX_PENDING between two polls)
        self.known: set[str] = set()  # keys the console lists (not collected)
        self.reason: str | None = "starting"  # why names are not collected, or None

    def start(self) -> None:
        self.feed.start()

    async def aclose(self) -> None:
        await self.feed.aclose()

    def take(self) -> set[str]:
        names, self.pending = self.pending, set()
        self.overflow = 0
        return names

    def not_subscribed(self, flags: str | None, counted: bool) -> None:
        """Before (re)subscribing: why names cannot be collected, if so."""
        if flags is None:
            self.reason = f"cannot read notify-keyspace-events (needs {NEEDED})"
        elif not counted and not channels_for(flags, 0):
            self.reason = f"the server does not publish key events ({NEEDED})"

    def created(self, key: str, event: str) -> None:
        if event not in CREATING or key in self.known or key in self.pending:
            return
        if len(self.pending) < MAX_PENDING:
            self.pending.add(key)
        else:
            self.overflow += 1
