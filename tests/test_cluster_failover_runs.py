"""Bulk runs through a failover: a primary killed (SIGKILL) mid-run, replicas on. The run
waits for the replica to take over, delivers its own chunk in flight and goes on by itself:
every letter requeued exactly once, the counts exact, nothing left staged."""

from __future__ import annotations

import json

import pytest
import redis

from ferrite_tui.backend import crossslot
from ferrite_tui.backend.bulk import BulkRunner, HeadPlan
from ferrite_tui.backend.client import Client
from ferrite_tui.backend.dlq import DeadLetters
from ferrite_tui.backend.lists import read_page
from ferrite_tui.backend.movebase import PositionalPlan
from helpers import client_at, wait_until

pytestmark = pytest.mark.cluster

LETTERS = 3000
NOW_MS = 1_700_000_000_000


def letter(i: int) -> bytes:
    return json.dumps({"job": {"id": f"j{i}", "payload": i, "retry_count": 3,
                               "last_error": "boom", "first_attempt": NOW_MS},
                       "dead_at": NOW_MS, "reason": "boom"}).encode()


def pair_on_two_nodes(client: Client, target_not_on: str = "") -> tuple[str, str]:
    """A dead-letter list and its target on two different primaries (the target's not
    `target_not_on`)."""
    router = client.cluster
    assert router is not None
    for i in range(200):
        dlq, target = f"app{i}:dlq", f"app{i}"
        if router.node_of(dlq) != router.node_of(target) != target_not_on:
            return dlq, target
    raise AssertionError("no pair of keys on two nodes")


async def arranged(cluster_factory):
    cluster = cluster_factory(primaries=3, replicas=1)
    client = client_at(cluster.url, command_timeout=2.0)
    await client.connect()
    dlq, target = pair_on_two_nodes(client)
    sync = redis.RedisCluster.from_url(cluster.url)
    for start in range(0, LETTERS, 500):
        sync.rpush(dlq, *[letter(i) for i in range(start, min(start + 500, LETTERS))])
    for server in cluster.primaries:  # every replica holds the letters before the kill
        r = redis.Redis.from_url(server.url)
        try:
            assert r.execute_command("WAIT", 1, 20_000) == 1
        finally:
            r.close()
    return cluster, client, sync, dlq, target


def server_of(cluster, client: Client, key: str):
    name = client.cluster.node_of(key)
    return next(s for s in cluster.primaries if f"127.0.0.1:{s.port}" == name)


def kill_at_staged_chunk(monkeypatch, victim, chunk: int) -> list[str]:
    """SIGKILL `victim` right after the `chunk`-th chunk is staged (before its delivery)."""
    seen: list[str] = []

    def step(name: str, stage: str) -> None:
        if name == "staged":
            seen.append(stage)
            if len(seen) == chunk:
                victim.kill()

    monkeypatch.setattr(crossslot, "after_step", step)
    return seen


def check_every_letter_once(sync, dlq: str, target: str) -> None:
    assert sync.llen(dlq) == 0
    ids = [json.loads(v)["id"] for v in sync.lrange(target, 0, -1)]
    assert len(ids) == LETTERS, f"{len(ids) - LETTERS:+} letters in the target"
    assert sorted(ids) == sorted(f"j{i}" for i in range(LETTERS))
    staged = [k for k in sync.scan_iter(match="ferrite-tui:*", target_nodes=sync.PRIMARIES)]
    assert staged == []


async def test_requeue_all_goes_on_after_the_lists_primary_is_killed(cluster_factory,
                                                                     monkeypatch):
    """R on the whole list (head chunks): the list's own primary dies with a chunk staged
    on it. The run waits for the replica, delivers that chunk, and finishes the rest."""
    cluster, client, sync, dlq, target = await arranged(cluster_factory)
    try:
        victim = server_of(cluster, client, dlq)
        kill_at_staged_chunk(monkeypatch, victim, chunk=3)
        letters = DeadLetters(client)
        tail = sync.lindex(dlq, -1)
        report = await BulkRunner(HeadPlan(LETTERS, 500),
                                  lambda n: letters.requeue_head(dlq, target, n, stop_at=tail),
                                  client=client).run()
        assert victim.pid is None  # it really was killed mid-run
        assert report.stopped is None, report.summary("requeued")
        assert (report.done, report.skipped, report.failed, report.in_flight,
                report.not_attempted) == (LETTERS, 0, 0, 0, 0), report.summary("requeued")
        assert report.failovers == 1
        check_every_letter_once(sync, dlq, target)
    finally:
        await client.aclose()
        sync.close()


