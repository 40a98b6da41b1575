"""List moves under interference: a target that changes type mid-move, items pushed far
from where they were seen, and a console killed between the check and the transaction."""

from __future__ import annotations

import pytest

from ferrite_tui.backend import slotmoves
from ferrite_tui.backend.errors import BackendError
from ferrite_tui.backend.lists import read_page
from ferrite_tui.backend.movebase import Item
from ferrite_tui.backend.moves import move_values, take_head
from helpers import skip_as_the_server_lacks


def fill(sync, key, n, fmt="v{}"):
    values = [fmt.format(i).encode() for i in range(n)]
    for start in range(0, n, 1000):
        sync.rpush(key, *values[start:start + 1000])
    return values


async def test_target_turned_into_a_string_before_exec_moves_nothing(client, sync, after_check):
    sync.rpush("src", b"A", b"B", b"C", b"D")
    sync.rpush("dst", b"x")
    after_check(lambda: (sync.delete("dst"), sync.set("dst", "now a string")))
    with pytest.raises(BackendError, match="not a list"):
        await move_values(client, "src", "dst", [Item(b"B", 1, 4)])
    # Nothing left src, nothing was put back somewhere else: the order is intact.
    assert sync.lrange("src", 0, -1) == [b"A", b"B", b"C", b"D"]
    assert sync.get("dst") == b"now a string"


async def test_take_head_target_changing_type_moves_nothing(client, sync, after_check):
    sync.rpush("src", b"A", b"B", b"C", b"D")
    after_check(lambda: sync.set("dst", "string"))
    with pytest.raises(BackendError, match="not a list"):
        await take_head(client, "src", "dst", 2)
    assert sync.lrange("src", 0, -1) == [b"A", b"B", b"C", b"D"]


async def test_items_pushed_far_from_the_tail_are_still_found(client, sync):
    """12,000 new entries arrive at the tail after the operator saw the last 100: they are
    still in the list, so they are moved, not reported as gone."""
    values = fill(sync, "dlq", 20_000)
    page = await read_page(client, "dlq", 19_900, 100)
    fill(sync, "dlq", 12_000, fmt="late{}")
    res = await move_values(client, "dlq", "out", list(page.items))
    assert len(res.missing) == 0, f"{len(res.missing)} reported gone"
    assert len(res.moved) == 100
    assert sync.lrange("out", 0, -1) == values[19_900:]
    assert sync.llen("dlq") == 19_900 + 12_000


async def test_really_gone_items_are_still_reported_missing(client, sync):
    fill(sync, "dlq", 5000)
    page = await read_page(client, "dlq", 4990, 10)
    sync.lrem("dlq", 1, b"v4995")
    res = await move_values(client, "dlq", "out", list(page.items))
    assert [i.raw for i in res.missing] == [b"v4995"]
    assert len(res.moved) == 9


async def test_beyond_the_search_budget_is_not_called_gone(client, sync, monkeypatch):
    """Pushed away from both ends past what the search may scan: reported as not found
    (failed, left in place), never as skipped."""
    monkeypatch.setattr(slotmoves, "SEARCH_BUDGET", 100)
    fill(sync, "dlq", 3000)
    page = await read_page(client, "dlq", 2990, 10)
    sync.lpush("dlq", *[f"head{i}".encode() for i in range(2000)])
    fill(sync, "dlq", 11_000, fmt="tail{}")
    res = await move_values(client, "dlq", "out", list(page.items))
    assert not res.missing and not res.moved
    assert len(res.failed) == 10 and "not counted as gone" in res.errors[0]
    assert sync.llen("dlq") == 16_000


