"""Celery on the Redis transport (kombu): `_kombu.binding.EXCHANGE` sets name the queues
(member `routing_key\\x06\\x16pattern\\x06\\x16queue`); a queue is a list of JSON envelopes
(LPUSH, tail next) plus priority sublists `Q\\x06\\x16N`; messages being worked on sit in
the hash `unacked` indexed by the zset `unacked_index` (delivery time, seconds) for all
queues at once. Celery keeps no dead letters."""

from __future__ import annotations

from ferrite_tui.backend.libraries.model import (
    Act,
    Body,
    LibraryQueue,
    Means,
    Recognised,
    State,
    Unit,
    state_key,
)

LIBRARY = "celery"
BINDING = "_kombu.binding."
SEP = "\x06\x16"
UNACKED_INDEX = "unacked_index"
UNACKED = "unacked"
VISIBILITY_TIMEOUT_S = 3600.0  # kombu's default
KOMBU = Body("inline", encoding="kombu")

#: Names `keeps` may answer True for start with one of these (a fast pre-check).
KEEP_PREFIXES: tuple[str, ...] = (BINDING,)


def keeps(name: str, type_: str) -> bool:
    return type_ == "set" and name.startswith(BINDING)


ACTIONS = (
    Act("requeue", ("unacked (all queues)",), "kombu's restore of unacked messages (the "
        "worker's restore_visible)", "messages unacked past the visibility timeout"),
    Act("celery-purge", ("*",), "celery purge -Q NAME (kombu's purge)"),
    Act("celery-requeue-unacked", ("*",), "kombu's restore_visible"),
)
REFUSALS = (("delete", "Celery messages are not deleted one by one; purge is in ctrl+p"),)


def queue(name: str, sublists: list[str]) -> LibraryQueue:
    states = [state_key(State.PENDING, name, "list", "queued", "tail", body=KOMBU)]
    states += [state_key(State.PENDING, sub, "list", f"priority {sub.rsplit(SEP, 1)[1]}",
                        "tail", body=KOMBU) for sub in sublists]
    states.append(state_key(State.ACTIVE, UNACKED_INDEX, "zset", "unacked (all queues)",
                           "low", Unit.S, Means.AT, shared=True,
                           body=Body("field", UNACKED, "hash", "kombu-unacked")))
    return LibraryQueue(LIBRARY, name, tuple(states), visibility_timeout_s=VISIBILITY_TIMEOUT_S,
                        actions=ACTIONS, refusals=REFUSALS, own_command="celery's CLI")


def recognise(types: dict[str, str], members: dict[str, list[str]]) -> Recognised:
    names: set[str] = set()
    claimed: set[str] = set()
    for key, type_ in types.items():
        if type_ == "set" and key.startswith(BINDING):
            claimed.add(key)
            for member in members.get(key, ()):
                parts = member.split(SEP)
                if len(parts) == 3 and parts[2] and not key.endswith(".pidbox"):
                    names.add(parts[2])
    if not names:
        return Recognised()
    sublists: dict[str, list[str]] = {}  # queue name -> its priority sublists
    for key, type_ in types.items():
        if type_ == "list" and SEP in key:
            base, _, step = key.rpartition(SEP)
            if step.isdigit() and base in names:
                sublists.setdefault(base, []).append(key)
    queues = []
    for name in sorted(names):
        subs = sorted(sublists.get(name, []), key=lambda k: int(k.rsplit(SEP, 1)[1]))
        claimed.add(name)
        claimed.update(subs)
        queues.append(queue(name, subs))
    claimed.add(UNACKED_INDEX)
    # Remote-control reply queues: fanout noise, never work.
    claimed.update(k for k in types if k.endswith(".reply.celery.pidbox"))
    return Recognised(tuple(queues), frozenset(claimed))
