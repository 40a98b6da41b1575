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

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ferrite_tui.backend.client import Client
from ferrite_tui.backend.dlq import SCAN_WINDOW, DeadLetters, RequeueChunk
from ferrite_tui.backend.envelopes import decode, key_text
from ferrite_tui.backend.lists import read_page
from ferrite_tui.backend.models import QueueKind, QueueRef
from ferrite_tui.backend.movebase import Item
from ferrite_tui.backend.requeue_plan import PLAN_LIMIT, PlanCounts, RequeuePlan, plan_items
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
        return describe_routes({t: len(v) for t, v in self.routes.items()},
                               {w: len(v) for w, v in self.refused.items()}, self.default)


#: A confirmation names at most this many targets (and refusal reasons); the rest are summed.
SHOWN_TARGETS = 12


def describe_routes(targets: dict[str, int], refused: dict[str, int], default: str | None,
                    estimated: str = "") -> str:
    """The count per target and per refusal; `estimated`: the counts are estimates (each
    marked "≈"), and this says what they are based on."""
    mark = "≈" if estimated else ""
    named = any(t != default for t in targets)
    parts = []
    ordered = sorted(targets.items(), key=lambda kv: (-kv[1], kv[0]))
    for target, n in ordered[:SHOWN_TARGETS]:
        own = " (the list's target)" if target == default and named else ""
        parts.append(f"{mark}{n:,} to {printable(target, 60)}{own}")
    if len(ordered) > SHOWN_TARGETS:
        rest = ordered[SHOWN_TARGETS:]
        parts.append(f"{mark}{sum(n for _, n in rest):,} to {len(rest):,} other queues")
    text = ", ".join(parts) or "nothing to requeue"
    if refused:
        reasons = sorted(refused.items(), key=lambda kv: (-kv[1], kv[0]))
        why = "; ".join(f"{mark}{n:,} {w}" for w, n in reasons[:SHOWN_TARGETS])
        if len(reasons) > SHOWN_TARGETS:
            why += f"; {mark}{sum(n for _, n in reasons[SHOWN_TARGETS:]):,} for other reasons"
        text += f". Refused and left in place: {why}"
    if estimated:
        text += f" ({estimated})"
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


# -- "requeue all" of a list of any length: read in pages, never whole --------------------

#: Queue names resolved during one run are kept up to this many (then resolved again).
RESOLVED_CAP = 10_000


@dataclass
class HeadRoutes:
    """Where an unfiltered "requeue all" sends the letters of a list, from the first `read`
    of its `total` letters, read page by page (counts are kept, never the letters)."""

    total: int
    read: int = 0
    named: Counter[str] = field(default_factory=Counter)  # queue name -> letters naming it
    unnamed: int = 0  # letters naming no queue: to the list's target
    resolved: dict[str, Resolved] = field(default_factory=dict)
    plan: RequeuePlan = field(default_factory=lambda: RequeuePlan(0, 0, 0))

    @property
    def complete(self) -> bool:
        return self.read >= self.total

    def counts(self, default: str | None) -> tuple[Counter[str], Counter[str]]:
        """(letters per target, letters per refusal) of those read."""
        targets: Counter[str] = Counter()
        refused: Counter[str] = Counter()
        for name, n in self.named.items():
            res = self.resolved.get(name)
            if res is not None and res.key is not None:
                targets[res.key] += n
            else:
                refused[res.why if res is not None else NO_TARGET] += n
        if self.unnamed:
            if default is None:
                refused[NO_TARGET] += self.unnamed
            else:
                targets[default] += self.unnamed
        return targets, refused

    def moving(self, default: str | None) -> int:
        """Letters read that will move (of all of them, when all were read)."""
        return sum(self.counts(default)[0].values())

    def describe(self, default: str | None) -> str:
        """Exact counts when every letter was read; else each scaled to the whole list
        and marked as an estimate, with what it is based on."""
        targets, refused = self.counts(default)
        if self.complete or not self.read:
            return describe_routes(targets, refused, default)
        scale = self.total / self.read
        return describe_routes(
            {t: round(n * scale) for t, n in targets.items()},
            {w: round(n * scale) for w, n in refused.items()}, default,
            f"estimates from the first {self.read:,} of {self.total:,} letters read; the "
            "others are routed as they are read, by the same rules")


