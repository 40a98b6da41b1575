"""The console on a Redis Cluster: connect, discovery and poll per primary."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from ferrite_tui.backend.shards import ShardedTail
from ferrite_tui.config import Config
from ferrite_tui.demo.seeding import seed
from helpers import async_wait_until, client_at, monitor_at

pytestmark = pytest.mark.cluster

NOW_MS = 1_700_000_000_000
# Hash-tagged queues (main list and DLQ in one slot) beside the demo's untagged ones.
TAGGED = ("queue:{billing}", "queue:{billing}:dlq", "queue:{billing}:processing")


async def _arrange(client) -> None:
    await seed(client, now_ms=NOW_MS)
    pipe = client.pipeline(transaction=False)
    for i in range(25):
        pipe.rpush(TAGGED[0], f'{{"id":"b{i}","payload":{i},"enqueued_at":{NOW_MS}}}')
    for i in range(7):
        pipe.rpush(TAGGED[1], f'{{"job":{{"id":"d{i}","payload":{i}}},"dead_at":{NOW_MS},'
                              f'"reason":"boom"}}')
    pipe.lpush(TAGGED[2], b'{"id":"p1","payload":1,"enqueued_at":1}')
    await pipe.execute()


def _figures(snapshot):
    out = {}
    for q in snapshot.queues:
        out[q.ref.ident] = (
            q.ref.kind, q.depth, q.processing, q.ready, q.overdue, q.pending, q.error,
            tuple((g.name, g.consumers, g.pending, g.last_delivered_id, g.lag, g.entries_read)
                  for g in q.groups))
    return out


async def _observe(url: str):
    monitor = monitor_at(url)
    try:
        await monitor.connect()
        refs = await monitor.discover()
        snap = await monitor.poll()
        return monitor.client.cluster is not None, refs, snap
    finally:
        await monitor.aclose()


async def test_cluster_detected_and_figures_equal_one_server(cluster_url, redis_url):
    rc = aioredis.RedisCluster.from_url(cluster_url)
    single = aioredis.Redis.from_url(redis_url)
    try:
        await _arrange(rc)
        await _arrange(single)
    finally:
        await rc.aclose()
        await single.aclose()

    on_cluster, cluster_refs, cluster_snap = await _observe(cluster_url)
    on_single, single_refs, single_snap = await _observe(redis_url)
    assert on_cluster and not on_single
    assert [r.ident for r in cluster_refs] == [r.ident for r in single_refs]
    assert len(cluster_refs) >= 8
    assert _figures(cluster_snap) == _figures(single_snap)
    # One pipeline per primary (no channels here, so no NUMSUB round).
    assert cluster_snap.round_trips == 3
    # TIME rode in those pipelines (the first node's answer): the clock is the server's.
    assert cluster_snap.server_time_ms is not None and cluster_snap.clock_offset_ms is not None
    assert abs(cluster_snap.clock_offset_ms) < 1000
    view = cluster_snap.cluster
    assert view is not None and view.state == "ok"
    primaries = [n for n in view.nodes if n.role == "primary"]
    assert len(primaries) == 3 and sum(n.slot_count for n in primaries) == 16384
    assert all(n.used_memory and n.link == "connected" for n in primaries)
    # Queues really are spread over the nodes, and the view says where each one is.
    holders = {view.node_of(q.ref.key) for q in cluster_snap.queues}
    assert len(holders) == 3
    # INFO totals add up over the primaries.
    keys = single_snap.server.keyspace["db0"]["keys"]
    assert cluster_snap.server.keyspace["db0"]["keys"] == keys


async def test_cluster_named_by_url_option_and_read_only(cluster_url):
    client = client_at(cluster_url + "?cluster=yes", read_only=True)
    try:
        await client.connect()
        assert client.cluster is not None
        assert client.capabilities.server_kind == "redis"
        from ferrite_tui.backend.errors import ReadOnlyError
        with pytest.raises(ReadOnlyError):
            client.guard("requeue")
    finally:
        await client.aclose()


async def test_cluster_off_by_url_option_stays_on_one_node(cluster_url):
    client = client_at(cluster_url + "?cluster=no")
    try:
        await client.connect()
        assert client.cluster is None
    finally:
        await client.aclose()


async def _arranged_with_replicas(cluster_factory):
    """3 primaries with a replica each, holding the arranged data on every replica too."""
    cluster = cluster_factory(primaries=3, replicas=1)
    rc = aioredis.RedisCluster.from_url(cluster.url)
    try:
        await _arrange(rc)
    finally:
        await rc.aclose()
    await _replicated(cluster)
    return cluster


async def _replicated(cluster) -> None:
    """Replication is asynchronous: wait until each replica has every write (WAIT), so the
    failover itself loses nothing and the figures can be compared."""
    for server in cluster.primaries:
        r = aioredis.Redis.from_url(server.url)
        try:
            assert await r.execute_command("WAIT", 1, 20_000) == 1
        finally:
            await r.aclose()


async def test_poll_survives_failover_and_says_what_happened(cluster_factory):
    import time

    cluster = await _arranged_with_replicas(cluster_factory)
    monitor = monitor_at(cluster.url, command_timeout=2.0)
    try:
        await monitor.connect()
        await monitor.discover()
        before = _figures(await monitor.poll())
        assert not any(f[6] for f in before.values())

        victim = cluster.primaries[1]
        address = f"127.0.0.1:{victim.port}"
        router = monitor.client.cluster
        # A sharded channel of the victim's shard, tailed (Redis 7): it follows the slot.
        channel = next(c for c in (f"alerts.{{{i}}}" for i in range(100))
                       if router.node_of(c) == address)
        tail = None
        if monitor.client.capabilities.sharded_pubsub:
            tail = ShardedTail(monitor.client, (), [channel])
            tail.start()
            await async_wait_until(lambda: tail.state.status == "live", timeout=10)
        victim.kill()
        snap = await monitor.poll()  # must not raise
        hit = [q for q in snap.queues if snap.cluster.node_of(q.ref.key) == address]
        assert hit and all(q.error and address in q.error for q in hit)
        assert snap.cluster.failover and address in snap.cluster.failover
        others = [q for q in snap.queues if snap.cluster.node_of(q.ref.key) != address]
        assert others and not any(q.error for q in others)

        # The replica takes over; polls keep going and come back whole.
        deadline = time.monotonic() + 60
        while True:
            snap = await monitor.poll()
            if not any(q.error for q in snap.queues) and snap.cluster.state == "ok":
                break
            assert time.monotonic() < deadline, [q.error for q in snap.queues if q.error]
            await asyncio.sleep(0.2)
        assert _figures(snap) == before
        said = " | ".join(text for _, text in snap.cluster.events)
        assert f"node {address} unreachable" in said
        assert f"{address} -> " in said and "(failover)" in said
        assert address not in {n for _, _, n in snap.cluster.slot_owners}
        # The dead node: no figures left from before, and the failover said to be over.
        (dead,) = [n for n in snap.cluster.nodes if n.address == address]
        assert dead.used_memory is None and dead.ops_per_sec is None and dead.error
        deadline = time.monotonic() + 30
        while snap.cluster.counts() != {"primaries": 3, "replicas": 2, "failing": 1}:
            assert time.monotonic() < deadline, snap.cluster.counts()
            await asyncio.sleep(0.2)
            snap = await monitor.poll()
        assert f"{address} failed (its slots are served by others)" in (
            snap.cluster.failover or "")
        if tail is not None:
            # The tail subscribed again where the slot lives now, and says it had a gap.
            new_owner = router.node_of(channel)
            await async_wait_until(lambda: tail.state.status == "live"
                                   and tail.feeds[0].node == new_owner, timeout=30)
            assert tail.gaps == 1
            node = router.node_client(new_owner)
            assert await node.redis.execute_command("SPUBLISH", channel, b"after") == 1
            await async_wait_until(lambda: tail.by_shard == {channel.encode(): 1})
            await tail.aclose()
    finally:
        await monitor.aclose()


async def test_node_failing_mid_scan_is_reported(cluster_factory):
    from dataclasses import replace

    from ferrite_tui.backend.errors import BackendError

    cluster = cluster_factory(primaries=3)
    rc = aioredis.RedisCluster.from_url(cluster.url)
    try:
        pipe = rc.pipeline(transaction=False)
        for i in range(600):
            pipe.rpush(f"work:{i}", b"x")
        await pipe.execute()
    finally:
        await rc.aclose()
    config = Config()
    config = replace(config, discovery=replace(config.discovery, scan_count=50))
    monitor = monitor_at(cluster.url, config, command_timeout=2.0)
    victim = cluster.primaries[2]
    steps = []

    def progress(p):
        steps.append(p)
        if len(steps) == 1:
            victim.kill()

    try:
        await monitor.connect()
        with pytest.raises(BackendError) as failure:
            await monitor.discover(progress)
        assert f"node 127.0.0.1:{victim.port} failed mid-scan" in str(failure.value)
        assert steps and not steps[-1].done
    finally:
        await monitor.aclose()


async def test_manual_failover_answers_moved_and_the_poll_follows(cluster_factory):
    """CLUSTER FAILOVER: the old primary stays up and answers MOVED; the same poll resends."""
    import time

    import redis

    cluster = await _arranged_with_replicas(cluster_factory)
    monitor = monitor_at(cluster.url)
    try:
        await monitor.connect()
        await monitor.discover()
        before = _figures(await monitor.poll())
        old = cluster.primaries[0]
        replica = cluster.replicas[0]
        r = redis.Redis.from_url(replica.url)
        try:
            r.execute_command("CLUSTER", "FAILOVER")
            deadline = time.monotonic() + 30
            while r.execute_command("ROLE")[0] != b"master":
                assert time.monotonic() < deadline, "the replica was not promoted"
                await asyncio.sleep(0.05)
        finally:
            r.close()
        r = redis.Redis.from_url(old.url)
        try:  # the old primary knows it too, so it answers MOVED (not the old data)
            while r.execute_command("ROLE")[0] != b"slave":
                assert time.monotonic() < deadline, "the old primary was not demoted"
                await asyncio.sleep(0.05)
        finally:
            r.close()
        snap = await monitor.poll()
        assert _figures(snap) == before
        said = " | ".join(text for _, text in snap.cluster.events)
        assert "redirected (MOVED)" in said
        assert f"127.0.0.1:{old.port} -> 127.0.0.1:{replica.port}" in said
    finally:
        await monitor.aclose()


async def test_acl_user_password_and_seed_nodes(cluster_factory):
    acl = ["user ops on >s3cret ~* &* +@all"]
    cluster = cluster_factory(primaries=3, password="admin-pw", extra_args=acl)
    port = cluster.primaries[1].port
    url = f"redis://ops:s3cret@127.0.0.1:{port}/0"
    rc = aioredis.RedisCluster.from_url(url)
    try:
        await _arrange(rc)
    finally:
        await rc.aclose()
    # The ACL user reaches every node (each node's client keeps the user and password).
    _, refs, snap = await _observe(url)
    assert len(refs) >= 8 and not [q.error for q in snap.queues if q.error]
    assert len({snap.cluster.node_of(q.ref.key) for q in snap.queues}) == 3

    from ferrite_tui.backend.errors import BackendError
    bad = client_at(f"redis://ops:wrong@127.0.0.1:{port}/0")
    with pytest.raises(BackendError, match="authentication failed"):
        await bad.connect()
    await bad.aclose()

    # The URL's node is down: the profile's seeds are tried next.
    dead = cluster.primaries[0]
    dead.kill()
    seeds = tuple(f"127.0.0.1:{s.port}" for s in cluster.primaries[1:])
    client = client_at(f"redis://ops:s3cret@127.0.0.1:{dead.port}/0", cluster=True, seeds=seeds)
    try:
        await client.connect()
        assert client.cluster is not None
        assert f"127.0.0.1:{dead.port}" in client.cluster.primaries()  # still owns its slots
    finally:
        await client.aclose()
