"""Streams: entries appended with XADD, read by consumer groups (or XREAD).

Recognised: every stream no library claims. Read: XLEN (or the length in XINFO STREAM),
XINFO GROUPS, XINFO STREAM, and each group's pending scan (stream_groups). Arrivals from
entries-added where the server reports it, else entry ids counted with a bounded XRANGE
after the last poll's last id; deliveries per group from entries-read, else the ids
between its last and current last-delivered id. A stream whose first or last entry is big
gets XRANGE COUNT 1 after its last id instead of XINFO STREAM: while it is empty, the last
figures stand. Where a lagging group's backlog read held a big entry, its ids are kept
(entries never change) and only new ids are read, while nothing is deleted or trimmed.
A stream whose first id moves on while its length stays is capped (capped.py): its length
is no backlog.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from ferrite_tui.backend.capped import CappedStreams
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
    Reader,
    Tally,
    declared_ref,
    int_or_none,
    largest,
    set_depth,
    text,
)
from ferrite_tui.backend.kinds.stream_groups import (
    IDLE_SCAN,
    PENDING_SCAN,
    GroupReads,
    group_alerts,
    group_health,
    groups_reply,
    holder_counts,
    idle_scan,
    pending_scan,
)
from ferrite_tui.backend.models import GroupStats, QueueKind, QueueRef, QueueStats
from ferrite_tui.backend.slotinit import check_order
from ferrite_tui.backend.stream_ids import after_id, parse_id
from ferrite_tui.config import AlertConfig

check_order(GroupStats, (
    "name", "consumers", "pending", "last_delivered_id", "lag", "entries_read",
    "oldest_pending_id", "idle_count", "oldest_idle_ms", "holders", "scan_complete",
    "read_rate", "alerts"))

# New stream entries counted per poll where the server has no entries-added counter.
XRANGE_COUNT = 1000
NOTE_NO_GROUPS = "no consumer groups: readers (XREAD) are not visible"


def entry_size(entry: Any) -> int:
    """Bytes of a stream entry's field values ([id, [field, value, ...]]), 0 for none."""
    if not isinstance(entry, list) or len(entry) < 2 or not isinstance(entry[1], list):
        return 0
    return sum(len(v) for v in entry[1] if isinstance(v, bytes))


@dataclass(slots=True)
class StreamMemory:
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


@dataclass(slots=True)
class StreamTally(Tally):
    groups: tuple[GroupStats, ...] = ()
    group_reads: GroupReads = field(default_factory=GroupReads)
    last_id: str | None = None
    first_id: str | None = None  # the first entry's id (XINFO STREAM)
    added: int | None = None
    new_ids: list | None = None  # ids after the last poll's last id (bounded)
    group_ids: list | None = None  # ids after a lagging group's last delivered id
    new_cut: bool = False  # new_ids may miss some (read together with group_ids)
    depth_from_info: bool = False  # the length from XINFO STREAM (no XLEN asked)
    length_in_info: bool = False
    big_member: bool = False  # its first or last entry is over BIG_END
    stream_carried: StreamMemory | None = None  # XINFO STREAM not asked
    stream_changed: bool = False  # ... and an entry was added after its last id
    new_last_text: str | None = None  # the last id the XRANGE of new ids read
    backlog_big: bool = False  # the ids read after a lagging group held a big entry
    backlog_reused: list | None = None  # ... so last poll's ids were used, not read again


def _stream(t: StreamTally, v: Any, now_ms: int) -> None:
    info = dict(zip(v[::2], v[1::2]))  # (field names left as bytes: read at every poll)
    last = info.get(b"last-generated-id")
    t.last_id = text(last) if last is not None else None
    t.added = int_or_none(info.get(b"entries-added"))
    first = info.get(b"first-entry")
    t.first_id = text(first[0]) if isinstance(first, list) and first else None
    length = info.get(b"length")
    t.length_in_info = isinstance(length, int)
    if t.depth_from_info:
        t.depth = info[b"length"]  # missing: an unexpected reply (XLEN again next poll)
    t.big_member = entry_size(info.get(b"first-entry")) > BIG_END \
        or entry_size(info.get(b"last-entry")) > BIG_END


def _after_last(t: StreamTally, v: Any, now_ms: int) -> None:
    carried = t.stream_carried
    assert carried is not None
    t.last_id, t.added = carried.last_text, carried.added
    t.big_member = True
    if v:  # an entry was added: XINFO STREAM is read again at the next poll
        t.stream_changed, t.added = True, None


