"""Rebuild the last hour's per-minute trends from times inside the data (see trends.py).

Dashboards start their charts when they start; the data remembers more: envelopes carry
``enqueued_at`` / ``dead_at``, delayed scores are due times, stream ids are milliseconds and
XPENDING tells how long each pending entry has been idle. Reading those once, at open and on
ctrl+r, gives the hour before the console was started.

Reads are bounded and short: at most `max_items` items per queue (an even sample past that,
scaled up and marked ``sampled``), in pages of `page` items, pipelined in batches so the
number of round trips stays small. Each key's average item size (MEMORY USAGE, sampled)
bounds its pages to PAGE_BYTES and its whole read to KEY_BYTES: big values make smaller
pages and a sparser sample, so no single command returns much. Delayed queues need no items
at all: one ZCOUNT per minute.

Queue libraries (libraries/): a failed set scored by the time of failure (BullMQ's
finishedOn, dramatiq's dead-letter ms) gives its times with its members; keys of ids (RQ's
queue and failed registry, BullMQ's wait, dramatiq's queue) give them from each id's body
(`enqueued_at`, `timestamp`, `message_timestamp`; RQ's failure time is the job's
`ended_at`, its registry score being when the entry expires), one short read per id.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ferrite_tui.backend import boundedjson
from ferrite_tui.backend.client import Client
from ferrite_tui.backend.envelopes import key_text
from ferrite_tui.backend.itemtimes import arrivals_by, item_time_or_raise
from ferrite_tui.backend.libraries.model import (
    Body,
    LibraryQueue,
    Means,
    State,
    StateKey,
    score_ms,
)
from ferrite_tui.backend.libraries.poll import probe_age, time_probe
from ferrite_tui.backend.models import QueueKind, QueueRef
from ferrite_tui.backend.poll import FUTURE_SLACK_MS, LIST_KINDS, stream_id_ms
from ferrite_tui.backend.replies import score_pairs
from ferrite_tui.backend.trends import MINUTE_S, Trends, minute_of

MAX_ITEMS = 10_000
PAGE = 250
# Items one backfill reads in all: past this, every queue gets a smaller (sampled) share.
MAX_TOTAL_ITEMS = 1_000_000
# Items one pipeline may fetch: bounds the memory of one batch and the length of a round trip.
BATCH_ITEMS = 50_000
# Bytes one page command returns at most, and one key's items read at most (estimated from
# the key's average item size).
PAGE_BYTES = 64 * 1024
KEY_BYTES = 8 * 1024 * 1024
MINUTE_MS = MINUTE_S * 1000
# Where a library's failed job keeps its time of failure, when its failed set's scores are
# something else (RQ: when the registry entry expires, failure time + a per-job ttl).
FAILED_TIME_FIELD = {"rq": "ended_at"}
_SIZE = {"list": "LLEN", "zset": "ZCARD"}


@dataclass
class BackfillReport:
    queues: int = 0
    items_read: int = 0
    commands: int = 0
    round_trips: int = 0
    seconds: float = 0.0
    sampled: list[str] = field(default_factory=list)  # idents rebuilt from a sample
    untimed: int = 0  # items read that carry no usable time
    # The largest reply of one command: items (elements of the top list) and bytes (of
    # the values in it). The pages are sized so these stay small.
    max_reply_items: int = 0
    max_reply_bytes: int = 0
    max_reply_command: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class _Times:
    """Times (ms) read from one queue's items, with the weight each stands for."""

    times: list[int] = field(default_factory=list)
    weight: float = 1.0
    read: int = 0
    # Sampled lists: (time, position in the list) of each item read, to interpolate between.
    positions: list[tuple[int, int]] = field(default_factory=list)
    size: int = 0
    # Times gathered from several keys, each sampled at its own rate: one weight per time.
    weights: list[float] = field(default_factory=list)

    @property
    def sampled(self) -> bool:
        return self.weight != 1.0 or any(w != 1.0 for w in self.weights)


