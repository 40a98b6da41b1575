"""Priority queues: a sorted set of job envelopes scored by priority (ZPOPMIN / ZPOPMAX).

Recognised: a sorted set whose top member is a job envelope (one ZREVRANGE per candidate at
discovery), or judged by its scores (evidence.py) to be priorities, and not scheduled by
name; kept while momentarily empty. Read: ZCARD, the top
member and a sample from the low end for the oldest job's age. Members carry no arrival
order: only the net change is known.
"""

from __future__ import annotations

from typing import Any

from ferrite_tui.backend.envelopes import decode
from ferrite_tui.backend.kinds.alerts import waiting_jobs
from ferrite_tui.backend.kinds.base import (
    BIG_END,
    Action,
    Candidates,
    Flows,
    KindLayout,
    PollContext,
    declared_ref,
    largest,
    set_depth,
    strip,
)
from ferrite_tui.backend.kinds.sortedsets import SortedSetReader, SortedTally
from ferrite_tui.backend.models import QueueKind, QueueRef, QueueStats

# Members sampled from the low end of a priority set for the oldest job's age.
PRIORITY_SAMPLE = 16
NOTE_PRIORITY = "sorted set by priority: only the net change is known"


def _top(t: SortedTally, v: Any, now_ms: int) -> None:
    t.oldest_ms = largest(t.oldest_ms, t.reader.poll.age(v[0], now_ms) if v else None)
    t.big_member = t.big_member or (bool(v) and len(v[0]) > BIG_END)


def _bottom(t: SortedTally, v: Any, now_ms: int) -> None:
    age = t.reader.poll.age
    t.oldest_ms = largest(t.oldest_ms, *(age(m, now_ms) for m in v))
    t.oldest_sampled = True
    t.big_member = t.big_member or any(len(m) > BIG_END for m in v)


class PriorityReader(SortedSetReader):
    samples_oldest = True

    def __init__(self, poll: PollContext, layout: KindLayout | None) -> None:
        super().__init__(poll, layout)
        self.depths: dict[str, int] = {}  # its size at the last poll

    def memories(self) -> Any:
        m = super().memories()
        return m._replace(restart=(self.depths, self.big_members),
                          failover=(self.depths,), rescan=(self.depths, self.big_members))

    def commands(self, t: Any, commands: list, appliers: list, now_ms: int) -> None:
        key = t.ref.key
        commands.append(("ZCARD", key))
        appliers += (t, set_depth)
        big = self.carried(key)
        if big is not None:  # (as lists with big ends: size only)
            t.members_carried = big
            return
        commands.append(("ZREVRANGE", key, 0, 0))
        appliers += (t, _top)
        if self.depths.get(key, 2) > 1:  # one member: the top is the whole set
            commands.append(("ZRANGE", key, 0, PRIORITY_SAMPLE - 1))
            appliers += (t, _bottom)

    def finish(self, t: Any, mono: float, now_ms: int) -> QueueStats:
        if t.ref.library is None:
            self.carry_big_members(t, now_ms)
        net = self.poll.depth_rate(t, mono)
        self.depths[t.ref.key] = t.depth
        return self.poll.stats(t, net, Flows(
            note=NOTE_PRIORITY,
            oldest_sampled=t.oldest_sampled and t.depth > PRIORITY_SAMPLE + 1))


def recognise(c: Candidates) -> None:
    for key in sorted(c.zsets):
        if strip(key, c.cfg.scheduled_suffix) is not None:
            continue
        ev = c.evidence.get(key)
        if key in c.priority_zsets or (ev is not None and ev.kind is QueueKind.PRIORITY):
            c.add(QueueRef(QueueKind.PRIORITY, key, evidence=ev.text if ev else None))


LAYOUT = KindLayout(
    kind=QueueKind.PRIORITY,
    recognised_by="a sorted set whose top member is a job envelope",
    recognise=recognise,
    declare=declared_ref(QueueKind.PRIORITY),
    reader=PriorityReader,
    alerts=waiting_jobs,
    decode=decode,
    actions=(
        Action("change_priority", "Priority", "change the priority of the selected jobs",
               "WATCH set; ZSCORE member (still the priority shown); MULTI; ZADD set XX "
               "score member; EXEC"),
        Action("remove", "Remove", "remove the selected jobs",
               "WATCH set; ZSCORE member; MULTI; ZREM set member; EXEC"),
        Action("new_job", "New job", "enqueue a new job",
               'ZADD set NX priority {"id","payload","enqueued_at"}'),
    ),
    panel="priority",
    color=(210, 110, 230),
)
