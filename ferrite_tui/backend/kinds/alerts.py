"""The alert wordings kinds share; each kind's module composes its own from these."""

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
    """A queue of jobs waiting to be taken (work, reliable, priority)."""
    return depth_alert(a, cfg) + old_jobs(a, cfg) + stale_processing(a, cfg)
