"""A "strings" state as pages: arq's results and saq's job strings hold one job each, with
no list or set that indexes them, so the state's jobs are those of the queue's
`string_keys` (the first `len(string_keys)` of `string_total` the last scan found) whose
value the library reads as in the state (`STRING_MATCHERS`). Each page reads them all
again (bounded: one MGET per `MGET_CHUNK`, in one round trip), newest first."""

from __future__ import annotations

from ferrite_tui.backend.client import Client
from ferrite_tui.backend.libraries.model import LibraryQueue, StateKey
from ferrite_tui.backend.libraries.poll import time_ms
from ferrite_tui.backend.lists import Page
from ferrite_tui.backend.movebase import Item

MGET_CHUNK = 250


async def matching_strings(client: Client, queue: LibraryQueue, state: StateKey
                           ) -> list[tuple[str, bytes]]:
    """(key, value) of every string of `queue` in `state`, as read now."""
    from ferrite_tui.backend.libraries import STRING_MATCHERS  # the library modules

    keys = list(queue.string_keys)
    chunks = [keys[i:i + MGET_CHUNK] for i in range(0, len(keys), MGET_CHUNK)]
    replies = await client.raw_pipeline([("MGET", *c) for c in chunks]) if chunks else []
    matches = STRING_MATCHERS[state.body.encoding]
    found: list[tuple[str, bytes]] = []
    for chunk, reply in zip(chunks, replies, strict=True):
        if isinstance(reply, Exception):
            raise reply
        found += [(k, v) for k, v in zip(chunk, reply, strict=True)
                  if isinstance(v, bytes) and matches(queue, v)]
    return found


async def read_strings(client: Client, queue: LibraryQueue, state: StateKey, start: int,
                       count: int, unpickle: bool = False) -> Page:
    """A window of `state`'s jobs, newest (by the state's time field) first, each with its
    library fields; a negative start counts from the oldest end."""
    from ferrite_tui.backend.libraries import STRING_FIELDS
    from ferrite_tui.backend.libraries.browse import StateItem  # browse imports this

    fields_of = STRING_FIELDS[state.body.encoding]
    rows = []
    for key, value in await matching_strings(client, queue, state):
        fields = tuple(fields_of(value, unpickle))
        at = time_ms(dict(fields).get(state.body.time_field), state.body.time_format)
        rows.append((-(at or 0), key, value, fields))
    rows.sort(key=lambda r: (r[0], r[1]))
    length = len(rows)
    first = max(length + start, 0) if start < 0 else min(start, max(length - count, 0))
    items: tuple[Item, ...] = tuple(
        StateItem(key.encode("utf-8", "surrogateescape"), first + i, length, None, value,
                  fields)
        for i, (_, key, value, fields) in enumerate(rows[first:first + count]))
    return Page(state.key, first, length, items)


def capped_note(queue: LibraryQueue) -> str:
    """'first 1,000 of 1,250 job strings read' when the scan found more than are read."""
    read = len(queue.string_keys)
    if queue.string_total <= read:
        return ""
    return f"first {read:,} of {queue.string_total:,} job strings read"
