"""Moves between hash slots on a cluster: never lost, never doubled, without Lua.

On a cluster a transaction may only touch keys of one slot, so `queue:main:dlq` ->
`queue:main` (two slots unless hash-tagged, e.g. `queue:{main}:dlq` -> `queue:{main}`)
cannot be one MULTI/EXEC. Keys of one slot keep the one-transaction move of `moves`; keys of
two slots go through a staging list, one chunk at a time.

Names (the `{tag}` puts a key in a chosen slot; see `tag_for`):

    STAGE = ferrite-tui:inflight:{tag of SRC}:<run>:<chunk>:<L|R>:<DST in hex>
    MARK  = ferrite-tui:delivered:{tag of DST}:<run>:<chunk>

STAGE lives in SRC's slot, MARK in DST's. STAGE's name says where its values go and from
which end (L: LPUSH, R: RPUSH), so a staged chunk can be finished by any console.

Per chunk:

    (a) stage    on SRC's node: the one-slot exactly-once move of `moves` (WATCH SRC, check
                 the values, MULTI; LREM/LTRIM SRC; RPUSH STAGE <new values>; EXEC).
    (b) deliver  on DST's node: WATCH MARK DST; GET MARK; TYPE DST; read STAGE (SRC's
                 node); then MULTI; RPUSH|LPUSH DST <values>; SET MARK <now ms>; EXEC.
                 DST is watched because EXEC does not roll back: a push refused for the
                 wrong type must not leave MARK set, so the type is checked under WATCH.
    (c) clean    DEL STAGE (SRC's node), then DEL MARK (DST's node).

Where each item is, whatever happens: in SRC; or in STAGE without MARK ("in flight": shown
by the console, which offers to finish it); or in DST (a STAGE whose MARK exists is a spent
copy waiting for (c)). Crash cases, and what resuming (`finish_inflight`) does:

    - before (a)'s EXEC: nothing moved (the values are in SRC). Nothing to do.
    - after (a), before (b)'s EXEC: the chunk is in STAGE, no MARK. Resume runs (b), (c).
    - after (b), before DEL STAGE: in DST, STAGE and MARK both exist. Resume sees MARK:
      deletes STAGE without pushing (no double), then MARK.
    - after DEL STAGE, before DEL MARK: in DST; a MARK without its STAGE is left. Resume
      deletes such markers once they are older than `ORPHAN_MARK_AGE_MS` (a younger one
      may belong to a move still running elsewhere).

Two consoles finishing the same chunk at once cannot both push it: (b) runs under WATCH
MARK, and the other's SET MARK aborts the slower EXEC, which then finds MARK and only cleans.
Consumers popping DST may abort (b) too; it retries (jittered), and after
`DELIVER_ATTEMPTS` the chunk stays in flight, reported, never half-done.
A value pushed to DST in (b) is exactly the value staged in (a) (already transformed, e.g.
the requeued envelope), so a resumed chunk delivers what the original run would have.

Cost per chunk: (a) 2 round trips, (b) 3, (c) 2; chunks stay small (the caller's chunk
size), so no command runs long.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from binascii import crc_hqx
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ferrite_tui.backend import bulk, slotmoves
from ferrite_tui.backend.client import Client
from ferrite_tui.backend.cluster import CrossSlotError
from ferrite_tui.backend.clusterwire import slot_of
from ferrite_tui.backend.connection import describe_error
from ferrite_tui.backend.discovery import INTERNAL_PREFIX
from ferrite_tui.backend.envelopes import key_text
from ferrite_tui.backend.errors import BackendError
from ferrite_tui.backend.movebase import exchange_replicated, pinned, replica_wait

STAGE_PREFIX = INTERNAL_PREFIX + "inflight:"
MARK_PREFIX = INTERNAL_PREFIX + "delivered:"
ORPHAN_MARK_AGE_MS = 10 * 60_000
#: A staged chunk is never longer than this (the callers' chunks are smaller).
MAX_STAGE = 10_000
#: Attempts of (b) while others keep touching DST or MARK (the chunk then stays in flight).
DELIVER_ATTEMPTS = 60

#: Test hook: awaited at each step ("staging" before (a), then after each: "staged",
#: "delivered", "cleaned-stage", "cleaned-mark") with the chunk's STAGE key, so a test can
#: SIGKILL the process exactly there.
after_step: Callable[[str, str], Awaitable[None] | None] | None = None

_SLOT_TAGS: dict[int, str] = {}


def slot_tag(slot: int) -> str:
    """A short string whose hash slot is `slot`: the first hex number that hashes there
    (a few thousand CRCs in C, once per slot; the answer is kept)."""
    tag = _SLOT_TAGS.get(slot)
    if tag is None:
        i = 0
        while crc_hqx(b"%x" % i, 0) % 16384 != slot:  # no braces: the whole tag is hashed
            i += 1
        tag = _SLOT_TAGS[slot] = format(i, "x")
    return tag


def tag_for(key: str) -> str:
    """A hash tag that puts a key of ours in `key`'s slot: `key`'s own tag if it has one,
    else `key` itself when it holds no `}` (then `{key}` hashes as `key` does), else a
    searched one."""
    start = key.find("{")
    if start >= 0:
        end = key.find("}", start + 1)
        if end > start + 1:
            return key[start + 1:end]
    if "}" not in key:
        return key
    return slot_tag(slot_of(key))


def needs_staging(client: Client, src: str, dst: str | None) -> bool:
    """True on a cluster when src and dst hash to different slots."""
    return client.cluster is not None and dst is not None and slot_of(src) != slot_of(dst)


@dataclass(frozen=True)
class Staged:
    """One staged chunk, parsed from its STAGE key name."""

    stage: str
    src_slot: int
    run: str
    chunk: int
    push_left: bool
    dst: str

    @property
    def mark(self) -> str:
        return f"{MARK_PREFIX}{{{tag_for(self.dst)}}}:{self.run}:{self.chunk}"

    @classmethod
    def parse(cls, stage: str) -> Staged | None:
        if not stage.startswith(STAGE_PREFIX):
            return None
        rest = stage[len(STAGE_PREFIX):]
        close = rest.find("}")  # our tag holds no "}" (see tag_for)
        if not rest.startswith("{") or close < 0 or rest[close + 1:close + 2] != ":":
            return None
        try:
            run, chunk, side, dst_hex = rest[close + 2:].split(":", 3)
            dst = bytes.fromhex(dst_hex).decode("utf-8", "surrogateescape")
            if side not in ("L", "R"):
                return None
            return cls(stage, slot_of(stage), run, int(chunk), side == "L", dst)
        except ValueError:
            return None


def stage_key(src: str, dst: str, run: str, chunk: int, push_left: bool) -> str:
    dst_hex = dst.encode("utf-8", "surrogateescape").hex()
    side = "L" if push_left else "R"
    return f"{STAGE_PREFIX}{{{tag_for(src)}}}:{run}:{chunk}:{side}:{dst_hex}"


async def _step(name: str, stage: str) -> None:
    if after_step is not None:
        pending = after_step(name, stage)
        if pending is not None:
            await pending


class CrossSlotRun:
    """Chunks of one operator action between two slots share a run id."""

    def __init__(self) -> None:
        self.run = secrets.token_hex(4)
        self.chunks = 0

    def next_stage(self, src: str, dst: str, push_left: bool) -> str:
        self.chunks += 1
        return stage_key(src, dst, self.run, self.chunks, push_left)


_RUN = CrossSlotRun()


def _current_run() -> CrossSlotRun:
    """The running bulk run's own run id (its staging is its own to deliver after a node
    failure), else the console's."""
    state = bulk.run_state()
    if state is None:
        return _RUN
    if not isinstance(state.crossslot_run, CrossSlotRun):
        state.crossslot_run = CrossSlotRun()
    return state.crossslot_run


