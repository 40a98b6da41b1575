"""Each alert the poll raised, with since when its condition holds and what to press next.

The poll decides which alerts are on (backend/poll.py); this module only annotates them, so
it works whatever computes them. The start time comes, in order of preference:
- from the data: the oldest item's own time plus the threshold ("old jobs", "overdue"), or
  the per-minute trends (trends.py), rebuilt from the data at open and fed by the poll;
- from when the console first saw the alert, where nothing better is known.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ferrite_tui.backend.models import AlertNote, QueueKind, QueueStats, Snapshot
from ferrite_tui.backend.trends import MINUTE_S, Trends, minute_of
from ferrite_tui.config import AlertConfig

# The panel that acts on each kind of queue (the number keys of the UI).
PANEL_KEY = {
    QueueKind.WORK: "2", QueueKind.RELIABLE: "2", QueueKind.PRIORITY: "3",
    QueueKind.DELAYED: "4", QueueKind.STREAM: "5", QueueKind.DLQ: "6",
}


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    action: Callable[[QueueStats], str]
    # (queue, alert config) -> (metric, condition on a minute's value), or None
    series: Callable[[QueueStats, AlertConfig], tuple[str, Callable[[float], bool]] | None] \
        = lambda q, cfg: None
    # the threshold (seconds) an age must pass: since = oldest item's time + threshold
    age_threshold: Callable[[AlertConfig], float] | None = None
    # the same step in a few words, for a narrow terminal
    short: Callable[[QueueStats], str] = lambda q: "enter to look"


def _look(q: QueueStats) -> str:
    return "enter to read the oldest job (are its consumers running?)"


RULES = (
    _Rule(re.compile(r"^\d+ dead$"), lambda q: "r to requeue one, R all shown (g: by reason)",
          series=lambda q, cfg: ("backlog", lambda v: v > 0),
          short=lambda q: "r requeue one, R all"),
    _Rule(re.compile(r"^\d+ failed$"), lambda q: "enter to read why its jobs failed, then "
          "retry them with the library's own tools or here",
          series=lambda q, cfg: ("failed", lambda v: v > 0),
          short=lambda q: "enter: why they failed"),
    _Rule(re.compile(r"^growing$"), lambda q: "g to see why they fail, then R to requeue",
          series=lambda q, cfg: ("dead", lambda v: v > 0),
          short=lambda q: "g why, R requeue"),
    _Rule(re.compile(r"^\d+ overdue$"), lambda q: "X to run all overdue now (are the "
          "schedulers running?)", age_threshold=lambda cfg: cfg.overdue_seconds,
          short=lambda q: "X run overdue now"),
    _Rule(re.compile(r"^old jobs$"),
          lambda q: ("C to hand idle entries to a live consumer" if q.ref.kind is
                     QueueKind.STREAM else _look(q)),
          age_threshold=lambda cfg: cfg.oldest_age_seconds,
          short=lambda q: ("C claim idle" if q.ref.kind is QueueKind.STREAM
                           else "enter: oldest job")),
    _Rule(re.compile(r"^overdue growing"), lambda q: "X to run all overdue now, then check "
          "the scheduler",
          short=lambda q: "X run overdue now"),
    _Rule(re.compile(r"stale processing$"), lambda q: "R to recover stale jobs to the queue",
          short=lambda q: "R recover stale"),
    _Rule(re.compile(r"^depth ≥ "), lambda q: "enter to look at the jobs (are consumers "
          "keeping up?)", series=lambda q, cfg: ("backlog", lambda v: v >= cfg.depth),
          short=lambda q: "enter: look at the jobs"),
    _Rule(re.compile(r"^\d+ pending$"), lambda q: "C to hand them to a live consumer",
          series=lambda q, cfg: ("backlog", lambda v: v >= cfg.stream_pending),
          short=lambda q: "C to a live consumer"),
    _Rule(re.compile(r"^lag "), lambda q: "the group is behind: start more consumers",
          short=lambda q: "start more consumers"),
    _Rule(re.compile(r"idle pending$|idle ≥"), lambda q: "C to hand idle entries to a live "
          "consumer",
          short=lambda q: "C claim idle"),
    _Rule(re.compile(r"dead consumers?$|dead\?"), lambda q: "C to hand their entries to a "
          "live consumer",
          short=lambda q: "C claim theirs"),
    _Rule(re.compile(r"poison"), lambda q: "K to move poison entries to a dead-letter list",
          short=lambda q: "K poison to DLQ"),
)


def _rule(alert: str) -> _Rule | None:
    return next((r for r in RULES if r.pattern.search(alert)), None)


def _norm(alert: str) -> str:
    """The alert without its figures: '123 dead' and '124 dead' are the same condition."""
    return re.sub(r"\d[\d,.]*", "#", alert)


def _group_of(q: QueueStats, alert: str) -> str | None:
    """The stream group an alert is about: named in it, else the one holding most pending."""
    if q.ref.kind is not QueueKind.STREAM or not q.groups:
        return None
    for g in q.groups:
        if re.search(rf"(›|\bon|\bgroup) {re.escape(g.name)}\b", alert):
            return g.name
    # Groups that carry alerts of their own (where the poll words them per group): the
    # one with the same kind of alert.
    condition = _norm(alert).split(" ", 1)[-1]
    for g in sorted(q.groups, key=lambda g: -g.pending):
        if any(condition in _norm(a) for a in getattr(g, "alerts", ())):
            return g.name
    return max(q.groups, key=lambda g: (g.pending, g.name)).name


def run_start(trends: Trends, ident: str, metric: str, holds: Callable[[float], bool],
              now: float) -> tuple[float, bool, bool] | None:
    """Start of the run of minutes, up to now, over which `holds` is true of the series:
    (start in seconds, whether that minute was rebuilt, whether the run reaches back to the
    window's first minute). A count series may skip one quiet minute (bursty arrivals)."""
    series = trends.get(ident, metric)
    if series is None or not series.points:
        return None
    now_min = minute_of(now)
    first = now_min - trends.window_minutes
    values = series.window(first, now_min)
    i = len(values) - 1
    latest = values[i]
    if latest is None or not holds(latest):
        return None
    start = i
    gap = 0
    while i > 0:
        i -= 1
        v = values[i]
        if v is not None and holds(v):
            start, gap = i, 0
        elif series.is_count and gap == 0 and v is not None:
            gap = 1
        else:
            break
    minute = first + start
    return minute * MINUTE_S, minute in series.rebuilt, start == 0


class Advisor:
    """Keeps when each alert was first seen; annotates every snapshot's alerts."""

    def __init__(self, cfg: AlertConfig) -> None:
        self.cfg = cfg
        self._first_seen: dict[tuple[str, str], float] = {}

    def annotate(self, snap: Snapshot, trends: Trends) -> tuple[AlertNote, ...]:
        notes: list[AlertNote] = []
        seen_now: set[tuple[str, str]] = set()
        now = snap.taken_at
        for q in snap.queues:
            for alert in q.alerts:
                key = (q.ref.ident, _norm(alert))
                seen_now.add(key)
                first_seen = self._first_seen.setdefault(key, now)
                notes.append(self._note(q, alert, trends, now, first_seen))
        for key in [k for k in self._first_seen if k not in seen_now]:
            del self._first_seen[key]  # the condition ended: the next one starts afresh
        return tuple(notes)

    def _note(self, q: QueueStats, alert: str, trends: Trends, now: float,
              first_seen: float) -> AlertNote:
        rule = _rule(alert)
        since, since_from, before = first_seen, "seen", False
        if rule is not None and rule.age_threshold is not None and q.oldest_ms is not None:
            start = now - q.oldest_ms / 1000 + rule.age_threshold(self.cfg)
            if start <= first_seen:
                since, since_from = start, "data"
        elif rule is not None:
            wanted = rule.series(q, self.cfg)
            found = run_start(trends, q.ref.ident, *wanted, now) if wanted else None
            if found is not None and found[0] <= first_seen:
                since, rebuilt, before = found
                since_from = "data" if rebuilt else "live"
        action = rule.action(q) if rule else "enter to look closer"
        return AlertNote(
            ident=q.ref.ident, key=q.ref.key, alert=alert, since=since, since_from=since_from,
            before_window=before, action=action, panel_key=PANEL_KEY[q.ref.kind],
            group=_group_of(q, alert), short_action=rule.short(q) if rule else "enter",
        )
