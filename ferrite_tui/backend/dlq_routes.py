"""Where each dead letter goes back to: the queue it names, else the list's target.

Letters that name their queue (`{"queue": "work:7", "job": {...}, "error": ...}`) are sent
back to it, all in one run with one confirmation that counts them per target. A named queue
is checked first (one pipelined TYPE for all the names): a list, or a queue the console
knows that is momentarily empty (Redis deletes empty lists), is a target; a name that is no
such queue, a key of another type, or a key a queue library owns is refused, and those
letters stay where they are. The move itself checks the target's type again inside its
transaction (see moves), so a key that changes type in between is refused there too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ferrite_tui.backend.client import Client
from ferrite_tui.backend.dlq import SCAN_WINDOW
from ferrite_tui.backend.envelopes import decode, key_text
from ferrite_tui.backend.lists import read_page
from ferrite_tui.backend.models import QueueKind, QueueRef
from ferrite_tui.backend.movebase import Item
from ferrite_tui.backend.requeue_plan import PLAN_LIMIT, RequeuePlan, plan_items
from ferrite_tui.escaping import printable

#: Queue kinds a letter can be pushed back onto (RPUSH to a list the console understands).
LIST_TARGETS = (QueueKind.WORK, QueueKind.RELIABLE)
NO_TARGET = "no target queue (t sets one)"


@dataclass(frozen=True)
class Resolved:
    key: str | None  # where letters naming this queue go; None: refused
    why: str = ""  # the refusal, worded for the confirmation


def named_queue(raw: bytes) -> str | None:
    """The queue a letter names (`queue` / `origin` / `source`), or None."""
    return decode(raw).origin


async def resolve(client: Client, names: Iterable[str], known: Sequence[QueueRef] = (),
                  dlq: str = "") -> dict[str, Resolved]:
    """Check every named queue once: one pipelined TYPE for all of them."""
    names = sorted(set(names))
    if not names:
        return {}
    types = await client.raw_pipeline([("TYPE", name) for name in names])
    by_key = {k: ref for ref in known for k in (ref.key, *ref.keys)}
    by_name = {ref.name: ref for ref in known
               if ref.kind in LIST_TARGETS and ref.library is None}
    out: dict[str, Resolved] = {}
    for name, kind in zip(names, types):
        kind = key_text(kind) if isinstance(kind, bytes | str) else None
        owner = by_key.get(name)
        shown = printable(name, 60)
        if name == dlq:
            out[name] = Resolved(None, f"names {shown}, the dead-letter list itself")
        elif owner is not None and owner.library is not None:
            out[name] = Resolved(None, f"names {shown}, which {owner.library.library} owns "
                                       "(use its own retry)")
        elif kind == "list" or (kind == "none" and owner is not None
                                and owner.kind in LIST_TARGETS):
            out[name] = Resolved(name)
        elif name in by_name and by_name[name].key != dlq:
            out[name] = Resolved(by_name[name].key)  # a queue's name, e.g. NAME of queue:NAME
        elif kind is None:
            out[name] = Resolved(None, f"names {shown}, whose type could not be read")
        elif kind == "none":
            out[name] = Resolved(None, f"names {shown}, which does not exist")
        else:
            out[name] = Resolved(None, f"names {shown}, a {kind}, not a list")
    return out


@dataclass
class RoutePlan:
    """Every letter of a requeue with where it goes, or why it stays."""

    routes: dict[str, list[Item]] = field(default_factory=dict)  # target -> letters
    refused: dict[str, list[Item]] = field(default_factory=dict)  # why -> letters
    plan: RequeuePlan = field(default_factory=lambda: RequeuePlan(0, 0, 0))
    default: str | None = None  # the list's target, for letters naming no queue

    @property
    def moving(self) -> int:
        return sum(len(v) for v in self.routes.values())

    @property
    def refused_count(self) -> int:
        return sum(len(v) for v in self.refused.values())

    @property
    def named(self) -> bool:
        """Some letter goes somewhere other than the list's target."""
        return any(t != self.default for t in self.routes)

    def target_of(self, raw: bytes) -> str | None:
        return self._targets.get(raw)

    def __post_init__(self) -> None:
        self._targets: dict[bytes, str] = {}

    def describe(self) -> str:
        """E.g. "3 to work:1, 2 to queue:main (the list's target); 1 refused and left in
        place: names work:99, which does not exist"."""
        parts = []
        for target, items in sorted(self.routes.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            own = " (the list's target)" if target == self.default and self.named else ""
            parts.append(f"{len(items):,} to {printable(target, 60)}{own}")
        text = ", ".join(parts) or "nothing to requeue"
        if self.refused:
            why = "; ".join(f"{len(v):,} {w}" for w, v in self.refused.items())
            text += f". Refused and left in place: {why}"
        return text


def route(items: Sequence[Item], default: str | None,
          resolved: dict[str, Resolved]) -> RoutePlan:
    """Each letter to the queue it names (as resolved), else to `default`."""
    out = RoutePlan(default=default)
    for item in items:
        name = named_queue(item.raw)
        if name is not None and name in resolved:
            res = resolved[name]
            target, why = res.key, res.why
        else:
            target, why = default, NO_TARGET
        if target is None:
            out.refused.setdefault(why, []).append(item)
        else:
            out.routes.setdefault(target, []).append(item)
            out._targets[item.raw] = target
    out.plan = plan_items([it for items in out.routes.values() for it in items])
    return out


async def read_head(client: Client, key: str, count: int,
                    limit: int = PLAN_LIMIT) -> list[Item] | None:
    """The first `count` entries, read in windows from the head (to route a "requeue
    all"); None beyond `limit` or when the list shrank under the read."""
    if count > limit:
        return None
    out: list[Item] = []
    while len(out) < count:
        page = await read_page(client, key, len(out), min(SCAN_WINDOW, count - len(out)))
        if page.start != len(out) or not page.items:
            return None
        out += page.items[:count - len(out)]
    return out


async def plan_routes(client: Client, items: Sequence[Item], default: str | None,
                      known: Sequence[QueueRef] = (), dlq: str = "") -> RoutePlan:
    names = {n for n in (named_queue(it.raw) for it in items) if n is not None}
    return route(items, default, await resolve(client, names, known, dlq))
