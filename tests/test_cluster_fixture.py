"""The local cluster fixture: forms, spreads slots over three primaries, cleans up."""

from __future__ import annotations

import os

import pytest
import redis

pytestmark = pytest.mark.cluster


def test_session_cluster_has_three_primaries_covering_every_slot(redis_cluster, cluster_sync):
    slots = cluster_sync.execute_command("CLUSTER", "SLOTS", target_nodes=redis.RedisCluster.RANDOM)
    covered = sum(int(hi) - int(lo) + 1 for lo, hi, *_ in slots)
    assert covered == 16384
    assert len({tuple(entry[2][:2]) for entry in slots}) == 3
    # Keys land on different primaries, and the client follows them.
    for i in range(30):
        cluster_sync.set(f"k{i}", i)
    owners = {cluster_sync.get_node_from_key(f"k{i}").port for i in range(30)}
    assert len(owners) == 3


def test_private_cluster_with_replicas_stops_cleanly(cluster_factory):
    cluster = cluster_factory(primaries=3, replicas=1)
    assert len(cluster.replicas) == 3
    r = redis.Redis.from_url(cluster.replicas[0].url)
    try:
        role = r.execute_command("ROLE")[0]
    finally:
        r.close()
    assert role == b"slave"
    dirs = [s.dir for s in cluster.nodes]
    pids = [s.pid for s in cluster.nodes]
    cluster.stop()
    assert all(d is not None and not os.path.exists(d) for d in dirs)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
