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
    # Wrapper dead letters: their inner job is pushed exactly as stored (the first one as
    # it will be written, for the confirmation).
    unwrapped: int = 0
    first_unwrapped: bytes | None = None
    job_fields: tuple[str, ...] = ()  # the members the jobs are taken from ("job", ...)

    @property
    def unread(self) -> int:
        return self.total - self.reset - self.unchanged - self.kept - self.unwrapped

    def describe(self) -> str:
        """E.g. "143 dead-letter envelopes reset, 3 other values moved unchanged"."""
        parts = [f"{self.reset:,} dead-letter envelope{'' if self.reset == 1 else 's'} reset"]
        if self.unwrapped:
            under = " / ".join(f'"{f}"' for f in self.job_fields)
            parts.append(f"{self.unwrapped:,} wrapped letter{'' if self.unwrapped == 1 else 's'}"
                         f" unwrapped (the job under {under} put back exactly as stored)")
        parts.append(f"{self.unchanged:,} other value{'' if self.unchanged == 1 else 's'} "
                     "moved unchanged")
        if self.kept:
            parts.append(f"{self.kept:,} that cannot be rewritten left in place")
        if self.unread:
            parts.append(f"{self.unread:,} not read ahead of time (moved as found)")
        return ", ".join(parts)


RESET, UNCHANGED, KEPT, UNWRAPPED = "reset", "unchanged", "kept", "unwrapped"


def outcome(raw: bytes) -> str:
    """What the requeue will do with this value: RESET, UNWRAPPED, UNCHANGED or KEPT."""
    return _outcome(raw)[0]


def _outcome(raw: bytes) -> tuple[str, bytes | None, str | None]:
    """(outcome, the value written for an unwrapped letter, the member it came from)."""
    env = decode(raw)
    try:
        new = requeued_job(env, 0)
    except Unrewritable:
        return KEPT, None, None
    if new is None:
        return UNCHANGED, None, None
    if env.kind == "wrapped":
        return UNWRAPPED, new, env.job_field
    return RESET, None, None


class PlanCounts:
    """The outcomes of values read one by one (a plan built while paging a list)."""

    def __init__(self) -> None:
        self.counts = {RESET: 0, UNCHANGED: 0, KEPT: 0, UNWRAPPED: 0}
        self.first: bytes | None = None
        self.first_unwrapped: bytes | None = None
        self.fields: dict[str, None] = {}

    def add(self, raw: bytes) -> None:
        what, new, job_field = _outcome(raw)
        self.counts[what] += 1
        if what == UNCHANGED and self.first is None:
            self.first = raw
        elif what == UNWRAPPED:
            if self.first_unwrapped is None:
                self.first_unwrapped = new
            if job_field is not None:
                self.fields[job_field] = None

    def plan(self, total: int | None = None) -> RequeuePlan:
        c = self.counts
        return RequeuePlan(sum(c.values()) if total is None else total, c[RESET],
                           c[UNCHANGED], c[KEPT], self.first, c[UNWRAPPED],
                           self.first_unwrapped, tuple(self.fields))



def plan_items(items: Iterable[Item]) -> RequeuePlan:
    """The plan for exactly these values (marked or filtered entries, already read)."""
    counts = PlanCounts()
    for item in items:
        counts.add(item.raw)
    return counts.plan()


async def plan_head(client: Client, key: str, count: int,
                    limit: int = PLAN_LIMIT) -> RequeuePlan:
    """The plan for the first `count` entries of `key` (the unfiltered "requeue all"),
    read in windows from the head: one round trip per window, never the whole list."""
    counts = PlanCounts()
    start = 0
    want = min(count, limit)
    while start < want:
        page = await read_page(client, key, start, min(SCAN_WINDOW, want - start))
        if page.start != start or not page.items:
            break  # the list shrank under us: what was read is what the plan knows
        for item in page.items[:want - start]:
            counts.add(item.raw)
        start += len(page.items)
    return counts.plan(count)
