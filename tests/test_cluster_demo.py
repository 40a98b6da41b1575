"""`demo --cluster`: the usual workload on a local cluster, some queues hash-tagged."""

from __future__ import annotations

import asyncio
import os

import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot

from ferrite_tui.cli.command import build_parser
from ferrite_tui.cli.demo import demo_cluster
from ferrite_tui.config import Config
from ferrite_tui.demo.layout import CLUSTER_NAMES
from ferrite_tui.demo.seeding import seed
from ferrite_tui.demo.workload import Workload
from helpers import async_wait_until, monitor_at

pytestmark = pytest.mark.cluster


def test_cluster_names_mix_one_slot_and_two_slot_pairs():
    n = CLUSTER_NAMES
    assert key_slot(n.orders.encode()) == key_slot(n.orders_processing.encode())
    assert key_slot(n.reports_scheduled.encode()) == key_slot(n.reports_ready.encode())
    assert key_slot(n.main.encode()) != key_slot(n.main_dlq.encode())


async def test_workload_moves_every_pattern_on_a_cluster(cluster_url):
    rc = aioredis.RedisCluster.from_url(cluster_url)
    stop = asyncio.Event()
    workload = Workload(cluster_url, rate=4.0, rng_seed=5, cluster=True)
    try:
        await seed(rc, names=CLUSTER_NAMES)
        task = asyncio.create_task(workload.run(stop))
        wanted = ("emails.pushed", "orders.pushed", "orders.acked", "events.acked",
                  "priority.taken", "reports.moved", "reports.done", "main.pushed", "main.dead",
                  "pubsub.published", "pubsub.received")
        await async_wait_until(lambda: all(workload.counts[k] > 0 for k in wanted),
                               timeout=60, message=f"workload stalled: {workload.counts}")
        stop.set()
        await asyncio.wait_for(task, 30)

        monitor = monitor_at(cluster_url)
        try:
            await monitor.connect()
            refs = await monitor.discover()
            snap = await monitor.poll()
        finally:
            await monitor.aclose()
        assert {r.key for r in refs} >= {CLUSTER_NAMES.orders, CLUSTER_NAMES.main_dlq,
                                         CLUSTER_NAMES.reports_scheduled, "emails"}
        assert not [q.error for q in snap.queues if q.error]
        assert snap.cluster is not None
        assert len({snap.cluster.node_of(r.key) for r in refs}) > 1
    finally:
        stop.set()
        await rc.aclose()


def test_demo_cluster_refuses_a_binary_without_cluster_mode(tmp_path, capsys):
    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\necho 'Redis server v=5.0.7'\n")
    fake.chmod(0o755)
    args = build_parser("demo").parse_args(["--cluster", "--server", str(fake)])
    assert demo_cluster(Config(), args, str(fake)) != 0
    assert "cluster mode here needs 6.0 or later" in capsys.readouterr().err


def test_cluster_nodes_take_consecutive_ports_from_a_base():
    """`demo --cluster --port-base P`: the nodes listen on P, P+1, P+2 (buses 10000 above)."""
    import socket

    from ferrite_tui.demo.cluster import LocalCluster, cluster_support
    from ferrite_tui.demo.server import find_server_binary, port_is_free

    # (conftest's make_cluster is not importable by name: tests/faults has a conftest too)
    binary = find_server_binary(os.environ.get("FERRITE_TUI_CLUSTER_SERVER")
                                or os.environ.get("FERRITE_TUI_TEST_SERVER") or None)
    if cluster_support(binary) is not None:
        pytest.skip(f"no cluster-capable server here: {cluster_support(binary)}")

    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            base = sock.getsockname()[1]
        if base + 10002 <= 65535 and all(port_is_free(base + i) and port_is_free(base + i + 10000)
                                         for i in range(3)):
            break
    cluster = LocalCluster(binary, primaries=3, port_base=base)
    try:
        cluster.start()
        assert sorted(s.port or 0 for s in cluster.primaries) == [base, base + 1, base + 2]
        assert build_parser("demo").parse_args(["--cluster", "--port-base", str(base)]) \
            .port_base == base
    finally:
        cluster.stop()
