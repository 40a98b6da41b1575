"""BullMQ (Node, and its Python port: same layout): the hash `bull:Q:meta` is the signature;
`wait` / `paused` / `active` are lists of job ids (LPUSH, tail next), `prioritized` a zset
(priority * 2^32 + counter, low next), `delayed` a zset (due_ms * 4096 + counter), `failed`
and `completed` zsets (finishedOn, ms); job hash `bull:Q:ID`; `bull:Q:events` is an event
log, not a queue. Every state change is one of BullMQ's Lua scripts: the console acts only
through the official `bullmq` package (its own scripts), where the server runs Lua."""

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

LIBRARY = "bullmq"
PREFIX = "bull:"
READ_ONLY = "BullMQ keeps its state consistent with its own Lua scripts; use its API to act"
#: What the console does, through the `bullmq` package's own Job methods (backend/libraries/
#: bullmq_api.py); each needs the server's Lua and the optional extra.
ACTIONS = (
    Act("requeue", ("failed",), "Job.retry('failed') (its reprocessJob script)",
        "failed jobs (retry)"),
    Act("run_now", ("delayed",), "Job.promote() (its promote script)",
        "delayed jobs (promote)"),
    Act("delete", ("wait", "prioritized", "paused", "delayed", "failed", "completed"),
        "Job.remove() (the removeJob script: job hash, logs, dependencies)",
        "jobs no worker holds (an active one: its worker's own end)"),
)

#: Names `keeps` may answer True for start with one of these (a fast pre-check).
KEEP_PREFIXES: tuple[str, ...] = (PREFIX,)


def keeps(name: str, type_: str) -> bool:
    return type_ == "hash" and name.startswith(PREFIX) and name.endswith(":meta")


def queue(name: str) -> LibraryQueue:
    base = f"{PREFIX}{name}:"
    job = Body("key", base + "{id}", "hash", "bullmq", "timestamp")
    states = (
        state_key(State.PENDING, base + "wait", "list", "wait", "tail", body=job),
        state_key(State.PENDING, base + "prioritized", "zset", "prioritized", "low",
                 Unit.PRIORITY, Means.PRIORITY, body=job),
        state_key(State.PENDING, base + "paused", "list", "paused", "tail", body=job),
        state_key(State.ACTIVE, base + "active", "list", "active", "tail", body=job),
        state_key(State.SCHEDULED, base + "delayed", "zset", "delayed", "low", Unit.BULLMQ,
                 Means.DUE, body=job),
        state_key(State.SCHEDULED, base + "waiting-children", "zset", "waiting-children",
                 "low", body=job),
        state_key(State.FAILED, base + "failed", "zset", "failed", "high", Unit.MS, Means.AT,
                 body=job),
        state_key(State.DONE, base + "completed", "zset", "completed", "high", Unit.MS,
                 Means.AT, body=job),
    )
    return LibraryQueue(LIBRARY, name, states, needs_lua=True, actions=ACTIONS,
                        own_command="BullMQ's own API (Job, Queue)")


def recognise(types: dict[str, str], members: dict[str, list[str]]) -> Recognised:
    names = {k[len(PREFIX):-len(":meta")] for k, t in types.items()
             if t == "hash" and k.startswith(PREFIX) and k.endswith(":meta")}
    names.discard("")
    if not names:
        return Recognised()
    # BullMQ refuses ':' in queue names: the name is the part after the prefix.
    claimed = frozenset(k for k in types if k.startswith(PREFIX)
                        and k[len(PREFIX):].partition(":")[0] in names)
    return Recognised(tuple(queue(n) for n in sorted(names)), claimed)
