"""huey (RedisHuey): `huey.redis.N` is the queue (list, LPUSH, tail next; pickled messages;
a zset with PriorityRedisHuey), `huey.schedule.N` a zset of pickled messages scored by due
time: `time.mktime` of a naive datetime, which huey keeps in UTC (`utc=True`, its default:
the score is off by the host's UTC offset, `Unit.NAIVE_UTC_S`) or in local time
(`utc=False`: plain unix seconds); `huey.results.N` a hash of pickled results, a failure
stored as `huey.utils.Error` (failed) and the rest done. huey's consumer moves due
tasks with plain commands, but its scheduler's lock and the console's moves would race:
the console does not move huey's messages; it deletes them by their exact value."""

from __future__ import annotations

import pickletools
import zlib

from ferrite_tui.backend.libraries.model import (
    SELECTORS,
    Act,
    Body,
    LibraryQueue,
    Means,
    Recognised,
    Selector,
    State,
    StateKey,
    Unit,
    state_key,
)

LIBRARY = "huey"
PREFIX = "huey."
PICKLE = Body("inline", encoding="pickle")
ERROR = "huey.utils.Error"  # what huey stores as the result of a task that raised


def pickle_class(raw: bytes) -> str | None:
    """'module.Name' of the class a pickle builds at its top (huey's `huey.utils.Error`
    result), read from its first opcodes (nothing runs); None for a plain value."""
    strings: list[str] = []
    try:
        for op, arg, _pos in pickletools.genops(raw):
            name = op.name
            if name in ("PROTO", "FRAME", "MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"):
                continue
            if name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE") and len(strings) < 2:
                strings.append(str(arg))
                continue
            if name == "STACK_GLOBAL" and len(strings) == 2:
                return ".".join(strings)
            if name == "GLOBAL" and not strings and isinstance(arg, str):
                return arg.replace(" ", ".")
            return None
    except Exception:  # a truncated or corrupt pickle: not a class we know
        return None
    return None


def _is_error(value: bytes) -> bool:
    if value[:1] == b"x":  # huey(compression=True): zlib
        try:
            value = zlib.decompressobj().decompress(value, 4096)
        except zlib.error:
            pass
    return pickle_class(value) == ERROR


SELECTORS["huey-error"] = Selector(lambda v, _q: (None,) if _is_error(v) else None)
SELECTORS["huey-done"] = Selector(lambda v, _q: None if _is_error(v) else (None,))

#: Names `keeps` may answer True for start with one of these (a fast pre-check).
KEEP_PREFIXES: tuple[str, ...] = ("huey.results.",)


def keeps(name: str, type_: str) -> bool:
    return type_ == "hash" and name.startswith("huey.results.")


#: huey's messages are removed by their exact value: its consumer then never dequeues them.
#: With PriorityRedisHuey the score is minus the priority and ZPOPMIN takes the lowest score
#: (priority 9 first): a priority is set as huey's enqueue(priority=p) stores it.
ACTIONS = (
    Act("delete", ("queued", "queued (priority)", "schedule", "results", "errors"),
        "ZREM / LREM / HDEL of the exact message: huey's consumer never dequeues it "
        "(as after revoke_by_id and its dequeue)"),
    Act("set_priority", ("queued (priority)",), "score = -priority, as "
        "RedisPriorityQueue.enqueue(priority=p) stores it", "a PriorityRedisHuey queue"),
)
OWN_COMMAND = "huey's own API (huey.revoke_by_id, task.schedule)"


def local_time(state: StateKey) -> StateKey:
    """`state` as huey(utc=False) scores it: mktime of a local time, plain unix seconds."""
    return state._replace(unit=Unit.S) if state.unit is Unit.NAIVE_UTC_S else state


def queue(name: str, priority: bool, utc: bool = True) -> LibraryQueue:
    # ZPOPMIN: the lowest score (the highest priority) is next.
    pending = (state_key(State.PENDING, f"huey.redis.{name}", "zset", "queued (priority)",
                        "low", Unit.PRIORITY, Means.PRIORITY, body=PICKLE) if priority
               else state_key(State.PENDING, f"huey.redis.{name}", "list", "queued", "tail",
                             body=PICKLE))
    return LibraryQueue(LIBRARY, name, (
        pending,
        state_key(State.SCHEDULED, f"huey.schedule.{name}", "zset", "schedule", "low",
                 Unit.NAIVE_UTC_S if utc else Unit.S, Means.DUE, body=PICKLE),
        state_key(State.DONE, f"huey.results.{name}", "hash", "results", body=PICKLE,
                 select="huey-done"),
        state_key(State.FAILED, f"huey.results.{name}", "hash", "errors", body=PICKLE,
                 select="huey-error"),
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
