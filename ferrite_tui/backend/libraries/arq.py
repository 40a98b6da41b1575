"""arq: a queue is one zset of job ids scored by due time (ms), named `arq:queue` by
default; bodies `arq:job:ID`, markers `arq:in-progress:ID` / `arq:retry:ID` and results
`arq:result:ID` are pickles in strings. Due members are pending, later ones scheduled; a
due job a worker runs keeps its member and has a marker (counted as in progress).

A queue named otherwise (`queue_name=`) is any sorted set whose next job has its
`arq:job:ID` body (discovery reads each unclaimed sorted set's top member anyway), or one
named in `[libraries] arq_queue_names`. A result whose success flag is false is a failed
job of the queue it names (`q`)."""

from __future__ import annotations

import io
import pickle
from typing import Any

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
from ferrite_tui.backend.libraries.unpickling import MAX_UNPICKLE, SAFE_CLASSES

LIBRARY = "arq"
PREFIX = "arq:"
QUEUE_PREFIX = "arq:queue"
JOB_PREFIX = "arq:job:"
IN_PROGRESS = "arq:in-progress:"  # a worker runs the job (string marker, with a TTL)
RETRY = "arq:retry:"
ABORT = "arq:abort"  # ids Job.abort asked to cancel (a zset; the worker removes them)
JOB = Body("key", JOB_PREFIX + "{id}", "string", "pickle")

RESULT_PREFIX = "arq:result:"
#: At most this many result strings are read per poll for their success flag.
MAX_RESULTS = 1000

#: Names `keeps` may answer True for start with one of these (a fast pre-check).
KEEP_PREFIXES: tuple[str, ...] = (JOB_PREFIX, RESULT_PREFIX)


def keeps(name: str, type_: str) -> bool:
    """Job bodies (evidence of a queue named otherwise) and results (failures)."""
    return type_ == "string" and name.startswith(KEEP_PREFIXES)


class _Inert:
    """What any class a result pickle names becomes (the exception of a failed job): an
    object of ours that ignores its arguments, so nothing of the pickle's choosing runs."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def __setstate__(self, state: object) -> None:
        pass


class _ResultUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in SAFE_CLASSES:
            return super().find_class(module, name)
        return _Inert


def result_fields(raw: bytes) -> dict | None:
    """arq's result dict ({"s": success, "q": queue name, ...}), any class in it inert."""
    if len(raw) > MAX_UNPICKLE:
        return None
    try:
        value = _ResultUnpickler(io.BytesIO(raw)).load()
    except Exception:  # corrupt or not a pickle: not counted
        return None
    return value if isinstance(value, dict) else None


def failed_result(queue: LibraryQueue, raw: bytes) -> bool:
    """A result of `queue`'s job whose success flag is false (arq's `JobResult.success`)."""
    fields = result_fields(raw)
    return fields is not None and fields.get("s") is False \
        and fields.get("q", QUEUE_PREFIX) == queue.name


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


def queue(key: str, results: tuple[str, ...] = ()) -> LibraryQueue:
    return LibraryQueue(LIBRARY, key, (
        state_key(State.PENDING, key, "zset", "due", "low", Unit.MS, Means.DUE, "due", JOB),
        state_key(State.SCHEDULED, key, "zset", "deferred", "low", Unit.MS, Means.DUE,
                 "future", JOB),
        # The due members that have a marker: counted in the poll (libraries/poll.py).
        state_key(State.ACTIVE, IN_PROGRESS + "{id}", "markers", "in progress", body=JOB),
        # Results kept (keep_result, 1 h by default) whose success flag is false.
        state_key(State.FAILED, RESULT_PREFIX + "*", "strings", "failed",
                  body=Body("key", RESULT_PREFIX + "{id}", "string", "arq-result")),
    ), string_keys=results[:MAX_RESULTS], actions=ACTIONS, refusals=REFUSALS,
        own_command=OWN_COMMAND)


def recognise(types: dict[str, str], members: dict[str, list[str]],
              options: object = None) -> Recognised:
    named = set(getattr(options, "arq_queue_names", ()) or ())
    keys = [k for k, t in types.items() if t == "zset" and (
        k.startswith(QUEUE_PREFIX) or k in named)]
    claimed = frozenset(k for k in types if k.startswith(PREFIX) or k in keys)
    if not keys:  # queues named otherwise may still be found by their jobs (by_top_member)
        return Recognised((), claimed)
    results = tuple(sorted(k for k in claimed if k.startswith(RESULT_PREFIX)))
    return Recognised(tuple(queue(k, results) for k in sorted(keys)), claimed)


def by_top_member(key: str, top: str, types: dict[str, str]) -> LibraryQueue | None:
    """The sorted set `key` as an arq queue named otherwise, if its next job `top` has its
    arq job body (a string `arq:job:top` found by the scan)."""
    if types.get(JOB_PREFIX + top) != "string":
        return None
    return queue(key, tuple(sorted(k for k, t in types.items()
                                   if t == "string" and k.startswith(RESULT_PREFIX))))
