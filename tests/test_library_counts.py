"""Each library state's count equals the library's own count, on the library's own data
(made by its producer and worker), and the headline totals add the states up by role.

RQ's registries' `count`, arq's `all_job_results()`, saq's `Queue.info()`, BullMQ's
`getJobCounts`: the figures `status --json` shows are compared with those.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys

import pytest
import redis

from helpers import REDUCED
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
