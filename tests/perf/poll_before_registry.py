# The poll as it was before the registry of layouts (issue 23): one Poller computing every
# kind, kept verbatim as the side-by-side baseline of tests/perf/test_poll_perf.py.
"""One poll: the stats of every queue plus INFO in a fixed number of round trips.

Round trip 1 is a single pipeline holding every per-queue command, INFO and PUBSUB CHANNELS /
NUMPAT; round trip 2 is PUBSUB NUMSUB for the channels just listed plus, for library queues
holding ids, the next item's body time (skipped when there is neither). The count does not
grow with the number of queues. The poll runs every second over possibly thousands of queues,
so the per-queue Python work here is kept lean: commands are plain tuples, their readers a
flat list of (target, field) pairs, replies are parsed by hiredis.

Every figure is exact, a marked lower bound, or None with a reason (`rate_note`):
- Lists: where did the last poll's head and tail elements go (LPOS from each end)? Items in
  front of the old head were pushed at the head, items behind the old tail at the tail; an
  end whose old element is gone is where consumers take from. Arrivals counted that way are
  exact; departures = arrivals - change in depth. A list drained between polls, or pushed and
  popped at the same end (a stack, such as RPUSH + BRPOPLPUSH), hides moves: the figure is
  then a lower bound.
- Reliable queues: out = jobs leaving the processing list (read whole, bounded).
- Delayed queues: out = promotions (arrivals on the ready list); in = out + change in depth.
- Streams: entries-added / entries-read where the server reports them, else entry ids counted
  with a bounded XRANGE. Group health from every pending entry (bounded XPENDING scan).
- Priority queues: only the net change is known (members carry no arrival order).
Every alert is computed here, so the console and `status` agree.

Big values: Redis reads no part of a list element or set member, so an item over BIG_END
(16 KB) read for its age at every poll would cost its whole size each time (a 100 MB dead
letter at a list's end: 100 MB per poll). A list whose end item is big is read whole with
the items next to its ends (LINDEX 1 and -2); from then on, while its length and those small
items stand, each poll asks only for them (the big item's time and the ends carried), and
any change has the ends read again at the next poll (a length-1 list turned over by a pop
and a push between two polls is not seen). Sorted sets whose members read for ages (the
top, the bottom sample, the earliest due) are big: while their size stands they are not read,
and read again at least every BIG_REREAD_S. A stream whose first or last entry (in XINFO
STREAM) is big gets XRANGE COUNT 1 after its last id instead: while it is empty, the last
figures stand. A processing list holding a big job is read as its length and the runs of
small items around the big ones; a change has it read whole at the next poll (its moves
counted a poll late). On servers without stream counters, deliveries are counted from the
ids after a lagging group's position (XRANGE, whole entries): where that read held a big
entry, its ids are kept (entries never change) and only new ids are read, while nothing is
deleted or trimmed. The number of round trips does not change.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, NamedTuple

from redis._parsers.helpers import parse_info

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.client import Client
from ferrite_tui.backend.envelopes import decode, key_text, printable
from ferrite_tui.backend.epoch import ServerEpoch
from ferrite_tui.backend.errors import permission_error
from ferrite_tui.backend.history import History
from ferrite_tui.backend.libraries import poll as library_poll
from ferrite_tui.backend.libraries.model import Body, LibraryQueue
from ferrite_tui.backend.models import (
    ChannelStats,
    ConsumerHealth,
    GroupStats,
    QueueKind,
    QueueRef,
    QueueStats,
    ServerStats,
    Snapshot,
)
from ferrite_tui.backend.notifications import KeyEvents
from ferrite_tui.backend.stream_ids import after_id, parse_id
from ferrite_tui.config import AlertConfig

# How far LPOS looks from each end for the last poll's end elements. Bounds the cost of the
# in/out measurement on a list that grew by more than this in one tick.
LPOS_MAXLEN = 1000
# Processing lists are read whole up to this many jobs (they are short).
PROCESSING_READ = 1000
# Pending entries read per group per poll for idle / dead-consumer health.
PENDING_SCAN = 1000
# Groups holding more: only their idle entries are read (XPENDING IDLE, Redis 6.2+), up to
# this many, with the per-consumer counts, so idle counts and dead verdicts stay exact.
IDLE_SCAN = 10_000
# New stream entries counted per poll where the server has no entries-added counter.
XRANGE_COUNT = 1000
# Members of a delayed set coming due before the next poll whose due times are read, so
# the next poll knows how many of the members it saw became due (see _due_arrivals).
DUE_READ = 1000
DUE_AHEAD_MS = 2000  # at least this far ahead, else three poll intervals
# Members sampled from the low end of a priority set for the oldest job's age.
PRIORITY_SAMPLE = 16
RATE_SPAN_S = 10.0
# An envelope time further than this in the future is not a plausible enqueue time.
FUTURE_SLACK_MS = 86_400_000
#: Polls over which a rising overdue count means "the scheduler is not keeping up".
GROWING_SAMPLES = 5

LIST_KINDS = (QueueKind.WORK, QueueKind.RELIABLE, QueueKind.DLQ)
# Per-group reads whose replies are matched to groups by order (an error keeps its place).
GROUP_SCANS = ("pending_scan", "holder_counts", "idle_scan")

NOTE_STACK = "pushed and popped at the same end: moves between polls are not visible"
NOTE_DRAINED = "list emptied or turned over between polls: moves not all visible"
NOTE_NO_LPOS = "server has no LPOS: only the net change of the list is known"
#: An item read for its age or id (a list's end, a set's top, a stream's end entry) over
#: this many bytes is not read again while its key stands still (see the docstring).
BIG_END = 16 << 10
#: A sorted set's big members are read again at least this often (seconds).
BIG_REREAD_S = 30.0
NOTE_BIG_ENDS = ("an end item over 16 KB: read again only when the length or the items "
                 "next to it change (moves counted from the net change)")
NOTE_DEEP = "more than 1,000 moves in one poll: counted as a lower bound"
NOTE_TIMES = ("counted from the items' own times at the producers' end: items taken "
              "before the poll are not seen")
NOTE_PRIORITY = "sorted set by priority: only the net change is known"
NOTE_NO_READY = "no ready list: promotions cannot be counted"
NOTE_DUE = ("counted from due times: jobs scheduled less than a poll ahead and promoted "
            "before the next poll are not seen")
NOTE_NO_GROUPS = "no consumer groups: readers (XREAD) are not visible"
NOTE_WARMUP = "measured from the second poll on"
NOTE_EVENTS_MULTI = ("keyspace notifications: a command moved several elements (notified "
                     "once), so the counts are lower bounds")
# Counted moves and the change in size may differ by this much (commands run between the
# poll's reads and its mark) before the counts are called lower bounds.
EVENT_SLACK = 2
NOTE_PROCESSING = ("counted from the processing list: jobs taken and done between two polls "
                   "are not seen")


def stream_id_ms(stream_id: str | bytes | None) -> int | None:
    if stream_id is None:
        return None
    if isinstance(stream_id, bytes):
        stream_id = stream_id.decode(errors="replace")
    try:
        return int(stream_id.split("-", 1)[0])
    except ValueError:
        return None


def _text(value: Any) -> str:
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else str(value)


def _pairs(flat: list) -> dict[str, Any]:
    """A RESP2 field/value list as a dict with str keys."""
    return {_text(k): v for k, v in zip(flat[::2], flat[1::2])}


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _error_line(exc: Exception, key: str = "", user: str | None = None) -> str:
    text = str(exc)
    denied = permission_error(exc, user, (key,) if key else ())
    if denied:
        return printable(denied, 200)
    if "WRONGTYPE" in text:
        return "wrong type: the key now holds another kind of value"
    return printable(text.splitlines()[0] if text else type(exc).__name__, 120)


def _entry_size(entry: Any) -> int:
    """Bytes of a stream entry's field values ([id, [field, value, ...]]), 0 for none."""
    if not isinstance(entry, list) or len(entry) < 2 or not isinstance(entry[1], list):
        return 0
    return sum(len(v) for v in entry[1] if isinstance(v, bytes))


def _item_time(raw: bytes | None, now_ms: int) -> int | None:
    """An item's own time: dead_at for dead letters, else the envelope's job time."""
    if raw is None:
        return None
    env = decode(raw)
    t = env.dead_at if env.kind == "dead" else env.time_ms
    if t is None or t <= 0 or t > now_ms + FUTURE_SLACK_MS:
        return None
    return t


def _age(raw: bytes | None, now_ms: int) -> int | None:
    t = _item_time(raw, now_ms)
    return None if t is None else max(now_ms - t, 0)


def _max(*values: int | None) -> int | None:
    best = None
    for v in values:
        if v is not None and (best is None or v > best):
            best = v
    return best


