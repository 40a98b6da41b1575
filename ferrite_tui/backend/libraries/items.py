"""Library items for the panels and the inspector: windows in "next first" order, and an
item's fields from its body (task, arguments, attempts, error, traceback), decoded safely.

Pickles are never unpickled by default: `pickle_summary` walks the opcodes
(pickletools.genops, which executes nothing) and lists the names and strings it finds, with
the size. Opted in ([libraries] unpickle = true), `restricted_loads` decodes pickles made of
builtin values and containers only; any other class is refused and summarised instead.
"""

from __future__ import annotations

import base64
import binascii
import json
import pickletools
import zlib
from typing import Any

from ferrite_tui.backend import boundedjson
from ferrite_tui.backend.client import Client
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.libraries.model import LibraryQueue, StateKey
from ferrite_tui.backend.libraries.unpickling import restricted_loads
from ferrite_tui.backend.lists import Page, read_shown_page
from ferrite_tui.backend.movebase import Item

MAX_INFLATE = 1 << 20  # a compressed body is inflated up to this many bytes
FIELD_LIMIT = 4000  # characters of one field shown (tracebacks are long)


async def read_next_first(client: Client, key: str, start: int, count: int) -> Page:
    """A window of a list whose consumers take the tail (LPUSH producers), counted from
    the tail: item 0 is the next job. Items keep their index from the head (`pos`), which
    the moves use as a hint; `Page.start` is the window's index from the tail."""
    head_start = -(start + count) if start >= 0 else 0
    page = await read_shown_page(client, key, head_start, count)
    items = tuple(reversed(page.items))
    first = page.length - page.end if page.length else 0
    return Page(key, max(first, 0), page.length, items)


def next_index(item: Item) -> int | None:
    """An item's index from the tail (the next end of an LPUSH queue)."""
    if item.pos is None or item.seen_len is None:
        return None
    return item.seen_len - 1 - item.pos


def pickle_strings(raw: bytes, limit: int = 8) -> list[str]:
    """The names and strings in a pickle, in order, read from its opcodes (nothing runs)."""
    names: list[str] = []
    try:
        for op, arg, _pos in pickletools.genops(raw):
            if op.name in ("GLOBAL", "STACK_GLOBAL", "SHORT_BINUNICODE", "BINUNICODE",
                           "UNICODE", "SHORT_BINSTRING") and isinstance(arg, str):
                names.append(arg.replace("\n", " "))
            if len(names) >= limit:
                break
    except Exception:
        pass
    return names


def pickle_summary(raw: bytes, limit: int = 8) -> str:
    """'pickle, N bytes: name, name, ...' without unpickling (no code runs)."""
    shown = ", ".join(printable(n, 60) for n in pickle_strings(raw, limit))
    return f"pickle, {len(raw):,} bytes" + (f": {shown}" if shown else "")


def arq_function(raw: bytes) -> str | None:
    """arq's job pickle is a dict {"t": tries, "f": function, "a": args, ...}: the string
    after the key "f" is the function's name (read from the opcodes, nothing unpickled)."""
    strings = pickle_strings(raw, 4)
    if len(strings) >= 3 and strings[:2] == ["t", "f"]:
        return strings[2]
    return None


def pickle_fields(raw: bytes, unpickle: bool, label: str = "body") -> list[tuple[str, str]]:
    """A pickle's fields: its summary, or (opted in) its value decoded with the
    restricted unpickler; arq's job dict and RQ's (function, instance, args, kwargs) tuple
    name their function, arguments and attempts."""
    if not unpickle:
        function = arq_function(raw)
        return ([("function", printable(function, 200))] if function else []) + [
            (label, pickle_summary(raw))]
    try:
        value = restricted_loads(raw)
    except Exception as exc:  # refused class, corrupt data: the summary, with why
        return [(label, pickle_summary(raw)),
                ("decoded", f"not decoded: {printable(str(exc), 120)}")]
    def r(v: Any) -> str:
        return printable(v if isinstance(v, str) else repr(v), 300)

    out: list[tuple[str, str]] = []
    try:
        if isinstance(value, dict) and "f" in value and "a" in value:  # arq's job
            out += [("function", r(value.get("f"))), ("args", r(value.get("a"))),
                    ("kwargs", r(value.get("k"))), ("attempts", r(value.get("t")))]
        elif isinstance(value, tuple) and len(value) == 4 and isinstance(value[0], str):  # RQ
            out += [("function", r(value[0])), ("args", r(value[2])), ("kwargs", r(value[3]))]
        return [*out, (label, printable(repr(value), FIELD_LIMIT))]
    except RecursionError:  # unpickling nests without recursing; repr does not
        return [(label, pickle_summary(raw)), ("decoded", "not shown: nested too deep")]


