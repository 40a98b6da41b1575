"""Streams and consumer groups: reads with Ferrite fallbacks, paged pending entries, and the
operator's actions (claim, ack, dead-letter, publish, group and consumer admin).

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

import base64
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis import exceptions as rexc

from ferrite_tui.backend import boundedjson
from ferrite_tui.backend.bulk import BulkReport, Cancel
from ferrite_tui.backend.client import Client, mutation
from ferrite_tui.backend.crossslot import Landing
from ferrite_tui.backend.envelopes import decode, dumps, key_text, printable
from ferrite_tui.backend.errors import BackendError, permission_error, server_error_text
from ferrite_tui.backend.lists import BIG_ITEM
from ferrite_tui.backend.movebase import (
    MAX_ATTEMPTS,
    backoff,
    exchange_replicated,
    pinned,
    replica_wait,
)
from ferrite_tui.backend.stream_ids import MAX_SEQ, id_ms, next_id, parse_id, prev_id

POISON_DELIVERIES = 5
DEAD_CONSUMER_IDLE_MS = 300_000
# Lag counted by reading ids after the group's last-delivered-id, at most this many.
LAG_COUNT_CAP = 1000
PAGE_SIZE = 100
CLAIM_CHUNK = 500
ACK_CHUNK = 500  # ids per ack call from the UI's bulk runner
DLQ_CHUNK = 100
NOT_PENDING = "no longer pending"  # acked since seen (or by a try whose answer was lost)
DLQ_REASON = "max deliveries exceeded"
# Without server-side IDLE filtering, how many XPENDING pages one page request may read.
LOCAL_FILTER_PAGES = 10


# -- replies ---------------------------------------------------------------------------

def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


# -- data ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class StreamEntry:
    id: str
    fields: tuple[tuple[bytes, bytes], ...]

    @property
    def data(self) -> bytes | None:
        for name, value in self.fields:
            if name == b"data":
                return value
        return None

    def preview(self, limit: int = 80) -> str:
        data = self.data
        if data is not None and len(self.fields) == 1:
            return decode(data).preview(limit)
        if not self.fields:
            return "(no fields)"
        parts = []
        for name, value in self.fields:
            parts.append(f"{printable(name, 24)}={decode(value).preview(40)}")
        return printable(" ".join(parts), limit)


@dataclass(frozen=True, slots=True)
class StreamSummary:
    key: str
    length: int | None = None
    first_id: str | None = None
    last_id: str | None = None
    last_generated_id: str | None = None
    groups: int | None = None
    memory: int | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class GroupInfo:
    name: str
    consumers: int
    pending: int
    last_delivered_id: str
    entries_read: int | None = None
    lag: int | None = None
    # "xinfo": reported by the server; "counted": counted here, exact; "estimate": counted
    # up to LAG_COUNT_CAP then interpolated from ids (a lower bound is at least the cap);
    # None: unknown.
    lag_kind: str | None = None
    oldest_pending_id: str | None = None
    oldest_idle_ms: int | None = None  # idle of the lowest pending id

    @property
    def lag_text(self) -> str:
        if self.lag is None:
            return "n/a"
        if self.lag_kind == "estimate":
            return f"≈{self.lag:,}"
        return f"{self.lag:,}"


@dataclass(frozen=True, slots=True)
class ConsumerInfo:
    name: str  # surrogateescape str: encodes back to the server's bytes
    pending: int
    idle_ms: int | None
    inactive_ms: int | None = None  # Redis 7.2+; None elsewhere (Ferrite)

    @property
    def last_active_ms(self) -> int | None:
        """Since it last read (XINFO's inactive where reported, else idle)."""
        return self.inactive_ms if self.inactive_ms is not None and self.inactive_ms >= 0 \
            else self.idle_ms

    def dead(self, threshold_ms: int = DEAD_CONSUMER_IDLE_MS) -> bool:
        idle = self.last_active_ms
        return self.pending > 0 and idle is not None and idle >= threshold_ms

    def reading(self, within_ms: int = DEAD_CONSUMER_IDLE_MS) -> bool:
        """Seen reading within `within_ms`: judged by its idle time only (a consumer that
        holds nothing and read nothing for 6 minutes is not live either)."""
        idle = self.last_active_ms
        return idle is not None and idle < within_ms


def claim_target(consumers: Sequence[ConsumerInfo], holders: Iterable[str] = (),
                 dead: Iterable[str] = (),
                 dead_ms: int = DEAD_CONSUMER_IDLE_MS) -> str | None:
    """The consumer to claim entries to by default, or None when there is no good one.

    Only a consumer seen reading within `dead_ms` (by its idle time: holding nothing is no
    sign of life); never one that holds the entries (claiming back to it processes nothing
    and hides that it is stuck), never a dead one (`dead`: the poll's verdict from its
    pending entries); of the others, the one active most recently. None: nobody would do
    the work, and the caller must say so rather than invent a name.
    """
    excluded = set(holders) | set(dead)
    live = [c for c in consumers if c.name not in excluded and c.reading(dead_ms)]
    return min(live, key=lambda c: (c.last_active_ms or 0, c.name)).name if live else None


@dataclass(frozen=True, slots=True)
class PendingEntry:
    id: str
    consumer: str
    idle_ms: int
    deliveries: int
    seen_at: float = 0.0  # time.monotonic() when the server's reply arrived

    def is_poison(self, threshold: int = POISON_DELIVERIES) -> bool:
        return self.deliveries >= threshold

    def min_idle_now(self, now: float | None = None) -> int:
        """The idle this entry must have now if nobody took it since it was seen.

        The server measured `idle_ms` before the reply reached us, so an untouched entry's
        idle now is at least idle_ms + (now - seen_at). An entry re-delivered meanwhile has
        an idle below the time elapsed since it was seen, which is below this bound, so a
        min-idle claim or check with it skips the entry. A few ms are given back for clock
        granularity, never more than half the idle seen.
        """
        now = time.monotonic() if now is None else now
        elapsed = max(int((now - self.seen_at) * 1000), 0) if self.seen_at else 0
        margin = min(5, self.idle_ms // 2)
        return max(self.idle_ms + elapsed - margin, 0)


@dataclass(frozen=True, slots=True)
class PendingSummary:
    count: int
    min_id: str | None
    max_id: str | None
    consumers: tuple[tuple[str, int], ...]  # sorted by name (Ferrite's order is arbitrary)


@dataclass(frozen=True, slots=True)
class PendingPage:
    entries: tuple[PendingEntry, ...]
    next_start: str | None  # None: this was the last page
    server_idle_filter: bool = True  # False: IDLE was filtered here, not by the server
    round_trips: int = 0


@dataclass
class ActionResult:
    """Outcome of one action on a set of entries."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)  # id -> why skipped

    def skip(self, entry_id: str, reason: str) -> None:
        self.skipped.append(entry_id)
        self.reasons[entry_id] = reason

    def summary(self, verb: str) -> str:
        text = f"{len(self.done)} {verb}"
        if self.skipped:
            why = sorted(set(self.reasons.values()))
            text += f", {len(self.skipped)} skipped"
            if why:
                text += f" ({'; '.join(why[:3])})"
        return text


# -- reply parsing ---------------------------------------------------------------------

def _pairs(reply: Any) -> dict[str, Any]:
    """A flat [k, v, k, v] (RESP2) or a dict reply as {str: value}."""
    if isinstance(reply, dict):
        return {_text(k): v for k, v in reply.items()}
    out: dict[str, Any] = {}
    if isinstance(reply, (list, tuple)):
        for i in range(0, len(reply) - 1, 2):
            out[_text(reply[i])] = reply[i + 1]
    return out


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _entries(reply: Any) -> list[StreamEntry]:
    out: list[StreamEntry] = []
    for item in reply or ():
        if not isinstance(item, (list, tuple)) or not item:
            continue
        entry_id = _text(item[0])
        raw = item[1] if len(item) > 1 and item[1] is not None else []
        if isinstance(raw, dict):
            flds = tuple(raw.items())
        else:
            flds = tuple((raw[i], raw[i + 1]) for i in range(0, len(raw) - 1, 2))
        out.append(StreamEntry(entry_id, tuple((bytes(a), bytes(b)) for a, b in flds)))
    return out


def _pending_rows(reply: Any, seen_at: float) -> list[PendingEntry]:
    out = []
    for row in reply or ():
        if isinstance(row, (list, tuple)) and len(row) >= 4:
            out.append(PendingEntry(
                id=_text(row[0]), consumer=key_text(row[1]), idle_ms=int(row[2]),
                deliveries=int(row[3]), seen_at=seen_at,
            ))
    return out


def _friendly(exc: Exception, key: str, group: str | None = None) -> BackendError:
    text = str(exc)
    if "NOGROUP" in text:
        what = f"group {printable(group, 60)!s}" if group else "the group"
        return BackendError(
            f"{what} on {printable(key, 80)} no longer exists (destroyed while viewed?)")
    if "no such key" in text.lower():
        return BackendError(f"stream {printable(key, 80)} no longer exists (deleted?)")
    if "WRONGTYPE" in text:
        return BackendError(f"{printable(key, 80)} is no longer a stream")
    if "BUSYGROUP" in text:
        return BackendError(f"group {printable(group or '', 60)} already exists")
    denied = permission_error(exc)
    if denied:
        return BackendError(printable(denied, 200))
    first = server_error_text(exc)
    return BackendError(f"server error: {printable(first, 160)}")


def json_payload(raw: bytes) -> Any:
    """A field value as JSON: parsed when it is JSON, else text, else base64 (lossless)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(raw).decode("ascii")}
    try:
        return boundedjson.loads(text, parse_constant=boundedjson.refuse_constant)
    except ValueError:  # not JSON (NaN too), or beyond the parse bounds: kept as its text
        return text


def json_text(raw: bytes) -> str | None:
    """A field value's own text when it is standard JSON within the parse bounds (on one
    line: line breaks in valid JSON are whitespace), else None."""
    try:
        text = raw.decode("utf-8")
        boundedjson.loads(text, parse_constant=boundedjson.refuse_constant)
    except ValueError:  # not UTF-8, not JSON, NaN/Infinity, or beyond the bounds
        return None
    return text.strip().replace("\r", " ").replace("\n", " ")


def dead_letter_envelope(entry: StreamEntry, pending: PendingEntry, now_ms: int) -> bytes:
    """The seed's DeadLetter envelope for a poison stream entry.

    job.id is the stream entry id; job.payload is the `data` field's JSON when the entry has
    only that field, else every field as [name, value] pairs (nothing is dropped);
    retry_count is the delivery count; first_attempt is the entry's creation time.
    """
    data = entry.data
    payload_text: str | None = None
    if data is not None and len(entry.fields) == 1:
        payload = json_payload(data)
        # JSON: the field's own text goes into the envelope, not a re-serialisation
        # (numbers, key order and duplicate keys kept).
        payload_text = json_text(data)
    else:
        payload = {"stream_fields": [[json_payload(n), json_payload(v)] for n, v in entry.fields]}
    job = {
        "id": entry.id,
        "payload": payload,
        "retry_count": pending.deliveries,
        "last_error": f"delivered {pending.deliveries} times without ack "
                      f"(last consumer {printable(pending.consumer, 80)})",
        "first_attempt": id_ms(entry.id),
    }
    if payload_text is None:
        return dumps({"job": job, "dead_at": now_ms, "reason": DLQ_REASON}).encode()
    head, tail = dumps({"job": {**job, "payload": None}, "dead_at": now_ms,
                        "reason": DLQ_REASON}).split(',"payload":null,', 1)
    return f'{head},"payload":{payload_text},{tail}'.encode()


def validate_json(text: str) -> str | None:
    try:
        boundedjson.loads(text)
    except ValueError as exc:
        return f"not valid JSON: {exc}"
    return None


# -- streams with big end entries (see the module docstring) --------------------------------

@dataclass(frozen=True, slots=True)
class _BigEnds:
    length: int
    first_id: str | None
    last_id: str
    last_generated_id: str | None = None
    groups: int | None = None


_big_ends: weakref.WeakKeyDictionary[Client, dict[str, _BigEnds]] = \
    weakref.WeakKeyDictionary()
#: Per client, (stream, group) -> (last delivered id, (length, first id, last id), lag
#: counted): the count stands while these do.
_lag_counts: weakref.WeakKeyDictionary[Client, dict[tuple[str, str], tuple[str, tuple, int]]] \
    = weakref.WeakKeyDictionary()


def _big(*replies: Any) -> bool:
    """Whether an end entry read (XRANGE / XREVRANGE COUNT 1) is over BIG_ITEM bytes."""
    return any(sum(len(a) + len(b) for a, b in e.fields) > BIG_ITEM
               for reply in replies if not isinstance(reply, Exception)
               for e in _entries(reply))


def _ends_stand(seen: _BigEnds, xlen: Any, after: Any) -> bool:
    return not isinstance(xlen, Exception) and int(xlen) == seen.length \
        and not isinstance(after, Exception) and not after


# -- the backend -----------------------------------------------------------------------

class Streams:
    """Everything the Streams panel reads and does, for one Client."""

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
                if not _ends_stand(seen, xlen, after):
                    del known[key]  # changed: read whole at the next refresh
                if not isinstance(xlen, Exception):
                    out[key] = StreamSummary(
                        key=key, length=int(xlen), first_id=seen.first_id,
                        last_id=seen.last_id, last_generated_id=seen.last_generated_id,
                        groups=seen.groups,
                        memory=None if isinstance(memory, Exception) else _int(memory))
                    continue
            else:
                xlen, first, last, info, memory = replies[at:at + 5]
                at += 5
            if isinstance(xlen, Exception):
                out[key] = StreamSummary(key, error=_friendly(xlen, key).args[0])
                continue
            firsts = _entries(first) if not isinstance(first, Exception) else []
            lasts = _entries(last) if not isinstance(last, Exception) else []
            info_d = _pairs(info) if not isinstance(info, Exception) else {}
            lg = info_d.get("last-generated-id")
            summary = out[key] = StreamSummary(
                key=key,
                length=int(xlen),
                first_id=firsts[0].id if firsts else None,
                last_id=lasts[0].id if lasts else None,
                last_generated_id=_text(lg) if lg is not None else None,
                groups=_int(info_d.get("groups")),
                memory=None if isinstance(memory, Exception) else _int(memory),
            )
            if summary.last_id is not None and _big(first, last):
                known[key] = _BigEnds(int(xlen), summary.first_id, summary.last_id,
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
                raise _friendly(part, key)
        length = int(xlen)
        first_text: str | None
        last_text: str | None
        if seen is not None and _ends_stand(seen, xlen, ends[0]):
            first_text, last_text = seen.first_id, seen.last_id
        else:
            if seen is not None:  # changed: the ends are read again (a round trip more)
                known.pop(key, None)
                pipe = self.r.pipeline(transaction=False)
                read_ends(pipe)
                ends = await pipe.execute(raise_on_error=False)
            first, last = ends
            first_e = next(iter(_entries(first)), None) \
                if not isinstance(first, Exception) else None
            last_e = next(iter(_entries(last)), None) \
                if not isinstance(last, Exception) else None
            first_text = first_e.id if first_e else None
            last_text = last_e.id if last_e else None
            if last_text is not None and _big(first, last):
                known[key] = _BigEnds(length, first_text, last_text)
        first_p = parse_id(first_text) if first_text else None
        last_p = parse_id(last_text) if last_text else None

        raw_groups = [_pairs(g) for g in reply or ()]
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
            if _int(g.get("lag")) is None and self._needs_count(g, length, first_p, last_p):
                ldid = _text(g.get("last-delivered-id", b"0-0"))
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
                rows = _pending_rows(rep, now)
                if rows:
                    oldest[i] = rows[0]
            else:
                counted[i] = len(rep or ())
                g = raw_groups[i]
                counts[(key, key_text(g.get("name", b"")))] = (
                    _text(g.get("last-delivered-id", b"0-0")), shape, counted[i])

        out = []
        for i, g in enumerate(raw_groups):
            ldid = _text(g.get("last-delivered-id", b"0-0"))
            lag = _int(g.get("lag"))
            kind = "xinfo" if lag is not None else None
            if lag is None:
                lag, kind = self._computed_lag(ldid, length, first_p, last_p, counted.get(i))
            old = oldest.get(i)
            out.append(GroupInfo(
                name=key_text(g.get("name", b"")),
                consumers=_int(g.get("consumers")) or 0,
                pending=_int(g.get("pending")) or 0,
                last_delivered_id=ldid,
                entries_read=_int(g.get("entries-read")),
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
            raise _friendly(exc, key, group) from None
        out = []
        for raw in reply or ():
            c = _pairs(raw)
            out.append(ConsumerInfo(
                name=key_text(c.get("name", b"")),
                pending=_int(c.get("pending")) or 0,
                idle_ms=_int(c.get("idle")),
                inactive_ms=_int(c.get("inactive")),
            ))
        return sorted(out, key=lambda c: c.name)

    async def pending_summary(self, key: str, group: str) -> PendingSummary:
        try:
            reply = await self.r.execute_command(b"XPENDING", key, group)
        except rexc.ResponseError as exc:
            raise _friendly(exc, key, group) from None
        count = _int(reply[0]) if reply else 0
        consumers = []
        for row in (reply[3] if reply and len(reply) > 3 and reply[3] else ()):
            consumers.append((key_text(row[0]), int(row[1])))
        return PendingSummary(
            count=count or 0,
            min_id=_text(reply[1]) if reply and len(reply) > 1 and reply[1] else None,
            max_id=_text(reply[2]) if reply and len(reply) > 2 and reply[2] else None,
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
                rows = _pending_rows(reply, time.monotonic())
                nxt = next_id(rows[-1].id) if len(rows) >= count else None
                return PendingPage(tuple(rows), nxt, True, 1)
            except rexc.ResponseError as exc:
                if "NOGROUP" in str(exc) or "no such key" in str(exc).lower():
                    raise _friendly(exc, key, group) from None
                self.server_idle_filter = False  # an older server: filter here
        rows = []
        cursor: str | None = start
        trips = 0
        while cursor is not None and len(rows) < count and trips < LOCAL_FILTER_PAGES:
            try:
                reply = await self.r.execute_command(
                    b"XPENDING", key, group, cursor, "+", count, *tail)
            except rexc.ResponseError as exc:
                raise _friendly(exc, key, group) from None
            trips += 1
            got = _pending_rows(reply, time.monotonic())
            cursor = next_id(got[-1].id) if len(got) >= count else None
            for row in got:
                if row.idle_ms >= min_idle_ms and len(rows) < count:
                    rows.append(row)
                    if len(rows) == count:
                        cursor = next_id(row.id)
        return PendingPage(tuple(rows), cursor, min_idle_ms <= 0, trips)

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
                    raise _friendly(rep, key)
                out[entry_id] = None
                continue
            found = _entries(rep)
            out[entry_id] = found[0] if found else None
        return out

    async def browse(self, key: str, *, end: str = "+", count: int = 50) -> list[StreamEntry]:
        """Entries newest first, from `end` (inclusive) back."""
        try:
            reply = await self.r.execute_command(b"XREVRANGE", key, end, "-", "COUNT", count)
        except rexc.ResponseError as exc:
            raise _friendly(exc, key) from None
        return _entries(reply)

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
            raise _friendly(exc, key) from None
        return list(reversed(_entries(reply)))

    @staticmethod
    def time_end(ms: int) -> str:
        """The browse `end` that shows entries at or before this time."""
        return f"{ms}-{MAX_SEQ}"

    # -- mutations ---------------------------------------------------------------------

    @mutation("stream claim")
    async def claim(self, key: str, group: str, consumer: str,
                    entries: Sequence[PendingEntry], now: float | None = None) -> ActionResult:
        """XCLAIM each entry with min-idle = the idle it must have if untouched since seen.

        An entry another worker re-took (or that was acked) after the operator saw it fails
        the check and is skipped, not stolen. JUSTID: the delivery count is not raised."""
        result = ActionResult()
        if not entries:
            return result
        now = time.monotonic() if now is None else now
        pipe = self.r.pipeline(transaction=False)
        for e in entries:
            pipe.execute_command(b"XCLAIM", key, group, consumer, e.min_idle_now(now), e.id,
                                 "JUSTID")
        replies = await pipe.execute(raise_on_error=False)
        for e, rep in zip(entries, replies):
            if isinstance(rep, Exception):
                result.skip(e.id, _friendly(rep, key, group).args[0])
            elif rep:
                result.done.append(e.id)
            else:
                result.skip(e.id, "taken, acked or deleted since you looked")
        if result.done:
            self.client.audit("stream claim", [key], len(result.done), result.done)
        return result

    @mutation("stream claim idle")
    async def claim_idle(self, key: str, group: str, consumer: str, min_idle_ms: int, *,
                         chunk: int = CLAIM_CHUNK, total: int | None = None,
                         progress: Callable[[BulkReport], None] | None = None,
                         cancel: Cancel | None = None) -> BulkReport:
        """Claim every entry idle at least `min_idle_ms` to `consumer`, in chunks.

        XAUTOCLAIM ... JUSTID in a cursor loop where the server has it; else XPENDING IDLE
        + XCLAIM (same min-idle, so an entry re-taken between the two is skipped). One audit
        line per chunk."""
        cancel = cancel or Cancel()
        if total is None:
            total = (await self.pending_summary(key, group)).count
        report = BulkReport(total=total)
        if self.client.capabilities.xautoclaim:
            cursor = "0-0"
            while True:
                if cancel.requested:
                    report.cancelled = True
                    break
                try:
                    reply = await self.r.execute_command(
                        b"XAUTOCLAIM", key, group, consumer, int(min_idle_ms), cursor,
                        "COUNT", chunk, "JUSTID")
                except rexc.ResponseError as exc:
                    raise _friendly(exc, key, group) from None
                cursor = _text(reply[0])
                ids = [_text(i) for i in reply[1] or ()]
                deleted = [_text(i) for i in reply[2] or ()] if len(reply) > 2 else []
                self._tally(report, key, ids, len(deleted))
                if progress:
                    progress(report)
                if cursor in ("0-0", "0"):
                    break
        else:
            next_start: str | None = "-"
            while next_start is not None:
                if cancel.requested:
                    report.cancelled = True
                    break
                page = await self.pending_page(key, group, start=next_start, count=chunk,
                                               min_idle_ms=min_idle_ms)
                next_start = page.next_start
                if not page.entries:
                    if progress:
                        progress(report)
                    continue
                try:
                    reply = await self.r.execute_command(
                        b"XCLAIM", key, group, consumer, int(min_idle_ms),
                        *[e.id for e in page.entries], "JUSTID")
                except rexc.ResponseError as exc:
                    raise _friendly(exc, key, group) from None
                ids = [_text(i) for i in reply or ()]
                self._tally(report, key, ids, len(page.entries) - len(ids))
                if progress:
                    progress(report)
        report.total = max(report.total, report.processed)
        return report

    def _tally(self, report: BulkReport, key: str, ids: list[str], skipped: int) -> None:
        report.done += len(ids)
        report.skipped += skipped
        if ids:
            self.client.audit("stream claim idle", [key], len(ids), ids)

    @mutation("stream ack")
    async def ack(self, key: str, group: str, ids: Sequence[str]) -> ActionResult:
        """XACK each id (one pipeline, one round trip); ids no longer pending are skipped."""
        result = ActionResult()
        ids = list(dict.fromkeys(ids))
        if not ids:
            return result
        pipe = self.r.pipeline(transaction=False)
        for entry_id in ids:
            pipe.execute_command(b"XACK", key, group, entry_id)
        replies = await pipe.execute(raise_on_error=False)
        for entry_id, rep in zip(ids, replies):
            if isinstance(rep, Exception):
                result.skip(entry_id, _friendly(rep, key, group).args[0])
            elif int(rep):
                result.done.append(entry_id)
            else:
                result.skip(entry_id, NOT_PENDING)
        if result.done:
            self.client.audit("stream ack", [key], len(result.done), result.done)
        return result

    @mutation("stream dead-letter")
    async def dead_letter(self, key: str, group: str, entries: Sequence[PendingEntry],
                          dlq_key: str, *, now_ms: int | None = None,
                          now: float | None = None) -> ActionResult:
        """Move entries to `dlq_key` as the seed's DeadLetter envelope and ack them.

        Per chunk, on a connection of its own: WATCH dlq ; TYPE dlq ; XRANGE + XPENDING per
        entry, then MULTI ; (RPUSH dlq | XADD dlq * data) + XACK per entry ; EXEC. The
        target's type is checked under WATCH, so the push cannot fail inside EXEC (a target
        that is neither a list nor a stream is refused before anything is sent), and the
        push and the ack of an entry run together or not at all. Entries re-delivered, acked
        or deleted since the operator saw them are skipped. XACK by another client does not
        touch any watched key: an entry acked in the gap before EXEC keeps its dead letter
        (reported; nothing is undone outside the transaction)."""
        result = ActionResult()
        if not entries:
            return result
        now_ms = self.client.server_now_ms() if now_ms is None else now_ms
        now = time.monotonic() if now is None else now
        for start in range(0, len(entries), DLQ_CHUNK):
            await self._dead_letter_chunk(key, group, list(entries[start:start + DLQ_CHUNK]),
                                          dlq_key, now_ms, now, result)
        if result.done:
            self.client.audit("stream dead-letter", [key, dlq_key], len(result.done),
                              result.done)
        return result

    async def _dead_letter_chunk(self, key: str, group: str, part: list[PendingEntry],
                                 dlq_key: str, now_ms: int, now: float,
                                 result: ActionResult) -> None:
        # On a cluster with the DLQ in another slot, the transaction pushes to a staging list
        # in the stream's slot, delivered after it (see crossslot). The DLQ's own type is then
        # checked on its node first: staging delivers with RPUSH, so it must be a list.
        landing = Landing(self.client, key, dlq_key)
        if landing.stage is not None:
            remote = _text(await self.client.for_keys(dlq_key).redis.type(dlq_key))
            if remote not in ("list", "none"):
                raise BackendError(
                    f"{printable(dlq_key, 80)} is a {remote} in another hash slot: only a list "
                    "can take dead letters across slots; nothing was dead-lettered")
        target = landing.key
        node = self.client.for_keys(key, target)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            async with pinned(node) as c:
                check: list[tuple] = [("WATCH", target), ("TYPE", target)]
                for e in part:
                    check.append(("XRANGE", key, e.id, e.id))
                    check.append(("XPENDING", key, group, e.id, e.id, 1))
                replies = await c.exchange(check)
                kind = _text(replies[1]) if not isinstance(replies[1], Exception) else "?"
                if kind not in ("list", "none", "stream"):
                    await c.exchange([("UNWATCH",)])
                    raise BackendError(
                        f"{printable(dlq_key, 80)} is a {kind}, not a list or a stream: "
                        "nothing was dead-lettered")
                moves: list[tuple[PendingEntry, bytes]] = []
                skips: list[tuple[str, str]] = []
                for n, e in enumerate(part):
                    body, pend = replies[2 + 2 * n], replies[3 + 2 * n]
                    for rep in (body, pend):
                        if isinstance(rep, Exception):
                            await c.exchange([("UNWATCH",)])
                            raise _friendly(rep, key, group)
                    current = _pending_rows(pend, now)
                    found = _entries(body)
                    if not current:
                        skips.append((e.id, NOT_PENDING))
                    elif current[0].idle_ms < e.min_idle_now(now):
                        skips.append((e.id, "re-delivered since you looked"))
                    elif not found:
                        skips.append((e.id, "entry deleted from the stream (ack it instead)"))
                    else:
                        moves.append((current[0],
                                      dead_letter_envelope(found[0], current[0], now_ms)))
                if not moves:
                    await c.exchange([("UNWATCH",)])
                    for entry_id, why in skips:
                        result.skip(entry_id, why)
                    return
                tx: list[tuple] = [("MULTI",)]
                for e, value in moves:
                    tx.append(("XADD", target, "*", "data", value) if kind == "stream"
                              else ("RPUSH", target, value))
                    tx.append(("XACK", key, group, e.id))
                # Acknowledged by a replica where there is one (see movebase.replica_wait).
                replies = await exchange_replicated(c, [*tx, ("EXEC",)],
                                                    await replica_wait(node))
                for reply in replies[:-1]:
                    if isinstance(reply, Exception):  # refused when queued: EXEC aborted
                        raise _friendly(reply, dlq_key)
                exec_reply = replies[-1]
                if exec_reply is None:  # the DLQ changed since WATCH: check everything again
                    await backoff(attempt)
                    continue
                if isinstance(exec_reply, Exception):
                    raise _friendly(exec_reply, key, group)
            for entry_id, why in skips:
                result.skip(entry_id, why)
            await landing.land()
            for n, (e, _) in enumerate(moves):
                pushed, acked = exec_reply[2 * n], exec_reply[2 * n + 1]
                if isinstance(pushed, Exception):  # cannot happen with the type watched
                    result.skip(e.id, f"DLQ push failed: {printable(str(pushed), 80)}"
                                + (" (the entry was acked)" if acked == 1 else ""))
                elif isinstance(acked, Exception) or not int(acked):
                    result.skip(e.id, "acked by another client meanwhile: its dead letter "
                                f"is in {printable(dlq_key, 60)} too")
                else:
                    result.done.append(e.id)
            return
        for e in part:
            result.skip(e.id, f"{printable(dlq_key, 60)} kept changing: not dead-lettered")

    @mutation("stream delete consumer")
    async def delete_consumer(self, key: str, group: str, consumer: str, *,
                              allow_pending: int = 0) -> int:
        """XGROUP DELCONSUMER, refused when the consumer now holds more pending entries
        than the operator agreed to drop. Returns the number of pending entries dropped."""
        current = {c.name: c for c in await self.consumers(key, group)}.get(consumer)
        if current is None:
            raise BackendError(f"consumer {printable(consumer, 60)} no longer exists")
        if current.pending > allow_pending:
            raise BackendError(
                f"consumer {printable(consumer, 60)} now holds {current.pending} pending "
                f"entries (you agreed to {allow_pending}); nothing deleted")
        try:
            dropped = await self.r.execute_command(b"XGROUP", "DELCONSUMER", key, group,
                                                   consumer)
        except rexc.ResponseError as exc:
            raise _friendly(exc, key, group) from None
        self.client.audit("stream delete consumer", [key], int(dropped or 0),
                          [f"{group}/{consumer}"])
        return int(dropped or 0)

    @mutation("stream create group")
    async def create_group(self, key: str, group: str, start_id: str = "$", *,
                           mkstream: bool = False) -> None:
        args = [b"XGROUP", "CREATE", key, group, start_id]
        if mkstream:
            args.append("MKSTREAM")
        try:
            await self.r.execute_command(*args)
        except rexc.ResponseError as exc:
            raise _friendly(exc, key, group) from None
        self.client.audit("stream create group", [key], 1, [f"{group}@{start_id}"])

    @mutation("stream set group id")
    async def set_group_id(self, key: str, group: str, last_id: str) -> None:
        try:
            await self.r.execute_command(b"XGROUP", "SETID", key, group, last_id)
        except rexc.ResponseError as exc:
            raise _friendly(exc, key, group) from None
        self.client.audit("stream set group id", [key], 1, [f"{group}@{last_id}"])

    @mutation("stream publish")
    async def publish(self, key: str, fields: Sequence[tuple[str | bytes, str | bytes]], *,
                      maxlen: int | None = None) -> str:
        """XADD (optionally MAXLEN ~ n). Returns the new entry's id."""
        if not fields:
            raise BackendError("an entry needs at least one field")
        args: list[Any] = [b"XADD", key]
        if maxlen is not None:
            args += ["MAXLEN", "~", int(maxlen)]
        args.append("*")
        for name, value in fields:
            args += [name, value]
        try:
            new_id = _text(await self.r.execute_command(*args))
        except rexc.ResponseError as exc:
            raise _friendly(exc, key) from None
        self.client.audit("stream publish", [key], 1, [new_id])
        return new_id
