"""A list followed from poll to poll by its ends: the reads every list-shaped kind shares
(work lists, reliable queues, dead letters, a delayed queue's ready list).

Where did the last poll's head and tail elements go (LPOS from each end)? Items in front of
the old head were pushed at the head, items behind the old tail at the tail; an end whose
old element is gone is where consumers take from. Arrivals counted that way are exact;
departures = arrivals - change in depth. A list drained between polls, or pushed and popped
at the same end (a stack, such as RPUSH + BRPOPLPUSH), hides moves: the figure is then a
lower bound. Big end items are handled as poll.py's docstring says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from ferrite_tui.backend.kinds.base import (
    BIG_END,
    Action,
    PollContext,
    largest,
    takes_errors,
)

# How far LPOS looks from each end for the last poll's end elements. Bounds the cost of the
# in/out measurement on a list that grew by more than this in one tick.
LPOS_MAXLEN = 1000
NOTE_STACK = "pushed and popped at the same end: moves between polls are not visible"
NOTE_DRAINED = "list emptied or turned over between polls: moves not all visible"
NOTE_NO_LPOS = "server has no LPOS: only the net change of the list is known"
NOTE_BIG_ENDS = ("an end item over 16 KB: read again only when the length or the items "
                 "next to it change (moves counted from the net change)")
NOTE_DEEP = "more than 1,000 moves in one poll: counted as a lower bound"
NOTE_TIMES = ("counted from the items' own times at the producers' end: items taken "
              "before the poll are not seen")


# -- list moves (pure: the tests drive it directly) ---------------------------------------

class ListMoves(NamedTuple):  # a tuple: made for every list at every poll, cheaply
    arrivals: int | None  # None: not measurable this interval
    exact: bool
    producer_end: str | None  # "head" / "tail" where pushes were seen this interval
    consumer_end: str | None  # where the old element left from this interval
    note: str | None = None


def list_moves(prev_depth: int, depth: int, head_pos: int | None, tail_pos: int | None,
               producer_end: str | None, maxlen: int = LPOS_MAXLEN) -> ListMoves:
    """What moved in a list between two polls, from where its old end elements went.

    `head_pos` / `tail_pos`: the index (from the left) the last poll's head / tail element
    has now, None when LPOS did not find it within `maxlen` of its end. `producer_end` is
    the end pushes were last seen at (sticky across polls), which tells "popped at the
    producer's end" (a stack) from "no pushes this time".
    """
    if prev_depth == 0:
        # Nothing to follow: what is there now arrived, and more may have passed through.
        return ListMoves(depth, False, None, None, NOTE_DRAINED)
    buried = depth > maxlen  # an end element not found may just be deeper than LPOS looked
    at_head = head_pos if head_pos is not None else None
    at_tail = depth - 1 - tail_pos if tail_pos is not None else None
    if at_head is not None and at_tail is not None:
        # The producers' end: the one end that was pushed to (none, or both: not known).
        if at_head > 0:
            producer = None if at_tail > 0 else "head"
        else:
            producer = "tail" if at_tail > 0 else None
        return ListMoves(at_head + at_tail, True, producer, None)
    if at_head is None and at_tail is None:
        # Both old ends gone: every old item left; what is there now is new.
        return ListMoves(depth, False, None, None, NOTE_DEEP if buried else NOTE_DRAINED)
    # One old end element is gone: consumers take from that end.
    consumer = "head" if at_head is None else "tail"
    other = "tail" if consumer == "head" else "head"
    pushed = at_tail if at_head is None else at_head
    assert pushed is not None  # both ends gone returned above
    if buried:
        return ListMoves(pushed, False, other if pushed else None, consumer, NOTE_DEEP)
    if pushed > 0:
        return ListMoves(pushed, True, other, consumer)
    if producer_end == other:
        return ListMoves(0, True, None, consumer)  # the producers were idle this interval
    return ListMoves(0, False, None, consumer, NOTE_STACK)


@dataclass(slots=True)
class ListRead:
    """One list's replies in this poll (set straight from the replies, by name)."""

    errors: list[str]  # the queue's error lines
    depth: int = 0
    head: bytes | None = None
    tail: bytes | None = None
    head_pos: int | None = None
    tail_pos: int | None = None
    followed: bool = False  # LPOS was asked for the last poll's ends
    deferred: bool = False  # ... or is asked in round trip 2 if an end item changed
    probing: bool = False  # big ends, unchanged at the last poll: only probes were asked
    # The items that tell a change at each end without reading a big one: the end item
    # where it is small, else the one next to it (index 1 / -2).
    probe_head: bytes | None = None
    probe_tail: bytes | None = None
    next_head: bytes | None = None  # index 1 and -2, read with the ends after big ends
    next_tail: bytes | None = None
    key: str = ""  # named in an error line
    recent: list | None = None  # items at the producer's end, where times are counted
    recent_end: str = "tail"
    head_t: int | None = None  # the end items' own times (set by _follow)
    tail_t: int | None = None


