"""RQ: `rq:queues` (set of queue keys) is the signature; each queue is a list of job ids
(RPUSH, head next) plus one sorted set per registry; bodies are job hashes `rq:job:ID`.
RQ 3's rate limits hold jobs back in `rq:rl:KEY:rate_limited` (a zset per limit key, shared
by every queue whose jobs use that key). Every other `rq:` key (results streams, workers,
locks) is claimed as noise.

`RQ_KEY_PREFIX` (RQ's environment setting) replaces `rq`: a set `P:queues` whose members
are `P:queue:NAME` reveals prefix P; `[libraries] rq_key_prefixes` names more."""

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

LIBRARY = "rq"
SIGNATURE = "rq:queues"
JOB = Body("key", "rq:job:{id}", "hash", "rq", "enqueued_at", "iso")
DEFAULT_PREFIX = "rq"
# registry -> (state, what its score is, in seconds). RQ scores a deferred job (waiting for
# the jobs it depends on) by when it was deferred, and a canceled one by when it was
# canceled (`BaseRegistry.add` with ttl 0): times, not expiries.
REGISTRIES = {
    "wip": (State.ACTIVE, Means.DEADLINE),
    "scheduled": (State.SCHEDULED, Means.DUE),
    "deferred": (State.SCHEDULED, Means.AT),
    "failed": (State.FAILED, Means.EXPIRES),
    "finished": (State.DONE, Means.EXPIRES),
    "canceled": (State.DONE, Means.AT),
    # RQ 3's ReadyJobRegistry: dependents whose dependencies are met, scored by when
    # (current_timestamp), waiting for the enqueue that follows at once (or, if that
    # process died, for RQ's maintenance to recover them).
    "ready": (State.PENDING, Means.AT),
}
#: RQ 3's intermediate list `rq:queue:NAME:intermediate`: jobs a worker has taken
#: (LMOVE) and not yet started; RQ's maintenance requeues those left behind.
INTERMEDIATE = ":intermediate"
RATE_LIMITED = "rate-limited"

#: Names `keeps` may answer True for start (or end) with one of these (a fast pre-check).
KEEP_PREFIXES: tuple[str, ...] = ("rq:queues",)
KEEP_SUFFIXES: tuple[str, ...] = (":queues",)


def keeps(name: str, type_: str) -> bool:
    """`rq:queues`, or `P:queues` for a custom RQ_KEY_PREFIX P (recognised only if its
    members are `P:queue:NAME`)."""
    return type_ == "set" and name.endswith(":queues")


#: What the console does to RQ's jobs: RQ's own operations (libraries/actions.py).
ACTIONS = (
    Act("requeue", ("failed",), "rq requeue / FailedJobRegistry.requeue(id)",
        "its failed jobs"),
    Act("run_now", ("scheduled",), "ScheduledJobRegistry: Queue.enqueue_job (RQ's scheduler "
        "moving a due job)", "RQ's scheduled jobs"),
    Act("delete", ("queued", "scheduled", "deferred", "failed", "finished", "canceled"),
        "Job.delete(remove_from_queue=True): queue, registry, job hash, dependents and "
        "dependencies sets, results (a rate-limited job: RQ's own Job.delete, which frees "
        "its slot)", "jobs no worker runs (stop a running one with RQ's "
        "own rq.command.send_stop_job_command(connection, id))"),
    Act("rq-requeue-failed", ("*",), "rq requeue --all"),
    Act("rq-run-scheduled", ("*",), "RQ's scheduler enqueueing every scheduled job"),
)
REFUSALS = (("run_now", "run now applies to RQ's scheduled jobs (s: state)"),)
OWN_COMMAND = "RQ's own API (Job.fetch(id).delete(), rq requeue)"


def custom_prefix_read_only(prefix: str) -> str:
    return (f"RQ with key prefix {prefix!r}: the console acts only on RQ's default prefix; "
            "use RQ's own API (rq requeue, Job.delete) with RQ_KEY_PREFIX set")


def queue(name: str, prefix: str = DEFAULT_PREFIX,
          rate_limited: tuple[str, ...] = ()) -> LibraryQueue:
    job = JOB if prefix == DEFAULT_PREFIX else JOB._replace(template=f"{prefix}:job:{{id}}")
    states = [state_key(State.PENDING, f"{prefix}:queue:{name}", "list", "queued", "head",
                        body=job)]
    for registry, (state, means) in REGISTRIES.items():
        states.append(state_key(state, f"{prefix}:{registry}:{name}", "zset", registry, "low",
                               Unit.S, means, body=job))
    states.append(state_key(State.ACTIVE, f"{prefix}:queue:{name}{INTERMEDIATE}", "list",
                            "intermediate", "head", body=job))
    # Jobs a rate limit holds back (status rate_limited): waiting for a free slot, in a set
    # per limit key that every queue using the key shares (its jobs name their queue only
    # in their hashes), so it is shown on each such queue and counted once.
    states += [state_key(State.PENDING, key, "zset", RATE_LIMITED, "low", Unit.S, Means.AT,
                         body=job, shared=True)
               for key in rate_limited]
    if prefix != DEFAULT_PREFIX:
        return LibraryQueue(LIBRARY, name, tuple(states), read_only=custom_prefix_read_only(
            prefix), own_command=OWN_COMMAND)
    return LibraryQueue(LIBRARY, name, tuple(states), actions=ACTIONS, refusals=REFUSALS,
                        own_command=OWN_COMMAND)


def prefixes(types: dict[str, str], members: dict[str, list[str]],
             configured: tuple[str, ...] = ()) -> list[str]:
    """RQ's key prefixes on this server: P for every set `P:queues` naming `P:queue:...`
    members (RQ_KEY_PREFIX), and the configured ones."""
    found = [DEFAULT_PREFIX] if types.get(SIGNATURE) == "set" else []
    for key, names in members.items():
        if key.endswith(":queues") and key != SIGNATURE and types.get(key) == "set":
            prefix = key[:-len(":queues")]
            if names and all(m.startswith(prefix + ":queue:") for m in names):
                found.append(prefix)
    return list(dict.fromkeys(found + list(configured)))


def recognise(types: dict[str, str], members: dict[str, list[str]],
              options: object = None) -> Recognised:
    configured = tuple(getattr(options, "rq_key_prefixes", ()) or ())
    queues: list[LibraryQueue] = []
    claimed: set[str] = set()
    for prefix in prefixes(types, members, configured):
        found, mine = _recognise_prefix(types, members, prefix)
        queues += found
        claimed |= mine
    return Recognised(tuple(queues), frozenset(claimed))


def _recognise_prefix(types: dict[str, str], members: dict[str, list[str]],
                      prefix: str) -> tuple[list[LibraryQueue], set[str]]:
    head_of = prefix + ":"
    queue_prefix = head_of + "queue:"
    names = {m[len(queue_prefix):] for m in members.get(prefix + ":queues", ())
             if m.startswith(queue_prefix)}
    claimed = set()
    rate_limited = []
    for key, type_ in types.items():
        if not key.startswith(head_of):
            continue
        claimed.add(key)
        head, _, rest = key[len(head_of):].partition(":")
        if head == "rl" and type_ == "zset" and rest.endswith(":rate_limited"):
            rate_limited.append(key)
            continue
        expected = "list" if head == "queue" else "zset" if head in REGISTRIES else None
        if head == "queue" and rest.endswith(INTERMEDIATE):
            continue  # a queue's intermediate list, one of its states
        if rest and type_ == expected:
            names.add(rest)
    held = tuple(sorted(rate_limited))
    return [queue(n, prefix, held) for n in sorted(names)], claimed
