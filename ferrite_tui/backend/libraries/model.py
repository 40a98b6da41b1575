"""One queue model for every layout: a queue is a set of states, each backed by a key.

A state key says what kind of key it is (list, zset, hash, set, stream), which end holds the
next item, what its scores mean and in which unit, and where an item's body is found when the
key holds only ids. Library recognisers (one module per library) build these; the poll counts
them; the inspector and the actions read bodies through `Body`.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, NamedTuple


class State(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "in_progress"
    SCHEDULED = "scheduled"
    FAILED = "failed"
    DONE = "done"


class Unit(enum.StrEnum):
    """How a sorted-set score encodes its value."""

    MS = "ms"  # unix milliseconds
    S = "s"  # unix seconds (maybe fractional)
    BULLMQ = "ms4096"  # BullMQ delayed: due_ms * 4096 + counter
    PRIORITY = "priority"  # not a time
    # huey (utc=True, its default): time.mktime() of a naive UTC datetime, i.e. unix
    # seconds shifted by the UTC offset of the producer's time zone (`NAIVE_ZONE`).
    NAIVE_UTC_S = "s-naive-utc"


_MS, _S, _BULLMQ, _NAIVE = Unit.MS, Unit.S, Unit.BULLMQ, Unit.NAIVE_UTC_S

#: The time zone huey's hosts run in ([libraries] huey_timezone); None: the console's own
#: (time.mktime's). Set by discovery from the config.
NAIVE_ZONE: tzinfo | None = None


def _naive_utc_ms(score: float) -> int:
    """huey's mktime(naive UTC) back to unix ms: the wall time it read, taken as UTC."""
    local = datetime.fromtimestamp(score, NAIVE_ZONE) if NAIVE_ZONE is not None \
        else datetime.fromtimestamp(score)
    return int(local.replace(tzinfo=UTC).timestamp() * 1000)


def _naive_utc_score(ms: int) -> float:
    wall = datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)
    if NAIVE_ZONE is not None:
        return wall.replace(tzinfo=NAIVE_ZONE).timestamp()
    return time.mktime(wall.timetuple()) + wall.microsecond / 1e6


def score_ms(score: float, unit: Unit) -> int | None:
    """A score as unix milliseconds; None when the unit is not a time."""
    if unit is _MS:
        return int(score)
    if unit is _S:
        return int(score * 1000)
    if unit is _BULLMQ:
        return int(score) >> 12
    if unit is _NAIVE:
        try:
            return _naive_utc_ms(score)
        except (OverflowError, OSError, ValueError):  # a score no clock can read
            return None
    return None


def ms_score(ms: int, unit: Unit) -> float | None:
    """The inverse of `score_ms`, for score bounds ("due at or before now")."""
    if unit is _MS:
        return ms
    if unit is _S:
        return ms / 1000
    if unit is _BULLMQ:
        return (ms << 12) + 4095
    if unit is _NAIVE:
        return _naive_utc_score(ms)
    return None


class Means(enum.StrEnum):
    """What a sorted-set score is a time of."""

    DUE = "due"  # when the item becomes runnable
    DEADLINE = "deadline"  # when a worker's claim expires (RQ wip)
    EXPIRES = "expires"  # when the entry is cleaned away (RQ failed/finished)
    AT = "at"  # when it happened (enqueued, failed, finished)
    PRIORITY = "priority"


class Body(NamedTuple):
    """Where an item's body lives.

    `where`: "inline" (the member is the body), "key" (a key made from `template` with the
    member as `{id}`, of `key_type` string or hash), "field" (field `{id}` of hash `template`).
    `encoding`: json / pickle / zlib-pickle / rq (RQ's job hash) / raw. Pickles are never
    unpickled: the inspector shows their size and a safe summary.
    """

    where: str = "inline"
    template: str = ""
    key_type: str = "string"
    encoding: str = "json"
    # Where the body keeps the item's enqueue time (a hash field, or a JSON field of a
    # string/field body) and its format: "ms" (unix ms) or "iso" (RQ's UTC timestamps).
    time_field: str = ""
    time_format: str = "ms"

    def locate(self, member: str) -> tuple[str, str | None] | None:
        """(key, field) of `member`'s body, or None when the member is the body."""
        if self.where == "key":
            return self.template.replace("{id}", member), None
        if self.where == "field":
            return self.template, member
        return None


INLINE_JSON = Body()


