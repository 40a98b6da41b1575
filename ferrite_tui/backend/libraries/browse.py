"""Browsing one state of a library queue: a window of its key (list, sorted set, hash or
set) in the state's own order, each item with its score read as a time and the library's
fields from its body (task, arguments, attempts, error), all in at most three round trips.

Windows are bounded: lists and sorted sets by index ranges, hashes and sets by SCAN up to
`SCAN_LIMIT` elements (their order is the server's scan order).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.client import Client
from ferrite_tui.backend.libraries.items import (
    ARGS_FIELDS,
    ATTEMPT_FIELDS,
    ERROR_FIELDS,
    TASK_FIELDS,
    describe_many,
    last_line,
    pick,
    read_next_first,
)
from ferrite_tui.backend.libraries.model import (
    SELECTORS,
    LibraryQueue,
    Means,
    StateKey,
    Unit,
    ms_score,
    score_ms,
    time_ms,
)
from ferrite_tui.backend.lists import BIG_ITEM, MAX_WINDOW, Page, read_shown_page
from ferrite_tui.backend.movebase import Item

#: A hash or set state is scanned up to this many elements for one window.
SCAN_LIMIT = 10_000
BROWSABLE = ("list", "zset", "hash", "set")


@dataclass(frozen=True, slots=True)
class StateItem(Item):
    """One member of a state key as seen: its score (sorted sets), its value (hashes: the
    member is the field), and the library's fields from its body."""

    score: float | None = None
    value: bytes | None = None
    fields: tuple[tuple[str, str], ...] = ()

    def field(self, names: tuple[str, ...]) -> str:
        return pick(list(self.fields), names)

    @property
    def task(self) -> str:
        return self.field(TASK_FIELDS)

    @property
    def args(self) -> str:
        return self.field(ARGS_FIELDS)

    @property
    def attempts(self) -> str:
        return self.field(ATTEMPT_FIELDS)

    @property
    def error(self) -> str:
        return last_line(self.field(ERROR_FIELDS))


def browsable(queue: LibraryQueue) -> tuple[StateKey, ...]:
    """The states the item view pages through, in the model's order."""
    return tuple(s for s in queue.states if s.type in BROWSABLE)


def _bounds(state: StateKey, now_ms: int) -> tuple[Any, Any] | None:
    """Score bounds of a windowed sorted set (due: up to now; future: after now)."""
    if state.window is None or state.unit is None:
        return None
    now = ms_score(now_ms, state.unit)
    after = ms_score(now_ms + 1, state.unit)  # inclusive bounds only (Ferrite: no '(')
    if state.window == "overdue":  # due, but not taken (saq scores taken jobs 0)
        return (1, now)
    return ("-inf", now) if state.window == "due" else (after, "+inf")


async def _zset_window(client: Client, state: StateKey, start: int, count: int,
                       now_ms: int) -> tuple[int, int, list[tuple[bytes, float]]]:
    key, high = state.key, state.next_end == "high"
    bounds = _bounds(state, now_ms)
    count_cmd = ("ZCARD", key) if bounds is None else ("ZCOUNT", key, *bounds)

    def window(first: int) -> tuple:
        if bounds is None:
            return ("ZREVRANGE" if high else "ZRANGE", key, first, first + count - 1,
                    "WITHSCORES")
        lo, hi = bounds
        return (("ZREVRANGEBYSCORE", key, hi, lo) if high else ("ZRANGEBYSCORE", key, lo, hi)
                ) + ("WITHSCORES", "LIMIT", first, count)

    if start < 0:
        (length,) = await client.raw_pipeline([count_cmd])
        length = length if isinstance(length, int) else 0
        first = max(length + start, 0)
        (flat,) = await client.raw_pipeline([window(first)])
    else:
        length, flat = await client.raw_pipeline([count_cmd, window(start)])
        length = length if isinstance(length, int) else 0
        first = start
        if isinstance(flat, list) and not flat and length and start >= length:
            first = max(length - count, 0)  # past the end (it shrank): the last window
            (flat,) = await client.raw_pipeline([window(first)])
    for reply in (length, flat):
        if isinstance(reply, Exception):
            raise reply
    pairs = [(m, float(s)) for m, s in zip(flat[::2], flat[1::2])]
    return first, length, pairs


async def _scan_window(client: Client, state: StateKey, start: int, count: int,
                       queue: str = "") -> tuple[int, int, list[tuple[bytes, bytes | None]]]:
    """A window of a hash or set in scan order; a selected state (`StateKey.select`) only
    the values of its queue and state, counted among the first SCAN_LIMIT fields."""
    if state.select:
        return await _selected_window(client, state, start, count, queue)
    is_hash = state.type == "hash"
    (length,) = await client.raw_pipeline([("HLEN" if is_hash else "SCARD", state.key)])
    if isinstance(length, Exception):
        raise length
    reachable = min(length, SCAN_LIMIT)
    first = max(reachable + start, 0) if start < 0 else min(start, max(reachable - count, 0))
    found: list[tuple[bytes, bytes | None]] = []
    cursor: Any = b"0"
    while len(found) < first + count:
        (reply,) = await client.raw_pipeline(
            [("HSCAN" if is_hash else "SSCAN", state.key, cursor, "COUNT", 1000)])
        if isinstance(reply, Exception):
            raise reply
        cursor, flat = reply
        if is_hash:
            found += list(zip(flat[::2], flat[1::2]))
        else:
            found += [(m, None) for m in flat]
        if cursor in (b"0", 0) or len(found) >= SCAN_LIMIT:
            break
    return first, length, found[first:first + count]


