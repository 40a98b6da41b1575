"""What a dead-letter requeue will do, counted by outcome before anything moves.

A confirmation must tell everything: of the entries it covers, how many are the seed's
dead-letter envelopes (reset: retry_count 0, last_error null, first_attempt now) and how
many are other values (moved byte for byte, unchanged). The classification is the one the
requeue itself applies (`requeued_job`), so the plan and the result cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ferrite_tui.backend.client import Client
from ferrite_tui.backend.dlq import SCAN_WINDOW
from ferrite_tui.backend.envelopes import decode, requeued_job
from ferrite_tui.backend.lists import read_page
from ferrite_tui.backend.movebase import Item
from ferrite_tui.backend.rawjson import Unrewritable

# Reading more than this to plan one confirmation costs more than it tells: beyond it the
# plan says how far it read, and the rest is "not read" (never a guessed split).
PLAN_LIMIT = 200_000


@dataclass(frozen=True)
class RequeuePlan:
    total: int  # entries the action covers
    reset: int  # dead-letter envelopes: reset, then requeued
    unchanged: int  # other values: moved as they are
    kept: int = 0  # envelopes whose text cannot be rewritten: left in place
    # The first of the other values, exactly as it will be written: a value that is not a
    # job is never pushed onto a work queue without the operator seeing it first.
    first_unchanged: bytes | None = None

    @property
    def unread(self) -> int:
        return self.total - self.reset - self.unchanged - self.kept

    def describe(self) -> str:
        """E.g. "143 dead-letter envelopes reset, 3 other values moved unchanged"."""
        parts = [f"{self.reset:,} dead-letter envelope{'' if self.reset == 1 else 's'} reset",
                 f"{self.unchanged:,} other value{'' if self.unchanged == 1 else 's'} "
                 "moved unchanged"]
        if self.kept:
            parts.append(f"{self.kept:,} that cannot be rewritten left in place")
        if self.unread:
            parts.append(f"{self.unread:,} not read ahead of time (moved as found)")
        return ", ".join(parts)


RESET, UNCHANGED, KEPT = "reset", "unchanged", "kept"


def outcome(raw: bytes) -> str:
    """What the requeue will do with this value: RESET, UNCHANGED or KEPT."""
    try:
        return UNCHANGED if requeued_job(decode(raw), 0) is None else RESET
    except Unrewritable:
        return KEPT



def plan_items(items: Iterable[Item]) -> RequeuePlan:
    """The plan for exactly these values (marked or filtered entries, already read)."""
    counts = {RESET: 0, UNCHANGED: 0, KEPT: 0}
    first: bytes | None = None
    for item in items:
        what = outcome(item.raw)
        counts[what] += 1
        if what == UNCHANGED and first is None:
            first = item.raw
    return RequeuePlan(sum(counts.values()), counts[RESET], counts[UNCHANGED], counts[KEPT],
                       first)


async def plan_head(client: Client, key: str, count: int,
                    limit: int = PLAN_LIMIT) -> RequeuePlan:
    """The plan for the first `count` entries of `key` (the unfiltered "requeue all"),
    read in windows from the head: one round trip per window, never the whole list."""
    counts = {RESET: 0, UNCHANGED: 0, KEPT: 0}
    first: bytes | None = None
    start = 0
    want = min(count, limit)
    while start < want:
        page = await read_page(client, key, start, min(SCAN_WINDOW, want - start))
        if page.start != start or not page.items:
            break  # the list shrank under us: what was read is what the plan knows
        for item in page.items[:want - start]:
            what = outcome(item.raw)
            counts[what] += 1
            if what == UNCHANGED and first is None:
                first = item.raw
        start += len(page.items)
    return RequeuePlan(count, counts[RESET], counts[UNCHANGED], counts[KEPT], first)
