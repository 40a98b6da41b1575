"""Text forms of a snapshot's figures shared by the console's panels and `status`'s table:
one wording for the same figure wherever it is shown. Plain text (no Textual); server
text passes `printable`.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.backend.libraries.model import State, state_totals
from ferrite_tui.backend.libraries.strings import capped_states
from ferrite_tui.backend.models import QueueKind, QueueStats, Snapshot
from ferrite_tui.config import Config, ServerConnection
from ferrite_tui.escaping import printable


def secondary(q: QueueStats, now_s: float | None = None) -> str:
    """The one extra figure that matters for each kind, then, for a queue found by what
    its keys hold, that evidence ("delayed: scores are epoch ms, 5 in the past"); for a
    queue remembered from before and not found now, when it was last seen."""
    figure = _figure(q)
    if q.ref.last_seen is not None and now_s is not None:
        ago = fmt.duration(max(now_s - q.ref.last_seen, 0) * 1000)
        figure = f"last seen {ago} ago" + (f" · {figure}" if figure else "")
    if q.ref.evidence:
        evidence = printable(q.ref.evidence, 80)  # quotes key names: server text
        return f"{figure} · {evidence}" if figure else evidence
    return figure


def _figure(q: QueueStats) -> str:
    kind = q.ref.kind
    if kind is QueueKind.RELIABLE:
        stale = f", {q.stale}{'+' if q.stale_lower else ''} stale" if q.stale else ""
        return f"{fmt.count(q.processing or 0)} processing{stale}"
    if kind is QueueKind.DELAYED:
        return f"{fmt.count(q.overdue or 0)} overdue, {fmt.count(q.ready or 0)} ready"
    if kind is QueueKind.STREAM:
        idle = f", {q.idle_pending} idle" if q.idle_pending else ""
        groups = f"{len(q.groups)} group{'' if len(q.groups) == 1 else 's'}"
        capped = ", capped" if q.capped else ""
        return f"{groups}, {fmt.count(q.pending or 0)} pending{idle}{capped}"
    if kind is QueueKind.DLQ and q.ref.target_key:
        return f"→ {printable(q.ref.target_key, 48)}"  # derived from the key's name: server text
    return ""


def states_text(q: QueueStats) -> str:
    """A library queue's states other than pending, with their totals ("?" if unread, "≥"
    where a count covers only the job strings read)."""
    capped = capped_states(q.ref.library) if q.ref.library is not None else set()
    lower = {c.state for c in q.states if (c.key, c.label) in capped}
    return " · ".join(f"{state.value.replace('_', ' ')} "
                      f"{'?' if n is None else ('≥' if state in lower else '') + fmt.count(n)}"
                      for state, n in state_totals(q.states).items()
                      if n != 0 and state is not State.PENDING)


def notifications_text(state: str) -> str:
    if state == "on":
        return "exact in/out: counted from keyspace notifications"
    return f"exact in/out from keyspace notifications: off, {state}"


def left_out_text(snap: Snapshot) -> str:
    return (f"{snap.left_out:,} more queues found but not shown (max_queues = "
            f"{snap.max_queues:,}; raise [discovery] max_queues in the config to see them)")


# -- where the settings of a run came from ----------------------------------------------

def where_from(cfg: Config, settings: ConnectionSettings,
               match: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Every setting this connection runs with, its value and where it came from: a file
    and line, a flag, an environment variable, or the default (for `status --json`)."""
    profile = cfg.profile(settings.profile)

    def origin(name: str, table: str | None = None) -> str:
        # The command line's first, then the table's own key ("profiles.x.url").
        for setting in (name, *([f"{table}.{name}"] if table else ())):
            if (found := cfg.origin(setting)) != "default":
                return found
        return "default"

    named = f"profiles.{settings.profile}" if profile is not None else None
    out: dict[str, Any] = {
        "config_file": {"value": str(cfg.path) if cfg.path else None,
                        "from": origin("config_file").replace("default",
                                                              "the platform's config dir")},
        # --profile, else the file's default_profile (none: the URL alone).
        "profile": {"value": settings.profile if profile is not None else None,
                    "from": "none (the URL alone)" if profile is None
                    else cfg.origin("profile") if cfg.origin("profile") != "default"
                    else cfg.origin("default_profile")},
    }
    for f in fields(ServerConnection):
        value = getattr(settings, f.name)
        out[f.name] = {"value": settings.display_url if f.name == "url" else
                       list(value) if isinstance(value, tuple) else value,
                       "from": origin(f.name, named)}
    out["password"] = {"value": "set" if settings.password else None,
                       "from": settings.password_from or "none given"}
    patterns = match or (profile.match if profile is not None else None) \
        or cfg.discovery.match
    out["match"] = {"value": list(patterns),
                    "from": origin("match", named if profile is not None and profile.match
                                   else "discovery")}
    for setting in ("refresh", "exact_from_notifications", "history_minutes",
                    "trend_minutes"):
        out[setting] = {"value": getattr(cfg, setting), "from": cfg.origin(setting)}
    return out


#: What "came from" says of a setting nothing set: no line on screen for it.
_UNSET = ("default", "none given", "none (the URL alone)", "the platform's config dir")


def origin_lines(cfg: Config, settings: ConnectionSettings,
                 match: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
    """The settings of this connection that something set (a file's line, a flag, the
    environment, a choice saved from the console) as (setting, "value ← where"), one
    each; the defaults left out. No credential is among the values: the URL is shown
    without its password, the password only as "set"."""
    home = str(Path.home())
    out = []
    for name, entry in where_from(cfg, settings, match).items():
        value, where = entry["value"], str(entry["from"])
        if where in _UNSET or value is None:
            continue
        text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        if where.startswith(home + "/"):
            where = "~" + where[len(home):]
        out.append((name, f"{text} ← {where}"))
    return out
