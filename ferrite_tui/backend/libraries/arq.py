"""arq: a queue is one zset of job ids scored by due time (ms), named `arq:queue` by
default; bodies `arq:job:ID`, markers `arq:in-progress:ID` / `arq:retry:ID` and results
`arq:result:ID` are pickles in strings. Due members are pending, later ones scheduled; a
due job a worker runs keeps its member and has a marker (counted as in progress)."""

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

LIBRARY = "arq"
PREFIX = "arq:"
QUEUE_PREFIX = "arq:queue"
JOB_PREFIX = "arq:job:"
IN_PROGRESS = "arq:in-progress:"  # a worker runs the job (string marker, with a TTL)
RETRY = "arq:retry:"
ABORT = "arq:abort"  # ids Job.abort asked to cancel (a zset; the worker removes them)
JOB = Body("key", JOB_PREFIX + "{id}", "string", "pickle")

#: Names `keeps` may answer True for start with one of these (a fast pre-check).
KEEP_PREFIXES: tuple[str, ...] = ()


def keeps(name: str, type_: str) -> bool:
    return False


#: arq's own operations: a due job is one whose score is at or before now (the worker polls
#: ZRANGEBYSCORE -inf now); a job is gone when its member and body are (Job.status()
#: not_found), as the worker leaves an aborted or finished one.
ACTIONS = (
    Act("run_now", ("due", "deferred"), "score = now (ms) in the queue's zset: a due job, "
        "as enqueue_job(_defer_until=now) makes it", "jobs not started"),
    Act("delete", ("due", "deferred"), "what arq's worker does to an aborted job: ZREM the "
        "queue and arq:abort, DEL arq:job:ID and arq:retry:ID", "jobs not started"),
)
REFUSALS = (("requeue", "arq retries jobs itself (Retry / max_tries); nothing to requeue"),)
OWN_COMMAND = "arq's own API (ArqRedis.enqueue_job, Job.abort)"


def queue(key: str) -> LibraryQueue:
    return LibraryQueue(LIBRARY, key, (
        state_key(State.PENDING, key, "zset", "due", "low", Unit.MS, Means.DUE, "due", JOB),
        state_key(State.SCHEDULED, key, "zset", "deferred", "low", Unit.MS, Means.DUE,
                 "future", JOB),
        # The due members that have a marker: counted in the poll (libraries/poll.py).
        state_key(State.ACTIVE, IN_PROGRESS + "{id}", "markers", "in progress", body=JOB),
    ), actions=ACTIONS, refusals=REFUSALS, own_command=OWN_COMMAND)


def recognise(types: dict[str, str], members: dict[str, list[str]]) -> Recognised:
    keys = [k for k, t in types.items() if t == "zset" and k.startswith(QUEUE_PREFIX)]
    if not keys:
        return Recognised()
    claimed = frozenset(k for k in types if k.startswith(PREFIX))
    return Recognised(tuple(queue(k) for k in sorted(keys)), claimed)
