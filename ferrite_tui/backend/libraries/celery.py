"""Celery on the Redis transport (kombu): `_kombu.binding.EXCHANGE` sets name the queues
(member `routing_key SEP pattern SEP queue`); a queue is a list of JSON envelopes (LPUSH,
tail next) plus priority sublists `Q SEP N`. SEP is kombu's `sep` transport option:
`\\x06\\x16` by default, `:` in the widely published priority setup; the binding members
reveal it (Celery binds a queue as `NAME SEP SEP NAME`). Messages a worker holds sit in
the hash `unacked` (value `[envelope, exchange, routing_key]`) indexed by the zset
`unacked_index` (delivery time, seconds) for all queues at once: those whose headers carry
an `eta` (countdown / ETA tasks, held until due) are scheduled, the others reserved (in
progress). `celeryev.<uuid>` queues (bound to the `celeryev` exchange) are the event
receivers' (one per worker start, for gossip and monitors): fanout, never work.
Celery keeps no dead letters."""

from __future__ import annotations

import re

from ferrite_tui.backend import boundedjson
from ferrite_tui.backend.libraries.model import (
    SELECTORS,
    Act,
    Body,
    LibraryQueue,
    Means,
    Recognised,
    Selector,
    State,
    state_key,
    time_ms,
)

