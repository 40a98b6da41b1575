"""BullMQ (Node, and its Python port: same layout): the hash `bull:Q:meta` is the signature;
`wait` / `paused` / `active` are lists of job ids (LPUSH, tail next), `prioritized` a zset
(priority * 2^32 + counter, low next), `delayed` a zset (due_ms * 4096 + counter), `failed`
and `completed` zsets (finishedOn, ms); job hash `bull:Q:ID`; `bull:Q:events` is an event
log, not a queue. Every state change is one of BullMQ's Lua scripts: the console acts only
through the official `bullmq` package (its own scripts), where the server runs Lua.

`Queue.pause` sets `paused` in the `meta` hash (older versions also moved `wait` to the
`paused` list); job schedulers (repeatable jobs) are the zset `repeat` (next run, ms); an
active job is stalled when its lock `bull:Q:ID:lock` is gone (no worker renews it; a
worker's stalled check would move it back to wait). The prefix is an option (`{bull}` on
clusters): `P:Q:meta` with its `P:Q:events` stream reveals P; `[libraries]
bullmq_prefixes` names more."""

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
        "failed jobs (retry)", needs_lua=True),
    Act("run_now", ("delayed",), "Job.promote() (its promote script)",
        "delayed jobs (promote)", needs_lua=True),
    Act("delete", ("wait", "prioritized", "paused", "delayed", "failed", "completed"),
        "Job.remove() (the removeJob script: job hash, logs, dependencies)",
        "jobs no worker holds (an active one: its worker's own end)", needs_lua=True),
)

DEFAULT_PREFIX = "bull"
CLUSTER_PREFIX = "{bull}"  # BullMQ's advice for Redis Cluster: one hash slot per queue

#: Names `keeps` may answer True for start (or end) with one of these (a fast pre-check).
KEEP_PREFIXES: tuple[str, ...] = (PREFIX, CLUSTER_PREFIX + ":")
KEEP_SUFFIXES: tuple[str, ...] = (":meta",)


def keeps(name: str, type_: str) -> bool:
    """`P:Q:meta` hashes (a custom prefix is confirmed by its events stream)."""
    return type_ == "hash" and name.endswith(":meta")


def prefix_of(queue: LibraryQueue) -> str:
    """The prefix option a queue was made with (`bull`, `{bull}`, ...)."""
    return queue.pending.key[:-len(f":{queue.name}:wait")]


def queue(name: str, prefix: str = DEFAULT_PREFIX) -> LibraryQueue:
    base = f"{prefix}:{name}:"
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
        # Job schedulers (repeatable jobs), each scored by its next run: the scheduler's
        # own entry, not a job (its next job is in `delayed`); not a role in the totals.
        state_key(State.DONE, base + "repeat", "zset", "schedulers", "low", Unit.MS,
                  Means.AT, body=Body("key", base + "repeat:{id}", "hash", "raw")),
    )
    return LibraryQueue(LIBRARY, name, states, needs_lua=True, actions=ACTIONS,
                        own_command="BullMQ's own API (Job, Queue)",
                        paused_flag=(base + "meta", "paused"),
                        stalled=(base + "active", base + "{id}:lock"))


def recognise(types: dict[str, str], members: dict[str, list[str]],
              options: object = None) -> Recognised:
    configured = tuple(getattr(options, "bullmq_prefixes", ()) or ())
    found: dict[str, set[str]] = {}
    for k, t in types.items():
        if t != "hash" or not k.endswith(":meta"):
            continue
        # BullMQ refuses ':' in queue names: P:Q:meta, P may hold ':'.
        parts = k.rsplit(":", 2)
        if len(parts) != 3 or not parts[0] or not parts[1]:
            continue
        prefix, name = parts[0], parts[1]
        if prefix in (DEFAULT_PREFIX, CLUSTER_PREFIX) or prefix in configured \
                or types.get(f"{prefix}:{name}:events") == "stream":
            found.setdefault(prefix, set()).add(name)
    if not found:
        return Recognised()
    queues = [queue(n, p) for p in sorted(found) for n in sorted(found[p])]
    claimed = set()
    for k in types:
        for p, names in found.items():
            if k.startswith(p) and k[len(p):len(p) + 1] == ":" \
                    and k[len(p) + 1:].partition(":")[0] in names:
                claimed.add(k)
                break
    return Recognised(tuple(queues), frozenset(claimed))
