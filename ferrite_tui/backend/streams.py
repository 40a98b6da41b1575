"""Streams and consumer groups: reads with Ferrite fallbacks and paged pending entries (here),
the operator's actions (claim, ack, dead-letter, publish, group and consumer admin:
stream_actions.py), and the values both return (stream_model.py).

Plain asyncio + redis.asyncio; nothing here imports Textual.

Replies are read raw: commands are sent with a bytes name, which redis-py's reply callbacks
do not match, so every server's reply shape (Redis 6.2, 7, Ferrite) is parsed here.

Ferrite (design.md): XINFO GROUPS may lack lag / entries-read, XINFO CONSUMERS may lack
inactive, XINFO STREAM FULL is ignored (never used here), and the per-consumer order of
the XPENDING summary is arbitrary (sorted here). XAUTOCLAIM may be missing: claims then use
XPENDING + XCLAIM with the same min-idle check.

Big entries: the overview and the group table want a stream's first and last ids, but XRANGE
COUNT 1 and XINFO STREAM return those entries whole (Redis has no id-only read). Where one is
over BIG_ITEM bytes, the ids are remembered with the length; the next read asks XLEN and
XRANGE COUNT 1 after the last id instead: the same length and nothing after the last id mean
the same ends (ids only grow; a deletion shortens the stream). Otherwise they are read again.
For the same reason a group's lag counted with XRANGE (no lag in XINFO GROUPS) stands while
its last delivered id, the length and the end ids do, and is not counted again.
"""

from __future__ import annotations

import time
import weakref
from collections import deque
from collections.abc import Sequence
from typing import Any

from redis import exceptions as rexc

from ferrite_tui.backend.client import Client
from ferrite_tui.backend.envelopes import key_text
from ferrite_tui.backend.lists import BIG_ITEM
from ferrite_tui.backend.stream_actions import ACK_CHUNK, CLAIM_CHUNK, DLQ_CHUNK, StreamActions
from ferrite_tui.backend.stream_ids import MAX_SEQ, id_ms, next_id, parse_id, prev_id
from ferrite_tui.backend.stream_model import (
    DEAD_CONSUMER_IDLE_MS,
    DLQ_REASON,
    POISON_DELIVERIES,
    ActionResult,
    BigEnds,
    ConsumerInfo,
    GroupInfo,
    PendingEntry,
    PendingPage,
    PendingSummary,
    StreamEntry,
    StreamSummary,
    any_big,
    claim_target,
    dead_letter_envelope,
    ends_stand,
    entries_of,
    friendly,
    json_payload,
    json_text,
    pending_rows,
    reply_int,
    reply_pairs,
    reply_text,
    validate_json,
)

# What the Streams panel, the publish screen and the tests import from here.
__all__ = ["ACK_CHUNK", "BIG_ITEM", "CLAIM_CHUNK", "DEAD_CONSUMER_IDLE_MS", "DLQ_CHUNK",
           "DLQ_REASON", "POISON_DELIVERIES", "ActionResult", "ConsumerInfo", "GroupInfo",
           "PendingEntry", "PendingPage", "PendingSummary", "StreamEntry", "StreamSummary",
           "Streams", "claim_target", "dead_letter_envelope", "id_ms", "json_payload",
           "json_text", "validate_json"]

# Lag counted by reading ids after the group's last-delivered-id, at most this many.
LAG_COUNT_CAP = 1000
PAGE_SIZE = 100
# Without server-side IDLE filtering, how many XPENDING pages one page request may read.
LOCAL_FILTER_PAGES = 10
# End on pending entries reads them forward in pages this long, at most this many pages.
LAST_PAGE_CHUNK = 1_000
LAST_PAGE_READS = 100


#: Per client, stream -> its ends where one is big (see the module docstring).
_big_ends: weakref.WeakKeyDictionary[Client, dict[str, BigEnds]] = \
    weakref.WeakKeyDictionary()
