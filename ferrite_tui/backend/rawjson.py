"""The seed's requeue as an edit of the raw JSON text, never a re-serialisation.

Parsing and dumping a dead letter changes the user's bytes: `1e400` becomes `Infinity` (not
JSON), `{"a":1,"a":2}` becomes `{"a":2}`, `1e9` becomes `1000000000.0`, long decimals are
rounded. Here a small scanner finds the spans of the envelope's members (the top-level
object and its "job" object; each value's end found by json's C scanner, its result thrown
away) and the requeued job is the "job" object's own text with only the values of the
fields the console resets replaced: the id, the payload and any other field are copied byte
for byte, whitespace, key order and duplicate keys included.

The scanner runs on values `envelopes.decode` already parsed (within the depth bound) as a
dead-letter envelope, so the text is JSON; where it still meets something it cannot vouch
for (Python's json accepts `NaN` and `Infinity`, which are not JSON), it raises
`Unrewritable` with the offset, and the entry is left where it is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ferrite_tui.backend import boundedjson

#: The fields a requeue resets, in the order they are added when the job lacks them.
RESET_FIELDS = ("retry_count", "last_error", "first_attempt")

_WS = re.compile(r"[ \t\n\r]*")
_WS_CHARS = frozenset(" \t\n\r")
_KEY = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)"', re.S)


class Unrewritable(ValueError):
    """The entry's text cannot be edited safely; it is left in place."""


# Only the end of each value is used: json's C scanner finds it fast (the values were
# parsed once already, within the depth bound, by envelopes.decode). NaN and Infinity,
# which Python reads but JSON does not have, are refused.
_SCAN = json.JSONDecoder(parse_constant=boundedjson.refuse_constant).raw_decode


@dataclass(frozen=True, slots=True)
class Member:
    key: str
    value_start: int
    value_end: int


def _skip_ws(text: str, pos: int) -> int:
    if text[pos:pos + 1] not in _WS_CHARS:  # compact JSON: no whitespace, no regex call
        return pos
    m = _WS.match(text, pos)
    return m.end() if m else pos


def _value_end(text: str, pos: int) -> int:
    try:
        return _SCAN(text, pos)[1]
    except RecursionError:  # callers pass values decode() parsed within the depth bound
        raise Unrewritable(f"nested too deep at offset {pos}") from None
    except ValueError as exc:  # JSONDecodeError, or a refused constant
        raise Unrewritable(f"not standard JSON at offset {pos}: {exc}") from None


def members(text: str, start: int) -> tuple[list[Member], int]:
    """The members of the object at `start` (duplicates kept, in order) and its end."""
    if text[start:start + 1] != "{":
        raise Unrewritable(f"no object at offset {start}")
    out: list[Member] = []
    pos = _skip_ws(text, start + 1)
    if text[pos:pos + 1] == "}":
        return out, pos + 1
    while True:
        m = _KEY.match(text, pos)
        if m is None:
            raise Unrewritable(f"no key at offset {pos}")
        key = m.group(1)
        if "\\" in key:  # escaped: "\u0069d" is the key "id"
            try:
                key = _SCAN(text, pos)[0]
            except ValueError:
                raise Unrewritable(f"bad key at offset {pos}") from None
        pos = _skip_ws(text, m.end())
        if text[pos:pos + 1] != ":":
            raise Unrewritable(f"no ':' at offset {pos}")
        vstart = _skip_ws(text, pos + 1)
        vend = _value_end(text, vstart)
        out.append(Member(str(key), vstart, vend))
        pos = _skip_ws(text, vend)
        sep = text[pos:pos + 1]
        if sep == "}":
            return out, pos + 1
        if sep != ",":
            raise Unrewritable(f"no ',' or '}}' at offset {pos}")
        pos = _skip_ws(text, pos + 1)


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")  # valid UTF-8 round-trips to the same bytes
    except UnicodeDecodeError:
        raise Unrewritable("not UTF-8") from None


def _last(found: list[Member], key: str) -> Member | None:
    """The member a JSON parser keeps for a duplicated key: the last one."""
    hits = [m for m in found if m.key == key]
    return hits[-1] if hits else None


def job_span(text: str) -> tuple[int, int]:
    """The span of a dead letter's "job" object in its text."""
    top, end = members(text, _skip_ws(text, 0))
    if _skip_ws(text, end) != len(text):
        raise Unrewritable(f"text after the value at offset {end}")
    job = _last(top, "job")
    if job is None or text[job.value_start:job.value_start + 1] != "{":
        raise Unrewritable("no job object")
    return job.value_start, job.value_end


def member_bytes(raw: bytes, name: str) -> bytes:
    """The value of a top-level member exactly as stored: an object's (or array's) own
    text, or, for a string, the text it holds (a job kept as a string inside a wrapper is
    its own bytes). The last one where the name repeats, as a parser reads it."""
    text = _text(raw)
    top, end = members(text, _skip_ws(text, 0))
    if _skip_ws(text, end) != len(text):
        raise Unrewritable(f"text after the value at offset {end}")
    found = _last(top, name)
    if found is None:
        raise Unrewritable(f"no member {name!r}")
    value = text[found.value_start:found.value_end]
    if not value.startswith('"'):
        return value.encode()
    inner = _SCAN(value)[0]
    try:
        return str(inner).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate escape: no bytes to give back
        raise Unrewritable(f"member {name!r} holds a lone surrogate") from None


def payload_text(raw: bytes) -> bytes:
    """A dead letter's payload exactly as stored (for editing it without re-serialising)."""
    text = _text(raw)
    start, _ = job_span(text)
    found, _ = members(text, start)
    payload = _last(found, "payload")
    if payload is None:
        raise Unrewritable("no payload")
    return text[payload.value_start:payload.value_end].encode()


def requeued(raw: bytes, now_ms: int, payload: bytes | None = None) -> bytes:
    """The seed's retry_dead_letter on the raw text: the "job" object, its retry_count 0,
    last_error null and first_attempt now (every occurrence of a duplicated key; appended
    after the last member when absent), everything else as stored. With `payload`, every
    "payload" value is replaced by those bytes too (edit and requeue)."""
    text = _text(raw)
    start, end = job_span(text)
    found, _ = members(text, start)
    new_values = {"retry_count": "0", "last_error": "null", "first_attempt": str(int(now_ms))}
    if payload is not None:
        new_values["payload"] = _text(payload)
    out: list[str] = []
    pos = start
    for m in found:
        if m.key in new_values:
            out += [text[pos:m.value_start], new_values[m.key]]
            pos = m.value_end
    last_end = found[-1].value_end if found else start + 1
    missing = [k for k in RESET_FIELDS if all(m.key != k for m in found)]
    out += [text[pos:last_end]]
    out += [f'{"," if (found or i) else ""}"{k}":{new_values[k]}' for i, k in enumerate(missing)]
    out += [text[last_end:end]]
    return "".join(out).encode()