def _new_ids(t: StreamTally, v: Any, now_ms: int) -> None:
    t.new_ids = [parse_id(row[0]) for row in v]
    t.new_last_text = text(v[-1][0]) if v else None


def _group_ids(t: StreamTally, v: Any, now_ms: int) -> None:
    t.group_ids = [parse_id(row[0]) for row in v]
    t.backlog_big = any(entry_size(row) > BIG_END for row in v)


def _all_ids(t: StreamTally, v: Any, now_ms: int) -> None:
    reader: StreamReader = t.reader  # type: ignore[assignment]
    memory = reader.streams[t.ref.key]
    ids = [parse_id(row[0]) for row in v]
    t.backlog_big = any(entry_size(row) > BIG_END for row in v)
    t.group_ids = ids[:XRANGE_COUNT]
    last = memory.last_id
    assert last is not None  # asked only with a last id
    t.new_ids = [i for i in ids if i is not None and i > last][:XRANGE_COUNT]
    # Cut before as many new ids as a read of its own gets (entries added to the
    # old range between the last poll's XLEN and its last id): a lower bound.
    t.new_cut = len(ids) >= memory.one_read and len(t.new_ids) < XRANGE_COUNT


class StreamReader(Reader):
    counts_events = False
    second_round = True  # groups that came to hold entries are scanned in round trip 2
    def __init__(self, poll: PollContext, layout: KindLayout | None) -> None:
        super().__init__(poll, layout)
        self.streams: dict[str, StreamMemory] = {}
        self.groups: dict[str, list[str]] = {}
        self.large: dict[str, list[str]] = {}  # stream -> groups past PENDING_SCAN
        self.busy: dict[str, list[str]] = {}  # stream -> groups holding entries
        self.capped = CappedStreams()

    def memories(self) -> Any:
        return super().memories()._replace(
            restart=(self.streams,),
            failover=(self.streams, self.groups, self.large, self.busy),
            rescan=(self.streams, self.groups, self.large, self.busy, self.capped.seen))

    def tally(self, ref: QueueRef) -> Tally:
        return StreamTally(ref, self)

    @property
    def _idle_ms(self) -> int:
        return int(self.poll.alerts.oldest_age_seconds * 1000)

    @property
    def _dead_ms(self) -> int:
        return int(self.poll.alerts.stream_dead_consumer_seconds * 1000)

    def commands(self, t: Any, commands: list, appliers: list, now_ms: int) -> None:
        key = t.ref.key
        reads = t.group_reads
        memory = self.streams.get(key)
        carry = memory is not None and memory.big_ends and memory.last_id is not None
        if memory is not None and memory.length_in_info and not carry:
            # XINFO STREAM's length is the XLEN: asked apart only until a reply has it.
            t.depth_from_info = True
        else:
            commands.append(("XLEN", key))
            appliers += (t, set_depth)
        commands.append(("XINFO", "GROUPS", key))
        appliers += (t, groups_reply)
        if carry:
            # XINFO STREAM holds the first and last entries whole: with a big one, ask
            # only whether an entry came after the last id.
            assert memory is not None and memory.last_id is not None
            t.stream_carried = memory
            commands.append(("XRANGE", key, after_id(memory.last_id), "+", "COUNT", 1))
            appliers += (t, _after_last)
        else:
            commands.append(("XINFO", "STREAM", key))
            appliers += (t, _stream)
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
                appliers += (t, _new_ids)
            elif memory.lagging_from is not None and memory.last_id is not None \
                    and memory.depth <= XRANGE_COUNT:
                # One read for both: the ids after the lagging group's position hold
                # at most the last poll's length up to its last id (ids only grow),
                # then the new ones, as many as the read of new ids alone would get.
                memory.one_read = XRANGE_COUNT + memory.depth
                commands.append(("XRANGE", key, after_id(memory.lagging_from), "+",
                                 "COUNT", memory.one_read))
                appliers += (t, _all_ids)
            else:
                start = after_id(memory.last_id) if memory.last_id else "-"
                commands.append(("XRANGE", key, start, "+", "COUNT", XRANGE_COUNT))
                appliers += (t, _new_ids)
            if memory.lagging_from is not None and not memory.one_read \
                    and t.backlog_reused is None:
                commands.append(("XRANGE", key, after_id(memory.lagging_from), "+",
                                 "COUNT", XRANGE_COUNT))
                appliers += (t, _group_ids)
        # Groups known from the last poll: every pending entry (bounded) for health. A
        # group with none pending then is scanned in round trip 2 if it has some now.
        reads.asked = list(self.busy.get(key, ()))
        for group in reads.asked:
            commands.append(("XPENDING", key, group, "-", "+", PENDING_SCAN))
            appliers += (t, pending_scan)
        if self.poll.client.capabilities.xpending_idle:
            # Groups that held more than the scan reads: their idle entries only, and
            # how many each consumer holds.
            idle_ms = min(self._idle_ms, self._dead_ms)
            reads.large = self.large.get(key, [])
            for group in reads.large:
                commands += [("XPENDING", key, group),
                             ("XPENDING", key, group, "IDLE", idle_ms, "-", "+", IDLE_SCAN)]
                appliers += (t, holder_counts, t, idle_scan)

    def second(self, t: Any, commands: list, appliers: list, now_ms: int) -> None:
        """The pending scan of groups known from the last poll, idle then, busy now."""
        reads = t.group_reads
        known = self.groups.get(t.ref.key)
        if not known:
            return
        for fields in reads.fields:
            name = fields["name"]
            if fields["pending"] and name not in reads.asked and name in known:
                reads.asked.append(name)
                commands.append(("XPENDING", t.ref.key, name, "-", "+", PENDING_SCAN))
                appliers += (t, pending_scan)

    def finish(self, t: Any, mono: float, now_ms: int) -> QueueStats:
        ref = t.ref
        ident = ref.ident
        history = self.poll.history
        net = self.poll.depth_rate(t, mono)
        memory = self.streams.get(ref.key)
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
        in_rate, in_exact = self.poll.flow(ident, "in", arrivals, in_exact, mono)

        # Per group: deliveries, and health from every pending entry.
        groups = []
        pending = 0
        idle_total = 0
        idle_known = False
        oldest = None
        out_rates: list[tuple[float | None, bool]] = []
        idle_ms, dead_ms = self._idle_ms, self._dead_ms
        cfg = self.poll.alerts
        large = []
        ldids = {}
        reads = t.group_reads
        assert reads is not None
        known = self.groups.get(ref.key, ())
        for fields in reads.fields:
            name = fields["name"]
            pending += fields["pending"]
            ldid = ldids[name] = parse_id(fields["last_delivered_id"])
            delivered, exact = self._delivered(t, fields, ldid, memory, new_ids, new_full)
            rate, rate_exact = self.poll.flow(ident, f"read:{name}", delivered, exact, mono)
            out_rates.append((rate, rate_exact))
            history.series(ident, f"pending:{name}").add(mono, fields["pending"])
            if fields["lag"] is not None:
                history.series(ident, f"lag:{name}").add(mono, fields["lag"])
            if fields["pending"] > PENDING_SCAN:
                large.append(name)
            rows = reads.pending_rows.get(name)
            if name not in reads.pending_rows and not fields["pending"] and name in known:
                rows = []  # nothing pending: what the scan would have read
            fields.update(group_health(fields["pending"], rows, idle_ms, dead_ms,
                                       reads.idle_rows.get(name),
                                       reads.holder_counts.get(name)))
            get = fields.get
            g = GroupStats(  # positional, in field order (checked at import)
                name, fields["consumers"], fields["pending"], fields["last_delivered_id"],
                fields["lag"], fields["entries_read"], get("oldest_pending_id"),
                get("idle_count"), get("oldest_idle_ms"), get("holders", ()),
                get("scan_complete", True), rate, group_alerts(fields, cfg))
            if g.idle_count is not None:
                idle_known = True
                idle_total += g.idle_count
            oldest = largest(oldest, g.oldest_idle_ms)
            groups.append(g)
        t.groups = tuple(groups)
        t.oldest_ms = oldest
        self.groups[ref.key] = reads.names
        self.busy[ref.key] = [g.name for g in groups if g.pending]
        if large:
            self.large[ref.key] = large
        else:
            self.large.pop(ref.key, None)
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
        self.streams[ref.key] = StreamMemory(
            last_id=last,
            counters=t.added is not None and all(g.entries_read is not None for g in groups),
            ldids=ldids,
            depth=t.depth, length_in_info=t.length_in_info, last_text=t.last_id,
            big_ends=t.big_member and not t.stream_changed and not t.errors, added=t.added,
            **self._backlog(t, memory))
        capped = self.capped.observe(ref.key, t.first_id, None if t.errors else t.depth)
        return self.poll.stats(t, net, Flows(
            in_rate, in_exact, out_rate, out_exact, note, pending,
            idle_total if idle_known else None, groups=t.groups, last_id=t.last_id,
            capped=capped))

    @staticmethod
    def _backlog(t: StreamTally, memory: StreamMemory | None) -> dict[str, Any]:
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

    def _delivered(self, t: StreamTally, g: dict, ldid: tuple[int, int] | None,
                   memory: StreamMemory | None, new_ids: list,
                   new_full: bool) -> tuple[int | None, bool]:
        """Entries delivered to a group since the last poll: the entries-read counter, else
        the entry ids between its last and current last-delivered-id (`ldid`, bounded)."""
        name, entries_read = g["name"], g["entries_read"]
        prev_read = None
        if entries_read is not None:
            series = self.poll.history.series(t.ref.ident, f"entries_read:{name}")
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


