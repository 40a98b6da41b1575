"""Delayed queues: a sorted set of jobs scored by due time (`NAME:scheduled`) and the list
they are promoted to when due (`NAME:ready`).

Recognised: a sorted set named with the scheduled suffix (its ready list beside it), or a
ready list of a `queue:` name whose scheduled set is empty right now. Read: ZCARD, ZCOUNT
up to now (overdue), the earliest member, the due times coming up before the next poll, and
the ready list as a list followed by its ends. Out = promotions (arrivals on the ready
list, else counted from due times); in = out + change in depth. Also a sorted set judged by
its scores (see evidence.py) to hold due times, under a name of its own (no ready list);
due times in epoch seconds (`score_unit`, judged or declared) are asked and read as ms.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, NamedTuple

from ferrite_tui.backend.envelopes import decode
from ferrite_tui.backend.kinds.alerts import depth_alert, stale_processing
from ferrite_tui.backend.kinds.base import (
    BIG_END,
    NOTE_WARMUP,
    Action,
    AlertFigures,
    Candidates,
    Flows,
    KindLayout,
    PollContext,
    set_depth,
    strip,
)
from ferrite_tui.backend.kinds.listends import ListRead
from ferrite_tui.backend.kinds.sortedsets import SortedSetReader, SortedTally
from ferrite_tui.backend.models import QueueKind, QueueRef, QueueStats
from ferrite_tui.config import AlertConfig, DiscoveryConfig, QueueDecl

# Members of a delayed set coming due before the next poll whose due times are read, so
# the next poll knows how many of the members it saw became due (see due_arrivals).
DUE_READ = 1000
DUE_AHEAD_MS = 2000  # at least this far ahead, else three poll intervals
#: Polls over which a rising overdue count means "the scheduler is not keeping up".
GROWING_SAMPLES = 5
NOTE_NO_READY = "no ready list: promotions cannot be counted"
NOTE_DUE = ("counted from due times: jobs scheduled less than a poll ahead and promoted "
            "before the next poll are not seen")


def overdue_growing(values: list[float]) -> bool:
    """The last samples never fall and end higher than they started (and above zero)."""
    recent = values[-GROWING_SAMPLES:]
    if len(recent) < GROWING_SAMPLES or recent[-1] <= 0 or recent[-1] <= recent[0]:
        return False
    return all(b >= a for a, b in itertools.pairwise(recent))


class DueMemory(NamedTuple):
    """A delayed set at the last poll: when, how many members were not yet due, and the
    due times of those coming due soonest (up to `until`; `cut`: more were there)."""

    now_ms: int
    future: int
    due: list[float]
    until: int
    cut: bool


@dataclass(slots=True)
class DelayedTally(SortedTally):
    ready_list: ListRead | None = None
    overdue: int | None = None
    coming: list[float] | None = None  # due times just after now (bounded)
    coming_until: int = 0
    earliest_due: int | None = None  # the earliest member's due time


def _overdue(t: DelayedTally, v: Any, now_ms: int) -> None:
    t.overdue = v


def _ms_per_score(t: DelayedTally) -> int:
    """Due times in epoch seconds (found by evidence or declared) are read back as ms."""
    return 1000 if t.ref.score_unit == "s" else 1


def _coming(t: DelayedTally, v: Any, now_ms: int) -> None:
    scale = _ms_per_score(t)
    t.coming = [float(score) * scale for score in v[1::2]]


def _earliest(t: DelayedTally, v: Any, now_ms: int) -> None:
    t.big_member = bool(v) and len(v[0]) > BIG_END
    if v:
        due = t.earliest_due = int(float(v[1]) * _ms_per_score(t))
        if due <= now_ms:
            t.oldest_ms = now_ms - due


class DelayedReader(SortedSetReader):
    tally_type = DelayedTally
    second_round = True  # a ready list whose ends moved is followed in round trip 2

    def __init__(self, poll: PollContext, layout: KindLayout | None) -> None:
        super().__init__(poll, layout)
        self.due: dict[str, DueMemory] = {}  # delayed set -> its last poll

    def memories(self) -> Any:
        return super().memories()._replace(
            restart=(self.due, self.big_members), failover=(self.due,),
            rescan=(self.due, self.big_members))

    def tally(self, ref: QueueRef) -> Any:
        t = DelayedTally(ref, self)
        if ref.ready_key:
            t.ready_list = ListRead(t.errors, key=ref.ready_key)
        return t

    def oldest_time(self, t: Any, now_ms: int) -> int | None:
        return t.earliest_due

    def commands(self, t: Any, commands: list, appliers: list, now_ms: int) -> None:
        key = t.ref.key
        # Inclusive bounds only: Ferrite rejects '(' and ZRANGE BYSCORE. Due times in
        # epoch seconds are asked in seconds (and read back as ms: _coming, _earliest).
        per = _ms_per_score(t)
        commands += [("ZCARD", key), ("ZCOUNT", key, "-inf", now_ms // per)]
        appliers += (t, set_depth, t, _overdue)
        big = self.carried(key)
        if big is not None:  # the earliest member is big: not again
            t.members_carried = big
        else:
            commands.append(("ZRANGEBYSCORE", key, "-inf", "+inf", "WITHSCORES",
                             "LIMIT", 0, 1))
            appliers += (t, _earliest)
        due = self.due.get(key)
        if due is None or due.future:  # nothing was due later: read again once it is
            t.coming_until = now_ms + max(DUE_AHEAD_MS, int(3000 * self.poll.interval_s))
            commands.append(("ZRANGEBYSCORE", key, now_ms // per, t.coming_until // per,
                             "WITHSCORES",
                             "LIMIT", 0, DUE_READ))
            appliers += (t, _coming)
        if t.ready_list is not None:
            # A ready list is usually empty: its ends are only followed once it is not.
            self.poll.lists.commands(commands, appliers, t.ready_list, t.ref.ready_key,
                                     self.poll.lpos, ends_if_empty=False)

    def second(self, t: Any, commands: list, appliers: list, now_ms: int) -> None:
        if t.ready_list is not None:
            self.poll.lists.second(commands, appliers, t.ready_list, t.ref.ready_key)

    def finish(self, t: Any, mono: float, now_ms: int) -> QueueStats:
        ref = t.ref
        ident = ref.ident
        poll = self.poll
        history = poll.history
        if ref.library is None:
            self.carry_big_members(t, now_ms)
        net = poll.depth_rate(t, mono)
        overdue = history.series(ident, "overdue")
        if t.overdue is not None:
            overdue.add(mono, t.overdue)
        growing = overdue_growing(overdue.values(GROWING_SAMPLES))
        scheduled = history.series(ident, "scheduled")
        depth_prev = scheduled.last()
        scheduled.add(mono, t.depth)
        grew = t.depth - int(depth_prev[1]) if depth_prev is not None else None
        # Promotions: arrivals on the ready list (exact while it keeps a backlog), else
        # from due times: arrivals not yet due are all still there, so those plus the
        # members that came due, less the change in size, left.
        promoted: int | None = None
        exact = False
        note: str | None = NOTE_NO_READY
        ready = None
        if t.ready_list is not None:
            ready = t.ready_list.depth
            moves = poll.lists.follow(ref.ready_key or "", t.ready_list, poll.lpos, now_ms)
            promoted = moves.arrivals if moves else None
            exact = moves.exact if moves else False
            note = moves.note if moves else NOTE_WARMUP
        due_in = self.due_arrivals(t, now_ms)
        if not exact and due_in is not None and grew is not None \
                and due_in - grew >= max(promoted or 0, 0):
            promoted, note = due_in - grew, NOTE_DUE
        arrivals = None
        if promoted is not None and grew is not None:
            arrivals = promoted + grew
            if arrivals < 0:
                arrivals, exact = None, False
        out_rate, out_exact = poll.flow(ident, "out", promoted, exact, mono)
        in_rate, in_exact = poll.flow(ident, "in", arrivals, exact, mono)
        return poll.stats(t, net, Flows(in_rate, in_exact, out_rate, out_exact, note,
                                        overdue_growing=growing, ready=ready,
                                        overdue=t.overdue))

    def due_arrivals(self, t: DelayedTally, now_ms: int) -> int | None:
        """Members added to a delayed set since the last poll that are not yet due: the
        members not yet due now, less those of the last poll still not due. Arrivals due
        before now may have been promoted already: the count is a lower bound."""
        key = t.ref.key
        prev = self.due.get(key)
        if t.overdue is None:
            self.due.pop(key, None)
            return None
        future = t.depth - t.overdue
        # Not read (nothing was due later at the last poll): the next poll counts none of
        # this poll's members as come due, a lower bound as ever.
        coming = [s for s in t.coming if s > now_ms] if t.coming else []
        self.due[key] = DueMemory(now_ms, future, coming, t.coming_until,
                                   t.coming is None or len(t.coming) >= DUE_READ)
        if prev is None:
            return None
        # Of the last poll's members not yet due then, these are due now (a lower bound
        # when its read was cut or did not reach now: arrivals stay a lower bound).
        came_due = sum(1 for s in prev.due if s <= now_ms) if prev.due else 0
        arrivals = future - (prev.future - came_due)
        return arrivals if arrivals >= 0 else None


def alerts(a: AlertFigures, cfg: AlertConfig) -> list[str]:
    out = depth_alert(a, cfg)
    if a.oldest_ms is not None and a.oldest_ms >= cfg.overdue_seconds * 1000:
        out.append(f"{a.flows.overdue} overdue")
    if a.flows.overdue_growing:
        out.append("overdue growing: scheduler stopped?")
    if a.flows.stale:
        out += stale_processing(a, cfg)
    return out


def recognise(c: Candidates) -> None:
    cfg = c.cfg
    for key in sorted(c.zsets):
        base = strip(key, cfg.scheduled_suffix)
        ev = c.evidence.get(key)
        unit = ev.unit if ev is not None and ev.kind is QueueKind.DELAYED else None
        if base is not None:
            ready = base + cfg.ready_suffix
            if c.types.get(ready, "list") == "list" and ready not in c.declared:
                c.lists.discard(ready)
                c.add(QueueRef(QueueKind.DELAYED, key, ready_key=ready, score_unit=unit,
                               evidence=ev.text if ev is not None and unit else None))
        elif ev is not None and unit is not None:
            # A set of due times under a name of its own: promoted by the team's own
            # code, so no ready list is assumed (run-now has nowhere known to go).
            c.add(QueueRef(QueueKind.DELAYED, key, score_unit=unit, evidence=ev.text))
            c.zsets.discard(key)
    # A ready list whose scheduled set is empty right now (so absent) is still delayed.
    for key in sorted(c.lists):
        base = strip(key, cfg.ready_suffix)
        if base is not None and base.startswith(cfg.reliable_prefix):
            scheduled = base + cfg.scheduled_suffix
            if scheduled not in c.types and scheduled not in c.claimed:
                c.add(QueueRef(QueueKind.DELAYED, scheduled, ready_key=key))
                c.lists.discard(key)


def declare(d: QueueDecl, cfg: DiscoveryConfig) -> QueueRef:
    base = strip(d.key, cfg.scheduled_suffix) or d.key
    unit = "s" if d.score_unit == "s" else None
    return QueueRef(QueueKind.DELAYED, d.key, ready_key=d.ready_key or base + cfg.ready_suffix,
                    declared=True, score_unit=unit)


LAYOUT = KindLayout(
    kind=QueueKind.DELAYED,
    recognised_by="a sorted set NAME:scheduled scored by due time, promoted to NAME:ready",
    recognise=recognise,
    declare=declare,
    reader=DelayedReader,
    alerts=alerts,
    decode=decode,
    actions=(
        Action("run_now", "Run now", "run the selected jobs now",
               "WATCH set; ZSCORE member (still the due time shown); MULTI; ZREM set member; "
               "RPUSH ready member; EXEC"),
        Action("run_overdue", "Run overdue", "run all overdue jobs",
               "WATCH set; ZRANGEBYSCORE set -inf cutoff LIMIT 0 n; MULTI; ZREM; RPUSH ready "
               "(in due order); EXEC, in chunks"),
        Action("postpone", "Postpone", "postpone the selected jobs",
               "WATCH set; ZSCORE member; MULTI; ZADD set XX due member; EXEC"),
        Action("set_due", "Due time", "set the due time",
               "WATCH set; ZSCORE member; MULTI; ZADD set XX due member; EXEC"),
        Action("cancel_job", "Cancel job", "cancel the selected jobs",
               "WATCH set; ZSCORE member; MULTI; ZREM set member; EXEC"),
        Action("new_job", "New job", "schedule a new job",
               'ZADD set NX due {"id","payload","scheduled_at"}'),
    ),
    panel="scheduled",
    color=(240, 210, 60),
)
