"""What one poll asks about a library queue, and what it makes of the replies.

Every state key costs one to three commands in the poll's single pipeline (a count, and
for time-scored sorted sets the earliest member and a count past now/deadline), so the
round trips stay fixed. Score bounds are inclusive (Ferrite rejects '(').
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ferrite_tui.backend import boundedjson
from ferrite_tui.backend.envelopes import key_text
from ferrite_tui.backend.libraries import STRING_MATCHERS
from ferrite_tui.backend.libraries.model import (
    SELECTORS,
    Body,
    LibraryQueue,
    Means,
    State,
    StateCount,
    StateKey,
    Unit,
    ms_score,
    score_ms,
    time_ms,
)

_COUNT = {"list": "LLEN", "set": "SCARD", "hash": "HLEN", "stream": "XLEN", "zset": "ZCARD"}


# Enum members as module constants: the poll reads thousands of state keys per tick (an
# enum member looked up on its class goes through a descriptor each time).
_DUE, _DEADLINE, _AT = Means.DUE, Means.DEADLINE, Means.AT
_PENDING, _ACTIVE, _FAILED = State.PENDING, State.ACTIVE, State.FAILED


def _timed_list(s: StateKey) -> bool:
    """A pending list of ids whose bodies carry the enqueue time: its next item's body is
    read in the poll's second round trip for the age."""
    return (s.type == "list" and s.state is _PENDING and s.body.where != "inline"
            and bool(s.body.time_field))


#: A selected state (see `StateKey.select`) counts the values of at most this many fields.
SELECT_CAP = 1000


def shared_reads(commands: list[tuple]) -> tuple[list[tuple], list[int] | None]:
    """The pipeline with each selected state's HSCAN of a shared hash sent once (every
    Celery queue scans the same `unacked` twice), and where each command's reply is in it
    (None: nothing shared, send as is)."""
    first: dict[tuple, int] = {}
    unique: list[tuple] = []
    where: list[int] = []
    shared = False
    for command in commands:
        if command[0] == "HSCAN":
            at = first.get(command)
            if at is not None:
                where.append(at)
                shared = True
                continue
            first[command] = len(unique)
        where.append(len(unique))
        unique.append(command)
    return (unique, where) if shared else (commands, None)


def _select_ops(s: StateKey, now_ms: int, visibility_timeout_s: float | None) -> list[tuple]:
    """One HSCAN reads the shared hash whole (a bigger one is not counted); the index of
    delivery times, when the state alerts on a visibility timeout."""
    ops: list[tuple] = [("HSCAN", s.key, 0, "COUNT", SELECT_CAP)]
    index = SELECTORS[s.select].index_key
    if index and s.state is _ACTIVE and visibility_timeout_s is not None:
        ops.append(("ZRANGEBYSCORE", index, "-inf",
                    (now_ms - int(visibility_timeout_s * 1000)) / 1000,
                    "LIMIT", 0, SELECT_CAP))
    return ops


def _ops(s: StateKey, now_ms: int, visibility_timeout_s: float | None) -> list[tuple]:
    if s.select:
        return _select_ops(s, now_ms, visibility_timeout_s)
    ops: list[tuple] = [(_COUNT[s.type], s.key)]
    if s.type != "zset" or s.unit is None:
        if _timed_list(s):
            ops.append(("LINDEX", s.key, 0 if s.next_end == "head" else -1))
        return ops
    means = s.means
    if means is _DUE:
        # "overdue" (saq): members scored 0 are taken already; the rest due by now are not.
        low = 1 if s.window == "overdue" else "-inf"
        ops.append(("ZCOUNT", s.key, low, ms_score(now_ms, s.unit)))
        ops.append(("ZRANGEBYSCORE", s.key, low, "+inf", "WITHSCORES", "LIMIT", 0, 1))
    elif means is _DEADLINE:
        ops.append(("ZCOUNT", s.key, "-inf", ms_score(now_ms, s.unit)))
    elif means is _AT and visibility_timeout_s is not None and s.state is _ACTIVE:
        ops.append(("ZCOUNT", s.key, "-inf", ms_score(now_ms - int(visibility_timeout_s * 1000),
                                                      s.unit)))
    return ops


