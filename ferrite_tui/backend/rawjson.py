"""The seed's requeue as an edit of the raw JSON text, never a re-serialisation.

Parsing and dumping a dead letter changes the user's bytes: `1e400` becomes `Infinity` (not
JSON), `{"a":1,"a":2}` becomes `{"a":2}`, `1e9` becomes `1000000000.0`, long decimals are
rounded. Here a small scanner finds the byte spans of the envelope's members (the top-level
object and its "job" object; nested values are skipped by bracket matching, without
recursion) and the requeued job is the "job" object's own text with only the values of the
fields the console resets replaced: the id, the payload and any other field are copied byte
for byte, whitespace, key order and duplicate keys included.

The scanner runs on values `envelopes.decode` already parsed as a dead-letter envelope, so
the text is JSON; where it still meets something it cannot vouch for (Python's json accepts
`NaN` and `Infinity`, which are not JSON), it raises `Unrewritable` with the byte offset,
and the entry is left where it is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

#: The fields a requeue resets, in the order they are added when the job lacks them.
RESET_FIELDS = ("retry_count", "last_error", "first_attempt")

_WS = re.compile(rb"[ \t\n\r]*")
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_SCALAR = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null")
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.S)


class Unrewritable(ValueError):
    """The entry's text cannot be edited safely; it is left in place."""


@dataclass(frozen=True, slots=True)
class Member:
    key: str
    value_start: int
    value_end: int


def _skip_ws(text: bytes, pos: int) -> int:
    m = _WS.match(text, pos)
    return m.end() if m else pos


def _value_end(text: bytes, pos: int) -> int:
    """The end of the JSON value that starts at `pos` (containers by bracket matching)."""
    head = text[pos:pos + 1]
    if head == b'"':
        m = _STRING.match(text, pos)
        if m is None:
            raise Unrewritable(f"unterminated string at byte {pos}")
        return m.end()
    if head in (b"{", b"["):
        depth = 0
        for tok in _TOKEN.finditer(text, pos):
            t = tok.group()
            if t in (b"{", b"["):
                depth += 1
            elif t in (b"}", b"]"):
                depth -= 1
                if depth == 0:
                    return tok.end()
        raise Unrewritable(f"unclosed {head.decode()} at byte {pos}")
    m = _SCALAR.match(text, pos)
    if m is None:
        raise Unrewritable(f"not standard JSON at byte {pos}")
    return m.end()


def _key(raw: bytes) -> str:
    if b"\\" not in raw:
        return raw[1:-1].decode("utf-8", "surrogateescape")
    return str(json.loads(raw))  # escapes: "\u0069d" is the key "id"


def members(text: bytes, start: int) -> tuple[list[Member], int]:
    """The members of the object at `start` (duplicates kept, in order) and its end."""
    if text[start:start + 1] != b"{":
        raise Unrewritable(f"no object at byte {start}")
    out: list[Member] = []
    pos = _skip_ws(text, start + 1)
    if text[pos:pos + 1] == b"}":
        return out, pos + 1
    while True:
        m = _STRING.match(text, pos)
        if m is None:
            raise Unrewritable(f"no key at byte {pos}")
        key = _key(m.group())
        pos = _skip_ws(text, m.end())
        if text[pos:pos + 1] != b":":
            raise Unrewritable(f"no ':' at byte {pos}")
        vstart = _skip_ws(text, pos + 1)
        vend = _value_end(text, vstart)
        out.append(Member(key, vstart, vend))
        pos = _skip_ws(text, vend)
        sep = text[pos:pos + 1]
        if sep == b"}":
            return out, pos + 1
        if sep != b",":
            raise Unrewritable(f"no ',' or '}}' at byte {pos}")
        pos = _skip_ws(text, pos + 1)


def _last(found: list[Member], key: str) -> Member | None:
    """The member a JSON parser keeps for a duplicated key: the last one."""
    hits = [m for m in found if m.key == key]
    return hits[-1] if hits else None


def job_span(raw: bytes) -> tuple[int, int]:
    """The byte span of a dead letter's "job" object."""
    top, end = members(raw, _skip_ws(raw, 0))
    if _skip_ws(raw, end) != len(raw):
        raise Unrewritable(f"text after the value at byte {end}")
    job = _last(top, "job")
    if job is None or raw[job.value_start:job.value_start + 1] != b"{":
        raise Unrewritable("no job object")
    return job.value_start, job.value_end


def payload_text(raw: bytes) -> bytes:
    """A dead letter's payload exactly as stored (for editing it without re-serialising)."""
    start, _ = job_span(raw)
    found, _ = members(raw, start)
    payload = _last(found, "payload")
    if payload is None:
        raise Unrewritable("no payload")
    return raw[payload.value_start:payload.value_end]


def requeued(raw: bytes, now_ms: int, payload: bytes | None = None) -> bytes:
    """The seed's retry_dead_letter on the raw text: the "job" object, its retry_count 0,
    last_error null and first_attempt now (every occurrence of a duplicated key; appended
    after the last member when absent), everything else as stored. With `payload`, every
    "payload" value is replaced by those bytes too (edit and requeue)."""
    start, end = job_span(raw)
    found, _ = members(raw, start)
    new_values = {"retry_count": b"0", "last_error": b"null",
                  "first_attempt": str(int(now_ms)).encode()}
    if payload is not None:
        new_values["payload"] = payload
    out = bytearray()
    pos = start
    for m in found:
        if m.key in new_values:
            out += raw[pos:m.value_start] + new_values[m.key]
            pos = m.value_end
    last_end = found[-1].value_end if found else start + 1
    missing = [k for k in RESET_FIELDS if all(m.key != k for m in found)]
    added = b"".join(b'%s"%s":%s' % (b"," if (found or i) else b"", k.encode(), new_values[k])
                     for i, k in enumerate(missing))
    out += raw[pos:last_end] + added + raw[last_end:end]
    return bytes(out)
