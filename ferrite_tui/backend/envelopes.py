"""Decode and encode the seed's JSON envelopes, binary-safe.

Anything that is not one of the seed's envelopes is still decoded into an `Envelope` of kind
"json", "text" or "binary", so every panel can list and inspect it as it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ferrite_tui.backend import boundedjson, rawjson
from ferrite_tui.backend.boundedjson import MAX_PARSE_BYTES as MAX_PARSE_BYTES

# The one escaping function (ferrite_tui/escaping.py), re-exported for existing imports.
from ferrite_tui.escaping import printable as printable


def key_text(raw: bytes | str) -> str:
    """A key name as str that encodes back to the same bytes (surrogateescape)."""
    return raw if isinstance(raw, str) else raw.decode("utf-8", "surrogateescape")


def dumps(value: Any) -> str:
    """Compact JSON as serde_json::to_string writes it (the seed's producers)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Envelope:
    raw: bytes
    kind: str  # job / retry / scheduled / dead / wrapped / json / text / binary
    data: Any = None  # the parsed JSON, if any
    id: str | None = None
    payload: Any = None
    time_ms: int | None = None  # enqueued_at / scheduled_at / first_attempt (the job's time)
    retry_count: int | None = None
    last_error: str | None = None
    reason: str | None = None
    dead_at: int | None = None
    first_attempt: int | None = None
    note: str | None = None  # why a value is shown raw (beyond the parse bounds)
    # A wrapper dead letter (see `wrapper`): the member holding the job, and the queue the
    # letter names as its origin, if any.
    job_field: str | None = None
    origin: str | None = None

    @property
    def is_envelope(self) -> bool:
        return self.kind in ("job", "retry", "scheduled", "dead", "wrapped")

    @property
    def is_dead_letter(self) -> bool:
        """A record of a failure: the guide's dead letter or a wrapper (reason, time)."""
        return self.kind in ("dead", "wrapped")

    @property
    def size(self) -> int:
        return len(self.raw)

    def preview(self, limit: int = 80) -> str:
        """One line for a table cell: the payload where there is one, else the value."""
        if self.is_envelope:
            return printable(dumps(self.payload), limit)
        if self.kind == "json":
            return printable(dumps(self.data), limit)
        if self.kind == "binary":
            return printable(f"<binary {len(self.raw)} B> ") + printable(self.raw[:48], limit)
        if self.note:  # beyond the parse bounds: say so, then the start of the raw text
            return printable(f"({self.note}) " + self.raw[:limit].decode("utf-8", "replace"),
                             limit)
        return printable(self.raw, limit)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _str(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else dumps(value)


def decode(raw: bytes | str) -> Envelope:
    if isinstance(raw, str):
        raw = raw.encode()
    if len(raw) > MAX_PARSE_BYTES:
        return Envelope(raw=raw, kind=_text_or_binary(raw))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Envelope(raw=raw, kind="binary")
    try:
        data = boundedjson.loads(text)
    except (boundedjson.TooDeep, boundedjson.TooLarge) as exc:
        return Envelope(raw=raw, kind="text", note=exc.note)
    except ValueError:
        return Envelope(raw=raw, kind="text")
    if not isinstance(data, dict):
        return Envelope(raw=raw, kind="json", data=data)
    job = data.get("job")
    if isinstance(job, dict) and "id" in job and "payload" in job and "reason" in data:
        return Envelope(
            raw=raw,
            kind="dead",
            data=data,
            id=_str(job.get("id")),
            payload=job.get("payload"),
            time_ms=_int(job.get("first_attempt")),
            retry_count=_int(job.get("retry_count")),
            last_error=_str(job.get("last_error")),
            reason=_str(data.get("reason")),
            dead_at=_int(data.get("dead_at")),
            first_attempt=_int(job.get("first_attempt")),
        )
    wrapped = wrapper(raw, data)
    if wrapped is not None:
        return wrapped
    if "id" in data and "payload" in data:
        if "retry_count" in data or "first_attempt" in data:
            return Envelope(
                raw=raw,
                kind="retry",
                data=data,
                id=_str(data.get("id")),
                payload=data.get("payload"),
                time_ms=_int(data.get("first_attempt")),
                retry_count=_int(data.get("retry_count")),
                last_error=_str(data.get("last_error")),
                first_attempt=_int(data.get("first_attempt")),
            )
        if "scheduled_at" in data:
            return Envelope(
                raw=raw,
                kind="scheduled",
                data=data,
                id=_str(data.get("id")),
                payload=data.get("payload"),
                time_ms=_int(data.get("scheduled_at")),
            )
        return Envelope(
            raw=raw,
            kind="job",
            data=data,
            id=_str(data.get("id")),
            payload=data.get("payload"),
            time_ms=job_time(data),
        )
    return Envelope(raw=raw, kind="json", data=data, time_ms=job_time(data))


# Wrapper dead letters, as teams write them: the job under one member, the cause under
# another, and often a time, the attempts made and the queue the job came from.
WRAP_JOB_FIELDS = ("job", "payload", "message", "original", "data", "body")
WRAP_CAUSE_FIELDS = ("error", "reason", "exception", "failure")
WRAP_TIME_FIELDS = ("failed_at", "dead_at", "died_at", "failedAt", "deadAt", "errored_at",
                    "time", "timestamp", "ts", "at")
WRAP_ATTEMPT_FIELDS = ("attempts", "retries", "retry_count", "attempt", "tries", "retryCount")
WRAP_ORIGIN_FIELDS = ("queue", "origin", "source")


def cause_text(value: Any) -> str | None:
    """A failure's cause as one text: a string as is, an object by its message."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, dict):
        for name in ("message", "msg", "error", "type"):
            if isinstance(value.get(name), str) and value[name]:
                return value[name]
    return _str(value)


def wrapper(raw: bytes, data: dict) -> Envelope | None:
    """A wrapper dead letter: a cause (WRAP_CAUSE_FIELDS) and the job under one of
    WRAP_JOB_FIELDS, as an object or as the job's own text in a string. A record with its
    own "id" beside a "payload" is a job that failed (the payload is not the whole job),
    not a wrapper."""
    cause_field = next((f for f in WRAP_CAUSE_FIELDS if cause_text(data.get(f))), None)
    if cause_field is None:
        return None
    job_field = next((f for f in WRAP_JOB_FIELDS
                      if isinstance(data.get(f), dict | str) and data.get(f) != ""
                      and not (f == "payload" and "id" in data)), None)
    if job_field is None:
        return None
    job: Any = data[job_field]
    if isinstance(job, str):
        try:
            job = boundedjson.loads(job)
        except ValueError:
            pass
    when = next((time_ms_of(data[f]) for f in WRAP_TIME_FIELDS if f in data), None)
    tries = next((_int(data[f]) for f in WRAP_ATTEMPT_FIELDS if f in data), None)
    origin = next((data[f] for f in WRAP_ORIGIN_FIELDS
                   if isinstance(data.get(f), str) and data[f]), None)
    ident = job.get("id") if isinstance(job, dict) and "id" in job else data.get("id")
    return Envelope(raw=raw, kind="wrapped", data=data, id=_str(ident), payload=job,
                    time_ms=when, retry_count=tries, reason=cause_text(data[cause_field]),
                    dead_at=when, job_field=job_field, origin=origin)


# Where jobs carry the time they were made, by the names teams use (the guide's first).
JOB_TIME_FIELDS = ("created_at", "createdAt", "timestamp", "ts", "queued_at", "enqueuedAt")
# Epoch figures by their size: seconds and milliseconds of 2001-5138 do not overlap.
_EPOCH_S = (1e9, 1e11)
_EPOCH_MS = (1e12, 1e14)


def job_time(data: dict) -> int | None:
    """The time (epoch ms) a job was made: the guide's enqueued_at (ms), else the first of
    JOB_TIME_FIELDS it has, as epoch seconds or milliseconds (told apart by size) or ISO 8601
    text (UTC when it names no zone). None when there is none, or it is not a time."""
    if "enqueued_at" in data:  # the guide's own field: epoch ms by definition
        value = data["enqueued_at"]
        if type(value) is float and value.is_integer():
            return int(value)
        return value if type(value) is int else None
    for name in JOB_TIME_FIELDS:
        if name in data:
            return time_ms_of(data[name])
    return None


def time_ms_of(value: Any) -> int | None:
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return time_ms_of(int(text))
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return int(when.timestamp() * 1000)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return None
    if _EPOCH_MS[0] <= value < _EPOCH_MS[1]:
        return int(value)
    if _EPOCH_S[0] <= value < _EPOCH_S[1]:
        return int(value * 1000)
    return None


def _text_or_binary(raw: bytes) -> str:
    try:
        raw[:4096].decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the 4096 boundary is still text.
        if exc.start < 4090:
            return "binary"
    return "text"


def is_job_envelope(raw: bytes | str) -> bool:
    """True for the seed's job envelopes (the test discovery uses on sorted-set members)."""
    return decode(raw).kind in ("job", "retry", "scheduled")


def requeued_job(dead: Envelope, now_ms: int) -> bytes | None:
    """The seed's retry_dead_letter: same id and payload, retry_count 0, last_error null,
    first_attempt now, made by editing the raw text (the user's bytes kept; see rawjson).
    A wrapper dead letter gives back its inner job exactly as stored (rawjson.member_bytes).
    None when the value is neither (it moves as is); raises rawjson.Unrewritable when the
    text cannot be edited safely (it stays where it is)."""
    if dead.kind == "wrapped" and dead.job_field is not None:
        return rawjson.member_bytes(dead.raw, dead.job_field)
    if dead.kind != "dead":
        return None
    return rawjson.requeued(dead.raw, now_ms)
