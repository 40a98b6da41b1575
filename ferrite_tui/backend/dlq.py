"""Dead-letter lists: paged entries, group-by-reason, filters, requeue, delete, edit, export.

Requeue is the seed's retry_dead_letter on exact values: the same id and payload,
retry_count 0, last_error null, first_attempt now, pushed to the right of the target and
removed from the DLQ, in one WATCH + MULTI/EXEC per chunk (see `moves`). The job is the
stored "job" text with only the reset fields replaced (see `rawjson`), so the id and payload
keep their bytes; an entry whose text cannot be edited safely stays in the DLQ, named by its
position. Values that are not the seed's dead-letter envelope move unchanged (the result
counts them, so the UI says so). Export writes each value's own text, for the same reason.

Nothing reads a whole list: pages are LRANGE windows; grouping and filtering scan in windows
of `SCAN_WINDOW` in the background with progress, keeping only group counts and (up to
`MAX_MATCHES`) the matching values, so a DLQ of millions opens and scans in bounded memory.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ferrite_tui.backend import boundedjson
from ferrite_tui.backend.bulk import Cancel, ChunkResult
from ferrite_tui.backend.client import Client, mutation
from ferrite_tui.backend.envelopes import Envelope, decode, dumps, requeued_job
from ferrite_tui.backend.errors import BackendError
from ferrite_tui.backend.lists import (
    MAX_WINDOW,
    Page,
    chunk_result,
    ids_of,
    item_id,
    read_page,
    read_shown_page,
)
from ferrite_tui.backend.movebase import Item, KeepInPlace, MoveResult
from ferrite_tui.backend.moves import move_values, remove_values, take_head
from ferrite_tui.backend.rawjson import Unrewritable, member_bytes, payload_text, requeued
from ferrite_tui.escaping import json_safe

SCAN_WINDOW = 1000
MAX_MATCHES = 200_000
MAX_GROUPS = 500
OTHER_GROUP = "(other reasons: more than 500 distinct groups)"

_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
_HEXID = re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{8,}\b", re.I)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_SPACES = re.compile(r"\s+")


def normalise_reason(text: str) -> str:
    """A reason with its ids and numbers replaced, so the same failure groups together:
    'timeout after 30s on job 9f1c2e7a-…' and '… 12s on job 77aa…' both read
    'timeout after #s on job <id>'."""
    text = _UUID.sub("<id>", text)
    text = _HEXID.sub("<id>", text)
    text = _NUMBER.sub("#", text)
    return _SPACES.sub(" ", text).strip()


def reason_of(env: Envelope) -> str:
    if env.is_dead_letter:
        return env.reason or env.last_error or "(no reason)"
    return f"(not a dead-letter envelope: {env.kind})"


def group_of(env: Envelope) -> str:
    return normalise_reason(reason_of(env).splitlines()[0] if reason_of(env) else "")


def first_line(text: str | None) -> str:
    if not text:
        return ""
    return text.strip().splitlines()[0] if text.strip() else ""


class Filter:
    """Substring (case-insensitive) or, written /like this/, a regular expression, over the
    reason, the error and the payload (the whole value, every field, for the others)."""

    def __init__(self, text: str = "", group: str | None = None) -> None:
        self.text = text
        self.group = group
        self.regex: re.Pattern | None = None
        if len(text) >= 2 and text.startswith("/") and text.endswith("/"):
            try:
                self.regex = re.compile(text[1:-1], re.I)
            except re.error as exc:
                raise BackendError(f"bad regular expression: {exc}") from None
        self.needle = text.casefold()

    @property
    def active(self) -> bool:
        return bool(self.text) or self.group is not None

    def describe(self) -> str:
        parts = []
        if self.group is not None:
            parts.append(f"group “{self.group}”")
        if self.text:
            parts.append(f"{'regex' if self.regex else 'filter'} “{self.text}”")
        return " and ".join(parts) or "everything"

    @staticmethod
    def haystack(env: Envelope) -> str:
        if env.kind == "dead":
            return "\n".join((env.reason or "", env.last_error or "", dumps(env.payload)))
        return env.raw.decode("utf-8", "backslashreplace")

    def __call__(self, env: Envelope) -> bool:
        if self.group is not None and group_of(env) != self.group:
            return False
        if not self.text:
            return True
        hay = self.haystack(env)
        if self.regex is not None:
            return self.regex.search(hay) is not None
        return self.needle in hay.casefold()


@dataclass
class Group:
    key: str
    count: int = 0
    newest_ms: int | None = None  # newest dead_at


@dataclass
class ScanState:
    """What a background scan has found so far (the UI reads it while it runs)."""

    key: str
    length: int = 0
    scanned: int = 0
    complete: bool = False
    cancelled: bool = False
    matches: list[Item] = field(default_factory=list)
    truncated: bool = False  # more than MAX_MATCHES matched
    groups: dict[str, Group] = field(default_factory=dict)

    def sorted_groups(self) -> list[Group]:
        return sorted(self.groups.values(), key=lambda g: (-g.count, g.key))


@dataclass
class RequeueChunk(ChunkResult):
    unchanged: int = 0  # not dead-letter envelopes: moved as they are
    reached_stop: bool = False  # head runs: the last entry counted at confirmation is done


def requeue_value(env: Envelope, now_ms: int) -> bytes:
    """The value pushed for this entry (raises Unrewritable: it stays where it is)."""
    new = requeued_job(env, now_ms)
    return env.raw if new is None else new


def edit_text(env: Envelope) -> str:
    """A dead letter's payload (a wrapper's whole inner job) for editing: its stored text,
    never re-serialised (on one line: a line break in valid JSON is whitespace)."""
    try:
        stored = member_bytes(env.raw, env.job_field) if env.kind == "wrapped" and \
            env.job_field else payload_text(env.raw)
        text = stored.decode("utf-8", "surrogateescape")
        return text.replace("\r", " ").replace("\n", " ")
    except Unrewritable:
        return dumps(env.payload)


def export_line(raw: bytes) -> str:
    """One NDJSON line: the value itself when it is JSON, else {"raw": text} or
    {"raw_base64": ...} for binary."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return dumps({"raw_base64": base64.b64encode(raw).decode()})
    try:
        boundedjson.loads(text)
    except ValueError:
        return json_safe(dumps({"raw": text}))
    # The value's own text, not a re-serialisation (numbers and duplicate keys kept). A
    # line break in valid JSON is whitespace (strings cannot hold one), so a space will do.
    # Control and bidi characters inside its strings become \u escapes (same values): the
    # file is read with cat and less too.
    return json_safe(text.strip().replace("\r", " ").replace("\n", " "))


