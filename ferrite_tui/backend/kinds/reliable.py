"""Reliable queues: a work list whose consumers move each job to a processing list
(LMOVE / BRPOPLPUSH) and remove it when done.

Recognised: a list `NAME` + `NAME<processing_suffix>` (`:processing`). Read: the main list
as a work list, plus LLEN and the whole (bounded) processing list: out = jobs leaving the
processing list; jobs held past the visibility timeout are stale. A processing list holding
a big job is read as its length and the runs of small items around the big ones; a change
has it read whole at the next poll (its moves counted a poll late).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from ferrite_tui.backend.envelopes import decode
from ferrite_tui.backend.kinds.alerts import waiting_jobs
from ferrite_tui.backend.kinds.base import (
    BIG_END,
    Action,
    Candidates,
    Flows,
    KindLayout,
    Memories,
    PollContext,
    Tally,
    strip,
)
from ferrite_tui.backend.kinds.listends import DELETE, MOVE, PURGE, ListMoves, ListRead
from ferrite_tui.backend.kinds.work import ListReader, ListTally
from ferrite_tui.backend.models import QueueKind, QueueRef
from ferrite_tui.config import DiscoveryConfig, QueueDecl

# Processing lists are read whole up to this many jobs (they are short).
PROCESSING_READ = 1000
NOTE_PROCESSING = ("counted from the processing list: jobs taken and done between two polls "
                   "are not seen")


@dataclass(slots=True)
class ReliableTally(ListTally):
    processing: int | None = None
    processing_items: list | None = None
    processing_runs: list | None = None  # the small items' runs read instead of the list


def _processing(t: ReliableTally, v: Any, now_ms: int) -> None:
    t.processing = v


def _processing_items(t: ReliableTally, v: Any, now_ms: int) -> None:
    t.processing_items = v
    if len(v) < PROCESSING_READ:
        t.processing = len(v)


def _processing_run(t: ReliableTally, v: Any, now_ms: int) -> None:
    assert t.processing_runs is not None
    t.processing_runs.append(v)


class ReliableReader(ListReader):
    def __init__(self, poll: PollContext, layout: KindLayout | None) -> None:
        super().__init__(poll, layout)
        self.processing: dict[str, tuple[list, Counter]] = {}  # last read, as a multiset
        # Processing lists holding an item over BIG_END: their length when read whole, and
        # the runs of small items that tell a change without reading the big ones.
        self.processing_big: dict[str, tuple[int, tuple[tuple[int, int], ...]]] = {}
        self.first_seen: dict[str, dict[bytes, float]] = {}  # processing job -> wall s

    def memories(self) -> Memories:
        return Memories(restart=(self.processing, self.first_seen, self.processing_big),
                        failover=(self.processing, self.first_seen),
                        rescan=(self.processing_big,))

    def tally(self, ref: QueueRef) -> Tally:
        t = ReliableTally(ref, self)
        t.main = ListRead(t.errors, key=ref.key)
        return t

    def commands(self, t: Any, commands: list, appliers: list, now_ms: int) -> None:
        super().commands(t, commands, appliers, now_ms)
        pkey = t.ref.processing_key
        if not pkey:
            return
        held = self.processing_big.get(pkey)
        if held is not None:
            # An in-flight job of 100 MB would be read at every poll: its small
            # neighbours and the length tell when the list changed.
            commands.append(("LLEN", pkey))
            appliers += (t, _processing)
            t.processing_runs = []
            for first, last in held[1]:
                commands.append(("LRANGE", pkey, first, last))
                appliers += (t, _processing_run)
        else:
            # Read whole, its length is the number of items read: LLEN only past the read
            # (in round trip 2, see `second`).
            commands.append(("LRANGE", pkey, 0, PROCESSING_READ - 1))
            appliers += (t, _processing_items)

    def second(self, t: Any, commands: list, appliers: list, now_ms: int) -> None:
        super().second(t, commands, appliers, now_ms)
        if t.processing is None and t.processing_runs is None and not t.errors \
                and t.ref.processing_key:
            commands.append(("LLEN", t.ref.processing_key))
            appliers += (t, _processing)

    def flows(self, t: Any, moves: ListMoves | None, arrivals: int | None,
              departures: int | None, exact: bool, note: str | None,
              prev_depth: int | None, mono: float, now_ms: int, producer_end: str | None,
              consumer_end: str | None) -> Flows:
        if not t.ref.processing_key:
            return super().flows(t, moves, arrivals, departures, exact, note, prev_depth,
                                 mono, now_ms, producer_end, consumer_end)
        ident = t.ref.ident
        main = t.main
        history = self.poll.history
        entered, left, stale, stale_lower = self._processing_moves(t, now_ms / 1000)
        proc_series = history.series(ident, "processing")
        prev_proc = proc_series.last()
        proc_series.add(mono, t.processing or 0)
        acked: int | None = None
        if moves is not None and prev_proc is not None and prev_depth is not None:
            d_proc = (t.processing or 0) - int(prev_proc[1])
            if exact and departures is not None and departures - d_proc >= 0:
                acked = departures - d_proc  # taken from the queue, less still held
            else:
                # The main list hides moves: what the processing list shows is seen.
                taken = max(entered, departures or 0)
                acked = max(left, taken - d_proc)
                arrivals = max(arrivals or 0, main.depth - prev_depth + taken)
                exact = False
                note = NOTE_PROCESSING
        in_rate, in_exact = self.poll.flow(ident, "in", arrivals if acked is not None
                                           else None, exact, mono)
        out_rate, out_exact = self.poll.flow(ident, "out", acked, exact, mono)
        return Flows(in_rate, in_exact, out_rate, out_exact, note, None, None, producer_end,
                     consumer_end, stale, stale_lower, processing=t.processing)

    def _read_processing(self, t: ReliableTally) -> None:
        """The processing list as this poll knows it. Holding a big item, it was not read:
        unchanged (same length, same small items) it is the last read; changed, it is read
        whole at the next poll, and this poll's moves are counted then (a poll late)."""
        key = t.ref.processing_key or ""
        runs = t.processing_runs
        if runs is not None:
            prev_items = self.processing.get(key, ([], None))[0]
            length, spans = self.processing_big[key]
            same = t.processing == length and len(runs) == len(spans) and all(
                isinstance(run, list) and run == prev_items[first:last + 1]
                for run, (first, last) in zip(runs, spans, strict=True))
            t.processing_items = prev_items
            if not same:
                del self.processing_big[key]
            return
        items = t.processing_items
        if not isinstance(items, list) or not any(len(v) > BIG_END for v in items):
            self.processing_big.pop(key, None)
            return
        small_runs: list[tuple[int, int]] = []
        for i, value in enumerate(items):
            if len(value) <= BIG_END:
                if small_runs and small_runs[-1][1] == i - 1:
                    small_runs[-1] = (small_runs[-1][0], i)
                else:
                    small_runs.append((i, i))
        self.processing_big[key] = (t.processing or 0, tuple(small_runs))

    def _processing_moves(self, t: ReliableTally,
                          now_s: float) -> tuple[int, int, int | None, bool]:
        """(entered, left, stale, stale_lower) from the whole (bounded) processing list."""
        key = t.ref.processing_key or ""
        self._read_processing(t)
        items = t.processing_items or []
        prev_items, now = self.processing.get(key, (None, None))
        entered = left = 0
        seen = self.first_seen.get(key)
        if seen is None:
            seen = self.first_seen[key] = {}
        if items != prev_items or now is None:  # unchanged (the usual case): nothing to diff
            prev = now
            now = Counter(items)
            if prev is not None:
                entered = sum((now - prev).values())
                left = sum((prev - now).values())
            for gone in [v for v in seen if v not in now]:
                del seen[gone]
            for value in now:
                # Jobs there before we looked have no known start: their enqueue time
                # bounds it.
                seen.setdefault(value, now_s if prev is not None else 0.0)
        self.processing[key] = (items, now)
        stale_s = self.poll.visibility_timeouts.get(t.ref.key) \
            or self.poll.alerts.processing_stale_seconds
        now_ms = int(now_s * 1000)
        stale = 0
        for value, n in now.items():
            age: float | None = self.poll.age(value, now_ms)
            first = seen.get(value) or 0.0
            if first:
                held = (now_s - first) * 1000
                age = held if age is None else min(age, held)
            if age is not None and age >= stale_s * 1000:
                stale += n
        lower = (t.processing or 0) > len(items)
        return entered, left, stale, lower



