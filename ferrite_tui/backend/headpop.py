"""Taking the head of a list that producers keep pushing to, without Lua.

`slotmoves.take_head` reads the head under WATCH and cuts it in MULTI/EXEC; on a list pushed to
all the time the WATCH never holds. Where Lua runs, a script checks the head is still what
was read (tail pushes do not change it). Without Lua, this takes the head by pops, which
need nothing to stand still:

    (1) MULTI; LMOVE SRC STAGE LEFT RIGHT (n times); EXEC
        STAGE is a console-owned list in SRC's slot (`crossslot.stage_key`, named to go back
        to SRC's head): the first n values leave SRC atomically, whatever is pushed at the
        tail meanwhile, and the EXEC's answer says exactly which ones.
    (2) WATCH STAGE; MULTI; DEL STAGE; LPUSH SRC <values to put back>; RPUSH STAGE <new
        values>; LMOVE STAGE DST LEFT RIGHT|LEFT (per new value); EXEC
        The values past the one counted last at confirmation (`stop_at`), and those the
        transform refuses, go back to SRC's head in their order; the rest go to DST
        rewritten. LMOVE checks DST's type before it pops, so a DST that is no longer a
        list leaves the new values in STAGE (reported), never nowhere.

Where each value is, whatever happens: in SRC; or in STAGE (shown as in flight; the Server
panel's `f` puts them back at SRC's head, where they came from); or in DST (or, values put
back, at SRC's head). Both transactions are acknowledged by a replica where the node has one
(WAIT). A consumer popping SRC's head at the same time takes what it takes: (1) takes the
next values, which is what "the first N" means on a list being consumed.
"""

from __future__ import annotations

from collections.abc import Callable

from ferrite_tui.backend import bulk, crossslot
from ferrite_tui.backend.client import Client
from ferrite_tui.backend.errors import BackendError
from ferrite_tui.backend.movebase import (
    Item,
    KeepInPlace,
    MoveResult,
    check_exec,
    exchange_replicated,
    kept_in_place,
    pinned,
    replica_wait,
)

#: What the run's line says when it took a head this way.
STRATEGY = ("producers kept pushing (no WATCH held, no Lua here): the head was taken by "
            "atomic pops (LMOVE) through a staging list")


async def pop_head(client: Client, src: str, dst: str | None, count: int, *,
                   transform: Callable[[Item], bytes], push_left: bool,
                   stop_at: bytes | None, settle: bool = True) -> MoveResult:
    """`slotmoves.take_head` by pops (see the module's description); `client` holds SRC (and
    DST, in SRC's slot)."""
    result = MoveResult(attempts=1)
    stage = crossslot._current_run().next_stage(src, src, push_left=True)
    wait = await replica_wait(client)
    crossslot._note_staged(stage, None)  # (1)'s answer may be lost: it may have run
    async with pinned(client) as c:
        replies = await exchange_replicated(
            c, [("MULTI",), *[("LMOVE", src, stage, "LEFT", "RIGHT")] * count, ("EXEC",)],
            wait)
        for reply in replies[:-1]:
            check_exec(reply, client)
        popped = replies[-1]
        if not isinstance(popped, list):
            crossslot._note_staged(stage, 0)
            raise BackendError(f"cannot take the head of {src}: {popped}")
        values = [v for v in popped if isinstance(v, bytes)]
        crossslot._note_staged(stage, len(values))
        if not values:
            result.src_gone = True
            crossslot._note_staged(stage, 0)
            return result
        moving, back = values, []
        if stop_at is not None and stop_at in values:
            cut = values.index(stop_at) + 1
            moving, back = values[:cut], values[cut:]
            result.reached_stop = True
        pushed: list[tuple[Item, bytes]] = []
        for i, value in enumerate(moving):
            item = Item(value, i)
            if dst is None:
                pushed.append((item, value))
                continue
            try:
                pushed.append((item, transform(item)))
            except KeepInPlace as why:
                result.kept.append(item)
                result.errors.append(kept_in_place(src, item, why))
        back = [it.raw for it in result.kept] + back
        tx: list[tuple] = [("WATCH", stage), ("MULTI",), ("DEL", stage)]
        if back:
            tx.append(("LPUSH", src, *reversed(back)))
        if dst is not None and pushed:
            tx.append(("RPUSH", stage, *[new for _, new in pushed]))
            tx += [("LMOVE", stage, dst, "LEFT", "LEFT" if push_left else "RIGHT")] * len(pushed)
        replies = await exchange_replicated(c, [*tx, ("EXEC",)], wait)
        for reply in replies[1:-1]:
            check_exec(reply, client)
        done = replies[-1]
        if not isinstance(done, list):  # another console finished STAGE first (f)
            raise BackendError(f"{stage} was finished by another console meanwhile: its "
                               "values went back to the head of the list")
        refused = [r for r in done if isinstance(r, Exception)]
        if refused:
            raise BackendError(f"{dst} refused the push ({refused[0]}): the values are in "
                               f"{stage} (in flight; f on the Server panel puts them back)")
    crossslot._note_staged(stage, 0)
    result.moved = pushed
    result.notes.append(STRATEGY)
    if settle:
        bulk.note_settled(len(pushed))
    return result