async def test_purge_audits_exactly_what_it_removed(client, sync, redis_url, tmp_path):
    """A producer pushes all the time: the count purge returns and audits is what the
    deletion removed, not a length read before it."""
    import threading

    import redis as sync_redis

    from ferrite_tui.backend.audit import AuditLog
    from ferrite_tui.backend.lists import ListItems

    pushed = 0
    stop = threading.Event()

    def producer():
        nonlocal pushed
        r = sync_redis.Redis.from_url(redis_url)
        while not stop.is_set():
            r.rpush("busy", b"x")
            pushed += 1
        r.close()

    fill(sync, "busy", 100)
    thread = threading.Thread(target=producer, daemon=True)
    thread.start()
    try:
        removed = [await ListItems(client).purge("busy") for _ in range(20)]
    finally:
        stop.set()
        thread.join(timeout=10)
    assert sum(removed) == 100 + pushed - sync.llen("busy")
    audited = [e["count"] for e in AuditLog(tmp_path / "audit.log").read()
               if e["action"] == "purge queue"]
    assert audited == removed


async def test_purge_of_a_list_pushed_to_all_the_time_finishes(client, sync, redis_url,
                                                                tmp_path, after_check):
    """Every optimistic try is beaten by a push (in the gap between the check and the
    transaction), and a producer pushes all along: the purge still finishes, every value
    that was there when it ran is gone, and it audits exactly what it removed."""
    import threading

    import redis as sync_redis

    from ferrite_tui.backend.audit import AuditLog
    from ferrite_tui.backend.lists import ListItems

    seen = fill(sync, "busy", 25_000)
    gap_pushes = 0

    def push_in_the_gap():
        nonlocal gap_pushes
        sync.rpush("busy", b"gap")
        gap_pushes += 1

    for _ in range(200):
        after_check(push_in_the_gap)
    pushed = 0
    stop = threading.Event()

    def producer():
        nonlocal pushed
        r = sync_redis.Redis.from_url(redis_url)
        while not stop.is_set():
            r.rpush("busy", b"x")
            pushed += 1
        r.close()

    thread = threading.Thread(target=producer, daemon=True)
    thread.start()
    try:
        removed = await ListItems(client).purge("busy")
    finally:
        stop.set()
        thread.join(timeout=10)
    left = sync.lrange("busy", 0, -1)
    assert gap_pushes >= 8  # every optimistic try was beaten
    assert not set(seen) & set(left)  # everything that was there when it ran is gone
    assert removed == len(seen) + gap_pushes + pushed - len(left)
    audited = [e["count"] for e in AuditLog(tmp_path / "audit.log").read()
               if e["action"] == "purge queue"]
    assert audited == [removed]


async def test_purge_refuses_a_key_that_is_no_longer_a_list(client, sync):
    from ferrite_tui.backend.lists import ListItems

    sync.hset("q", "f", "v")
    with pytest.raises(BackendError, match="not a list"):
        await ListItems(client).purge("q")
    assert sync.hgetall("q") == {b"f": b"v"}


async def test_requeue_all_of_a_list_pushed_to_all_the_time_finishes(client, sync, redis_url,
                                                                    after_check):
    """R (the whole list, from the head) while producers push at the tail all the time:
    every optimistic try is beaten, yet the run takes exactly the letters counted at
    confirmation (the script checks the head, which tail pushes do not change)."""
    import json
    import threading

    import redis as sync_redis

    from ferrite_tui.backend.bulk import BulkRunner, HeadPlan
    from ferrite_tui.backend.dlq import DeadLetters
    from ferrite_tui.backend.lists import ListItems

    if not client.capabilities.lua:
        skip_as_the_server_lacks(client.settings.url, "lua", "without Lua a list pushed to "
                                 "all the time starves the WATCH (known)")
    letters = [json.dumps({"job": {"id": f"j{i}", "payload": i, "retry_count": 3,
                                   "last_error": "boom", "first_attempt": 1},
                           "dead_at": 1, "reason": "boom"}).encode() for i in range(3000)]
    sync.rpush("dlq", *letters)
    for _ in range(400):
        after_check(lambda: sync.rpush("dlq", b"gap"))
    stop = threading.Event()

    def producer():
        r = sync_redis.Redis.from_url(redis_url)
        while not stop.is_set():
            r.rpush("dlq", b"late")
        r.close()

    count, tail = await ListItems(client).count_and_tail("dlq")
    thread = threading.Thread(target=producer, daemon=True)
    thread.start()
    try:
        dl = DeadLetters(client)
        report = await BulkRunner(HeadPlan(count, 500),
                                  lambda n: dl.requeue_head("dlq", "out", n, stop_at=tail)
                                  ).run()
    finally:
        stop.set()
        thread.join(timeout=10)
    assert (report.done, report.failed, report.not_attempted) == (3000, 0, 0), \
        report.summary("requeued")
    assert [json.loads(v)["id"] for v in sync.lrange("out", 0, -1)] == \
        [f"j{i}" for i in range(3000)]
    assert set(sync.lrange("dlq", 0, -1)) <= {b"gap", b"late"}