class StateKey(NamedTuple):
    """One key backing one state of a queue. (Named tuples: discovery builds thousands.)"""

    state: State
    key: str
    # list / zset / hash / set / stream; "markers": `key` is a template of one key per due
    # member ({id}) whose existence marks it in progress (arq); "strings": `key` names the
    # queue's `string_keys` (a pattern), counted by what their values say (`body.encoding`)
    type: str
    label: str = ""  # the library's own word (wip, deferred, prioritized, ...)
    next_end: str = "head"  # list: head / tail; zset: low / high
    unit: Unit | None = None
    means: Means | None = None
    # A zset of due times holding both runnable and future items (arq, saq): "due" counts
    # the members due by now, "future" the others.
    window: str | None = None
    body: Body = INLINE_JSON
    shared: bool = False  # one key for every queue of the library (Celery's unacked)
    # A hash of bodies shared by several states or queues (Celery's `unacked`, huey's
    # results): only the values the selector `SELECTORS[select]` matches belong here,
    # counted from one bounded HSCAN.
    select: str = ""
    # A list whose items are all due at one time, unix ms (taskiq's per-minute lists).
    at_ms: int | None = None

    @property
    def name(self) -> str:
        return self.label or self.state.value


class Selector(NamedTuple):
    """Which values of a shared hash belong to one state of one queue.

    `match(value, queue_name)`: None when the value is not this state's, else the item's
    due time in unix ms (None inside: no time), e.g. `(None,)`. `index_key`: a zset of the
    hash's fields scored by delivery time (s), read for the visibility-timeout alert."""

    match: Callable[[bytes, str], tuple[int | None] | None]
    index_key: str = ""


#: Selectors by name, registered by the library modules that declare them.
SELECTORS: dict[str, Selector] = {}


_new_tuple = tuple.__new__


def state_key(state: State, key: str, type_: str, label: str = "", next_end: str = "head",
              unit: Unit | None = None, means: Means | None = None, window: str | None = None,
              body: Body = INLINE_JSON, shared: bool = False, select: str = "",
              at_ms: int | None = None) -> StateKey:
    """A StateKey, built without the named tuple's keyword handling: recognisers make
    thousands per discovery."""
    return _new_tuple(StateKey, (state, key, type_, label, next_end, unit, means, window,
                                 body, shared, select, at_ms))


class Act(NamedTuple):
    """One action a layout offers, declared with the layout: the console reaches only these.

    `action`: requeue / run_now / delete / set_priority, or a queue-wide
    action of `plans.ACTIONS` (rq-requeue-failed, ...). `states`: the state labels it
    applies to ("*": queue-wide). `equivalent`: the library's own operation it performs
    (the docs table and the confirmation name it). `where`: those states in words, for the
    refusal on another state."""

    action: str
    states: tuple[str, ...]
    equivalent: str
    where: str = ""


#: Console action -> the word a refusal uses for it.
ACTION_WORDS = {"requeue": "requeue", "run_now": "run now", "delete": "delete",
                "set_priority": "change priority"}