LIBRARY = "celery"
BINDING = "_kombu.binding."
SEP = "\x06\x16"
#: Separators tried on a binding member, in order: kombu's default, then the published
#: priority setup's (`broker_transport_options={'sep': ':', ...}`).
SEPS = (SEP, ":")
EVENTS = "celeryev"  # the event exchange (celery's event_exchange)
_EVENT_QUEUE = re.compile(r"celeryev\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
UNACKED_INDEX = "unacked_index"
UNACKED = "unacked"
VISIBILITY_TIMEOUT_S = 3600.0  # kombu's default
KOMBU = Body("inline", encoding="kombu")
UNACKED_BODY = Body("inline", encoding="kombu-unacked", time_field="eta", time_format="iso")


def _unacked(value: bytes, queue: str) -> tuple[dict, int | None] | None:
    """An `unacked` value of `queue` (routed to it): its envelope's headers and its ETA
    (unix ms, None without one)."""
    try:
        entry = boundedjson.loads(value)
    except ValueError:
        return None
    if not (isinstance(entry, list) and len(entry) > 2 and entry[2] == queue
            and isinstance(entry[0], dict)):
        return None
    headers = entry[0].get("headers")
    headers = headers if isinstance(headers, dict) else {}
    eta = headers.get("eta")
    return headers, (time_ms(eta, "iso") if eta else None)


def _reserved(value: bytes, queue: str) -> tuple[int | None] | None:
    found = _unacked(value, queue)
    return (None,) if found is not None and not found[0].get("eta") else None


def _eta(value: bytes, queue: str) -> tuple[int | None] | None:
    found = _unacked(value, queue)
    return (found[1],) if found is not None and found[0].get("eta") else None


SELECTORS["celery-reserved"] = Selector(_reserved, UNACKED_INDEX)
SELECTORS["celery-eta"] = Selector(_eta)

#: Names `keeps` may answer True for start with one of these (a fast pre-check).
KEEP_PREFIXES: tuple[str, ...] = (BINDING,)


def keeps(name: str, type_: str) -> bool:
    return type_ == "set" and name.startswith(BINDING)


ACTIONS = (
    Act("requeue", ("reserved",), "kombu's restore of unacked messages (the "
        "worker's restore_visible)", "messages unacked past the visibility timeout"),
    Act("celery-purge", ("*",), "celery purge -Q NAME (kombu's purge)"),
    Act("celery-requeue-unacked", ("*",), "kombu's restore_visible"),
)
REFUSALS = (("delete", "Celery messages are not deleted one by one; purge is in ctrl+p"),)


def queue(name: str, sublists: list[str], sep: str = SEP) -> LibraryQueue:
    states = [state_key(State.PENDING, name, "list", "queued", "tail", body=KOMBU)]
    states += [state_key(State.PENDING, sub, "list", f"priority {sub.rsplit(sep, 1)[1]}",
                        "tail", body=KOMBU) for sub in sublists]
    # Held by a worker: running or prefetched (reserved), or waiting for its ETA.
    states.append(state_key(State.ACTIVE, UNACKED, "hash", "reserved", body=UNACKED_BODY,
                            select="celery-reserved"))
    states.append(state_key(State.SCHEDULED, UNACKED, "hash", "eta", "low", means=Means.DUE,
                            body=UNACKED_BODY, select="celery-eta"))
    return LibraryQueue(LIBRARY, name, tuple(states), visibility_timeout_s=VISIBILITY_TIMEOUT_S,
                        actions=ACTIONS, refusals=REFUSALS, own_command="celery's CLI")


def bound_queue(member: str, seps: tuple[str, ...] = SEPS) -> tuple[str, str] | None:
    """(queue, separator) of a binding member `routing_key SEP pattern SEP queue`, trying
    each separator; a direct exchange's pattern is empty, so `SEP SEP` splits a name that
    itself holds the separator (`celery:high` with `sep: ':'`)."""
    for sep in seps:
        parts = member.split(sep)
        if len(parts) == 3 and parts[2]:
            return parts[2], sep
        if len(parts) > 3 and sep + sep in member:
            routing_key, _, name = member.partition(sep + sep)
            if name and (name == routing_key or sep not in name):
                return name, sep
    # Another separator: Celery binds a queue with its own name as the routing key and no
    # pattern, `NAME SEP SEP NAME`, which names the separator (the longest name first).
    for n in range(len(member) // 2 - 1, 0, -1):
        middle = member[n:len(member) - n]
        half = len(middle) // 2
        if member[:n] == member[-n:] and middle and len(middle) % 2 == 0 \
                and middle[:half] == middle[half:]:
            return member[-n:], middle[:half]
    return None


def recognise(types: dict[str, str], members: dict[str, list[str]]) -> Recognised:
    names: dict[str, str] = {}  # queue name -> the separator of its priority sublists
    claimed: set[str] = set()
    events: set[str] = set()
    for key, type_ in types.items():
        if type_ == "set" and key.startswith(BINDING):
            claimed.add(key)
            if key.endswith(".pidbox"):
                continue
            for member in members.get(key, ()):
                found = bound_queue(member)
                if found is None:
                    continue
                if key == BINDING + EVENTS:
                    events.add(found[0])  # an event receiver's queue, not work
                else:
                    names.setdefault(*found)
    # Event receivers' queues: one per worker start (gossip, monitors), hidden.
    claimed.update(events)
    claimed.update(k for k, t in types.items() if t == "list" and _EVENT_QUEUE.fullmatch(k))
    for name in events:
        names.pop(name, None)
    if not names:
        return Recognised((), frozenset(claimed))
    sublists: dict[str, list[str]] = {}  # queue name -> its priority sublists
    seps = set(names.values())
    for key, type_ in types.items():
        if type_ != "list" or key in names:
            continue
        for sep in seps:
            base, split, step = key.rpartition(sep)
            if split and step.isdigit() and names.get(base) == sep:
                sublists.setdefault(base, []).append(key)
                break
    queues = []
    for name, sep in sorted(names.items()):
        subs = sorted(sublists.get(name, []), key=lambda k: int(k.rsplit(sep, 1)[1]))
        claimed.add(name)
        claimed.update(subs)
        queues.append(queue(name, subs, sep))
    claimed.add(UNACKED_INDEX)
    # Remote-control reply queues: fanout noise, never work.
    claimed.update(k for k in types if k.endswith(".reply.celery.pidbox"))
    return Recognised(tuple(queues), frozenset(claimed))