def _note_staged(stage: str, n: int | None) -> None:
    state = bulk.run_state()
    if state is not None:
        state.deliver_staged = deliver_staged  # the run delivers it after a node failure
        if n == 0:
            state.staged.pop(stage, None)
        else:
            state.staged[stage] = n


async def _check_target(client: Client, dst: str) -> None:
    kind = await client.for_keys(dst).redis.type(dst)
    name = kind.decode() if isinstance(kind, bytes) else str(kind)
    if name not in ("list", "none"):
        raise BackendError(f"{dst} is not a list: nothing was moved")


async def move_values(client: Client, src: str, dst: str, items: Sequence[Any], *,
                      transform: Callable[[Any], bytes], push_left: bool) -> Any:
    """`moves.move_values` between two slots: (a) stage, (b) deliver, (c) clean."""

    bulk.note_client(client)
    await _check_target(client, dst)
    stage = _current_run().next_stage(src, dst, push_left)
    await _step("staging", stage)
    _note_staged(stage, None)  # from here on, a lost answer leaves the staging unknown
    res = await slotmoves.move_values(client.for_keys(src, stage), src, stage, items,
                                  transform=transform, settle=False)
    return await _finish_chunk(client, stage, res)


async def take_head(client: Client, src: str, dst: str, count: int, *,
                    transform: Callable[[Any], bytes], push_left: bool,
                    stop_at: bytes | None,
                    pop_head: Callable[..., Awaitable[Any]] | None = None) -> Any:
    """`moves.take_head` between two slots: (a) stage, (b) deliver, (c) clean. `pop_head`:
    as in `slotmoves.take_head`."""

    bulk.note_client(client)
    await _check_target(client, dst)
    stage = _current_run().next_stage(src, dst, push_left)
    await _step("staging", stage)
    _note_staged(stage, None)
    res = await slotmoves.take_head(client.for_keys(src, stage), src, stage, count,
                                transform=transform, stop_at=stop_at, settle=False,
                                pop_head=pop_head)
    return await _finish_chunk(client, stage, res)


