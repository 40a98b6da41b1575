"""Each library state's count equals the library's own count, on the library's own data
(made by its producer and worker), and the headline totals add the states up by role.

RQ's registries' `count`, arq's `all_job_results()`, saq's `Queue.info()`, BullMQ's
`getJobCounts`: the figures `status --json` shows are compared with those.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import subprocess
import sys

import pytest
import redis

from helpers import REDUCED, async_wait_until, monitor_at
from test_libraries import counts, generic_keys, library_queues, status

needs_lua = pytest.mark.skipif(REDUCED, reason="the library needs Lua (reduced server)")


# -- RQ ------------------------------------------------------------------------------------

@pytest.mark.libraries
def test_rq_every_registry_counts_as_rq_does_and_adds_to_the_totals(redis_url):
    """Deferred and canceled jobs are scored by when (not expiry times); RQ 3's rate-limited
    jobs are counted; failed, scheduled, deferred, in progress and rate-limited jobs reach
    the headline totals by role (waiting, in progress, scheduled, dead)."""
    from rq import Queue
    from rq.job import Job
    from rq.registry import (
        CanceledJobRegistry,
        DeferredJobRegistry,
        FailedJobRegistry,
        ScheduledJobRegistry,
        StartedJobRegistry,
    )

    import libjobs
    from rqworker import QuietWorker

    conn = redis.Redis.from_url(redis_url)
    q = Queue("default", connection=conn)
    for i in range(3):
        q.enqueue(libjobs.boom, i)
    QuietWorker([q], connection=conn).work(burst=True)
    for minutes in (10, 20):
        q.enqueue_in(datetime.timedelta(minutes=minutes), libjobs.ok, minutes)
    parent = q.enqueue(libjobs.ok, 1)
    q.enqueue(libjobs.ok, 2, depends_on=parent)
    q.enqueue(libjobs.ok, 3).cancel()
    held = []
    if not REDUCED:  # RQ 3's rate limit is its own Lua script
        from rq.rate_limit import RateLimit, RateLimitRegistry

        limited = Queue("limited", connection=conn)
        held = [limited.enqueue(libjobs.ok, i, rate_limit=RateLimit("mail", 1))
                for i in range(3)]
        assert RateLimitRegistry("mail", conn).get_rate_limited_job_count() == 2
    own = {"queued": q.count, "failed": FailedJobRegistry(queue=q).count,
           "scheduled": ScheduledJobRegistry(queue=q).count,
           "deferred": DeferredJobRegistry(queue=q).count,
           "canceled": CanceledJobRegistry(queue=q).count,
           "wip": StartedJobRegistry(queue=q).count}
    assert own == {"queued": 1, "failed": 3, "scheduled": 2, "deferred": 1, "canceled": 1,
                   "wip": 0}

    data = status(redis_url)
    rq_queues = library_queues(data, "rq")
    c = counts(rq_queues["default"])
    assert {k: c[k] for k in own} == own
    states = {s["label"]: s for s in rq_queues["default"]["states"]}
    # Deferred and canceled: scored by when it happened (now), shown as times, not expiries.
    assert states["deferred"]["means"] == "at" and states["canceled"]["means"] == "at"
    totals = data["totals"]
    assert totals["dead"] == 3
    assert totals["scheduled"] == 3  # 2 scheduled + 1 deferred (waits for its parent)
    assert totals["in_progress"] == 0
    if held:
        limited_counts = counts(rq_queues["limited"])
        assert limited_counts["rate-limited"] == 2 and limited_counts["queued"] == 1
        assert rq_queues["limited"]["depth"] == Queue("limited", connection=conn).count == 1
        assert totals["waiting"] == 1 + 1 + 2  # default's queued, limited's, rate-limited once
        assert Job.fetch(held[1].id, connection=conn).get_status() == "rate_limited"
    else:
        assert totals["waiting"] == 1
    table = subprocess.run([sys.executable, "-m", "ferrite_tui", "status", redis_url],
                           capture_output=True, text=True, timeout=120, check=True).stdout
    assert "3 scheduled (not yet due)" in table and "3 dead" in table
    conn.close()


@pytest.mark.libraries
def test_rq_custom_key_prefix_is_detected_from_its_keys(redis_url, tmp_path):
    """RQ_KEY_PREFIX=myapp:rq (RQ's own setting, read when rq is imported): RQ's producer and
    worker in a process of their own; the console finds the queue with no config, counts
    as RQ does, and leaves none of its keys as generic queues. Actions are refused."""
    script = tmp_path / "produce.py"
    script.write_text(
        "import sys, datetime, redis\n"
        "from rq import Queue\n"
        "from rq.registry import FailedJobRegistry, ScheduledJobRegistry\n"
        "import libjobs\n"
        "from rqworker import QuietWorker\n"
        "conn = redis.Redis.from_url(sys.argv[1])\n"
        "q = Queue('mail', connection=conn)\n"
        "q.enqueue(libjobs.boom, 1)\n"
        "QuietWorker([q], connection=conn).work(burst=True)\n"
        "q.enqueue(libjobs.ok, 2)\n"
        "q.enqueue(libjobs.ok, 3)\n"
        "q.enqueue_in(datetime.timedelta(hours=1), libjobs.ok, 4)\n"
        "print(q.count, FailedJobRegistry(queue=q).count, ScheduledJobRegistry(queue=q).count)\n")
    tests_dir = os.path.dirname(__file__)
    env = {**os.environ, "RQ_KEY_PREFIX": "myapp:rq",
           "PYTHONPATH": os.pathsep.join([tests_dir, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, str(script), redis_url], env=env, cwd=tests_dir,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    queued, failed, scheduled = map(int, out.stdout.split()[-3:])
    conn = redis.Redis.from_url(redis_url)
    assert conn.exists("myapp:rq:queues") and not conn.exists("rq:queues")
    data = status(redis_url)
    q = library_queues(data, "rq")["mail"]
    c = counts(q)
    assert (c["queued"], c["failed"], c["scheduled"]) == (queued, failed, scheduled) == (2, 1, 1)
    assert q["key"] == "myapp:rq:queue:mail"
    assert not any(k.startswith("myapp:") for k in generic_keys(data))
    assert "RQ_KEY_PREFIX" in (q["read_only"] or "")
    conn.close()


@pytest.mark.libraries
def test_rq_ready_registry_and_intermediate_list_count_as_rq_does(redis_url):
    """RQ 3 keeps two more places the console did not read: the ReadyJobRegistry
    (`rq:ready:Q`, dependents whose dependencies are met, waiting to be enqueued) and the
    intermediate list (`rq:queue:Q:intermediate`, jobs a worker took and has not started).
    Both are counted with RQ's own figures (its registry's count, IntermediateQueue's
    job ids) and reach the totals; the intermediate list is no queue of its own."""
    from rq import Queue
    from rq.intermediate_queue import IntermediateQueue
    from rq.registry import DeferredJobRegistry, ReadyJobRegistry

    import libjobs

    conn = redis.Redis.from_url(redis_url)
    q = Queue("default", connection=conn)
    parent = q.enqueue(libjobs.ok, 1)
    dependents = [q.enqueue(libjobs.ok, i, depends_on=parent) for i in (2, 3)]
    ready = ReadyJobRegistry(queue=q)
    # RQ's own first step once the dependencies are met (the enqueue that follows it is
    # what a process that died in between leaves undone).
    with conn.pipeline() as pipe:
        ready.register_jobs(dependents, pipeline=pipe)
        pipe.execute()
    taken = Queue.lmove(conn, q.key, None)  # a worker's dequeue, before it starts the job
    assert taken is not None
    intermediate = IntermediateQueue(q.key, conn).get_job_ids()
    # (RQ's `count` runs its cleanup first, which would enqueue them: read without it.)
    own_ready = ready.get_job_count(cleanup=False)
    assert own_ready == 2 and DeferredJobRegistry(queue=q).get_job_count(cleanup=False) == 0
    assert intermediate == [parent.id] and q.count == 0

    data = status(redis_url)
    queues = library_queues(data, "rq")
    assert set(queues) == {"default"}
    c = counts(queues["default"])
    assert (c["ready"], c["intermediate"], c["deferred"], c["queued"]) == (
        own_ready, len(intermediate), 0, q.count)
    assert data["totals"]["waiting"] == 2 and data["totals"]["in_progress"] == 1
    assert f"{q.key}:intermediate" not in generic_keys(data)
    conn.close()


# -- arq -------------------------------------------------------------------------------------

@pytest.mark.libraries
async def test_arq_custom_queue_name_and_failed_results_count_as_arq_does(redis_url):
    """A queue named `emails` (queue_name=) is found by its jobs' bodies, with no config;
    arq's results with success false are its failed jobs (`all_job_results()`), per queue
    (the result names its queue), and reach the dead total."""
    from arq import create_pool
    from arq.connections import RedisSettings
    from arq.worker import Worker, func

    async def ok_fn(ctx, x):
        return x

    async def boom_fn(ctx, x):
        raise ValueError("boom")

    ok, boom = func(ok_fn, name="ok"), func(boom_fn, name="boom")
    settings = RedisSettings.from_dsn(redis_url)
    pool = await create_pool(settings, default_queue_name="emails")
    for i in range(2):
        await pool.enqueue_job("boom", i)
    await pool.enqueue_job("ok", 9)
    worker = Worker(functions=[ok, boom], redis_settings=settings, burst=True, max_tries=1,
                    poll_delay=0.05, handle_signals=False, queue_name="emails")
    await worker.main()
    await worker.close()
    await pool.enqueue_job("ok", 3, _defer_by=3600)
    await pool.enqueue_job("ok", 4)
    await pool.enqueue_job("ok", 5)
    # Another queue on the default name: its own failure is its own.
    await pool.enqueue_job("boom", 7, _queue_name="arq:queue")
    worker = Worker(functions=[ok, boom], redis_settings=settings, burst=True, max_tries=1,
                    poll_delay=0.05, handle_signals=False)
    await worker.main()
    await worker.close()
    await pool.enqueue_job("ok", 8, _queue_name="arq:queue")
    results = await pool.all_job_results()
    own_failed = {name: sum(1 for r in results if not r.success and r.queue_name == name)
                  for name in ("emails", "arq:queue")}
    assert own_failed == {"emails": 2, "arq:queue": 1}
    queued = await pool.queued_jobs(queue_name="emails")
    await pool.aclose()
    data = status(redis_url)
    queues = library_queues(data, "arq")
    assert set(queues) == {"emails", "arq:queue"}
    c = counts(queues["emails"])
    assert (c["due"], c["deferred"], c["failed"]) == (2, 1, own_failed["emails"])
    assert c["due"] + c["deferred"] == len(queued)
    assert counts(queues["arq:queue"])["failed"] == own_failed["arq:queue"]
    assert "emails" not in generic_keys(data)
    assert data["totals"]["dead"] == 3 and data["totals"]["scheduled"] == 1
    assert data["totals"]["waiting"] == 3


# -- saq -------------------------------------------------------------------------------------

@needs_lua
@pytest.mark.libraries
async def test_saq_failed_and_overdue_jobs_count_as_saq_does(redis_url, tmp_path):
    """saq's failed jobs (their job strings say failed) are counted and reach the dead
    total; a scheduled job that comes due with no worker to take it stays counted, as
    overdue, with an alert, and saq's own `Queue.info()` agrees (its scheduled = the
    console's scheduled + overdue)."""
    from saq import Queue, Worker

    from ferrite_tui.config import AlertConfig, Config

    async def ok(ctx, x=0):
        return x

    async def boom(ctx, x=0):
        raise ValueError("boom")

    conn = redis.Redis.from_url(redis_url)
    queue = Queue.from_url(redis_url, name="mail")
    await queue.connect()
    await queue.enqueue("boom", x=1)
    await queue.enqueue("boom", x=2)
    await queue.enqueue("ok", x=3)
    worker = Worker(queue, functions=[("ok", ok), ("boom", boom)], concurrency=1,
                    dequeue_timeout=0.05)
    task = asyncio.create_task(worker.start())
    try:
        await async_wait_until(lambda: conn.llen("saq:mail:queued") == 0
                               and conn.llen("saq:mail:active") == 0
                               and conn.zcard("saq:mail:incomplete") == 0, timeout=60,
                               message="saq worker did not finish its jobs")
    finally:
        await worker.stop()
        task.cancel()
    now_s = conn.time()[0]
    # Due two seconds from now: no worker runs to take it when it comes due.
    await queue.enqueue("ok", x=4, scheduled=now_s + 2)
    await queue.enqueue("ok", x=5, scheduled=now_s + 3600)
    await queue.enqueue("ok", x=6)
    await async_wait_until(lambda: conn.time()[0] >= now_s + 3, timeout=10)
    info = await queue.info()
    jobs = [await queue.job(k.decode().rsplit(":", 1)[1])
            for k in conn.scan_iter("saq:job:mail:*")]
    own_failed = sum(1 for job in jobs if job is not None and job.status == "failed")
    await queue.disconnect()
    # (saq's worker may end one of them aborted rather than failed: its own status.)
    assert (info["queued"], info["active"], info["scheduled"]) == (1, 0, 2) and own_failed >= 1

    data = status(redis_url)
    q = library_queues(data, "saq")["mail"]
    c = counts(q)
    assert (c["queued"], c["active"], c["failed"]) == (info["queued"], info["active"], own_failed)
    assert c["scheduled"] + c["overdue"] == info["scheduled"]
    assert (c["scheduled"], c["overdue"]) == (1, 1)
    totals = data["totals"]
    assert (totals["dead"], totals["overdue"], totals["scheduled"], totals["waiting"]) == \
        (own_failed, 1, 1, 1)
    # The alert, once the job has been due past the threshold.
    config = Config(alerts=AlertConfig(overdue_seconds=1.0))
    m = monitor_at(redis_url, config)
    await m.connect()
    try:
        await m.discover()
        snap = await m.poll()
    finally:
        await m.aclose()
    stats = next(s for s in snap.queues if s.ref.library and s.ref.library.library == "saq")
    assert any("due but not taken — is a worker running?" in a for a in stats.alerts)
    conn.close()


