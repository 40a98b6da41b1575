"""What one poll asks about a library queue, and what it makes of the replies.

Every state key costs one to three commands in the poll's single pipeline (a count, and
for time-scored sorted sets the earliest member and a count past now/deadline), so the
round trips stay fixed. Score bounds are inclusive (Ferrite rejects '(').
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ferrite_tui.backend.libraries.model import (
    LibraryQueue, Means, State, StateCount, StateKey, ms_score, score_ms,
)

_COUNT = {"list": "LLEN", "set": "SCARD", "hash": "HLEN", "stream": "XLEN", "zset": "ZCARD"}


def _ops(s: StateKey, now_ms: int, visibility_timeout_s: float | None) -> list[tuple]:
    ops: list[tuple] = [(_COUNT[s.type], s.key)]
    if s.type != "zset" or s.unit is None:
        return ops
    now = ms_score(now_ms, s.unit)
    if s.means is Means.DUE:
        ops.append(("ZCOUNT", s.key, "-inf", now))
        ops.append(("ZRANGEBYSCORE", s.key, "-inf", "+inf", "WITHSCORES", "LIMIT", 0, 1))
    elif s.means is Means.DEADLINE:
        ops.append(("ZCOUNT", s.key, "-inf", now))
    elif s.means is Means.AT and visibility_timeout_s is not None and s.state is State.ACTIVE:
        ops.append(("ZCOUNT", s.key, "-inf", ms_score(now_ms - int(visibility_timeout_s * 1000),
                                                      s.unit)))
    return ops


def commands(q: LibraryQueue, now_ms: int) -> list[tuple]:
    """Every command for `q`, in the order `read` expects their replies."""
    out: list[tuple] = []
    for s in q.states:
        out += _ops(s, now_ms, q.visibility_timeout_s)
    return out


@dataclass(frozen=True, slots=True)
class Figures:
    states: tuple[StateCount, ...]
    depth: int  # pending, summed over the pending keys that could be read
    processing: int | None  # in progress (own keys only, not a key shared by all queues)
    failed: int | None
    oldest_ms: int | None  # age of the oldest pending item, where its time is known
    alerts: tuple[str, ...]
    errors: tuple[str, ...]


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def read(q: LibraryQueue, replies: list[Any], now_ms: int, overdue_s: float,
         lua: bool | None) -> Figures:
    """Turn the replies of `commands(q, now)` into figures. An error reply makes that
    state's count "?" (None), never 0."""
    counts: list[StateCount] = []
    alerts: list[str] = []
    errors: list[str] = []
    oldest: int | None = None
    i = 0
    for s in q.states:
        ops = _ops(s, now_ms, q.visibility_timeout_s)
        got = replies[i:i + len(ops)]
        i += len(ops)
        for r in got:
            if isinstance(r, Exception):
                errors.append(f"{s.key}: {str(r).splitlines()[0] if str(r) else 'error'}")
        total = _int(got[0])
        past = _int(got[1]) if len(got) > 1 else None
        next_at = None
        if len(got) > 2 and isinstance(got[2], list) and got[2]:
            next_at = score_ms(float(got[2][1]), s.unit) if s.unit else None
        count = total
        if s.window == "due":
            count = past
        elif s.window == "future":
            count = None if total is None or past is None else total - past
            next_at = None  # the earliest member may be one of the due ones
        if s.means is Means.DUE and next_at is not None and next_at <= now_ms:
            if s.window == "due" or s.state is State.PENDING:
                oldest = max(oldest or 0, now_ms - next_at)
            elif past and now_ms - next_at >= overdue_s * 1000:
                alerts.append(f"{past} overdue")
        if s.means is Means.DEADLINE and past:
            alerts.append(f"{past} past deadline")
        if s.means is Means.AT and s.state is State.ACTIVE and past:
            alerts.append(f"{past} unacked > {q.visibility_timeout_s:g}s")
        counts.append(StateCount(s.state, s.key, s.name, count,
                                 next_at if s.means is Means.DUE else None,
                                 past if s.means in (Means.DUE, Means.DEADLINE) or
                                 (s.means is Means.AT and s.state is State.ACTIVE) else None,
                                 s.shared))

    def total(state: State, own_only: bool = False) -> int | None:
        values = [c.count for c in counts if c.state is state and not (own_only and c.shared)]
        known = [v for v in values if v is not None]
        return sum(known) if known else None

    if q.needs_lua and lua is False:
        alerts.append(f"{q.library} needs Lua; this server has none")
    return Figures(tuple(counts), total(State.PENDING) or 0, total(State.ACTIVE, True),
                   total(State.FAILED), oldest, tuple(alerts), tuple(errors))