#: Per client, (stream, group) -> (last delivered id, (length, first id, last id), lag
#: counted): the count stands while these do.
_lag_counts: weakref.WeakKeyDictionary[Client, dict[tuple[str, str], tuple[str, tuple, int]]] \
    = weakref.WeakKeyDictionary()


# -- the backend -----------------------------------------------------------------------

class Streams(StreamActions):
    """Everything the Streams panel reads (here) and does (StreamActions), for one Client."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.server_idle_filter: bool | None = None  # learnt on first use of XPENDING IDLE

    @property
    def r(self):
        return self.client.redis

    # -- reads -------------------------------------------------------------------------

    async def overview(self, keys: Sequence[str]) -> dict[str, StreamSummary]:
        """Length, first/last id, group count and memory of every stream: one round trip."""
        if not keys:
            return {}
        known = _big_ends.setdefault(self.client, {})
        pipe = self.r.pipeline(transaction=False)
        for key in keys:
            pipe.execute_command(b"XLEN", key)
            seen = known.get(key)
            if seen is not None:  # big ends: only whether they still stand
                pipe.execute_command(b"XRANGE", key, next_id(seen.last_id), "+", "COUNT", 1)
            else:
                pipe.execute_command(b"XRANGE", key, "-", "+", "COUNT", 1)
                pipe.execute_command(b"XREVRANGE", key, "+", "-", "COUNT", 1)
                pipe.execute_command(b"XINFO", "STREAM", key)
            pipe.execute_command(b"MEMORY", "USAGE", key)
        replies = await pipe.execute(raise_on_error=False)
        out: dict[str, StreamSummary] = {}
        at = 0
        for key in keys:
            seen = known.get(key)
            if seen is not None:
                xlen, after, memory = replies[at:at + 3]
                at += 3
                if not ends_stand(seen, xlen, after):
                    del known[key]  # changed: read whole at the next refresh
                if not isinstance(xlen, Exception):
                    out[key] = StreamSummary(
                        key=key, length=int(xlen), first_id=seen.first_id,
                        last_id=seen.last_id, last_generated_id=seen.last_generated_id,
                        groups=seen.groups,
                        memory=None if isinstance(memory, Exception) else reply_int(memory))
                    continue
            else:
                xlen, first, last, info, memory = replies[at:at + 5]
                at += 5
            if isinstance(xlen, Exception):
                out[key] = StreamSummary(key, error=friendly(xlen, key).args[0])
                continue
            firsts = entries_of(first) if not isinstance(first, Exception) else []
            lasts = entries_of(last) if not isinstance(last, Exception) else []
            info_d = reply_pairs(info) if not isinstance(info, Exception) else {}
            lg = info_d.get("last-generated-id")
            summary = out[key] = StreamSummary(
                key=key,
                length=int(xlen),
                first_id=firsts[0].id if firsts else None,
                last_id=lasts[0].id if lasts else None,
                last_generated_id=reply_text(lg) if lg is not None else None,
                groups=reply_int(info_d.get("groups")),
                memory=None if isinstance(memory, Exception) else reply_int(memory),
            )
            if summary.last_id is not None and any_big(first, last):
                known[key] = BigEnds(int(xlen), summary.first_id, summary.last_id,
                                      summary.last_generated_id, summary.groups)
        return out

    async def groups(self, key: str, *, trust_server_lag: bool = True) -> list[GroupInfo]:
        """The groups of one stream with lag (exact, counted or estimated) and the idle of
        each group's oldest pending entry. Two round trips whatever the group count.

        `trust_server_lag=False` ignores XINFO's lag (tests use it to check the count)."""
        known = _big_ends.setdefault(self.client, {})
        seen = known.get(key)

        def read_ends(pipe: Any) -> None:
            pipe.execute_command(b"XRANGE", key, "-", "+", "COUNT", 1)
            pipe.execute_command(b"XREVRANGE", key, "+", "-", "COUNT", 1)

        pipe = self.r.pipeline(transaction=False)
        pipe.execute_command(b"XINFO", "GROUPS", key)
        pipe.execute_command(b"XLEN", key)
        if seen is not None:  # big ends: only whether they still stand
            pipe.execute_command(b"XRANGE", key, next_id(seen.last_id), "+", "COUNT", 1)
        else:
            read_ends(pipe)
        reply, xlen, *ends = await pipe.execute(raise_on_error=False)
        for part in (reply, xlen):
            if isinstance(part, Exception):
                raise friendly(part, key)
        length = int(xlen)
        first_text: str | None
        last_text: str | None
        if seen is not None and ends_stand(seen, xlen, ends[0]):
            first_text, last_text = seen.first_id, seen.last_id
        else:
            if seen is not None:  # changed: the ends are read again (a round trip more)
                known.pop(key, None)
                pipe = self.r.pipeline(transaction=False)
                read_ends(pipe)
                ends = await pipe.execute(raise_on_error=False)
            first, last = ends
            first_e = next(iter(entries_of(first)), None) \
                if not isinstance(first, Exception) else None
            last_e = next(iter(entries_of(last)), None) \
                if not isinstance(last, Exception) else None
            first_text = first_e.id if first_e else None
            last_text = last_e.id if last_e else None
            if last_text is not None and any_big(first, last):
                known[key] = BigEnds(length, first_text, last_text)
        first_p = parse_id(first_text) if first_text else None
        last_p = parse_id(last_text) if last_text else None

        raw_groups = [reply_pairs(g) for g in reply or ()]
        pipe = self.r.pipeline(transaction=False)
        plan: list[tuple[str, int]] = []  # (what, group index)
        for i, g in enumerate(raw_groups):
            name = key_text(g.get("name", b""))
            pipe.execute_command(b"XPENDING", key, name, "-", "+", 1)
            plan.append(("oldest", i))
            if not trust_server_lag:
                g.pop("lag", None)
        counts = _lag_counts.setdefault(self.client, {})
        # What a count depends on: entries only come after the last id and a deletion
        # shortens the stream, so with these the same, the entries after ldid are too.
        shape = (length, first_text, last_text)
        counted: dict[int, int] = {}
        for i, g in enumerate(raw_groups):
            if reply_int(g.get("lag")) is None and self._needs_count(g, length, first_p, last_p):
                ldid = reply_text(g.get("last-delivered-id", b"0-0"))
                known_count = counts.get((key, key_text(g.get("name", b""))))
                if known_count is not None and known_count[:2] == (ldid, shape):
                    counted[i] = known_count[2]  # (XRANGE returns whole entries: not again)
                    continue
                pipe.execute_command(b"XRANGE", key, next_id(ldid), "+", "COUNT", LAG_COUNT_CAP)
                plan.append(("count", i))
        replies = await pipe.execute(raise_on_error=False) if plan else []
        oldest: dict[int, PendingEntry] = {}
        now = time.monotonic()
        for (what, i), rep in zip(plan, replies):
            if isinstance(rep, Exception):
                continue  # a group destroyed between the two round trips
            if what == "oldest":
                rows = pending_rows(rep, now)
                if rows:
                    oldest[i] = rows[0]
            else:
                counted[i] = len(rep or ())
                g = raw_groups[i]
                counts[(key, key_text(g.get("name", b"")))] = (
                    reply_text(g.get("last-delivered-id", b"0-0")), shape, counted[i])

        out = []
        for i, g in enumerate(raw_groups):
            ldid = reply_text(g.get("last-delivered-id", b"0-0"))
            lag = reply_int(g.get("lag"))
            kind = "xinfo" if lag is not None else None
            if lag is None:
                lag, kind = self._computed_lag(ldid, length, first_p, last_p, counted.get(i))
            old = oldest.get(i)
            out.append(GroupInfo(
                name=key_text(g.get("name", b"")),
                consumers=reply_int(g.get("consumers")) or 0,
                pending=reply_int(g.get("pending")) or 0,
                last_delivered_id=ldid,
                entries_read=reply_int(g.get("entries-read")),
                lag=lag,
                lag_kind=kind,
                oldest_pending_id=old.id if old else None,
                oldest_idle_ms=old.idle_ms if old else None,
            ))
        return out

    @staticmethod
    def _needs_count(g: dict, length: int, first_p, last_p) -> bool:
        ldid = parse_id(g.get("last-delivered-id"))
        if length == 0 or ldid is None or first_p is None or last_p is None:
            return False
        return first_p <= ldid < last_p

    @staticmethod
    def _computed_lag(ldid_text: str, length: int, first_p, last_p,
                      counted: int | None) -> tuple[int | None, str | None]:
        ldid = parse_id(ldid_text)
        if length == 0:
            return 0, "counted"
        if ldid is None or first_p is None or last_p is None:
            return None, None
        if ldid >= last_p:
            return 0, "counted"
        if ldid < first_p:
            return length, "counted"
        if counted is None:
            return None, None
        if counted < LAG_COUNT_CAP:
            return counted, "counted"
        # More than the cap: interpolate on the id times, never below what was counted.
        span = last_p[0] - first_p[0]
        guess = length * (last_p[0] - ldid[0]) // span if span > 0 else length
        return max(counted, min(guess, length)), "estimate"

    async def consumers(self, key: str, group: str) -> list[ConsumerInfo]:
        try:
            reply = await self.r.execute_command(b"XINFO", "CONSUMERS", key, group)
        except rexc.ResponseError as exc:
            raise friendly(exc, key, group) from None
        out = []
        for raw in reply or ():
            c = reply_pairs(raw)
            out.append(ConsumerInfo(
                name=key_text(c.get("name", b"")),
                pending=reply_int(c.get("pending")) or 0,
                idle_ms=reply_int(c.get("idle")),
                inactive_ms=reply_int(c.get("inactive")),
            ))
        return sorted(out, key=lambda c: c.name)

    async def pending_summary(self, key: str, group: str) -> PendingSummary:
        try:
            reply = await self.r.execute_command(b"XPENDING", key, group)
        except rexc.ResponseError as exc:
            raise friendly(exc, key, group) from None
        count = reply_int(reply[0]) if reply else 0
        consumers = []
        for row in (reply[3] if reply and len(reply) > 3 and reply[3] else ()):
            consumers.append((key_text(row[0]), int(row[1])))
        return PendingSummary(
            count=count or 0,
            min_id=reply_text(reply[1]) if reply and len(reply) > 1 and reply[1] else None,
            max_id=reply_text(reply[2]) if reply and len(reply) > 2 and reply[2] else None,
            consumers=tuple(sorted(consumers)),
        )

    async def pending_page(self, key: str, group: str, *, start: str = "-",
                           count: int = PAGE_SIZE, min_idle_ms: int = 0,
                           consumer: str | None = None) -> PendingPage:
        """One page of pending entries from `start` (inclusive), in id order.

        Pass the returned `next_start` to get the next page: each entry comes once. The
        minimum-idle filter runs on the server (XPENDING IDLE) where it is supported, else
        here over at most LOCAL_FILTER_PAGES reads.
        """
        tail = [consumer] if consumer is not None else []
        if min_idle_ms > 0 and self.server_idle_filter is not False:
            try:
                reply = await self.r.execute_command(
                    b"XPENDING", key, group, "IDLE", int(min_idle_ms), start, "+", count, *tail)
                self.server_idle_filter = True
                rows = pending_rows(reply, time.monotonic())
                nxt = next_id(rows[-1].id) if len(rows) >= count else None
                return PendingPage(tuple(rows), nxt, True, 1)
            except rexc.ResponseError as exc:
                if "NOGROUP" in str(exc) or "no such key" in str(exc).lower():
                    raise friendly(exc, key, group) from None
                self.server_idle_filter = False  # an older server: filter here
        rows = []
        cursor: str | None = start
        trips = 0
        while cursor is not None and len(rows) < count and trips < LOCAL_FILTER_PAGES:
            try:
                reply = await self.r.execute_command(
                    b"XPENDING", key, group, cursor, "+", count, *tail)
            except rexc.ResponseError as exc:
                raise friendly(exc, key, group) from None
            trips += 1
            got = pending_rows(reply, time.monotonic())
            cursor = next_id(got[-1].id) if len(got) >= count else None
            for row in got:
                if row.idle_ms >= min_idle_ms and len(rows) < count:
                    rows.append(row)
                    if len(rows) == count:
                        cursor = next_id(row.id)
        return PendingPage(tuple(rows), cursor, min_idle_ms <= 0, trips)

    async def last_page_start(self, key: str, group: str, *, count: int = PAGE_SIZE,
                              min_idle_ms: int = 0, consumer: str | None = None,
                              max_reads: int = LAST_PAGE_READS,
                              ) -> tuple[str, str | None, bool]:
        """Where the last page of `count` pending entries starts (End), the same filters
        applied: read forward in pages of LAST_PAGE_CHUNK, at most `max_reads` of them.
        (start, last id, True): that page's start and its last entry; (..., False): more
        pending than that, the last page read."""
        start = "-"
        window: deque[str] = deque(maxlen=count)
        for _ in range(max_reads):
            page = await self.pending_page(key, group, start=start, count=LAST_PAGE_CHUNK,
                                           min_idle_ms=min_idle_ms, consumer=consumer)
            window.extend(e.id for e in page.entries)
            if page.next_start is None:
                return (window[0] if window else "-"), (window[-1] if window else None), True
            start = page.next_start
        return (window[0] if window else start), (window[-1] if window else None), False

    async def first_page_end(self, key: str, count: int = 50) -> tuple[str, str] | None:
        """The ids that end and start the page of the stream's `count` oldest entries (the
        browser's End: from the first back to the second, the first entry); None: the
        stream is empty."""
        try:
            reply = await self.r.execute_command(b"XRANGE", key, "-", "+", "COUNT", count)
        except rexc.ResponseError as exc:
            raise friendly(exc, key) from None
        rows = entries_of(reply)
        return (rows[-1].id, rows[0].id) if rows else None

    async def entries(self, key: str, ids: Sequence[str]) -> dict[str, StreamEntry | None]:
        """The entries with these ids (None for ids no longer in the stream): one round trip."""
        if not ids:
            return {}
        pipe = self.r.pipeline(transaction=False)
        for entry_id in ids:
            pipe.execute_command(b"XRANGE", key, entry_id, entry_id)
        replies = await pipe.execute(raise_on_error=False)
        out: dict[str, StreamEntry | None] = {}
        for entry_id, rep in zip(ids, replies):
            if isinstance(rep, Exception):
                if "WRONGTYPE" in str(rep):
                    raise friendly(rep, key)
                out[entry_id] = None
                continue
            found = entries_of(rep)
            out[entry_id] = found[0] if found else None
        return out

    async def browse(self, key: str, *, end: str = "+", count: int = 50) -> list[StreamEntry]:
        """Entries newest first, from `end` (inclusive) back."""
        try:
            reply = await self.r.execute_command(b"XREVRANGE", key, end, "-", "COUNT", count)
        except rexc.ResponseError as exc:
            raise friendly(exc, key) from None
        return entries_of(reply)

    async def older(self, key: str, oldest_shown: str, count: int = 50) -> list[StreamEntry]:
        before = prev_id(oldest_shown)
        return [] if before is None else await self.browse(key, end=before, count=count)

    async def newer(self, key: str, newest_shown: str | None,
                    count: int = 200) -> list[StreamEntry]:
        """Entries after `newest_shown`, newest first (the live tail)."""
        if newest_shown is None:
            return await self.browse(key, count=count)
        try:
            reply = await self.r.execute_command(
                b"XRANGE", key, next_id(newest_shown), "+", "COUNT", count)
        except rexc.ResponseError as exc:
            raise friendly(exc, key) from None
        return list(reversed(entries_of(reply)))

    @staticmethod
    def time_end(ms: int) -> str:
        """The browse `end` that shows entries at or before this time."""
        return f"{ms}-{MAX_SEQ}"