def overdue_growing(values: list[float]) -> bool:
    """The last samples never fall and end higher than they started (and above zero)."""
    recent = values[-GROWING_SAMPLES:]
    if len(recent) < GROWING_SAMPLES or recent[-1] <= 0 or recent[-1] <= recent[0]:
        return False
    return all(b >= a for a, b in itertools.pairwise(recent))


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


# -- per-poll scratch ------------------------------------------------------------------------

@dataclass(slots=True)
class _ListRead:
    """One list's replies in this poll (set straight from the replies, by name)."""

    errors: list[str]  # the queue's error lines
    depth: int = 0
    head: bytes | None = None
    tail: bytes | None = None
    head_pos: int | None = None
    tail_pos: int | None = None
    followed: bool = False  # LPOS was asked for the last poll's ends
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
class _ListMemory:
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
    # (head, tail) probes (see _ListRead) read with the ends; None: not read, or big too.
    probes: tuple[bytes | None, bytes | None] | None = None
    big_head: bool = False
    big_tail: bool = False
    end_times: tuple[int | None, int | None] = (None, None)  # the end items' own times


def _states_of(ref: QueueRef) -> LibraryQueue | None:
    """The library queue to poll state by state, or None. A library's stream (taskiq) is a
    plain stream with consumer groups, whose pending and lag are the figures."""
    return ref.library if ref.kind is not QueueKind.STREAM else None


@dataclass(slots=True)
class _GroupReads:
    """A stream's consumer groups in this poll (apart from _Tally: a poll makes one
    _Tally per queue, and only streams need these)."""

    names: list[str] = field(default_factory=list)
    fields: list[dict] = field(default_factory=list)  # XINFO GROUPS, read
    pending_rows: dict[str, list | None] = field(default_factory=dict)
    large: list[str] = field(default_factory=list)  # asked with XPENDING IDLE
    idle_rows: dict[str, list | None] = field(default_factory=dict)
    holder_counts: dict[str, dict[str, int] | None] = field(default_factory=dict)


@dataclass(slots=True)
class _Tally:
    """Mutable scratch for one queue while the replies are read."""

    ref: QueueRef
    depth: int = 0
    main: _ListRead | None = None
    ready_list: _ListRead | None = None
    processing: int | None = None
    processing_items: list | None = None
    ready: int | None = None
    overdue: int | None = None
    coming: list[float] | None = None  # delayed: due times just after now (bounded)
    coming_until: int = 0
    oldest_ms: int | None = None
    oldest_sampled: bool = False
    groups: tuple[GroupStats, ...] = ()
    group_reads: _GroupReads | None = None  # streams
    last_id: str | None = None
    added: int | None = None
    new_ids: list | None = None  # ids after the last poll's last id (bounded)
    group_ids: list | None = None  # ids after a lagging group's last delivered id
    new_cut: bool = False  # new_ids may miss some (read together with group_ids)
    depth_from_info: bool = False  # a stream's length from XINFO STREAM (no XLEN asked)
    length_in_info: bool = False
    errors: list[str] = field(default_factory=list)
    lib: list[Any] | None = None  # library queues (only): replies, errors included
    fig: Any = None  # library queues: what libraries.poll.read made of `lib`
    big_member: bool = False  # sorted sets: a member read for its time is over BIG_END
    stream_carried: _StreamMemory | None = None  # streams: XINFO STREAM not asked
    stream_changed: bool = False  # ... and an entry was added after its last id
    new_last_text: str | None = None  # the last id the XRANGE of new ids read
    backlog_big: bool = False  # the ids read after a lagging group held a big entry
    backlog_reused: list | None = None  # ... so last poll's ids were used, not read again
    earliest_due: int | None = None  # delayed: the earliest member's due time
    processing_runs: list | None = None  # the small items' runs read instead of the list
    members_carried: _BigMembers | None = None  # members not read: the last read stands


@dataclass(slots=True)
class _BigMembers:
    """A sorted set whose members read for ages (top and bottom, the earliest due) were
    over BIG_END bytes: while its size stands they are not read again."""

    depth: int
    unchanged: bool  # its size was the same as at the poll before
    oldest_t: int | None  # the oldest item's own time or the earliest due time (ms)
    read_at: float  # (monotonic) when they were last read

    def skip_read(self) -> bool:
        # A set's size says less than a list's ends (a member replaced keeps it): read
        # again after BIG_REREAD_S whatever the size says.
        return self.unchanged and time.monotonic() - self.read_at < BIG_REREAD_S


class _DueMemory(NamedTuple):
    """A delayed set at the last poll: when, how many members were not yet due, and the
    due times of those coming due soonest (up to `until`; `cut`: more were there)."""

    now_ms: int
    future: int
    due: list[float]
    until: int
    cut: bool


@dataclass(frozen=True, slots=True)
class _Counted:
    """Moves counted from notifications between two marks, timed by the polls that
    asked for them."""

    added: int
    taken: int
    exact: bool
    at: float
    since: float


NO_NEWS = _Counted(0, 0, True, 0.0, 0.0)  # no newer mark answered since the last poll


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


@dataclass(slots=True)
class _StreamMemory:
    last_id: tuple[int, int] | None
    counters: bool  # entries-added and every group's entries-read were reported
    ldids: dict[str, tuple[int, int] | None]
    lagging_from: tuple[int, int] | None = None  # where this poll's group XRANGE started
    depth: int = 0  # entries then: ids up to last_id that can still be there now
    length_in_info: bool = False  # XINFO STREAM gave the length: no XLEN needed
    one_read: int = 0  # this poll read new and lagging ids in one XRANGE of this COUNT
    last_text: str | None = None  # last_id as the server gave it (parsed once)
    # XINFO STREAM's first or last entry was over BIG_END: while no entry is added after
    # last_id (XRANGE COUNT 1, empty), its figures stand and it is not asked again.
    big_ends: bool = False
    added: int | None = None  # entries-added as last read
    # No counters: the ids after a lagging group's position, kept where that read held an
    # entry over BIG_END (XRANGE returns whole entries), from `backlog_from` on.
    backlog_ids: list | None = None
    backlog_from: tuple[int, int] | None = None


