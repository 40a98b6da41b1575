"""Library states on a cluster read as exactly as on one server: the reads that name keys
of many hash slots (arq's and saq's job strings for their failed counts, arq's in-progress
markers, BullMQ's job locks for the stalled alert) are split per slot, not refused.

arq, saq and BullMQ (default prefix) move jobs with transactions or Lua scripts over keys
of several slots, which no cluster runs; their data is made by their own producers and
workers on one server and copied key by key (DUMP / RESTORE, with each key's TTL) to the
cluster, as a team moving to a cluster would bring it. Each count is compared with the
library's own count on the same data.
"""

from __future__ import annotations

import asyncio

import pytest
import redis

from ferrite_tui.backend.client import Client
from ferrite_tui.backend.clusterwire import slot_of
from ferrite_tui.backend.connection import ConnectionSettings
from helpers import REDUCED, async_wait_until
from test_libraries import counts, library_queues, status
from test_library_counts import kill_bullmq_worker_once_it_holds

pytestmark = pytest.mark.cluster
needs_lua = pytest.mark.skipif(REDUCED, reason="the library needs Lua (reduced server)")


def copy_to_cluster(source_url: str, cluster: redis.RedisCluster) -> int:
    """Every key of the server at `source_url`, with its TTL, into `cluster`."""
    source = redis.Redis.from_url(source_url)
    copied = 0
    try:
        for key in source.scan_iter(count=1000):
            ttl = source.pttl(key)
            dumped = source.dump(key)
            if dumped is None or ttl == -2:  # expired meanwhile
                continue
            cluster.restore(key, max(int(ttl), 0), dumped, replace=True)
            copied += 1
    finally:
        source.close()
    return copied


async def test_multi_key_reads_are_split_per_slot_in_one_round_trip_per_node(cluster_url,
                                                                             cluster_sync):
    keys = [f"job:{i}" for i in range(40)]
    assert len({slot_of(k) for k in keys}) > 1
    for i, k in enumerate(keys[::2]):
        cluster_sync.set(k, f"v{i}")
    client = Client(ConnectionSettings(url=cluster_url))
    try:
        await client.connect()
        assert client.cluster is not None
        before = client.round_trips.count
        mget, exists, same_slot, plain = await client.raw_pipeline([
            ("MGET", *keys), ("EXISTS", *keys, keys[0]),
            ("MGET", "{t}a", "{t}b"), ("GET", keys[0])])
        assert client.round_trips.count - before <= len(client.cluster.primaries())
    finally:
        await client.aclose()
    assert mget == [f"v{i // 2}".encode() if i % 2 == 0 else None for i in range(40)]
    assert exists == 21  # a key named twice counts twice, as EXISTS does
    assert same_slot == [None, None] and plain == b"v0"