async def _finish_chunk(client: Client, stage: str, res: Any) -> Any:
    _note_staged(stage, len(res.moved))
    if not res.moved:
        return res
    await _step("staged", stage)
    staged = Staged.parse(stage)
    assert staged is not None
    try:
        await deliver(client, staged)
    except Exception as exc:
        if bulk.run_state() is not None and bulk.is_node_failure(exc):
            raise  # the bulk run waits for the node and delivers this chunk itself
        why = exc if isinstance(exc, BackendError) else describe_error(exc)
        res.failed.extend(it for it, _ in res.moved)
        res.errors.append(f"{len(res.moved)} item(s) left in flight in {stage} "
                          f"(not lost; finish them from the console): {why}")
        res.moved = []
        _note_staged(stage, 0)  # reported in flight; the console's f finishes it
        return res
    _note_staged(stage, 0)
    bulk.note_settled(len(res.moved))
    return res


async def deliver(client: Client, staged: Staged) -> int:
    """(b) then (c) for one staged chunk; returns the number of values pushed (0 when an
    earlier run had already delivered it)."""
    dst_client = client.for_keys(staged.dst, staged.mark)
    src_client = client.for_keys(staged.stage)
    wait = await replica_wait(dst_client)  # the push is on a replica before STAGE goes
    pushed = 0
    for attempt in range(DELIVER_ATTEMPTS):
        async with pinned(dst_client) as c:
            # DST is watched too: EXEC does not roll back, so a push refused for the wrong
            # type would still set MARK. The type is checked under the watch instead.
            watch, mark, kind = await c.exchange([("WATCH", staged.mark, staged.dst),
                                                  ("GET", staged.mark), ("TYPE", staged.dst)])
            for reply in (watch, mark, kind):
                if isinstance(reply, Exception):
                    raise BackendError(f"cannot check {staged.mark}: {reply}")
            if mark is not None:
                await c.exchange([("UNWATCH",)])
                break
            if kind not in (b"list", b"none", "list", "none"):
                await c.exchange([("UNWATCH",)])
                raise BackendError(f"{staged.dst} is not a list")
            values = await src_client.redis.lrange(staged.stage, 0, MAX_STAGE - 1)
            if not values:  # delivered and cleaned by another console meanwhile
                await c.exchange([("UNWATCH",)])
                break
            push = "LPUSH" if staged.push_left else "RPUSH"
            replies = await exchange_replicated(c, [
                ("MULTI",), (push, staged.dst, *values),
                ("SET", staged.mark, client.server_now_ms()), ("EXEC",)], wait)
            exec_reply = replies[-1]
            if exec_reply is None:  # DST or MARK touched meanwhile: look again
                await asyncio.sleep(random.uniform(0, min(0.002 * (attempt + 1), 0.05)))
                continue
            bad = [r for r in replies if isinstance(r, Exception)]
            if isinstance(exec_reply, Exception) or bad:
                raise BackendError(f"push to {staged.dst} failed: {(bad or [exec_reply])[0]}")
            if isinstance(exec_reply[0], Exception):
                raise BackendError(f"push to {staged.dst} failed: {exec_reply[0]}")
            pushed = len(values)
            break
    else:
        raise BackendError(f"{staged.mark} kept changing: chunk left in flight")
    await _step("delivered", staged.stage)
    await src_client.redis.delete(staged.stage)
    await _step("cleaned-stage", staged.stage)
    await dst_client.redis.delete(staged.mark)
    await _step("cleaned-mark", staged.stage)
    return pushed