@dataclass(slots=True)
class ListMemory:
    head: bytes | None  # None: not read (an empty ready list that just got items)
    tail: bytes | None
    depth: int
    producer_end: str | None = None
    consumer_end: str | None = None
    newest: int | None = None  # the newest item time seen (end items, producer end read)
    newest_at_head: bool = False  # the head item was the newer end (no LPOS: producers)
    exact: bool = False  # the last interval's moves were all seen
    arrivals: int = 0  # in the last interval (sizes the producer end read)
    big_ends: bool = False  # an end item is over BIG_END bytes
    unchanged: bool = False  # the length and ends were the same as the poll before
    # (head, tail) probes (see ListRead) read with the ends; None: not read, or big too.
    probes: tuple[bytes | None, bytes | None] | None = None
    big_head: bool = False
    big_tail: bool = False
    end_times: tuple[int | None, int | None] = (None, None)  # the end items' own times




# -- appliers: one per reply a list read asks for ------------------------------------------

def _depth(r: ListRead, v: Any, now_ms: int) -> None:
    r.depth = v


def _head(r: ListRead, v: Any, now_ms: int) -> None:
    r.head = v


def _tail(r: ListRead, v: Any, now_ms: int) -> None:
    r.tail = v


def _next_head(r: ListRead, v: Any, now_ms: int) -> None:
    r.next_head = v


def _next_tail(r: ListRead, v: Any, now_ms: int) -> None:
    r.next_tail = v


def _probe_head(r: ListRead, v: Any, now_ms: int) -> None:
    r.probe_head = v


def _probe_tail(r: ListRead, v: Any, now_ms: int) -> None:
    r.probe_tail = v


@takes_errors
def _head_pos(r: ListRead, v: Any, now_ms: int) -> None:
    if isinstance(v, Exception):  # LPOS refused: this list is not followed this poll
        r.followed = False
    else:
        r.head_pos = v


@takes_errors
def _tail_pos(r: ListRead, v: Any, now_ms: int) -> None:
    if isinstance(v, Exception):
        r.followed = False
    else:
        r.tail_pos = v


def _recent(r: ListRead, v: Any, now_ms: int) -> None:
    r.recent = v