@needs_lua
@pytest.mark.libraries
async def test_arq_and_saq_failed_and_arq_in_progress_counts_exact_on_a_cluster(
        redis_url, cluster_url, cluster_sync):
    from arq import create_pool
    from arq.connections import RedisSettings
    from arq.jobs import Job, JobStatus
    from arq.worker import Worker, func
    from saq import Queue
    from saq import Worker as SaqWorker

    release = asyncio.Event()

    async def boom_fn(ctx, x):
        raise ValueError("boom")

    async def held_fn(ctx, x):
        await release.wait()
        return x

    funcs = [func(boom_fn, name="boom"), func(held_fn, name="held")]
    settings = RedisSettings.from_dsn(redis_url)
    pool = await create_pool(settings)
    for i in range(3):
        await pool.enqueue_job("boom", i)
    worker = Worker(functions=funcs, redis_settings=settings, burst=True, max_tries=1,
                    poll_delay=0.05, handle_signals=False)
    await worker.main()
    await worker.close()
    held = [await pool.enqueue_job("held", i) for i in range(2)]
    await pool.enqueue_job("held", 9, _defer_by=3600)
    source = redis.Redis.from_url(redis_url)
    holder = Worker(functions=funcs, redis_settings=settings, max_tries=1, poll_delay=0.05,
                    handle_signals=False, max_jobs=2)
    running = asyncio.create_task(holder.main())

    async def saq_jobs() -> int:
        """saq's own worker fails three jobs; saq's count of its failed jobs."""
        async def boom(ctx, x=0):
            raise ValueError("boom")

        queue = Queue.from_url(redis_url, name="mail")
        await queue.connect()
        for i in range(3):
            await queue.enqueue("boom", x=i)
        saq_worker = SaqWorker(queue, functions=[("boom", boom)], concurrency=1,
                               dequeue_timeout=0.05)
        task = asyncio.create_task(saq_worker.start())
        try:
            await async_wait_until(lambda: source.llen("saq:mail:queued") == 0
                                   and source.llen("saq:mail:active") == 0
                                   and source.zcard("saq:mail:incomplete") == 0,
                                   timeout=60, message="saq worker did not finish its jobs")
        finally:
            await saq_worker.stop()
            task.cancel()
        jobs = [await queue.job(k.decode().rsplit(":", 1)[1])
                for k in source.scan_iter("saq:job:mail:*")]
        await queue.disconnect()
        return sum(1 for job in jobs if job is not None and job.status == "failed")

    try:
        saq_failed = await saq_jobs()
        await async_wait_until(
            lambda: len(list(source.scan_iter("arq:in-progress:*"))) == 2, timeout=30,
            message="arq's worker did not take the two held jobs")
        statuses = [await Job(j.job_id, pool).status() for j in held if j is not None]
        results = await pool.all_job_results()
        arq_failed = sum(1 for r in results if not r.success)
        copied = copy_to_cluster(redis_url, cluster_sync)
    finally:
        release.set()
        running.cancel()
        await holder.close()
        await pool.aclose()
        source.close()
    assert statuses == [JobStatus.in_progress] * 2 and arq_failed == 3 and saq_failed >= 1
    assert copied > 10
    # The keys these counts read are spread over several slots (else nothing is tested).
    failed_strings = [k for k in cluster_sync.scan_iter("arq:result:*")]
    assert len({slot_of(k) for k in failed_strings}) > 1

    data = status(cluster_url)
    arq = library_queues(data, "arq")["arq:queue"]
    arq_counts = counts(arq)
    # (Due counts every due member; the two taken ones leave the depth.)
    assert (arq_counts["failed"], arq_counts["in progress"], arq_counts["due"],
            arq_counts["deferred"]) == (arq_failed, 2, 2, 1)
    assert (arq["depth"], arq["processing"]) == (0, 2)
    saq = library_queues(data, "saq")["mail"]
    assert counts(saq)["failed"] == saq_failed
    assert not saq["error"] and not arq["error"]
    assert data["totals"]["dead"] == arq_failed + saq_failed


@needs_lua
@pytest.mark.libraries
async def test_bullmq_stalled_jobs_flagged_on_a_cluster(redis_url, cluster_url, cluster_sync,
                                                       tmp_path):
    """Two active jobs of a killed BullMQ worker, their locks expired, on a cluster: the
    locks' keys (`bull:mail:ID:lock`) are in different slots, and both are flagged."""
    from bullmq import Queue

    source = redis.Redis.from_url(redis_url)
    queue = Queue("mail", {"connection": redis_url})
    ids = [str((await queue.add("send", {"x": i})).id) for i in range(2)]
    locks = [f"bull:mail:{i}:lock" for i in ids]
    assert slot_of(locks[0]) != slot_of(locks[1])
    kill_bullmq_worker_once_it_holds(redis_url, tmp_path, len(ids))
    await async_wait_until(lambda: not source.exists(*locks), timeout=30,
                           message="the dead worker's locks did not expire")
    own = await queue.getJobCounts("active")
    await queue.close()
    source.close()
    assert own == {"active": 2}
    copy_to_cluster(redis_url, cluster_sync)

    q = library_queues(status(cluster_url), "bullmq")["mail"]
    assert counts(q)["active"] == 2
    assert "2 stalled (active, no worker's lock: is a worker running?)" in q["alerts"]
