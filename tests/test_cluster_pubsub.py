"""Pub/Sub on a cluster: PUBLISH reaches subscribers on every node; the channel table
merges the nodes."""

from __future__ import annotations

import pytest
import redis

from ferrite_tui.backend.pubsub import PubSub, Tail
from ferrite_tui.backend.shards import ShardedTail
from helpers import async_wait_until, monitor_at, running, skip_unless_redis_7
from test_pubsub_ui import fill_form, make_app, messages, notes, open_panel

pytestmark = pytest.mark.cluster


async def test_tail_and_channel_table_span_the_nodes(redis_cluster, cluster_url):
    nodes = [redis.Redis.from_url(s.url) for s in redis_cluster.primaries]
    subs = []
    monitor = monitor_at(cluster_url)
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
    from ferrite_tui.backend.shards import ShardedPubSub

    monitor = monitor_at(cluster_url)
    await monitor.connect()
    try:
        if int(monitor.client.capabilities.version.split(".")[0]) < 7:
            skip_unless_redis_7(cluster_url, "sharded Pub/Sub needs Redis 7")
        router = monitor.client.cluster
        channels = ["shard.a", "shard.b", "shard.c", "shard.d"]
        owners = {router.node_of(c) for c in channels}
        assert len(owners) >= 2  # the test needs channels on more than one shard
        tail = ShardedTail(monitor.client, (), channels)
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


# -- the Pub/Sub panel on a cluster (Pilot) ---------------------------------------------------

def _node_redis(cluster_sync, channel: str) -> redis.Redis:
    """A plain client of the primary that owns `channel`'s slot."""
    node = cluster_sync.get_node_from_key(channel)
    return redis.Redis(host=node.host, port=node.port)


def _subscriber(r: redis.Redis, sharded: str | None = None, plain: str | None = None):
    p = r.pubsub()
    if sharded:
        p.ssubscribe(sharded)
    if plain:
        p.subscribe(plain)
    assert p.get_message(timeout=5)["type"] in ("ssubscribe", "subscribe")
    return p


def _received(p, kind: str, expected: int) -> list[bytes]:
    """The messages of this kind a subscriber got: `expected` of them (each waited for with
    a deadline), then any extra one that follows within a moment."""
    import time

    out: list[bytes] = []
    deadline = time.monotonic() + 15
    while len(out) < expected and time.monotonic() < deadline:
        msg = p.get_message(timeout=1)
        if msg is not None and msg["type"] == kind:
            out.append(msg["data"])
    while (msg := p.get_message(timeout=0.2)) is not None:
        if msg["type"] == kind:
            out.append(msg["data"])
    return out


