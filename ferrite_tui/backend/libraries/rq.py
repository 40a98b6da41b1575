"""RQ: `rq:queues` (set of queue keys) is the signature; each queue is a list of job ids
(RPUSH, head next) plus one sorted set per registry; bodies are job hashes `rq:job:ID`.
Every other `rq:` key (results streams, workers, locks) is claimed as noise."""

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
# registry -> (state, what its score is, in seconds)
REGISTRIES = {
    "wip": (State.ACTIVE, Means.DEADLINE),
    "scheduled": (State.SCHEDULED, Means.DUE),
    "deferred": (State.SCHEDULED, Means.EXPIRES),
    "failed": (State.FAILED, Means.EXPIRES),
    "finished": (State.DONE, Means.EXPIRES),
    "canceled": (State.DONE, Means.EXPIRES),
}

#: Names `keeps` may answer True for start with one of these (a fast pre-check).
KEEP_PREFIXES: tuple[str, ...] = ("rq:queues",)


def keeps(name: str, type_: str) -> bool:
    return name == SIGNATURE and type_ == "set"


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


def queue(name: str) -> LibraryQueue:
    states = [state_key(State.PENDING, f"rq:queue:{name}", "list", "queued", "head", body=JOB)]
    for registry, (state, means) in REGISTRIES.items():
        states.append(state_key(state, f"rq:{registry}:{name}", "zset", registry, "low",
                               Unit.S, means, body=JOB))
    return LibraryQueue(LIBRARY, name, tuple(states), actions=ACTIONS, refusals=REFUSALS,
                        own_command=OWN_COMMAND)


def recognise(types: dict[str, str], members: dict[str, list[str]]) -> Recognised:
    if types.get(SIGNATURE) != "set":
        return Recognised()
    names = {m[len("rq:queue:"):] for m in members.get(SIGNATURE, ())
             if m.startswith("rq:queue:")}
    claimed = set()
    for key, type_ in types.items():
        if not key.startswith("rq:"):
            continue
        claimed.add(key)
        head, _, rest = key[3:].partition(":")
        expected = "list" if head == "queue" else "zset" if head in REGISTRIES else None
        if rest and type_ == expected:
            names.add(rest)
    return Recognised(tuple(queue(n) for n in sorted(names)), frozenset(claimed))
