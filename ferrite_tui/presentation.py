"""Text forms of a snapshot's figures shared by the console's panels and `status`'s table:
one wording for the same figure wherever it is shown. Plain text (no Textual); server
text passes `printable`.
"""

from __future__ import annotations

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.libraries.model import State, state_totals
from ferrite_tui.backend.libraries.strings import capped_states
from ferrite_tui.backend.models import QueueKind, QueueStats, Snapshot
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
