"""Sorted-set windows on screen holding a big member (issue 21, item 6): the priority and
scheduled views read again at every poll send the big member once, then only small checks,
and read it again when the set changed."""

from __future__ import annotations

import json
import time

from ferrite_tui.backend.delayed import DelayedQueue
from ferrite_tui.backend.lists import BIG_ITEM
from ferrite_tui.backend.priority import PriorityQueue

BIG = json.dumps({"id": "big", "payload": "x" * (8 * BIG_ITEM)}).encode()


def small(i: int) -> bytes:
    return json.dumps({"id": f"j{i}", "payload": i}).encode()


def sent(sync) -> int:
    return int(sync.info("stats")["total_net_output_bytes"])


async def test_a_priority_view_sends_its_big_member_only_when_the_set_changed(client, sync):
    sync.zadd("jobs:priority", {BIG: 100, small(1): 5, small(2): 1})
    pq = PriorityQueue(client, "jobs:priority")
    first = await pq.view(0, 20)
    assert [it.member for it in first.page.items] == [BIG, small(1), small(2)]
    before = sent(sync)
    again = await pq.view(0, 20)
    assert sent(sync) - before < BIG_ITEM  # the big member (top of page and scale) not sent
    assert [it.member for it in again.page.items] == [BIG, small(1), small(2)]
    assert again.histogram.hi == 100
    sync.zadd("jobs:priority", {small(3): 200})  # a new top: the window moved
    moved = await pq.view(0, 20)
    assert [it.member for it in moved.page.items] == [small(3), BIG, small(1), small(2)]
    assert moved.histogram.hi == 200
    sync.zadd("jobs:priority", {small(1): 7})  # a score changed in place
    assert [it.score for it in (await pq.view(0, 20)).page.items] == [200, 100, 7, 1]
    sync.zrem("jobs:priority", BIG)
    sync.zadd("jobs:priority", {small(4): 50})  # the big member replaced: same size, rank
    assert (await pq.view(0, 20)).page.items[1].member == small(4)


async def test_a_scheduled_view_sends_its_big_member_only_when_the_set_changed(client, sync):
    now = int(time.time() * 1000)
    sync.zadd("queue:r:scheduled", {BIG: now - 1000, small(1): now + 60_000})
    dq = DelayedQueue(client, "queue:r:scheduled", "queue:r:ready")
    first = await dq.view(now=now)
    assert [it.member for it in first.items] == [BIG, small(1)] and first.overdue == 1
    before = sent(sync)
    again = await dq.view(now=now)
    assert sent(sync) - before < BIG_ITEM
    assert [it.member for it in again.items] == [BIG, small(1)]
    assert again.earliest == now - 1000
    sync.zrem("queue:r:scheduled", BIG)  # promoted
    gone = await dq.view(now=now)
    assert [it.member for it in gone.items] == [small(1)] and gone.earliest == now + 60_000
