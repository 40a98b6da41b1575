"""The poll as it was before rates, ages and group health were measured (issue 10),
kept verbatim as the side-by-side baseline of tests/perf/test_poll_perf.py.

One poll: the stats of every queue plus INFO in a fixed number of round trips.

Round trip 1 is a single pipeline holding every per-queue command, INFO and PUBSUB CHANNELS /
NUMPAT; round trip 2 is PUBSUB NUMSUB for the channels just listed (skipped when there are
none). The count does not grow with the number of queues. The poll runs every second over
possibly thousands of queues, so the per-queue Python work here is kept lean: commands and
their readers are plain tuples, replies are parsed by hiredis.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from redis._parsers.helpers import parse_info

from ferrite_tui.backend.client import Client
from ferrite_tui.backend.envelopes import decode, key_text, printable
from ferrite_tui.backend.history import History
from ferrite_tui.backend.models import (
    ChannelStats,
    GroupStats,
    QueueKind,
    QueueRef,
    QueueStats,
    ServerStats,
    Snapshot,
)
from ferrite_tui.config import AlertConfig

# How far LPOS looks back from the tail for the last poll's tail element. Bounds the cost
# of the in/out measurement on a list that grew by more than this in one tick.
LPOS_MAXLEN = 1000
RATE_SPAN_S = 10.0
# An envelope time further than this in the future is not a plausible enqueue time.
FUTURE_SLACK_MS = 86_400_000

LIST_KINDS = (QueueKind.WORK, QueueKind.RELIABLE, QueueKind.DLQ)


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


def _error_line(exc: Exception) -> str:
    text = str(exc)
    if "WRONGTYPE" in text:
        return "wrong type: the key now holds another kind of value"
    return printable(text.splitlines()[0] if text else type(exc).__name__, 120)


def _age(raw: bytes | None, now_ms: int) -> int | None:
    """Age of an item from its envelope's time (dead_at for dead letters)."""
    if raw is None:
        return None
    env = decode(raw)
    t = env.dead_at if env.kind == "dead" else env.time_ms
    if t is None or t <= 0 or t > now_ms + FUTURE_SLACK_MS:
        return None
    return max(now_ms - t, 0)


@dataclass(slots=True)
class _Tally:
    """Mutable scratch for one queue while the replies are read."""

    ref: QueueRef
    depth: int = 0
    processing: int | None = None
    ready: int | None = None
    overdue: int | None = None
    oldest_ms: int | None = None
    processing_oldest_ms: int | None = None
    groups: list[GroupStats] = field(default_factory=list)
    last_id: str | None = None
    added: int | None = None
    head: bytes | None = None
    tail: bytes | None = None
    prev_head: bytes | None = None
    tail_pos: int | None = None  # where last poll's tail is now (-1: gone)
    prev_depth: int | None = None
    errors: list[str] = field(default_factory=list)


