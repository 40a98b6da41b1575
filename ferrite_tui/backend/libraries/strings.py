"""A "strings" state as pages: arq's results and saq's job strings hold one job each, with
no list or set that indexes them, so the state's jobs are those of the queue's
`string_keys` (the first `len(string_keys)` of `string_total` the last scan found) whose
value the library reads as in the state (`STRING_MATCHERS`). Each page reads them all
again (bounded: one MGET per `MGET_CHUNK`, in one round trip), newest first."""

from __future__ import annotations

from collections.abc import Callable

from ferrite_tui.backend import boundedjson
from ferrite_tui.backend.client import Client
from ferrite_tui.backend.libraries import STRING_MATCHERS, arq
from ferrite_tui.backend.libraries.items import FIELD_LIMIT, fields_of, last_line
from ferrite_tui.backend.libraries.model import LibraryQueue, StateKey, time_ms
from ferrite_tui.escaping import printable

MGET_CHUNK = 250

Fields = list[tuple[str, str]]


def saq_job_fields(raw: bytes, unpickle: bool = False) -> Fields:
    """A saq job string's fields (function, kwargs, attempts, times): saq keeps the whole
    traceback as `error`, so its last line is the error and the rest the traceback."""
    fields = fields_of("json", raw)
    try:
        doc = boundedjson.loads(raw)
    except ValueError:
        return fields
    error = doc.get("error") if isinstance(doc, dict) else None
    if not isinstance(error, str) or not error:
        return fields
    return [f for f in fields if f[0] != "error"] + [
        ("error", printable(last_line(error), 300)),
        ("traceback", printable(error[-FIELD_LIMIT:], FIELD_LIMIT))]


#: A "strings" state's fields of one value, for the panels (by body encoding).
STRING_FIELDS: dict[str, Callable[[bytes, bool], Fields]] = {
    "saq-job": saq_job_fields, "arq-result": arq.result_item_fields}


async def matching_strings(client: Client, queue: LibraryQueue, state: StateKey
                           ) -> list[tuple[str, bytes]]:
    """(key, value) of every string of `queue` in `state`, as read now."""
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
                       count: int, unpickle: bool = False
                       ) -> tuple[int, int, list[tuple[str, bytes, Fields]]]:
    """(first, length, [(key, value, fields)]) of a window of `state`'s jobs, newest (by
    the state's time field) first; a negative start counts from the oldest end."""
    fields_of_value = STRING_FIELDS[state.body.encoding]
    rows = []
    for key, value in await matching_strings(client, queue, state):
        fields = fields_of_value(value, unpickle)
        at = time_ms(dict(fields).get(state.body.time_field), state.body.time_format)
        rows.append((-(at or 0), key, value, fields))
    rows.sort(key=lambda r: (r[0], r[1]))
    length = len(rows)
    first = max(length + start, 0) if start < 0 else min(start, max(length - count, 0))
    return first, length, [(key, value, fields)
                           for _, key, value, fields in rows[first:first + count]]


def capped_note(queue: LibraryQueue) -> str:
    """'first 1,000 of 1,250 job strings read' when the scan found more than are read."""
    read = len(queue.string_keys)
    if queue.string_total <= read:
        return ""
    return f"first {read:,} of {queue.string_total:,} job strings read"


def capped_states(queue: LibraryQueue) -> set[tuple[str, str]]:
    """(key, state name) of the states whose count covers only the strings read: their
    figures are lower bounds ("≥"), never shown as exact."""
    if not capped_note(queue):
        return set()
    return {(s.key, s.name) for s in queue.states if s.type == "strings"}