def alerts(a: AlertFigures, cfg: AlertConfig) -> list[str]:
    groups = a.flows.groups
    # A stream read by groups keeps its history, and a capped one (trimmed by MAXLEN as
    # it is written) stays at its cap: its length is no backlog, lag and pending are.
    out = [] if groups or a.flows.capped else depth_alert(a, cfg)
    if a.flows.stale:
        out += stale_processing(a, cfg)
    pending = a.flows.pending
    if (pending or 0) >= cfg.stream_pending > 0:
        out.append(f"{pending} pending")
    lags = [g.lag for g in groups if g.lag is not None]
    if lags and max(lags) >= cfg.stream_lag > 0:
        out.append(f"lag {max(lags)}")
    if a.flows.idle_pending:
        out.append(f"{a.flows.idle_pending} idle pending")
    dead = sum(c.dead for g in groups for c in g.holders)  # g.dead_consumers, counted
    if dead:
        out.append(f"{dead} dead consumer{'s' if dead != 1 else ''}")
    return out


def recognise(c: Candidates) -> None:
    for key in sorted(c.streams):
        c.add(QueueRef(QueueKind.STREAM, key))


LAYOUT = KindLayout(
    kind=QueueKind.STREAM,
    recognised_by="any stream no library claims",
    recognise=recognise,
    declare=declared_ref(QueueKind.STREAM),
    reader=StreamReader,
    alerts=alerts,
    decode=decode,
    actions=(
        Action("claim", "Claim", "claim the selected pending entry",
               "XCLAIM stream group consumer min-idle id JUSTID (min-idle: the idle it had "
               "when shown)"),
        Action("claim_idle", "Claim idle", "claim all idle entries",
               "XAUTOCLAIM stream group consumer min-idle cursor JUSTID, looped (without "
               "XAUTOCLAIM: XPENDING IDLE, then XCLAIM JUSTID), in chunks"),
        Action("ack", "Ack", "ack the selected pending entry", "XACK stream group id"),
        Action("ack_all", "Ack shown", "ack all pending entries shown",
               "XACK stream group id..., in chunks"),
        Action("dead_letter", "To DLQ",
               "move the selected poison entry to a dead-letter list",
               "WATCH dlq; TYPE dlq; XRANGE + XPENDING the entry; MULTI; RPUSH dlq letter "
               "(XADD dlq * data letter for a stream); XACK stream group id; EXEC"),
        Action("dead_letter_all", "Poison to DLQ",
               "move every poison entry shown to a dead-letter list",
               "as dead_letter, over every poison entry shown, in chunks"),
        Action("delete_consumer", "Del consumer", "delete the selected consumer",
               "XINFO CONSUMERS (its pending count, still what was agreed); XGROUP "
               "DELCONSUMER stream group consumer"),
        Action("create_group", "New group", "create a consumer group",
               "XGROUP CREATE stream group id [MKSTREAM]"),
        Action("set_group_id", "Set group id", "set the group's last id",
               "XGROUP SETID stream group id"),
    ),
    rank=2,
    panel="streams",
    color=(110, 210, 90),
)
