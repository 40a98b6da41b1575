"""Pub/Sub on a cluster: PUBLISH reaches subscribers on every node; the channel table
merges the nodes."""

from __future__ import annotations

import pytest
import redis

from ferrite_tui.backend.client import ConnectionSettings
from ferrite_tui.backend.monitor import Monitor
from ferrite_tui.backend.pubsub import PubSub, Tail
from ferrite_tui.config import Config
from helpers import async_wait_until

pytestmark = pytest.mark.cluster


async def test_tail_and_channel_table_span_the_nodes(redis_cluster, cluster_url):
    nodes = [redis.Redis.from_url(s.url) for s in redis_cluster.primaries]
    subs = []
    monitor = Monitor(ConnectionSettings(url=cluster_url), Config())
    try:
        # One subscriber of "news" on each of two nodes, a pattern subscriber on the third.
        for r, how in zip(nodes, ("news", "news", "n*")):
            p = r.pubsub()
            (p.psubscribe if "*" in how else p.subscribe)(how)
            p.get_message(timeout=5)
            subs.append(p)
        await monitor.connect()
        tail = Tail(monitor.client, ["orders.*"])
        tail.start()
        await async_wait_until(lambda: tail.state.status == "live", timeout=10)
        # Published on a node other than the tail's: the cluster relays it.
        tail_node = monitor.client.cluster.subscribe_node()
        other = next(r for r, s in zip(nodes, redis_cluster.primaries)
                     if f"127.0.0.1:{s.port}" != tail_node)
        other.publish("orders.created", b"o-1")
        await async_wait_until(lambda: tail.received == 1, timeout=10)
        assert tail.entries()[-1].data == b"o-1"

        snap = await monitor.poll()
        table = {c.name: c.subscribers for c in snap.channels}
        assert table["news"] == 2  # NUMSUB summed over the nodes
        assert snap.numpat == 1 + 1  # "n*" here, "orders.*" of the tail
        # PUBLISH through the console reaches subscribers on both nodes.
        await PubSub(monitor.client).publish("news", "hello")
        for p in subs[:2]:
            msg = None
            for _ in range(50):
                msg = p.get_message(timeout=0.2)
                if msg and msg["type"] == "message":
                    break
            assert msg and msg["data"] == b"hello"
        await tail.aclose()
    finally:
        for p in subs:
            p.close()
        for r in nodes:
            r.close()
        await monitor.aclose()


async def test_sharded_channels_tailed_per_shard_and_listed(redis_cluster, cluster_url):
    from ferrite_tui.backend.shards import ShardedPubSub, ShardedTail

    monitor = Monitor(ConnectionSettings(url=cluster_url), Config())
    await monitor.connect()
    try:
        if int(monitor.client.capabilities.version.split(".")[0]) < 7:
            pytest.skip("sharded Pub/Sub needs Redis 7")
        router = monitor.client.cluster
        channels = ["shard.a", "shard.b", "shard.c", "shard.d"]
        owners = {router.node_of(c) for c in channels}
        assert len(owners) >= 2  # the test needs channels on more than one shard
        tail = ShardedTail(monitor.client, channels)
        tail.start()
        await async_wait_until(lambda: tail.state.status == "live", timeout=10,
                               message=str([(f.node, f.state) for f in tail.feeds]))
        pub = ShardedPubSub(monitor.client)
        for c in channels:
            assert await pub.publish(c, f"to {c}") == 1  # our tail, on that shard
        await async_wait_until(lambda: tail.received == 4, timeout=10)
        assert sorted(e.data for e in tail.entries() if e.is_message) == sorted(
            f"to {c}".encode() for c in channels)

        await monitor.poll()  # lists the channels
        view = (await monitor.poll()).cluster  # and counts them
        listed = {name: (subs, node) for name, subs, node in view.shard_channels}
        assert set(listed) == set(channels)
        assert all(subs == 1 and node == router.node_of(name)
                   for name, (subs, node) in listed.items())
        await tail.aclose()
        assert not tail.running
    finally:
        await monitor.aclose()
