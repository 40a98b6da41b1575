"""Per-minute trends over the last hour: rebuilt from the data at open, then fed by the poll.

Each series is keyed by (queue ident, metric) and holds one value per wall-clock minute.
A value is either rebuilt (by backend/backfill.py from times inside the data) or live
(recorded from the poll's snapshots); a live value always wins over a rebuilt one, so a
second backfill (ctrl+r) fills gaps without overwriting what the console measured.

Metrics and what a value means:
- ``arrivals``  (count) items enqueued in that minute; rebuilt from the items still queued
  (their ``enqueued_at`` / stream ids), so items consumed since are missing: a floor.
- ``dead``      (count) dead letters that arrived in that minute (``dead_at``); for a queue
  library's queue, jobs that failed in that minute.
- ``failed``    (level) a library queue's failed jobs at the end of the minute (those still
  in its failed set: a floor).
- ``out``       (count) items taken out in that minute; live only (the data forgets them).
- ``backlog``   (level) depth at the end of the minute; rebuilt as the items still queued
  that had arrived by then (a floor). Streams: entries pending in their groups.
- ``overdue``   (level) scheduled jobs due by the end of the minute and still waiting.
- ``pending:G`` (level) stream group G's pending entries delivered by then and still pending.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from ferrite_tui.backend.libraries.model import State
from ferrite_tui.backend.models import QueueKind, Snapshot

MINUTE_S = 60
COUNT_METRICS = ("arrivals", "dead", "out")


def minute_of(t: float) -> int:
    """The epoch minute a wall-clock time (seconds) falls in."""
    return int(t // MINUTE_S)


@dataclass
class MinuteSeries:
    """One value per epoch minute, each marked rebuilt or live."""

    metric: str
    points: dict[int, float] = field(default_factory=dict)
    rebuilt: set[int] = field(default_factory=set)
    sampled: bool = False  # rebuilt from an even sample of the items, scaled up
    floor: bool = False  # rebuilt from the items still present: the true value may be higher

    @property
    def is_count(self) -> bool:
        return self.metric in COUNT_METRICS

    def set_rebuilt(self, minute: int, value: float) -> None:
        if minute in self.points and minute not in self.rebuilt:
            return  # measured live: keep it
        self.points[minute] = value
        self.rebuilt.add(minute)

    def add_live(self, minute: int, value: float) -> None:
        """A count adds to the minute (the rebuilt part of the open minute included); a
        level replaces it. Either way the minute is live from now on."""
        if self.is_count:
            self.points[minute] = self.points.get(minute, 0.0) + value
        else:
            self.points[minute] = value
        self.rebuilt.discard(minute)

    def window(self, first: int, last: int) -> list[float | None]:
        """Values for minutes first..last inclusive; None where nothing is known. A level
        carries forward over minutes the console did not see change."""
        out: list[float | None] = []
        carry: float | None = None
        for m in range(first, last + 1):
            v = self.points.get(m)
            if v is None and not self.is_count:
                v = carry
            out.append(v)
            if v is not None:
                carry = v
        return out

    def trim(self, first: int) -> None:
        for m in [m for m in self.points if m < first]:
            del self.points[m]
            self.rebuilt.discard(m)


class Trends:
    """Every queue's minute series, bounded to `window_minutes` (plus the open minute)."""

    def __init__(self, window_minutes: int = 60) -> None:
        self.window_minutes = window_minutes
        self._series: dict[str, dict[str, MinuteSeries]] = {}  # ident -> metric -> series
        self._last_t: float | None = None  # time of the last live snapshot recorded
        self.live_since: float | None = None  # time of the first live snapshot recorded
        self._trimmed: int | None = None  # the minute the last trim was for
        self.rebuilt_at: float | None = None  # when the last backfill finished
        self.rebuilding = False  # a backfill is running
        self.notes: list[str] = []  # what the last backfill could not read, one line each

    def series(self, ident: str, metric: str) -> MinuteSeries:
        metrics = self._series.get(ident)
        if metrics is None:
            metrics = self._series[ident] = {}
        s = metrics.get(metric)
        if s is None:
            s = metrics[metric] = MinuteSeries(metric)
        return s

    def get(self, ident: str, metric: str) -> MinuteSeries | None:
        metrics = self._series.get(ident)
        return metrics.get(metric) if metrics else None

    def metrics(self, ident: str) -> dict[str, MinuteSeries]:
        return self._series.get(ident, {})

    def record(self, snap: Snapshot) -> None:
        """Add one poll to the series: levels as they are, counts as rate x elapsed."""
        t = snap.taken_at
        minute = minute_of(t)
        elapsed = t - self._last_t if self._last_t is not None else None
        self._last_t = t
        if self.live_since is None:
            self.live_since = t
        for q in snap.queues:
            ident = q.ref.ident
            kind = q.ref.kind
            if q.error:
                continue
            if kind is QueueKind.STREAM:
                self.series(ident, "backlog").add_live(minute, q.pending or 0)
                for g in q.groups:
                    self.series(ident, f"pending:{g.name}").add_live(minute, g.pending)
            else:
                self.series(ident, "backlog").add_live(minute, q.depth)
            if kind is QueueKind.DELAYED and q.overdue is not None:
                self.series(ident, "overdue").add_live(minute, q.overdue)
            failed = [s.size for s in q.states if s.state is State.FAILED]
            if failed and None not in failed:  # a library queue's failed jobs, all counted
                self.series(ident, "failed").add_live(minute, sum(cast("list[int]", failed)))
            if elapsed is None or elapsed <= 0:
                continue
            arrivals = q.in_rate
            if kind is QueueKind.DLQ:
                # Dead letters: measured arrivals, else the depth's rise (nothing consumes them).
                dead = arrivals if arrivals is not None else max(q.net_rate or 0.0, 0.0)
                self.series(ident, "dead").add_live(minute, dead * elapsed)
            if arrivals is not None:
                self.series(ident, "arrivals").add_live(minute, arrivals * elapsed)
            if q.out_rate is not None:
                self.series(ident, "out").add_live(minute, q.out_rate * elapsed)
        if minute != self._trimmed:
            self.trim(minute)

    def trim(self, now_minute: int) -> None:
        self._trimmed = now_minute
        first = now_minute - self.window_minutes
        for metrics in self._series.values():
            for s in metrics.values():
                s.trim(first)

    def forget(self, keep: set[str]) -> None:
        for ident in [i for i in self._series if i not in keep]:
            del self._series[ident]
