"""Priority queues: sorted sets whose score is the priority (higher first).

Also the sorted-set machinery the delayed queues share (backend/delayed.py):

- `ZItem`: one member exactly as read (raw bytes and score), decoded for display.
- `checked_transaction`: act on exact members only while each still has the score the
  operator saw, without Lua: WATCH the key, read the scores (ZSCORE, one pipeline), then
  MULTI ... EXEC on the watching connection. Anything that changes the key between the WATCH
  and the EXEC aborts the EXEC, which is retried, so the check holds when the write lands.
  Members that are gone or were re-scored are reported and left alone.

Only ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZREVRANGE and ZCOUNT with inclusive bounds are used
for reads (Ferrite rejects ZRANGE's BYSCORE/REV forms and '(' bounds). Plain asyncio +
redis.asyncio; no Textual.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import WatchError

from ferrite_tui.backend import shown_sets
from ferrite_tui.backend.bulk import BulkReport, BulkRunner, Cancel, ChunkResult
from ferrite_tui.backend.client import Client, mutation
from ferrite_tui.backend.envelopes import Envelope, decode, dumps, printable
from ferrite_tui.backend.errors import BackendError

#: Scores between these (2000-01-01 .. 2100-01-01 in ms) are read as timestamps.
PLAUSIBLE_MS = (946_684_800_000, 4_102_444_800_000)
#: Attempts of one checked transaction before giving up on a key that keeps changing
#: (the backoff between attempts grows to 50 ms, so this is several seconds of trying).
MAX_ATTEMPTS = 200
#: Members per chunk in bulk work (one MULTI of a few multi-member commands).
CHUNK_SIZE = 200
PAGE_SIZE = 50


async def backoff(attempt: int) -> None:
    """Between WATCH attempts: a short, growing, jittered pause, so two consoles or a
    console and the application's promoter do not abort each other in lock step."""
    await asyncio.sleep(random.uniform(0.5, 1.0) * min(0.001 * 2 ** min(attempt, 6), 0.05))


def plausible_ms(score: float | None) -> bool:
    return score is not None and PLAUSIBLE_MS[0] <= score <= PLAUSIBLE_MS[1]


def format_score(score: float) -> str:
    """A score as the operator typed it: integers without '.0'."""
    if math.isinf(score):
        return "+inf" if score > 0 else "-inf"
    if score == int(score) and abs(score) < 1e17:
        return str(int(score))
    return repr(score)


def parse_score(text: str) -> float:
    """A priority as typed; raises ValueError with a message for the form."""
    text = text.strip()
    if not text:
        raise ValueError("a number is needed")
    value = float(text)
    if math.isnan(value):
        raise ValueError("NaN is not a score")
    return value