# -- BullMQ ----------------------------------------------------------------------------------

@needs_lua
@pytest.mark.libraries
async def test_bullmq_cluster_prefix_paused_and_job_schedulers_as_bullmq_counts_them(redis_url):
    """The `{bull}` prefix (BullMQ's advice for clusters) is recognised with no config; a
    queue paused with `Queue.pause` shows as paused; its job schedulers (repeatable jobs)
    are counted as `getJobSchedulersCount` counts them; every state equals
    `getJobCounts`."""
    from bullmq import Queue, Worker

    conn = redis.Redis.from_url(redis_url)

    async def process(job, token):
        if job.data.get("fail"):
            raise ValueError("boom")
        return "ok"

    opts = {"connection": redis_url, "prefix": "{bull}"}
    queue = Queue("mail", opts)
    await queue.add("send", {"fail": True}, {"attempts": 1})
    await queue.add("send", {"x": 1})
    worker = Worker("mail", process, opts)
    try:
        await async_wait_until(lambda: conn.zcard("{bull}:mail:failed") == 1
                               and conn.zcard("{bull}:mail:completed") == 1, timeout=60,
                               message="BullMQ worker did not finish its jobs")
    finally:
        await worker.close()
    await queue.upsertJobScheduler("hourly", {"every": 3_600_000}, "tick", {})
    await queue.add("later", {"x": 2}, {"delay": 3_600_000})
    await queue.pause()
    await queue.add("send", {"x": 3})
    own = await queue.getJobCounts("wait", "paused", "active", "delayed", "failed",
                                   "completed", "prioritized")
    schedulers = await queue.getJobSchedulersCount()
    paused = await queue.isPaused()
    await queue.close()
    assert paused and schedulers == 1 and own["failed"] == 1

    data = status(redis_url)
    q = library_queues(data, "bullmq")["mail"]
    c = counts(q)
    assert {k: c[k] for k in own} == own
    assert c["schedulers"] == schedulers
    assert any(a.startswith("paused") for a in q["alerts"])
    assert q["key"] == "{bull}:mail:wait"
    assert not any(k.startswith("{bull}:") for k in generic_keys(data))
    assert data["totals"]["dead"] == 1
    assert data["totals"]["scheduled"] == own["delayed"]
    conn.close()


