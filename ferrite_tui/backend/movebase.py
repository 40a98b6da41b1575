"""What every list move shares: the items (exact values, where they were seen), the
result, the plans that chunk them, and a connection pinned for one transaction.

The moves themselves: within one hash slot (one server) in slotmoves.py, between two slots
in crossslot.py; moves.py is the entry point that picks one.
"""

from __future__ import annotations

import asyncio
import random
import time
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis import exceptions as rexc

from ferrite_tui.backend.errors import BackendError, permission_error, server_error_text

if TYPE_CHECKING:
    from ferrite_tui.backend.client import Client

#: Extra elements LPOS may look past the position where a value was seen.
SLACK = 1000
#: Extra elements when looking from the tail (the list may have grown at the tail since).
TAIL_SLACK = 10_000
#: Elements the further search for values not found where they were seen may scan, per
#: chunk (each LPOS at most SCAN_BUDGET); these run under WATCH, before the MULTI.
SEARCH_BUDGET = 4 * 400_000
#: Optimistic transactions retried this many times when others keep touching the list.
MAX_ATTEMPTS = 60
#: Elements one transaction may scan in total (LPOS + LREM), which keeps it in the low ms.
SCAN_BUDGET = 400_000


@dataclass(frozen=True, slots=True)
class Item:
    """One list value as the operator saw it: the raw bytes and where it was."""

    raw: bytes
    pos: int | None = None  # index from the head when seen
    seen_len: int | None = None  # list length when seen

    def from_tail(self) -> bool:
        if self.pos is None or self.seen_len is None:
            return False
        return self.pos > (self.seen_len - 1 - self.pos)

    def distance(self) -> int:
        """Elements a scan from the nearer end passes before reaching this one."""
        if self.pos is None:
            return 1 << 30
        if self.from_tail():
            return max(self.seen_len - self.pos, 1)  # type: ignore[operator]
        return self.pos + 1


class KeepInPlace(ValueError):
    """Raised by a transform for a value it cannot rewrite: that value is left where it is
    (reported failed, with its position) and the rest of the chunk moves."""


@dataclass
class MoveResult:
    moved: list[tuple[Item, bytes]] = field(default_factory=list)  # (item, value pushed)
    missing: list[Item] = field(default_factory=list)  # gone (or moved far) since seen
    failed: list[Item] = field(default_factory=list)
    kept: list[Item] = field(default_factory=list)  # refused by the transform: left in place
    errors: list[str] = field(default_factory=list)
    attempts: int = 0
    reached_stop: bool = False  # take_head: the stop_at value was among those moved
    src_gone: bool = False  # the source list no longer exists (deleted, renamed, flushed)
    notes: list[str] = field(default_factory=list)  # how it was done, when not as usual


def kept_in_place(src: str, item: Item, why: KeepInPlace) -> str:
    where = f"entry {item.pos}" if item.pos is not None else "an entry"
    return f"{where} of {src} cannot be rewritten ({why}): left in place"


def check_exec(reply: Any, client: Client) -> None:
    if isinstance(reply, Exception):
        raise BackendError(permission_error(reply, client.settings.username)
                           or f"transaction refused: {server_error_text(reply)}")


def chunk_budget(items: Sequence[Item], max_items: int = 500,
                 budget: int = SCAN_BUDGET) -> list[list[Item]]:
    """Split items into chunks of at most max_items whose scan distances fit the budget."""
    chunks: list[list[Item]] = []
    current: list[Item] = []
    cost = 0
    for item in items:
        d = 2 * min(item.distance(), budget)
        if current and (len(current) >= max_items or cost + d > budget):
            chunks.append(current)
            current, cost = [], 0
        current.append(item)
        cost += d
    if current:
        chunks.append(current)
    return chunks