def _op_count(s: StateKey, visibility_timeout_s: float | None) -> int:
    """How many commands `_ops` sends for `s` (without building them)."""
    if s.select:
        return len(_select_ops(s, 0, visibility_timeout_s))
    if s.type != "zset" or s.unit is None:
        return 2 if _timed_list(s) else 1
    means = s.means
    if means is _DUE:
        return 3
    if means is _DEADLINE or (means is _AT and visibility_timeout_s is not None
                              and s.state is _ACTIVE):
        return 2
    return 1


#: Markers (arq's in-progress keys) are counted among at most this many due members.
MARKER_CAP = 1000
MARKERS = Body("markers")  # a probe that counts markers (EXISTS k1 k2 ...), not an age


def commands(q: LibraryQueue, now_ms: int) -> list[tuple]:
    """Every command for `q`, in the order `read` expects their replies."""
    out: list[tuple] = []
    for s in q.states:
        if s.type == "strings":
            if q.string_keys:
                out.append(("MGET", *q.string_keys))
            continue
        if s.type == "markers":  # the due members whose marker round trip 2 counts
            pending = q.pending
            out.append(("ZRANGEBYSCORE", pending.key, "-inf", ms_score(now_ms, pending.unit
                                                                        or Unit.MS),
                        "LIMIT", 0, MARKER_CAP + 1))
            continue
        out += _ops(s, now_ms, q.visibility_timeout_s)
    if q.heartbeats:  # the processes silent for longer than the timeout
        out.append(("ZRANGEBYSCORE", q.heartbeats, "-inf", now_ms - q.heartbeat_timeout_ms,
                    "LIMIT", 0, MARKER_CAP))
    if q.paused_flag:
        out.append(("HEXISTS", *q.paused_flag))
    if q.stalled:
        out.append(("LRANGE", q.stalled[0], 0, MARKER_CAP - 1))
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
    # The next pending items' bodies to read for their enqueue time: (command, body).
    probes: tuple[tuple[tuple, Body], ...] = ()


def _int(v: Any) -> int | None:
    return v if v.__class__ is int else None