class Poller:
    """Keeps what one poll needs from the last (ends, counters, groups) and builds Snapshots."""

    def __init__(self, client: Client, alerts: AlertConfig, history: History,
                 visibility_timeouts: dict[str, float] | None = None) -> None:
        self.client = client
        self.alerts = alerts
        self.history = history
        self.visibility_timeouts = visibility_timeouts or {}
        self._lists: dict[str, _ListMemory] = {}
        self._processing: dict[str, tuple[list, Counter]] = {}  # last read, as a multiset
        # Processing lists holding an item over BIG_END: their length when read whole, and
        # the runs of small items that tell a change without reading the big ones.
        self._processing_big: dict[str, tuple[int, tuple[tuple[int, int], ...]]] = {}
        self._first_seen: dict[str, dict[bytes, float]] = {}  # processing job -> wall s
        self._streams: dict[str, _StreamMemory] = {}
        self._groups: dict[str, list[str]] = {}
        self._large: dict[str, list[str]] = {}  # stream -> groups past PENDING_SCAN
        self._last_mono: float | None = None  # when the last poll finished
        self.left_out = 0  # set by the caller: queues found but not polled
        self.access_note: str | None = None  # set by the caller: keys the user may not read
        self.max_queues = 0
        # Item -> its own time: end items and processing jobs are mostly the same values
        # poll after poll, so each is parsed once. Bounded: cleared when it grows past this.
        self._times: dict[bytes, int | None] = {}
        self._depths: dict[str, int] = {}  # sorted set -> its size at the last poll
        self._big_members: dict[str, _BigMembers] = {}
        self._due: dict[str, _DueMemory] = {}  # delayed set -> its last poll
        self._interval_s = 1.0  # between the last two polls
        self._refs: list[QueueRef] | None = None
        self._epoch = ServerEpoch()  # a restart or flush starts the rates again
        # Cluster: the node each queue was read from at the last poll. A queue whose node
        # changed (a failover) or could not be read starts its rates again, as after a
        # restart: the gap and the other node's counters are not traffic.
        self._queue_nodes: dict[str, str] = {}
        # Opt-in exact mode: moves counted from keyspace notifications (set by Monitor).
        self.events: KeyEvents | None = None
        self._event_memory: dict[str, _EventMemory] = {}
        self._poll_seq = 0
        self._poll_times: dict[int, float] = {}  # poll -> when its mark was asked
        # The newest answered mark: (poll, generation, counts), and the one used before.
        self._mark: tuple[int, int, dict[str, tuple[int, int]]] | None = None

    def _time(self, raw: bytes | None, now_ms: int) -> int | None:
        """An item's own time (cached by value), or None."""
        if raw is None:
            return None
        times = self._times
        t = times.get(raw, -1)
        if t == -1:
            if len(times) > 50_000:
                times.clear()
            t = times[raw] = _item_time(raw, now_ms)
        return t

    def _age(self, raw: bytes | None, now_ms: int) -> int | None:
        t = self._time(raw, now_ms)
        return None if t is None else max(now_ms - t, 0)

    async def snapshot(self, refs: list[QueueRef]) -> Snapshot:
        started = time.monotonic()
        rt_before = self.client.round_trips.count
        # The server's clock (offset measured by the last TIME): items' times were written
        # by the server's clients, and the console's clock may be off by hours.
        clock = self.client.server_clock
        now_ms = clock.now_ms()
        commands: list[tuple] = []
        # Pairs (target, what), flat: a tuple per command holding a tally is kept alive for
        # the whole poll, and thousands of those make the garbage collector run far more.
        readers: list[Any] = []
        tallies = [_Tally(ref) for ref in refs]
        lpos = self.client.capabilities.lpos
        for tally in tallies:
            self._commands(commands, readers, tally, now_ms, lpos)
        commands += [("INFO",), ("PUBSUB", "CHANNELS"), ("PUBSUB", "NUMPAT"),
                     ("INFO", "commandstats"), ("TIME",)]
        events = self.events
        if events is not None and self.client.cluster is not None:
            events.observe_cluster()
            events = None
        if events is not None:
            commands.append(("CONFIG", "GET", "notify-keyspace-events"))
        sent_s = clock.local()
        replies = await self.client.raw_pipeline(commands)
        received_s = clock.local()
        if events is not None:
            # Counts are taken at marks (see KeyEvents.mark): this poll asks for its own
            # and uses the last poll's, whose sizes it kept. One poll late, never lagging.
            events.observe_setting(replies.pop())
            seq = self._poll_seq = self._poll_seq + 1
            answered = max(events.marks, default=None)
            self._mark = (answered, *events.marks[answered]) if answered is not None else None
            # Two polls without an answer: notifications come faster than they are read.
            asked = [s for s in self._poll_times if s < seq - 2]
            events.behind = bool(asked) and (answered is None or answered < seq - 2)
            if events.mark(seq):
                self._poll_times[seq] = time.monotonic()
            else:
                self._poll_times.clear()  # not counting: start over when it is again
            for old in [s for s in self._poll_times if s < seq - 8]:
                del self._poll_times[old]
            events.watch({k for t in tallies for k in (t.ref.key, t.ref.processing_key)
                          if k and t.ref.kind is not QueueKind.STREAM})

        apply = self._apply
        user = self.client.username
        pairs = iter(readers)
        for tally, what, reply in zip(pairs, pairs, replies):
            if type(tally) is _ListRead:
                if isinstance(reply, Exception):
                    if what in ("head_pos", "tail_pos"):
                        tally.followed = False
                    else:
                        tally.errors.append(_error_line(reply, tally.key, user))
                else:
                    setattr(tally, what, reply)
                continue
            if isinstance(reply, Exception) and what != "lib":  # libraries read their own errors
                if what in GROUP_SCANS:  # a group gone since the last poll: no rows
                    apply(tally, what, None, now_ms)
                else:
                    tally.errors.append(_error_line(reply, tally.ref.key, user))
                continue
            try:
                apply(tally, what, reply, now_ms)
            except (ValueError, TypeError, KeyError, IndexError, AttributeError):
                tally.errors.append("unexpected reply from server")
        info_raw, channels, numpat, cmdstats_raw, time_raw = replies[-5:]
        # For the next poll and every action until then (this poll keeps the now it asked
        # with, so its counts and ages agree).
        server_time_ms = clock.observe(time_raw, sent_s, received_s)
        info = parse_info(_text(info_raw)) if isinstance(info_raw, bytes) else {}
        self.client.note_info(info)
        cmdstats_text = _text(cmdstats_raw) if isinstance(cmdstats_raw, bytes) else ""
        parse_info(cmdstats_text)  # (parsed whole then, as this baseline's cost)
        if self._epoch.changed(info, cmdstats_text):
            # Restarted or flushed: this poll's contents are unrelated to the last one's.
            # Forget every last-poll memory the rates compare with; this poll counts as
            # the first (its replies are already read, so nothing it asked is lost).
            for store in (self._lists, self._processing, self._first_seen, self._streams,
                          self._depths, self._due, self._event_memory, self._big_members,
                          self._processing_big):
                store.clear()
            self.history.reset()
        channels = channels if isinstance(channels, list) else []

        # Library queues: their figures now, and the bodies of their next pending items
        # (for the age) read together with NUMSUB in round trip 2.
        probes: list[tuple[_Tally, tuple[tuple, Body]]] = []
        lua = self.client.capabilities.lua
        for t in tallies:
            if t.lib is not None and (library := _states_of(t.ref)) is not None:
                t.fig = library_poll.read(library, t.lib, now_ms,
                                          self.alerts.overdue_seconds, lua)
                probes += [(t, probe) for probe in t.fig.probes]
        second = [("PUBSUB", "NUMSUB", *channels[:1000])] if channels else []
        second += [command for _, (command, _body) in probes]
        later = await self.client.raw_pipeline(second) if second else []
        for (t, (_command, body)), reply in zip(probes, later[1 if channels else 0:]):
            t.fig, age = library_poll.probed(t.fig, body, reply, now_ms)
            if age is not None:
                t.oldest_ms = max(t.oldest_ms or 0, age)

        channel_stats: list[ChannelStats] = []
        if channels:
            counts = later[0]
            if isinstance(counts, list):
                channel_stats = [ChannelStats(key_text(c), int(n))
                                 for c, n in zip(counts[::2], counts[1::2])]
            else:
                channel_stats = [ChannelStats(key_text(c), 0) for c in channels]

        mono = time.monotonic()
        unread = self._follow_nodes(tallies)
        stats = tuple(self._finish_library(t, mono, now_ms) if t.lib is not None
                      else self._finish(t, mono, now_ms) for t in tallies)
        for t in unread:
            self._start_again(t.ref)  # what the failed read recorded is not a figure either
        server = self._server_stats(info, mono)
        self.history.forget({t.ref.ident for t in tallies})
        if refs is not self._refs:  # discovery changed the list: drop what left it
            self._refs = refs
            self._forget({t.ref.key for t in tallies} | {t.ref.ready_key for t in tallies
                                                          if t.ref.ready_key})
        if self._last_mono is not None:
            self._interval_s = mono - self._last_mono
        self._last_mono = mono
        return Snapshot(
            taken_at=clock.now_s(),  # the server's clock, as every time in the snapshot
            queues=stats,
            server=server,
            channels=tuple(sorted(channel_stats, key=lambda c: c.name)),
            numpat=numpat if isinstance(numpat, int) else None,
            round_trips=self.client.round_trips.count - rt_before,
            poll_ms=(time.monotonic() - started) * 1000,
            left_out=self.left_out,
            access_note=self.access_note,
            max_queues=self.max_queues,
            notifications=self.events.status() if self.events is not None else None,
            server_time_ms=server_time_ms,
            clock_offset_ms=clock.offset_ms,
        )

    def _follow_nodes(self, tallies: list[_Tally]) -> list[_Tally]:
        """On a cluster: start again the rates of each queue whose node changed since the
        last poll, or whose node did not answer this one (returned: their figures of this
        poll are forgotten after it too, so the gap is never read as a drop or a rise)."""
        router = self.client.cluster
        if router is None:
            return []
        unread = []
        for t in tallies:
            try:
                node = router.node_of(t.ref.key)
            except Exception:  # slot not served right now
                node = ""
            down = bool(t.errors) and (not node or node in router.unreachable)
            before = self._queue_nodes.get(t.ref.ident)
            if down or (before is not None and before != node):
                self._start_again(t.ref)
            if down:
                unread.append(t)
                self._queue_nodes.pop(t.ref.ident, None)
            else:
                self._queue_nodes[t.ref.ident] = node
        return unread

    def _start_again(self, ref: QueueRef) -> None:
        """Forget one queue's last-poll memories and series, as a restart does for all."""
        keys = {k for k in (ref.key, ref.processing_key, ref.ready_key) if k}
        for store in (self._lists, self._processing, self._first_seen, self._streams,
                      self._groups, self._large, self._depths, self._due, self._event_memory):
            for key in keys & store.keys():
                del store[key]
        self.history.forget_name(ref.ident)

    def _forget(self, keys: set[str]) -> None:
        for store in (self._lists, self._streams, self._groups, self._depths, self._large,
                      self._big_members, self._processing_big,
                      self._due, self._event_memory):
            for key in [k for k in store if k not in keys]:
                del store[key]

    # -- what each kind asks ---------------------------------------------------------------

    def _list_commands(self, commands: list, readers: list, read: _ListRead,
                       key: str, lpos: bool, ends_if_empty: bool = True) -> None:
        prev = self._lists.get(key)
        commands.append(("LLEN", key))
        readers += (read, "depth")
        if not ends_if_empty and prev is not None and not prev.depth:
            return  # empty at the last poll: its ends are read once it has items
        if prev is not None and prev.big_ends and prev.unchanged and prev.probes is not None:
            # Reading a 100 MB end item at every poll costs the server that much each
            # time; while the list stands still, its length and the small items next to
            # the big ones say when to read it again.
            read.probing = True
            commands += [("LINDEX", key, 1 if prev.big_head else 0),
                         ("LINDEX", key, -2 if prev.big_tail else -1)]
            readers += (read, "probe_head", read, "probe_tail")
            return
        commands += [("LINDEX", key, 0), ("LINDEX", key, -1)]
        readers += (read, "head", read, "tail")
        if prev is not None and prev.big_ends:  # the probes, read with the ends they watch
            commands += [("LINDEX", key, 1), ("LINDEX", key, -2)]
            readers += (read, "next_head", read, "next_tail")
        if prev is not None and prev.depth and prev.head is not None and lpos \
                and not prev.big_ends:  # (LPOS would send the big item back)
            # (RANK 1, from the head, is LPOS's default: not sent)
            commands += [("LPOS", key, prev.head, "MAXLEN", LPOS_MAXLEN),
                         ("LPOS", key, prev.tail, "RANK", -1, "MAXLEN", LPOS_MAXLEN)]
            readers += (read, "head_pos", read, "tail_pos")
            read.followed = True
        if prev is not None and prev.depth and prev.newest is not None \
                and not (lpos and prev.exact) and not prev.big_ends:
            # Moves the ends cannot tell (a stack, no LPOS): count the items newer than
            # the last poll's newest at the producers' end, reading a little more than
            # last time's arrivals (bounded: past it, a lower bound).
            end = prev.producer_end or ("head" if prev.newest_at_head else "tail")
            n = min(max(2 * prev.arrivals + 16, 32), LPOS_MAXLEN)
            commands.append(("LRANGE", key, 0, n - 1) if end == "head"
                            else ("LRANGE", key, -n, -1))
            readers += (read, "recent")
            read.recent_end = end

    def _commands(self, commands: list, readers: list, t: _Tally, now_ms: int,
                  lpos: bool) -> None:
        ref = t.ref
        key = ref.key
        kind = ref.kind
        library = ref.library  # as _states_of, inline: this runs for every queue
        if library is not None and kind is not QueueKind.STREAM:
            ops = library_poll.commands(library, now_ms)
            t.lib = []
            commands += ops
            readers += (t, "lib") * len(ops)
            return
        if kind in LIST_KINDS:
            t.main = _ListRead(t.errors, key=key)
            self._list_commands(commands, readers, t.main, key, lpos)
            if ref.processing_key:
                pkey = ref.processing_key
                commands.append(("LLEN", pkey))
                readers += (t, "processing")
                held = self._processing_big.get(pkey)
                if held is not None:
                    # An in-flight job of 100 MB would be read at every poll: its small
                    # neighbours and the length tell when the list changed.
                    t.processing_runs = []
                    for first, last in held[1]:
                        commands.append(("LRANGE", pkey, first, last))
                        readers += (t, "processing_run")
                else:
                    commands.append(("LRANGE", pkey, 0, PROCESSING_READ - 1))
                    readers += (t, "processing_items")
        elif kind is QueueKind.PRIORITY:
            commands.append(("ZCARD", key))
            readers += (t, "depth")
            big = self._big_members.get(key)
            if big is not None and big.skip_read():  # (as lists with big ends: size only)
                t.members_carried = big
                return
            commands.append(("ZREVRANGE", key, 0, 0))
            readers += (t, "top")
            if self._depths.get(key, 2) > 1:  # one member: the top is the whole set
                commands.append(("ZRANGE", key, 0, PRIORITY_SAMPLE - 1))
                readers += (t, "bottom")
        elif kind is QueueKind.DELAYED:
            # Inclusive bounds only: Ferrite rejects '(' and ZRANGE BYSCORE.
            commands += [("ZCARD", key), ("ZCOUNT", key, "-inf", now_ms)]
            readers += (t, "depth", t, "overdue")
            big = self._big_members.get(key)
            if big is not None and big.skip_read():  # the earliest member is big: not again
                t.members_carried = big
            else:
                commands.append(("ZRANGEBYSCORE", key, "-inf", "+inf", "WITHSCORES",
                                 "LIMIT", 0, 1))
                readers += (t, "earliest")
            due = self._due.get(key)
            if due is None or due.future:  # nothing was due later: read again once it is
                t.coming_until = now_ms + max(DUE_AHEAD_MS, int(3000 * self._interval_s))
                commands.append(("ZRANGEBYSCORE", key, now_ms, t.coming_until, "WITHSCORES",
                                 "LIMIT", 0, DUE_READ))
                readers += (t, "coming")
            if ref.ready_key:
                t.ready_list = _ListRead(t.errors, key=ref.ready_key)
                # A ready list is usually empty: its ends are only followed once it is not.
                self._list_commands(commands, readers, t.ready_list, ref.ready_key, lpos,
                                    ends_if_empty=False)
        elif kind is QueueKind.STREAM:
            reads = t.group_reads = _GroupReads()
            memory = self._streams.get(key)
            carry = memory is not None and memory.big_ends and memory.last_id is not None
            if memory is not None and memory.length_in_info and not carry:
                # XINFO STREAM's length is the XLEN: asked apart only until a reply has it.
                t.depth_from_info = True
            else:
                commands.append(("XLEN", key))
                readers += (t, "depth")
            commands.append(("XINFO", "GROUPS", key))
            readers += (t, "groups")
            if carry:
                # XINFO STREAM holds the first and last entries whole: with a big one, ask
                # only whether an entry came after the last id.
                assert memory is not None and memory.last_id is not None
                t.stream_carried = memory
                commands.append(("XRANGE", key, after_id(memory.last_id), "+", "COUNT", 1))
                readers += (t, "after_last")
            else:
                commands.append(("XINFO", "STREAM", key))
                readers += (t, "stream")
            if memory is not None and not memory.counters:
                # No counters: count entry ids after the last poll's last id, and after
                # the last delivered id of groups that were behind (bounded reads).
                behind = [i for i in memory.ldids.values()
                          if i is not None and (memory.last_id is None or i < memory.last_id)]
                memory.lagging_from = min(behind) if behind else None
                memory.one_read = 0
                if memory.backlog_ids is not None and memory.lagging_from is not None \
                        and memory.backlog_from is not None and memory.last_id is not None \
                        and memory.lagging_from >= memory.backlog_from:
                    # The backlog held a big entry: entries never change, so the ids read
                    # last time stand; only the new ones are read (see the docstring).
                    t.backlog_reused = [i for i in memory.backlog_ids
                                        if i > memory.lagging_from]
                    commands.append(("XRANGE", key, after_id(memory.last_id), "+",
                                     "COUNT", XRANGE_COUNT))
                    readers += (t, "new_ids")
                elif memory.lagging_from is not None and memory.last_id is not None \
                        and memory.depth <= XRANGE_COUNT:
                    # One read for both: the ids after the lagging group's position hold
                    # at most the last poll's length up to its last id (ids only grow),
                    # then the new ones, as many as the read of new ids alone would get.
                    memory.one_read = XRANGE_COUNT + memory.depth
                    commands.append(("XRANGE", key, after_id(memory.lagging_from), "+",
                                     "COUNT", memory.one_read))
                    readers += (t, "all_ids")
                else:
                    start = after_id(memory.last_id) if memory.last_id else "-"
                    commands.append(("XRANGE", key, start, "+", "COUNT", XRANGE_COUNT))
                    readers += (t, "new_ids")
                if memory.lagging_from is not None and not memory.one_read \
                        and t.backlog_reused is None:
                    commands.append(("XRANGE", key, after_id(memory.lagging_from), "+",
                                     "COUNT", XRANGE_COUNT))
                    readers += (t, "group_ids")
            # Groups known from the last poll: every pending entry (bounded) for health.
            for group in self._groups.get(key, ()):
                commands.append(("XPENDING", key, group, "-", "+", PENDING_SCAN))
                readers += (t, "pending_scan")
            if self.client.capabilities.xpending_idle:
                # Groups that held more than the scan reads: their idle entries only, and
                # how many each consumer holds.
                idle_ms = min(self._idle_ms, self._dead_ms)
                reads.large = self._large.get(key, [])
                for group in reads.large:
                    commands += [("XPENDING", key, group),
                                 ("XPENDING", key, group, "IDLE", idle_ms, "-", "+", IDLE_SCAN)]
                    readers += (t, "holder_counts", t, "idle_scan")

    def _apply(self, t: _Tally, what: str, v: Any, now_ms: int) -> None:
        if what == "lib":
            assert t.lib is not None
            t.lib.append(v)
        elif what == "depth":
            t.depth = v
        elif what == "processing":
            t.processing = v
        elif what == "processing_items":
            t.processing_items = v
        elif what == "processing_run":
            assert t.processing_runs is not None
            t.processing_runs.append(v)
        elif what == "top":
            t.oldest_ms = _max(t.oldest_ms, self._age(v[0], now_ms) if v else None)
            t.big_member = t.big_member or (bool(v) and len(v[0]) > BIG_END)
        elif what == "bottom":
            t.oldest_ms = _max(t.oldest_ms, *(self._age(m, now_ms) for m in v))
            t.oldest_sampled = True
            t.big_member = t.big_member or any(len(m) > BIG_END for m in v)
        elif what == "overdue":
            t.overdue = v
        elif what == "coming":
            t.coming = [float(score) for score in v[1::2]]
        elif what == "earliest":
            t.big_member = bool(v) and len(v[0]) > BIG_END
            if v:
                due = t.earliest_due = int(float(v[1]))
                if due <= now_ms:
                    t.oldest_ms = now_ms - due
        elif what == "groups":
            self._read_groups(t, v)
        elif what == "stream":
            info = _pairs(v)
            last = info.get("last-generated-id")
            t.last_id = _text(last) if last is not None else None
            t.added = _int_or_none(info.get("entries-added"))
            length = info.get("length")
            t.length_in_info = isinstance(length, int)
            if t.depth_from_info:
                t.depth = info["length"]  # missing: an unexpected reply (XLEN again next poll)
            t.big_member = any(_entry_size(info.get(end)) > BIG_END
                               for end in ("first-entry", "last-entry"))
        elif what == "after_last":
            carried = t.stream_carried
            assert carried is not None
            t.last_id, t.added = carried.last_text, carried.added
            t.big_member = True
            if v:  # an entry was added: XINFO STREAM is read again at the next poll
                t.stream_changed, t.added = True, None
        elif what == "new_ids":
            t.new_ids = [parse_id(row[0]) for row in v]
            t.new_last_text = _text(v[-1][0]) if v else None
        elif what == "group_ids":
            t.group_ids = [parse_id(row[0]) for row in v]
            t.backlog_big = any(_entry_size(row) > BIG_END for row in v)
        elif what == "all_ids":
            memory = self._streams[t.ref.key]
            ids = [parse_id(row[0]) for row in v]
            t.backlog_big = any(_entry_size(row) > BIG_END for row in v)
            t.group_ids = ids[:XRANGE_COUNT]
            last = memory.last_id
            assert last is not None  # asked only with a last id
            t.new_ids = [i for i in ids if i is not None and i > last][:XRANGE_COUNT]
            # Cut before as many new ids as a read of its own gets (entries added to the
            # old range between the last poll's XLEN and its last id): a lower bound.
            t.new_cut = len(ids) >= memory.one_read and len(t.new_ids) < XRANGE_COUNT
        elif what in GROUP_SCANS:
            reads = t.group_reads
            assert reads is not None
            if what == "pending_scan":
                # Replies come in the order the groups were asked (the last poll's names).
                names = self._groups.get(t.ref.key, ())
                reads.pending_rows[names[len(reads.pending_rows)]] = v
            elif what == "holder_counts":
                reads.holder_counts[reads.large[len(reads.holder_counts)]] = \
                    None if v is None else {key_text(c): int(n) for c, n in (v[3] or ())}
            else:
                reads.idle_rows[reads.large[len(reads.idle_rows)]] = v

    def _read_groups(self, t: _Tally, reply: list) -> None:
        reads = t.group_reads
        assert reads is not None
        names = []
        lag_seen = False
        for raw in reply:
            g = _pairs(raw)
            name = key_text(g.get("name", b""))
            names.append(name)
            lag_seen = lag_seen or "lag" in g
            reads.fields.append(dict(
                name=name,
                consumers=int(g.get("consumers", 0)),
                pending=int(g.get("pending", 0)),
                last_delivered_id=_text(g.get("last-delivered-id", b"")),
                lag=_int_or_none(g.get("lag")),
                entries_read=_int_or_none(g.get("entries-read")),
            ))
        if reply:
            self.client.note_lag_seen(lag_seen)
        reads.names = names

    # -- turning tallies into stats ------------------------------------------------------

    def _follow(self, key: str, read: _ListRead, lpos: bool, now_ms: int) -> ListMoves | None:
        """Moves of one list since the last poll; remembers its ends for the next."""
        prev = self._lists.get(key)
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
        head_t = read.head_t = self._time(read.head, now_ms)
        tail_t = read.tail_t = self._time(read.tail, now_ms)
        newest = _max(head_t, tail_t)
        if prev is not None and read.recent is not None and prev.newest is not None:
            moves, newest = self._by_times(prev, read, moves, newest, now_ms)
        producer, consumer = (prev.producer_end, prev.consumer_end) if prev else (None, None)
        if moves is not None:
            producer = moves.producer_end or producer
            consumer = moves.consumer_end or consumer
        memory = prev or _ListMemory(None, None, 0)
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
        self._lists[key] = memory
        return moves

    def _follow_probes(self, memory: _ListMemory, read: _ListRead) -> ListMoves:
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

    def _by_times(self, prev: _ListMemory, read: _ListRead, moves: ListMoves | None,
                  newest: int | None, now_ms: int) -> tuple[ListMoves | None, int | None]:
        """Arrivals from the items' own times at the producers' end: those newer than the
        newest the last poll saw. Exact only where the ends showed consumers take from
        the other end and the read reached an item the last poll saw; else a lower bound
        that replaces a smaller one."""
        assert read.recent is not None and prev.newest is not None
        times = [self._time(v, now_ms) for v in read.recent]
        arrived = sum(1 for t in times if t is not None and t > prev.newest)
        newest = _max(newest, *times)
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

    def _counted_moves(self, t: _Tally) -> _Counted | None:
        """Moves from keyspace notifications between the last two marks used, or None
        where they are not counted (not live, first marks, a stream, an error)."""
        ref = t.ref
        if t.errors or ref.kind is QueueKind.STREAM:
            return None
        main = self._event_moves(ref.key, t.depth)
        if ref.processing_key:  # a reliable queue: out = jobs leaving the processing list
            done = self._event_moves(ref.processing_key, t.processing)
            if main is None or done is None or main is NO_NEWS or done is NO_NEWS:
                return main if main is NO_NEWS and done is NO_NEWS else None
            return _Counted(main.added, done.taken, main.exact and done.exact, main.at,
                            main.since)
        return main

    def _event_moves(self, key: str, depth: int | None) -> _Counted | None:
        """What was added to and taken from a key between the mark last used and the
        newest answered one, checked against the change in size between those polls.
        NO_NEWS when no newer mark was answered (the flows wait for the next)."""
        memory = self._event_memory.get(key)
        if memory is None:
            memory = self._event_memory[key] = _EventMemory()
        seq = self._poll_seq
        memory.depths[seq] = depth
        for old in [s for s in memory.depths if s < seq - 8]:
            del memory.depths[old]
        mark = self._mark
        if mark is None:
            memory.seq = -1
            return None
        at, generation, counts = mark
        if at == memory.seq and generation == memory.generation:
            return NO_NEWS
        adds, takes = counts.get(key, (0, 0))
        depth_then = memory.depths.get(at)
        result = None
        since = self._poll_times.get(memory.seq)
        when = self._poll_times.get(at)
        if memory.generation == generation and 0 <= memory.seq < at \
                and memory.depth is not None and depth_then is not None \
                and since is not None and when is not None:
            added, taken = adds - memory.adds, takes - memory.takes
            carry = memory.carry + (depth_then - memory.depth) - (added - taken)
            exact = abs(carry) <= max(EVENT_SLACK, (added + taken) // 50)
            memory.carry = carry if exact else 0
            result = _Counted(added, taken, exact, when, since)
        else:
            memory.carry = 0
        memory.generation, memory.seq = generation, at
        memory.adds, memory.takes, memory.depth = adds, takes, depth_then
        return result

    def _due_arrivals(self, t: _Tally, now_ms: int) -> int | None:
        """Members added to a delayed set since the last poll that are not yet due: the
        members not yet due now, less those of the last poll still not due. Arrivals due
        before now may have been promoted already: the count is a lower bound."""
        key = t.ref.key
        prev = self._due.get(key)
        if t.overdue is None:
            self._due.pop(key, None)
            return None
        future = t.depth - t.overdue
        # Not read (nothing was due later at the last poll): the next poll counts none of
        # this poll's members as come due, a lower bound as ever.
        coming = [s for s in t.coming if s > now_ms] if t.coming else []
        self._due[key] = _DueMemory(now_ms, future, coming, t.coming_until,
                                    t.coming is None or len(t.coming) >= DUE_READ)
        if prev is None:
            return None
        # Of the last poll's members not yet due then, these are due now (a lower bound
        # when its read was cut or did not reach now: arrivals stay a lower bound).
        came_due = sum(1 for s in prev.due if s <= now_ms) if prev.due else 0
        arrivals = future - (prev.future - came_due)
        return arrivals if arrivals >= 0 else None

    def _ends(self, key: str) -> tuple[str | None, str | None]:
        memory = self._lists.get(key)
        return (memory.producer_end, memory.consumer_end) if memory else (None, None)

    def _flow(self, ident: str, name: str, moved: int | None, exact: bool,
              mono: float) -> tuple[float | None, bool]:
        flow = self.history.flow(ident, name)
        flow.add(mono, moved, exact, since=self._last_mono)
        return flow.rate()

    def _processing_items(self, t: _Tally) -> None:
        """The processing list as this poll knows it. Holding a big item, it was not read:
        unchanged (same length, same small items) it is the last read; changed, it is read
        whole at the next poll, and this poll's moves are counted then (a poll late)."""
        key = t.ref.processing_key or ""
        runs = t.processing_runs
        if runs is not None:
            prev_items = self._processing.get(key, ([], None))[0]
            length, spans = self._processing_big[key]
            same = t.processing == length and len(runs) == len(spans) and all(
                isinstance(run, list) and run == prev_items[first:last + 1]
                for run, (first, last) in zip(runs, spans, strict=True))
            t.processing_items = prev_items
            if not same:
                del self._processing_big[key]
            return
        items = t.processing_items
        if not isinstance(items, list) or not any(len(v) > BIG_END for v in items):
            self._processing_big.pop(key, None)
            return
        small_runs: list[tuple[int, int]] = []
        for i, value in enumerate(items):
            if len(value) <= BIG_END:
                if small_runs and small_runs[-1][1] == i - 1:
                    small_runs[-1] = (small_runs[-1][0], i)
                else:
                    small_runs.append((i, i))
        self._processing_big[key] = (t.processing or 0, tuple(small_runs))

    def _processing_moves(self, t: _Tally, now_s: float) -> tuple[int, int, int | None, bool]:
        """(entered, left, stale, stale_lower) from the whole (bounded) processing list."""
        key = t.ref.processing_key or ""
        self._processing_items(t)
        items = t.processing_items or []
        prev_items, now = self._processing.get(key, (None, None))
        entered = left = 0
        seen = self._first_seen.get(key)
        if seen is None:
            seen = self._first_seen[key] = {}
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
        self._processing[key] = (items, now)
        stale_s = self.visibility_timeouts.get(t.ref.key) or self.alerts.processing_stale_seconds
        now_ms = int(now_s * 1000)
        stale = 0
        for value, n in now.items():
            age: float | None = self._age(value, now_ms)
            first = seen.get(value) or 0.0
            if first:
                held = (now_s - first) * 1000
                age = held if age is None else min(age, held)
            if age is not None and age >= stale_s * 1000:
                stale += n
        lower = (t.processing or 0) > len(items)
        return entered, left, stale, lower

    def _carry_big_members(self, t: _Tally, now_ms: int) -> None:
        """Sorted sets: the time read last (while the size stands), and whether the next
        poll reads the big members again (after the size changed, it does)."""
        key = t.ref.key
        if t.members_carried is not None:
            big = t.members_carried
            big.unchanged = t.depth == big.depth
            big.depth = t.depth
            # Priority: the oldest item's time; delayed: the earliest due, late from now.
            if big.oldest_t is not None and big.oldest_t <= now_ms:
                t.oldest_ms = now_ms - big.oldest_t
            t.oldest_sampled = t.ref.kind is QueueKind.PRIORITY and t.depth > 1
        elif t.big_member and not t.errors:
            prev = self._big_members.get(key)
            oldest_t = None if t.oldest_ms is None else now_ms - t.oldest_ms
            if t.ref.kind is QueueKind.DELAYED:
                oldest_t = t.earliest_due
            self._big_members[key] = _BigMembers(
                t.depth, prev is not None and prev.depth == t.depth, oldest_t,
                time.monotonic())
        else:
            self._big_members.pop(key, None)

    def _finish(self, t: _Tally, mono: float, now_ms: int) -> QueueStats:
        ref = t.ref
        ident = ref.ident
        history = self.history
        if ref.kind in (QueueKind.PRIORITY, QueueKind.DELAYED) and ref.library is None:
            self._carry_big_members(t, now_ms)
        if t.main is not None:
            t.depth = t.main.depth
        depth_series = history.series(ident, "depth")
        depth_series.add(mono, t.depth)
        net = depth_series.rate(RATE_SPAN_S)
        lpos = self.client.capabilities.lpos
        in_rate = out_rate = None
        in_exact = out_exact = True
        note: str | None = None
        pending = None
        producer_end = consumer_end = None
        stale = None
        stale_lower = False
        idle_pending = None
        growing = False  # delayed: the overdue count keeps rising

        if ref.kind in LIST_KINDS and t.main is not None:
            main = t.main
            prev = self._lists.get(ref.key)
            prev_depth = prev.depth if prev is not None else None
            moves = self._follow(ref.key, main, lpos, now_ms)
            oldest_t = main.head_t if main.tail_t is None or (
                main.head_t is not None and main.head_t < main.tail_t) else main.tail_t
            t.oldest_ms = None if oldest_t is None else max(now_ms - oldest_t, 0)
            producer_end, consumer_end = self._ends(ref.key)
            arrivals = moves.arrivals if moves else None
            exact = moves.exact if moves else False
            note = moves.note if moves else NOTE_WARMUP
            departures = None
            if arrivals is not None and prev_depth is not None:
                departures = arrivals - (main.depth - prev_depth)
                if departures < 0:  # removed from the middle or a miscount: not trusted
                    departures, exact = None, False
            if ref.processing_key:
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
                in_rate, in_exact = self._flow(ident, "in", arrivals if acked is not None
                                               else None, exact, mono)
                out_rate, out_exact = self._flow(ident, "out", acked, exact, mono)
            else:
                in_rate, in_exact = self._flow(ident, "in", arrivals, exact, mono)
                out_rate, out_exact = self._flow(
                    ident, "out", departures if arrivals is not None else None, exact, mono)
        elif ref.kind is QueueKind.DELAYED:
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
            note = NOTE_NO_READY
            if t.ready_list is not None:
                t.ready = t.ready_list.depth
                moves = self._follow(ref.ready_key or "", t.ready_list, lpos, now_ms)
                promoted = moves.arrivals if moves else None
                exact = moves.exact if moves else False
                note = moves.note if moves else NOTE_WARMUP
            due_in = self._due_arrivals(t, now_ms)
            if not exact and due_in is not None and grew is not None \
                    and due_in - grew >= max(promoted or 0, 0):
                promoted, note = due_in - grew, NOTE_DUE
            arrivals = None
            if promoted is not None and grew is not None:
                arrivals = promoted + grew
                if arrivals < 0:
                    arrivals, exact = None, False
            out_rate, out_exact = self._flow(ident, "out", promoted, exact, mono)
            in_rate, in_exact = self._flow(ident, "in", arrivals, exact, mono)
        elif ref.kind is QueueKind.PRIORITY:
            note = NOTE_PRIORITY
            self._depths[ref.key] = t.depth
        elif ref.kind is QueueKind.STREAM:
            (in_rate, in_exact, out_rate, out_exact, note, pending, idle_pending) = \
                self._finish_stream(t, mono, now_ms)

        counted = self._counted_moves(t) if self.events is not None else None
        if counted is not None:
            flows = self.history.flow(ident, "events_in"), self.history.flow(ident, "events_out")
            if counted is not NO_NEWS:  # moves timed by the polls that asked the marks
                flows[0].add(counted.at, counted.added, counted.exact, since=counted.since)
                flows[1].add(counted.at, counted.taken, counted.exact, since=counted.since)
            (in_rate, in_exact), (out_rate, out_exact) = flows[0].rate(), flows[1].rate()
            # A lower-bound interval within the span marks the rate: say why as long.
            note = None if in_exact and out_exact else NOTE_EVENTS_MULTI
        elif self.events is not None:  # not counted this time: no rate spans the gap
            self.history.flow(ident, "events_in").add(mono, None)
            self.history.flow(ident, "events_out").add(mono, None)
        error = ("; ".join(dict.fromkeys(t.errors)) or None) if t.errors else None
        if error and ref.kind is not QueueKind.STREAM:
            in_rate = out_rate = None
        alerts = alerts_for(
            ref.kind, t.depth, t.oldest_ms, net, t.overdue, pending, t.groups, self.alerts,
            None, self.visibility_timeouts.get(ref.key), stale=stale,
            stale_lower=stale_lower, idle_pending=idle_pending, overdue_growing=growing)
        if in_rate is not None and out_rate is not None:
            note = note if not (in_exact and out_exact) else None
        return QueueStats(
            ref=ref, depth=t.depth, processing=t.processing, ready=t.ready, overdue=t.overdue,
            oldest_ms=t.oldest_ms, groups=t.groups, pending=pending, last_id=t.last_id,
            in_rate=in_rate, out_rate=out_rate, net_rate=net, error=error, alerts=alerts,
            in_lower=not in_exact, out_lower=not out_exact, rate_note=note,
            producer_end=producer_end, consumer_end=consumer_end,
            oldest_sampled=t.oldest_sampled and t.depth > PRIORITY_SAMPLE + 1,
            stale=stale, stale_lower=stale_lower, idle_pending=idle_pending,
        )

    def _finish_library(self, t: _Tally, mono: float, now_ms: int) -> QueueStats:
        """A library queue: counts per state, ages from the library's own times and units,
        and its alerts (see libraries.poll)."""
        ref = t.ref
        cfg = self.alerts
        fig = t.fig
        oldest = max(fig.oldest_ms or 0, t.oldest_ms or 0) \
            if fig.oldest_ms is not None or t.oldest_ms is not None else None
        series = self.history.series(ref.ident, "depth")
        series.add(mono, fig.depth)
        net = series.rate(RATE_SPAN_S)
        alerts: list[str] = []
        if fig.depth >= cfg.depth > 0:
            alerts.append(f"depth ≥ {cfg.depth}")
        if oldest is not None and oldest >= cfg.oldest_age_seconds * 1000:
            alerts.append("old jobs")
        if fig.failed:
            failed = self.history.series(ref.ident, "failed")
            failed.add(mono, fig.failed)
            if cfg.dlq_nonempty:
                alerts.append(f"{fig.failed} failed")
            if cfg.dlq_growing and (failed.rate(RATE_SPAN_S) or 0) > 0.05:
                alerts.append("failed growing")
        if fig.processing is not None:
            self.history.series(ref.ident, "processing").add(mono, fig.processing)
        alerts += fig.alerts
        error = "; ".join(dict.fromkeys(printable(e, 120) for e in fig.errors)) or None
        return QueueStats(ref=ref, depth=fig.depth, processing=fig.processing,
                          oldest_ms=oldest, net_rate=net, error=error,
                          alerts=tuple(alerts), states=fig.states)

    def _finish_stream(self, t: _Tally, mono: float, now_ms: int):
        ref = t.ref
        ident = ref.ident
        history = self.history
        memory = self._streams.get(ref.key)
        if t.backlog_reused is not None and memory is not None:
            new = [i for i in (t.new_ids or ()) if i is not None]
            if t.depth == memory.depth + len(new):  # nothing deleted or trimmed: they stand
                t.group_ids = t.backlog_reused + new
            else:  # unknown which: a moved group's deliveries are unknown this poll
                t.backlog_reused = None
        if t.stream_changed:
            # XINFO STREAM was not read: the counter is unknown this poll (and its series
            # starts again, so the next reading is not taken as one poll's arrivals); the
            # ids counted after the last one carry the last id on.
            history.series(ident, "added").samples.clear()
            if t.new_last_text is not None:
                t.last_id = t.new_last_text
        last = memory.last_id if memory is not None and t.last_id == memory.last_text \
            else parse_id(t.last_id)
        new_ids = [i for i in (t.new_ids or ()) if i is not None]
        new_full = t.new_ids is not None and (len(t.new_ids) >= XRANGE_COUNT or t.new_cut)

        # Arrivals: the entries-added counter, else ids after the last poll's last id.
        note = None
        arrivals: int | None = None
        in_exact = True
        prev_added = None
        if t.added is not None:  # (no series where the server has no counter)
            added = history.series(ident, "added")
            prev_added = added.last()
            if prev_added is not None and t.added < prev_added[1]:
                added.samples.clear()  # a restarted server: start again
                prev_added = None
            added.add(mono, t.added)
        if memory is None:
            note = NOTE_WARMUP
        elif t.added is not None and prev_added is not None:
            arrivals = t.added - int(prev_added[1])
        elif t.new_ids is not None:
            arrivals = sum(1 for i in new_ids if memory.last_id is None or i > memory.last_id)
            in_exact = not new_full
        in_rate, in_exact = self._flow(ident, "in", arrivals, in_exact, mono)

        # Per group: deliveries, and health from every pending entry.
        groups = []
        pending = 0
        idle_total = 0
        idle_known = False
        oldest = None
        out_rates: list[tuple[float | None, bool]] = []
        idle_ms, dead_ms = self._idle_ms, self._dead_ms
        large = []
        ldids = {}
        reads = t.group_reads
        assert reads is not None
        for fields in reads.fields:
            name = fields["name"]
            pending += fields["pending"]
            ldid = ldids[name] = parse_id(fields["last_delivered_id"])
            delivered, exact = self._delivered(t, fields, ldid, memory, new_ids, new_full)
            rate, rate_exact = self._flow(ident, f"read:{name}", delivered, exact, mono)
            out_rates.append((rate, rate_exact))
            history.series(ident, f"pending:{name}").add(mono, fields["pending"])
            if fields["lag"] is not None:
                history.series(ident, f"lag:{name}").add(mono, fields["lag"])
            if fields["pending"] > PENDING_SCAN:
                large.append(name)
            fields.update(self._group_health(fields["pending"], reads.pending_rows.get(name),
                                             idle_ms, dead_ms, reads.idle_rows.get(name),
                                             reads.holder_counts.get(name)))
            fields["alerts"] = group_alerts(fields, self.alerts)
            g = GroupStats(read_rate=rate, **fields)
            if g.idle_count is not None:
                idle_known = True
                idle_total += g.idle_count
            oldest = _max(oldest, g.oldest_idle_ms)
            groups.append(g)
        t.groups = tuple(groups)
        t.oldest_ms = oldest
        self._groups[ref.key] = reads.names
        if large:
            self._large[ref.key] = large
        else:
            self._large.pop(ref.key, None)
        history.series(ident, "pending").add(mono, pending)

        out_rate = None
        out_exact = True
        if not groups:
            note = note or NOTE_NO_GROUPS
        elif all(r is not None for r, _ in out_rates):
            # The busiest group's reads: entries are taken at least this fast. A group that
            # stopped shows in its own rate, lag, idle and dead-consumer alerts.
            out_rate, out_exact = max(out_rates, key=itemgetter(0))
        elif note is None:
            note = NOTE_WARMUP
        self._streams[ref.key] = _StreamMemory(
            last_id=last,
            counters=t.added is not None and all(g.entries_read is not None for g in groups),
            ldids=ldids,
            depth=t.depth, length_in_info=t.length_in_info, last_text=t.last_id,
            big_ends=t.big_member and not t.stream_changed and not t.errors, added=t.added,
            **self._backlog(t, memory))
        return (in_rate, in_exact, out_rate, out_exact, note, pending,
                idle_total if idle_known else None)

    @staticmethod
    def _backlog(t: _Tally, memory: _StreamMemory | None) -> dict[str, Any]:
        """The backlog ids to keep for the next poll: where a read (or a reuse) of a big
        backlog gave every id after the lagging position (not cut), and nothing failed."""
        big = t.backlog_big or (t.backlog_reused is not None and memory is not None
                                and memory.backlog_ids is not None)
        ids = t.group_ids
        if not big or t.errors or ids is None or len(ids) >= XRANGE_COUNT or memory is None \
                or memory.lagging_from is None or t.new_cut \
                or (t.new_ids is not None and len(t.new_ids) >= XRANGE_COUNT):
            return {}
        return {"backlog_ids": [i for i in ids if i is not None],
                "backlog_from": memory.lagging_from}

    def _delivered(self, t: _Tally, g: dict, ldid: tuple[int, int] | None,
                   memory: _StreamMemory | None, new_ids: list,
                   new_full: bool) -> tuple[int | None, bool]:
        """Entries delivered to a group since the last poll: the entries-read counter, else
        the entry ids between its last and current last-delivered-id (`ldid`, bounded)."""
        name, entries_read = g["name"], g["entries_read"]
        prev_read = None
        if entries_read is not None:
            series = self.history.series(t.ref.ident, f"entries_read:{name}")
            prev_read = series.last()
            series.add(time.monotonic(), entries_read)
        if memory is None or name not in memory.ldids:
            return None, True
        if entries_read is not None and prev_read is not None \
                and entries_read >= prev_read[1]:
            return entries_read - int(prev_read[1]), True
        prev = memory.ldids.get(name)
        if ldid is None or prev is None:
            return None, True
        if ldid == prev:
            return 0, True
        if memory.last_id is not None and prev >= memory.last_id and t.new_ids is not None:
            ids, full = new_ids, new_full
        elif memory.lagging_from is not None and prev >= memory.lagging_from \
                and t.group_ids is not None:
            ids = [i for i in t.group_ids if i is not None]
            full = len(t.group_ids) >= XRANGE_COUNT
        else:
            return None, True
        count = sum(1 for i in ids if prev < i <= ldid)
        return count, not (full and (not ids or ids[-1] < ldid))

    @property
    def _idle_ms(self) -> int:
        return int(self.alerts.oldest_age_seconds * 1000)

    @property
    def _dead_ms(self) -> int:
        return int(self.alerts.stream_dead_consumer_seconds * 1000)

    @staticmethod
    def _group_health(pending: int, rows: list | None, idle_ms: int, dead_ms: int,
                      idle_rows: list | None = None,
                      counts: dict[str, int] | None = None) -> dict[str, Any]:
        """Idle entries, oldest idle per consumer and dead consumers from the pending scan.

        A group holding more than the scan reads also has `idle_rows` (every entry idle
        past the lower of the two thresholds, bounded) and `counts` (entries per consumer):
        idle counts come from the first, and a consumer is dead when all it holds is there.
        """
        if rows is None:
            return {}
        if not rows:  # nothing pending (the usual idle group): the result of the loop below
            return {"idle_count": 0, "oldest_idle_ms": None, "holders": (),
                    "scan_complete": True, "oldest_pending_id": None}
        complete = len(rows) < PENDING_SCAN or pending <= len(rows)
        if not complete and idle_rows is not None and counts is not None:
            return Poller._large_group_health(rows, idle_rows, counts, idle_ms, dead_ms)
        per: dict[str, list[int]] = {}
        idle_count = 0
        for row in rows:
            consumer, idle = key_text(row[1]), int(row[2])
            per.setdefault(consumer, []).append(idle)
            if idle >= idle_ms:
                idle_count += 1
        holders = tuple(
            ConsumerHealth(name=name, pending=len(idles), oldest_idle_ms=max(idles),
                           newest_idle_ms=min(idles), dead=min(idles) >= dead_ms)
            for name, idles in sorted(per.items()))
        return {
            "idle_count": idle_count,
            "oldest_idle_ms": max((max(i) for i in per.values()), default=None),
            "holders": holders,
            "scan_complete": complete,
            "oldest_pending_id": _text(rows[0][0]) if rows else None,
        }

    @staticmethod
    def _large_group_health(rows: list, idle_rows: list, counts: dict[str, int],
                            idle_ms: int, dead_ms: int) -> dict[str, Any]:
        idle_count = 0
        dead_held: Counter[str] = Counter()  # entries idle past the dead threshold
        oldest: dict[str, int] = {}
        newest: dict[str, int] = {}
        seen = set()
        for entry_id, consumer_raw, idle_raw, *_ in idle_rows:
            consumer, idle = key_text(consumer_raw), int(idle_raw)
            seen.add(entry_id)
            idle_count += idle >= idle_ms
            dead_held[consumer] += idle >= dead_ms
            oldest[consumer] = max(oldest.get(consumer, 0), idle)
            newest[consumer] = min(newest.get(consumer, idle), idle)
        for entry_id, consumer_raw, idle_raw, *_ in rows:  # the lowest ids, idle or not
            if entry_id not in seen:
                consumer, idle = key_text(consumer_raw), int(idle_raw)
                oldest[consumer] = max(oldest.get(consumer, 0), idle)
                newest[consumer] = min(newest.get(consumer, idle), idle)
        holders = []
        for name, held in sorted(counts.items()):
            dead = held > 0 and dead_held[name] >= held
            # Not every entry was read: the newest idle is known only when all were.
            holders.append(ConsumerHealth(
                name=name, pending=held, oldest_idle_ms=oldest.get(name),
                newest_idle_ms=newest.get(name) if dead else None, dead=dead))
        return {
            "idle_count": idle_count,
            "oldest_idle_ms": max(oldest.values(), default=None),
            "holders": tuple(holders),
            "scan_complete": len(idle_rows) < IDLE_SCAN,
            "oldest_pending_id": _text(rows[0][0]) if rows else None,
        }

    def _server_stats(self, info: dict, mono: float) -> ServerStats:
        total = _int_or_none(info.get("total_commands_processed"))
        ops = None
        if "instantaneous_ops_per_sec" in info:
            ops = float(info["instantaneous_ops_per_sec"])
        elif total is not None:
            series = self.history.series("@server", "commands")
            last = series.last()
            if last is not None and total < last[1]:
                series.samples.clear()
            series.add(mono, total)
            ops = series.rate(RATE_SPAN_S)
        if ops is not None:
            self.history.series("@server", "ops").add(mono, ops)
        memory = _int_or_none(info.get("used_memory"))
        if memory is not None:
            self.history.series("@server", "memory").add(mono, memory)
        keyspace = {k: v for k, v in info.items() if k.startswith("db") and isinstance(v, dict)}
        return ServerStats(
            replication=self.client.replication,
            info=info,
            ops_per_sec=ops,
            used_memory=memory,
            clients=_int_or_none(info.get("connected_clients")),
            uptime_s=_int_or_none(info.get("uptime_in_seconds")),
            keyspace=keyspace,
        )


def group_alerts(g: dict, cfg: AlertConfig) -> tuple[str, ...]:
    """A group's alerts (from GroupStats fields): they stay on while any pending entry is
    idle past the threshold, whichever single entry moved."""
    out = []
    lag, idle_count = g.get("lag"), g.get("idle_count")
    if lag is not None and cfg.stream_lag > 0 and lag >= cfg.stream_lag:
        out.append(f"lag {lag:,}")
    if idle_count and cfg.oldest_age_seconds > 0:
        more = "" if g.get("scan_complete", True) else "+"
        out.append(f"{idle_count:,}{more} idle ≥ {fmt.duration(cfg.oldest_age_seconds * 1000)}")
    dead = [c.name for c in g.get("holders", ()) if c.dead]
    if dead:
        out.append(f"{len(dead)} dead consumer{'s' if len(dead) != 1 else ''}")
    return tuple(out)


def alerts_for(kind: QueueKind, depth: int, oldest_ms: int | None, net_rate: float | None,
               overdue: int | None, pending: int | None, groups: Sequence[GroupStats],
               cfg: AlertConfig, processing_oldest_ms: int | None = None,
               visibility_timeout: float | None = None, *, stale: int | None = None,
               stale_lower: bool = False, idle_pending: int | None = None,
               overdue_growing: bool = False) -> tuple[str, ...]:
    """The thresholds of [alerts] this queue crosses, worded for the table."""
    out: list[str] = []
    if kind is QueueKind.DLQ:
        if cfg.dlq_nonempty and depth > 0:
            out.append(f"{depth} dead")
        if cfg.dlq_growing and (net_rate or 0) >= 0.05:
            out.append("growing")
    elif depth >= cfg.depth > 0 and not (kind is QueueKind.STREAM and groups):
        # A stream read by groups keeps its history (often capped with MAXLEN): its length
        # is no backlog, its groups' lag and pending are.
        out.append(f"depth ≥ {cfg.depth}")
    if kind is QueueKind.DELAYED:
        if oldest_ms is not None and oldest_ms >= cfg.overdue_seconds * 1000:
            out.append(f"{overdue} overdue")
        if overdue_growing:
            out.append("overdue growing: scheduler stopped?")
    elif kind not in (QueueKind.DLQ, QueueKind.STREAM) and oldest_ms is not None \
            and oldest_ms >= cfg.oldest_age_seconds * 1000:
        out.append("old jobs")
    if stale is not None:
        if stale:
            out.append(f"{stale}{'+' if stale_lower else ''} stale processing")
    else:
        stale_s = visibility_timeout or cfg.processing_stale_seconds
        if processing_oldest_ms is not None and processing_oldest_ms >= stale_s * 1000:
            out.append("stale processing")
    if kind is QueueKind.STREAM:
        if (pending or 0) >= cfg.stream_pending > 0:
            out.append(f"{pending} pending")
        lags = [g.lag for g in groups if g.lag is not None]
        if lags and max(lags) >= cfg.stream_lag > 0:
            out.append(f"lag {max(lags)}")
        if idle_pending:
            out.append(f"{idle_pending} idle pending")
        dead = sum(c.dead for g in groups for c in g.holders)  # g.dead_consumers, counted
        if dead:
            out.append(f"{dead} dead consumer{'s' if dead != 1 else ''}")
    return tuple(out)
