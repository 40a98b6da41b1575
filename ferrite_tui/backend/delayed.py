"""Delayed queues: `queue:NAME:scheduled` (sorted set, score = due time in ms) and
`queue:NAME:ready` (list).

Run now moves the exact member to the ready list with its envelope unchanged, as the seed's
process_scheduled does (ZREM + RPUSH), atomically and without Lua: WATCH the scheduled set,
check the member still has the due time shown (ZSCORE), MULTI ZREM + RPUSH EXEC, and on a
primary with replicas a WAIT in the same write (`_to_ready`), so a failover right after it
loses nothing it counted. Run all overdue does the same in chunks
(backend/bulk.py), so no single command or transaction runs long, and a promoter racing it
(the application's process_scheduled) can never make a job move twice or vanish: whichever
transaction commits first takes the job, the other one aborts on its WATCH and re-reads.

Reads use ZRANGEBYSCORE windows and ZCOUNT with inclusive bounds only. No Textual here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from ferrite_tui import formatting as fmt
from ferrite_tui.backend import shown_sets
from ferrite_tui.backend.bulk import BulkReport, BulkRunner, Cancel, ChunkResult
from ferrite_tui.backend.client import Client, mutation
from ferrite_tui.backend.crossslot import Landing, needs_staging
from ferrite_tui.backend.envelopes import decode, dumps, printable
from ferrite_tui.backend.errors import BackendError
from ferrite_tui.backend.movebase import exchange_replicated, pinned, replica_wait
from ferrite_tui.backend.priority import (
    CHUNK_SIZE,
    MAX_ATTEMPTS,
    PAGE_SIZE,
    CheckResult,
    ZItem,
    backoff,
    checked_in_chunks,
    checked_transaction,
    format_score,
    plausible_ms,
)

HOUR_MS = 3_600_000
#: Why a delayed queue without a known ready list is read and never moved.
NO_READY_LIST = ("no ready list is known for it (its own scheduler promotes its jobs): the "
                 "console reads them and moves none; a [[queues]] entry naming its ready_key "
                 "lets it run jobs now")

# -- parsing and wording of times ------------------------------------------------------------

_UNITS = {"ms": 1, "s": 1000, "sec": 1000, "m": 60_000, "min": 60_000, "h": HOUR_MS,
          "d": 24 * HOUR_MS}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|sec|min|s|m|h|d)", re.I)


def parse_duration(text: str) -> int:
    """'90s', '4m10s', '1h30m', '2d', '500ms'; a bare number is seconds. Returns ms."""
    text = text.strip().lower()
    if not text:
        raise ValueError("a duration is needed, e.g. 5m or 1h30m")
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return int(float(text) * 1000)
    pos, total = 0, 0.0
    compact = text.replace(" ", "")
    for m in _DURATION.finditer(compact):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2).lower()]
        pos = m.end()
    if pos != len(compact) or pos == 0:
        raise ValueError(f"not a duration: {text!r} (try 5m, 1h30m, 90s)")
    return int(total)


def parse_due(text: str, now: int) -> int:
    """A due time as typed: 'now', '+10m' / 'in 10m' / '10m', 'HH:MM[:SS]' (the next such
    local time), an ISO date-time (local time unless it carries a zone), or epoch ms.
    `now` is the server's (Client.server_now_ms)."""
    text = text.strip()
    low = text.lower()
    if not text:
        raise ValueError("a time is needed: now, +10m, 14:30, 2026-01-31 14:30 or epoch ms")
    if low == "now":
        return now
    if low.startswith("+") or low.startswith("in "):
        return now + parse_duration(low.lstrip("+").removeprefix("in "))
    if re.fullmatch(r"\d{11,}", text):
        return int(text)
    m = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", text)
    if m:
        base = datetime.fromtimestamp(now / 1000)
        at = base.replace(hour=int(m.group(1)), minute=int(m.group(2)),
                          second=int(m.group(3) or 0), microsecond=0)
        if at.timestamp() * 1000 < now:
            at += timedelta(days=1)
        return int(at.timestamp() * 1000)
    try:
        return now + parse_duration(text)
    except ValueError:
        pass
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"not a time: {text!r} (try now, +10m, 14:30, 2026-01-31 14:30, epoch ms)"
        ) from None
    return int(at.timestamp() * 1000)