class DeadLetters:
    def __init__(self, client: Client, clock: Callable[[], float] | None = None) -> None:
        self.client = client
        # The server's clock by default: "first_attempt now" and ages are the server's times.
        self.clock = clock or client.server_clock.now_s

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def page(self, key: str, start: int, count: int) -> Page:
        return await read_shown_page(self.client, key, start, count)

    async def scan(self, key: str, flt: Filter | None = None, *, state: ScanState | None = None,
                   cancel: Cancel | None = None, window: int = SCAN_WINDOW,
                   progress: Callable[[ScanState], None] | None = None,
                   collect: bool = True) -> ScanState:
        """Read the list in windows from the head; count groups over every entry and keep the
        entries matching `flt` (all, without one). One window per round trip."""
        state = state or ScanState(key)
        flt = flt or Filter()
        start = 0
        while True:
            if cancel is not None and cancel.requested:
                state.cancelled = True
                break
            page = await read_page(self.client, key, start, min(window, MAX_WINDOW))
            if page.start != start:  # the list shrank below our position
                break
            state.length = page.length
            for item in page.items:
                env = decode(item.raw)
                g = group_of(env)
                group = state.groups.get(g)
                if group is None:
                    if len(state.groups) >= MAX_GROUPS:
                        g = OTHER_GROUP
                        group = state.groups.setdefault(g, Group(g))
                    else:
                        group = state.groups[g] = Group(g)
                group.count += 1
                if env.dead_at is not None and (group.newest_ms is None
                                                or env.dead_at > group.newest_ms):
                    group.newest_ms = env.dead_at
                if collect and flt(env):
                    if len(state.matches) < MAX_MATCHES:
                        state.matches.append(item)
                    else:
                        state.truncated = True
            state.scanned += len(page.items)
            if progress:
                progress(state)
            if len(page.items) < window or page.end >= page.length:
                state.complete = True
                break
            start = page.end
        return state

    # -- mutations --------------------------------------------------------------------

    @staticmethod
    def _transform(now_ms: int, ids: dict[bytes, str]) -> Callable[[Item], bytes]:
        def transform(item: Item) -> bytes:
            env = decode(item.raw)
            ids[item.raw] = item_id(item.raw, env)  # decoded once: kept for the audit line
            try:
                return requeue_value(env, now_ms)
            except Unrewritable as why:
                raise KeepInPlace(str(why)) from None
        return transform

    def _result(self, action: str, keys: list[str], res: MoveResult,
                ids: dict[bytes, str] | None = None) -> RequeueChunk:
        if res.moved:
            known = ids or {}
            self.client.audit(action, keys, len(res.moved),
                              [known.get(i.raw) or item_id(i.raw) for i, _ in res.moved])
        base = chunk_result(res)
        # Only values that are not dead-letter envelopes are pushed byte for byte unchanged.
        unchanged = sum(1 for it, new in res.moved if new == it.raw)
        return RequeueChunk(done=base.done, skipped=base.skipped, failed=base.failed,
                            gone=base.gone, list_gone=base.list_gone,
                            left_at_head=base.left_at_head,
                            errors=base.errors, notes=base.notes, unchanged=unchanged,
                            reached_stop=res.reached_stop)

    @mutation("requeue dead letters")
    async def requeue(self, key: str, target: str, items: Sequence[Item]) -> RequeueChunk:
        """Requeue exactly these values (one chunk: one transaction)."""
        _check_target(key, target)
        ids: dict[bytes, str] = {}
        res = await move_values(self.client, key, target, items,
                                transform=self._transform(self.now_ms(), ids))
        return self._result("requeue dead letters", [key, target], res, ids)

    async def requeue_routed(self, key: str, target_of: Callable[[bytes], str | None],
                             items: Sequence[Item]) -> RequeueChunk:
        """Requeue exactly these values, each to its own target (the queue a letter names,
        see dlq_routes): one transaction per target in the chunk. A value with no target
        is left where it is and counted failed."""
        groups: dict[str | None, list[Item]] = {}
        for item in items:
            groups.setdefault(target_of(item.raw), []).append(item)
        out = RequeueChunk()
        for target, part in groups.items():
            if target is None:
                out.failed += len(part)
                continue
            res = await self.requeue(key, target, part)
            out.done += res.done
            out.skipped += res.skipped
            out.failed += res.failed
            out.gone += res.gone
            out.list_gone = out.list_gone or res.list_gone
            out.left_at_head += res.left_at_head
            out.unchanged += res.unchanged
            out.errors += res.errors
        return out

    @mutation("requeue dead letters")
    async def requeue_head(self, key: str, target: str, count: int,
                           stop_at: bytes | None = None) -> RequeueChunk:
        """Requeue up to `count` entries from the head (the "all, unfiltered" fast path)."""
        _check_target(key, target)
        ids: dict[bytes, str] = {}
        res = await take_head(self.client, key, target, count, stop_at=stop_at,
                              transform=self._transform(self.now_ms(), ids))
        return self._result("requeue dead letters", [key, target], res, ids)

    @mutation("delete dead letters")
    async def delete(self, key: str, items: Sequence[Item]) -> ChunkResult:
        res = await remove_values(self.client, key, items)
        if res.moved:
            self.client.audit("delete dead letters", [key], len(res.moved),
                              ids_of([i for i, _ in res.moved]))
        return chunk_result(res)

    @mutation("delete dead letters")
    async def delete_head(self, key: str, count: int,
                          stop_at: bytes | None = None) -> RequeueChunk:
        res = await take_head(self.client, key, None, count, stop_at=stop_at)
        return self._result("delete dead letters", [key], res)

    @mutation("move dead letters")
    async def move(self, key: str, target: str, items: Sequence[Item]) -> ChunkResult:
        """Move exactly these values, unchanged, to the tail of another list."""
        _check_target(key, target)
        res = await move_values(self.client, key, target, items)
        if res.moved:
            self.client.audit("move dead letters", [key, target], len(res.moved),
                              ids_of([i for i, _ in res.moved]))
        return chunk_result(res)

    @mutation("edit and requeue")
    async def edit_requeue(self, key: str, target: str, item: Item,
                           new_text: str) -> RequeueChunk:
        """Requeue one entry with an edited payload. For a dead-letter envelope `new_text`
        is the payload as JSON (the rest is the seed's requeue); for anything else it is the
        whole new value, pushed as typed."""
        _check_target(key, target)
        env = decode(item.raw)
        now = self.now_ms()
        if env.kind == "dead":
            try:
                boundedjson.loads(new_text)
            except ValueError as exc:
                raise BackendError(f"the payload is not valid JSON: {exc}") from None
            try:
                # The payload as typed, the rest of the job as stored.
                new = requeued(item.raw, now, payload=new_text.strip().encode(
                    "utf-8", "surrogateescape"))
            except Unrewritable as why:
                raise BackendError(f"this entry cannot be rewritten ({why}): it was left "
                                   "in place") from None
        else:
            new = new_text.encode("utf-8", "surrogateescape")
        res = await move_values(self.client, key, target, [item], transform=lambda _: new)
        result = self._result("edit and requeue", [key, target], res)
        result.unchanged = 0
        return result

    # -- export -----------------------------------------------------------------------

    async def export(self, key: str, path: Path | str, items: Iterable[Item] | None = None,
                     progress: Callable[[int], None] | None = None,
                     cancel: Cancel | None = None) -> int:
        """Write entries as NDJSON: `items` if given, else the whole list, page by page."""
        target = Path(path).expanduser()
        written = 0
        with target.open("w", encoding="utf-8") as out:
            if items is not None:
                for item in items:
                    out.write(export_line(item.raw) + "\n")
                    written += 1
                    if progress and written % 1000 == 0:
                        progress(written)
            else:
                start = 0
                while not (cancel and cancel.requested):
                    page = await read_page(self.client, key, start, MAX_WINDOW)
                    if page.start != start or not page.items:
                        break
                    for item in page.items:
                        out.write(export_line(item.raw) + "\n")
                    written += len(page.items)
                    if progress:
                        progress(written)
                    if page.end >= page.length:
                        break
                    start = page.end
        return written


def _check_target(key: str, target: str) -> None:
    if not target:
        raise BackendError(f"no target queue for {key}: give one")
    if target == key:
        raise BackendError("the target is the dead-letter list itself")
