"""One poll: the stats of every queue plus INFO in a fixed number of round trips.

Round trip 1 is a single pipeline holding every per-queue command, INFO and PUBSUB CHANNELS /
NUMPAT; round trip 2 is PUBSUB NUMSUB for the channels just listed plus what readers ask
after the first (library queues holding ids: the next item's body time), skipped when
there is neither. The count does not grow with the number of queues.

Each queue is read by its kind's reader from the registry (`kinds/`): the reader appends
its commands and, for each, a pair (target, applier); the poll hands every reply to its
applier, then asks each reader to finish its queues into QueueStats. The poll runs every
second over possibly thousands of queues, so the per-queue Python work is kept lean:
commands are plain tuples, appliers plain functions, replies parsed by hiredis.

Every figure is exact, a marked lower bound, or None with a reason (`rate_note`); how each
kind measures its in/out is in its module's docstring:
- Lists (work, reliable, dead letters, a ready list): `kinds/listends.py`.
- Reliable queues: out = jobs leaving the processing list (`kinds/reliable.py`).
- Delayed queues: out = promotions; in = out + change in depth (`kinds/delayed.py`).
- Streams: entries-added / entries-read, else ids counted (`kinds/stream.py`); group health
  from every pending entry (`kinds/stream_groups.py`).
- Priority queues: only the net change is known (`kinds/priority.py`).
Every alert is computed here (each kind's `alerts`), so the console and `status` agree.

Big values: Redis reads no part of a list element or set member, so an item over BIG_END
(16 KB) read for its age at every poll would cost its whole size each time. A list whose
end item is big is read whole with the items next to its ends, then only those while its
length and they stand; sorted sets with big members are not read while their size stands
(and at least every BIG_REREAD_S); a stream with a big end entry gets XRANGE COUNT 1 after
its last id instead of XINFO STREAM; a processing list holding a big job is read as its
length and the runs of small items. The number of round trips does not change.
"""

from __future__ import annotations

import gc
import itertools
import time
from collections.abc import Callable, Iterable
from typing import Any

from redis._parsers.helpers import parse_info

from ferrite_tui.backend.client import Client
from ferrite_tui.backend.envelopes import key_text
from ferrite_tui.backend.epoch import ServerEpoch
from ferrite_tui.backend.history import History
from ferrite_tui.backend.kinds import REGISTRY
from ferrite_tui.backend.kinds.base import (
    FUTURE_SLACK_MS,
    TAKES_ERRORS,
    AlertFigures,
    Flows,
    Memories,
    Reader,
    Tally,
    error_line,
    int_or_none,
    item_time,
    text,
)
from ferrite_tui.backend.kinds.delayed import NOTE_DUE, overdue_growing
from ferrite_tui.backend.kinds.library import LibraryReader
from ferrite_tui.backend.kinds.listends import ListFollower, ListMoves, list_moves
from ferrite_tui.backend.kinds.stream_groups import PENDING_SCAN, group_alerts
from ferrite_tui.backend.libraries import poll as library_poll
from ferrite_tui.backend.models import (
    ChannelStats,
    QueueKind,
    QueueRef,
    QueueStats,
    ServerStats,
    Snapshot,
)
from ferrite_tui.backend.notifications import KeyEvents
from ferrite_tui.backend.poll_events import NO_NEWS, NOTE_EVENTS_MULTI, EventCounts
from ferrite_tui.backend.slotinit import check_order
from ferrite_tui.config import AlertConfig

# Read here at each poll (a test shortens it).
RATE_SPAN_S = 10.0
LIST_KINDS = (QueueKind.WORK, QueueKind.RELIABLE, QueueKind.DLQ)

__all__ = ["FUTURE_SLACK_MS", "LIST_KINDS", "NOTE_DUE", "NOTE_EVENTS_MULTI", "PENDING_SCAN",
           "RATE_SPAN_S", "ListMoves", "Poller", "group_alerts", "list_moves",
           "overdue_growing", "stream_id_ms"]


def stream_id_ms(stream_id: str | bytes | None) -> int | None:
    if stream_id is None:
        return None
    if isinstance(stream_id, bytes):
        stream_id = stream_id.decode(errors="replace")
    try:
        return int(stream_id.split("-", 1)[0])
    except ValueError:
        return None



