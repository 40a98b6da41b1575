"""Work-queue items: paged reads, and exact-value delete, purge and move.

Reads are windows (LLEN + LRANGE start stop in one MULTI, so the window and its length agree);
nothing ever reads a whole list. Mutations name the raw values the operator saw and go
through `moves` (WATCH + MULTI/EXEC; no Lua), so a value is never in two places.

Big items: Redis cannot read part of a list element (no GETRANGE for lists, no element
length), so a window holding a 100 MB item costs 100 MB each time it is read. A page shown
on screen is read again at every poll; `read_shown_page` reads it whole once, remembers which
of its items are big (over BIG_ITEM bytes), and reads it again as LLEN plus LRANGE over the
runs of small items only, in one MULTI. When the length and every small item are unchanged
the remembered page is shown as it is, so an unchanged page costs at most the window's small
items (each under BIG_ITEM) per poll, whatever its big items weigh. Any change (a push or a
pop shifts the small items, or moves a big one into a run read) reads the window whole
again. Not seen: a big item replaced in place (LSET) by another while its length and
neighbours stay; the page shows the old one until it is opened again, and an action on it
names the bytes shown, so it finds the item gone and touches nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

from ferrite_tui.backend.bulk import ChunkResult
from ferrite_tui.backend.client import Client, mutation
from ferrite_tui.backend.envelopes import Envelope, decode, printable
from ferrite_tui.backend.errors import BackendError, permission_error, server_error_text
from ferrite_tui.backend.movebase import Item, MoveResult, backoff, pinned
from ferrite_tui.backend.moves import move_values, remove_values

#: The largest window one read asks for.
MAX_WINDOW = 1000
#: An item over this many bytes is big: a shown page holding it is not read whole again
#: until it changes.
BIG_ITEM = 16 << 10
#: Shown pages remembered per client (one per list shown at once is enough).
REMEMBERED_PAGES = 8
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
                           list_gone=True, left_at_head=len(res.kept), errors=list(res.errors),
                           notes=list(res.notes))
    return ChunkResult(done=len(res.moved), skipped=len(res.missing), failed=failed,
                       left_at_head=len(res.kept), errors=list(res.errors),
                       notes=list(res.notes))


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


@dataclass(frozen=True)
class _ShownPage:
    page: Page
    small_runs: tuple[tuple[int, int], ...]  # (first, last) indexes of runs of small items


#: Per client, the pages shown that hold big items (their key -> the page).
_shown_pages: weakref.WeakKeyDictionary[Client, dict[str, _ShownPage]] = \
    weakref.WeakKeyDictionary()
#: Per client and key, the turn a shown page's reader waits for (see `read_shown_page`).
_shown_turns: weakref.WeakKeyDictionary[Client, dict[str, asyncio.Lock]] = \
    weakref.WeakKeyDictionary()


def _small_runs(page: Page) -> tuple[tuple[int, int], ...]:
    runs: list[tuple[int, int]] = []
    for i, item in enumerate(page.items):
        if len(item.raw) > BIG_ITEM:
            continue
        index = page.start + i
        if runs and runs[-1][1] == index - 1:
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    return tuple(runs)


def _window(start: int, count: int, length: int) -> tuple[int, int]:
    """The (first, last) indexes `read_page` shows for `start`/`count` in a list this long
    (last < first: none)."""
    if start < 0:
        return max(length + start, 0), min(length + start + count, length) - 1
    if start >= length:
        return max(length - count, 0), length - 1
    return start, min(start + count, length) - 1


async def read_shown_page(client: Client, key: str, start: int, count: int) -> Page:
    """The window `read_page` reads, for a page on screen read again at every poll: a
    window holding big items is not fetched whole again while it is unchanged (see the
    module docstring), nor when the window grows or shrinks (the table's height changed):
    the remembered items are kept and only the new rows read. Reads of one page take
    turns: on a slow machine the next poll's reload starts before the last one ended, and
    without its turn it would not find the page remembered and read the big items again."""
    count = max(1, min(count, MAX_WINDOW))
    turns = _shown_turns.setdefault(client, {})
    turn = turns.setdefault(key, asyncio.Lock())
    async with turn:
        return await _read_shown_page(client, key, start, count)


async def _read_shown_page(client: Client, key: str, start: int, count: int) -> Page:
    shown = _shown_pages.setdefault(client, {})
    seen = shown.get(key)
    if seen is not None:
        pages = await _reread_shown(client, key, start, count, seen)
        if pages is not None:
            page, remembered = pages
            if remembered is not seen.page:
                shown[key] = _ShownPage(remembered, _small_runs(remembered))
            return page
    page = await read_page(client, key, start, count)
    shown.pop(key, None)
    if any(len(item.raw) > BIG_ITEM for item in page.items):
        while len(shown) >= REMEMBERED_PAGES:
            del shown[next(iter(shown))]
        shown[key] = _ShownPage(page, _small_runs(page))
    return page


async def _reread_shown(client: Client, key: str, start: int, count: int,
                        seen: _ShownPage) -> tuple[Page, Page] | None:
    """The window from a remembered page: LLEN, its small items inside the window and the
    window's rows it does not hold, in one MULTI. Returns the window and the page to
    remember: both, so a window that shrinks by a line and grows back does not read a
    big item again. None: the list changed (read it whole)."""
    old = seen.page
    first, last = _window(start, count, old.length)
    kept = (max(first, old.start), min(last, old.end - 1))  # rows the old page holds
    if kept[0] > kept[1]:
        return None  # another part of the list: nothing to keep
    runs = [(max(a, kept[0]), min(b, kept[1])) for a, b in seen.small_runs
            if a <= kept[1] and b >= kept[0]]
    new_rows = [(a, b) for a, b in ((first, kept[0] - 1), (kept[1] + 1, last)) if a <= b]
    async with client.redis.pipeline(transaction=True) as pipe:
        pipe.llen(key)
        for a, b in runs + new_rows:
            pipe.lrange(key, a, b)
        length, *replies = await pipe.execute()
    by_index = {item.pos: item.raw for item in old.items}
    if int(length) != old.length or not all(
            list(values) == [by_index[i] for i in range(a, b + 1)]
            for (a, b), values in zip(runs, replies, strict=False)):
        return None
    if (first, last) == (old.start, old.end - 1):
        return old, old
    for (a, _), values in zip(new_rows, replies[len(runs):], strict=True):
        by_index.update(enumerate(values, a))
    if any(i not in by_index for i in range(first, last + 1)):
        return None  # a row read came back short: the list changed after all

    def rows(a: int, b: int) -> Page:
        return Page(key, a, old.length, tuple(Item(by_index[i], i, old.length)
                                              for i in range(a, b + 1)))

    page = rows(first, last)
    if not new_rows:
        return page, old  # inside the remembered page
    both = (min(first, old.start), max(last, old.end - 1))
    return page, rows(*both) if both[1] - both[0] < MAX_WINDOW else page


class ListItems:
    """Items of work queues (plain lists)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def page(self, key: str, start: int, count: int) -> Page:
        return await read_shown_page(self.client, key, start, count)

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