async def test_head_script_puts_refused_values_back_at_the_head_in_order(client, sync):
    from ferrite_tui.backend.movebase import KeepInPlace
    from ferrite_tui.backend.slotmoves import _lua_take_head

    if not client.capabilities.lua:
        skip_as_the_server_lacks(client.settings.url, "lua", "the script path needs Lua")
    sync.rpush("src", b"a", b"keep1", b"b", b"keep2", b"c", b"z")

    def transform(item: Item) -> bytes:
        if item.raw.startswith(b"keep"):
            raise KeepInPlace("not an envelope")
        return item.raw.upper()

    res = await _lua_take_head(client, "src", "dst", 5, transform=transform, push_left=False,
                               stop_at=None)
    assert [new for _, new in res.moved] == [b"A", b"B", b"C"]
    assert sync.lrange("dst", 0, -1) == [b"A", b"B", b"C"]
    assert sync.lrange("src", 0, -1) == [b"keep1", b"keep2", b"z"]
    assert [it.raw for it in res.kept] == [b"keep1", b"keep2"]


@pytest.mark.parametrize("delete", [False, True])
async def test_without_lua_all_of_a_busy_list_finishes_by_pops(client, sync, redis_url,
                                                             after_check, delete):
    """R / D-all (the whole list, from the head) where the server runs no Lua (as Ferrite's
    default build), while producers push at the tail all the time: every optimistic try is
    beaten, and the head is taken by atomic pops through a staging list. Exactly the letters
    counted at confirmation move (in order), the later pushes stay, and the line says how."""
    import dataclasses
    import json
    import threading

    import redis as sync_redis

    from ferrite_tui.backend.bulk import BulkRunner, HeadPlan
    from ferrite_tui.backend.dlq import DeadLetters
    from ferrite_tui.backend.headpop import STRATEGY
    from ferrite_tui.backend.lists import ListItems

    client.capabilities = dataclasses.replace(client.capabilities, lua=False)
    letters = [json.dumps({"job": {"id": f"j{i}", "payload": i, "retry_count": 3,
                                   "last_error": "boom", "first_attempt": 1},
                           "dead_at": 1, "reason": "boom"}).encode() for i in range(3000)]
    sync.rpush("dlq", *letters)
    for _ in range(400):
        after_check(lambda: sync.rpush("dlq", b"gap"))
    stop = threading.Event()

    def producer():
        r = sync_redis.Redis.from_url(redis_url)
        while not stop.is_set():
            r.rpush("dlq", b"late")
        r.close()

    count, tail = await ListItems(client).count_and_tail("dlq")
    thread = threading.Thread(target=producer, daemon=True)
    thread.start()
    try:
        dl = DeadLetters(client)
        run: BulkRunner[int]
        if delete:
            run = BulkRunner(HeadPlan(count, 500),
                             lambda n: dl.delete_head("dlq", n, stop_at=tail))
        else:
            run = BulkRunner(HeadPlan(count, 500),
                             lambda n: dl.requeue_head("dlq", "out", n, stop_at=tail))
        report = await run.run()
    finally:
        stop.set()
        thread.join(timeout=10)
    line = report.summary("done")
    assert (report.done, report.failed, report.not_attempted) == (3000, 0, 0), line
    assert STRATEGY in line
    if not delete:
        assert [json.loads(v)["id"] for v in sync.lrange("out", 0, -1)] == \
            [f"j{i}" for i in range(3000)]
    rest = sync.lrange("dlq", 0, -1)
    assert rest and set(rest) <= {b"gap", b"late"}  # the later pushes, all still there
    assert list(sync.scan_iter(match="ferrite-tui:*")) == []  # nothing left staged