def read(q: LibraryQueue, replies: list[Any], now_ms: int, overdue_s: float,
         lua: bool | None) -> Figures:
    """Turn the replies of `commands(q, now)` into figures. An error reply makes that
    state's count "?" (None), never 0."""
    counts: list[StateCount] = []
    alerts: list[str] = []
    errors: list[str] = []
    oldest: int | None = None
    pending = active = failed = None
    probes: list[tuple[tuple, Body]] = []
    i = 0
    vt = q.visibility_timeout_s
    for s in q.states:
        means = s.means
        state = s.state
        if s.type == "strings":
            past = next_at = None
            count, error = _count_strings(q, s, replies[i] if q.string_keys else [])
            i += 1 if q.string_keys else 0
            if error:
                errors.append(error)
            counts.append(StateCount(state, s.key, s.name, count, None, None, s.shared))
            if count is not None and state is _FAILED:
                failed = (failed or 0) + count
            continue
        first = replies[i]
        if s.select:
            n = _op_count(s, vt)
            count, next_at, past, alert, error = _read_selected(
                s, q.name, replies[i:i + n], now_ms, overdue_s, vt)
            i += n
            if alert:
                alerts.append(alert)
            if error:
                errors.append(error)
        elif s.type == "markers":
            i += 1
            count = past = next_at = None
            if isinstance(first, list) and len(first) <= MARKER_CAP:
                if first:  # counted by the probe in round trip 2 (see `probed`)
                    probes.append((("EXISTS", *(s.key.replace("{id}", key_text(m))
                                                for m in first)), MARKERS))
                else:
                    count = 0
            elif isinstance(first, list):
                errors.append(f"{s.name}: more than {MARKER_CAP:,} due jobs, not counted")
            elif isinstance(first, Exception):
                errors.append(f"{s.name}: {str(first).splitlines()[0] if str(first) else 'error'}")
        elif s.type != "zset" or s.unit is None:
            i += 1
            count = past = next_at = None
            if first.__class__ is int:
                count = first
                if s.at_ms is not None and count:  # all due at one time (taskiq)
                    next_at = s.at_ms
                    if s.at_ms <= now_ms:
                        past = count
                        if now_ms - s.at_ms >= overdue_s * 1000:
                            alerts.append(f"{count} overdue")
            elif isinstance(first, Exception):
                errors.append(f"{s.key}: {str(first).splitlines()[0] if str(first) else 'error'}")
            if _timed_list(s):
                head = replies[i]
                i += 1
                if head.__class__ is bytes:
                    probes.append((_probe(s.body, head), s.body))
        else:
            n = _op_count(s, vt)
            got = replies[i:i + n]
            i += n
            for r in got:
                if isinstance(r, Exception):
                    errors.append(f"{s.key}: {str(r).splitlines()[0] if str(r) else 'error'}")
            count = _int(got[0])
            past = _int(got[1]) if n > 1 else None
            next_at = None
            if n > 2 and isinstance(got[2], list) and got[2]:
                next_at = score_ms(float(got[2][1]), s.unit)
            window = s.window
            if window == "due" or window == "overdue":
                count = past
            elif window == "future":
                count = None if count is None or past is None else count - past
                next_at = None  # the earliest member may be one of the due ones
                past = None  # its members are all in the future
            if means is _DUE:
                if next_at is not None and next_at <= now_ms:
                    if window == "due" or state is _PENDING:
                        oldest = max(oldest or 0, now_ms - next_at)
                    elif past and now_ms - next_at >= overdue_s * 1000:
                        alerts.append(f"{past} due but not taken — is a worker running?"
                                      if window == "overdue" else f"{past} overdue")
            elif means is _DEADLINE:
                if past:
                    alerts.append(f"{past} past deadline")
            elif means is _AT and n > 1:
                if past:
                    alerts.append(f"{past} unacked > {vt:g}s")
            else:
                past = None
        counts.append(StateCount(state, s.key, s.name, count, next_at, past, s.shared))
        if count is not None:
            if state is _PENDING:
                if not s.shared:  # a key other queues share (RQ's rate limits): the totals
                    pending = (pending or 0) + count
            elif state is _ACTIVE:
                if not s.shared:
                    active = (active or 0) + count
            elif state is _FAILED:
                failed = (failed or 0) + count

    if q.heartbeats:
        silent = replies[i] if i < len(replies) else None
        i += 1
        holding = {key_text(w) if isinstance(w, bytes) else w
                   for w in silent} if isinstance(silent, list) else set()
        sizes = {c.key: c.size for c in counts}
        dead = len({worker for key, worker in q.workers
                    if worker in holding and sizes.get(key)})
        if dead:
            alerts.append(f"{dead} dead worker{'s' if dead > 1 else ''}")
    if q.paused_flag:
        if i < len(replies) and replies[i] == 1:
            alerts.append(f"paused ({q.library}'s Queue.pause: workers take nothing)")
        i += 1
    if q.stalled:
        marked = replies[i] if i < len(replies) else None
        i += 1
        if isinstance(marked, list) and marked:  # their locks, in round trip 2
            probes.append((("EXISTS", *(q.stalled[1].replace("{id}", key_text(m))
                                        for m in marked)), Body("stalled", str(len(marked)))))
    if q.needs_lua and lua is False:
        alerts.append(f"{q.library} needs Lua; this server has none")
    return Figures(tuple(counts), pending or 0, active, failed, oldest, tuple(alerts),
                   tuple(errors), tuple(probes))


def _count_strings(q: LibraryQueue, s: StateKey, reply: Any) -> tuple[int | None, str | None]:
    """How many of `q.string_keys`' values (one MGET) are in state `s`, by the library's
    own reading of them (`STRING_MATCHERS`); a key gone since the scan is not counted."""
    if isinstance(reply, Exception):
        return None, f"{s.name}: {str(reply).splitlines()[0] if str(reply) else 'error'}"
    if not isinstance(reply, list):
        return None, None
    matches = STRING_MATCHERS[s.body.encoding]
    return sum(1 for v in reply if v.__class__ is bytes and matches(q, v)), None


