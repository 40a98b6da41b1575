"""Dead letters: a list of failed jobs (`NAME:dlq`), each an envelope with its error and
`dead_at`; requeued to NAME (the target) or deleted.

Recognised: a list whose name ends in the dead-letter suffix (`:dlq`) that no reliable
queue claims. Read as a work list (its age from `dead_at`); alerts when it is not empty
and when it grows.
"""

from __future__ import annotations

from ferrite_tui.backend.envelopes import decode
from ferrite_tui.backend.kinds.alerts import stale_processing
from ferrite_tui.backend.kinds.base import AlertFigures, Candidates, KindLayout, strip
from ferrite_tui.backend.kinds.work import ListReader
from ferrite_tui.backend.models import QueueKind, QueueRef
from ferrite_tui.config import AlertConfig, DiscoveryConfig, QueueDecl


def alerts(a: AlertFigures, cfg: AlertConfig) -> list[str]:
    out = []
    if cfg.dlq_nonempty and a.depth > 0:
        out.append(f"{a.depth} dead")
    if cfg.dlq_growing and (a.net_rate or 0) >= 0.05:
        out.append("growing")
    return out + stale_processing(a, cfg)


def recognise(c: Candidates) -> None:
    taken = c.list_keys_taken()
    for key in sorted(c.lists):
        target = strip(key, c.cfg.dlq_suffix)
        if target is not None and key not in taken:
            c.add(QueueRef(QueueKind.DLQ, key, target_key=target))
            c.lists.discard(key)


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
    actions=("requeue", "requeue_all", "delete", "delete_all", "edit"),
)
