"""dramatiq's Redis broker: `dramatiq:Q` list of message ids (RPUSH, head next) with bodies
in the hash `dramatiq:Q.msgs`; delayed messages in `dramatiq:Q.DQ` (+ `.DQ.msgs`, due time
in `options.eta`); dead letters in the zset `dramatiq:Q.XQ` (score ms) + `.XQ.msgs`;
in-flight ids in one set per worker `dramatiq:__acks__.WORKER.Q`; worker heartbeats in the
zset `dramatiq:__heartbeats__` (ms). Results (Results middleware) are lists named by a bare
32-hex digest. Every operation of the broker is a Lua script."""

from __future__ import annotations

import re

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

LIBRARY = "dramatiq"
NS = "dramatiq:"
HEARTBEATS = "dramatiq:__heartbeats__"
ACKS = "dramatiq:__acks__."
HEARTBEAT_TIMEOUT_MS = 60_000  # the broker's default: a worker silent this long is dead
_RESULT = re.compile(r"[0-9a-f]{32}")
_SUFFIXES = (".DQ.msgs", ".XQ.msgs", ".msgs", ".DQ", ".XQ")

#: Names `keeps` may answer True for start with one of these (a fast pre-check).
KEEP_PREFIXES: tuple[str, ...] = (NS,)


def keeps(name: str, type_: str) -> bool:
    return name.startswith(NS) and (
        (type_ == "hash" and name.endswith(".msgs")) or (type_ == "set" and name.startswith(ACKS)))


def _queue_name(key: str) -> str:
    name = key[len(NS):]
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


ACTIONS = (
    Act("requeue", ("dead",), "dramatiq's enqueue of the dead message (HSET Q.msgs, RPUSH "
        "Q), removed from .XQ", "its dead messages (.XQ)"),
    Act("dramatiq-requeue-dead", ("*",), "the same, for every dead message"),
)
REFUSALS = (("delete", "dramatiq moves messages with its own Lua scripts; requeue dead ones "
             "with r"),)


def queue(name: str, acks: list[str], delayed_acks: list[str] | None = None) -> LibraryQueue:
    base = NS + name
    states = [
        state_key(State.PENDING, base, "list", "queued", "head",
                 body=Body("field", base + ".msgs", "hash", "json", "message_timestamp")),
        state_key(State.SCHEDULED, base + ".DQ", "list", "delayed", "head",
                 body=Body("field", base + ".DQ.msgs", "hash", "json")),
        state_key(State.FAILED, base + ".XQ", "zset", "dead", "low", Unit.MS, Means.AT,
                 body=Body("field", base + ".XQ.msgs", "hash", "json")),
    ]
    states += [state_key(State.ACTIVE, key, "set", "acks",
                        body=Body("field", base + ".msgs", "hash", "json")) for key in acks]
    # Delayed messages a worker fetched and holds until their eta: still scheduled.
    states += [state_key(State.SCHEDULED, key, "set", "delayed (held by a worker)",
                        body=Body("field", base + ".DQ.msgs", "hash", "json"))
               for key in delayed_acks or ()]
    return LibraryQueue(LIBRARY, name, tuple(states), needs_lua=True, heartbeats=HEARTBEATS,
                        heartbeat_timeout_ms=HEARTBEAT_TIMEOUT_MS, actions=ACTIONS,
                        refusals=REFUSALS, own_command="dramatiq's own API")


def recognise(types: dict[str, str], members: dict[str, list[str]]) -> Recognised:
    mine = [k for k in types if k.startswith(NS)]
    signed = HEARTBEATS in types or any(
        k.endswith(".msgs") and types[k] == "hash" for k in mine)
    if not signed:
        return Recognised()
    names: set[str] = set()
    acks: dict[str, list[str]] = {}
    for key in mine:
        if key.startswith(ACKS):
            # dramatiq:__acks__.<worker id, no dots>.<queue>
            worker_and_queue = key[len(ACKS):]
            if "." in worker_and_queue:
                q = worker_and_queue.split(".", 1)[1]
                acks.setdefault(q, []).append(key)
        elif key != HEARTBEATS and not key.startswith(NS + "__"):
            names.add(_queue_name(key))
    queues = tuple(queue(n, sorted(acks.get(n, [])), sorted(acks.get(n + ".DQ", [])))
                   for n in sorted(names))
    claimed = set(mine)
    claimed.update(k for k, t in types.items() if t == "list" and _RESULT.fullmatch(k))
    return Recognised(queues, frozenset(claimed))
