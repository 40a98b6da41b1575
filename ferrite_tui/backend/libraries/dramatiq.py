"""dramatiq's Redis broker, under its `namespace` (default "dramatiq"; another one shows in
its heartbeat zset's name, NS:__heartbeats__): `NS:Q` list of message ids (RPUSH, head
next) with bodies in the hash `NS:Q.msgs`; delayed messages in `NS:Q.DQ` (+ `.DQ.msgs`, due
time in `options.eta`); dead letters in the zset `NS:Q.XQ` (score ms) + `.XQ.msgs`;
in-flight ids in one set per worker and queue `NS:__acks__.WORKER.Q`; heartbeats in the zset
`NS:__heartbeats__` (ms) from every process that uses the broker, producers included (each
dispatch beats): a worker is a process holding messages (an acks set), and only a silent
one holding this queue's messages is a dead worker of this queue. Results (Results
middleware, lists, possibly in another db) are named by a bare 32-hex digest or, with
`use_namespace_prefix_keys`, `RNS:QUEUE:ACTOR:MESSAGE_ID`. Every operation of the broker
is a Lua script."""

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
NAMESPACE = "dramatiq"
NS = NAMESPACE + ":"
BEATS = ":__heartbeats__"
HEARTBEATS = NAMESPACE + BEATS
ACKS_PART = ":__acks__."
ACKS = NAMESPACE + ACKS_PART
HEARTBEAT_TIMEOUT_MS = 60_000  # the broker's default: a worker silent this long is dead
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
#: Result keys: an md5 digest, or (use_namespace_prefix_keys) NS:QUEUE:ACTOR:MESSAGE_ID.
_RESULT = re.compile(r"[0-9a-f]{32}|.+:[\w.-]+:[\w.-]+:" + _UUID)
_SUFFIXES = (".DQ.msgs", ".XQ.msgs", ".msgs", ".DQ", ".XQ")

#: Names `keeps` may answer True for start with one of these (a fast pre-check).
KEEP_PREFIXES: tuple[str, ...] = ()


def keeps(name: str, type_: str) -> bool:
    return False


def keeps_anywhere(name: str, type_: str) -> bool:
    """Bodies and acks sets under any namespace (the heartbeat key names it later)."""
    return (type_ == "hash" and name.endswith(".msgs") and ":" in name) or (
        type_ == "set" and ACKS_PART in name)


def _queue_name(key: str, ns: str) -> str:
    name = key[len(ns):]
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


def queue(name: str, acks: list[str], delayed_acks: list[str] | None = None,
          namespace: str = NAMESPACE) -> LibraryQueue:
    base = f"{namespace}:{name}"
    prefix = namespace + ACKS_PART
    # acks key -> the worker holding it: NS:__acks__.WORKER.QUEUE (worker ids hold no dot)
    workers = tuple((key, key[len(prefix):].split(".", 1)[0])
                    for key in [*acks, *(delayed_acks or ())])
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
    return LibraryQueue(LIBRARY, name, tuple(states), needs_lua=True,
                        heartbeats=namespace + BEATS if workers else None,
                        heartbeat_timeout_ms=HEARTBEAT_TIMEOUT_MS, actions=ACTIONS,
                        refusals=REFUSALS, own_command="dramatiq's own API",
                        workers=workers)


#: A message hash `NS:QUEUE.msgs` (.DQ / .XQ): dramatiq's queue names hold no ':'.
_MESSAGES = re.compile(r"(.+):[a-zA-Z_][\w.-]*?(?:\.DQ|\.XQ)?\.msgs")


def namespaces(types: dict[str, str]) -> set[str]:
    """The namespaces the keys reveal: each heartbeat zset names one, and so does each
    message hash (its processes' beats are gone once they stop: dramatiq's maintenance
    removes them)."""
    found = {k[:-len(BEATS)] for k, t in types.items() if t == "zset" and k.endswith(BEATS)}
    found.update(m[1] for k, t in types.items()
                 if t == "hash" and (m := _MESSAGES.fullmatch(k)) is not None)
    found.discard("")
    return found


def recognise(types: dict[str, str], members: dict[str, list[str]]) -> Recognised:
    # Results anywhere (another db has no other dramatiq key): lists, never queues.
    claimed = {k for k, t in types.items() if t == "list" and _RESULT.fullmatch(k)}
    queues: list[LibraryQueue] = []
    for namespace in sorted(namespaces(types), key=len, reverse=True):
        ns, acks_prefix = namespace + ":", namespace + ACKS_PART
        mine = [k for k in types if k.startswith(ns) and k not in claimed]
        names: set[str] = set()
        acks: dict[str, list[str]] = {}
        for key in mine:
            if key.startswith(acks_prefix):
                # NS:__acks__.<worker id, no dots>.<queue>
                worker_and_queue = key[len(acks_prefix):]
                if "." in worker_and_queue:
                    q = worker_and_queue.split(".", 1)[1]
                    acks.setdefault(q, []).append(key)
            elif not key.startswith(ns + "__"):
                names.add(_queue_name(key, ns))
        queues += [queue(n, sorted(acks.get(n, [])), sorted(acks.get(n + ".DQ", [])),
                         namespace) for n in sorted(names)]
        claimed.update(mine)
    return Recognised(tuple(queues), frozenset(claimed))