def parse_payload(text: str) -> Any:
    """The payload field of a new job: JSON if it parses, else the text as a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass(frozen=True, slots=True)
class ZItem:
    """One sorted-set member exactly as read."""

    member: bytes
    score: float
    env: Envelope = field(compare=False, repr=False, default=None)  # type: ignore[assignment]

    @classmethod
    def of(cls, member: bytes, score: float) -> ZItem:
        return cls(member, float(score), decode(member))

    @property
    def row_key(self) -> str:
        """A stable table row key for this exact member."""
        return hashlib.blake2b(self.member, digest_size=10).hexdigest()

    @property
    def label(self) -> str:
        """Short identity for notifications and the audit log."""
        if self.env is not None and self.env.id is not None:
            return printable(self.env.id, 80)
        return printable(self.member, 60)


@dataclass
class CheckResult:
    """What a checked transaction did with the members it was given."""

    done: list[ZItem] = field(default_factory=list)
    gone: list[ZItem] = field(default_factory=list)  # no longer in the set
    rescored: list[ZItem] = field(default_factory=list)  # still there, another score
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return bool(self.done) and not self.gone and not self.rescored

    def message(self, verb: str) -> str:
        parts = []
        if self.done:
            parts.append(f"{len(self.done)} {verb}")
        if self.gone:
            parts.append(f"{len(self.gone)} already gone (removed by the application)")
        if self.rescored:
            parts.append(f"{len(self.rescored)} re-scored by the application meanwhile")
        text = ", ".join(parts) or "nothing to do"
        if not self.done:
            text += "; nothing was changed"
        return text

    def as_chunk(self) -> ChunkResult:
        return ChunkResult(done=len(self.done), skipped=len(self.gone) + len(self.rescored))


async def checked_transaction(
    client: Client, key: str, items: Sequence[ZItem],
    build: Callable[[Any, list[ZItem]], None], *, all_or_nothing: bool = False,
) -> CheckResult:
    """Run `build(pipe, ok_items)` inside MULTI/EXEC while every ok item still has its score.

    WATCH key; ZSCORE each member (one pipeline on another connection: it runs after the
    WATCH, so any change after it still aborts the EXEC); MULTI; build; EXEC. A WatchError
    (the key changed, often by unrelated traffic) retries from the WATCH.
    """
    r = client.redis
    if not items:
        return CheckResult()
    async with r.pipeline(transaction=True) as pipe:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                await pipe.watch(key)
                check = r.pipeline(transaction=False)
                for it in items:
                    check.zscore(key, it.member)
                scores = await check.execute()
                result = CheckResult(attempts=attempt)
                for it, score in zip(items, scores):
                    if score is None:
                        result.gone.append(it)
                    elif float(score) != it.score:
                        result.rescored.append(it)
                    else:
                        result.done.append(it)
                if not result.done or (all_or_nothing and (result.gone or result.rescored)):
                    await pipe.reset()
                    if all_or_nothing:
                        result.done = []
                    return result
                pipe.multi()
                build(pipe, result.done)
                await pipe.execute()
                return result
            except WatchError:
                await backoff(attempt)
                continue
    raise BackendError(
        f"{printable(key, 60)} kept changing: gave up after {MAX_ATTEMPTS} attempts "
        "(nothing was changed)")


async def checked_in_chunks(
    client: Client, key: str, items: Sequence[ZItem],
    build: Callable[[Any, list[ZItem]], None], on_done: Callable[[CheckResult], None], *,
    chunk_size: int = CHUNK_SIZE, progress: Callable[[BulkReport], None] | None = None,
    cancel: Cancel | None = None,
) -> BulkReport:
    """checked_transaction over `items`, `chunk_size` at a time, with progress and cancel;
    `on_done` sees each chunk's result (for the audit log)."""
    async def chunk(part: Sequence[ZItem]) -> ChunkResult:
        result = await checked_transaction(client, key, part, build)
        on_done(result)
        return result.as_chunk()

    # Each chunk checks its members under WATCH, so a chunk tried again after a node
    # failure acts only on what is still as seen: the run may wait the failure out.
    return await BulkRunner(items, chunk, chunk_size=chunk_size, progress=progress,
                            cancel=cancel, client=client).run()


def _pairs(reply: Sequence) -> list[ZItem]:
    return [ZItem.of(m, s) for m, s in reply]


# -- pages and the histogram ------------------------------------------------------------


@dataclass(frozen=True)
class ZPage:
    items: tuple[ZItem, ...]
    total: int  # members in the shown range (the whole set when unfiltered)
    card: int  # members in the whole set
    offset: int  # position of items[0] within the shown range

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.items) < self.total


@dataclass(frozen=True)
class Histogram:
    """Counts of scores in bins; bin i covers (edges[i], edges[i+1]] (the first: [lo, ..])."""

    labels: tuple[str, ...]
    counts: tuple[int, ...]
    lo: float | None
    hi: float | None
    total: int


@dataclass(frozen=True)
class PriorityView:
    page: ZPage
    histogram: Histogram
    round_trips: int


def _bin_edges(lo: float, hi: float, bins: int) -> tuple[list[float], list[str]]:
    """Upper edges of bins over [lo, hi] and their labels (integer-friendly)."""
    if lo == hi:
        return [hi], [format_score(hi)]
    if lo == int(lo) and hi == int(hi) and abs(hi) < 1e15 and abs(lo) < 1e15:
        width = max(1, math.ceil((hi - lo + 1) / bins))
        edges, labels = [], []
        start = int(lo)
        while start <= hi:
            end = min(start + width - 1, int(hi))
            edges.append(float(end))
            labels.append(str(start) if start == end else f"{start}–{end}")
            start = end + 1
        return edges, labels
    step = (hi - lo) / bins
    edges = [lo + step * (i + 1) for i in range(bins)]
    edges[-1] = hi
    labels = [f"≤{e:.3g}" for e in edges]
    return edges, labels


