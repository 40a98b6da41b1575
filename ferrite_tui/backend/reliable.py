"""Reliable queues (queue:NAME + queue:NAME:processing): ack, nack and stale recovery.

As the seed does them, but on exact values instead of "find the first job with this id":
- ack: remove exactly that value from the processing list;
- nack: move it back to the head (LPUSH) of the main queue;
- recover stale: jobs whose envelope time (`enqueued_at`) is older than the visibility
  timeout go back to the head of the main queue.
Each move is one WATCH + MULTI/EXEC chunk (see `moves`): a job is in the processing list or
in the queue, never both, never neither, while workers keep popping and acking.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ferrite_tui.backend.bulk import ChunkResult
from ferrite_tui.backend.client import Client, mutation
from ferrite_tui.backend.envelopes import decode
from ferrite_tui.backend.errors import BackendError
from ferrite_tui.backend.lists import (
    MAX_WINDOW,
    Page,
    chunk_result,
    ids_of,
    read_page,
    read_shown_page,
)
from ferrite_tui.backend.models import QueueRef
from ferrite_tui.backend.movebase import Item
from ferrite_tui.backend.moves import move_values, remove_values

DEFAULT_VISIBILITY_S = 300.0


@dataclass(frozen=True)
class StaleScan:
    items: tuple[Item, ...]  # stale jobs, oldest (tail) first
    scanned: int
    length: int


def job_age_ms(raw: bytes, now_ms: int) -> int | None:
    env = decode(raw)
    if env.time_ms is None:
        return None
    return max(now_ms - env.time_ms, 0)


def _processing(ref: QueueRef) -> str:
    if not ref.processing_key:
        raise BackendError(f"{ref.key} has no processing list")
    return ref.processing_key


class ReliableQueue:
    def __init__(self, client: Client) -> None:
        self.client = client

    async def processing_page(self, ref: QueueRef, start: int, count: int) -> Page:
        return await read_shown_page(self.client, _processing(ref), start, count)

    @mutation("ack")
    async def ack(self, ref: QueueRef, items: Sequence[Item]) -> ChunkResult:
        key = _processing(ref)
        res = await remove_values(self.client, key, items)
        if res.moved:
            self.client.audit("ack", [key], len(res.moved), ids_of([i for i, _ in res.moved]))
        return chunk_result(res)

    @mutation("nack")
    async def nack(self, ref: QueueRef, items: Sequence[Item], *,
                   end: str = "head") -> ChunkResult:
        return await self._back_to_head(ref, items, "nack", end)

    async def _back_to_head(self, ref: QueueRef, items: Sequence[Item],
                            action: str, end: str = "head") -> ChunkResult:
        """Nack and stale recovery alike: the exact jobs from the processing list back to
        the main queue, unchanged: to the head (the seed's LPUSH) or the tail (`end`)."""
        key = _processing(ref)
        res = await move_values(self.client, key, ref.key, items, push_left=end != "tail")
        if res.moved:
            self.client.audit(action, [key, ref.key], len(res.moved),
                              ids_of([i for i, _ in res.moved]))
        return chunk_result(res)

    async def find_stale(self, ref: QueueRef, max_age_ms: int, now_ms: int, *,
                         limit: int = 100_000,
                         progress: Callable[[int, int], None] | None = None) -> StaleScan:
        """Page through the processing list (tail first: BRPOPLPUSH pushes at the head, so
        the oldest are at the tail) and keep the jobs older than max_age_ms."""
        key = _processing(ref)
        stale: list[Item] = []
        scanned = 0
        length = 0
        start = -MAX_WINDOW
        while len(stale) < limit:
            page = await read_page(self.client, key, start, MAX_WINDOW)
            if not page.items:
                break
            length = page.length
            for item in reversed(page.items):
                age = job_age_ms(item.raw, now_ms)
                if age is not None and age > max_age_ms:
                    stale.append(item)
            scanned += len(page.items)
            if progress:
                progress(scanned, length)
            if page.start == 0:
                break
            start -= MAX_WINDOW
        return StaleScan(tuple(stale[:limit]), scanned, length)

    @mutation("recover stale")
    async def recover(self, ref: QueueRef, items: Sequence[Item], *,
                      end: str = "head") -> ChunkResult:
        """Move these (stale) jobs back to the main queue (head or tail), unchanged."""
        return await self._back_to_head(ref, items, "recover stale", end)


def return_end(configured: str | None, consumer_end: str | None) -> tuple[str, str]:
    """Where nacked and recovered jobs go, and what that means for them.

    `configured` ([[queues]] recover_to) wins; else the head, as the seed does. Whether that
    is "served next" or "served last" depends on the end consumers take from, as the poll
    detected it.
    """
    end = configured or "head"
    if consumer_end is None:
        return end, "the end consumers take from is not detected yet"
    return end, ("served next" if end == consumer_end else "served last") + \
        f" (consumers take from the {consumer_end})"
