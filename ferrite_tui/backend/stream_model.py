"""What the Streams panel reads, as values: entries, summaries, groups, consumers, pending
entries and action results; the parsing of the servers' raw replies (Redis 6.2, 7 and
Ferrite shapes); and the JSON and dead-letter forms of an entry. No I/O here."""


import base64
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ferrite_tui.backend import boundedjson
from ferrite_tui.backend.envelopes import decode, dumps, key_text, printable
from ferrite_tui.backend.errors import BackendError, permission_error, server_error_text
from ferrite_tui.backend.lists import BIG_ITEM
from ferrite_tui.backend.stream_ids import id_ms

POISON_DELIVERIES = 5
DEAD_CONSUMER_IDLE_MS = 300_000
DLQ_REASON = "max deliveries exceeded"
NOT_PENDING = "no longer pending"  # acked since seen (or by a try whose answer was lost)


# -- replies ---------------------------------------------------------------------------

def reply_text(value: Any) -> str:
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

def reply_pairs(reply: Any) -> dict[str, Any]:
    """A flat [k, v, k, v] (RESP2) or a dict reply as {str: value}."""
    if isinstance(reply, dict):
        return {reply_text(k): v for k, v in reply.items()}
    out: dict[str, Any] = {}
    if isinstance(reply, (list, tuple)):
        for i in range(0, len(reply) - 1, 2):
            out[reply_text(reply[i])] = reply[i + 1]
    return out


def reply_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def entries_of(reply: Any) -> list[StreamEntry]:
    out: list[StreamEntry] = []
    for item in reply or ():
        if not isinstance(item, (list, tuple)) or not item:
            continue
        entry_id = reply_text(item[0])
        raw = item[1] if len(item) > 1 and item[1] is not None else []
        if isinstance(raw, dict):
            flds = tuple(raw.items())
        else:
            flds = tuple((raw[i], raw[i + 1]) for i in range(0, len(raw) - 1, 2))
        out.append(StreamEntry(entry_id, tuple((bytes(a), bytes(b)) for a, b in flds)))
    return out


def pending_rows(reply: Any, seen_at: float) -> list[PendingEntry]:
    out = []
    for row in reply or ():
        if isinstance(row, (list, tuple)) and len(row) >= 4:
            out.append(PendingEntry(
                id=reply_text(row[0]), consumer=key_text(row[1]), idle_ms=int(row[2]),
                deliveries=int(row[3]), seen_at=seen_at,
            ))
    return out


def friendly(exc: Exception, key: str, group: str | None = None) -> BackendError:
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
class BigEnds:
    length: int
    first_id: str | None
    last_id: str
    last_generated_id: str | None = None
    groups: int | None = None


def any_big(*replies: Any) -> bool:
    """Whether an end entry read (XRANGE / XREVRANGE COUNT 1) is over BIG_ITEM bytes."""
    return any(sum(len(a) + len(b) for a, b in e.fields) > BIG_ITEM
               for reply in replies if not isinstance(reply, Exception)
               for e in entries_of(reply))


def ends_stand(seen: BigEnds, xlen: Any, after: Any) -> bool:
    return not isinstance(xlen, Exception) and int(xlen) == seen.length \
        and not isinstance(after, Exception) and not after

