"""arq: a queue is one zset of job ids scored by due time (ms), named `arq:queue` by
default; bodies `arq:job:ID`, markers `arq:in-progress:ID` / `arq:retry:ID` and results
`arq:result:ID` are pickles in strings. Due members are pending, later ones scheduled; a
due job a worker runs keeps its member and has a marker (counted as in progress)."""

from __future__ import annotations

from ferrite_tui.backend.libraries.model import (
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
JOB = Body("key", JOB_PREFIX + "{id}", "string", "pickle")

#: Names `keeps` may answer True for start with one of these (a fast pre-check).
KEEP_PREFIXES: tuple[str, ...] = ()


def keeps(name: str, type_: str) -> bool:
    return False


def queue(key: str) -> LibraryQueue:
    return LibraryQueue(LIBRARY, key, (
        state_key(State.PENDING, key, "zset", "due", "low", Unit.MS, Means.DUE, "due", JOB),
        state_key(State.SCHEDULED, key, "zset", "deferred", "low", Unit.MS, Means.DUE,
                 "future", JOB),
        # The due members that have a marker: counted in the poll (libraries/poll.py).
        state_key(State.ACTIVE, IN_PROGRESS + "{id}", "markers", "in progress", body=JOB),
    ))


def recognise(types: dict[str, str], members: dict[str, list[str]]) -> Recognised:
    keys = [k for k, t in types.items() if t == "zset" and k.startswith(QUEUE_PREFIX)]
    if not keys:
        return Recognised()
    claimed = frozenset(k for k in types if k.startswith(PREFIX))
    return Recognised(tuple(queue(k) for k in sorted(keys)), claimed)