class Poller:
    """Keeps what one poll needs from the last (tails, counters, groups) and builds Snapshots."""

    def __init__(self, client: Client, alerts: AlertConfig, history: History,
                 visibility_timeouts: dict[str, float] | None = None) -> None:
        self.client = client
        self.alerts = alerts
        self.history = history
        self.visibility_timeouts = visibility_timeouts or {}
        # list key -> (tail value, depth, head value) as the last poll saw them
        self._tails: dict[str, tuple[bytes, int, bytes | None]] = {}
        self._totals: dict[tuple[str, str], int] = {}  # cumulative in/out per list
        self._groups: dict[str, list[str]] = {}
        self._last_mono: float | None = None  # when the last poll finished

    async def snapshot(self, refs: list[QueueRef]) -> Snapshot:
        started = time.monotonic()
        rt_before = self.client.round_trips.count
        now_ms = int(time.time() * 1000)
        commands: list[tuple] = []
        readers: list[tuple[_Tally | None, str]] = []
        tallies = [_Tally(ref) for ref in refs]
        lpos = self.client.capabilities.lpos
        for tally in tallies:
            self._commands(commands, readers, tally, now_ms, lpos)
        commands += [("INFO",), ("PUBSUB", "CHANNELS"), ("PUBSUB", "NUMPAT")]
        replies = await self.client.raw_pipeline(commands)

        apply = self._apply
        for (tally, what), reply in zip(readers, replies):
            if isinstance(reply, Exception):
                tally.errors.append(_error_line(reply))
                continue
            try:
                apply(tally, what, reply, now_ms)
            except (ValueError, TypeError, KeyError, IndexError, AttributeError):
                tally.errors.append("unexpected reply from server")
        info_raw, channels, numpat = replies[-3:]
        info = parse_info(_text(info_raw)) if isinstance(info_raw, bytes) else {}
        channels = channels if isinstance(channels, list) else []

        channel_stats: list[ChannelStats] = []
        if channels:
            (counts,) = await self.client.raw_pipeline([("PUBSUB", "NUMSUB", *channels[:1000])])
            if isinstance(counts, list):
                channel_stats = [ChannelStats(key_text(c), int(n))
                                 for c, n in zip(counts[::2], counts[1::2])]
            else:
                channel_stats = [ChannelStats(key_text(c), 0) for c in channels]

        mono = time.monotonic()
        stats = tuple(self._finish(t, mono) for t in tallies)
        server = self._server_stats(info, mono)
        self.history.forget({t.ref.ident for t in tallies})
        self._last_mono = mono
        return Snapshot(
            taken_at=time.time(),
            queues=stats,
            server=server,
            channels=tuple(sorted(channel_stats, key=lambda c: c.name)),
            numpat=numpat if isinstance(numpat, int) else None,
            round_trips=self.client.round_trips.count - rt_before,
            poll_ms=(time.monotonic() - started) * 1000,
        )

    # -- what each kind asks ---------------------------------------------------------------

    def _commands(self, commands: list, readers: list, t: _Tally, now_ms: int,
                  lpos: bool) -> None:
        ref = t.ref
        key = ref.key
        kind = ref.kind
        if kind in LIST_KINDS:
            commands += [("LLEN", key), ("LINDEX", key, 0)]
            readers += [(t, "depth"), (t, "head")]
            # In/out: where did the last poll's tail element go? (see _list_flow)
            prev = self._tails.get(key)
            if prev is not None and lpos:
                commands.append(("LPOS", key, prev[0], "RANK", -1, "MAXLEN", LPOS_MAXLEN))
                readers.append((t, "tail_pos"))
                t.prev_depth = prev[1]
                t.prev_head = prev[2]
            commands.append(("LINDEX", key, -1))
            readers.append((t, "tail"))
            if ref.processing_key:
                # BRPOPLPUSH pushes to the head of the processing list: the tail is oldest.
                commands += [("LLEN", ref.processing_key), ("LINDEX", ref.processing_key, -1)]
                readers += [(t, "processing"), (t, "processing_oldest")]
        elif kind is QueueKind.PRIORITY:
            commands += [("ZCARD", key), ("ZREVRANGE", key, 0, 0)]
            readers += [(t, "depth"), (t, "top")]
        elif kind is QueueKind.DELAYED:
            # Inclusive bounds only: Ferrite rejects '(' and ZRANGE BYSCORE.
            commands += [("ZCARD", key), ("ZCOUNT", key, "-inf", now_ms),
                         ("ZRANGEBYSCORE", key, "-inf", "+inf", "WITHSCORES", "LIMIT", 0, 1)]
            readers += [(t, "depth"), (t, "overdue"), (t, "earliest")]
            if ref.ready_key:
                commands.append(("LLEN", ref.ready_key))
                readers.append((t, "ready"))
        elif kind is QueueKind.STREAM:
            commands += [("XLEN", key), ("XINFO", "GROUPS", key), ("XINFO", "STREAM", key)]
            readers += [(t, "depth"), (t, "groups"), (t, "stream")]
            # Groups known from the last poll: their oldest pending entry gives the age.
            for group in self._groups.get(key, ()):
                commands.append(("XPENDING", key, group))
                readers.append((t, "pending_summary"))

    def _apply(self, t: _Tally, what: str, v: Any, now_ms: int) -> None:
        if what == "depth":
            t.depth = v
        elif what == "head":
            t.head = v
            t.oldest_ms = _age(v, now_ms)
        elif what == "tail":
            t.tail = v
        elif what == "tail_pos":
            t.tail_pos = -1 if v is None else v
        elif what == "processing":
            t.processing = v
        elif what == "processing_oldest":
            t.processing_oldest_ms = _age(v, now_ms)
        elif what == "top":
            t.oldest_ms = _age(v[0], now_ms) if v else None
        elif what == "overdue":
            t.overdue = v
        elif what == "earliest":
            if v:
                due = int(float(v[1]))
                if due <= now_ms:
                    t.oldest_ms = now_ms - due
        elif what == "ready":
            t.ready = v
        elif what == "groups":
            self._read_groups(t, v)
        elif what == "stream":
            info = _pairs(v)
            last = info.get("last-generated-id")
            t.last_id = _text(last) if last is not None else None
            t.added = _int_or_none(info.get("entries-added"))
        elif what == "pending_summary":
            first = stream_id_ms(v[1])  # [count, lowest id, highest id, consumers]
            if first is not None:
                t.oldest_ms = max(t.oldest_ms or 0, max(now_ms - first, 0))

    def _read_groups(self, t: _Tally, reply: list) -> None:
        names = []
        lag_seen = False
        for raw in reply:
            g = _pairs(raw)
            name = key_text(g.get("name", b""))
            names.append(name)
            lag_seen = lag_seen or "lag" in g
            t.groups.append(GroupStats(
                name=name,
                consumers=int(g.get("consumers", 0)),
                pending=int(g.get("pending", 0)),
                last_delivered_id=_text(g.get("last-delivered-id", b"")),
                lag=_int_or_none(g.get("lag")),
                entries_read=_int_or_none(g.get("entries-read")),
            ))
        if reply:
            self.client.note_lag_seen(lag_seen)
        self._groups[t.ref.key] = names

    # -- turning tallies into stats ------------------------------------------------------

    def _list_flow(self, t: _Tally) -> tuple[int, int] | None:
        """Items pushed and popped since the last poll, from where the old tail went.

        Pushes go to the right of the old tail, pops take from the head; an old tail gone
        while the head moved too means every old item left. Left pushes (nack) count as
        fewer pops, so the balance in - out always equals the depth change. A queue whose
        consumers pop the right end (RPUSH + BRPOPLPUSH, as the seed's reliable queue) keeps
        its head and loses its tail: there pushes and pops cannot be told apart, and the
        caller falls back to the net change.
        """
        key = t.ref.key
        if t.tail is None:
            self._tails.pop(key, None)
        else:
            self._tails[key] = (t.tail, t.depth, t.head)
        if t.tail_pos is None or t.prev_depth is None:
            return None
        if t.tail_pos >= 0:
            return max(t.depth - 1 - t.tail_pos, 0), max(t.prev_depth - 1 - t.tail_pos, 0)
        if t.depth <= LPOS_MAXLEN and (t.head != t.prev_head or t.head is None):
            return t.depth, t.prev_depth
        return None  # popped at the tail, or the old tail is buried deeper than LPOS looked

    def _finish(self, t: _Tally, mono: float) -> QueueStats:
        ref = t.ref
        ident = ref.ident
        history = self.history
        depth_series = history.series(ident, "depth")
        depth_series.add(mono, t.depth)
        net = depth_series.rate(RATE_SPAN_S)
        in_rate = out_rate = None
        pending = None

        if ref.kind in LIST_KINDS:
            flow = self._list_flow(t)
            if flow is not None:
                in_rate = self._cumulative_rate(ident, "in", flow[0], mono)
                out_rate = self._cumulative_rate(ident, "out", flow[1], mono)
            if t.processing is not None:
                history.series(ident, "processing").add(mono, t.processing)
        elif ref.kind is QueueKind.STREAM:
            if t.added is not None:
                in_rate = self._counter_rate(ident, "added", t.added, mono)
            reads = [g.entries_read for g in t.groups]
            if reads and None not in reads:
                out_rate = self._counter_rate(ident, "read", sum(reads), mono)
            pending = sum(g.pending for g in t.groups)
            history.series(ident, "pending").add(mono, pending)
            for g in t.groups:
                history.series(ident, f"pending:{g.name}").add(mono, g.pending)
                if g.lag is not None:
                    history.series(ident, f"lag:{g.name}").add(mono, g.lag)
        elif ref.kind is QueueKind.DELAYED and t.overdue is not None:
            history.series(ident, "overdue").add(mono, t.overdue)

        error = "; ".join(dict.fromkeys(t.errors)) or None
        alerts = alerts_for(
            ref.kind, t.depth, t.oldest_ms, net, t.overdue, pending, t.groups, self.alerts,
            t.processing_oldest_ms, self.visibility_timeouts.get(ref.key))
        return QueueStats(
            ref=ref, depth=t.depth, processing=t.processing, ready=t.ready, overdue=t.overdue,
            oldest_ms=t.oldest_ms, groups=tuple(t.groups), pending=pending, last_id=t.last_id,
            in_rate=in_rate, out_rate=out_rate, net_rate=net, error=error, alerts=alerts,
        )

    def _cumulative_rate(self, ident: str, name: str, moved: int, mono: float) -> float | None:
        total = self._totals.get((ident, name), 0) + moved
        self._totals[(ident, name)] = total
        series = self.history.series(ident, name)
        if not series.samples and self._last_mono is not None:
            series.add(self._last_mono, 0)  # the flow measured covers the last interval
        series.add(mono, total)
        return series.rate(RATE_SPAN_S)

    def _counter_rate(self, ident: str, name: str, value: int, mono: float) -> float | None:
        """Rate of a server counter (entries-added, commands processed); a counter that
        went backwards (server restart) starts the series again."""
        series = self.history.series(ident, name)
        last = series.last()
        if last is not None and value < last[1]:
            series.samples.clear()
        series.add(mono, value)
        return series.rate(RATE_SPAN_S)

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


