"""Capped streams: a stream trimmed as it is written (XADD ... MAXLEN, XTRIM) keeps its
history at a fixed length, so its length is no backlog: its groups' lag and pending are.

Evidence, between two polls: its first entry id moved on while its length did not go down
(entries were trimmed from the head as others were added). A stream read by XDEL-ing
consumers shrinks as they catch up; one that is only appended to keeps its first id.
"""

from __future__ import annotations

from dataclasses import dataclass

from ferrite_tui.backend.stream_ids import parse_id


@dataclass(slots=True)
class _Seen:
    first: tuple[int, int]
    length: int
    capped: bool = False


class CappedStreams:
    """Per stream: the first id and length of the last poll, and the judgement so far."""

    def __init__(self) -> None:
        self.seen: dict[str, _Seen] = {}  # by key (the poll forgets keys no longer polled)

    def observe(self, key: str, first_id: str | None, length: int | None) -> bool:
        """Whether the stream is capped, with this poll's first id and length (None:
        not read this poll: the last judgement stands)."""
        seen = self.seen.get(key)
        first = parse_id(first_id) if first_id is not None else None
        if first is None or length is None:
            return seen.capped if seen is not None else False
        if seen is None:
            self.seen[key] = _Seen(first, length)
            return False
        if first > seen.first:
            seen.capped = length >= seen.length  # trimmed at the head, not drained
        elif first < seen.first:
            seen.capped = False  # recreated
        seen.first, seen.length = first, length
        return seen.capped

    def text(self, key: str) -> str | None:
        seen = self.seen.get(key)
        if seen is None or not seen.capped:
            return None
        return f"capped: its first id moves on while its length stays ({seen.length:,})"

