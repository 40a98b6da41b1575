"""Work-queue items: paged windows, exact-value delete / move, purge, read-only."""

from __future__ import annotations

import inspect

import pytest
import redis

from ferrite_tui.backend.audit import AuditLog
from ferrite_tui.backend.dlq import DeadLetters
from ferrite_tui.backend.errors import ReadOnlyError
from ferrite_tui.backend.lists import BIG_ITEM, ListItems, read_page
from ferrite_tui.backend.models import QueueKind, QueueRef
from ferrite_tui.backend.movebase import Item, chunk_budget
from ferrite_tui.backend.moves import move_values
from ferrite_tui.backend.reliable import ReliableQueue
from helpers import client_at, skip_as_the_server_lacks


def fill(sync, key, n, fmt="v{}"):
    values = [fmt.format(i).encode() for i in range(n)]
    for start in range(0, n, 1000):
        sync.rpush(key, *values[start:start + 1000])
    return values


async def test_pages_are_windows_with_positions(client, sync):
    values = fill(sync, "q", 250)
    head = await read_page(client, "q", 0, 20)
    assert [i.raw for i in head.items] == values[:20]
    assert head.start == 0 and head.length == 250 and head.items[5].pos == 5
    middle = await read_page(client, "q", 100, 20)
    assert [i.pos for i in middle.items] == list(range(100, 120))
    tail = await read_page(client, "q", -20, 20)
    assert tail.start == 230 and [i.raw for i in tail.items] == values[230:]
    past = await read_page(client, "q", 1000, 20)
    assert past.start == 230  # past the end shows the last window
    empty = await read_page(client, "nothing", 0, 20)
    assert empty.items == () and empty.length == 0


async def test_a_shown_page_with_a_big_item_is_read_whole_only_when_it_changed(client, sync):
    """ListItems.page (the page on screen, read at every poll) reads a window holding a big
    item whole once; while unchanged, only its small items; any change, whole again."""
    big = b"B" * (4 * BIG_ITEM)
    sync.rpush("q", b"a", big, b"c", b"d")
    items = ListItems(client)
    sent = lambda: int(sync.info("stats")["total_net_output_bytes"])  # noqa: E731
    before = sent()
    first = await items.page("q", 0, 10)
    assert sent() - before > len(big)
    before = sent()
    again = await items.page("q", 0, 10)
    assert again is first and sent() - before < BIG_ITEM  # the big item not sent again
    sync.lset("q", 2, b"C")  # a small neighbour changed: the window is read again
    changed = await items.page("q", 0, 10)
    assert [i.raw for i in changed.items] == [b"a", big, b"C", b"d"]
    sync.lpop("q")  # a pop shifts every item
    shifted = await items.page("q", 0, 10)
    assert [(i.pos, i.raw) for i in shifted.items] == [(0, big), (1, b"C"), (2, b"d")]
    assert (await items.page("q", 0, 10)) is shifted
    sync.rpush("q", b"e")
    grown = await items.page("q", 0, 10)
    assert grown.length == 4 and grown.items[-1].raw == b"e"


async def test_pages_never_read_more_than_the_window(client, sync):
    fill(sync, "big", 5000)
    before = client.round_trips.count
    page = await read_page(client, "big", 2500, 10_000)
    assert len(page.items) == 1000  # capped at MAX_WINDOW
    assert client.round_trips.count - before == 1


async def test_delete_exact_values_and_report_missing(client, sync, tmp_path):
    values = fill(sync, "q", 10)
    page = await read_page(client, "q", 0, 10)
    items = ListItems(client)
    sync.lrem("q", 1, values[3])  # someone else took v3 meanwhile
    res = await items.delete("q", [page.items[2], page.items[3], page.items[9]])
    assert (res.done, res.skipped, res.failed) == (2, 1, 0)
    assert sync.lrange("q", 0, -1) == [v for i, v in enumerate(values) if i not in (2, 3, 9)]
    log = AuditLog(tmp_path / "audit.log").read()
    assert log[-1]["action"] == "delete items" and log[-1]["count"] == 2


async def test_duplicates_delete_only_as_many_as_named(client, sync):
    sync.rpush("q", b"same", b"other", b"same", b"same")
    page = await read_page(client, "q", 0, 10)
    res = await ListItems(client).delete("q", [page.items[0], page.items[2]])
    assert res.done == 2
    assert sync.lrange("q", 0, -1) == [b"other", b"same"]


