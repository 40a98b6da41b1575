"""One poll: the stats of every queue plus INFO in a fixed number of round trips.

Round trip 1 is a single pipeline holding every per-queue command, INFO and PUBSUB CHANNELS /
NUMPAT; round trip 2 is PUBSUB NUMSUB for the channels just listed (skipped when there are
none). The count does not grow with the number of queues.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from redis import exceptions as rexc

from ferrite_tui.backend.client import Client
from ferrite_tui.backend.envelopes import decode, key_text, printable
from ferrite_tui.backend.history import History
from ferrite_tui.backend.models import (
    ChannelStats, GroupStats, QueueKind, QueueRef, QueueStats, ServerStats, Snapshot,
)
from ferrite_tui.config import AlertConfig

# How far LPOS looks back from the tail for the last poll's tail element. Bounds the cost
# of the in/out measurement on a list that grew by more than this in one tick.
LPOS_MAXLEN = 1000
RATE_SPAN_S = 10.0


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


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _error_line(exc: Exception) -> str:
    text = str(exc)
    if "WRONGTYPE" in text:
        return "wrong type: the key now holds another kind of value"
    return printable(text.splitlines()[0] if text else type(exc).__name__, 120)


@dataclass
class _QueueTally:
    """Mutable scratch for one queue while the replies are read."""

    ref: QueueRef
    depth: int = 0
    processing: int | None = None
    ready: int | None = None
    overdue: int | None = None
    oldest_ms: int | None = None
    groups: list[GroupStats] = field(default_factory=list)
    last_id: str | None = None
    in_rate: float | None = None
    out_rate: float | None = None
    errors: list[str] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)


class Poller:
    """Keeps what one poll needs from the last (tails, counters, groups) and builds Snapshots."""

    def __init__(self, client: Client, alerts: AlertConfig, history: History,
                 visibility_timeouts: dict[str, float] | None = None) -> None:
        self.client = client
        self.alerts = alerts
        self.history = history
        self.visibility_timeouts = visibility_timeouts or {}
        self._tails: dict[str, tuple[bytes, int]] = {}  # list key -> (tail value, depth)
        self._counters: dict[tuple[str, str], tuple[float, int]] = {}
        self._groups: dict[str, list[str]] = {}
        self._last_poll: float | None = None

    async def snapshot(self, refs: list[QueueRef]) -> Snapshot:
        started = time.monotonic()
        rt_before = self.client.round_trips.count
        now_ms = int(time.time() * 1000)
        r = self.client.redis
        pipe = r.pipeline(transaction=False)
        readers: list[Callable[[Any], None]] = []
        tallies = [_QueueTally(ref) for ref in refs]

        def add(reader: Callable[[Any], None], command: Callable[..., Any], *args: Any,
                **kwargs: Any) -> None:
            command(*args, **kwargs)
            readers.append(reader)

        for tally in tallies:
            self._queue_commands(pipe, add, tally, now_ms)

        info: dict = {}
        channels: list[bytes] = []
        numpat: list[int | None] = [None]
        add(lambda v: info.update(v), pipe.info)
        add(lambda v: channels.extend(v), pipe.pubsub_channels)
        add(lambda v: numpat.__setitem__(0, int(v)), pipe.pubsub_numpat)

        replies = await pipe.execute(raise_on_error=False)
        for reader, reply in zip(readers, replies):
            if isinstance(reply, Exception):
                owner = getattr(reader, "tally", None)
                if owner is not None:
                    owner.errors.append(_error_line(reply))
                continue
            try:
                reader(reply)
            except (ValueError, TypeError, KeyError, IndexError, AttributeError):
                owner = getattr(reader, "tally", None)
                if owner is not None:
                    owner.errors.append("unexpected reply from server")

        channel_stats: list[ChannelStats] = []
        if channels:
            try:
                counts = await r.pubsub_numsub(*channels[:1000])
                channel_stats = [ChannelStats(key_text(c), int(n)) for c, n in counts]
            except rexc.ResponseError:
                channel_stats = [ChannelStats(key_text(c), 0) for c in channels]

        mono = time.monotonic()
        stats = tuple(self._finish(t, mono, now_ms) for t in tallies)
        server = self._server_stats(info, mono)
        self.history.forget({t.ref.ident for t in tallies})
        self._last_poll = mono
        return Snapshot(
            taken_at=time.time(),
            queues=stats,
            server=server,
            channels=tuple(sorted(channel_stats, key=lambda c: c.name)),
            numpat=numpat[0],
            round_trips=self.client.round_trips.count - rt_before,
            poll_ms=(time.monotonic() - started) * 1000,
        )

    # -- per-kind commands -------------------------------------------------------------

    def _queue_commands(self, pipe, add, tally: _QueueTally, now_ms: int) -> None:
        ref = tally.ref

        def reader(fn: Callable[[Any], None]) -> Callable[[Any], None]:
            fn.tally = tally  # type: ignore[attr-defined]
            return fn

        def set_depth(v: Any) -> None:
            tally.depth = int(v)

        def head_time(v: Any) -> None:
            if v is not None:
                env = decode(v)
                t = env.dead_at if env.kind == "dead" else env.time_ms
                if t is not None and 0 < t <= now_ms + 86_400_000:
                    tally.oldest_ms = max(now_ms - t, 0)

        kind = ref.kind
        if kind in (QueueKind.WORK, QueueKind.RELIABLE, QueueKind.DLQ):
            add(reader(set_depth), pipe.llen, ref.key)
            add(reader(head_time), pipe.lindex, ref.key, 0)
            self._list_flow_commands(pipe, add, reader, tally, ref.key)
            if ref.processing_key:
                def set_processing(v: Any) -> None:
                    tally.processing = int(v)

                def processing_oldest(v: Any) -> None:
                    if v is not None:
                        t = decode(v).time_ms
                        if t is not None and 0 < t <= now_ms + 86_400_000:
                            tally.counters["processing_oldest_ms"] = max(now_ms - t, 0)
                add(reader(set_processing), pipe.llen, ref.processing_key)
                # BRPOPLPUSH pushes to the head of the processing list: the tail is oldest.
                add(reader(processing_oldest), pipe.lindex, ref.processing_key, -1)
        elif kind is QueueKind.PRIORITY:
            def top(v: Any) -> None:
                if v:
                    head_time(v[0])
            add(reader(set_depth), pipe.zcard, ref.key)
            add(reader(top), pipe.zrevrange, ref.key, 0, 0)
        elif kind is QueueKind.DELAYED:
            def set_overdue(v: Any) -> None:
                tally.overdue = int(v)

            def earliest(v: Any) -> None:
                if v:
                    due = int(float(v[0][1]))
                    if due <= now_ms:
                        tally.oldest_ms = now_ms - due

            def set_ready(v: Any) -> None:
                tally.ready = int(v)
            add(reader(set_depth), pipe.zcard, ref.key)
            # Inclusive bounds only: Ferrite rejects '(' and ZRANGE BYSCORE.
            add(reader(set_overdue), pipe.zcount, ref.key, "-inf", now_ms)
            add(reader(earliest), pipe.zrangebyscore, ref.key, "-inf", "+inf",
                start=0, num=1, withscores=True)
            if ref.ready_key:
                add(reader(set_ready), pipe.llen, ref.ready_key)
        elif kind is QueueKind.STREAM:
            def groups(v: Any) -> None:
                self._read_groups(tally, v)

            def stream_info(v: Any) -> None:
                last = v.get("last-generated-id")
                tally.last_id = _text(last) if last is not None else None
                added = _int_or_none(v.get("entries-added"))
                if added is not None:
                    tally.counters["added"] = added

            def pending_summary(v: Any) -> None:
                lowest = v.get("min") if isinstance(v, dict) else None
                t = stream_id_ms(lowest)
                if t is not None:
                    age = max(now_ms - t, 0)
                    tally.oldest_ms = max(tally.oldest_ms or 0, age)
            add(reader(set_depth), pipe.xlen, ref.key)
            add(reader(groups), pipe.xinfo_groups, ref.key)
            add(reader(stream_info), pipe.xinfo_stream, ref.key)
            # Groups known from the last poll: their oldest pending entry gives the age.
            for group in self._groups.get(ref.key, []):
                add(reader(pending_summary), pipe.xpending, ref.key, group)

    def _list_flow_commands(self, pipe, add, reader, tally: _QueueTally, key: str) -> None:
        """In/out counts for a list: where did last poll's tail element go?"""
        def set_tail(v: Any) -> None:
            if v is None:
                self._tails.pop(key, None)
            else:
                self._tails[key] = (v, -1)  # depth filled in by _finish

        def tail_position(v: Any) -> None:
            tally.counters["tail_pos"] = -1 if v is None else int(v)

        prev = self._tails.get(key)
        if prev is not None and self.client.capabilities.lpos:
            add(reader(tail_position), pipe.execute_command, "LPOS", key, prev[0],
                "RANK", -1, "MAXLEN", LPOS_MAXLEN)
            tally.counters["prev_depth"] = prev[1]
        add(reader(set_tail), pipe.lindex, key, -1)

    def _read_groups(self, tally: _QueueTally, reply: Any) -> None:
        names = []
        lag_seen = False
        for g in reply:
            name = key_text(g.get("name", b""))
            names.append(name)
            lag = g.get("lag")
            lag_seen = lag_seen or "lag" in g
            tally.groups.append(GroupStats(
                name=name,
                consumers=int(g.get("consumers", 0)),
                pending=int(g.get("pending", 0)),
                last_delivered_id=_text(g.get("last-delivered-id", b"")),
                lag=_int_or_none(lag),
                entries_read=_int_or_none(g.get("entries-read")),
            ))
        if reply:
            self.client.note_lag_seen(lag_seen)
        self._groups[tally.ref.key] = names

    # -- turning tallies into stats ------------------------------------------------------

    def _finish(self, t: _QueueTally, mono: float, now_ms: int) -> QueueStats:
        ref = t.ref
        ident = ref.ident
        depth_series = self.history.series(ident, "depth")
        depth_series.add(mono, t.depth)
        net = depth_series.rate(RATE_SPAN_S)
        elapsed = mono - self._last_poll if self._last_poll else None

        if ref.kind in (QueueKind.WORK, QueueKind.RELIABLE, QueueKind.DLQ):
            prev_depth = t.counters.get("prev_depth")
            pos = t.counters.get("tail_pos")
            if elapsed and prev_depth is not None and prev_depth >= 0 and pos is not None:
                if pos >= 0:
                    pushed = max(t.depth - 1 - pos, 0)
                    popped = max(prev_depth - 1 - pos, 0)
                elif t.depth <= LPOS_MAXLEN:
                    pushed, popped = t.depth, prev_depth  # all old items left
                else:
                    pushed = popped = None
                if pushed is not None:
                    self.history.series(ident, "in").add(mono, pushed / elapsed)
                    self.history.series(ident, "out").add(mono, popped / elapsed)
            if ref.key in self._tails:
                self._tails[ref.key] = (self._tails[ref.key][0], t.depth)
            t.in_rate = _mean_recent(self.history.get(ident, "in"), mono)
            t.out_rate = _mean_recent(self.history.get(ident, "out"), mono)
            if t.processing is not None:
                self.history.series(ident, "processing").add(mono, t.processing)
        elif ref.kind is QueueKind.STREAM:
            added = t.counters.get("added")
            if added is not None:
                t.in_rate = self._counter_rate(ident, "added", added, mono)
            reads = [g.entries_read for g in t.groups]
            if reads and all(r is not None for r in reads):
                t.out_rate = self._counter_rate(ident, "read", sum(reads), mono)
            pending = sum(g.pending for g in t.groups)
            self.history.series(ident, "pending").add(mono, pending)
            for g in t.groups:
                self.history.series(ident, f"pending:{g.name}").add(mono, g.pending)
                if g.lag is not None:
                    self.history.series(ident, f"lag:{g.name}").add(mono, g.lag)
        elif ref.kind is QueueKind.DELAYED and t.overdue is not None:
            self.history.series(ident, "overdue").add(mono, t.overdue)

        stats = QueueStats(
            ref=ref,
            depth=t.depth,
            processing=t.processing,
            ready=t.ready,
            overdue=t.overdue,
            oldest_ms=t.oldest_ms,
            groups=tuple(t.groups),
            pending=sum(g.pending for g in t.groups) if ref.kind is QueueKind.STREAM else None,
            last_id=t.last_id,
            in_rate=t.in_rate,
            out_rate=t.out_rate,
            net_rate=net,
            error="; ".join(dict.fromkeys(t.errors)) or None,
        )
        return replace(stats, alerts=alerts_for(
            stats, self.alerts, t.counters.get("processing_oldest_ms"),
            self.visibility_timeouts.get(ref.key),
        ))

    def _counter_rate(self, ident: str, name: str, value: int, mono: float) -> float | None:
        prev = self._counters.get((ident, name))
        self._counters[(ident, name)] = (mono, value)
        if prev is None or mono <= prev[0] or value < prev[1]:
            return None
        rate = (value - prev[1]) / (mono - prev[0])
        series = self.history.series(ident, name)
        series.add(mono, rate)
        return _mean_recent(series, mono)

    def _server_stats(self, info: dict, mono: float) -> ServerStats:
        total = _int_or_none(info.get("total_commands_processed"))
        ops = None
        if "instantaneous_ops_per_sec" in info:
            ops = float(info["instantaneous_ops_per_sec"])
        elif total is not None:
            ops = self._counter_rate("@server", "commands", total, mono)
        if ops is not None:
            self.history.series("@server", "ops").add(mono, ops)
        memory = _int_or_none(info.get("used_memory"))
        if memory is not None:
            self.history.series("@server", "memory").add(mono, memory)
        keyspace = {k: v for k, v in info.items() if k.startswith("db") and isinstance(v, dict)}
        return ServerStats(
            info=info,
            ops_per_sec=ops,
            used_memory=memory,
            clients=_int_or_none(info.get("connected_clients")),
            uptime_s=_int_or_none(info.get("uptime_in_seconds")),
            keyspace=keyspace,
        )