class Landing:
    """Where a one-slot transaction on `src` pushes values meant for `dst`: `dst` itself
    when both share a slot, else a fresh STAGE in src's slot (step (a) is then the caller's
    own MULTI/EXEC, e.g. ZREM scheduled + RPUSH STAGE). `land()` runs (b) and (c) after it.

        landing = Landing(client, src, dst)
        ... MULTI; <remove from src>; RPUSH landing.key <values>; EXEC ...
        await landing.land()
    """

    def __init__(self, client: Client, src: str, dst: str, push_left: bool = False) -> None:
        self.client = client
        self.stage = _current_run().next_stage(src, dst, push_left) \
            if needs_staging(client, src, dst) else None
        self.key = self.stage or dst
        if self.stage is not None:
            bulk.note_client(client)
            _note_staged(self.stage, None)  # the caller's transaction may stage values

    async def land(self) -> None:
        """Deliver what was staged (nothing when the transaction staged nothing). Raises a
        BackendError saying the values are in flight when delivery fails."""
        if self.stage is None:
            return
        staged = Staged.parse(self.stage)
        assert staged is not None
        if not await self.client.for_keys(self.stage).redis.exists(self.stage):
            _note_staged(self.stage, 0)
            return
        await _step("staged", self.stage)
        try:
            await deliver(self.client, staged)
        except Exception as exc:
            if bulk.run_state() is not None and bulk.is_node_failure(exc):
                raise
            _note_staged(self.stage, 0)
            why = exc if isinstance(exc, BackendError) else describe_error(exc)
            raise BackendError(f"moved out, but left in flight in {self.stage} (not lost; "
                               f"Server panel, f finishes it): {why}") from exc
        _note_staged(self.stage, 0)


# -- in flight: what a crash left, and finishing it -------------------------------------------

@dataclass
class InFlight:
    chunks: list[tuple[Staged, int, bool]] = field(default_factory=list)  # (chunk, len, marked)

    @property
    def items(self) -> int:
        """Items in flight: staged and not yet delivered."""
        return sum(n for _, n, marked in self.chunks if not marked)