async def test_panel_publishes_to_every_node_and_tails_sharded_channels(
        redis_cluster, cluster_url, cluster_sync, tmp_path):
    app = make_app(cluster_url, tmp_path)
    async with running(app, size=(160, 50)) as pilot:
        panel = await open_panel(app, pilot)
        client = app.monitor.client
        await _publish_reaches_every_node(app, pilot, panel, redis_cluster)
        if not client.capabilities.sharded_pubsub:  # Redis 6.2: none, and the panel says so
            await async_wait_until(lambda: "sharded channels: not available" in
                                   str(panel.query_one("#note").render()))
            await pilot.press("s")
            await async_wait_until(lambda: any("not available on this server" in n
                                               for n in notes(app)))
            assert not isinstance(panel.tail, ShardedTail)
            return
        eu, us = "news.{eu}", "other.{us}"
        router = client.cluster
        assert router.node_of(eu) != router.node_of(us)
        # Someone else listens to the sharded news.{eu} on its shard: the table lists it.
        eu_node, us_node = _node_redis(cluster_sync, eu), _node_redis(cluster_sync, us)
        outside = _subscriber(eu_node, sharded=eu)
        table = panel.table
        try:
            key = f"shard:{eu}"
            await async_wait_until(lambda: key in table.row_keys
                                   and table.cell_text(key, "subs") == "1", timeout=15)
            assert table.cell_text(key, "kind") == "sharded"
            assert table.cell_text(key, "node") == router.node_of(eu)
            assert table.cell_text(key, "received") == "-"  # not tailed yet
            # enter on it: no pattern reaches a sharded channel, so the panel tails it.
            table.focus()
            table.select_key(key)
            await pilot.press("enter")
            tail = panel.tail
            assert isinstance(tail, ShardedTail)
            await async_wait_until(lambda: tail.shard_channels == (eu,)
                                   and tail.state.status == "live"
                                   and len(tail.feeds) == 1, timeout=15)
            assert tail.feeds[0].node == router.node_of(eu)
            # Another client: 25 SPUBLISH on news.{eu}, 3 PUBLISH on the plain channel of the
            # same name, 7 SPUBLISH on other.{us} (not tailed).
            for i in range(25):
                eu_node.spublish(eu, f"s-{i}")
            for i in range(3):
                cluster_sync.publish(eu, f"p-{i}")
            for i in range(7):
                us_node.spublish(us, f"u-{i}")
            await async_wait_until(lambda: tail.by_shard.get(eu.encode()) == 25
                                   and tail.by_channel.get(eu.encode()) == 3, timeout=15)
            # The log shows the sharded channel's messages only (the filter of enter).
            await async_wait_until(lambda: len(messages(panel.log_view)) == 25)
            assert [e.data for e in messages(panel.log_view)] == [
                f"s-{i}".encode() for i in range(25)]
            assert all(e.sharded for e in messages(panel.log_view))
            await async_wait_until(lambda: table.cell_text(key, "received") == "25"
                                   and table.cell_text(f"channel:{eu}", "received") == "3")
            assert table.cell_text(f"channel:{eu}", "kind") == "global"
            assert us.encode() not in tail.by_shard  # never subscribed
            # s: both sharded channels, on two nodes.
            await pilot.press("s")
            await fill_form(app, pilot, channels=f"{eu} {us}")
            await async_wait_until(lambda: tail.shard_channels == (eu, us)
                                   and len(tail.feeds) == 2
                                   and tail.state.status == "live", timeout=15)
            assert {f.node for f in tail.feeds} == {router.node_of(eu), router.node_of(us)}
            for i in range(4):
                us_node.spublish(us, f"u2-{i}")
            await async_wait_until(lambda: tail.by_shard.get(us.encode()) == 4, timeout=15)
            # n on the sharded row publishes with SPUBLISH: the outside subscriber and the tail.
            table.focus()
            table.select_key(key)
            await pilot.press("n")
            await fill_form(app, pilot, message="from the console")
            await async_wait_until(lambda: tail.by_shard.get(eu.encode()) == 26, timeout=15)
            owner = router.node_of(eu)
            await async_wait_until(lambda: any(
                f"Published to sharded {eu} on {owner}: 1 subscriber received it (plus "
                "this console's tail)" in n for n in notes(app)))
            got = _received(outside, "smessage", 26)
            assert got == [f"s-{i}".encode() for i in range(25)] + [b"from the console"]
            assert (tmp_path / "audit.log").read_text().count('"publish (sharded)"') == 1
        finally:
            outside.close()
            eu_node.close()
            us_node.close()


async def _publish_reaches_every_node(app, pilot, panel, redis_cluster) -> None:
    """n on a plain channel: PUBLISH, relayed by the cluster to a subscriber on every
    primary (the console's count covers the node that took it only, and says so)."""
    nodes = [redis.Redis.from_url(s.url) for s in redis_cluster.primaries]
    subs = [_subscriber(r, plain="alerts") for r in nodes]
    try:
        await async_wait_until(lambda: "channel:alerts" in panel.table.row_keys
                               and panel.table.cell_text("channel:alerts", "subs") == "3",
                               timeout=15)
        panel.table.focus()
        panel.table.select_key("channel:alerts")
        await pilot.press("n")
        fields = {"message": "disk full"}
        if app.monitor.client.capabilities.sharded_pubsub:
            fields["sharded"] = "no"
        await fill_form(app, pilot, **fields)
        await async_wait_until(lambda: any("Published to alerts" in n and "relays it to "
                                           "every node" in n for n in notes(app)))
        for p in subs:
            assert _received(p, "message", 1) == [b"disk full"]
    finally:
        for p in subs:
            p.close()
        for r in nodes:
            r.close()
