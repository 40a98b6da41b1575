"""Work-queue items: paged reads, and exact-value delete, purge and move.

Reads are windows (LLEN + LRANGE start stop in one MULTI, so the window and its length agree);
nothing ever reads a whole list. Mutations name the raw values the operator saw and go
through `moves` (WATCH + MULTI/EXEC; no Lua), so a value is never in two places.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from ferrite_tui.backend.bulk import ChunkResult
from ferrite_tui.backend.client import (
    BackendError,
    Client,
    mutation,
    permission_error,
    server_error_text,
)
from ferrite_tui.backend.envelopes import Envelope, decode, printable
from ferrite_tui.backend.moves import (
    Item,
    MoveResult,
    backoff,
    move_values,
    pinned,
    remove_values,
)

#: The largest window one read asks for.
MAX_WINDOW = 1000
#: Optimistic (WATCH) tries of a purge before it trims instead (see `ListItems.purge`).
PURGE_WATCH_ATTEMPTS = 8
#: Items one trim of a busy list's purge removes (about a millisecond of server time).
PURGE_TRIM = 10_000


def _not_a_list(key: str, kind: str, removed: int = 0) -> BackendError:
    deleted = f"{removed:,} items were deleted before it changed" if removed \
        else "nothing was deleted"
    return BackendError(f"{printable(key, 80)} is not a list any more (it is a {kind}): "
                        f"{deleted}")


@dataclass(frozen=True)
class Page:
    key: str
    start: int  # index of the first item (from the head)
    length: int  # the list's length when read
    items: tuple[Item, ...]

    @property
    def end(self) -> int:
        return self.start + len(self.items)


def item_id(raw: bytes, env: Envelope | None = None) -> str:
    """The id an audit line names: the envelope's id, else a hash of the value."""
    env = env or decode(raw)
    if env.id is not None:
        return env.id
    return "sha1:" + hashlib.sha1(raw).hexdigest()[:12]


def ids_of(items: Sequence[Item]) -> list[str]:
    return [item_id(it.raw) for it in items]


def chunk_result(res: MoveResult) -> ChunkResult:
    failed = len(res.failed) + len(res.kept)  # values left in place are failed too
    if res.src_gone:  # not missing one by one: the list went away
        return ChunkResult(done=len(res.moved), gone=len(res.missing), failed=failed,
                           list_gone=True, left_at_head=len(res.kept), errors=list(res.errors))
    return ChunkResult(done=len(res.moved), skipped=len(res.missing), failed=failed,
                       left_at_head=len(res.kept), errors=list(res.errors))


async def read_page(client: Client, key: str, start: int, count: int) -> Page:
    """`count` items from index `start`; a negative start counts from the tail (-count is the
    last page). The start is clamped so the window is always inside the list."""
    count = max(1, min(count, MAX_WINDOW))
    r = client.redis
    async with r.pipeline(transaction=True) as pipe:
        pipe.llen(key)
        if start < 0:
            pipe.lrange(key, start, start + count - 1 if start + count - 1 < 0 else -1)
        else:
            pipe.lrange(key, start, start + count - 1)
        length, values = await pipe.execute()
    length = int(length)
    if start < 0:
        first = max(length + start, 0)
    else:
        first = start
        if not values and length and start >= length:
            # Past the end (the list shrank): show the last window instead.
            return await read_page(client, key, -count, count)
    items = tuple(Item(v, first + i, length) for i, v in enumerate(values))
    return Page(key, first, length, items)


