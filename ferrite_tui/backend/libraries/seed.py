"""The seed's six patterns in the same state model as the libraries (an adapter: the
panels keep polling the seed's kinds their own way; this says what each key of a seed
queue is, for code that reasons about states whatever the layout)."""

from __future__ import annotations

from ferrite_tui.backend.libraries.model import (
    LibraryQueue,
    Means,
    State,
    StateKey,
    Unit,
)
from ferrite_tui.backend.models import QueueKind, QueueRef

LIBRARY = "seed"


def model_of(ref: QueueRef) -> LibraryQueue:
    """A seed queue's states. The seed's envelopes are inline JSON; RPUSH producers, so a
    work list's head is next; reliable consumers BRPOPLPUSH from the tail."""
    if ref.library is not None:
        return ref.library
    kind, key = ref.kind, ref.key
    states: tuple[StateKey, ...]
    if kind is QueueKind.WORK:
        states = (StateKey(State.PENDING, key, "list", "queued", "head"),)
    elif kind is QueueKind.RELIABLE:
        states = (StateKey(State.PENDING, key, "list", "queued", "tail"),
                  StateKey(State.ACTIVE, ref.processing_key or key + ":processing", "list",
                           "processing", "tail"))
    elif kind is QueueKind.PRIORITY:
        states = (StateKey(State.PENDING, key, "zset", "priority", "high", Unit.PRIORITY,
                           Means.PRIORITY),)
    elif kind is QueueKind.DELAYED:
        states = (StateKey(State.SCHEDULED, key, "zset", "scheduled", "low", Unit.MS,
                           Means.DUE),)
        if ref.ready_key:
            states = (StateKey(State.PENDING, ref.ready_key, "list", "ready", "head"),
                      *states)
    elif kind is QueueKind.DLQ:
        states = (StateKey(State.FAILED, key, "list", "dead letters", "head"),)
    else:
        states = (StateKey(State.PENDING, key, "stream", "stream"),)
    return LibraryQueue(LIBRARY, ref.name, states)
