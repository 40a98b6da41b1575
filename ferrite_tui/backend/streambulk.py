"""Bulk runs on a stream group's pending entries (ack the entries shown, claim every idle
one) that go on through a node failure, as every bulk run does (bulk.BulkRunner).

Each chunk is one MULTI/EXEC on the stream's node, acknowledged by a replica (WAIT, in the
same write) where the node has one, so a failover right after it loses nothing the run
counted. A node that dies with a chunk sent may have run it or not: the runner waits for
the node or its replica and tries the chunk again, and the retry tells the two apart. An
entry the lost try sent that is no longer pending (ack), or is now held by the target
consumer and not idle since (claim), was done by it; the rest are done by the retry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ferrite_tui.backend.bulk import ChunkResult, note_client
from ferrite_tui.backend.client import Client
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.errors import BackendError, server_error_text
from ferrite_tui.backend.movebase import exchange_replicated, pinned, replica_wait
from ferrite_tui.backend.stream_model import NOT_PENDING


def _no_step(name: str, chunk: int) -> None:
    """Called after each chunk (a test kills a node here)."""


after_chunk: Callable[[str, int], None] = _no_step


def _text(value: Any) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)


def _raise_first(replies: list[Any], key: str) -> None:
    for reply in replies:
        if isinstance(reply, Exception):
            raise BackendError(f"{printable(key, 80)}: {printable(server_error_text(reply), 160)}"
                               ) from reply


@dataclass
class IdlePages:
    """The plan of a claim of every idle entry: pages of `size` read from the pending list
    as the run goes (`exhausted` once a page comes back short)."""

    total: int
    size: int = 500
    next_start: str | None = "-"

    @property
    def exhausted(self) -> bool:
        return self.next_start is None

    def next_chunk(self) -> int:
        return 0 if self.exhausted else self.size

    def handled(self, n: int) -> None:
        pass  # the page's cursor moves in the chunk, once it succeeded


class PendingRun:
    """One run's chunks on `key`'s group `group`."""

    def __init__(self, streams: Any, key: str, group: str) -> None:
        self.streams = streams  # streams.Streams: its pending pages
        self.client: Client = streams.client
        self.key = key
        self.group = group
        self.chunks = 0
        self.lost: set[str] = set()  # ids a try sent whose answer never came

    async def _pending(self, c: Any, ids: list[str]) -> list[list[Any]]:
        """Each id's XPENDING row ([id, consumer, idle, deliveries]), [] if not pending."""
        replies = await c.exchange([("XPENDING", self.key, self.group, i, i, 1) for i in ids])
        _raise_first(replies, self.key)
        return [list(r[0]) if r else [] for r in replies]

    async def _transaction(self, c: Any, command: tuple, wait: tuple | None) -> Any:
        replies = await exchange_replicated(c, [("MULTI",), command, ("EXEC",)], wait)
        _raise_first(replies, self.key)
        if replies[-1] is None:
            raise BackendError(f"{printable(self.key, 80)}: the transaction was aborted")
        return replies[-1][0]

    async def ack(self, ids: list[str]) -> ChunkResult:
        """XACK these ids in one transaction; ids not pending are skipped."""
        self.client.guard("stream ack")
        note_client(self.client)
        node = self.client.for_keys(self.key)
        wait = await replica_wait(node)
        result = ChunkResult()
        async with pinned(node) as c:
            rows = await self._pending(c, ids)
            pending = [i for i, row in zip(ids, rows) if row]
            for i, row in zip(ids, rows):
                if not row:
                    if i in self.lost:  # acked by the try whose answer was lost
                        result.done += 1
                    else:
                        result.skipped += 1
            self.lost.difference_update(ids)
            if pending:
                self.lost.update(pending)
                acked = int(await self._transaction(
                    c, ("XACK", self.key, self.group, *pending), wait))
                self.lost.difference_update(pending)
                result.done += acked
                result.skipped += len(pending) - acked
        if pending:
            self.client.audit("stream ack", [self.key], len(pending), pending)
        self.chunks += 1
        after_chunk("ack", self.chunks)
        return result

    async def claim_idle(self, plan: IdlePages, consumer: str, min_idle_ms: int,
                         n: int) -> ChunkResult:
        """Claim the next page of entries idle at least `min_idle_ms` to `consumer`
        (XCLAIM with that min-idle and JUSTID: one taken meanwhile is skipped, and the
        delivery count is not raised)."""
        self.client.guard("stream claim idle")
        note_client(self.client)
        node = self.client.for_keys(self.key)
        wait = await replica_wait(node)
        result = ChunkResult()
        page = await self.streams.pending_page(self.key, self.group, start=plan.next_start,
                                               count=n, min_idle_ms=min_idle_ms)
        ids = [e.id for e in page.entries]
        async with pinned(node) as c:
            settled = [i for i in self.lost if i not in ids]
            if settled:  # sent by a try whose answer was lost, not idle since: it claimed them
                for row in await self._pending(c, settled):
                    if row and _text(row[1]) == consumer and int(row[2]) < min_idle_ms:
                        result.done += 1
            self.lost.clear()
            if ids:
                self.lost.update(ids)
                claimed = await self._transaction(
                    c, ("XCLAIM", self.key, self.group, consumer, int(min_idle_ms), *ids,
                        "JUSTID"), wait)
                self.lost.clear()
                result.done += len(claimed or ())
                result.skipped += len(ids) - len(claimed or ())
                self.client.audit("stream claim idle", [self.key], len(claimed or ()),
                                  [_text(i) for i in claimed or ()])
        plan.next_start = page.next_start
        self.chunks += 1
        after_chunk("claim", self.chunks)
        return result

    async def dead_letter(self, dlq_key: str, now_ms: int, entries: list[Any]) -> ChunkResult:
        """Move these pending entries to `dlq_key` as dead letters and ack them
        (streams.dead_letter: one transaction per chunk, across slots through staging)."""
        note_client(self.client)
        ids = {e.id for e in entries}
        retried = self.lost & ids
        self.lost.update(ids)
        moved = await self.streams.dead_letter(self.key, self.group, entries, dlq_key,
                                               now_ms=now_ms)
        self.lost.difference_update(ids)
        result = ChunkResult(done=len(moved.done))
        for entry_id in moved.skipped:
            if entry_id in retried and moved.reasons.get(entry_id) == NOT_PENDING:
                result.done += 1  # moved and acked by the try whose answer was lost
            else:
                result.skipped += 1
                if len(result.errors) < 1:
                    result.errors.append(f"{entry_id}: {moved.reasons.get(entry_id, '?')}")
        self.chunks += 1
        after_chunk("dead-letter", self.chunks)
        return result