def _mean_recent(series, mono: float, span: float = RATE_SPAN_S) -> float | None:
    if series is None or not series.samples:
        return None
    recent = [s.value for s in series.samples if mono - s.t <= span]
    return sum(recent) / len(recent) if recent else None


def alerts_for(q: QueueStats, cfg: AlertConfig, processing_oldest_ms: int | None = None,
               visibility_timeout: float | None = None) -> tuple[str, ...]:
    """The thresholds of [alerts] this queue crosses, worded for the table."""
    out: list[str] = []
    kind = q.ref.kind
    if kind is QueueKind.DLQ:
        if cfg.dlq_nonempty and q.depth > 0:
            out.append(f"{q.depth} dead")
        if cfg.dlq_growing and (q.net_rate or 0) > 0.05:
            out.append("growing")
    elif q.depth >= cfg.depth > 0:
        out.append(f"depth ≥ {cfg.depth}")
    if kind is QueueKind.DELAYED:
        if q.oldest_ms is not None and q.oldest_ms >= cfg.overdue_seconds * 1000:
            out.append(f"{q.overdue} overdue")
    elif kind not in (QueueKind.DLQ,) and q.oldest_ms is not None \
            and q.oldest_ms >= cfg.oldest_age_seconds * 1000:
        out.append("old jobs")
    stale_s = visibility_timeout or cfg.processing_stale_seconds
    if processing_oldest_ms is not None and processing_oldest_ms >= stale_s * 1000:
        out.append("stale processing")
    if kind is QueueKind.STREAM:
        if (q.pending or 0) >= cfg.stream_pending > 0:
            out.append(f"{q.pending} pending")
        lags = [g.lag for g in q.groups if g.lag is not None]
        if lags and max(lags) >= cfg.stream_lag > 0:
            out.append(f"lag {max(lags)}")
    return tuple(out)