@dataclass
class FinishReport:
    delivered: int = 0  # values pushed to their target now
    chunks: int = 0  # staged chunks finished
    already: int = 0  # chunks an earlier run had delivered (only cleaned now)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (f"{self.delivered} item(s) delivered from {self.chunks} chunk(s) in flight"
                f" ({self.already} already delivered, cleaned)")
        if self.errors:
            text += f"; {len(self.errors)} failed, first: {self.errors[0]}"
        return text


async def _scan_keys(client: Client, pattern: str) -> list[str]:
    found: list[str] = []
    cursor: Any = b"0"
    while True:
        (reply,) = await client.raw_pipeline([("SCAN", cursor, "MATCH", pattern,
                                               "COUNT", 1000)])
        if isinstance(reply, Exception):
            raise reply
        cursor, batch = reply
        found += [key_text(k) for k in batch]
        if cursor in (b"0", 0):
            return found


async def inflight(client: Client) -> InFlight:
    """Every staged chunk on the server (one SCAN pass), with its length and whether it was
    already delivered."""
    out = InFlight()
    stages = [s for s in map(Staged.parse, await _scan_keys(client, STAGE_PREFIX + "*")) if s]
    if not stages:
        return out
    lengths = await client.raw_pipeline([("LLEN", s.stage) for s in stages])
    marks = await client.raw_pipeline([("EXISTS", s.mark) for s in stages])
    for s, n, m in zip(stages, lengths, marks):
        out.chunks.append((s, n if isinstance(n, int) else 0, m == 1))
    return out


async def finish_inflight(client: Client) -> FinishReport:
    """Resume after a crash: deliver every staged chunk not yet delivered, clean the rest,
    and drop old markers whose chunk is gone."""
    client.guard("finish moves in flight")
    report = FinishReport()
    found = await inflight(client)
    for staged, _n, _marked in sorted(found.chunks, key=lambda c: (c[0].run, c[0].chunk)):
        try:
            pushed = await deliver(client, staged)
        except (BackendError, CrossSlotError) as exc:
            report.errors.append(str(exc))
            continue
        except Exception as exc:
            report.errors.append(describe_error(exc))
            continue
        report.chunks += 1
        report.delivered += pushed
        if pushed == 0:
            report.already += 1
        if pushed:
            client.audit("finish move in flight", [staged.stage, staged.dst], pushed)
    known = {(s.run, s.chunk) for s, _, _ in found.chunks}
    now = client.server_now_ms()  # marks carry the server's time (any console wrote them)
    for mark in await _scan_keys(client, MARK_PREFIX + "*"):
        try:
            run, chunk = mark.rsplit(":", 2)[-2:]
            if (run, int(chunk)) in known:
                continue
        except ValueError:
            continue
        value = await client.for_keys(mark).redis.get(mark)
        try:
            age = now - int(value or b"")
        except ValueError:
            continue
        if age >= ORPHAN_MARK_AGE_MS:
            await client.for_keys(mark).redis.delete(mark)
    return report


async def deliver_staged(client: Any, state: bulk.RunState) -> int:
    """Deliver what this run left staged between slots (see crossslot); returns how many
    items those chunks held (now in their target, whether pushed now or before the
    failure). A chunk whose STAGE and marker are both absent was never staged, or its
    staging was lost with a node's last unreplicated writes: its values are in the source,
    and the retry moves them."""
    total = 0
    for stage, known in list(state.staged.items()):
        staged = Staged.parse(stage)
        if staged is None:
            state.staged.pop(stage)
            continue
        (length,) = await client.for_keys(stage).raw_pipeline([("LLEN", stage)])
        (marked,) = await client.for_keys(staged.mark).raw_pipeline([("EXISTS", staged.mark)])
        for reply in (length, marked):
            if isinstance(reply, Exception):
                raise reply
        if length or marked:
            await deliver(client, staged)
            total += known if known is not None else int(length)
        state.staged.pop(stage)
    return total