async def test_requeue_shown_goes_on_after_the_targets_primary_is_killed(cluster_factory,
                                                                        monkeypatch):
    """R on the letters shown (exact values): the target's primary dies with a chunk staged
    and not yet delivered. The run delivers it on the promoted replica and goes on."""
    cluster, client, sync, dlq, target = await arranged(cluster_factory)
    try:
        victim = server_of(cluster, client, target)
        kill_at_staged_chunk(monkeypatch, victim, chunk=4)
        items: list = []
        for start in range(0, LETTERS, 1000):
            items += (await read_page(client, dlq, start, 1000)).items
        letters = DeadLetters(client)
        report = await BulkRunner(PositionalPlan(items, max_items=200),
                                  lambda chunk: letters.requeue(dlq, target, chunk),
                                  client=client).run()
        assert victim.pid is None
        assert report.stopped is None, report.summary("requeued")
        assert (report.done, report.skipped, report.failed, report.in_flight,
                report.not_attempted) == (LETTERS, 0, 0, 0, 0), report.summary("requeued")
        assert report.failovers == 1
        check_every_letter_once(sync, dlq, target)
    finally:
        await client.aclose()
        sync.close()


async def test_a_run_past_the_bound_names_the_node_and_the_key_that_resumes_it(
        cluster_factory, monkeypatch):
    """No replica to take over: the run stops after its bound, and its line counts what is
    done, in flight and not tried, and names the node that died (not the seed)."""
    from ferrite_tui.backend import bulk

    cluster = cluster_factory(primaries=3)
    client = client_at(cluster.url, command_timeout=1.0)
    await client.connect()
    sync = redis.RedisCluster.from_url(cluster.url)
    try:
        seed = f"127.0.0.1:{cluster.primaries[0].port}"  # the node the console started on
        dlq, target = pair_on_two_nodes(client, target_not_on=seed)
        sync.rpush(dlq, *[letter(i) for i in range(1000)])
        victim = server_of(cluster, client, target)
        kill_at_staged_chunk(monkeypatch, victim, chunk=2)
        monkeypatch.setattr(bulk, "NODE_TIMEOUT_FACTOR", 1)
        monkeypatch.setattr(bulk, "FAILURE_SLACK_S", 1.0)
        letters = DeadLetters(client)
        report = await BulkRunner(HeadPlan(1000, 200),
                                  lambda n: letters.requeue_head(dlq, target, n),
                                  client=client,
                                  resume="F on the Dead letters panel resumes it").run()
        line = report.summary("requeued")
        assert report.stopped is not None, line
        assert f"node 127.0.0.1:{victim.port} failed" in line and seed not in line
        assert (report.done, report.in_flight, report.not_attempted) == (200, 200, 600), line
        assert "200 in flight" in line and "600 not attempted" in line
        assert "F on the Dead letters panel resumes it" in line
        # A read of a key on it (a panel's scan) names it too, not the seed.
        from ferrite_tui.backend.connection import describe_error

        with pytest.raises(redis.RedisError) as failure:
            await client.for_keys(target).redis.llen(target)
        said = describe_error(failure.value, client.settings)
        assert f"127.0.0.1:{victim.port}" in said and seed not in said, said
        # The node comes back (empty: no replica, no persistence): the rest of the list was
        # untouched, and the chunk in flight is staged on the list's node.
        victim.start()
        wait_until(lambda: sync.llen(dlq) == 600, timeout=20,
                   ignore_exceptions=(redis.RedisError,))
        await client.cluster.refresh()
        assert (await crossslot.inflight(client)).items == 200
    finally:
        await client.aclose()
        sync.close()