def due_text(score: float, now: int) -> str:
    """'in 4m10s', 'overdue 2m05s', 'due now'; a score that is no plausible ms timestamp is
    shown as the number it is."""
    if not plausible_ms(score):
        return format_score(score)
    delta = int(score) - now
    if abs(delta) < 1000:
        return "due now" if delta >= 0 else "overdue <1s"
    return f"in {fmt.duration(delta)}" if delta > 0 else f"overdue {fmt.duration(-delta)}"


def clock_text(score: float) -> str:
    """The due time as a local date-time, or the raw number when it is not one."""
    if not plausible_ms(score):
        return format_score(score)
    return datetime.fromtimestamp(score / 1000).strftime("%Y-%m-%d %H:%M:%S")


# -- reads -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: the first due time and how many members at it to skip."""

    score: float
    skip: int = 0


@dataclass(frozen=True)
class Timeline:
    """Jobs due per bucket over the coming `horizon_ms`; bucket i covers
    (now + i*width, now + (i+1)*width]."""

    now: int
    width_ms: int
    counts: tuple[int, ...]
    overdue: int
    later: int  # due after the horizon


@dataclass(frozen=True)
class DelayedView:
    items: tuple[ZItem, ...]
    cursor: Cursor | None  # where this page started (None: the beginning)
    next_cursor: Cursor | None  # None: this is the last page
    card: int
    overdue: int  # due at or before now
    earliest: float | None  # the lowest score in the set
    ready: int | None
    timeline: Timeline | None
    now: int
    round_trips: int

    @property
    def oldest_overdue_ms(self) -> int | None:
        if self.earliest is None or not plausible_ms(self.earliest) or self.earliest > self.now:
            return None
        return self.now - int(self.earliest)


def next_cursor(cursor: Cursor | None, items: Sequence[ZItem], limit: int) -> Cursor | None:
    if len(items) < limit or not items:
        return None
    last = items[-1].score
    same = sum(1 for it in items if it.score == last)
    if cursor is not None and same == len(items) and cursor.score == last:
        return Cursor(last, cursor.skip + same)
    return Cursor(last, same)


