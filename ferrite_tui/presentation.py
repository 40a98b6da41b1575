"""Text forms of a snapshot's figures shared by the console's panels and `status`'s table:
one wording for the same figure wherever it is shown. Plain text (no Textual); server
text passes `printable`.
"""

from __future__ import annotations

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.libraries.model import State, state_totals
from ferrite_tui.backend.models import QueueKind, QueueStats, Snapshot
from ferrite_tui.escaping import printable


def secondary(q: QueueStats) -> str:
    """The one extra figure that matters for each kind."""
    kind = q.ref.kind
    if kind is QueueKind.RELIABLE:
        stale = f", {q.stale}{'+' if q.stale_lower else ''} stale" if q.stale else ""
        return f"{fmt.count(q.processing or 0)} processing{stale}"
    if kind is QueueKind.DELAYED:
        return f"{fmt.count(q.overdue or 0)} overdue, {fmt.count(q.ready or 0)} ready"
    if kind is QueueKind.STREAM:
        idle = f", {q.idle_pending} idle" if q.idle_pending else ""
        groups = f"{len(q.groups)} group{'' if len(q.groups) == 1 else 's'}"
        return f"{groups}, {fmt.count(q.pending or 0)} pending{idle}"
    if kind is QueueKind.DLQ and q.ref.target_key:
        return f"→ {printable(q.ref.target_key, 48)}"  # derived from the key's name: server text
    return ""


def states_text(q: QueueStats) -> str:
    """A library queue's states other than pending, with their totals ("?" if unread)."""
    return " · ".join(f"{state.value.replace('_', ' ')} {'?' if n is None else fmt.count(n)}"
                      for state, n in state_totals(q.states).items()
                      if n != 0 and state is not State.PENDING)


def notifications_text(state: str) -> str:
    if state == "on":
        return "exact in/out: counted from keyspace notifications"
    return f"exact in/out from keyspace notifications: off, {state}"


def left_out_text(snap: Snapshot) -> str:
    return (f"{snap.left_out:,} more queues found but not shown (max_queues = "
            f"{snap.max_queues:,}; raise [discovery] max_queues in the config to see them)")