async def plan_head_routes(client: Client, key: str, count: int,
                           known: Sequence[QueueRef] = (), limit: int | None = None
                           ) -> HeadRoutes:
    """Read the first `count` letters (at most `limit`, by default PLAN_LIMIT) in pages
    from the head: per page, their outcomes and the queues they name are counted and new
    names resolved."""
    out = HeadRoutes(count)
    counts = PlanCounts()
    want = min(count, PLAN_LIMIT if limit is None else limit)
    while out.read < want:
        page = await read_page(client, key, out.read, min(SCAN_WINDOW, want - out.read))
        if page.start != out.read or not page.items:
            break  # the list shrank under the read: the rest is "not read"
        new: set[str] = set()
        for item in page.items[:want - out.read]:
            counts.add(item.raw)
            name = named_queue(item.raw)
            if name is None:
                out.unnamed += 1
            else:
                out.named[name] += 1
                if name not in out.resolved:
                    new.add(name)
        out.resolved.update(await resolve(client, new, known, key))
        out.read += len(page.items[:want - out.read])
    out.plan = counts.plan(count)
    return out


class RoutedHeadRun:
    """The first `count` letters of a list requeued page by page from the head, each to
    the queue it names (else `default`): a bulk plan (`total`, `next_chunk`, `handled`) and
    its chunk function in one. Letters refused (queue missing, not a list, owned by a
    library) or left in place by the move stay at the head; each page is read past them.
    Names are resolved as in the confirmation (its `resolved`), new ones as they appear;
    the move checks the target's type again in its transaction."""

    def __init__(self, letters: DeadLetters, key: str, count: int, default: str | None,
                 resolved: dict[str, Resolved], known: Sequence[QueueRef] = (),
                 size: int = 500) -> None:
        self.letters = letters
        self.key = key
        self.count = count
        self.default = default
        self.resolved = dict(resolved)
        self.known = known
        self.size = size
        self.handled_count = 0
        self.left = 0  # letters left in place at the head (read past by every page)
        self.dry = False  # the list held fewer letters than counted
        self.targets: Counter[str] = Counter()  # target -> letters requeued
        self.refused: Counter[str] = Counter()  # why -> letters refused and left in place

    @property
    def total(self) -> int:
        return self.count

    def next_chunk(self) -> int:
        return 0 if self.dry else min(self.size, self.count - self.handled_count)

    def handled(self, n: int) -> None:
        self.handled_count += n

    async def chunk(self, n: int) -> RequeueChunk:
        client = self.letters.client
        page = await read_page(client, self.key, self.left, n)
        items = page.items[:n] if page.start == self.left else ()
        out = RequeueChunk()
        if len(items) < n:  # others took letters meanwhile: the rest is not there to move
            self.dry = True
            missing = self.count - self.handled_count - len(items)
            if page.length == 0:  # the list went away (emptied, renamed, deleted)
                out.gone, out.list_gone = missing, True
            else:
                out.skipped = missing
        names = {named_queue(it.raw) for it in items}
        new = {nm for nm in names if nm is not None and nm not in self.resolved}
        if new:
            if len(self.resolved) > RESOLVED_CAP:
                self.resolved.clear()
            self.resolved.update(await resolve(client, new, self.known, self.key))
        plan = route(items, self.default, self.resolved)
        for why, letters in plan.refused.items():
            self.refused[why] += len(letters)
        refused = plan.refused_count
        for target, letters in plan.routes.items():  # one transaction per target
            res = await self.letters.requeue(self.key, target, letters)
            self.targets[target] += res.done
            out.done += res.done
            out.skipped += res.skipped
            out.failed += res.failed
            out.gone += res.gone
            out.unchanged += res.unchanged
            out.errors += res.errors
            out.notes += [note for note in res.notes if note not in out.notes]
            out.list_gone = out.list_gone or res.list_gone
            self.left += res.failed  # left where they were: at the head, read past
        out.failed += refused
        self.left += refused
        return out

    def describe(self) -> str:
        """What the run did, per target and per refusal (exact: counted as it went)."""
        return describe_routes(+self.targets, +self.refused, self.default)