class DelayedQueue:
    """One delayed queue: its scheduled set and its ready list."""

    def __init__(self, client: Client, key: str, ready_key: str | None = None) -> None:
        self.client = client
        self.key = key
        # None: no ready list is known (a set found by its scores, promoted by its own
        # scheduler): its size is unknown and no job is moved, never to a guessed list.
        self.ready_key = ready_key

    def _known_ready(self) -> str:
        """The ready list, or the refusal, before anything is sent."""
        if self.ready_key is None:
            raise BackendError(f"{printable(self.key, 60)}: {NO_READY_LIST}")
        return self.ready_key

    async def view(self, cursor: Cursor | None = None, limit: int = PAGE_SIZE, *,
                   now: int | None = None, buckets: int = 60,
                   horizon_ms: int = HOUR_MS) -> DelayedView:
        """One page in due order from `cursor`, the counts and the timeline: one round trip
        (a MULTI of ZCARD, ZCOUNT, ZRANGEBYSCORE windows, LLEN and one ZCOUNT per bucket,
        each O(log N + page))."""
        r = self.client.redis
        before = self.client.round_trips.count
        now = self.client.server_now_ms() if now is None else now
        # One MULTI for a consistent view; on a cluster with the ready list in another slot
        # no MULTI can hold both, so the reads are pipelined per node instead.
        # Windows holding big members, still as read: not read again (see shown_sets). Only
        # the first page's ranks are known (a cursor page starts at a score).
        kept = await shown_sets.reusable(self.client, self.key)
        first = shown_sets.Window(("ZRANGE", self.key, 0, 0), 0, False)
        page = shown_sets.Window(("ZRANGE", self.key, 0, limit - 1), 0, False) \
            if cursor is None else None
        pipe = r.pipeline(transaction=not needs_staging(self.client, self.key,
                                                         self.ready_key or self.key))
        pipe.zcard(self.key)
        pipe.zcount(self.key, "-inf", now)
        if first.command not in kept:
            pipe.zrangebyscore(self.key, "-inf", "+inf", start=0, num=1, withscores=True)
        start = "-inf" if cursor is None else cursor.score
        skip = 0 if cursor is None else cursor.skip
        if page is None or page.command not in kept:
            pipe.zrangebyscore(self.key, start, "+inf", start=skip, num=limit, withscores=True)
        if self.ready_key is not None:
            pipe.llen(self.ready_key)
        width = max(horizon_ms // max(buckets, 1), 1)
        for i in range(1, buckets + 1):
            pipe.zcount(self.key, "-inf", now + i * width)
        replies = await pipe.execute(raise_on_error=False)
        reads = 4 - (first.command in kept) - (page is not None and page.command in kept)
        for reply in replies[:reads]:
            if isinstance(reply, Exception):
                raise reply
        card, overdue = int(replies.pop(0)), int(replies.pop(0))
        windows = []
        for window in (first, page):
            members = kept.get(window.command) if window is not None else None
            if members is None:
                members = tuple((m, float(sc)) for m, sc in replies.pop(0))
                if window is not None:
                    shown_sets.remember(self.client, window, card, members)
            windows.append(members)
        earliest = windows[0][0][1] if windows[0] else None
        items = tuple(ZItem.of(m, s) for m, s in windows[1])
        ready = None
        if self.ready_key is not None:
            reply = replies.pop(0)
            ready = None if isinstance(reply, Exception) else int(reply)
        timeline = None
        if buckets:
            cumulative = [overdue] + [int(v) for v in replies]
            counts = tuple(max(cumulative[i + 1] - cumulative[i], 0) for i in range(buckets))
            timeline = Timeline(now, width, counts, overdue, max(card - cumulative[-1], 0))
        return DelayedView(
            items=items, cursor=cursor, next_cursor=next_cursor(cursor, items, limit),
            card=card, overdue=overdue, earliest=earliest, ready=ready, timeline=timeline,
            now=now, round_trips=self.client.round_trips.count - before,
        )

    async def last_page(self, limit: int = PAGE_SIZE) -> Cursor | None:
        """Where the last page in due order starts (the latest jobs), for `view`; None when
        they all fit in the first. Two reads of at most a page and a count."""
        r = self.client.redis
        reply = cast("list[tuple[bytes, float]]", await r.zrevrangebyscore(
            self.key, "+inf", "-inf", start=0, num=limit, withscores=True))
        last = [(m, float(at)) for m, at in reply]
        if len(last) < limit or int(await r.zcard(self.key)) <= limit:
            return None
        score = last[-1][1]
        on_page = sum(1 for _, at in last if at == score)
        # Members at the page's first due time that come before it (ranks are by member).
        return Cursor(score, int(await r.zcount(self.key, score, score)) - on_page)

    async def overdue_count(self, now: int | None = None) -> int:
        now = self.client.server_now_ms() if now is None else now
        return int(await self.client.redis.zcount(self.key, "-inf", now))

    # -- single jobs ---------------------------------------------------------------------

    async def _to_ready(self, pick: Callable[[Any], Awaitable[list[ZItem]]]) -> list[ZItem]:
        """One move to the ready list of the members `pick` chooses on a connection that
        WATCHes the set (their reads follow the WATCH, so a change after them aborts the
        EXEC and the move is tried again): MULTI; ZREM; RPUSH (in due order, as
        process_scheduled); EXEC, acknowledged by a replica where the node has one (WAIT in
        the same write, see movebase.replica_wait). On a cluster where the two keys live in
        different slots the members go to a staging list in the set's slot, which
        `crossslot` delivers (see its docstring for the guarantee)."""
        ready_key = self._known_ready()
        landing = Landing(self.client, self.key, ready_key)
        node = self.client.for_keys(self.key)
        wait = await replica_wait(node)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            async with pinned(node) as c:
                watched = (await c.exchange([("WATCH", self.key)]))[0]
                if isinstance(watched, Exception):
                    raise BackendError(f"{printable(self.key, 60)}: {watched}")
                items = await pick(c)
                if not items:
                    await c.exchange([("UNWATCH",)])
                    return []
                members = [it.member for it in sorted(items, key=lambda it: it.score)]
                replies = await exchange_replicated(c, [
                    ("MULTI",), ("ZREM", self.key, *members),
                    ("RPUSH", landing.key or ready_key, *members), ("EXEC",)], wait)
                for reply in replies:
                    if isinstance(reply, Exception):
                        raise BackendError(f"run now on {printable(self.key, 60)} refused: "
                                           f"{printable(str(reply), 160)}")
            if replies[-1] is None:  # the set changed since WATCH
                await backoff(attempt)
                continue
            await landing.land()
            return items
        raise BackendError(f"{printable(self.key, 60)} kept changing: gave up after "
                           f"{MAX_ATTEMPTS} attempts (this chunk was not moved)")

    async def _run_now_chunk(self, items: Sequence[ZItem]) -> CheckResult:
        """One checked move to the ready list: the members that still have the due time
        the operator saw (ZSCORE each, under WATCH)."""
        result = CheckResult(attempts=0)

        async def still_due(c: Any) -> list[ZItem]:
            nonlocal result
            scores = await c.exchange([("ZSCORE", self.key, it.member) for it in items])
            result = CheckResult(attempts=result.attempts + 1)
            for it, score in zip(items, scores):
                if isinstance(score, Exception):
                    raise BackendError(f"{printable(self.key, 60)}: {score}")
                if score is None:
                    result.gone.append(it)
                elif float(score) != it.score:
                    result.rescored.append(it)
                else:
                    result.done.append(it)
            return result.done

        if items:
            result.done = await self._to_ready(still_due)
        self._audit("run now", result, both=True)
        return result

    @mutation("run now")
    async def run_now(self, item: ZItem) -> CheckResult:
        """Move this exact member to the ready list, unchanged, if it still has its due time."""
        return await self._run_now_chunk([item])

    @mutation("set due time")
    async def set_due(self, item: ZItem, due: float) -> CheckResult:
        result = await checked_transaction(
            self.client, self.key, [item],
            lambda pipe, ok: pipe.zadd(self.key, {it.member: due for it in ok}, xx=True))
        self._audit("set due time", result, f"due {format_score(due)}")
        return result

    @mutation("postpone")
    async def postpone(self, item: ZItem, delta_ms: int, *, now: int | None = None) -> CheckResult:
        return await self._postpone([item], delta_ms, now)

    @mutation("cancel job")
    async def cancel(self, item: ZItem) -> CheckResult:
        result = await checked_transaction(
            self.client, self.key, [item],
            lambda pipe, ok: pipe.zrem(self.key, *(it.member for it in ok)))
        self._audit("cancel job", result)
        return result

    @mutation("schedule job")
    async def schedule(self, payload: Any, due: int, *, job_id: str | None = None) -> bytes:
        """The seed's DelayedQueue::schedule: {"id","payload","scheduled_at"}, score = due."""
        member = dumps({"id": job_id or str(uuid.uuid4()), "payload": payload,
                        "scheduled_at": int(due)}).encode()
        added = await self.client.redis.zadd(self.key, {member: int(due)}, nx=True)
        if not added:
            raise BackendError("an identical job is already scheduled; nothing was added")
        self.client.audit("schedule job", [self.key], 1, [decode(member).id or ""])
        return member

    def new_due_after(self, item: ZItem, delta_ms: int, now: int) -> float:
        """Postponed due time: from the due time, or from now when it is already overdue."""
        if plausible_ms(item.score):
            return max(item.score, float(now)) + delta_ms
        return item.score + delta_ms

    async def _postpone(self, items: Sequence[ZItem], delta_ms: int,
                        now: int | None) -> CheckResult:
        now = self.client.server_now_ms() if now is None else now
        result = await checked_transaction(
            self.client, self.key, items,
            lambda pipe, ok: pipe.zadd(
                self.key, {it.member: self.new_due_after(it, delta_ms, now) for it in ok},
                xx=True))
        self._audit("postpone", result, f"by {fmt.duration(delta_ms)}")
        return result

    # -- marked jobs and all overdue, in chunks ------------------------------------------------

    @mutation("run now (marked)")
    async def run_now_many(self, items: Sequence[ZItem], *, chunk_size: int = CHUNK_SIZE,
                           progress: Callable[[BulkReport], None] | None = None,
                           cancel: Cancel | None = None, resume: str | None = None
                           ) -> BulkReport:
        async def chunk(part: Sequence[ZItem]) -> ChunkResult:
            return (await self._run_now_chunk(part)).as_chunk()

        return await BulkRunner(sorted(items, key=lambda it: it.score), chunk,
                                chunk_size=chunk_size, progress=progress, cancel=cancel,
                                client=self.client, resume=resume).run()

    @mutation("postpone (marked)")
    async def postpone_many(self, items: Sequence[ZItem], delta_ms: int, *,
                            now: int | None = None, **bulk: Any) -> BulkReport:
        now = self.client.server_now_ms() if now is None else now
        return await checked_in_chunks(
            self.client, self.key, items,
            lambda pipe, ok: pipe.zadd(
                self.key, {it.member: self.new_due_after(it, delta_ms, now) for it in ok},
                xx=True),
            lambda result: self._audit("postpone", result, f"by {fmt.duration(delta_ms)}"),
            **bulk)

    @mutation("set due time (marked)")
    async def set_due_many(self, items: Sequence[ZItem], due: float, **bulk: Any) -> BulkReport:
        return await checked_in_chunks(
            self.client, self.key, items,
            lambda pipe, ok: pipe.zadd(self.key, {it.member: due for it in ok}, xx=True),
            lambda result: self._audit("set due time", result, f"due {format_score(due)}"),
            **bulk)

    @mutation("cancel marked jobs")
    async def cancel_many(self, items: Sequence[ZItem], **bulk: Any) -> BulkReport:
        return await checked_in_chunks(
            self.client, self.key, items,
            lambda pipe, ok: pipe.zrem(self.key, *(it.member for it in ok)),
            lambda result: self._audit("cancel job", result), **bulk)

    @mutation("run all overdue")
    async def run_overdue(self, cutoff: int, expected: int, *, chunk_size: int = CHUNK_SIZE,
                          progress: Callable[[BulkReport], None] | None = None,
                          cancel: Cancel | None = None, resume: str | None = None
                          ) -> BulkReport:
        """Move every job due at or before `cutoff` (the time the operator confirmed) to the
        ready list in due order, `chunk_size` per transaction. `expected` (the count the
        operator confirmed) sizes the progress bar; jobs a promoter moved first count as
        skipped, and the run stops when none due by `cutoff` remain. The cutoff is a time
        on the server's clock (Client.server_now_ms), never the console's."""
        self._known_ready()
        state = {"empty": False}

        async def chunk(part: Sequence[int]) -> ChunkResult:
            if state["empty"]:
                return ChunkResult(skipped=len(part))
            moved = await self._move_due(cutoff, len(part))
            if len(moved) < len(part):
                state["empty"] = True
            if moved:
                self.client.audit("run all overdue", [self.key, self._known_ready()], len(moved),
                                  [it.label for it in moved])
            return ChunkResult(done=len(moved), skipped=len(part) - len(moved))

        report = await BulkRunner(range(max(expected, 0)), chunk, chunk_size=chunk_size,
                                  progress=progress, cancel=cancel, client=self.client,
                                  resume=resume).run()
        return report

    async def _move_due(self, cutoff: int, limit: int) -> list[ZItem]:
        """One chunk: the first `limit` members due by `cutoff` (ZRANGEBYSCORE under WATCH)
        to the ready list (see _to_ready)."""
        async def due(c: Any) -> list[ZItem]:
            (reply,) = await c.exchange([("ZRANGEBYSCORE", self.key, "-inf", cutoff,
                                          "WITHSCORES", "LIMIT", 0, limit)])
            if isinstance(reply, Exception):
                raise BackendError(f"{printable(self.key, 60)}: {reply}")
            return [ZItem.of(m, float(s)) for m, s in zip(reply[::2], reply[1::2])]

        return await self._to_ready(due)

    def _audit(self, action: str, result: CheckResult, detail: str = "",
               both: bool = False) -> None:
        if result.done:
            keys = [self.key, self._known_ready()] if both else [self.key]
            name = f"{action} ({detail})" if detail else action
            self.client.audit(name, keys, len(result.done), [it.label for it in result.done])