async def test_run_all_overdue_goes_on_after_the_scheduled_sets_primary_is_killed(
        cluster_factory, monkeypatch):
    """X on a delayed queue whose ready list is in another slot: the scheduled set's primary
    dies with a chunk staged on it. The run delivers it and goes on: every due job is on the
    ready list once, and the count is exact."""
    from ferrite_tui.backend.delayed import DelayedQueue

    cluster = cluster_factory(primaries=3, replicas=1)
    client = client_at(cluster.url, command_timeout=2.0)
    await client.connect()
    sync = redis.RedisCluster.from_url(cluster.url)
    try:
        router = client.cluster
        scheduled, ready = next(
            (f"jobs{i}:scheduled", f"jobs{i}:ready") for i in range(200)
            if router.node_of(f"jobs{i}:scheduled") != router.node_of(f"jobs{i}:ready"))
        jobs = {f"job-{i}".encode(): NOW_MS - 1000 * (i + 1) for i in range(2000)}
        sync.zadd(scheduled, jobs)
        for server in cluster.primaries:
            r = redis.Redis.from_url(server.url)
            try:
                assert r.execute_command("WAIT", 1, 20_000) == 1
            finally:
                r.close()
        victim = server_of(cluster, client, scheduled)
        kill_at_staged_chunk(monkeypatch, victim, chunk=5)
        report = await DelayedQueue(client, scheduled, ready).run_overdue(
            NOW_MS, len(jobs), chunk_size=100)
        assert victim.pid is None
        assert report.stopped is None, report.summary("moved")
        assert (report.done, report.skipped, report.failed, report.not_attempted) == \
            (len(jobs), 0, 0, 0), report.summary("moved")
        assert report.failovers == 1
        got = sync.lrange(ready, 0, -1)
        assert len(got) == len(jobs) and set(got) == set(jobs)
        assert sync.zcard(scheduled) == 0
        assert list(sync.scan_iter(match="ferrite-tui:*", target_nodes=sync.PRIMARIES)) == []
    finally:
        await client.aclose()
        sync.close()


ENTRIES = 3000


async def stream_on_a_cluster(cluster_factory, monkeypatch, kill_at_chunk: int):
    """A stream whose group's every entry is pending with worker-1, on a cluster with
    replicas; its primary is SIGKILLed right after the run's `kill_at_chunk`-th chunk."""
    from ferrite_tui.backend import streambulk

    cluster = cluster_factory(primaries=3, replicas=1)
    client = client_at(cluster.url, command_timeout=2.0)
    await client.connect()
    sync = redis.RedisCluster.from_url(cluster.url)
    key, group = "events:main", "workers"
    sync.xgroup_create(key, group, id="0", mkstream=True)
    for start in range(0, ENTRIES, 500):
        pipe = sync.pipeline(transaction=False)
        for i in range(start, min(start + 500, ENTRIES)):
            pipe.xadd(key, {"data": json.dumps({"id": f"e{i}"})})
        pipe.execute()
    sync.xreadgroup(group, "worker-1", {key: ">"}, count=ENTRIES)
    for server in cluster.primaries:  # every replica holds the entries before the kill
        r = redis.Redis.from_url(server.url)
        try:
            assert r.execute_command("WAIT", 1, 20_000) == 1
        finally:
            r.close()
    victim = server_of(cluster, client, key)

    def step(name: str, chunk: int) -> None:
        if chunk == kill_at_chunk:
            victim.kill()

    monkeypatch.setattr(streambulk, "after_chunk", step)
    return client, sync, key, group, victim


async def test_stream_ack_goes_on_after_the_streams_primary_is_killed(cluster_factory,
                                                                      monkeypatch):
    """A on every pending entry: the stream's primary dies mid-run. The run waits for the
    replica and acks the rest by itself: every entry acked once, the counts exact."""
    from ferrite_tui.backend.streambulk import PendingRun
    from ferrite_tui.backend.streams import Streams

    client, sync, key, group, victim = await stream_on_a_cluster(
        cluster_factory, monkeypatch, kill_at_chunk=2)
    try:
        ids = [e.id for e in (await Streams(client).pending_page(key, group,
                                                                 count=ENTRIES)).entries]
        assert len(ids) == ENTRIES
        run = PendingRun(Streams(client), key, group)
        report = await BulkRunner(ids, run.ack, chunk_size=500, client=client).run()
        assert victim.pid is None  # it really was killed mid-run
        line = report.summary("acked")
        assert report.stopped is None, line
        assert (report.done, report.skipped, report.failed, report.not_attempted) == \
            (ENTRIES, 0, 0, 0), line
        assert report.failovers == 1
        assert sync.xpending(key, group)["pending"] == 0
    finally:
        await client.aclose()
        sync.close()