async def _selected_window(client: Client, state: StateKey, start: int, count: int,
                           queue: str) -> tuple[int, int, list[tuple[bytes, bytes | None]]]:
    match = SELECTORS[state.select].match
    found: list[tuple[bytes, bytes | None]] = []
    cursor: Any = b"0"
    scanned = 0
    while True:
        (reply,) = await client.raw_pipeline([("HSCAN", state.key, cursor, "COUNT", 1000)])
        if isinstance(reply, Exception):
            raise reply
        cursor, flat = reply
        scanned += len(flat) // 2
        found += [(f, v) for f, v in zip(flat[::2], flat[1::2])
                  if isinstance(v, bytes) and match(v, queue) is not None]
        if cursor in (b"0", 0) or scanned >= SCAN_LIMIT:
            break
    length = len(found)
    first = max(length + start, 0) if start < 0 else min(start, max(length - count, 0))
    return first, length, found[first:first + count]


async def read_state(client: Client, state: StateKey, start: int, count: int,
                     now_ms: int, unpickle: bool = False, queue: str = "") -> Page:
    """A window of `state`'s items from its next end (item 0 is the next job), with
    their library fields. A negative start counts from the far end."""
    count = max(1, min(count, MAX_WINDOW))
    rows: list[tuple[bytes, int | None, int | None, float | None, bytes | None]] = []
    if state.type == "list":
        if state.next_end == "tail":
            page = await read_next_first(client, state.key, start, count)
        else:
            page = await read_shown_page(client, state.key, start, count)
        first, length = page.start, page.length
        rows = [(it.raw, it.pos, it.seen_len, None, None) for it in page.items]
    elif state.type == "zset":
        first, length, pairs = await _zset_window(client, state, start, count, now_ms)
        rows = [(m, first + i, length, s, None) for i, (m, s) in enumerate(pairs)]
    elif state.type in ("hash", "set"):
        first, length, found = await _scan_window(client, state, start, count, queue)
        rows = [(m, first + i, length, None, v) for i, (m, v) in enumerate(found)]
    else:
        return Page(state.key, 0, 0, ())
    bodies = [v if v is not None else m for m, _, _, _, v in rows]
    # A page is read at every poll: bodies over BIG_ITEM are not read whole for it.
    fields = await describe_many(client, state, bodies, unpickle, bound=BIG_ITEM) \
        if rows else []
    items = tuple(StateItem(m, pos, seen, score, value, tuple(f))
                  for (m, pos, seen, score, value), f in zip(rows, fields))
    return Page(state.key, first, length, items)


def when_text(state: StateKey, item: StateItem, now_ms: int) -> str:
    """An item's time as the operator reads it: "in 4m10s" (due), "3m ago" (happened),
    "exp 2d" (RQ's registries keep entries until then), a priority, or the age its body
    records; "-" when none is known."""
    if item.score is not None and state.unit is not None:
        t = score_ms(item.score, state.unit)
        if t is None:  # a priority
            score = int(item.score)
            return f"p {score >> 32 if state.label == 'prioritized' else score:,}"
        if state.means is Means.DUE:
            return f"in {fmt.duration(t - now_ms)}" if t > now_ms else \
                f"due {fmt.duration(now_ms - t)}"
        if state.means is Means.DEADLINE:
            return f"dl {fmt.duration(t - now_ms)}" if t > now_ms else \
                f"past {fmt.duration(now_ms - t)}"
        if state.means is Means.EXPIRES:
            return f"exp {fmt.duration(max(t - now_ms, 0))}"
        return f"{fmt.duration(max(now_ms - t, 0))} ago"
    if item.score is not None:
        return f"{item.score:g}"
    body = state.body
    if body.time_field:
        t = time_ms(dict(item.fields).get(body.time_field), body.time_format)
        if t is not None and state.means is Means.DUE:  # Celery's ETA
            return f"in {fmt.duration(t - now_ms)}" if t > now_ms else \
                f"due {fmt.duration(now_ms - t)}"
        if t is not None and 0 < t <= now_ms + 86_400_000:
            return f"{fmt.duration(max(now_ms - t, 0))} ago"
    return "-"


def unit_text(state: StateKey) -> str:
    """What a state key is, for the item view's title: 'zset, due times (s)'."""
    if state.type != "zset":
        order = {"head": "head next", "tail": "tail next"}.get(state.next_end, "")
        if state.type in ("hash", "set"):
            order = "scan order"
        return f"{state.type}, {order}" if order else state.type
    whats = {Means.DUE: "due times", Means.DEADLINE: "deadlines", Means.EXPIRES: "expiry times",
             Means.AT: "times", Means.PRIORITY: "priorities"}
    what = whats[state.means] if state.means is not None else "scores"
    units = {Unit.MS: " (ms)", Unit.S: " (s)", Unit.BULLMQ: " (ms·4096)"}
    unit = units.get(state.unit, "") if state.unit is not None else ""
    window = {"due": ", due now", "future": ", not yet due",
              "overdue": ", due but not taken"}.get(state.window or "", "")
    return f"zset, {what}{unit}{window}"
