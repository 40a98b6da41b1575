"""`[[queues]]` declarations for the long tail: templates, globs, profile scope, and the
state model's fields (order, score unit, body key, scheduled/failed/done keys).

A declaration whose key holds `{name}` or glob characters stands for every discovered key
it matches; one with state-model fields becomes a queue of the model (library "config"),
shown and polled like a library's; the others stay the seed's kinds as before.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import replace

from ferrite_tui.backend.libraries.model import (
    Body,
    LibraryQueue,
    Means,
    State,
    StateKey,
    Unit,
)
from ferrite_tui.config import QueueDecl

LIBRARY = "config"
_GLOB = re.compile(r"[*?\[]")
_MODEL_FIELDS = ("order", "score_unit", "body_key", "scheduled_key", "failed_key", "done_key")


def is_pattern(key: str) -> bool:
    return "{name}" in key or bool(_GLOB.search(key))


def in_scope(decls: Iterable[QueueDecl], profile: str | None) -> list[QueueDecl]:
    """The declarations for this connection's profile (unscoped ones apply everywhere)."""
    return [d for d in decls if d.profile is None or d.profile == profile]


def _template_regex(template: str) -> re.Pattern[str]:
    parts = [re.escape(p) for p in template.split("{name}")]
    return re.compile("(.+?)".join(parts) + r"\Z")


def expand(decls: Iterable[QueueDecl], types: dict[str, str]) -> list[QueueDecl]:
    """Concrete declarations: a `{name}` template or glob becomes one declaration per
    discovered key it matches, with `{name}` filled in every key field."""
    out: list[QueueDecl] = []
    queue_keys: list[str] | None = None
    for d in decls:
        if not is_pattern(d.key):
            out.append(d)
            continue
        if queue_keys is None:
            queue_keys = sorted(k for k, t in types.items() if t in ("list", "zset", "stream"))
        if "{name}" in d.key:
            rx = _template_regex(d.key)
            for key in queue_keys:
                m = rx.match(key)
                if m:
                    out.append(_fill(d, m.group(1)))
        else:
            out += [replace(d, key=key) for key in queue_keys
                    if fnmatch.fnmatchcase(key, d.key)]
    return out


def _fill(d: QueueDecl, name: str) -> QueueDecl:
    fields = {f: getattr(d, f).replace("{name}", name)
              for f in ("key", "processing_key", "ready_key", "target_key", "body_key",
                        "scheduled_key", "failed_key", "done_key")
              if getattr(d, f) is not None}
    return replace(d, **fields)


def uses_model(d: QueueDecl) -> bool:
    return any(getattr(d, f) is not None for f in _MODEL_FIELDS)


def queue(d: QueueDecl, types: dict[str, str]) -> LibraryQueue:
    """A declaration with state-model fields as a queue of the model."""
    unit = Unit(d.score_unit) if d.score_unit else Unit.MS
    body = Body("key", d.body_key, d.body_type, "json") if d.body_key else Body()
    ptype = types.get(d.key) or ("zset" if d.kind in ("priority", "delayed") else
                                 "stream" if d.kind == "stream" else "list")
    if ptype == "zset":
        pending = StateKey(State.PENDING, d.key, "zset", "pending", "high" if
                           d.kind == "priority" else "low", unit,
                           Means.PRIORITY if d.kind == "priority" else Means.DUE, body=body)
    else:
        pending = StateKey(State.PENDING, d.key, ptype, "pending", d.order or "head", body=body)
    states = [pending]
    if d.processing_key:
        states.append(StateKey(State.ACTIVE, d.processing_key, "list", "processing",
                               body=body))
    if d.scheduled_key:
        states.append(StateKey(State.SCHEDULED, d.scheduled_key, "zset", "scheduled", "low",
                               unit, Means.DUE, body=body))
    for state, key, label in ((State.FAILED, d.failed_key, "failed"),
                              (State.DONE, d.done_key, "done")):
        if key:
            ktype = types.get(key, "list")
            states.append(StateKey(state, key, ktype if ktype in ("list", "zset") else "list",
                                   label, "head" if ktype != "zset" else "high",
                                   unit if ktype == "zset" else None,
                                   Means.AT if ktype == "zset" else None, body=body))
    return LibraryQueue(LIBRARY, d.key, tuple(states),
                        visibility_timeout_s=d.visibility_timeout)
