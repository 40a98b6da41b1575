"""Each panel's actions on a cluster, on hash-tagged (one slot) and untagged (two slots)
queues: the figures after each action are exact, and no staging key is left behind."""

from __future__ import annotations

import pytest
import redis

from ferrite_tui.backend.lists import ListItems
from ferrite_tui.backend.models import QueueKind, QueueRef
from ferrite_tui.backend.priority import PriorityQueue
from ferrite_tui.backend.reliable import ReliableQueue
from ferrite_tui.backend.streams import Streams
from helpers import client_at

pytestmark = pytest.mark.cluster

LAYOUTS = {"cross-slot": "queue:jobs", "same-slot": "queue:{jobs}"}


@pytest.fixture
async def cluster_client(cluster_url):
    c = client_at(cluster_url)
    await c.connect()
    try:
        yield c
    finally:
        await c.aclose()


def _no_staging(sync: redis.RedisCluster) -> bool:
    return not list(sync.scan_iter(match="ferrite-tui:*", target_nodes=sync.PRIMARIES))


@pytest.mark.parametrize("base", list(LAYOUTS.values()), ids=list(LAYOUTS))
async def test_reliable_and_list_actions(cluster_client, cluster_sync, base):
    processing = base + ":processing"
    cluster_sync.rpush(base, *[f"w{i}".encode() for i in range(5)])
    cluster_sync.lpush(processing, *[f"p{i}".encode() for i in range(6)])
    ref = QueueRef(QueueKind.RELIABLE, base, processing_key=processing)
    rq = ReliableQueue(cluster_client)
    page = await rq.processing_page(ref, 0, 10)
    by_value = {it.raw: it for it in page.items}

    res = await rq.nack(ref, [by_value[b"p0"], by_value[b"p1"]])
    assert (res.done, res.skipped) == (2, 0)
    assert cluster_sync.lrange(base, 0, 1) == [b"p1", b"p0"]  # nack: back to the head
    res = await rq.recover(ref, [by_value[b"p2"]])
    assert res.done == 1 and cluster_sync.lindex(base, 0) == b"p2"
    res = await rq.ack(ref, [by_value[b"p3"]])
    assert res.done == 1 and cluster_sync.llen(processing) == 2

    items = ListItems(cluster_client)
    other = base + ":other"
    page = await items.page(base, 0, 20)
    w = {it.raw: it for it in page.items}
    res = await items.move(base, other, [w[b"w0"], w[b"w4"]])
    assert res.done == 2 and cluster_sync.lrange(other, 0, -1) == [b"w0", b"w4"]
    res = await items.delete(base, [w[b"w1"]])
    assert res.done == 1
    assert sorted(cluster_sync.lrange(base, 0, -1)) == sorted(
        [b"p0", b"p1", b"p2", b"w2", b"w3"])
    assert _no_staging(cluster_sync)


@pytest.mark.parametrize("base", list(LAYOUTS.values()), ids=list(LAYOUTS))
async def test_priority_and_stream_actions(cluster_client, cluster_sync, base):
    pkey = base + ":priority"
    cluster_sync.zadd(pkey, {b'{"id":"a","payload":1}': 5, b'{"id":"b","payload":2}': 1})
    pq = PriorityQueue(cluster_client, pkey)
    view = await pq.view()
    top = view.page.items[0]
    assert top.member == b'{"id":"a","payload":1}'
    assert len((await pq.set_priority(top, 9)).done) == 1
    assert cluster_sync.zscore(pkey, top.member) == 9
    assert len((await pq.remove(view.page.items[1])).done) == 1
    assert cluster_sync.zcard(pkey) == 1

    stream, dlq = base + ":events", base + ":events:dlq"
    for i in range(4):
        cluster_sync.xadd(stream, {"data": f'{{"n":{i}}}'}, id=f"{i + 1}-0")
    cluster_sync.xgroup_create(stream, "g", id="0")
    cluster_sync.xreadgroup("g", "c1", {stream: ">"}, count=4)
    s = Streams(cluster_client)
    page = await s.pending_page(stream, "g")
    assert len(page.entries) == 4
    acked = await s.ack(stream, "g", [page.entries[0].id])
    assert acked.done == [page.entries[0].id]
    claimed = await s.claim(stream, "g", "c2", [page.entries[1]])
    assert claimed.done == [page.entries[1].id]
    dead = await s.dead_letter(stream, "g", list(page.entries[2:]), dlq)
    assert sorted(dead.done) == sorted(e.id for e in page.entries[2:]) and not dead.skipped
    assert cluster_sync.llen(dlq) == 2
    assert cluster_sync.xpending(stream, "g")["pending"] == 1
    assert _no_staging(cluster_sync)
