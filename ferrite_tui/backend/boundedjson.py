"""JSON from the server, parsed within a depth and a size bound.

Python's json module recurses once per nesting level, so a 2 KB value of 1,000 nested
arrays raises RecursionError (not ValueError) wherever it is parsed, and a value parsed
just under that limit still fails later when it is printed. Every value read from a server
is parsed here instead: nesting beyond `MAX_DEPTH` or a value beyond `MAX_PARSE_BYTES` is
refused with a `ValueError` subclass, so each caller's "not JSON: show it raw" path applies,
and `note` says why it is shown raw.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from itertools import accumulate
from typing import Any

#: Nesting levels parsed; deeper values are shown raw (real payloads nest a few levels).
MAX_DEPTH = 64
#: Values larger than this are not parsed as JSON (a preview of the raw text only).
MAX_PARSE_BYTES = 1 << 20

# A JSON string (escapes included), so brackets inside strings are not counted.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class TooDeep(ValueError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"nested deeper than {limit}: shown raw")
        self.note = str(self)


class TooLarge(ValueError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"{size:,} bytes, larger than the {limit:,} parsed: shown raw")
        self.note = str(self)


def refuse_constant(name: str) -> Any:
    """A `parse_constant` that refuses NaN and Infinity: Python reads them, JSON has neither."""
    raise ValueError(f"{name} is not JSON")


def depth(text: str | bytes) -> int:
    """The deepest nesting of brackets outside strings (a cheap scan, no parsing)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def too_deep(text: str | bytes, limit: int = MAX_DEPTH) -> bool:
    if isinstance(text, bytes):
        opened = text.count(b"[") + text.count(b"{")
    else:
        opened = text.count("[") + text.count("{")
    # Fewer brackets than the limit cannot nest deeper: most values stop here.
    return opened > limit and depth(text) > limit


def check(text: str | bytes, *, max_depth: int = MAX_DEPTH,
          max_bytes: int = MAX_PARSE_BYTES) -> None:
    """Raise TooLarge or TooDeep for a value that must not be parsed."""
    size = len(text)
    if size > max_bytes:
        raise TooLarge(size, max_bytes)
    if too_deep(text, max_depth):
        raise TooDeep(max_depth)


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH,
          max_bytes: int = MAX_PARSE_BYTES, strict: bool = True,
          parse_constant: Callable[[str], Any] | None = None) -> Any:
    """json.loads within the bounds; every refusal is a ValueError (TooLarge, TooDeep, or
    json's own JSONDecodeError; UnicodeDecodeError for bytes that are not UTF-8)."""
    check(text, max_depth=max_depth, max_bytes=max_bytes)
    try:
        return json.loads(text, strict=strict, parse_constant=parse_constant)
    except RecursionError:  # the scan's bound holds; this is only a called-deep-already guard
        raise TooDeep(max_depth) from None


def raw_decode(text: str, *, max_depth: int = MAX_DEPTH,
               max_bytes: int = MAX_PARSE_BYTES) -> tuple[Any, int]:
    """json.JSONDecoder().raw_decode within the bounds (the backfill's fast path)."""
    check(text, max_depth=max_depth, max_bytes=max_bytes)
    try:
        return _RAW_DECODE(text)
    except RecursionError:
        raise TooDeep(max_depth) from None


_RAW_DECODE = json.JSONDecoder().raw_decode
