"""`status` on a cluster: the cluster table of the Server panel, each queue's node and the
chunks left in flight between hash slots, for scripts."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis
import redis.asyncio as aioredis

from ferrite_tui.demo.seeding import seed
from test_cli import run
from test_cluster_ui import _leave_in_flight

pytestmark = pytest.mark.cluster


async def test_status_json_has_the_cluster_nodes_queue_holders_and_staging(cluster_url):
    sync = aioredis.RedisCluster.from_url(cluster_url)
    try:
        await seed(sync)
        await _leave_in_flight(cluster_url, sync)  # 5 dead letters staged, not delivered
    finally:
        await sync.aclose()
    json_out, table_out = await asyncio.gather(
        asyncio.to_thread(run, "status", cluster_url, "--json"),
        asyncio.to_thread(run, "status", cluster_url))
    assert json_out.returncode == 0, json_out.stderr
    data = json.loads(json_out.stdout)
    cluster = data["cluster"]

    r = redis.RedisCluster.from_url(cluster_url)
    try:
        # Nodes as redis-py's own CLUSTER NODES parser reads them.
        nodes = r.cluster_nodes()
        assert cluster["state"] == "ok" and cluster["failover"] is None
        assert {n["address"]: (n["id"], n["role"], n["slots"], n["link"])
                for n in cluster["nodes"]} == {
            address: (n["node_id"], "primary" if "master" in n["flags"] else "replica",
                      [[int(lo), int(hi)] for lo, hi in n["slots"]],
                      "connected" if n["connected"] else "disconnected")
            for address, n in nodes.items()}
        assert sum(n["slot_count"] for n in cluster["nodes"]) == 16384
        for n in cluster["nodes"]:
            assert n["state"] == "ok" and n["error"] is None
            assert isinstance(n["used_memory"], int) and n["used_memory"] > 0
            assert isinstance(n["ops_per_sec"], float | int)
            assert isinstance(n["repl_offset"], int)
        # Each queue's node is the primary serving its key's slot (the Overview's column).
        assert data["queues"]
        for q in data["queues"]:
            assert q["node"] == r.get_node_from_key(q["key"]).name, q["key"]
        assert len({q["node"] for q in data["queues"]}) >= 2
        # The staged chunk: where it is, where it goes, how many items.
        (chunk,) = cluster["staging"]
        assert chunk["items"] == 5 and not chunk["delivered"]
        assert chunk["target"] == "queue:main"
        assert chunk["node"] == r.get_node_from_key(chunk["stage"]).name
        assert chunk["target_node"] == r.get_node_from_key("queue:main").name
        assert r.llen(chunk["stage"]) == 5
        assert cluster["in_flight_items"] == 5
        if data["server"]["version"].startswith("6."):
            assert cluster["sharded_channels"] is None  # no sharded Pub/Sub before 7
        else:
            assert cluster["sharded_channels"] == []
    finally:
        r.close()
    assert table_out.returncode == 0, table_out.stderr
    assert "cluster ok · 3 primaries, 0 replicas · 5 item(s) in flight" in table_out.stdout
