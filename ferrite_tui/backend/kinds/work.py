"""Work lists: a plain list pushed at one end and popped at the other (LPUSH + BRPOP).

Recognised: any list no other kind claims. Read: LLEN and the end items (LINDEX 0 / -1),
followed from poll to poll by their ends (see listends); ages from the end items' own
times. Its reader is also the reader of reliable queues and dead letters (they are lists).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ferrite_tui.backend.envelopes import decode
from ferrite_tui.backend.kinds.alerts import waiting_jobs
from ferrite_tui.backend.kinds.base import (
    NOTE_WARMUP,
    Candidates,
    Flows,
    KindLayout,
    Reader,
    Tally,
    declared_ref,
)
from ferrite_tui.backend.kinds.listends import DELETE, MOVE, PURGE, ListMoves, ListRead
from ferrite_tui.backend.models import QueueKind, QueueRef, QueueStats


@dataclass(slots=True)
class ListTally(Tally):
    main: ListRead | None = None


class ListReader(Reader):
    """A list followed by its ends: arrivals from where the old ends went, departures
    from arrivals and the change in depth."""

    second_round = True  # a list whose ends moved is followed in round trip 2

    def tally(self, ref: QueueRef) -> Tally:
        t = ListTally(ref, self)
        t.main = ListRead(t.errors, key=ref.key)
        return t

    def commands(self, t: Any, commands: list, appliers: list, now_ms: int) -> None:
        self.poll.lists.commands(commands, appliers, t.main, t.ref.key, self.poll.lpos)

    def second(self, t: Any, commands: list, appliers: list, now_ms: int) -> None:
        self.poll.lists.second(commands, appliers, t.main, t.ref.key)

    def finish(self, t: Any, mono: float, now_ms: int) -> QueueStats:
        ref = t.ref
        main: ListRead = t.main
        t.depth = main.depth
        poll = self.poll
        net = poll.depth_rate(t, mono)
        follower = poll.lists
        prev = follower.memory.get(ref.key)
        prev_depth = prev.depth if prev is not None else None
        moves = follower.follow(ref.key, main, poll.lpos, now_ms)
        oldest_t = main.head_t if main.tail_t is None or (
            main.head_t is not None and main.head_t < main.tail_t) else main.tail_t
        t.oldest_ms = None if oldest_t is None else max(now_ms - oldest_t, 0)
        producer_end, consumer_end = follower.ends(ref.key)
        arrivals = moves.arrivals if moves else None
        exact = moves.exact if moves else False
        note = moves.note if moves else NOTE_WARMUP
        departures = None
        if arrivals is not None and prev_depth is not None:
            departures = arrivals - (main.depth - prev_depth)
            if departures < 0:  # removed from the middle or a miscount: not trusted
                departures, exact = None, False
        return poll.stats(t, net, self.flows(t, moves, arrivals, departures, exact, note,
                                             prev_depth, mono, now_ms, producer_end,
                                             consumer_end))

    def flows(self, t: Any, moves: ListMoves | None, arrivals: int | None,
              departures: int | None, exact: bool, note: str | None,
              prev_depth: int | None, mono: float, now_ms: int, producer_end: str | None,
              consumer_end: str | None) -> Flows:
        ident = t.ref.ident
        in_rate, in_exact = self.poll.flow(ident, "in", arrivals, exact, mono)
        out_rate, out_exact = self.poll.flow(
            ident, "out", departures if arrivals is not None else None, exact, mono)
        return Flows(in_rate, in_exact, out_rate, out_exact, note, None, None, producer_end,
                     consumer_end)


def recognise(c: Candidates) -> None:
    taken = c.list_keys_taken()
    for key in sorted(c.lists - taken):
        ev = c.evidence.get(key)
        c.add(QueueRef(QueueKind.WORK, key, evidence=(ev.text or None) if ev else None))


LAYOUT = KindLayout(
    kind=QueueKind.WORK,
    recognised_by="a list no other kind claims",
    recognise=recognise,
    declare=declared_ref(QueueKind.WORK),
    reader=ListReader,
    alerts=waiting_jobs,
    decode=decode,
    actions=(DELETE, MOVE, PURGE),
    rank=1,
    panel="queues",
    color=(0, 200, 220),
)