class PositionalPlan:
    """Chunks for a bulk run over items of one list, planned lazily in list order.

    Items are taken in order of the position they were seen at. Every item a chunk handles
    has left the list (moved, removed, or already gone), so each later item now sits that
    many places nearer the head: its position is shifted before its chunk is planned, which
    keeps LPOS/LREM bounds tight (a run over 100,000 entries scans hundreds, not tens of
    thousands, of elements per command)."""

    def __init__(self, items: Sequence[Item], max_items: int = 200,
                 budget: int = SCAN_BUDGET) -> None:
        self.items = sorted(items, key=lambda i: (i.pos is None, i.pos or 0))
        self.max_items = max_items
        self.budget = budget
        self.index = 0
        self.shift = 0

    @property
    def total(self) -> int:
        return len(self.items)

    def next_chunk(self) -> list[Item]:
        """The next chunk (positions shifted); empty when done. Call `handled` after it."""
        rest = self.items[self.index:self.index + self.max_items]
        shifted = [
            it if it.pos is None else
            Item(it.raw, max(it.pos - self.shift, 0),
                 None if it.seen_len is None else max(it.seen_len - self.shift, 1))
            for it in rest
        ]
        chunks = chunk_budget(shifted, self.max_items, self.budget)
        return chunks[0] if chunks else []

    def handled(self, n: int) -> None:
        self.index += n
        self.shift += n


class _Conn:
    """A pooled connection pinned for one optimistic transaction."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def exchange(self, commands: list[tuple]) -> list[Any]:
        """Send all commands in one write; return each reply (or its exception)."""
        conn = self.conn
        await conn.send_packed_command(conn.pack_commands(commands))
        replies: list[Any] = []
        for _ in commands:
            try:
                replies.append(await conn.read_response())
            except rexc.ResponseError as exc:
                replies.append(exc)
        return replies


@asynccontextmanager
async def pinned(client: Client) -> AsyncIterator[_Conn]:
    redis = client.redis
    # Moves run on the client that holds their keys: one server's, never a cluster router.
    assert isinstance(redis, aioredis.Redis)
    pool = redis.connection_pool
    conn = await pool.get_connection()
    ok = False
    try:
        yield _Conn(conn)
        ok = True
    finally:
        if not ok:
            # WATCH or MULTI may still be open on it: drop the connection rather than reuse it.
            try:
                await conn.disconnect()
            except Exception:
                pass
        await pool.release(conn)


#: A primary with replicas acknowledges a move's transaction only once a replica has it
#: (WAIT, in the same write as EXEC), for at most this long: a failover right after the
#: move then loses nothing the move counted (replication is asynchronous otherwise).
REPLICA_WAIT_MS = 1000
#: How long a node's replica count (ROLE) is trusted before it is read again.
REPLICAS_TTL_S = 5.0
# Per client, not per URL: another server at a URL seen a moment ago (a restart, a test's
# next server on a reused port) is asked afresh.
_REPLICAS: weakref.WeakKeyDictionary[Client, tuple[float, int]] = weakref.WeakKeyDictionary()


async def replica_wait(client: Client) -> tuple | None:
    """The WAIT command to send after a move's EXEC on this node, or None when it has no
    replica (or cannot say: ROLE refused, as on Ferrite)."""
    if client.cluster is not None:
        return None
    now = time.monotonic()
    cached = _REPLICAS.get(client)
    if cached is None or now - cached[0] > REPLICAS_TTL_S:
        replicas = 0
        try:
            (role,) = await client.raw_pipeline([("ROLE",)])
            if isinstance(role, list) and role and role[0] in (b"master", "master"):
                replicas = len(role[2]) if len(role) > 2 and isinstance(role[2], list) else 0
        except Exception:  # a move never fails over this check; the move itself will tell
            replicas = 0
        cached = _REPLICAS[client] = (now, replicas)
    return ("WAIT", 1, REPLICA_WAIT_MS) if cached[1] else None


async def exchange_replicated(c: _Conn, commands: list[tuple], wait: tuple | None) -> list[Any]:
    """`c.exchange(commands)`, followed in the same write by `wait` (see replica_wait);
    returns the replies of `commands` only."""
    if wait is None:
        return await c.exchange(commands)
    return (await c.exchange([*commands, wait]))[:-1]


async def backoff(attempt: int) -> None:
    # Jittered, short: another writer's single command finishes in microseconds.
    await asyncio.sleep(random.uniform(0, min(0.002 * attempt, 0.05)))