# The fields of QueueStats in the order `Poller.stats` passes them.
_STATS_FIELDS = (
    "ref", "depth", "processing", "ready", "overdue", "oldest_ms", "groups", "pending",
    "last_id", "in_rate", "out_rate", "net_rate", "error", "alerts", "states", "in_lower",
    "out_lower", "rate_note", "producer_end", "consumer_end", "oldest_sampled", "stale",
    "stale_lower", "idle_pending", "capped")
check_order(QueueStats, _STATS_FIELDS)


class Poller:
    """Keeps what one poll needs from the last (through its readers, one per kind in the
    registry) and builds Snapshots."""

    def __init__(self, client: Client, alerts: AlertConfig, history: History,
                 visibility_timeouts: dict[str, float] | None = None) -> None:
        self.client = client
        self.alerts = alerts
        self.history = history
        self.visibility_timeouts = visibility_timeouts or {}
        self.lists = ListFollower(self)  # the ends of every list followed, all kinds
        self.readers: dict[QueueKind, Reader] = {
            layout.kind: layout.reader(self, layout) for layout in REGISTRY.kinds}
        self.library_reader = LibraryReader(self, None)
        self.last_mono: float | None = None  # when the last poll finished
        self.left_out = 0  # set by the caller: queues found but not polled
        self.access_note: str | None = None  # set by the caller: keys the user may not read
        self.max_queues = 0
        # Item -> its own time: end items and processing jobs are mostly the same values
        # poll after poll, so each is parsed once. Bounded: cleared when it grows past this.
        self._times: dict[bytes, int | None] = {}
        self.interval_s = 1.0  # between the last two polls
        self.lpos = False  # the server has LPOS (set at each poll)
        self._refs: list[QueueRef] | None = None
        self._epoch = ServerEpoch()  # a restart or flush starts the rates again
        # Cluster: the node each queue was read from at the last poll. A queue whose node
        # changed (a failover) or could not be read starts its rates again, as after a
        # restart: the gap and the other node's counters are not traffic.
        self._queue_nodes: dict[str, str] = {}
        # Opt-in exact mode: moves counted from keyspace notifications (set by Monitor).
        self.events: KeyEvents | None = None
        self._counts = EventCounts()
        self.finish_mono = 0.0  # when this poll's figures are finished (monotonic)

    @property
    def _processing(self) -> dict:
        """Reliable queues' processing lists as last read (tests look at them)."""
        return self.readers[QueueKind.RELIABLE].processing  # type: ignore[attr-defined]

    def reader_of(self, ref: QueueRef) -> Reader:
        """The reader of a queue: its library's states, else its kind's (a library's
        stream, taskiq's, is a plain stream with consumer groups)."""
        if ref.library is not None and ref.kind is not QueueKind.STREAM:
            return self.library_reader
        return self.readers[ref.kind]

    # -- what readers use --------------------------------------------------------------------

    def item_time(self, raw: bytes | None, now_ms: int) -> int | None:
        """An item's own time (cached by value), or None."""
        if raw is None:
            return None
        times = self._times
        t = times.get(raw, -1)
        if t == -1:
            if len(times) > 50_000:
                times.clear()
            t = times[raw] = item_time(raw, now_ms)
        return t

    def age(self, raw: bytes | None, now_ms: int) -> int | None:
        t = self.item_time(raw, now_ms)
        return None if t is None else max(now_ms - t, 0)

    def flow(self, ident: str, name: str, moved: int | None, exact: bool,
             mono: float) -> tuple[float | None, bool]:
        # (Every queue's "in" and "out" are fetched with its depth series, once.)
        if name == "in":
            flow = self.history.queue(ident).flow_in
        elif name == "out":
            flow = self.history.queue(ident).flow_out
        else:
            flow = self.history.flow(ident, name)
        flow.add(mono, moved, exact, self.last_mono)
        return flow.rate()

    def depth_rate(self, t: Tally, mono: float) -> float | None:
        """The depth recorded; its net change per second over the rate span."""
        series = self.history.queue(t.ref.ident).depth
        series.add(mono, t.depth)
        return series.rate(RATE_SPAN_S)

    @property
    def rate_span_s(self) -> float:
        return RATE_SPAN_S

    def stats(self, t: Tally, net: float | None, f: Flows) -> QueueStats:
        """A queue's stats from its reader's figures: notification counts where they are
        on, the error, and the kind's alerts."""
        ref = t.ref
        ident = ref.ident
        in_rate, in_exact, out_rate, out_exact, note = f[:5]
        counts_events = t.reader.counts_events
        if self.events is not None and counts_events:
            counted = None if t.errors else self._counts.counted(
                ref.key, t.depth, ref.processing_key, f.processing)
            history = self.history
            if counted is not None:
                flows = history.flow(ident, "events_in"), history.flow(ident, "events_out")
                if counted is not NO_NEWS:  # moves timed by the polls that asked the marks
                    flows[0].add(counted.at, counted.added, counted.exact,
                                 since=counted.since)
                    flows[1].add(counted.at, counted.taken, counted.exact,
                                 since=counted.since)
                (in_rate, in_exact), (out_rate, out_exact) = \
                    flows[0].rate(), flows[1].rate()
                # A lower-bound interval within the span marks the rate: say why as long.
                note = None if in_exact and out_exact else NOTE_EVENTS_MULTI
            else:  # not counted this time: no rate spans the gap
                history.flow(ident, "events_in").add(self.finish_mono, None)
                history.flow(ident, "events_out").add(self.finish_mono, None)
        error = ("; ".join(dict.fromkeys(t.errors)) or None) if t.errors else None
        if error and counts_events:  # (a stream's rates come from its counters)
            in_rate = out_rate = None
        depth, oldest_ms = t.depth, t.oldest_ms
        layout = t.reader.layout
        assert layout is not None
        alerts = layout.alerts(AlertFigures(depth, oldest_ms, net, f), self.alerts)
        if in_rate is not None and out_rate is not None and in_exact and out_exact:
            note = None
        # Positional, in QueueStats's field order (checked when this module loads):
        # keywords cost twice the time for its 25 fields, once per queue per poll.
        return QueueStats(
            ref, depth, f.processing, f.ready, f.overdue, oldest_ms, f.groups, f.pending,
            f.last_id, in_rate, out_rate, net, error, tuple(alerts) if alerts else (), (),
            not in_exact, not out_exact, note, f.producer_end, f.consumer_end,
            f.oldest_sampled, f.stale, f.stale_lower, f.idle_pending, f.capped)

    # -- one poll ----------------------------------------------------------------------------


    async def snapshot(self, refs: list[QueueRef]) -> Snapshot:
        # A poll makes a few objects per queue that live until it ends: the collector,
        # run meanwhile, would walk them again and again and move them to its oldest
        # generation (whose full passes then cost in proportion to every queue). Off for
        # the poll; what it leaves is collected after.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return await self._snapshot(refs)
        finally:
            if collecting:
                gc.enable()

    async def _snapshot(self, refs: list[QueueRef]) -> Snapshot:
        started = time.monotonic()
        rt_before = self.client.round_trips.count
        # The server's clock (offset measured by the last TIME): items' times were written
        # by the server's clients, and the console's clock may be off by hours.
        clock = self.client.server_clock
        now_ms = clock.now_ms()
        # INFO goes first where the flushes are counted from INFO commandstats (at the
        # end, so a flush during the reads is seen by this poll): Redis takes about 1 ms
        # more for INFO's cpu section behind thousands of replies than in front of them.
        info_first = self._epoch.flushes is not None
        commands: list[tuple] = [("INFO",)] if info_first else []
        # Pairs (target, applier), flat: a tuple per command holding a tally is kept alive
        # for the whole poll, and thousands of those make the garbage collector run more.
        appliers: list[Any] = []
        self.lpos = self.client.capabilities.lpos
        reader_of = self.reader_of
        tallies = [reader_of(ref).tally(ref) for ref in refs]
        self.library_reader.asked = False
        for t in tallies:
            t.reader.commands(t, commands, appliers, now_ms)
        if not info_first:
            commands.append(("INFO",))
        commands += [("PUBSUB", "CHANNELS"), ("PUBSUB", "NUMPAT"),
                     ("INFO", "commandstats"), ("TIME",)]
        events = self.events
        if events is not None and self.client.cluster is not None:
            events.observe_cluster()
            events = None
        if events is not None:
            commands.append(("CONFIG", "GET", "notify-keyspace-events"))
        # Library states sharing a hash (Celery's `unacked`) scan it once.
        sent, where = library_poll.shared_reads(commands) \
            if self.library_reader.asked else (commands, None)
        sent_s = clock.local()
        replies = await self.client.raw_pipeline(sent)
        received_s = clock.local()
        if where is not None:
            replies = [replies[i] for i in where]
        if events is not None:
            self._counts.after_reply(events, replies.pop(), {
                k for t in tallies if t.reader.counts_events
                for k in (t.ref.key, t.ref.processing_key) if k})

        if info_first:
            info_raw = replies[0]
            self._apply(appliers, itertools.islice(replies, 1, None), now_ms)
            channels, numpat, cmdstats_raw, time_raw = replies[-4:]
        else:
            self._apply(appliers, replies, now_ms)
            info_raw, channels, numpat, cmdstats_raw, time_raw = replies[-5:]
        # For the next poll and every action until then (this poll keeps the now it asked
        # with, so its counts and ages agree).
        server_time_ms = clock.observe(time_raw, sent_s, received_s)
        info = parse_info(text(info_raw)) if isinstance(info_raw, bytes) else {}
        self.client.note_info(info)
        cmdstats = text(cmdstats_raw) if isinstance(cmdstats_raw, bytes) else ""
        if self._epoch.changed(info, cmdstats):
            # Restarted or flushed: this poll's contents are unrelated to the last one's.
            # Forget every last-poll memory the rates compare with; this poll counts as
            # the first (its replies are already read, so nothing it asked is lost).
            for store in self._memories(lambda m: m.restart):
                store.clear()
            self.history.reset()
        channels = channels if isinstance(channels, list) else []

        # Round trip 2, with NUMSUB: what readers ask after the first (library queues: the
        # bodies of their next pending items, for the age; lists whose ends moved: where
        # the last poll's ends went). Skipped when nobody asks.
        second = [("PUBSUB", "NUMSUB", *channels[:1000])] if channels else []
        appliers = []
        for t in tallies:
            if t.reader.second_round:
                t.reader.second(t, second, appliers, now_ms)
        later = await self.client.raw_pipeline(second) if second else []
        self._apply(appliers, later[1:] if channels else later, now_ms)

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
        self.finish_mono = mono
        stats = tuple(t.reader.finish(t, mono, now_ms) for t in tallies)
        for t in unread:
            self._start_again(t.ref)  # what the failed read recorded is not a figure either
        server = self._server_stats(info, mono)
        if refs is not self._refs:  # discovery changed the list: drop what left it
            self.history.forget({t.ref.ident for t in tallies})
            self._refs = refs
            self._forget({t.ref.key for t in tallies} | {t.ref.ready_key for t in tallies
                                                          if t.ref.ready_key})
        if self.last_mono is not None:
            self.interval_s = mono - self.last_mono
        self.last_mono = mono
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


    def _apply(self, appliers: list, replies: Iterable, now_ms: int) -> None:
        """Each reply to its applier (an error reply: its queue's error line, unless the
        applier reads errors itself)."""
        user = self.client.username
        takes_errors = TAKES_ERRORS
        pairs = iter(appliers)
        for target, apply, reply in zip(pairs, pairs, replies):
            if isinstance(reply, Exception) and apply not in takes_errors:
                target.errors.append(error_line(reply, target.key, user))
                continue
            try:
                apply(target, reply, now_ms)
            except (ValueError, TypeError, KeyError, IndexError, AttributeError):
                target.errors.append("unexpected reply from server")

    def _memories(self, forgotten_by: Callable[[Memories], tuple[dict, ...]]) -> list[dict]:
        """Every reader's memories that an event (restart, failover, rescan) forgets."""
        stores: list[dict] = [self.lists.memory, self._counts.memory]
        for reader in self.readers.values():
            stores += forgotten_by(reader.memories())
        return stores

    def _follow_nodes(self, tallies: list[Tally]) -> list[Tally]:
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
        for store in self._memories(lambda m: m.failover):
            for key in keys & store.keys():
                del store[key]
        self.history.forget_name(ref.ident)

    def _forget(self, keys: set[str]) -> None:
        for store in self._memories(lambda m: m.rescan):
            for key in [k for k in store if k not in keys]:
                del store[key]

    def _server_stats(self, info: dict, mono: float) -> ServerStats:
        total = int_or_none(info.get("total_commands_processed"))
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
        memory = int_or_none(info.get("used_memory"))
        if memory is not None:
            self.history.series("@server", "memory").add(mono, memory)
        keyspace = {k: v for k, v in info.items() if k.startswith("db") and isinstance(v, dict)}
        return ServerStats(
            replication=self.client.replication,
            info=info,
            ops_per_sec=ops,
            used_memory=memory,
            clients=int_or_none(info.get("connected_clients")),
            uptime_s=int_or_none(info.get("uptime_in_seconds")),
            keyspace=keyspace,
        )


