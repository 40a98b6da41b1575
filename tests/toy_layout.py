"""A toy queue library, "toyq", for the registry test: the whole of a new library layout
is this one module plus one registry line (see docs/architecture.md's recipe).

Its "API" (`enqueue`, `fail`) is how the toy library writes its keys: `toyq:NAME:waiting`
(a list of JSON jobs, pushed at the tail, taken from the head) and `toyq:NAME:failed` (a
sorted set of the failed jobs scored by when they failed, in ms). It declares one action,
"Drop" (panel 2's `d` on a library's items): the panels offer it and nothing else.

`WORK_DELETE_ONLY` is a guide kind's layout narrowed the same way (a work list whose
layout declares only its delete), registered again in place of the guide's.
"""

import json
from dataclasses import replace

from ferrite_tui.backend.kinds import work
from ferrite_tui.backend.kinds.listends import DELETE
from ferrite_tui.backend.libraries.model import (
    Act,
    LibraryQueue,
    Means,
    Recognised,
    State,
    Unit,
    state_key,
)

LIBRARY = "toyq"
PREFIX = "toyq:"
KEEP_PREFIXES: tuple[str, ...] = ()  # no signature sets or hashes to keep
ACTIONS = (Act("delete", ("waiting", "failed"), "LREM / ZREM of the exact job",
              label="Drop"),)
WORK_DELETE_ONLY = replace(work.LAYOUT, actions=(DELETE,))


def keeps(name: str, type_: str) -> bool:
    return False


def queue(name: str) -> LibraryQueue:
    return LibraryQueue(LIBRARY, name, (
        state_key(State.PENDING, f"toyq:{name}:waiting", "list", "waiting", "head"),
        state_key(State.FAILED, f"toyq:{name}:failed", "zset", "failed", "low", Unit.MS,
                  Means.AT),
    ), actions=ACTIONS, own_command="toyq's own API")


def recognise(types: dict[str, str], members: dict[str, list[str]]) -> Recognised:
    names = {key.split(":")[1] for key in types
             if key.startswith(PREFIX) and key.count(":") == 2}
    if not names:
        return Recognised()
    claimed = frozenset(k for k in types if k.startswith(PREFIX))
    return Recognised(tuple(queue(n) for n in sorted(names)), claimed)


# -- the toy library's own API ----------------------------------------------------------------

def enqueue(r, name: str, job_id: str, enqueued_ms: int) -> None:
    r.rpush(f"toyq:{name}:waiting", json.dumps(
        {"id": job_id, "function": "toy.add", "args": [1, 2], "enqueued_at": enqueued_ms}))


def fail(r, name: str, job_id: str, failed_ms: int) -> None:
    r.zadd(f"toyq:{name}:failed", {json.dumps(
        {"id": job_id, "function": "toy.add", "error": "boom"}): failed_ms})
