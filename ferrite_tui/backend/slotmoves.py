"""Exactly-once moves of exact list values within one hash slot, without Lua.

Every move names the raw values the operator saw. One chunk is one optimistic transaction
on a connection of its own:

    round trip 1:  WATCH src dst ; TYPE dst ; LPOS src <raw> RANK ±1 COUNT n MAXLEN m  (per value)
    round trip 2:  MULTI ; LREM src ±n <raw> ... ; RPUSH|LPUSH dst <new> ... ; EXEC

Only the values LPOS found are named in the MULTI, and EXEC runs only if nobody touched `src`
or `dst` since WATCH (otherwise it answers nil and the chunk is re-checked and retried). `dst`
is watched because its type, checked after WATCH, must still hold at EXEC: a push that failed
inside EXEC would leave the removed values nowhere, and there is no undo inside a
transaction. So there is no restore path at all: at every moment each item is either in
`src` or in `dst`, never both, never neither. A value no longer in `src` is skipped and
reported. If the console dies between chunks, or even between the two round trips, nothing
has moved for the chunk in flight (EXEC never ran).

Cost: LPOS and LREM scan from the nearer end of the list, bounded by the position where the
value was seen (MAXLEN), so commands stay short near either end; callers size chunks with
`chunk_budget` so that one transaction scans a bounded number of elements.

`take_head` is the fast path for "everything from the head": WATCH ; LRANGE 0 k-1, then
MULTI ; LTRIM src k -1 ; RPUSH dst ... ; EXEC. No value is compared at all. On a list that
producers push to all the time the WATCH never holds; where the server runs Lua, the head is
then taken by a script that checks it is still exactly what was read (pushes at the tail do
not change it), so "all of a busy list" still finishes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis import exceptions as rexc

from ferrite_tui.backend import bulk
from ferrite_tui.backend.client import Client
from ferrite_tui.backend.errors import BackendError
from ferrite_tui.backend.movebase import (
    MAX_ATTEMPTS,
    SCAN_BUDGET,
    SEARCH_BUDGET,
    SLACK,
    TAIL_SLACK,
    Item,
    KeepInPlace,
    MoveResult,
    backoff,
    check_exec,
    exchange_replicated,
    kept_in_place,
    pinned,
    replica_wait,
)


def _rewrite(src: str, pairs: Sequence[tuple[Item, Any]],
             transform: Callable[[Item], bytes],
             result: MoveResult) -> list[tuple[Item, Any, bytes]]:
    """(item, extra, new value) for the items the transform rewrites; the ones it refuses
    go to result.kept with a line naming their position."""
    out: list[tuple[Item, Any, bytes]] = []
    for item, extra in pairs:
        try:
            out.append((item, extra, transform(item)))
        except KeepInPlace as why:
            result.kept.append(item)
            result.errors.append(kept_in_place(src, item, why))
    return out


def _watch(src: str, dst: str | None) -> tuple:
    """WATCH the source and the target: the target's type is checked after it, and the
    push inside EXEC relies on that check still holding."""
    return ("WATCH", src) if dst is None or dst == src else ("WATCH", src, dst)


def _push_failed(src: str, dst: str | None, error: Any, n: int) -> str:
    return f"push to {dst} failed inside the transaction after {n} values left {src}: {error}"


def _type_ok(reply: Any) -> bool:
    if isinstance(reply, Exception):
        return True  # TYPE itself unsupported: the push will tell
    name = reply.decode() if isinstance(reply, bytes) else str(reply)
    return name in ("list", "none")


def _head_bound(items: Sequence[Item]) -> int:
    """How far from the head these items can be now: where they were seen, plus slack."""
    return max((i.pos for i in items if i.pos is not None), default=0) + 1 + SLACK


def _lpos_args(src: str, item: Item, count: int) -> tuple:
    if item.pos is None:
        return ("LPOS", src, item.raw, "COUNT", count)
    if item.from_tail():
        maxlen = (item.seen_len - item.pos) + TAIL_SLACK  # type: ignore[operator]
        return ("LPOS", src, item.raw, "RANK", -1, "COUNT", count, "MAXLEN", maxlen)
    return ("LPOS", src, item.raw, "COUNT", count, "MAXLEN", item.pos + 1 + SLACK)


#: Padding either side of a dense chunk's positions for the one-LRANGE check.
DENSE_PAD = 256


def _dense_window(items: Sequence[Item]) -> tuple[int, int] | None:
    """For items seen close together near the head: the LRANGE bounds that cover them."""
    if any(i.pos is None or i.from_tail() for i in items):
        return None
    positions = [i.pos for i in items if i.pos is not None]
    lo, hi = min(positions), max(positions)
    if hi - lo > 4 * len(items) + DENSE_PAD:
        return None
    return max(0, lo - DENSE_PAD), hi + DENSE_PAD


#: Attempts a chunk of several items gets before it is split in two (under contention a
#: smaller chunk holds its WATCH for less time, so it gets through).
SPLIT_AFTER = 4
#: Servers (by URL) found without LMOVE: a busy list's head is taken in smaller chunks.
_no_lmove: dict[str, bool] = {}


async def move_values(client: Client, src: str, dst: str | None, items: Sequence[Item], *,
                      transform: Callable[[Item], bytes] = lambda it: it.raw,
                      push_left: bool = False, settle: bool = True) -> MoveResult:
    """Move (or, with dst None, remove) exactly these values: one atomic transaction, or,
    while other writers keep invalidating its WATCH, halves of it (each atomic).

    `settle`: tell a running bulk run how many items each transaction finished (off for
    the staging step of a move between slots, which is not finished until delivered)."""
    bulk.note_client(client)
    several = len(items) > 1
    res = await _move_chunk(client, src, dst, items, transform=transform,
                            push_left=push_left,
                            max_attempts=SPLIT_AFTER if several else MAX_ATTEMPTS)
    if res is not None:
        if settle:
            bulk.note_settled(len(res.moved))
        return res
    if not several:
        if client.capabilities.lua:
            # A list this busy starves optimistic transactions: where the server runs Lua,
            # the same conditional move runs as one script (probed fast path).
            res = await lua_move(client, src, dst, items, transform=transform,
                                 push_left=push_left)
            if settle:
                bulk.note_settled(len(res.moved))
            return res
        res = MoveResult(failed=list(items), attempts=MAX_ATTEMPTS)
        res.errors.append(f"{src} kept changing: gave up after {MAX_ATTEMPTS} attempts "
                          "(the values were left where they were)")
        return res
    half = len(items) // 2
    first = await move_values(client, src, dst, items[:half], transform=transform,
                              push_left=push_left, settle=settle)
    second = await move_values(client, src, dst, items[half:], transform=transform,
                               push_left=push_left, settle=settle)
    return MoveResult(moved=first.moved + second.moved, missing=first.missing + second.missing,
                      failed=first.failed + second.failed, kept=first.kept + second.kept,
                      errors=first.errors + second.errors,
                      attempts=first.attempts + second.attempts + SPLIT_AFTER)


async def _move_chunk(client: Client, src: str, dst: str | None, items: Sequence[Item], *,
                      transform: Callable[[Item], bytes], push_left: bool,
                      max_attempts: int) -> MoveResult | None:
    """One chunk, atomically; None when the WATCH kept failing max_attempts times.

    Check (after WATCH): one LRANGE over the window where a dense chunk was seen, else one
    LPOS per value bounded by where it was seen (LRANGE windows on servers without LPOS).
    Move: LTRIM when the values are exactly the head of the list, else LREM per value from
    the nearer end; then one RPUSH/LPUSH of the new values; all in one MULTI/EXEC."""
    result = MoveResult()
    if not items:
        return result
    wanted: dict[bytes, list[Item]] = {}
    for item in items:
        wanted.setdefault(item.raw, []).append(item)
    groups = list(wanted.items())
    use_lpos = client.capabilities.lpos
    dense = _dense_window(items)
    wait = await replica_wait(client)
    for attempt in range(1, max_attempts + 1):
        result.attempts = attempt
        async with pinned(client) as c:
            cmds: list[tuple] = [_watch(src, dst), ("TYPE", dst or src)]
            if dense is not None:
                cmds.append(("LRANGE", src, dense[0], dense[1]))
            elif use_lpos:
                # The nearest item of each value decides the direction and bound.
                for _raw, its in groups:
                    first = min(its, key=lambda i: i.distance())
                    cmds.append(_lpos_args(src, first, len(its)))
            else:
                lo, hi = _window(items)
                cmds.append(("LRANGE", src, lo, hi))
            replies = await c.exchange(cmds)
            if dst is not None and not _type_ok(replies[1]):
                await c.exchange([("UNWATCH",)])
                raise BackendError(f"{dst} is not a list: nothing was moved")
            window: list[bytes] | None = None
            if dense is not None:
                window = replies[2]
                if isinstance(window, Exception):
                    raise BackendError(f"LRANGE failed: {window}")
                found = _found_counts(groups, [window], False)
            else:
                found = _found_counts(groups, replies[2:], use_lpos)
            from_head: set[bytes] = set()
            unsure: list[Item] = []
            # (A value never seen at a position was already searched for in the whole list.)
            short = [(raw, its) for raw, its in groups
                     if found[raw] < len(its) and any(i.pos is not None for i in its)]
            if short and use_lpos:
                # Not where they were seen: search on (WATCH still holds) before calling
                # anything gone. Pushes at the tail move an item away from the tail but
                # never away from the head, so look from the head, as far as the scan
                # budget allows; whatever is beyond that is "not found", not "gone".
                share = min(SCAN_BUDGET, SEARCH_BUDGET // len(short))
                bounds = [max(share, _head_bound(its)) for _, its in short]
                extra = await c.exchange([("LLEN", src)] + [
                    ("LPOS", src, raw, "COUNT", len(its), "MAXLEN", bound)
                    for (raw, its), bound in zip(short, bounds)])
                length = extra[0] if isinstance(extra[0], int) else None
                again = _found_counts(short, extra[1:], True)
                for (raw, its), bound in zip(short, bounds):
                    if again[raw] > found[raw]:
                        found[raw] = again[raw]
                        from_head.add(raw)
                    if found[raw] < len(its) and (length is None or length > bound):
                        unsure.extend(its[found[raw]:])
            present: list[tuple[Item, bool]] = []  # (item, from_tail)
            missing: list[Item] = []
            for raw, its in groups:
                n = found.get(raw, 0)
                present.extend((it, it.from_tail() and raw not in from_head) for it in its[:n])
                missing.extend(it for it in its[n:] if it not in unsure)
            result.failed, result.kept, result.errors = [], [], []  # this attempt's
            if unsure:
                result.failed = list(unsure)
                result.errors.append(
                    f"{len(unsure)} values were not found within {share:,} elements of {src}"
                    f" (it holds {length if length is not None else '?'}): not touched, and not "
                    "counted as gone")
            if dst is not None:
                # Rewritten before anything is removed: a value the transform refuses is
                # simply not named in the transaction, so it stays where it is.
                rewritten = _rewrite(src, present, transform, result)
                present = [(it, tail) for it, tail, _ in rewritten]
                new_values = [new for _, _, new in rewritten]
            else:
                new_values = []
            if not present:
                replies = await c.exchange([("UNWATCH",), ("EXISTS", src)])
                result.missing = missing
                # Nothing found, and no such key: the list itself went away (an empty list
                # does not exist either), so the values did not go one by one.
                result.src_gone = bool(missing) and replies[1] == 0
                return result
            counts: Counter = Counter(it.raw for it, _ in present)
            removal: list[tuple]
            if window is not None and dense is not None and dense[0] == 0 \
                    and Counter(window[:len(present)]) == counts:
                removal = [("LTRIM", src, len(present), -1)]  # exactly the head: cut it off
            else:
                tails: dict[bytes, bool] = {}
                for it, tail in present:
                    tails.setdefault(it.raw, tail)
                removal = [("LREM", src, -n if tails[raw] else n, raw)
                           for raw, n in counts.items()]
            tx: list[tuple] = [("MULTI",), *removal]
            if dst is not None:
                tx.append(("LPUSH" if push_left else "RPUSH", dst, *new_values))
            tx.append(("EXEC",))
            replies = await exchange_replicated(c, tx, wait)
            for reply in replies[:-1]:
                check_exec(reply, client)
            exec_reply = replies[-1]
            if exec_reply is None:  # someone touched src: re-check and retry
                await backoff(attempt)
                continue
            if isinstance(exec_reply, Exception):
                raise BackendError(f"transaction failed: {exec_reply}")
            removed = exec_reply[: len(removal)]
            pushed = exec_reply[len(removal)] if dst is not None else None
            if isinstance(pushed, Exception):
                # Cannot happen while dst's type is watched; say exactly what it means.
                raise BackendError(_push_failed(src, dst, pushed, len(present)))
            bad = [r for r in removed if isinstance(r, Exception)]
            if bad:
                raise BackendError(f"removal failed: {bad[0]}")
            result.moved = [(it, new) for (it, _), new in
                            zip(present, new_values or [it.raw for it, _ in present])]
            result.missing = missing
            return result
    return None


# KEYS: src, dst. ARGV: push mode (R, L or -), then per item: LREM count (1 or -1), LPOS
# RANK (1 or -1), LPOS MAXLEN (0: none), raw value, new value. Returns 1/0 per item.
# The target's type is checked first, so a removal is never left without its push.
LUA_MOVE = """
local t = redis.call('TYPE', KEYS[2]).ok
if ARGV[1] ~= '-' and t ~= 'list' and t ~= 'none' then
  return redis.error_reply('target is not a list')
