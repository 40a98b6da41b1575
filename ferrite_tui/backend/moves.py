"""The list moves callers make: exactly-once moves of exact values (see slotmoves.py for
the protocol within one slot, crossslot.py for the staging protocol between two slots of
a cluster). Each entry point picks the one the keys need.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ferrite_tui.backend import bulk, crossslot, slotmoves
from ferrite_tui.backend.client import Client
from ferrite_tui.backend.headpop import pop_head
from ferrite_tui.backend.movebase import Item, MoveResult


async def move_values(client: Client, src: str, dst: str | None, items: Sequence[Item], *,
                      transform: Callable[[Item], bytes] = lambda it: it.raw,
                      push_left: bool = False) -> MoveResult:
    """Move (or, with dst None, remove) exactly these values (slotmoves.move_values)."""
    bulk.note_client(client)
    if client.cluster is not None:
        if crossslot.needs_staging(client, src, dst):
            return await crossslot.move_values(client, src, dst, items,  # type: ignore[arg-type]
                                               transform=transform, push_left=push_left)
        client = client.for_keys(src, dst or src)
    return await slotmoves.move_values(client, src, dst, items, transform=transform,
                                       push_left=push_left)


async def take_head(client: Client, src: str, dst: str | None, count: int, *,
                    transform: Callable[[Item], bytes] = lambda it: it.raw,
                    push_left: bool = False, stop_at: bytes | None = None) -> MoveResult:
    """Move (dst None: delete) up to `count` values from the head of src, atomically
    (slotmoves.take_head)."""
    bulk.note_client(client)
    if client.cluster is not None:
        if crossslot.needs_staging(client, src, dst):
            return await crossslot.take_head(client, src, dst, count,  # type: ignore[arg-type]
                                             transform=transform, push_left=push_left,
                                             stop_at=stop_at, pop_head=pop_head)
        client = client.for_keys(src, dst or src)
    return await slotmoves.take_head(client, src, dst, count, transform=transform,
                                     push_left=push_left, stop_at=stop_at, pop_head=pop_head)


async def remove_values(client: Client, key: str, items: Sequence[Item]) -> MoveResult:
    """Delete exactly these values (LREM each; a value already gone is reported missing)."""
    return await move_values(client, key, None, items)
