"""Stream entry ids ("<ms>-<seq>"): parsing, formatting and the ids just before and after.

Shared by the poll and the Streams backend (each read from the other would be an import
cycle: streams -> crossslot -> cluster -> poll). Plain functions; nothing here talks to a
server.
"""

from __future__ import annotations

from collections.abc import Iterable

from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.errors import BackendError
from ferrite_tui.backend.replies import reply_text

MAX_SEQ = 18446744073709551615  # the largest sequence number of one millisecond


def parse_id(value: str | bytes | None) -> tuple[int, int] | None:
    """(ms, seq) of an entry id ("5" reads as 5-0); None when it is not one."""
    if value is None:
        return None
    text = reply_text(value)
    ms, _, seq = text.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        return None


def id_order(value: str | bytes) -> tuple[int, int]:
    """An entry id as a sortable pair (a malformed id sorts first)."""
    return parse_id(value) or (0, 0)


def after_id(parts: tuple[int, int]) -> str:
    """The smallest id after (ms, seq)."""
    ms, seq = parts
    return f"{ms + 1}-0" if seq >= MAX_SEQ else f"{ms}-{seq + 1}"


def next_id(value: str) -> str:
    """The smallest id after `value` (an exclusive start that works on every server)."""
    parts = parse_id(value)
    if parts is None:
        raise BackendError(f"not a stream id: {printable(value, 60)}")
    return after_id(parts)


def prev_id(value: str) -> str | None:
    """The largest id before `value`; None when there is none."""
    parts = parse_id(value)
    if parts is None:
        raise BackendError(f"not a stream id: {printable(value, 60)}")
    ms, seq = parts
    if seq > 0:
        return f"{ms}-{seq - 1}"
    if ms > 0:
        return f"{ms - 1}-{MAX_SEQ}"
    return None


def id_ms(value: str | bytes | None) -> int | None:
    parts = parse_id(value)
    return parts[0] if parts else None


def check_id(text: str, *, allow: Iterable[str] = ()) -> str | None:
    """A form check: None when `text` is a usable explicit id (or one of `allow`)."""
    text = text.strip()
    if text in allow:
        return None
    if parse_id(text) is None or text.count("-") > 1:
        return "expected an id such as 1700000000000-0" + (
            f" or one of {', '.join(allow)}" if allow else "")
    return None
