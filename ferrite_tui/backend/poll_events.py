"""Moves counted from keyspace notifications (the opt-in exact mode; see
notifications.KeyEvents): counts are taken at marks, each poll asks for its own and uses
the last answered one, whose sizes it kept. One poll late, never lagging."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ferrite_tui.backend.notifications import KeyEvents

# Counted moves and the change in size may differ by this much (commands run between the
# poll's reads and its mark) before the counts are called lower bounds.
EVENT_SLACK = 2
NOTE_EVENTS_MULTI = ("keyspace notifications: a command moved several elements (notified "
                     "once), so the counts are lower bounds")


@dataclass(frozen=True, slots=True)
class Counted:
    """Moves counted from notifications between two marks, timed by the polls that
    asked for them."""

    added: int
    taken: int
    exact: bool
    at: float
    since: float


NO_NEWS = Counted(0, 0, True, 0.0, 0.0)  # no newer mark answered since the last poll


@dataclass(slots=True)
class _EventMemory:
    """A key's notification counts at the last mark used, and its recent sizes."""

    generation: int = -1
    seq: int = -1  # the poll whose mark the counts are from (-1: none usable)
    adds: int = 0
    takes: int = 0
    depth: int | None = None  # the size at that poll
    carry: int = 0  # size changes the counts did not explain (a command moving several)
    depths: dict[int, int | None] = field(default_factory=dict)  # by poll, marks pending



class EventCounts:
    """The marks asked and answered, and each key's counts at the mark last used."""

    def __init__(self) -> None:
        self.memory: dict[str, _EventMemory] = {}
        self.poll_seq = 0
        self.poll_times: dict[int, float] = {}  # poll -> when its mark was asked
        # The newest answered mark: (poll, generation, counts), and the one used before.
        self.mark: tuple[int, int, dict[str, tuple[int, int]]] | None = None

    def after_reply(self, events: KeyEvents, setting: Any, watched: set[str]) -> None:
        """This poll's mark asked, the newest answered one taken (see the module)."""
        events.observe_setting(setting)
        seq = self.poll_seq = self.poll_seq + 1
        answered = max(events.marks, default=None)
        self.mark = (answered, *events.marks[answered]) if answered is not None else None
        # Two polls without an answer: notifications come faster than they are read.
        asked = [s for s in self.poll_times if s < seq - 2]
        events.behind = bool(asked) and (answered is None or answered < seq - 2)
        if events.mark(seq):
            self.poll_times[seq] = time.monotonic()
        else:
            self.poll_times.clear()  # not counting: start over when it is again
        for old in [s for s in self.poll_times if s < seq - 8]:
            del self.poll_times[old]
        events.watch(watched)

    def counted(self, key: str, depth: int | None, processing_key: str | None,
                processing: int | None) -> Counted | None:
        """Moves from notifications between the last two marks used, or None where they
        are not counted (first marks, an error)."""
        main = self._moves(key, depth)
        if processing_key:  # a reliable queue: out = jobs leaving the processing list
            done = self._moves(processing_key, processing)
            if main is None or done is None or main is NO_NEWS or done is NO_NEWS:
                return main if main is NO_NEWS and done is NO_NEWS else None
            return Counted(main.added, done.taken, main.exact and done.exact, main.at,
                           main.since)
        return main

    def _moves(self, key: str, depth: int | None) -> Counted | None:
        """What was added to and taken from a key between the mark last used and the
        newest answered one, checked against the change in size between those polls.
        NO_NEWS when no newer mark was answered (the flows wait for the next)."""
        memory = self.memory.get(key)
        if memory is None:
            memory = self.memory[key] = _EventMemory()
        seq = self.poll_seq
        memory.depths[seq] = depth
        for old in [s for s in memory.depths if s < seq - 8]:
            del memory.depths[old]
        mark = self.mark
        if mark is None:
            memory.seq = -1
            return None
        at, generation, counts = mark
        if at == memory.seq and generation == memory.generation:
            return NO_NEWS
        adds, takes = counts.get(key, (0, 0))
        depth_then = memory.depths.get(at)
        result = None
        since = self.poll_times.get(memory.seq)
        when = self.poll_times.get(at)
        if memory.generation == generation and 0 <= memory.seq < at \
                and memory.depth is not None and depth_then is not None \
                and since is not None and when is not None:
            added, taken = adds - memory.adds, takes - memory.takes
            carry = memory.carry + (depth_then - memory.depth) - (added - taken)
            exact = abs(carry) <= max(EVENT_SLACK, (added + taken) // 50)
            memory.carry = carry if exact else 0
            result = Counted(added, taken, exact, when, since)
        else:
            memory.carry = 0
        memory.generation, memory.seq = generation, at
        memory.adds, memory.takes, memory.depth = adds, takes, depth_then
        return result
