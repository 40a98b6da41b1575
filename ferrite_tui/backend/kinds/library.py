"""The reader of every queue library's layout (rq, celery, ...: backend/libraries/): counts
per state, ages from the library's own times and units, and its alerts. The commands and
what they mean come from `libraries.poll`; the next pending item's body (for its age) is
read in the poll's second round trip.

A library's stream (taskiq) is a plain stream with consumer groups, read by the stream
kind's reader, whose pending and lag are the figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.kinds.base import RATE_SPAN_S, Reader, Tally, takes_errors
from ferrite_tui.backend.libraries import poll as library_poll
from ferrite_tui.backend.libraries.model import Body
from ferrite_tui.backend.models import QueueRef, QueueStats


@dataclass(slots=True)
class LibraryTally(Tally):
    replies: list[Any] = field(default_factory=list)  # errors included
    fig: Any = None  # what libraries.poll.read made of `replies`


@takes_errors
def _reply(t: LibraryTally, v: Any, now_ms: int) -> None:
    t.replies.append(v)  # libraries read their own errors


class Probe(NamedTuple):
    """A body read in round trip 2, and the queue it is for."""

    tally: LibraryTally
    body: Body


@takes_errors
def _probed(p: Probe, v: Any, now_ms: int) -> None:
    t = p.tally
    t.fig, age = library_poll.probed(t.fig, p.body, v, now_ms)
    if age is not None:
        t.oldest_ms = max(t.oldest_ms or 0, age)


class LibraryReader(Reader):
    second_round = True

    def tally(self, ref: QueueRef) -> Tally:
        return LibraryTally(ref, self)

    asked = False  # this poll holds library commands (set by commands, reset by the poll)

    def commands(self, t: Any, commands: list, appliers: list, now_ms: int) -> None:
        self.asked = True
        ops = library_poll.commands(t.ref.library, now_ms)
        commands += ops
        appliers += (t, _reply) * len(ops)

    def second(self, t: Any, commands: list, appliers: list, now_ms: int) -> None:
        """Its figures from round trip 1; the next pending items' bodies in round trip 2."""
        poll = self.poll
        t.fig = library_poll.read(t.ref.library, t.replies, now_ms,
                                  poll.alerts.overdue_seconds, poll.client.capabilities.lua)
        for command, body in t.fig.probes:
            commands.append(command)
            appliers += (Probe(t, body), _probed)

    def finish(self, t: Any, mono: float, now_ms: int) -> QueueStats:
        ref = t.ref
        history = self.poll.history
        cfg = self.poll.alerts
        fig = t.fig
        oldest = max(fig.oldest_ms or 0, t.oldest_ms or 0) \
            if fig.oldest_ms is not None or t.oldest_ms is not None else None
        series = history.series(ref.ident, "depth")
        series.add(mono, fig.depth)
        net = series.rate(RATE_SPAN_S)
        alerts: list[str] = []
        if fig.depth >= cfg.depth > 0:
            alerts.append(f"depth ≥ {cfg.depth}")
        if oldest is not None and oldest >= cfg.oldest_age_seconds * 1000:
            alerts.append("old jobs")
        if fig.failed:
            failed = history.series(ref.ident, "failed")
            failed.add(mono, fig.failed)
            if cfg.dlq_nonempty:
                alerts.append(f"{fig.failed} failed")
            if cfg.dlq_growing and (failed.rate(RATE_SPAN_S) or 0) > 0.05:
                alerts.append("failed growing")
        if fig.processing is not None:
            history.series(ref.ident, "processing").add(mono, fig.processing)
        alerts += fig.alerts
        error = "; ".join(dict.fromkeys(printable(e, 120) for e in fig.errors)) or None
        return QueueStats(ref=ref, depth=fig.depth, processing=fig.processing,
                          oldest_ms=oldest, net_rate=net, error=error,
                          alerts=tuple(alerts), states=fig.states)