async def test_move_unchanged_to_another_queue(client, sync):
    values = fill(sync, "src", 50)
    sync.rpush("dst", b"existing")
    page = await read_page(client, "src", 0, 50)
    res = await ListItems(client).move("src", "dst", [page.items[1], page.items[48]])
    assert res.done == 2
    assert sync.lrange("dst", 0, -1) == [b"existing", values[1], values[48]]
    assert sync.llen("src") == 48


async def test_move_refuses_a_target_that_is_not_a_list(client, sync):
    fill(sync, "src", 3)
    sync.set("dst", "x")
    page = await read_page(client, "src", 0, 3)
    with pytest.raises(Exception, match="not a list"):
        await ListItems(client).move("src", "dst", list(page.items))
    assert sync.llen("src") == 3


async def test_far_items_are_found_from_the_tail(client, sync):
    values = fill(sync, "big", 30_000)
    page = await read_page(client, "big", 29_990, 10)
    sync.rpush("big", b"late")  # grew at the tail since it was seen
    res = await move_values(client, "big", "out", list(page.items[:3]))
    assert len(res.moved) == 3 and not res.missing
    assert sync.lrange("out", 0, -1) == values[29_990:29_993]


async def test_without_lpos_a_window_is_checked(client, sync):
    from dataclasses import replace
    values = fill(sync, "q", 3000)
    client.capabilities = replace(client.capabilities, lpos=False)
    page = await read_page(client, "q", 1500, 5)
    sync.lrem("q", 1, values[1501])
    res = await move_values(client, "q", "out", list(page.items))
    assert len(res.moved) == 4 and len(res.missing) == 1


async def test_chunks_respect_the_scan_budget():
    near = [Item(b"a%d" % i, i, 1_000_000) for i in range(600)]
    far = [Item(b"b%d" % i, 500_000 + i, 1_000_000) for i in range(3)]
    chunks = chunk_budget(near + far, max_items=500, budget=400_000)
    assert [len(c) for c in chunks][:2] == [500, 100]
    assert all(len(c) == 1 for c in chunks[2:])  # each middle item is a chunk of its own


async def test_purge_with_audit(client, sync, tmp_path):
    fill(sync, "q", 100)
    assert await ListItems(client).purge("q") == 100
    assert not sync.exists("q")
    assert AuditLog(tmp_path / "audit.log").read()[-1]["action"] == "purge queue"


def mutations():
    for cls in (ListItems, ReliableQueue, DeadLetters):
        for name, fn in inspect.getmembers(cls, inspect.isfunction):
            if getattr(fn, "mutation", None):
                yield cls, name


async def test_read_only_refuses_every_mutation(redis_url, sync):
    fill(sync, "q", 5)
    c = client_at(redis_url, read_only=True)
    await c.connect()
    ref = QueueRef(QueueKind.RELIABLE, "q", processing_key="p")
    args = {
        "delete": ("q", [Item(b"v1", 1)]), "purge": ("q",), "move": ("q", "t", [Item(b"v1")]),
        "ack": (ref, [Item(b"v1")]), "nack": (ref, [Item(b"v1")]),
        "recover": (ref, [Item(b"v1")]), "requeue": ("q", "t", [Item(b"v1")]),
        "requeue_head": ("q", "t", 5), "delete_head": ("q", 5),
        "edit_requeue": ("q", "t", Item(b"v1"), "{}"),
    }
    seen = 0
    try:
        for cls, name in mutations():
            obj = cls(c)
            before = c.round_trips.count
            with pytest.raises(ReadOnlyError):
                await getattr(obj, name)(*args[name])
            assert c.round_trips.count == before, name
            seen += 1
    finally:
        await c.aclose()
    assert seen >= 10
    assert sync.llen("q") == 5


async def test_dense_chunk_that_moved_far_is_still_found(client, sync):
    values = fill(sync, "q", 10_000)
    page = await read_page(client, "q", 3000, 10)
    sync.ltrim("q", 2000, -1)  # another console removed 2,000 entries ahead of them
    res = await move_values(client, "q", "out", list(page.items))
    assert len(res.moved) == 10 and not res.missing
    assert sync.lrange("out", 0, -1) == values[3000:3010]
    assert sync.llen("q") == 7990


