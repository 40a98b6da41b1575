"""arq: a queue is one zset of job ids scored by due time (ms), named `arq:queue` by
default; bodies `arq:job:ID`, markers `arq:in-progress:ID` / `arq:retry:ID` and results
`arq:result:ID` are pickles in strings. Due members are pending, later ones scheduled; a
due job a worker runs keeps its member and has a marker (counted as in progress).

A queue named otherwise (`queue_name=`) is any sorted set whose next job has its
`arq:job:ID` body (discovery reads each unclaimed sorted set's top member anyway), or one
named in `[libraries] arq_queue_names`. A result whose success flag is false is a failed
job of the queue it names (`q`); while results exist, `arq:queue` and the named queues are
shown even when arq has deleted their empty sorted set."""

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
from ferrite_tui.escaping import printable

LIBRARY = "arq"
PREFIX = "arq:"
QUEUE_PREFIX = "arq:queue"
JOB_PREFIX = "arq:job:"
IN_PROGRESS = "arq:in-progress:"  # a worker runs the job (string marker, with a TTL)
RETRY = "arq:retry:"
ABORT = "arq:abort"  # ids Job.abort asked to cancel (a zset; the worker removes them)
JOB = Body("key", JOB_PREFIX + "{id}", "string", "pickle")

RESULT_PREFIX = "arq:result:"
#: A result string, listed with its time of failure (`ft`, ms).
RESULT = Body("key", RESULT_PREFIX + "{id}", "string", "arq-result", "finished", "ms")
#: At most this many result strings are read per poll for their success flag.
MAX_RESULTS = 1000

#: Names `keeps` may answer True for start with one of these (a fast pre-check).
KEEP_PREFIXES: tuple[str, ...] = (JOB_PREFIX, RESULT_PREFIX)


def keeps(name: str, type_: str) -> bool:
    """Job bodies (evidence of a queue named otherwise) and results (failures)."""
    return type_ == "string" and name.startswith(KEEP_PREFIXES)


class _Inert:
    """What any class a result pickle names becomes (the exception of a failed job): an
    object of ours that keeps the plain arguments it is given and its class's name, so
    nothing of the pickle's choosing runs and the error can still be shown."""

    inert_name = "?"

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.args = args

    def __setstate__(self, state: object) -> None:
        pass


class _ResultUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in SAFE_CLASSES:
            return super().find_class(module, name)
        # A class of ours named after it (a name only: nothing is imported or run).
        return type("Inert", (_Inert,), {"inert_name": f"{module}.{name}"})


def result_fields(raw: bytes) -> dict | None:
    """arq's result dict ({"s": success, "q": queue name, ...}), any class in it inert."""
    if len(raw) > MAX_UNPICKLE:
        return None
    try:
        value = _ResultUnpickler(io.BytesIO(raw)).load()
    except Exception:  # corrupt or not a pickle: not counted
        return None
    return value if isinstance(value, dict) else None


def error_text(result: object) -> str:
    """A failed job's result as one line: the exception's class and first argument
    ("builtins.ValueError: boom"), or the text arq stored in its place."""
    if isinstance(result, _Inert):
        name = result.inert_name.removeprefix("builtins.")
        first = result.args[0] if result.args else ""
        return f"{name}: {first}" if first != "" else name
    return str(result)


def result_item_fields(raw: bytes, unpickle: bool = False) -> list[tuple[str, str]]:
    """The fields of one arq result for the panels: function, arguments, attempts, error
    and times (ms), from the result dict read with every class inert."""
    fields = result_fields(raw)
    if fields is None:
        return [("body", f"not an arq result ({len(raw):,} bytes)")]

    def text(v: object, limit: int = 300) -> str:
        return printable(v if isinstance(v, str) else repr(v), limit)

    out = [("function", text(fields.get("f"))), ("args", text(fields.get("a"))),
           ("kwargs", text(fields.get("k"))), ("attempts", text(fields.get("t"))),
           ("queue", text(fields.get("q")))]
    if fields.get("s") is False:
        out.append(("error", printable(error_text(fields.get("r")), 1000)))
    for label, name in (("enqueued", "et"), ("started", "st"), ("finished", "ft")):
        if isinstance(fields.get(name), int):
            out.append((label, str(fields[name])))
    return out


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
REFUSALS = (("requeue", "arq retries jobs itself (Retry / max_tries) and has no call that runs a "
             "finished job again; enqueue it anew with ArqRedis.enqueue_job"),
            ("delete", "arq deletes a result only when keep_result expires it (1 h by default); "
             "only jobs not started are deleted here, as arq's abort leaves them"))
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
                  body=RESULT),
    ), string_keys=results[:MAX_RESULTS], string_total=len(results), actions=ACTIONS,
        refusals=REFUSALS, own_command=OWN_COMMAND)


def recognise(types: dict[str, str], members: dict[str, list[str]],
              options: object = None) -> Recognised:
    named = set(getattr(options, "arq_queue_names", ()) or ())
    keys = [k for k, t in types.items() if t == "zset" and (
        k.startswith(QUEUE_PREFIX) or k in named)]
    claimed = frozenset(k for k in types if k.startswith(PREFIX) or k in keys)
    results = tuple(sorted(k for k in claimed if k.startswith(RESULT_PREFIX)))
    if results:
        # arq deletes a queue's sorted set once it is empty: its failures stay only in the
        # results, so the default and the configured queues are kept while results exist.
        keys = sorted({*keys, QUEUE_PREFIX, *named})
    if not keys:  # queues named otherwise may still be found by their jobs (by_top_member)
        return Recognised((), claimed)
    return Recognised(tuple(queue(k, results) for k in sorted(keys)), claimed)


def by_top_member(key: str, top: str, types: dict[str, str]) -> LibraryQueue | None:
    """The sorted set `key` as an arq queue named otherwise, if its next job `top` has its
    arq job body (a string `arq:job:top` found by the scan)."""
    if types.get(JOB_PREFIX + top) != "string":
        return None
    return queue(key, tuple(sorted(k for k, t in types.items()
                                   if t == "string" and k.startswith(RESULT_PREFIX))))
