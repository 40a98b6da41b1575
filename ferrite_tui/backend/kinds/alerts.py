"""The alert wordings kinds share; each kind's module composes its own from these.

Alerts are computed for every queue at every poll and are usually none: each helper
returns a new list (callers append to it), and the common no-alert case makes no
intermediate lists.
"""

from __future__ import annotations

from ferrite_tui.backend.kinds.base import AlertFigures
from ferrite_tui.config import AlertConfig


def depth_alert(a: AlertFigures, cfg: AlertConfig) -> list[str]:
    return [f"depth ≥ {cfg.depth}"] if a.depth >= cfg.depth > 0 else []


def old_jobs(a: AlertFigures, cfg: AlertConfig) -> list[str]:
    old = a.oldest_ms is not None and a.oldest_ms >= cfg.oldest_age_seconds * 1000
    return ["old jobs"] if old else []


def stale_processing(a: AlertFigures, cfg: AlertConfig) -> list[str]:
    stale = a.flows.stale
    return [f"{stale}{'+' if a.flows.stale_lower else ''} stale processing"] if stale else []


def waiting_jobs(a: AlertFigures, cfg: AlertConfig) -> list[str]:
    """A queue of jobs waiting to be taken (work, reliable, priority): depth, old jobs,
    stale processing, in that order."""
    out = depth_alert(a, cfg)
    oldest_ms = a.oldest_ms
    if oldest_ms is not None and oldest_ms >= cfg.oldest_age_seconds * 1000:
        out.append("old jobs")
    if a.flows.stale:
        out += stale_processing(a, cfg)
    return out
