"""taskiq-redis: the default queue is the key `taskiq`, a stream read by the group
`taskiq` (RedisStreamBroker; acked entries stay in the stream, so its length overstates
the backlog: the group's lag and pending are the figures) or a list (ListQueueBroker,
LPUSH, tail next). Only the default name is recognised; other names stay generic.

taskiq-redis's ListRedisScheduleSource (prefix "schedule" by default) keeps schedule ids
in lists, `P:time:YYYY-MM-DDTHH:MM` (one per UTC minute, sent in that minute; past ones
only when the scheduler starts), `P:cron` and `P:interval` (recurring), with each schedule
under `P:data:ID`. They are one queue of scheduled states, named by the prefix, which the
time lists reveal: never work queues."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from ferrite_tui.backend.libraries.model import (
    Act,
    Body,
    LibraryQueue,
    Means,
    Recognised,
    State,
    state_key,
)

LIBRARY = "taskiq"
KEY = "taskiq"

#: Names `keeps` may answer True for start with one of these (a fast pre-check).
KEEP_PREFIXES: tuple[str, ...] = ()


def keeps(name: str, type_: str) -> bool:
    return False


#: taskiq-redis's stream broker acks with XACK and takes back idle entries with XAUTOCLAIM:
#: the Streams panel's claim and ack are its own operations; nothing else is done there.
ACTIONS = (
    Act("claim", ("stream",), "XCLAIM / XAUTOCLAIM to a reading consumer, as the broker's "
        "own idle reclaim"),
    Act("ack", ("stream",), "XACK, as the broker acks a finished task"),
)
OWN_COMMAND = "taskiq's own API (task.kiq to send; its worker to run and ack)"


_TIME_KEY = re.compile(r"(.+):time:(\d{4}-\d\d-\d\dT\d\d:\d\d)")
SCHEDULE_COMMAND = ("taskiq's scheduler (ListRedisScheduleSource.add_schedule / "
                    "delete_schedule)")


def schedule_queue(prefix: str, times: list[tuple[str, int]], recurring: list[str],
                   ) -> LibraryQueue:
    body = Body("key", prefix + ":data:{id}", "string", "pickle")
    states = [state_key(State.SCHEDULED, key, "list", key.rsplit(":", 1)[1], "head",
                        body=body) for key in recurring]
    states += [state_key(State.SCHEDULED, key, "list", f"at {key.split(':time:', 1)[1]} UTC",
                         "head", means=Means.DUE, body=body, at_ms=at)
               for key, at in sorted(times, key=lambda kt: kt[1])]
    return LibraryQueue(LIBRARY, prefix, tuple(states), own_command=SCHEDULE_COMMAND)


def _schedules(types: dict[str, str]) -> tuple[list[LibraryQueue], set[str]]:
    times: dict[str, list[tuple[str, int]]] = {}
    for key, type_ in types.items():
        found = _TIME_KEY.fullmatch(key) if type_ == "list" else None
        if found:
            at = datetime.strptime(found[2], "%Y-%m-%dT%H:%M").replace(tzinfo=UTC)
            times.setdefault(found[1], []).append((key, int(at.timestamp() * 1000)))
    queues, claimed = [], set()
    for prefix, keys in sorted(times.items()):
        recurring = [f"{prefix}:{kind}" for kind in ("cron", "interval")
                     if types.get(f"{prefix}:{kind}") == "list"]
        queues.append(schedule_queue(prefix, keys, recurring))
        claimed.update(recurring)
        claimed.update(k for k, _ in keys)
    return queues, claimed


def recognise(types: dict[str, str], members: dict[str, list[str]]) -> Recognised:
    queues, claimed = _schedules(types)
    type_ = types.get(KEY)
    if type_ == "list":
        state = state_key(State.PENDING, KEY, "list", "queued", "tail")
    elif type_ == "stream":
        state = state_key(State.PENDING, KEY, "stream", "stream")
    else:
        return Recognised(tuple(queues), frozenset(claimed))
    queues.append(LibraryQueue(LIBRARY, KEY, (state,),
                               actions=ACTIONS if type_ == "stream" else (),
                               own_command=OWN_COMMAND))
    return Recognised(tuple(queues), frozenset(claimed | {KEY}))
