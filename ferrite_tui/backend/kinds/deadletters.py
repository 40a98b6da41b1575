"""Dead letters: a list of failed jobs (`NAME:dlq`), each an envelope with its error and
`dead_at`; requeued to NAME (the target) or deleted.

Recognised: a list whose name ends in the dead-letter suffix (`:dlq`) that no reliable
queue claims, or one judged by its items (evidence.py) to hold dead letters, its target
as far as its name tells. Read as a work list (its age from `dead_at`); alerts when it is not empty
and when it grows.
"""

from __future__ import annotations

from ferrite_tui.backend.envelopes import decode
from ferrite_tui.backend.kinds.alerts import stale_processing
from ferrite_tui.backend.kinds.base import (
    Action,
    AlertFigures,
    Candidates,
    KindLayout,
    strip,
)
from ferrite_tui.backend.kinds.work import ListReader
from ferrite_tui.backend.models import QueueKind, QueueRef
from ferrite_tui.config import AlertConfig, DiscoveryConfig, QueueDecl


def alerts(a: AlertFigures, cfg: AlertConfig) -> list[str]:
    out = []
    if cfg.dlq_nonempty and a.depth > 0:
        out.append(f"{a.depth} dead")
    if cfg.dlq_growing and (a.net_rate or 0) >= 0.05:
        out.append("growing")
    if a.flows.stale:
        out += stale_processing(a, cfg)
    return out


def recognise(c: Candidates) -> None:
    taken = c.list_keys_taken()
    for key in sorted(c.lists - taken):
        target = strip(key, c.cfg.dlq_suffix)
        ev = c.evidence.get(key)
        if target is not None:
            c.add(QueueRef(QueueKind.DLQ, key, target_key=target))
        elif ev is not None and ev.kind is QueueKind.DLQ:
            # Dead letters by their content (an envelope's error and dead_at) under a name
            # of their own; the target only as far as the name tells it.
            c.add(QueueRef(QueueKind.DLQ, key, target_key=_target_of(ev.target, c.types),
                           evidence=ev.text or None))
        else:
            continue
        c.lists.discard(key)


def _target_of(name: str | None, types: dict[str, str]) -> str | None:
    """A dead-letter list's target by its name, where that is a list or no key at all (a
    drained queue); never a key of another type."""
    if name is None or types.get(name, "list") != "list":
        return None
    return name


def declare(d: QueueDecl, cfg: DiscoveryConfig) -> QueueRef:
    return QueueRef(QueueKind.DLQ, d.key, target_key=d.target_key or strip(d.key, cfg.dlq_suffix),
                    declared=True)


LAYOUT = KindLayout(
    kind=QueueKind.DLQ,
    recognised_by="a list NAME:dlq (the dead-letter suffix); NAME is where it requeues",
    recognise=recognise,
    declare=declare,
    reader=ListReader,
    alerts=alerts,
    decode=decode,
    actions=(
        Action("requeue", "Requeue", "requeue selected",
               "WATCH dlq; LRANGE; MULTI; LREM dlq 1 letter; RPUSH target job (the letter's "
               "job, retry_count 0, last_error null, first_attempt now), per letter; EXEC"),
        Action("requeue_all", "Requeue shown", "requeue all shown",
               "as requeue, over every letter shown, in chunks (each letter to the queue it "
               "names where letters name their own)"),
        Action("delete", "Delete", "delete selected",
               "WATCH dlq; LRANGE; MULTI; LREM dlq 1 letter per letter; EXEC"),
        Action("delete_all", "Delete shown", "delete all shown",
               "as delete, over every letter shown, in chunks"),
        Action("edit", "Edit+requeue", "edit the payload, then requeue",
               "WATCH dlq; LRANGE; MULTI; LREM dlq 1 letter; RPUSH target the edited job; "
               "EXEC"),
    ),
    panel="dlq",
    color=(240, 70, 70),
    arrivals_are_deaths=True,
)