class ListFollower:
    """The ends of every list the poll follows, by key (one per poll, shared by kinds)."""

    def __init__(self, poll: PollContext) -> None:
        self.poll = poll
        self.memory: dict[str, ListMemory] = {}

    def commands(self, commands: list, appliers: list, read: ListRead,
                 key: str, lpos: bool, ends_if_empty: bool = True) -> None:
        prev = self.memory.get(key)
        commands.append(("LLEN", key))
        appliers += (read, _depth)
        if not ends_if_empty and prev is not None and not prev.depth:
            return  # empty at the last poll: its ends are read once it has items
        if prev is not None and prev.big_ends and prev.unchanged and prev.probes is not None:
            # Reading a 100 MB end item at every poll costs the server that much each
            # time; while the list stands still, its length and the small items next to
            # the big ones say when to read it again.
            read.probing = True
            commands += [("LINDEX", key, 1 if prev.big_head else 0),
                         ("LINDEX", key, -2 if prev.big_tail else -1)]
            appliers += (read, _probe_head, read, _probe_tail)
            return
        commands += [("LINDEX", key, 0), ("LINDEX", key, -1)]
        appliers += (read, _head, read, _tail)
        if prev is not None and prev.big_ends:  # the probes, read with the ends they watch
            commands += [("LINDEX", key, 1), ("LINDEX", key, -2)]
            appliers += (read, _next_head, read, _next_tail)
        if prev is not None and prev.depth and prev.head is not None and lpos \
                and not prev.big_ends:  # (LPOS would send the big item back)
            if prev.exact:
                # Where an end item is the same, LPOS would find it at that end: only a
                # list whose ends moved is followed, in round trip 2 (see `second`).
                read.deferred = True
                return
            self._positions(commands, appliers, read, key, prev)
        if prev is not None and prev.depth and prev.newest is not None \
                and not (lpos and prev.exact) and not prev.big_ends:
            # Moves the ends cannot tell (a stack, no LPOS): count the items newer than
            # the last poll's newest at the producers' end, reading a little more than
            # last time's arrivals (bounded: past it, a lower bound).
            end = prev.producer_end or ("head" if prev.newest_at_head else "tail")
            n = min(max(2 * prev.arrivals + 16, 32), LPOS_MAXLEN)
            commands.append(("LRANGE", key, 0, n - 1) if end == "head"
                            else ("LRANGE", key, -n, -1))
            appliers += (read, _recent)
            read.recent_end = end

    @staticmethod
    def _positions(commands: list, appliers: list, read: ListRead, key: str,
                   prev: ListMemory) -> None:
        """Where the last poll's end items are now (LPOS from each end)."""
        # (RANK 1, from the head, is LPOS's default: not sent)
        commands += [("LPOS", key, prev.head, "MAXLEN", LPOS_MAXLEN),
                     ("LPOS", key, prev.tail, "RANK", -1, "MAXLEN", LPOS_MAXLEN)]
        appliers += (read, _head_pos, read, _tail_pos)
        read.followed = True

    def second(self, commands: list, appliers: list, read: ListRead, key: str) -> None:
        """A list whose following was deferred (its moves were all seen last time): with
        both end items as they were, LPOS would answer "at the ends", so that is the
        answer; else the list is read again with LPOS, all in round trip 2, so its length,
        ends and positions are of one moment."""
        if not read.deferred or read.errors:
            return
        prev = self.memory[key]
        if read.head == prev.head and read.tail == prev.tail:
            read.head_pos, read.tail_pos, read.followed = 0, read.depth - 1, True
            return
        commands += [("LLEN", key), ("LINDEX", key, 0), ("LINDEX", key, -1)]
        appliers += (read, _depth, read, _head, read, _tail)
        self._positions(commands, appliers, read, key, prev)

    def follow(self, key: str, read: ListRead, lpos: bool, now_ms: int) -> ListMoves | None:
        """Moves of one list since the last poll; remembers its ends for the next."""
        prev = self.memory.get(key)
        moves = None
        if read.probing and prev is not None:
            return self._follow_probes(prev, read)
        prev_head, prev_tail = (prev.head, prev.tail) if prev is not None else (None, None)
        if prev is not None:
            if not lpos:
                moves = ListMoves(None, False, None, None, NOTE_NO_LPOS)
            elif prev.depth == 0:
                # Nothing was there to follow: what is there now arrived (and maybe more).
                moves = ListMoves(read.depth, False, None, None, NOTE_DRAINED)
            elif prev.head is None:  # its ends were not read: the growth, at least
                moves = ListMoves(max(read.depth - prev.depth, 0), False, None, None,
                                  NOTE_DRAINED)
            elif prev.big_ends:  # not followed (LPOS would send the big item back)
                moves = ListMoves(max(read.depth - prev.depth, 0), False, None, None,
                                  NOTE_BIG_ENDS)
            elif read.followed:
                moves = list_moves(prev.depth, read.depth, read.head_pos, read.tail_pos,
                                   prev.producer_end)
        head_t = read.head_t = self.poll.item_time(read.head, now_ms)
        tail_t = read.tail_t = self.poll.item_time(read.tail, now_ms)
        newest = largest(head_t, tail_t)
        if prev is not None and read.recent is not None and prev.newest is not None:
            moves, newest = self._by_times(prev, read, moves, newest, now_ms)
        producer, consumer = (prev.producer_end, prev.consumer_end) if prev else (None, None)
        if moves is not None:
            producer = moves.producer_end or producer
            consumer = moves.consumer_end or consumer
        memory = prev or ListMemory(None, None, 0)
        if read.depth and read.head is not None and read.tail is not None:
            memory.head, memory.tail, memory.depth = read.head, read.tail, read.depth
        else:
            memory.head, memory.tail, memory.depth = None, None, read.depth
        memory.producer_end, memory.consumer_end = producer, consumer
        memory.newest = newest if read.depth else None
        memory.newest_at_head = head_t is not None and (tail_t is None or head_t > tail_t)
        memory.exact = moves is not None and moves.exact
        memory.arrivals = moves.arrivals or 0 if moves is not None else 0
        memory.unchanged = prev is not None and read.depth == prev.depth \
            and (read.head, read.tail) == (prev_head, prev_tail)
        memory.big_head = len(read.head or b"") > BIG_END
        memory.big_tail = len(read.tail or b"") > BIG_END
        memory.big_ends = memory.big_head or memory.big_tail
        memory.end_times = (head_t, tail_t)
        probes = (read.next_head if memory.big_head else read.head,
                  read.next_tail if memory.big_tail else read.tail)
        asked_next = prev is not None and prev.big_ends
        memory.probes = probes if asked_next and not any(
            len(v or b"") > BIG_END for v in probes) else None
        self.memory[key] = memory
        return moves

    def _follow_probes(self, memory: ListMemory, read: ListRead) -> ListMoves:
        """A list whose big ends were not read: the ends and times of the last read stand
        while the length and the probes do; a change has the ends read at the next poll."""
        read.head, read.tail = memory.head, memory.tail
        read.head_t, read.tail_t = memory.end_times
        growth = read.depth - memory.depth
        memory.unchanged = growth == 0 and (read.probe_head, read.probe_tail) == memory.probes
        memory.depth = read.depth
        if not read.depth:  # emptied: no ends, no ages (its ends are read once it fills)
            read.head = read.tail = read.head_t = read.tail_t = None
            memory.head = memory.tail = memory.newest = None
            memory.big_ends = False
        memory.exact = False
        memory.arrivals = max(growth, 0)
        return ListMoves(max(growth, 0), False, None, None, NOTE_BIG_ENDS)

    def _by_times(self, prev: ListMemory, read: ListRead, moves: ListMoves | None,
                  newest: int | None, now_ms: int) -> tuple[ListMoves | None, int | None]:
        """Arrivals from the items' own times at the producers' end: those newer than the
        newest the last poll saw. Exact only where the ends showed consumers take from
        the other end and the read reached an item the last poll saw; else a lower bound
        that replaces a smaller one."""
        assert read.recent is not None and prev.newest is not None
        times = [self.poll.item_time(v, now_ms) for v in read.recent]
        arrived = sum(1 for t in times if t is not None and t > prev.newest)
        newest = largest(newest, *times)
        reached_old = len(read.recent) >= read.depth or any(
            t is not None and t <= prev.newest for t in times)
        far = "head" if read.recent_end == "tail" else "tail"
        if moves is not None and moves.exact:
            return moves, newest
        # The far end's item changed while an item the last poll saw is still at the
        # producers' end: consumers take from the far end, none of the new items left.
        far_moved = (read.head != prev.head) if far == "head" else (read.tail != prev.tail)
        consumer = far if reached_old and far_moved else prev.consumer_end
        exact = reached_old and consumer == far
        if exact or not moves or moves.arrivals is None or arrived > moves.arrivals:
            note = None if exact else (moves.note if moves and moves.note != NOTE_NO_LPOS
                                       else NOTE_TIMES)
            moves = ListMoves(arrived, exact, read.recent_end if arrived else None,
                              consumer if exact else (moves.consumer_end if moves else None),
                              note)
        return moves, newest


    def ends(self, key: str) -> tuple[str | None, str | None]:
        memory = self.memory.get(key)
        return (memory.producer_end, memory.consumer_end) if memory else (None, None)


# -- the actions every list-shaped queue of the guide offers (panel 2) ----------------------

#: The exact values shown, each checked and removed in one transaction (slotmoves.py;
#: between two slots of a cluster through a staging list, crossslot.py).
DELETE = Action("delete", "Delete", "delete selected items",
                "WATCH list; LRANGE (the values are still there); MULTI; LREM list 1 value "
                "per item; EXEC")
MOVE = Action("move", "Move", "move selected items to another queue",
              "WATCH src; LRANGE; MULTI; LREM src 1 value; RPUSH dst value, per item; EXEC "
              "(between slots: through a staging list)")
PURGE = Action("purge", "Purge", "purge the queue",
               "WATCH list; TYPE list; MULTI; LLEN list; UNLINK list; EXEC (a list that keeps "
               "changing: MULTI; LLEN; LTRIM list n -1; EXEC, repeated)")
