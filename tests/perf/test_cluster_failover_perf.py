"""Requeue of 100,000 dead letters across slots through one failover, beside the same
requeue without one (same cluster, same run): the time the failover cost the run, printed
next to the failover's own duration (kill -> the replica answers as primary).

The run waits the failure out by itself (bulk.BulkRunner), so the time lost should be about
the failover's duration; the issue's budget is that plus 2 s. Assertions on counts (every
letter requeued exactly once, nothing left staged), not seconds.

Run: python -m pytest -n 0 -m perf -s tests/perf/test_cluster_failover_perf.py
Size: FERRITE_TUI_PERF_DLQ (default 100,000).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest
import redis

from ferrite_tui.backend import crossslot
from ferrite_tui.backend.bulk import BulkReport, BulkRunner, HeadPlan
from ferrite_tui.backend.dlq import DeadLetters
from ferrite_tui.ui.panels.deadletters.panel import HEAD_CHUNK
from helpers import client_at

pytestmark = [pytest.mark.perf, pytest.mark.cluster]

N = int(os.environ.get("FERRITE_TUI_PERF_DLQ", "100000"))


def dead(i: int) -> bytes:
    return (b'{"job":{"id":"job-%08d","payload":{"n":%d},"retry_count":3,'
            b'"last_error":"SMTP timeout","first_attempt":%d},"dead_at":%d,'
            b'"reason":"SMTP timeout"}' % (i, i, 1_700_000_000_000 + i, 1_700_000_100_000 + i))


def fill(sync: redis.RedisCluster, cluster, dlq: str) -> None:
    for start in range(0, N, 10_000):
        sync.rpush(dlq, *[dead(i) for i in range(start, min(N, start + 10_000))])
    for server in cluster.primaries:  # the replicas hold every letter before a kill
        if server.running:
            r = redis.Redis.from_url(server.url)
            try:
                if r.execute_command("ROLE")[2]:
                    assert r.execute_command("WAIT", 1, 30_000) == 1
            finally:
                r.close()


def check(sync: redis.RedisCluster, dlq: str, target: str) -> None:
    assert sync.llen(dlq) == 0
    assert sync.llen(target) == N
    ids = {v[10:22] for v in sync.lrange(target, 0, -1)}  # b'{"id":"job-NNNNNNNN"'
    assert len(ids) == N  # none twice
    assert list(sync.scan_iter(match="ferrite-tui:*", target_nodes=sync.PRIMARIES)) == []


async def requeue_all(url: str, dlq: str, target: str) -> tuple[float, BulkReport]:
    client = client_at(url, command_timeout=2.0)
    await client.connect()
    try:
        letters = DeadLetters(client)
        started = time.perf_counter()
        report = await BulkRunner(HeadPlan(N, HEAD_CHUNK),
                                  lambda n: letters.requeue_head(dlq, target, n),
                                  client=client).run()
        return time.perf_counter() - started, report
    finally:
        await client.aclose()


def test_cross_slot_requeue_through_a_failover(cluster_factory, monkeypatch):
    cluster = cluster_factory(primaries=3, replicas=1)
    sync = redis.RedisCluster.from_url(cluster.url)
    try:
        # Baseline: the same requeue, nothing killed.
        fill(sync, cluster, "bench:base:dlq")
        base_s, base = asyncio.run(requeue_all(cluster.url, "bench:base:dlq", "bench:base"))
        assert base.done == N and base.stopped is None, base.summary("requeued")
        check(sync, "bench:base:dlq", "bench:base")

        dlq, target = "bench:dlq", "bench"
        fill(sync, cluster, dlq)
        slot = sync.keyslot(dlq)
        owner = sync.nodes_manager.get_node_from_slot(slot)
        index = next(i for i, s in enumerate(cluster.primaries) if s.port == owner.port)
        victim, heir = cluster.primaries[index], cluster.replicas[index]
        promoted: list[float] = []
        killed: list[float] = []

        def watch_heir() -> None:
            r = redis.Redis.from_url(heir.url)
            try:
                while r.execute_command("ROLE")[0] != b"master":
                    time.sleep(0.01)  # a probe, not a wait for the test's outcome
                promoted.append(time.perf_counter())
            finally:
                r.close()

        chunks = 0
        middle = N // HEAD_CHUNK // 2

        def step(name: str, stage: str) -> None:
            nonlocal chunks
            if name == "staged":
                chunks += 1
                if chunks == middle:
                    victim.kill()
                    killed.append(time.perf_counter())
                    threading.Thread(target=watch_heir, daemon=True).start()

        monkeypatch.setattr(crossslot, "after_step", step)
        run_s, report = asyncio.run(requeue_all(cluster.url, dlq, target))
        monkeypatch.setattr(crossslot, "after_step", None)
        assert killed and promoted, "the failover did not happen mid-run"
        assert (report.done, report.skipped, report.failed, report.in_flight,
                report.not_attempted) == (N, 0, 0, 0, 0), report.summary("requeued")
        assert report.failovers == 1
        sync.nodes_manager.initialize()
        check(sync, dlq, target)
        failover_s = promoted[0] - killed[0]
        lost_s = run_s - base_s
        print(f"\n  requeue of {N:,} letters across slots        seconds")
        print(f"  without a failure (baseline)              {base_s:8.2f}")
        print(f"  with the list's primary killed mid-run    {run_s:8.2f}")
        print(f"  time lost to the failover                 {lost_s:8.2f}")
        print(f"  the failover itself (kill -> promoted)    {failover_s:8.2f}"
              f"   (budget for the loss: {failover_s + 2:.2f})")
        print(f"  the run's own wait                        {report.waited:8.2f}")
    finally:
        sync.close()