end
local out = {}
for i = 2, #ARGV, 5 do
  local found = redis.call('LPOS', KEYS[1], ARGV[i + 3], 'RANK', tonumber(ARGV[i + 1]),
                           'MAXLEN', tonumber(ARGV[i + 2]))
  local n = 0
  if found then
    n = redis.call('LREM', KEYS[1], tonumber(ARGV[i]), ARGV[i + 3])
    if n > 0 then
      if ARGV[1] == 'R' then redis.call('RPUSH', KEYS[2], ARGV[i + 4])
      elseif ARGV[1] == 'L' then redis.call('LPUSH', KEYS[2], ARGV[i + 4]) end
    end
  end
  out[#out + 1] = n
end
return out
"""


async def lua_move(client: Client, src: str, dst: str | None, items: Sequence[Item], *,
                   transform: Callable[[Item], bytes] = lambda it: it.raw,
                   push_left: bool = False) -> MoveResult:
    """The conditional move as one Lua script (only where `capabilities.lua` and LPOS)."""
    result = MoveResult(attempts=1)
    if not client.capabilities.lpos:
        result.failed = list(items)
        result.errors.append(f"{src} kept changing and this server has no LPOS for Lua")
        return result
    args: list[Any] = ["-" if dst is None else ("L" if push_left else "R")]
    if dst is not None:
        rewritten = _rewrite(src, [(it, None) for it in items], transform, result)
        items = [it for it, _, _ in rewritten]
        new_of = [new for _, _, new in rewritten]
    else:
        new_of = [it.raw for it in items]
    if not items:
        return result
    news = []
    for it, new in zip(items, new_of):
        tail = it.from_tail()
        if it.pos is None:
            maxlen = 0
        elif tail:
            maxlen = (it.seen_len - it.pos) + TAIL_SLACK  # type: ignore[operator]
        else:
            maxlen = it.pos + 1 + SLACK
        news.append(new)
        args += [-1 if tail else 1, -1 if tail else 1, maxlen, it.raw, new]
    try:
        out = await client.redis.eval(LUA_MOVE, 2, src, dst or src, *args)
    except rexc.ResponseError as exc:
        raise BackendError(f"move script failed: {exc}") from None
    for it, new, n in zip(items, news, out):
        if int(n):
            result.moved.append((it, new))
        else:
            result.missing.append(it)
    return result


def _window(items: Sequence[Item]) -> tuple[int, int]:
    """LRANGE bounds covering where the items were seen (fallback without LPOS)."""
    positions = [i.pos for i in items if i.pos is not None]
    if len(positions) < len(items):
        return 0, -1
    return max(0, min(positions) - SLACK), max(positions) + SLACK


def _found_counts(groups: list[tuple[bytes, list[Item]]], replies: list[Any],
                  use_lpos: bool) -> dict[bytes, int]:
    found: dict[bytes, int] = {}
    if use_lpos:
        for (raw, its), reply in zip(groups, replies):
            if isinstance(reply, Exception):
                raise BackendError(f"LPOS failed: {reply}")
            found[raw] = min(len(reply or []), len(its))
        return found
    window = replies[0]
    if isinstance(window, Exception):
        raise BackendError(f"LRANGE failed: {window}")
    have = Counter(window)
    for raw, its in groups:
        found[raw] = min(have.get(raw, 0), len(its))
    return found


async def take_head(client: Client, src: str, dst: str | None, count: int, *,
                    transform: Callable[[Item], bytes] = lambda it: it.raw,
                    push_left: bool = False, stop_at: bytes | None = None,
                    settle: bool = True,
                    pop_head: Callable[..., Awaitable[MoveResult]] | None = None) -> MoveResult:
    """Move (dst None: delete) up to `count` values from the head of src, atomically. With
    `stop_at`, stop after (and including) the first element equal to it. `settle`: as in
    `move_values`. `pop_head` (headpop's, passed in by the entry point: it stages through
    crossslot's bookkeeping, which sits above this module) takes a busy list's head where
    neither WATCH nor Lua does."""
    bulk.note_client(client)
    result = MoveResult()
    if count <= 0:
        return result
    limit = SPLIT_AFTER if count > 1 else MAX_ATTEMPTS
    wait = await replica_wait(client)
    for attempt in range(1, limit + 1):
        result.attempts = attempt
        async with pinned(client) as c:
            replies = await c.exchange([_watch(src, dst), ("TYPE", dst or src),
                                        ("LRANGE", src, 0, count - 1)])
            if dst is not None and not _type_ok(replies[1]):
                await c.exchange([("UNWATCH",)])
                raise BackendError(f"{dst} is not a list: nothing was moved")
            values = replies[2]
            if isinstance(values, Exception):
                await c.exchange([("UNWATCH",)])
                raise BackendError(f"cannot read {src}: {values}")
            if stop_at is not None and stop_at in values:
                values = values[: values.index(stop_at) + 1]
                result.reached_stop = True
            if not values:
                await c.exchange([("UNWATCH",)])
                result.src_gone = True  # an empty list does not exist: nothing is left
                return result
            items = [Item(v, i) for i, v in enumerate(values)]
            result.kept, result.errors = [], []  # this attempt's
            if dst is not None:
                rewritten = _rewrite(src, [(it, None) for it in items], transform, result)
                moving = [(it, new) for it, _, new in rewritten]
            else:
                moving = [(it, it.raw) for it in items]
            if not moving:
                await c.exchange([("UNWATCH",)])
                return result
            # The head is cut off; values the transform refused go back to the head in
            # their order, in the same transaction, so they never leave the list.
            kept = [it.raw for it in result.kept]
            tx: list[tuple] = [("MULTI",), ("LTRIM", src, len(values), -1)]
            if kept:
                tx.append(("LPUSH", src, *reversed(kept)))
            if dst is not None:
                tx.append(("LPUSH" if push_left else "RPUSH", dst, *[n for _, n in moving]))
            replies = await exchange_replicated(c, [*tx, ("EXEC",)], wait)
            for reply in replies[:-1]:
                check_exec(reply, client)
            exec_reply = replies[-1]
            if exec_reply is None:
                result.reached_stop = False
                await backoff(attempt)
                continue
            if isinstance(exec_reply, Exception):
                raise BackendError(f"transaction failed: {exec_reply}")
            if dst is not None and isinstance(exec_reply[-1], Exception):
                raise BackendError(_push_failed(src, dst, exec_reply[-1], len(values)))
            result.moved = moving
            if settle:
                bulk.note_settled(len(moving))
            return result
    if client.capabilities.lua:
        # Producers keep pushing (a WATCH on the list never holds): where the server runs
        # Lua, the head is taken by a script that checks it is still what was read, which
        # pushes at the tail do not change (probed fast path).
        result = await _lua_take_head(client, src, dst, count, transform=transform,
                                      push_left=push_left, stop_at=stop_at)
        if settle:
            bulk.note_settled(len(result.moved))
        return result
    if (pop_head is not None and not client.capabilities.lua
            and not _no_lmove.get(client.settings.url)):
        # No Lua either: the head is taken by atomic pops through a staging list, which
        # needs nothing to stand still (see headpop).
        try:
            return await pop_head(client, src, dst, count, transform=transform,
                                  push_left=push_left, stop_at=stop_at, settle=settle)
        except BackendError as exc:
            if "unknown command" not in str(exc).lower():
                raise
            _no_lmove[client.settings.url] = True  # a server without LMOVE: smaller chunks
    if count > 1:
        # Others keep touching src: a smaller chunk holds its WATCH for less time.
        return await take_head(client, src, dst, count // 2, transform=transform,
                               push_left=push_left, stop_at=stop_at, settle=settle,
                               pop_head=pop_head)
    result.reached_stop = False
    result.errors.append(f"{src} kept changing: gave up after {MAX_ATTEMPTS} attempts")
    return result


# KEYS: src, dst. ARGV: push mode (R, L or -), n (values read at the head), k (of them kept:
# refused by the transform, put back at the head), then the n values read, the k kept (in
# head order), the new values. Returns 0 (the head is no longer what was read: nothing
# done) or 1 (cut, kept put back, new pushed, atomically). The target's type is checked
# first, so a cut is never left without its push.
LUA_TAKE_HEAD = """
local n, k = tonumber(ARGV[2]), tonumber(ARGV[3])
if ARGV[1] ~= '-' then
  local t = redis.call('TYPE', KEYS[2]).ok
  if t ~= 'list' and t ~= 'none' then return redis.error_reply('target is not a list') end
end
local head = redis.call('LRANGE', KEYS[1], 0, n - 1)
if #head ~= n then return 0 end
for i = 1, n do
  if head[i] ~= ARGV[3 + i] then return 0 end
end
redis.call('LTRIM', KEYS[1], n, -1)
for i = 3 + n + k, 4 + n, -1 do redis.call('LPUSH', KEYS[1], ARGV[i]) end
for i = 4 + n + k, #ARGV do
  if ARGV[1] == 'R' then redis.call('RPUSH', KEYS[2], ARGV[i])
  elseif ARGV[1] == 'L' then redis.call('LPUSH', KEYS[2], ARGV[i]) end
end
return 1
"""


async def _lua_take_head(client: Client, src: str, dst: str | None, count: int, *,
                         transform: Callable[[Item], bytes], push_left: bool,
                         stop_at: bytes | None) -> MoveResult:
    """`take_head` as a script: read the head (no WATCH), rewrite it here, then move it only
    if the head is still exactly what was read (else read again)."""
    result = MoveResult()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        result.attempts = attempt
        values: list[bytes] = list(await client.redis.lrange(src, 0, count - 1))  # type: ignore[arg-type]
        result.reached_stop = False
        if stop_at is not None and stop_at in values:
            values = values[: values.index(stop_at) + 1]
            result.reached_stop = True
        if not values:
            result.src_gone = True
            return result
        items = [Item(v, i) for i, v in enumerate(values)]
        result.kept, result.errors = [], []
        if dst is not None:
            moving = [(it, new) for it, _, new in
                      _rewrite(src, [(it, None) for it in items], transform, result)]
        else:
            moving = [(it, it.raw) for it in items]
        if not moving:
            return result
        mode = "-" if dst is None else ("L" if push_left else "R")
        try:
            done = await client.redis.eval(
                LUA_TAKE_HEAD, 2, src, dst or src, mode, len(values), len(result.kept),
                *values, *(it.raw for it in result.kept), *(new for _, new in moving))
        except rexc.ResponseError as exc:
            if "not a list" in str(exc):
                raise BackendError(f"{dst} is not a list: nothing was moved") from None
            raise BackendError(f"move script failed: {exc}") from None
        if int(done):
            result.moved = moving
            return result
        await backoff(attempt)  # the head changed (a consumer took from it): read again
    result.reached_stop = False
    result.errors.append(f"{src} kept changing at its head: gave up after {MAX_ATTEMPTS} "
                         "attempts")
    return result


async def remove_values(client: Client, key: str, items: Sequence[Item]) -> MoveResult:
    """Delete exactly these values (LREM each; a value already gone is reported missing)."""
    return await move_values(client, key, None, items)
