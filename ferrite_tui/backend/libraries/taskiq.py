"""taskiq-redis: the default queue is the key `taskiq`, a stream read by the group
`taskiq` (RedisStreamBroker; acked entries stay in the stream, so its length overstates
the backlog: the group's lag and pending are the figures) or a list (ListQueueBroker,
LPUSH, tail next). Only the default name is recognised; other names stay generic."""

from __future__ import annotations

from ferrite_tui.backend.libraries.model import (
    Act,
    LibraryQueue,
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


def recognise(types: dict[str, str], members: dict[str, list[str]]) -> Recognised:
    type_ = types.get(KEY)
    if type_ == "list":
        state = state_key(State.PENDING, KEY, "list", "queued", "tail")
    elif type_ == "stream":
        state = state_key(State.PENDING, KEY, "stream", "stream")
    else:
        return Recognised()
    queue = LibraryQueue(LIBRARY, KEY, (state,), actions=ACTIONS if type_ == "stream" else (),
                         own_command=OWN_COMMAND)
    return Recognised((queue,), frozenset({KEY}))