class PriorityQueue:
    """One priority queue (sorted set, score = priority, the highest is taken first).

    `sign` -1: the score is minus the priority and the lowest score is taken first (huey's
    PriorityRedisHuey: ZADD -priority, ZPOPMIN). Pages, ranges and the histogram are then
    in priorities, highest first, as for the seed's layout; members keep their raw score."""

    def __init__(self, client: Client, key: str, sign: int = 1) -> None:
        self.client = client
        self.key = key
        self.sign = sign

    def priority(self, score: float) -> float:
        return self.sign * score

    def score(self, priority: float) -> float:
        return self.sign * priority

    async def view(self, offset: int = 0, limit: int = PAGE_SIZE, lo: float | None = None,
                   hi: float | None = None, bins: int = 20) -> PriorityView:
        """A page (highest first, optionally only priorities in [lo, hi]) and the histogram.

        Two round trips whatever the size: (1) ZCARD, lowest and highest score, and the
        counts that place the range; (2) the page by rank (ZREVRANGE, O(log N + page)) and
        one cumulative ZCOUNT per histogram bin (O(log N) each).
        """
        if self.sign < 0:
            return await self._view_negated(offset, limit, lo, hi, bins)
        r = self.client.redis
        before = self.client.round_trips.count
        filtered = lo is not None or hi is not None
        lo_s = "-inf" if lo is None else lo
        hi_s = "+inf" if hi is None else hi
        # Windows holding big members, still as read: not read again (see shown_sets).
        kept = await shown_sets.reusable(self.client, self.key)
        lowest = shown_sets.Window(("ZRANGE", self.key, 0, 0), 0, False)
        highest = shown_sets.Window(("ZREVRANGE", self.key, 0, 0), 0, True)
        pipe = r.pipeline(transaction=True)
        pipe.zcard(self.key)
        if lowest.command not in kept:
            pipe.zrangebyscore(self.key, "-inf", "+inf", start=0, num=1, withscores=True)
        if highest.command not in kept:
            pipe.zrevrange(self.key, 0, 0, withscores=True)
        if filtered:
            pipe.zcount(self.key, "-inf", hi_s)
            pipe.zcount(self.key, lo_s, hi_s)
        replies = await pipe.execute()
        card = int(replies.pop(0))
        ends = []
        for window in (lowest, highest):
            members = kept.get(window.command)
            if members is None:
                members = tuple((m, float(sc)) for m, sc in replies.pop(0))
                shown_sets.remember(self.client, window, card, members)
            ends.append(members)
        smin = ends[0][0][1] if ends[0] else None
        smax = ends[1][0][1] if ends[1] else None
        if filtered:
            above = card - int(replies[0])  # members with a priority above hi
            total = int(replies[1])
        else:
            above, total = 0, card
        offset = max(0, min(offset, max(total - 1, 0)))
        edges, labels = ([], []) if smin is None or smax is None or bins <= 0 \
            else _bin_edges(smin, smax, bins)
        pipe = r.pipeline(transaction=True)
        count = min(limit, max(total - offset, 0))
        start = above + offset
        window = shown_sets.Window(("ZREVRANGE", self.key, start, start + count - 1), start,
                                   True)
        shown = kept.get(window.command) if count else None
        if count and shown is None:
            pipe.zrevrange(self.key, start, start + count - 1, withscores=True)
        for edge in edges:
            pipe.zcount(self.key, "-inf", edge)
        replies = await pipe.execute() if ((count and shown is None) or edges) else []
        items: list[ZItem] = []
        if count:
            if shown is None:
                shown = tuple((m, float(sc)) for m, sc in replies.pop(0))
                shown_sets.remember(self.client, window, card, shown)
            items = [ZItem.of(m, sc) for m, sc in shown]
            if filtered:  # the set may have moved between the two round trips
                items = [it for it in items
                         if (lo is None or it.score >= lo) and (hi is None or it.score <= hi)]
        cumulative = [int(v) for v in replies]
        counts = [c - (cumulative[i - 1] if i else 0) for i, c in enumerate(cumulative)]
        if counts and counts[0] < 0:
            counts[0] = 0
        hist = Histogram(tuple(labels), tuple(max(c, 0) for c in counts), smin, smax,
                         cumulative[-1] if cumulative else 0)
        page = ZPage(tuple(items), total, card, offset)
        return PriorityView(page, hist, self.client.round_trips.count - before)

    async def _view_negated(self, offset: int, limit: int, lo: float | None,
                            hi: float | None, bins: int) -> PriorityView:
        """`view` for score = -priority: the highest priority is the lowest score, so pages
        go by ascending rank (ZRANGE) and a priority range [lo, hi] is scores [-hi, -lo]."""
        r = self.client.redis
        before = self.client.round_trips.count
        filtered = lo is not None or hi is not None
        s_lo = "-inf" if hi is None else -hi
        s_hi = "+inf" if lo is None else -lo
        pipe = r.pipeline(transaction=True)
        pipe.zcard(self.key)
        pipe.zrangebyscore(self.key, "-inf", "+inf", start=0, num=1, withscores=True)
        pipe.zrevrange(self.key, 0, 0, withscores=True)
        if filtered:
            pipe.zcount(self.key, s_lo, "+inf")
            pipe.zcount(self.key, s_lo, s_hi)
        replies = await pipe.execute()
        card = int(replies[0])
        # The highest priority is the lowest score.
        pmax = -float(replies[1][0][1]) if replies[1] else None
        pmin = -float(replies[2][0][1]) if replies[2] else None
        if filtered:
            above = card - int(replies[3])  # scores below -hi: priorities above hi
            total = int(replies[4])
        else:
            above, total = 0, card
        offset = max(0, min(offset, max(total - 1, 0)))
        edges, labels = ([], []) if pmin is None or pmax is None or bins <= 0 \
            else _bin_edges(pmin, pmax, bins)
        pipe = r.pipeline(transaction=True)
        count = min(limit, max(total - offset, 0))
        if count:
            start = above + offset
            pipe.zrange(self.key, start, start + count - 1, withscores=True)
        for edge in edges:
            pipe.zcount(self.key, -edge, "+inf")  # priority <= edge
        replies = await pipe.execute() if (count or edges) else []
        items: list[ZItem] = []
        if count:
            items = _pairs(replies.pop(0))
            if filtered:
                items = [it for it in items if (lo is None or -it.score >= lo)
                         and (hi is None or -it.score <= hi)]
        cumulative = [int(v) for v in replies]
        counts = [c - (cumulative[i - 1] if i else 0) for i, c in enumerate(cumulative)]
        hist = Histogram(tuple(labels), tuple(max(c, 0) for c in counts), pmin, pmax,
                         cumulative[-1] if cumulative else 0)
        page = ZPage(tuple(items), total, card, offset)
        return PriorityView(page, hist, self.client.round_trips.count - before)

    async def page(self, offset: int = 0, limit: int = PAGE_SIZE, lo: float | None = None,
                   hi: float | None = None) -> ZPage:
        return (await self.view(offset, limit, lo, hi, bins=0)).page

    # -- single jobs -------------------------------------------------------------------

    @mutation("change priority")
    async def set_priority(self, item: ZItem, priority: float) -> CheckResult:
        """ZADD XX of that exact member, only while it still has the priority shown."""
        score = self.score(priority)
        result = await checked_transaction(
            self.client, self.key, [item],
            lambda pipe, ok: pipe.zadd(self.key, {it.member: score for it in ok}, xx=True))
        self._audit("change priority", result, f"priority {format_score(priority)}")
        return result

    @mutation("remove job")
    async def remove(self, item: ZItem) -> CheckResult:
        result = await checked_transaction(
            self.client, self.key, [item],
            lambda pipe, ok: pipe.zrem(self.key, *(it.member for it in ok)))
        self._audit("remove job", result)
        return result

    @mutation("enqueue job")
    async def enqueue(self, payload: Any, priority: float, *, job_id: str | None = None,
                      at_ms: int | None = None) -> bytes:
        """The seed's PriorityQueue::enqueue: {"id","payload","enqueued_at"} at `priority`."""
        member = dumps({
            "id": job_id or str(uuid.uuid4()),
            "payload": payload,
            "enqueued_at": self.client.server_now_ms() if at_ms is None else at_ms,
        }).encode()
        added = await self.client.redis.zadd(self.key, {member: priority}, nx=True)
        if not added:
            raise BackendError("an identical job is already queued; nothing was added")
        self.client.audit("enqueue job", [self.key], 1, [decode(member).id or ""])
        return member

    # -- marked jobs, in chunks ----------------------------------------------------------

    @mutation("change priority (marked)")
    async def set_priority_many(self, items: Sequence[ZItem], priority: float,
                                **bulk: Any) -> BulkReport:
        score = self.score(priority)
        return await checked_in_chunks(
            self.client, self.key, items,
            lambda pipe, ok: pipe.zadd(self.key, {it.member: score for it in ok}, xx=True),
            lambda result: self._audit("change priority", result,
                                       f"priority {format_score(priority)}"),
            **bulk)

    @mutation("remove marked jobs")
    async def remove_many(self, items: Sequence[ZItem], **bulk: Any) -> BulkReport:
        return await checked_in_chunks(
            self.client, self.key, items,
            lambda pipe, ok: pipe.zrem(self.key, *(it.member for it in ok)),
            lambda result: self._audit("remove job", result), **bulk)

    def _audit(self, action: str, result: CheckResult, detail: str = "") -> None:
        if result.done:
            name = f"{action} ({detail})" if detail else action
            self.client.audit(name, [self.key], len(result.done), [it.label for it in result.done])
