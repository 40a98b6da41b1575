"""Sorted-set windows on screen that hold big members: not read whole again while unchanged.

The priority and scheduled panels read their window (and the lowest / highest member, for
the scale) again at every poll. Redis reads no part of a member, so a window holding a 100 MB
member would cost 100 MB each time. A window read by rank whose members include one over
BIG_ITEM bytes is remembered with the set's size; before the next read of the same window,
one pipeline asks ZCARD, and for each small member its rank and score (ZRANK / ZREVRANK,
ZSCORE: a few bytes each), and for each big member how many members have its score (ZCOUNT
s s). When the size, every small member's rank and score, and a member at each big one's
score all agree, the remembered members are shown and the big ones are not sent again.
Otherwise the window is read as usual. Not seen: a big member replaced by another of the
same score at the same rank between two polls (an action on it names the exact member
shown, so it finds it gone and touches nothing). No Textual here.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from ferrite_tui.backend.client import Client
from ferrite_tui.backend.lists import BIG_ITEM

#: Windows remembered per client (a panel shows one or two per set).
REMEMBERED = 16

Members = tuple[tuple[bytes, float], ...]


@dataclass(frozen=True)
class Window:
    """A member-returning read (WITHSCORES) whose members sit at known ranks: the first
    at `first_rank`, counted from the highest score when `descending`."""

    command: tuple
    first_rank: int
    descending: bool


@dataclass(frozen=True)
class _Remembered:
    window: Window
    card: int
    members: Members


_remembered: weakref.WeakKeyDictionary[Client, dict[tuple, _Remembered]] = \
    weakref.WeakKeyDictionary()


def has_big(members: Members) -> bool:
    return any(len(m) > BIG_ITEM for m, _ in members)


async def reusable(client: Client, key: str) -> dict[tuple, Members]:
    """The windows of this key (by command) whose remembered members still stand; one
    round trip, and none when nothing is remembered for the key."""
    known = _remembered.get(client, {})
    asked = [(seen.window, seen) for command, seen in known.items() if command[1] == key]
    if not asked:
        return {}
    commands: list[tuple] = [("ZCARD", key)]
    for window, seen in asked:
        rank = "ZREVRANK" if window.descending else "ZRANK"
        for member, score in seen.members:
            if len(member) > BIG_ITEM:
                commands.append(("ZCOUNT", key, repr(score), repr(score)))
            else:
                commands += [(rank, key, member), ("ZSCORE", key, member)]
    replies = iter(await client.raw_pipeline(commands))
    card = next(replies)
    out: dict[tuple, Members] = {}
    for window, seen in asked:
        ok = card == seen.card
        for i, (member, score) in enumerate(seen.members):
            if len(member) > BIG_ITEM:
                ok = ok and _int(next(replies)) >= 1
            else:
                rank, now = next(replies), next(replies)
                ok = ok and _int(rank) == window.first_rank + i and _float(now) == score
        if ok:
            out[window.command] = seen.members
        else:
            known.pop(window.command, None)
    return out


def remember(client: Client, window: Window, card: int, members: Members) -> None:
    """Keep a window read whole when it holds a big member (forget it otherwise)."""
    known = _remembered.setdefault(client, {})
    known.pop(window.command, None)
    if has_big(members):
        while len(known) >= REMEMBERED:
            del known[next(iter(known))]
        known[window.command] = _Remembered(window, card, members)


def _int(reply: object) -> int:
    return reply if isinstance(reply, int) else -1


def _float(reply: object) -> float | None:
    try:
        return float(reply)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
