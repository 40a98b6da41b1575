"""Reliable queues: ack, nack and stale recovery on exact values, with workers running."""

from __future__ import annotations

import asyncio
import json

import redis

from ferrite_tui.backend.audit import AuditLog
from ferrite_tui.backend.bulk import BulkRunner
from ferrite_tui.backend.models import QueueKind, QueueRef
from ferrite_tui.backend.movebase import chunk_budget
from ferrite_tui.backend.reliable import ReliableQueue

REF = QueueRef(QueueKind.RELIABLE, "queue:orders", processing_key="queue:orders:processing")


def job(i: int, enqueued_at: int) -> bytes:
    return json.dumps({"id": f"job-{i}", "payload": {"n": i}, "enqueued_at": enqueued_at},
                      separators=(",", ":")).encode()


async def test_ack_removes_exactly_that_value(client, sync, tmp_path):
    sync.lpush(REF.processing_key, job(1, 1), job(2, 2), job(3, 3))
    rq = ReliableQueue(client)
    page = await rq.processing_page(REF, 0, 10)
    target = [i for i in page.items if b"job-2" in i.raw]
    res = await rq.ack(REF, target)
    assert res.done == 1
    assert sync.lrange(REF.processing_key, 0, -1) == [job(3, 3), job(1, 1)]
    again = await rq.ack(REF, target)  # already gone: skipped, nothing else removed
    assert (again.done, again.skipped) == (0, 1)
    assert sync.llen(REF.processing_key) == 2
    entry = AuditLog(tmp_path / "audit.log").read()[-1]
    assert entry["action"] == "ack" and entry["ids"] == ["job-2"]


async def test_nack_goes_to_the_head_of_the_queue(client, sync):
    sync.rpush(REF.key, job(10, 10))
    sync.lpush(REF.processing_key, job(1, 1))
    rq = ReliableQueue(client)
    page = await rq.processing_page(REF, 0, 10)
    res = await rq.nack(REF, list(page.items))
    assert res.done == 1
    assert sync.lrange(REF.key, 0, -1) == [job(1, 1), job(10, 10)]
    assert sync.llen(REF.processing_key) == 0


async def test_nack_to_the_tail_and_what_each_end_means(client, sync):
    from ferrite_tui.backend.reliable import return_end

    sync.rpush(REF.key, job(10, 10))
    sync.lpush(REF.processing_key, job(1, 1))
    rq = ReliableQueue(client)
    page = await rq.processing_page(REF, 0, 10)
    res = await rq.nack(REF, list(page.items), end="tail")
    assert res.done == 1
    assert sync.lrange(REF.key, 0, -1) == [job(10, 10), job(1, 1)]
    # The seed's consumer (BRPOPLPUSH) takes from the tail: its LPUSH serves them last.
    assert return_end(None, "tail") == ("head", "served last (consumers take from the tail)")
    assert return_end("tail", "tail")[1].startswith("served next")
    assert return_end(None, "head")[1].startswith("served next")
    assert return_end(None, None) == ("head", "the end consumers take from is not detected yet")


async def test_find_stale_and_recover(client, sync):
    now = 10_000_000
    # BRPOPLPUSH pushes at the head: older jobs sit at the tail.
    for i in range(2500):
        sync.lpush(REF.processing_key, job(i, now - 400_000 + i * 100))
    rq = ReliableQueue(client)
    scan = await rq.find_stale(REF, 300_000, now)
    # age = 400_000 - i*100 > 300_000  <=>  i < 1000
    ids = {json.loads(i.raw)["id"] for i in scan.items}
    assert ids == {f"job-{i}" for i in range(1000)} and len(scan.items) == 1000
    assert scan.scanned == 2500
    report = await BulkRunner(scan.items, lambda chunk: rq.recover(REF, chunk),
                              chunk_size=200).run()
    assert report.done == len(ids) and report.skipped == 0
    assert sync.llen(REF.key) == len(ids)
    assert sync.llen(REF.processing_key) == 2500 - len(ids)


async def test_recover_while_workers_ack_and_pop(client, sync, redis_url):
    """Workers BRPOPLPUSH and ack while stale jobs are recovered: every id exactly once."""
    now = 10_000_000
    n_stale = 1500
    for i in range(n_stale):
        sync.lpush(REF.processing_key, job(i, now - 900_000))
    for i in range(n_stale, n_stale + 1500):
        sync.rpush(REF.key, job(i, now))
    rq = ReliableQueue(client)
    scan = await rq.find_stale(REF, 300_000, now)
    assert len(scan.items) == n_stale
    done_ids: list[str] = []
    stop = asyncio.Event()

    async def worker():
        r = redis.asyncio.Redis.from_url(redis_url)
        try:
            while not stop.is_set() or await r.llen(REF.key):
                raw = await r.brpoplpush(REF.key, REF.processing_key, timeout=0.05)
                if raw is None:
                    continue
                # ack as the seed does it (LREM the value)
                assert await r.lrem(REF.processing_key, 1, raw) == 1
                done_ids.append(json.loads(raw)["id"])
        finally:
            await r.aclose()

    workers = [asyncio.create_task(worker()) for _ in range(3)]
    chunks = chunk_budget(list(scan.items), max_items=100)
    total = 0
    for chunk in chunks:
        res = await rq.recover(REF, chunk)
        total += res.done
        assert res.failed == 0
    stop.set()
    await asyncio.gather(*workers)
    assert total == n_stale
    assert sorted(done_ids) == sorted(f"job-{i}" for i in range(n_stale + 1500))
    assert sync.llen(REF.processing_key) == 0