def alerts_for(kind: QueueKind, depth: int, oldest_ms: int | None, net_rate: float | None,
               overdue: int | None, pending: int | None, groups: list[GroupStats],
               cfg: AlertConfig, processing_oldest_ms: int | None = None,
               visibility_timeout: float | None = None) -> tuple[str, ...]:
    """The thresholds of [alerts] this queue crosses, worded for the table."""
    out: list[str] = []
    if kind is QueueKind.DLQ:
        if cfg.dlq_nonempty and depth > 0:
            out.append(f"{depth} dead")
        if cfg.dlq_growing and (net_rate or 0) > 0.05:
            out.append("growing")
    elif depth >= cfg.depth > 0:
        out.append(f"depth ≥ {cfg.depth}")
    if kind is QueueKind.DELAYED:
        if oldest_ms is not None and oldest_ms >= cfg.overdue_seconds * 1000:
            out.append(f"{overdue} overdue")
    elif kind is not QueueKind.DLQ and oldest_ms is not None \
            and oldest_ms >= cfg.oldest_age_seconds * 1000:
        out.append("old jobs")
    stale_s = visibility_timeout or cfg.processing_stale_seconds
    if processing_oldest_ms is not None and processing_oldest_ms >= stale_s * 1000:
        out.append("stale processing")
    if kind is QueueKind.STREAM:
        if (pending or 0) >= cfg.stream_pending > 0:
            out.append(f"{pending} pending")
        lags = [g.lag for g in groups if g.lag is not None]
        if lags and max(lags) >= cfg.stream_lag > 0:
            out.append(f"lag {max(lags)}")
    return tuple(out)
