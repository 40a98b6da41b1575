"""What the sorted-set kinds (priority, delayed) share: a set whose members read for ages
(the top, the bottom sample, the earliest due) are big is not read while its size stands,
and is read again at least every BIG_REREAD_S."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ferrite_tui.backend.kinds.base import (
    KindLayout,
    PollContext,
    Reader,
    Tally,
)
from ferrite_tui.backend.models import QueueRef

#: A sorted set's big members are read again at least this often (seconds).
BIG_REREAD_S = 30.0


@dataclass(slots=True)
class BigMembers:
    """A sorted set whose members read for ages (top and bottom, the earliest due) were
    over BIG_END bytes: while its size stands they are not read again."""

    depth: int
    unchanged: bool  # its size was the same as at the poll before
    oldest_t: int | None  # the oldest item's own time or the earliest due time (ms)
    read_at: float  # (monotonic) when they were last read

    def skip_read(self) -> bool:
        # A set's size says less than a list's ends (a member replaced keeps it): read
        # again after BIG_REREAD_S whatever the size says.
        return self.unchanged and time.monotonic() - self.read_at < BIG_REREAD_S


@dataclass(slots=True)
class SortedTally(Tally):
    big_member: bool = False  # a member read for its time is over BIG_END
    members_carried: BigMembers | None = None  # members not read: the last read stands
    oldest_sampled: bool = False


class SortedSetReader(Reader):
    """The big-members memory of sorted sets; kinds add their commands and figures."""

    tally_type: type[SortedTally] = SortedTally

    def __init__(self, poll: PollContext, layout: KindLayout | None) -> None:
        super().__init__(poll, layout)
        self.big_members: dict[str, BigMembers] = {}

    def tally(self, ref: QueueRef) -> Tally:
        return self.tally_type(ref, self)

    def carried(self, key: str) -> BigMembers | None:
        """The last read, where the members are big and not to be read this poll."""
        big = self.big_members.get(key)
        return big if big is not None and big.skip_read() else None

    def oldest_time(self, t: Any, now_ms: int) -> int | None:
        """The time kept with big members (the oldest item's own time by default)."""
        return None if t.oldest_ms is None else now_ms - t.oldest_ms

    def carry_big_members(self, t: Any, now_ms: int) -> None:
        """The time read last (while the size stands), and whether the next poll reads the
        big members again (after the size changed, it does)."""
        key = t.ref.key
        if t.members_carried is not None:
            big = t.members_carried
            big.unchanged = t.depth == big.depth
            big.depth = t.depth
            # Priority: the oldest item's time; delayed: the earliest due, late from now.
            if big.oldest_t is not None and big.oldest_t <= now_ms:
                t.oldest_ms = now_ms - big.oldest_t
            t.oldest_sampled = self.samples_oldest and t.depth > 1
        elif t.big_member and not t.errors:
            prev = self.big_members.get(key)
            self.big_members[key] = BigMembers(
                t.depth, prev is not None and prev.depth == t.depth,
                self.oldest_time(t, now_ms), time.monotonic())
        else:
            self.big_members.pop(key, None)

    samples_oldest = False  # the oldest age is from a sample of members (priority)
