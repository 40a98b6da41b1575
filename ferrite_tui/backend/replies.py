"""Small readers of raw RESP replies shared by the backend's modules."""

from __future__ import annotations

from typing import Any


def reply_text(value: Any) -> str:
    """A reply's bytes as str; bytes that are not UTF-8 kept (surrogateescape), so a key
    name read here goes back to the server unchanged."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


def score_pairs(reply: list) -> list[tuple[Any, Any]]:
    """(member, score) pairs of a ZRANGE WITHSCORES reply, flat (RESP2) or paired (RESP3)."""
    if reply and isinstance(reply[0], (list, tuple)):
        return [(m, sc) for m, sc in reply]
    return list(zip(reply[::2], reply[1::2]))