async def test_head_prefix_is_cut_with_ltrim(client, sync):
    values = fill(sync, "q", 1000)
    page = await read_page(client, "q", 0, 100)
    await client.redis.config_set("slowlog-log-slower-than", 0)
    await client.redis.slowlog_reset()
    res = await move_values(client, "q", "out", list(page.items))
    names = [e["command"].split()[0].upper() for e in await client.redis.slowlog_get(50)]
    await client.redis.config_set("slowlog-log-slower-than", 10000)
    assert len(res.moved) == 100 and b"LTRIM" in names and b"LREM" not in names
    assert sync.lrange("q", 0, 0) == [values[100]]


async def test_contention_splits_chunks_and_still_finishes(client, sync, redis_url):
    """A writer pushes to the source list without pause: chunks whose WATCH keeps failing
    are split until they get through; nothing is lost or doubled. With Lua nothing fails;
    without it (Ferrite) a single value whose WATCH fails MAX_ATTEMPTS times is reported as
    failed and left where it was."""
    import asyncio

    from ferrite_tui.backend.movebase import PositionalPlan
    from ferrite_tui.backend.moves import take_head
    from helpers import wait_until

    values = fill(sync, "src", 2000)
    page_items = []
    for start in range(0, 1000, 500):
        page_items += list((await read_page(client, "src", start, 500)).items)
    import threading
    import time as _time

    stop = threading.Event()
    pushed = 0

    def noisy():  # another process's producer: thousands of pushes a second
        nonlocal pushed
        r = redis.Redis.from_url(redis_url)
        try:
            while not stop.is_set():
                r.rpush("src", b"noise")
                pushed += 1
                _time.sleep(0.0002)
        finally:
            r.close()

    attempts: list[int] = []
    thread = threading.Thread(target=noisy)
    thread.start()
    await asyncio.get_running_loop().run_in_executor(
        None, lambda: wait_until(lambda: pushed > 10))
    try:
        plan = PositionalPlan(page_items, max_items=500)
        moved, failed = [], []
        while chunk := plan.next_chunk():
            res = await move_values(client, "src", "dst", chunk)
            assert not res.missing
            attempts.append(res.attempts)
            plan.handled(len(chunk))
            moved += [it.raw for it, _ in res.moved]
            failed += [it.raw for it in res.failed]
        # A failed value is left in src (checked before take_head sweeps the head).
        src_before_sweep = set(sync.lrange("src", 0, 1999))
        assert set(failed) <= src_before_sweep
        await take_head(client, "src", "dst", 1000)
    finally:
        stop.set()
        thread.join()
    print("attempts per chunk", attempts, "noise", pushed, "failed", len(failed))
    assert len(moved) + len(failed) == 1000
    if client.capabilities.lua:
        assert not failed  # the Lua fast path takes over when WATCH keeps failing
    # Every value is in exactly one place; the moved ones kept their order.
    src_now, dst_now = sync.lrange("src", 0, -1), sync.lrange("dst", 0, -1)
    real = [v for v in src_now + dst_now if v != b"noise"]
    assert sorted(real) == sorted(values)
    assert dst_now[:len(moved)] == moved
    assert len(src_now) + len(dst_now) == 2000 + pushed


async def test_lua_fast_path_moves_exactly_and_checks_the_target(client, sync):
    from ferrite_tui.backend.slotmoves import lua_move

    if not client.capabilities.lua:
        skip_as_the_server_lacks(client.settings.url, "lua",
                                 "no Lua (the reduced set): the fast path is never used")
    values = fill(sync, "src", 3000)
    page = await read_page(client, "src", 2990, 10)
    head = await read_page(client, "src", 0, 3)
    sync.lrem("src", 1, values[1])
    res = await lua_move(client, "src", "dst", list(head.items) + list(page.items[:2]),
                         transform=lambda it: it.raw.upper())
    assert [it.raw for it, _ in res.moved] == [values[0], values[2], values[2990], values[2991]]
    assert [it.raw for it in res.missing] == [values[1]]
    assert sync.lrange("dst", 0, -1) == [v.upper() for v in
                                         (values[0], values[2], values[2990], values[2991])]
    sync.set("str", "x")
    with pytest.raises(Exception, match="not a list"):
        await lua_move(client, "src", "str", list(page.items[2:4]))
    assert sync.llen("src") == 2995