async def test_stream_claim_idle_goes_on_after_the_streams_primary_is_killed(
        cluster_factory, monkeypatch):
    """C (claim every idle entry) to worker-2: the stream's primary dies mid-run. The run
    goes on by itself: every entry held by worker-2 once, the counts exact."""
    from ferrite_tui.backend.streambulk import IdlePages, PendingRun
    from ferrite_tui.backend.streams import Streams

    client, sync, key, group, victim = await stream_on_a_cluster(
        cluster_factory, monkeypatch, kill_at_chunk=3)
    try:
        run = PendingRun(Streams(client), key, group)
        plan = IdlePages(ENTRIES, size=500)
        report = await BulkRunner(plan, lambda n: run.claim_idle(plan, "worker-2", 0, n),
                                  client=client).run()
        assert victim.pid is None
        line = report.summary("claimed")
        assert report.stopped is None, line
        assert (report.done, report.skipped, report.failed, report.not_attempted) == \
            (ENTRIES, 0, 0, 0), line
        assert report.failovers == 1
        summary = sync.xpending(key, group)
        assert summary["pending"] == ENTRIES
        assert [(c["name"], c["pending"]) for c in summary["consumers"]] == \
            [(b"worker-2", ENTRIES)]
    finally:
        await client.aclose()
        sync.close()


async def test_stream_dead_letter_run_goes_on_after_the_streams_primary_is_killed(
        cluster_factory, monkeypatch):
    """K (pending entries to a dead-letter list in another slot): the stream's primary
    dies mid-run. The run goes on by itself: every entry acked and dead-lettered once."""
    from ferrite_tui.backend.streambulk import PendingRun
    from ferrite_tui.backend.streams import DLQ_CHUNK, Streams

    client, sync, key, group, victim = await stream_on_a_cluster(
        cluster_factory, monkeypatch, kill_at_chunk=5)
    try:
        router = client.cluster
        dlq = next(f"dead{i}" for i in range(200)
                   if router.node_of(f"dead{i}") != router.node_of(key))
        streams = Streams(client)
        entries = list((await streams.pending_page(key, group, count=ENTRIES)).entries)
        run = PendingRun(streams, key, group)
        report = await BulkRunner(entries, lambda part: run.dead_letter(dlq, NOW_MS, part),
                                  chunk_size=DLQ_CHUNK, client=client).run()
        assert victim.pid is None
        line = report.summary("moved")
        assert report.stopped is None, line
        assert (report.done, report.skipped, report.failed, report.not_attempted) == \
            (ENTRIES, 0, 0, 0), line
        assert report.failovers == 1
        assert sync.xpending(key, group)["pending"] == 0
        # Each entry's dead letter once: job.id is the entry's id, the payload its data.
        letters = [json.loads(v)["job"] for v in sync.lrange(dlq, 0, -1)]
        assert sorted(j["id"] for j in letters) == sorted(e.id for e in entries)
        assert sorted(j["payload"]["id"] for j in letters) == \
            sorted(f"e{i}" for i in range(ENTRIES))
        assert list(sync.scan_iter(match="ferrite-tui:*", target_nodes=sync.PRIMARIES)) == []
    finally:
        await client.aclose()
        sync.close()


async def test_a_stream_run_past_the_bound_names_the_node_and_the_key_that_resumes_it(
        cluster_factory, monkeypatch):
    """No replica to take over: the ack run stops after its bound; its line counts what is
    done and not tried, names the node that died and the key that resumes it."""
    from ferrite_tui.backend import bulk, streambulk
    from ferrite_tui.backend.streambulk import PendingRun
    from ferrite_tui.backend.streams import Streams

    cluster = cluster_factory(primaries=3)
    client = client_at(cluster.url, command_timeout=1.0)
    await client.connect()
    sync = redis.RedisCluster.from_url(cluster.url)
    try:
        key, group = "events:main", "workers"
        sync.xgroup_create(key, group, id="0", mkstream=True)
        for i in range(1000):
            sync.xadd(key, {"data": str(i)})
        sync.xreadgroup(group, "worker-1", {key: ">"}, count=1000)
        victim = server_of(cluster, client, key)
        monkeypatch.setattr(streambulk, "after_chunk",
                            lambda name, n: victim.kill() if n == 2 else None)
        monkeypatch.setattr(bulk, "NODE_TIMEOUT_FACTOR", 1)
        monkeypatch.setattr(bulk, "FAILURE_SLACK_S", 1.0)
        streams = Streams(client)
        ids = [e.id for e in (await streams.pending_page(key, group, count=1000)).entries]
        report = await BulkRunner(ids, PendingRun(streams, key, group).ack, chunk_size=200,
                                  client=client, resume="A on this panel acks the rest").run()
        line = report.summary("acked")
        assert report.stopped is not None, line
        assert f"node 127.0.0.1:{victim.port} failed" in line, line
        assert (report.done, report.skipped, report.failed, report.not_attempted) == \
            (400, 0, 0, 600), line
        assert "A on this panel acks the rest" in line
    finally:
        await client.aclose()
        sync.close()
