"""Dead letters: a list of failed jobs (`NAME:dlq`), each an envelope with its error and
`dead_at`; requeued to NAME (the target) or deleted.

Recognised: a list whose name ends in the dead-letter suffix (`:dlq`) that no reliable
queue claims. Read as a work list (its age from `dead_at`); alerts when it is not empty
and when it grows.
"""

from __future__ import annotations

from ferrite_tui.backend.envelopes import decode
from ferrite_tui.backend.kinds.alerts import stale_processing
from ferrite_tui.backend.kinds.base import AlertFigures, KindLayout
from ferrite_tui.backend.kinds.work import ListReader
from ferrite_tui.backend.models import QueueKind
from ferrite_tui.config import AlertConfig


def alerts(a: AlertFigures, cfg: AlertConfig) -> list[str]:
    out = []
    if cfg.dlq_nonempty and a.depth > 0:
        out.append(f"{a.depth} dead")
    if cfg.dlq_growing and (a.net_rate or 0) >= 0.05:
        out.append("growing")
    return out + stale_processing(a, cfg)


LAYOUT = KindLayout(
    kind=QueueKind.DLQ,
    recognised_by="a list NAME:dlq (the dead-letter suffix); NAME is where it requeues",
    reader=ListReader,
    alerts=alerts,
    decode=decode,
    actions=("requeue", "requeue_all", "delete", "delete_all", "edit"),
)