def recognise(c: Candidates) -> None:
    for key in sorted(c.lists):
        base = strip(key, c.cfg.processing_suffix)
        if base is not None and base not in c.claimed:
            c.add(QueueRef(QueueKind.RELIABLE, base, processing_key=key))


def declare(d: QueueDecl, cfg: DiscoveryConfig) -> QueueRef:
    return QueueRef(QueueKind.RELIABLE, d.key,
                    processing_key=d.processing_key or d.key + cfg.processing_suffix,
                    declared=True)


LAYOUT = KindLayout(
    kind=QueueKind.RELIABLE,
    recognised_by="a list NAME with a list NAME:processing (the processing suffix)",
    recognise=recognise,
    declare=declare,
    reader=ReliableReader,
    alerts=waiting_jobs,
    decode=decode,
    actions=(
        DELETE, MOVE, PURGE,
        Action("ack", "Ack", "ack selected jobs",
               "WATCH processing; LRANGE; MULTI; LREM processing 1 value per job; EXEC"),
        Action("nack", "Nack", "nack selected jobs (back to the queue)",
               "WATCH processing; LRANGE; MULTI; LREM processing 1 value; LPUSH queue value "
               "(RPUSH where recover_to is the tail), per job; EXEC"),
        Action("recover", "Recover stale", "recover stale jobs",
               "LRANGE processing from the tail, in windows (the jobs past the visibility "
               "timeout); then as nack: MULTI; LREM processing 1 value; LPUSH queue value; "
               "EXEC, in chunks"),
    ),
    panel="queues",
    color=(90, 140, 255),
)