def inflate(raw: bytes) -> bytes | None:
    try:
        d = zlib.decompressobj()
        out = d.decompress(raw, MAX_INFLATE)
        return out
    except zlib.error:
        return None


def rq_traceback(exc_string: bytes) -> str:
    """RQ's result stream stores tracebacks as base64(zlib(text))."""
    try:
        text = inflate(base64.b64decode(exc_string, validate=True))
    except (binascii.Error, ValueError):
        text = None
    if text is None:
        return printable(exc_string, FIELD_LIMIT)
    return text.decode("utf-8", "backslashreplace")[-FIELD_LIMIT:]


def _s(v: Any, limit: int = 300) -> str:
    if isinstance(v, (dict, list)):
        v = json.dumps(v, ensure_ascii=False)
    return printable(v if isinstance(v, (str, bytes)) else str(v), limit)


def _json(raw: Any) -> Any:
    if not isinstance(raw, (bytes, str)):
        return None
    try:
        return boundedjson.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def _pairs(flat: Any) -> dict[str, bytes]:
    if isinstance(flat, dict):
        return {(k.decode("utf-8", "replace") if isinstance(k, bytes) else k): v
                for k, v in flat.items()}
    if isinstance(flat, list):
        return {k.decode("utf-8", "replace"): v for k, v in zip(flat[::2], flat[1::2])}
    return {}


def fields_of(encoding: str, body: Any, extra: Any = None,
              unpickle: bool = False) -> list[tuple[str, str]]:
    """The library's own fields of one body, as (label, printable text)."""
    out: list[tuple[str, str]] = []
    if body is None:
        return [("body", "gone (the job finished, expired or was deleted)")]
    if encoding == "rq":
        h = _pairs(body)
        for name in ("description", "status", "origin", "enqueued_at", "started_at",
                     "ended_at", "worker_name", "timeout"):
            if h.get(name):
                out.append((name, _s(h[name])))
        data = h.get("data")
        if isinstance(data, bytes):
            inner = inflate(data)
            out += (pickle_fields(inner, unpickle, "data") if inner is not None
                    else [("data", f"{len(data):,} bytes")])
        entry = _pairs(extra) if extra is not None else {}
        if entry.get("exc_string"):
            out.append(("traceback", rq_traceback(entry["exc_string"])))
        return out
    if encoding in ("kombu", "kombu-unacked"):
        env = _json(body)
        if encoding == "kombu-unacked" and isinstance(env, list) and env:
            if len(env) > 2:
                out.append(("routing_key", _s(env[2])))
            env = env[0]
        if not isinstance(env, dict):
            return [("body", _s(body))]
        headers = env.get("headers") or {}
        for name in ("task", "id", "argsrepr", "kwargsrepr", "retries", "eta", "expires"):
            if headers.get(name) is not None:
                out.append((name, _s(headers[name])))
        priority = (env.get("properties") or {}).get("priority")
        if priority is not None:
            out.append(("priority", _s(priority)))
        return out
    if encoding == "bullmq":
        h = _pairs(body)
        for name in ("name", "data", "opts", "timestamp", "processedOn", "finishedOn",
                     "attemptsMade", "failedReason"):
            if h.get(name):
                out.append((name, _s(h[name])))
        trace = _json(h.get("stacktrace"))
        if isinstance(trace, list) and trace:
            out.append(("traceback", printable(str(trace[-1]), FIELD_LIMIT)))
        return out
    if encoding == "json":
        doc = _json(body)
        if not isinstance(doc, dict):
            return [("body", _s(body))]
        options = doc.get("options") or {}
        for name in ("actor_name", "function", "message_id", "key", "status", "args",
                     "kwargs", "attempts", "retries", "error", "message_timestamp",
                     "queued", "started", "completed", "scheduled"):
            if doc.get(name) is not None:
                out.append((name, _s(doc[name])))
        for name in ("retries", "eta", "traceback"):
            if options.get(name) is not None:
                out.append((f"options.{name}", _s(options[name], FIELD_LIMIT)))
        return out
    if encoding == "pickle":
        raw = body if isinstance(body, bytes) else b""
        return pickle_fields(raw, unpickle)
    return [("body", _s(body))]


def _body_commands(state: StateKey, member: bytes) -> tuple[list[tuple], str | None]:
    """The commands that read `member`'s body (and RQ's latest result), and its key."""
    body = state.body
    if body.where == "inline":
        return [], None
    job_id = member_id(state, member)
    key, field = body.locate(job_id)  # type: ignore[misc]
    if field is not None:
        commands: list[tuple] = [("HGET", key, field)]
    elif body.key_type == "hash":
        commands = [("HGETALL", key)]
    else:
        commands = [("GET", key)]
    if body.encoding == "rq":
        commands.append(("XREVRANGE", f"rq:results:{job_id}", "+", "-", "COUNT", 1))
    return commands, key