class ListItems:
    """Items of work queues (plain lists)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def page(self, key: str, start: int, count: int) -> Page:
        return await read_page(self.client, key, start, count)

    async def count_and_tail(self, key: str) -> tuple[int, bytes | None]:
        """The length and the last item, read together: a run over "the first N items" (N
        counted at confirmation) stops at that item, whatever is pushed meanwhile."""
        async with self.client.redis.pipeline(transaction=True) as pipe:
            pipe.llen(key)
            pipe.lindex(key, -1)
            count, tail = await pipe.execute()
        return int(count), tail

    @mutation("delete items")
    async def delete(self, key: str, items: Sequence[Item]) -> ChunkResult:
        res = await remove_values(self.client, key, items)
        if res.moved:
            self.client.audit("delete items", [key], len(res.moved),
                              ids_of([it for it, _ in res.moved]))
        return chunk_result(res)

    @mutation("purge queue")
    async def purge(self, key: str) -> int:
        """Delete the whole list; returns (and audits) how many items the deletion removed.

        WATCH key ; TYPE key, then MULTI ; LLEN key ; UNLINK key ; EXEC: the count is taken
        in the same transaction as the deletion, and a key that is no longer a list is left
        alone. UNLINK frees memory in the background; DEL where the server lacks it.

        A list that producers keep writing invalidates the WATCH every time; after a few
        tries the purge cuts the head instead (`_purge_by_trims`), which needs no WATCH."""
        delete = "UNLINK"
        for attempt in range(1, PURGE_WATCH_ATTEMPTS + 1):
            async with pinned(self.client) as c:
                (_, kind) = await c.exchange([("WATCH", key), ("TYPE", key)])
                kind = kind.decode() if isinstance(kind, bytes) else str(kind)
                if kind not in ("list", "none"):
                    await c.exchange([("UNWATCH",)])
                    raise _not_a_list(key, kind)
                replies = await c.exchange([("MULTI",), ("LLEN", key), (delete, key),
                                            ("EXEC",)])
            if isinstance(replies[2], Exception) and "unknown command" in str(replies[2]).lower():
                delete = "DEL"
                continue
            for reply in replies[:-1]:
                if isinstance(reply, Exception):
                    raise BackendError(permission_error(reply, self.client.settings.username)
                                       or f"purge refused: {server_error_text(reply)}")
            result = replies[-1]
            if result is None:  # the list changed between TYPE and EXEC: count again
                await backoff(attempt)
                continue
            if isinstance(result, Exception) or isinstance(result[0], Exception):
                raise BackendError(f"purge failed: {server_error_text(result)}")
            removed = int(result[0])
            self.client.audit("purge queue", [key], removed)
            return removed
        removed = await self._purge_by_trims(key)
        self.client.audit("purge queue", [key], removed)
        return removed

    async def _purge_by_trims(self, key: str) -> int:
        """The purge of a list that keeps changing: MULTI ; LLEN key ; LTRIM key n -1 ; EXEC,
        repeated. LLEN and LTRIM run together, so each transaction removes exactly
        min(LLEN, n), known without a WATCH; LTRIM refuses a key that is not a list (and
        then nothing is removed). It ends when it has removed as many items as the list
        held at its first transaction (what was there when the purge ran; items pushed at
        the tail since are left) or the list is empty. n is bounded, so no command runs long."""
        removed = 0
        target: int | None = None
        while True:
            replies = await self.client.for_keys(key).raw_pipeline(
                [("MULTI",), ("LLEN", key), ("LTRIM", key, PURGE_TRIM, -1), ("EXEC",)])
            result = replies[-1]
            if not isinstance(result, list):  # EXEC refused (or nil: nothing was watched)
                why: list[BaseException | str] = [
                    r for r in replies if isinstance(r, Exception)] or ["no answer"]
                raise BackendError(f"purge failed after removing {removed:,}: "
                                   f"{server_error_text(why[0])}")
            length, trimmed = result
            for reply in (length, trimmed):
                if isinstance(reply, Exception):
                    if "WRONGTYPE" in str(reply):
                        raise _not_a_list(key, "another type", removed)
                    raise BackendError(f"purge failed after removing {removed:,}: "
                                       f"{server_error_text(reply)}")
            length = int(length)
            if target is None:
                target = length
            removed += min(length, PURGE_TRIM)
            if length <= PURGE_TRIM or removed >= target:
                return removed

    @mutation("move items")
    async def move(self, src: str, dst: str, items: Sequence[Item]) -> ChunkResult:
        """Move exactly these values to the tail of dst, unchanged."""
        if src == dst:
            raise BackendError("source and target are the same list")
        res = await move_values(self.client, src, dst, items)
        if res.moved:
            self.client.audit("move items", [src, dst], len(res.moved),
                              ids_of([it for it, _ in res.moved]))
        return chunk_result(res)