def _read_selected(s: StateKey, queue: str, got: list[Any], now_ms: int, overdue_s: float,
                   vt: float | None) -> tuple[int | None, int | None, int | None,
                                              str | None, str | None]:
    """(count, next due, past due, alert, error) of a selected state from its HSCAN (and
    the index of delivery times)."""
    scan = got[0]
    if isinstance(scan, Exception):
        first_line = str(scan).splitlines()[0] if str(scan) else "error"
        return None, None, None, None, f"{s.key}: {first_line}"
    if not (isinstance(scan, list) and len(scan) == 2 and isinstance(scan[1], list)):
        return None, None, None, None, f"{s.key}: unexpected reply"
    cursor, flat = scan
    if cursor not in (b"0", 0, "0"):
        return (None, None, None, None,
                f"{s.name}: more than {SELECT_CAP:,} entries in {s.key}, not counted")
    match = SELECTORS[s.select].match
    count = 0
    due: list[int] = []
    fields: set[bytes] = set()
    for field_, value in zip(flat[::2], flat[1::2]):
        found = match(value, queue) if isinstance(value, bytes) else None
        if found is None:
            continue
        count += 1
        fields.add(field_)
        if found[0] is not None:
            due.append(found[0])
    next_at = min(due) if due else None
    past = sum(1 for t in due if t <= now_ms) if s.means is _DUE else None
    alert = None
    if past and next_at is not None and now_ms - next_at >= overdue_s * 1000:
        alert = f"{past} overdue"
    if len(got) > 1 and isinstance(got[1], list):
        stuck = len(fields.intersection(got[1]))
        past = stuck
        if stuck:
            alert = f"{stuck} unacked > {vt:g}s"
    return count, next_at, past, alert, None


def probed(fig: Figures, body: Body, reply: Any, now_ms: int) -> tuple[Figures, int | None]:
    """A round-trip-2 reply for `fig`: the figures it completes, and an item's age (body
    time probes). A marker count (arq) becomes the in-progress count, and those jobs leave
    the pending depth (they are still members of the due set)."""
    if body.where == "stalled":  # active without its worker's lock: stalled
        if reply.__class__ is not int:
            return fig, None
        stalled = int(body.template) - reply
        if stalled <= 0:
            return fig, None
        return replace(fig, alerts=(*fig.alerts, f"{stalled} stalled (active, no "
                                    "worker's lock: is a worker running?)")), None
    if body is not MARKERS:
        return fig, probe_age(body, reply, now_ms)
    if reply.__class__ is not int:
        return fig, None
    states = tuple(c._replace(size=reply) if c.state is _ACTIVE and c.size is None
                   and c.label == "in progress" else c for c in fig.states)
    return replace(fig, states=states, depth=max(fig.depth - reply, 0),
                   processing=(fig.processing or 0) + reply), None


def _probe(body: Body, member: bytes) -> tuple:
    text = member.decode("utf-8", "surrogateescape")
    if body.where == "field":
        return ("HGET", body.template, text)
    key = body.template.replace("{id}", text)
    if body.key_type == "hash":
        return ("HGET", key, body.time_field)
    return ("GET", key)


def probe_age(body: Body, reply: Any, now_ms: int) -> int | None:
    """The age of an item from its body's enqueue time; None if unknown or implausible."""
    if not isinstance(reply, bytes):
        return None
    value: Any = reply
    if body.where == "field" or body.key_type != "hash":
        try:
            doc = boundedjson.loads(reply)
        except ValueError:
            return None
        value = doc.get(body.time_field) if isinstance(doc, dict) else None
    t = time_ms(value, body.time_format)
    if t is None or t <= 0 or t > now_ms + 86_400_000:
        return None
    return max(now_ms - t, 0)


def time_probe(body: Body, member: bytes) -> tuple:
    """The command that reads the time `body.time_field` of `member`'s body (the backfill
    reads the times of many members this way; `probe_age` reads its reply)."""
    return _probe(body, member)
