"""taskiq-redis: the default queue is the key `taskiq`, a stream read by the group
`taskiq` (RedisStreamBroker; acked entries stay in the stream, so its length overstates
the backlog: the group's lag and pending are the figures) or a list (ListQueueBroker,
LPUSH, tail next). Only the default name is recognised; other names stay generic."""

from __future__ import annotations

from ferrite_tui.backend.libraries.model import (
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


def recognise(types: dict[str, str], members: dict[str, list[str]]) -> Recognised:
    type_ = types.get(KEY)
    if type_ == "list":
        state = state_key(State.PENDING, KEY, "list", "queued", "tail")
    elif type_ == "stream":
        state = state_key(State.PENDING, KEY, "stream", "stream")
    else:
        return Recognised()
    return Recognised((LibraryQueue(LIBRARY, KEY, (state,)),), frozenset({KEY}))