def kill_bullmq_worker_once_it_holds(url: str, tmp_path, jobs: int) -> None:
    """BullMQ's own worker, a process of its own on queue `mail`, takes `jobs` jobs (each
    held in its processor: the job's body never ends) and is then killed, its locks left to
    expire (1 s; no stalled check runs)."""
    import signal

    script = tmp_path / "worker.py"
    script.write_text(
        "import asyncio, sys\n"
        "from bullmq import Worker\n"
        "async def process(job, token):\n"
        "    print('taken', flush=True)\n"
        "    await asyncio.sleep(3600)  # the job runs until the worker is killed\n"
        "async def main():\n"
        "    Worker('mail', process, {'connection': sys.argv[1], 'lockDuration': 1000,\n"
        "                             'stalledInterval': 3_600_000,\n"
        f"                             'concurrency': {jobs}}})\n"
        "    await asyncio.Event().wait()\n"
        "asyncio.run(main())\n")
    proc = subprocess.Popen([sys.executable, str(script), url], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        assert [proc.stdout.readline().strip() for _ in range(jobs)] == ["taken"] * jobs
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


@needs_lua
@pytest.mark.libraries
async def test_bullmq_active_job_whose_worker_died_is_flagged_stalled(redis_url, tmp_path):
    """BullMQ's worker (a process of its own) takes a job and is killed: its lock expires,
    the job stays active with no one to move it (no worker runs the stalled check); the
    console flags it stalled, as BullMQ's check would find it (active, lock gone)."""

    from bullmq import Queue

    conn = redis.Redis.from_url(redis_url)
    queue = Queue("mail", {"connection": redis_url})
    job = await queue.add("send", {"x": 1})
    kill_bullmq_worker_once_it_holds(redis_url, tmp_path, 1)
    await async_wait_until(lambda: not conn.exists(f"bull:mail:{job.id}:lock"), timeout=30,
                           message="the dead worker's lock did not expire")
    own = await queue.getJobCounts("active")
    await queue.close()
    lockless = sum(1 for i in conn.lrange("bull:mail:active", 0, -1)  # type: ignore[misc]
                   if not conn.exists(f"bull:mail:{i.decode()}:lock"))
    assert own == {"active": 1} and lockless == 1
    data = status(redis_url)
    q = library_queues(data, "bullmq")["mail"]
    assert counts(q)["active"] == 1
    assert f"{lockless} stalled (active, no worker's lock: is a worker running?)" in q["alerts"]
    conn.close()