@dataclass(frozen=True, slots=True)
class LibraryQueue:
    """One logical queue of a queue library and every key of its layout."""

    library: str
    name: str
    states: tuple[StateKey, ...]
    needs_lua: bool = False
    read_only: str | None = None  # why the console does not act on it, if it does not
    visibility_timeout_s: float | None = None  # Celery: unacked past this is stuck
    # Workers' heartbeats (a zset of worker ids scored by last beat, ms) and how long a
    # silent worker counts as dead: dramatiq requeues a dead worker's messages itself.
    heartbeats: str | None = None
    heartbeat_timeout_ms: int = 60_000
    # (acks key, worker id) of the workers holding this queue's messages: only these can
    # be its dead workers (a producer beats too, and holds nothing).
    workers: tuple[tuple[str, str], ...] = ()
    # What the console may do, and why not for the rest (action -> reason naming the
    # library's own command); an action neither declared nor refused here is refused with
    # `own_command`.
    actions: tuple[Act, ...] = ()
    refusals: tuple[tuple[str, str], ...] = ()
    own_command: str = ""
    # A priority zset whose score is minus the priority (huey: ZADD -priority, ZPOPMIN):
    # shown, ordered and edited by the priority, stored negated.
    priority_sign: int = 1
    # A "strings" state's keys (arq's results, saq's finished jobs: one string per job, no
    # index of them), as the last scan found them; the poll reads them (bounded).
    string_keys: tuple[str, ...] = ()
    # (hash, field) set while the library's queue is paused (BullMQ's meta `paused`).
    paused_flag: tuple[str, str] | None = None
    # (list of active ids, lock key template with {id}): an active job whose lock is gone
    # is stalled (BullMQ's stalled check moves it back, if a worker runs the check),
    # counted in the poll's second round trip among the first 1,000.
    stalled: tuple[str, str] | None = None
    # Every key of the layout, computed once (discovery and the poll ask for them often).
    keys: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", tuple(dict.fromkeys(
            s.key for s in self.states if s.type not in ("markers", "strings"))))

    def of(self, state: State) -> tuple[StateKey, ...]:
        return tuple(s for s in self.states if s.state is state)

    def declared(self, action: str, state: str | None = "*") -> Act | None:
        """The declaration of `action` on the state labelled `state` (None: on any of its
        states), if the layout has it."""
        for act in self.actions:
            if act.action == action and (state is None or state in act.states
                                         or "*" in act.states):
                return act
        return None

    def refusal(self, action: str, state: str | None = "*") -> str | None:
        """Why `action` is not done on `state` (None: it is declared there). Names the
        library's own command."""
        if self.declared(action, state) is not None:
            return None
        reason = dict(self.refusals).get(action)
        if reason:
            return reason
        if self.read_only:
            return self.read_only
        word = ACTION_WORDS.get(action, action)
        elsewhere = next((a for a in self.actions if a.action == action), None)
        if elsewhere is not None:
            where = elsewhere.where or ", ".join(elsewhere.states)
            return f"{self.library}: {word} applies to {where} (s: state)"
        own = f"; use {self.own_command}" if self.own_command else ""
        return f"{self.library}: no {word} here{own}"

    @property
    def pending(self) -> StateKey:
        """The first pending key (a layout with none, taskiq's schedule: its first key)."""
        first = self.states[0]
        if first.state is State.PENDING:
            return first
        return next((s for s in self.states if s.state is State.PENDING), first)


class StateCount(NamedTuple):
    """What one poll counted in one state key."""

    state: State
    key: str
    label: str
    size: int | None  # None: could not be read (error) - shown as "?"
    next_at_ms: int | None = None  # due time of the earliest item (scheduled states)
    past: int | None = None  # items past their deadline / due time
    shared: bool = False


@dataclass(frozen=True, slots=True)
class Recognised:
    """What one recogniser found: queues, and every key it claims (queues' keys and their
    noise: results, events, markers), so none of them shows as a generic queue."""

    queues: tuple[LibraryQueue, ...] = ()
    claimed: frozenset[str] = frozenset()


def state_totals(counts: tuple[StateCount, ...] | list[StateCount]) -> dict[State, int | None]:
    """Each state's total over its keys, in the model's order; None ("?") when any of its
    keys could not be read. The one place the console and `status` add states up."""
    totals: dict[State, int | None] = {}
    for c in counts:
        prev = totals.get(c.state, 0)
        totals[c.state] = None if prev is None or c.size is None else prev + c.size
    return totals


#: A library state's role in the headline totals (`Snapshot.totals`'s categories).
TOTAL_OF_STATE = {State.PENDING: "waiting", State.ACTIVE: "in_progress",
                  State.SCHEDULED: "scheduled", State.FAILED: "dead"}


def add_to_totals(out: dict[str, int], counts: tuple[StateCount, ...],
                  shared_seen: set[str]) -> None:
    """Add a library queue's states to the headline totals by role: pending -> waiting,
    in progress, scheduled (its items already due -> overdue), failed -> dead; done is not
    a total. A key every queue shares (Celery's unacked) is counted once (`shared_seen`);
    an unread count ("?") adds nothing."""
    for c in counts:
        total = TOTAL_OF_STATE.get(c.state)
        if total is None or c.size is None:
            continue
        if c.shared:
            if c.key in shared_seen:
                continue
            shared_seen.add(c.key)
        if c.state is State.SCHEDULED and c.past:
            out["overdue"] += min(c.past, c.size)
            out[total] += max(c.size - c.past, 0)
        else:
            out[total] += c.size


def time_ms(value: Any, fmt: str) -> int | None:
    """A library's time field in ms: an ISO-8601 text (naive: UTC) or a number."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    try:
        if fmt == "iso":
            text = str(value).replace("Z", "+00:00")
            stamp = datetime.fromisoformat(text)
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=UTC)
            return int(stamp.timestamp() * 1000)
        return int(float(value))
    except (TypeError, ValueError):
        return None
