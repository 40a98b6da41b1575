"""huey (RedisHuey): `huey.redis.N` is the queue (list, LPUSH, tail next; pickled messages;
a zset with PriorityRedisHuey), `huey.schedule.N` a zset of pickled messages scored by due
time (unix seconds, float), `huey.results.N` a hash of results. huey's consumer moves due
tasks with plain commands, but its scheduler's lock and the console's moves would race:
the console does not move huey's messages; it deletes them by their exact value."""

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

LIBRARY = "huey"
PREFIX = "huey."
PICKLE = Body("inline", encoding="pickle")

#: Names `keeps` may answer True for start with one of these (a fast pre-check).
KEEP_PREFIXES: tuple[str, ...] = ("huey.results.",)


def keeps(name: str, type_: str) -> bool:
    return type_ == "hash" and name.startswith("huey.results.")


#: huey's messages are removed by their exact value: its consumer then never dequeues them.
#: With PriorityRedisHuey the score is minus the priority and ZPOPMIN takes the lowest score
#: (priority 9 first): a priority is set as huey's enqueue(priority=p) stores it.
ACTIONS = (
    Act("delete", ("queued", "queued (priority)", "schedule", "results"),
        "ZREM / LREM / HDEL of the exact message: huey's consumer never dequeues it "
        "(as after revoke_by_id and its dequeue)"),
    Act("set_priority", ("queued (priority)",), "score = -priority, as "
        "RedisPriorityQueue.enqueue(priority=p) stores it", "a PriorityRedisHuey queue"),
)
OWN_COMMAND = "huey's own API (huey.revoke_by_id, task.schedule)"


def queue(name: str, priority: bool) -> LibraryQueue:
    # ZPOPMIN: the lowest score (the highest priority) is next.
    pending = (state_key(State.PENDING, f"huey.redis.{name}", "zset", "queued (priority)",
                        "low", Unit.PRIORITY, Means.PRIORITY, body=PICKLE) if priority
               else state_key(State.PENDING, f"huey.redis.{name}", "list", "queued", "tail",
                             body=PICKLE))
    return LibraryQueue(LIBRARY, name, (
        pending,
        state_key(State.SCHEDULED, f"huey.schedule.{name}", "zset", "schedule", "low", Unit.S,
                 Means.DUE, body=PICKLE),
        state_key(State.DONE, f"huey.results.{name}", "hash", "results", body=PICKLE),
    ), actions=ACTIONS, own_command=OWN_COMMAND, priority_sign=-1 if priority else 1)


def recognise(types: dict[str, str], members: dict[str, list[str]]) -> Recognised:
    names: dict[str, bool] = {}
    for key, type_ in types.items():
        if not key.startswith(PREFIX):
            continue
        for part in ("redis.", "schedule.", "results."):
            if key.startswith(PREFIX + part):
                name = key[len(PREFIX + part):]
                if name:
                    names.setdefault(name, False)
                    if part == "redis." and type_ == "zset":
                        names[name] = True
    if not names:
        return Recognised()
    claimed = frozenset(k for k in types if k.startswith(PREFIX))
    return Recognised(tuple(queue(n, p) for n, p in sorted(names.items())), claimed)