def member_id(state: StateKey, member: bytes) -> str:
    """The job id a state key's member names (RQ's wip members are `id:execution_id`)."""
    text = member.decode("utf-8", "surrogateescape")
    return text.split(":", 1)[0] if state.body.encoding == "rq" else text


def _fields_from(state: StateKey, member: bytes, key: str | None,
                 replies: list[Any], unpickle: bool) -> list[tuple[str, str]]:
    if key is None:
        return fields_of(state.body.encoding, member, unpickle=unpickle)
    reply = replies[0]
    if isinstance(reply, Exception):
        return [("body", printable(str(reply), 200))]
    if reply in ([], {}):
        reply = None
    extra = None
    if len(replies) > 1 and isinstance(replies[1], list) and replies[1]:
        extra = replies[1][0][1]  # [[id, [field, value, ...]]]
    return [("body key", printable(key)),
            *fields_of(state.body.encoding, reply, extra, unpickle)]


def _size_command(commands: list[tuple]) -> tuple | None:
    """What tells a body's size without reading it: STRLEN, HSTRLEN, or MEMORY USAGE for
    a whole hash (every field: sampled, a job hash's one big field is missed)."""
    read = commands[0] if commands else None
    if read is None:
        return None
    if read[0] == "HGET":
        return ("HSTRLEN", read[1], read[2])
    if read[0] == "GET":
        return ("STRLEN", read[1])
    return ("MEMORY", "USAGE", read[1], "SAMPLES", 0)


async def _body_sizes(client: Client, plans: list[tuple[list[tuple], str | None]]
                      ) -> list[int | None]:
    """Each body's size in bytes, in one round trip (None: not known, so read it)."""
    asks = [_size_command(cmds) for cmds, _ in plans]
    replies = iter(await client.raw_pipeline([a for a in asks if a is not None]))
    sizes: list[int | None] = []
    for ask in asks:
        reply = next(replies) if ask is not None else None
        sizes.append(reply if isinstance(reply, int) else None)  # an error: not known
    return sizes


async def describe_many(client: Client, state: StateKey, members: list[bytes],
                        unpickle: bool = False,
                        bound: int | None = None) -> list[list[tuple[str, str]]]:
    """The library fields of each member of `state`, every body read in one round trip.

    With `bound` (a page on screen, read at every poll), a round trip of sizes comes first
    and a body over `bound` bytes is not read whole: a string's first `bound` bytes
    (GETRANGE), else only its size; the inspector reads it whole when it is opened."""
    plans = [_body_commands(state, m) for m in members]
    sizes = await _body_sizes(client, plans) if bound is not None and any(
        cmds for cmds, _ in plans) else [None] * len(plans)
    big = [size is not None and bound is not None and size > bound for size in sizes]
    flat: list[tuple] = []
    for (cmds, _), over in zip(plans, big, strict=True):
        if over and cmds[0][0] == "GET":
            flat.append(("GETRANGE", cmds[0][1], 0, (bound or 0) - 1))
        elif not over:
            flat += cmds
    replies = await client.raw_pipeline(flat) if flat else []
    out, i = [], 0
    for member, (cmds, key), over, size in zip(members, plans, big, sizes, strict=True):
        if over:
            note = f"{size:,} bytes: read whole when opened (enter)"
            if cmds[0][0] == "GET":
                prefix = replies[i]
                i += 1
                if isinstance(prefix, bytes):
                    note = f"{printable(prefix, 200)}… ({note})"
            out.append([("body key", printable(key or "")), ("body", note)])
            continue
        out.append(_fields_from(state, member, key, replies[i:i + len(cmds)], unpickle))
        i += len(cmds)
    return out


async def describe(client: Client, queue: LibraryQueue, state: StateKey,
                   member: bytes, unpickle: bool = False) -> list[tuple[str, str]]:
    """The inspector's library fields for one member of `state`, in one round trip."""
    fields: list[tuple[str, str]] = [("library", queue.library), ("queue", queue.name),
                                     ("state", state.name)]
    (more,) = await describe_many(client, state, [member], unpickle)
    return fields + more


#: Which of an item's fields the item table's columns show (the first present wins).
TASK_FIELDS = ("task", "description", "name", "actor_name", "function")
ARGS_FIELDS = ("argsrepr", "args", "data", "body")
ATTEMPT_FIELDS = ("attempts", "attemptsMade", "retries", "options.retries")
ERROR_FIELDS = ("failedReason", "error", "traceback", "options.traceback")


def pick(fields: list[tuple[str, str]], names: tuple[str, ...]) -> str:
    found = dict(fields)
    return next((found[n] for n in names if found.get(n)), "")


def last_line(text: str) -> str:
    """A traceback's last non-empty line (the exception), for one table cell."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1].strip() if lines else ""