def library_sources(q: LibraryQueue) -> list[tuple[StateKey, str]]:
    """The state keys of a library queue whose items' times the backfill can read, with
    what they feed: "pending" (arrivals, backlog) or "failed" (dead per minute, failed)."""
    out: list[tuple[StateKey, str]] = []
    for sk in q.states:
        if sk.type not in _SIZE or sk.shared:
            continue
        by_body = sk.body.where != "inline" and bool(sk.body.time_field)
        if sk.state is State.PENDING and by_body:
            out.append((sk, "pending"))
        elif sk.state is State.FAILED and sk.type == "zset" and (
                (sk.unit is not None and sk.means is Means.AT and score_ms(0, sk.unit) == 0)
                or (sk.body.where != "inline" and q.library in FAILED_TIME_FIELD)):
            out.append((sk, "failed"))
    return out


class Backfill:
    def __init__(self, client: Client, trends: Trends, *, minutes: int = 60,
                 max_items: int = MAX_ITEMS, page: int = PAGE,
                 max_total: int = MAX_TOTAL_ITEMS) -> None:
        self.client = client
        self.trends = trends
        self.minutes = minutes
        self.max_items = max_items
        self.page = page
        self.max_total = max_total
        self._usage: dict[str, int] = {}  # key -> MEMORY USAGE (bytes), where known

    async def run(self, refs: list[QueueRef], now_ms: int | None = None) -> BackfillReport:
        self.trends.rebuilding = True
        try:
            return await self._run(refs, now_ms)
        finally:
            self.trends.rebuilding = False

    async def _run(self, refs: list[QueueRef], now_ms: int | None) -> BackfillReport:
        started = time.monotonic()
        # Thousands of queues share the budget: each reads at most its share (sampled past it).
        self.max_items = min(self.max_items, max(self.page, self.max_total // max(len(refs), 1)))
        rt_before = self.client.round_trips.count
        now_ms = self.client.server_now_ms() if now_ms is None else now_ms
        now_min = minute_of(now_ms / 1000)
        first_min = now_min - self.minutes
        report = BackfillReport(queues=len(refs))

        # Round trip 1: sizes, group lists, and the delayed queues' overdue counts.
        commands: list[tuple] = []
        readers: list[tuple[QueueRef, str, Any]] = []
        for ref in refs:
            # A library queue on a stream (taskiq) is read as a stream; others by state key.
            if ref.library is not None and ref.kind is not QueueKind.STREAM:
                for sk, role in library_sources(ref.library):
                    commands += [(_SIZE[sk.type], sk.key), _memory(sk.key)]
                    readers += [(ref, "state", (sk, role)), (ref, "usage", sk.key)]
                continue
            if ref.kind in LIST_KINDS or ref.kind is QueueKind.PRIORITY:
                commands += [(_SIZE["list" if ref.kind in LIST_KINDS else "zset"], ref.key),
                             _memory(ref.key)]
                readers += [(ref, "size", None), (ref, "usage", ref.key)]
            elif ref.kind is QueueKind.DELAYED:
                # Still waiting and due by the end of minute m: overdue at m (inclusive bound).
                for m in range(first_min, now_min + 1):
                    end = min((m + 1) * MINUTE_MS - 1, now_ms)
                    commands.append(("ZCOUNT", ref.key, "-inf", end))
                    readers.append((ref, "overdue", m))
            elif ref.kind is QueueKind.STREAM:
                commands += [("XINFO", "GROUPS", ref.key), ("XLEN", ref.key),
                             _memory(ref.key)]
                readers += [(ref, "groups", None), (ref, "length", None),
                            (ref, "usage", ref.key)]
        replies = await self._send(commands, report)
        # The sizes first: the stream reads below are sized by them.
        lengths: dict[str, int] = {}
        for (ref, what, arg), reply in zip(readers, replies):
            if what == "usage":
                if isinstance(reply, int):
                    self._usage[arg] = reply
            elif what == "length" and isinstance(reply, int):
                lengths[ref.key] = reply

        # Round trip 2 (streams): entries added per minute, one short XRANGE per minute, at
        # most `per_min` entries of the stream's average size.
        commands, readers2 = [], []
        for ref in refs:
            if ref.kind is QueueKind.STREAM:
                page, _ = self._paging(ref.key, lengths.get(ref.key, 0))
                per_min = max(2, min(self.max_items // (self.minutes + 1), page))
                for m in range(first_min, now_min + 1):
                    commands.append(("XRANGE", ref.key, m * MINUTE_MS,
                                     f"{(m + 1) * MINUTE_MS - 1}", "COUNT", per_min + 1))
                    readers2.append((ref, "added", (m, per_min)))
        if commands:
            readers += readers2
            replies += await self._send(commands, report, per_command=self.page)

        sizes: dict[str, int] = {}
        state_sizes: list[tuple[QueueRef, StateKey, str, int]] = []
        groups: dict[str, list[tuple[str, int]]] = {}
        for (ref, what, arg), reply in zip(readers, replies):
            if isinstance(reply, Exception):
                report.notes.append(f"{key_text(ref.key)}: {str(reply).splitlines()[0]}")
                continue
            ident = ref.ident
            if what in ("usage", "length"):
                continue
            if what == "size":
                sizes[ident] = int(reply)
            elif what == "state":
                state_sizes.append((ref, arg[0], arg[1], int(reply)))
            elif what == "overdue":
                s = self.trends.series(ident, "overdue")
                s.floor = True
                s.set_rebuilt(arg, int(reply))
            elif what == "groups":
                fields = [dict(zip(g[::2], g[1::2])) for g in reply]
                groups[ident] = [(key_text(f.get(b"name", b"")), int(f.get(b"pending", 0)))
                                 for f in fields]
            elif what == "added":
                m, per_min = arg
                s = self.trends.series(ident, "arrivals")
                if len(reply) <= per_min:
                    s.set_rebuilt(m, len(reply))
                else:  # a busy minute: the rate over the first entries, scaled to it
                    span = (stream_id_ms(reply[per_min - 1][0]) or m * MINUTE_MS) \
                        - m * MINUTE_MS + 1
                    length = min(MINUTE_MS, now_ms - m * MINUTE_MS + 1)
                    s.set_rebuilt(m, round(per_min * length / max(span, 1)))
                    s.sampled = True
                    if ident not in report.sampled:
                        report.sampled.append(ident)

        # Lists and priority sets: their items' times, read in pages.
        item_refs = [r for r in refs if r.ident in sizes]
        times = await self._read_items(item_refs, sizes, report)
        for ref in item_refs:
            t = times[ref.ident]
            if ref.kind is QueueKind.DLQ:
                self._rebuild_counts(ref.ident, "dead", t, first_min, now_ms)
            else:
                self._rebuild_counts(ref.ident, "arrivals", t, first_min, now_ms)
            self._rebuild_levels(ref.ident, "backlog", t, first_min, now_ms)
            if t.weight != 1.0:
                report.sampled.append(ref.ident)

        # Queue libraries: arrivals and backlog from the pending keys, failures per minute.
        library = await self._read_library(state_sizes, now_ms, report)
        for (ident, role), t in library.items():
            if role == "pending":
                self._rebuild_counts(ident, "arrivals", t, first_min, now_ms)
                self._rebuild_levels(ident, "backlog", t, first_min, now_ms)
            else:
                self._rebuild_counts(ident, "dead", t, first_min, now_ms)
                self._rebuild_levels(ident, "failed", t, first_min, now_ms)
            if t.sampled and ident not in report.sampled:
                report.sampled.append(ident)

        # Streams: pending entries by the time of their last delivery (now - idle).
        stream_refs = [r for r in refs if r.ident in groups]
        pending = await self._read_pending(stream_refs, groups, now_ms, report)
        for ref in stream_refs:
            totals = [0.0] * (now_min - first_min + 1)
            for name, _count in groups[ref.ident]:
                t = pending[(ref.ident, name)]
                series = self._rebuild_levels(ref.ident, f"pending:{name}", t, first_min, now_ms)
                for i, m in enumerate(range(first_min, now_min + 1)):
                    totals[i] += series.points.get(m, 0.0) if m in series.rebuilt else 0.0
                if t.weight != 1.0 and ref.ident not in report.sampled:
                    report.sampled.append(ref.ident)
            backlog = self.trends.series(ref.ident, "backlog")
            backlog.floor = True
            for i, m in enumerate(range(first_min, now_min + 1)):
                backlog.set_rebuilt(m, totals[i])

        self.trends.trim(now_min)
        self.trends.rebuilt_at = now_ms / 1000
        self.trends.notes = report.notes[:]
        report.round_trips = self.client.round_trips.count - rt_before
        report.seconds = time.monotonic() - started
        return report

    # -- reads ------------------------------------------------------------------------------

    async def _send(self, commands: list[tuple], report: BackfillReport,
                    per_command: int = 1) -> list[Any]:
        """Pipelines of at most BATCH_ITEMS / per_command commands each."""
        out: list[Any] = []
        step = max(1, BATCH_ITEMS // max(per_command, 1))
        for i in range(0, len(commands), step):
            part = commands[i:i + step]
            replies = await self.client.raw_pipeline(part)
            for command, reply in zip(part, replies):
                if isinstance(reply, list) and len(reply) > 1:
                    items, size = len(reply), _reply_bytes(reply)
                    if size > report.max_reply_bytes:
                        report.max_reply_bytes = size
                        report.max_reply_command = str(command[0])
                    report.max_reply_items = max(report.max_reply_items, items)
            out += replies
        report.commands += len(commands)
        return out

    def _paging(self, key: str, size: int) -> tuple[int, int]:
        """(items per page, items read at most) for this key: pages of at most PAGE_BYTES
        and at most KEY_BYTES in all, from its average item size (MEMORY USAGE)."""
        usage = self._usage.get(key)
        if not usage or size <= 0:
            return self.page, self.max_items
        item = max(usage / size, 1.0)
        page = max(1, min(self.page, int(PAGE_BYTES // item)))
        return page, max(page, min(self.max_items, int(KEY_BYTES // item)))

    def _offsets(self, size: int, page: int, cap: int) -> tuple[list[int], float]:
        """Page starts covering the whole queue, or evenly spread pages past `cap` items;
        and the weight each item read stands for."""
        if size <= cap:
            return list(range(0, size, page)), 1.0
        pages = max(1, cap // page)
        last = size - page
        starts = sorted({round(k * last / max(pages - 1, 1)) for k in range(pages)})
        return starts, size / (len(starts) * page)

    async def _read_items(self, refs: list[QueueRef], sizes: dict[str, int],
                          report: BackfillReport) -> dict[str, _Times]:
        commands: list[tuple] = []
        owners: list[tuple[str, int, bool]] = []  # (queue, page start, keep positions)
        out: dict[str, _Times] = {}
        for ref in refs:
            page, cap = self._paging(ref.key, sizes[ref.ident])
            starts, weight = self._offsets(sizes[ref.ident], page, cap)
            out[ref.ident] = _Times(weight=weight)
            out[ref.ident].size = sizes[ref.ident]
            read = "LRANGE" if ref.kind in LIST_KINDS else "ZRANGE"
            for start in starts:
                commands.append((read, ref.key, start, start + page - 1))
                owners.append((ref.ident, start, ref.kind in LIST_KINDS and weight != 1.0))
        replies = await self._send(commands, report, per_command=self.page)
        for (ident, start, keep_positions), reply in zip(owners, replies):
            if isinstance(reply, Exception):
                report.notes.append(f"{ident}: {str(reply).splitlines()[0]}")
                continue
            acc = out[ident]
            for offset, raw in enumerate(reply):
                acc.read += 1
                try:
                    t = item_time_or_raise(raw)
                except boundedjson.TooDeep as exc:  # named once per key, then skipped
                    if not any(n.startswith(f"{ident}: item ") for n in report.notes):
                        report.notes.append(f"{ident}: item {start + offset} {exc.note}, "
                                            "skipped")
                    t = None
                if t is None or t <= 0:
                    report.untimed += 1
                    continue
                acc.times.append(t)
                if keep_positions:
                    acc.positions.append((t, start + offset))
        report.items_read += sum(t.read for t in out.values())
        return out

    async def _read_library(self, sources: list[tuple[QueueRef, StateKey, str, int]],
                            now_ms: int, report: BackfillReport
                            ) -> dict[tuple[str, str], _Times]:
        """Members of each source key in pages (evenly spread past max_items), then, where
        the score is not the time, one read of each member's body time: two pipelines."""
        out: dict[tuple[str, str], _Times] = {}
        pages: list[tuple] = []
        owners: list[tuple[tuple[str, str], StateKey, float, Body]] = []
        for ref, sk, role, size in sources:
            acc = out.setdefault((ref.ident, role), _Times())
            acc.size += size
            page, cap = self._paging(sk.key, size)
            starts, weight = self._offsets(size, page, cap)
            body = sk.body  # where each member's time is read, if its score is not it
            if role == "failed" and ref.library is not None \
                    and ref.library.library in FAILED_TIME_FIELD:
                body = body._replace(time_field=FAILED_TIME_FIELD[ref.library.library])
            for start in starts:
                end = start + page - 1
                pages.append(("LRANGE", sk.key, start, end) if sk.type == "list"
                             else ("ZRANGE", sk.key, start, end, "WITHSCORES"))
                owners.append(((ref.ident, role), sk, weight, body))
        replies = await self._send(pages, report, per_command=self.page)
        probes: list[tuple] = []
        probed: list[tuple[tuple[str, str], Body, float]] = []
        for (owner, sk, weight, body), reply in zip(owners, replies):
            if isinstance(reply, Exception):
                report.notes.append(f"{key_text(sk.key)}: {str(reply).splitlines()[0]}")
                continue
            acc = out[owner]
            scored = sk.type == "zset"
            members = [m for m, _ in score_pairs(reply)] if scored else reply
            acc.read += len(members)
            if owner[1] == "failed" and sk.means is Means.AT and sk.unit is not None:
                for _member, score in score_pairs(reply):
                    t = score_ms(float(score), sk.unit)
                    if t is None or t <= 0:
                        report.untimed += 1
                        continue
                    acc.times.append(t)
                    acc.weights.append(weight)
                continue
            for member in members:
                probes.append(time_probe(body, member))
                probed.append((owner, body, weight))
        replies = await self._send(probes, report) if probes else []
        for (owner, body, weight), reply in zip(probed, replies):
            age = None if isinstance(reply, Exception) else probe_age(body, reply, now_ms)
            if age is None:
                report.untimed += 1
                continue
            out[owner].times.append(now_ms - age)
            out[owner].weights.append(weight)
        report.items_read += sum(t.read for t in out.values())
        return out

    async def _read_pending(self, refs: list[QueueRef], groups: dict[str, list[tuple[str, int]]],
                            now_ms: int, report: BackfillReport) -> dict[tuple[str, str], _Times]:
        """XPENDING extended form, page after page (all groups in one pipeline per page).
        A group with more than max_items pending is read from evenly spread start ids."""
        out: dict[tuple[str, str], _Times] = {}
        cursors: dict[tuple[str, str], tuple[QueueRef, str]] = {}
        big: list[tuple[QueueRef, str, int]] = []
        for ref in refs:
            for name, count in groups[ref.ident]:
                out[(ref.ident, name)] = _Times()
                if count > self.max_items:
                    big.append((ref, name, count))
                elif count > 0:
                    cursors[(ref.ident, name)] = (ref, "-")
        if big:  # summary first: the lowest and highest pending ids bound the spread
            replies = await self._send([("XPENDING", r.key, n) for r, n, _ in big], report)
            for (ref, name, count), reply in zip(big, replies):
                if isinstance(reply, Exception) or not reply or reply[1] is None:
                    continue
                low, high = stream_id_ms(reply[1]) or 0, stream_id_ms(reply[2]) or 0
                pages = max(1, self.max_items // self.page)
                acc = out[(ref.ident, name)]
                starts = [low + (high - low) * k // pages for k in range(pages)]
                cmds = [("XPENDING", ref.key, name, f"{s}-0", "+", self.page) for s in starts]
                for page in await self._send(cmds, report, per_command=self.page):
                    if not isinstance(page, Exception):
                        self._take_pending(acc, page, now_ms)
                acc.weight = count / max(acc.read, 1)
        while cursors:
            keys = list(cursors)
            cmds = [("XPENDING", cursors[k][0].key, k[1], cursors[k][1], "+", self.page)
                    for k in keys]
            replies = await self._send(cmds, report, per_command=self.page)
            for k, page in zip(keys, replies):
                ref, _ = cursors.pop(k)
                if isinstance(page, Exception):
                    report.notes.append(f"{key_text(ref.key)} › {k[1]}: "
                                        f"{str(page).splitlines()[0]}")
                    continue
                acc = out[k]
                self._take_pending(acc, page, now_ms)
                if len(page) == self.page and acc.read < self.max_items:
                    cursors[k] = (ref, _next_id(page[-1][0]))
        report.items_read += sum(t.read for t in out.values())
        return out

    @staticmethod
    def _take_pending(acc: _Times, page: list, now_ms: int) -> None:
        for _id, _consumer, idle, _deliveries in page:
            acc.read += 1
            acc.times.append(now_ms - int(idle))

    # -- turning times into minutes ------------------------------------------------------------

    def _bucket(self, t: _Times, first_min: int, now_ms: int) -> tuple[float, dict[int, float]]:
        """(weight of items older than the window, weight per minute inside it)."""
        before = 0.0
        per_minute: dict[int, float] = {}
        limit = now_ms + FUTURE_SLACK_MS
        now_min = now_ms // MINUTE_MS
        weights = t.weights or [t.weight] * len(t.times)
        for ms, weight in zip(t.times, weights):
            if ms > limit:
                continue  # not a plausible time
            m = min(ms // MINUTE_MS, now_min)
            if m < first_min:
                before += weight
            else:
                per_minute[m] = per_minute.get(m, 0.0) + weight
        return before, per_minute

    def _cumulative(self, t: _Times, first_min: int, now_ms: int) -> list[float]:
        """Items arrived by the end of each minute first_min..now (first_min - 1 first)."""
        last_min = minute_of(now_ms / 1000)
        ends = [min(m * MINUTE_MS + MINUTE_MS - 1, now_ms) for m in range(first_min - 1,
                                                                         last_min + 1)]
        if t.positions:
            return [float(round(v)) for v in arrivals_by(t.positions, t.size, ends)]
        before, per_minute = self._bucket(t, first_min, now_ms)
        out = [before]
        for m in range(first_min, last_min + 1):
            out.append(out[-1] + per_minute.get(m, 0.0))
        return [_round(v, 2.0 if t.sampled else 1.0) for v in out]

    def _rebuild_counts(self, ident: str, metric: str, t: _Times, first_min: int,
                        now_ms: int):
        cumulative = self._cumulative(t, first_min, now_ms)
        series = self.trends.series(ident, metric)
        series.floor = True
        series.sampled = series.sampled or t.sampled
        for i, m in enumerate(range(first_min, minute_of(now_ms / 1000) + 1)):
            series.set_rebuilt(m, max(cumulative[i + 1] - cumulative[i], 0.0))
        return series

    def _rebuild_levels(self, ident: str, metric: str, t: _Times, first_min: int,
                        now_ms: int):
        cumulative = self._cumulative(t, first_min, now_ms)
        series = self.trends.series(ident, metric)
        series.floor = True
        series.sampled = series.sampled or t.sampled
        for i, m in enumerate(range(first_min, minute_of(now_ms / 1000) + 1)):
            series.set_rebuilt(m, cumulative[i + 1])
        return series


def _memory(key: str) -> tuple:
    """The key's memory, from 5 sampled items (a short command, whatever the key's size)."""
    return ("MEMORY", "USAGE", key, "SAMPLES", 5)


def _reply_bytes(reply: Any, depth: int = 0) -> int:
    """The bytes of the values in a reply (nested lists: ZRANGE pairs, stream entries)."""
    if isinstance(reply, bytes | str):
        return len(reply)
    if isinstance(reply, list | tuple) and depth < 3:
        return sum(_reply_bytes(r, depth + 1) for r in reply)
    return 8


def _round(value: float, weight: float) -> float:
    return float(round(value)) if weight != 1.0 else value


def _next_id(stream_id: bytes | str) -> str:
    """The id right after this one (exclusive ranges with '(' are not on every server)."""
    text = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    ms, _, seq = text.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"
