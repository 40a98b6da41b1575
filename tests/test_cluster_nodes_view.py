"""The Server panel's node table follows the nodes: a killed node back as a replica, a
demoted primary, each shown with this poll's figures (or none), never earlier ones; and a
failover is not read as traffic (no false "growing" on a queue whose node changed)."""

from __future__ import annotations

import json
import time

import pytest
import redis

from ferrite_tui.backend.monitor import Monitor
from helpers import async_wait_until, monitor_at, wait_until

pytestmark = pytest.mark.cluster


def replicated(cluster) -> None:
    for server in cluster.primaries:
        if not server.running:
            continue
        r = redis.Redis.from_url(server.url)
        try:
            assert r.execute_command("WAIT", 1, 20_000) == 1
        finally:
            r.close()


def role(server) -> bytes | None:
    r = redis.Redis.from_url(server.url)
    try:
        return r.execute_command("ROLE")[0]
    finally:
        r.close()


def node(snap, server):
    return next(n for n in snap.cluster.nodes if n.address == f"127.0.0.1:{server.port}")


async def until_whole(monitor: Monitor, timeout: float = 30):
    """Poll until every queue answers and the cluster says ok (a failover is over)."""
    async def whole():
        snap = await monitor.poll()
        ok = snap.cluster.state == "ok" and not any(q.error for q in snap.queues)
        return snap if ok else None
    return await async_wait_until(whole, timeout=timeout, interval=0.2)


async def test_a_killed_node_back_as_a_replica_is_shown_live_within_two_polls(
        cluster_factory):
    cluster = cluster_factory(primaries=3, replicas=1)
    sync = redis.RedisCluster.from_url(cluster.url)
    sync.rpush("work", b"x")
    monitor = monitor_at(cluster.url, command_timeout=2.0)
    try:
        await monitor.connect()
        await monitor.discover()
        await monitor.poll()
        victim = next(s for s in cluster.primaries if s is not cluster.primaries[0])
        victim.kill()
        snap = await until_whole(monitor)
        assert node(snap, victim).error  # dead, and shown so
        victim.start()
        # The cluster itself sees it back, a replica of the node that took its slots, on
        # every node (as a fresh console would).
        def seen_as_replica(server) -> bool:
            r = redis.Redis.from_url(server.url)
            try:
                for line in r.execute_command("CLUSTER", "NODES").decode().splitlines():
                    parts = line.split()
                    if parts[1].startswith(f"127.0.0.1:{victim.port}@"):
                        flags = parts[2].split(",")
                        return "slave" in flags and not {"fail", "fail?"} & set(flags)
                return False
            finally:
                r.close()

        wait_until(lambda: role(victim) == b"slave" and all(
            seen_as_replica(s) for s in cluster.nodes if s.running),
            timeout=30, ignore_exceptions=(redis.RedisError,))
        seen = []
        for _ in range(2):
            snap = await monitor.poll()
            back = node(snap, victim)
            seen.append((back.role, back.error, back.used_memory))
            if back.role == "replica" and back.error is None and back.used_memory:
                break
        else:
            raise AssertionError(f"the node back as a replica was not shown live: {seen}")
    finally:
        await monitor.aclose()
        sync.close()


async def test_a_demoted_primary_shows_its_figures_as_a_replica(cluster_factory):
    """CLUSTER FAILOVER: the old primary follows the new one; its replication offset is the
    one it has now (it moves with the new primary's writes), not the one it had."""
    cluster = cluster_factory(primaries=3, replicas=1)
    sync = redis.RedisCluster.from_url(cluster.url)
    for i in range(30):  # queues on every node: the poll meets MOVED and reloads the map
        sync.rpush(f"work{i}", b"x")
    sync.close()
    monitor = monitor_at(cluster.url, command_timeout=2.0)
    try:
        await monitor.connect()
        await monitor.discover()
        await monitor.poll()
        old, replica = cluster.primaries[0], cluster.replicas[0]
        r = redis.Redis.from_url(replica.url)
        try:
            r.execute_command("CLUSTER", "FAILOVER")
            wait_until(lambda: role(replica) == b"master" and role(old) == b"slave",
                       timeout=30)
            await monitor.poll()  # meets MOVED: the slot map is reloaded
            # Writes on the new primary, after that poll, move every offset along.
            slot_key = next(f"k{i}" for i in range(10_000) if r.execute_command(
                "CLUSTER", "KEYSLOT", f"k{i}") in _slots_of(r))
            r.set(slot_key, b"x" * 100_000)
            assert r.execute_command("WAIT", 1, 20_000) == 1
            offset_now = r.execute_command("ROLE")[1]
        finally:
            r.close()

        async def demoted_current():
            snap = await monitor.poll()
            n = node(snap, old)
            return n if n.role == "replica" and n.repl_offset == offset_now else None
        demoted = await async_wait_until(demoted_current, timeout=10, interval=0.2)
        assert demoted.error is None and demoted.used_memory
    finally:
        await monitor.aclose()


def _slots_of(r: redis.Redis) -> set[int]:
    mine = r.execute_command("CLUSTER", "MYID").decode()
    out: set[int] = set()
    for line in r.execute_command("CLUSTER", "NODES").decode().splitlines():
        parts = line.split()
        if parts[0] == mine:
            for part in parts[8:]:
                lo, _, hi = part.partition("-")
                if lo.isdigit():
                    out.update(range(int(lo), int(hi or lo) + 1))
    return out


async def test_a_failover_raises_no_growth_alert(cluster_factory, monkeypatch):
    """The dead-letter list's primary dies and its replica takes over, polled all along:
    the list never changes, so no poll may call it growing or shrinking. (The rates' span
    is cut to 1 s so that a failover of a few seconds outlasts it, as a real one outlasts
    the 10 s span with the default node timeout of 15 s.)"""
    from ferrite_tui.backend import poll

    monkeypatch.setattr(poll, "RATE_SPAN_S", 1.0)
    cluster = cluster_factory(primaries=3, replicas=1)
    sync = redis.RedisCluster.from_url(cluster.url)
    dlq = "queue:app:dlq"
    now_ms = int(time.time() * 1000)
    letters = [json.dumps({"job": {"id": f"j{i}", "payload": i, "retry_count": 3,
                                   "last_error": "boom", "first_attempt": now_ms - 600_000},
                           "dead_at": now_ms - (3000 - i) * 100, "reason": "boom"}).encode()
               for i in range(3000)]
    for start in range(0, len(letters), 500):
        sync.rpush(dlq, *letters[start:start + 500])
    sync.rpush("queue:app", b'{"id":"w","payload":0}')
    replicated(cluster)
    monitor = monitor_at(cluster.url, command_timeout=2.0)
    rows: list[tuple[int | None, float | None, tuple[str, ...], str | None]] = []

    def record(snap) -> None:
        rows.extend((q.depth, q.net_rate, q.alerts, q.error)
                    for q in snap.queues if q.ref.key == dlq)

    try:
        await monitor.connect()
        await monitor.discover()
        for _ in range(3):
            record(await monitor.poll())
        victim = next(s for s in cluster.primaries
                      if f"127.0.0.1:{s.port}" == monitor.client.cluster.node_of(dlq))
        victim.kill()
        record(await monitor.poll())
        assert rows[-1][3], "the poll did not see the node down"

        async def whole():
            snap = await monitor.poll()
            record(snap)
            return snap.cluster.state == "ok" and not any(q.error for q in snap.queues)
        await async_wait_until(whole, timeout=30, interval=0.2)
        for _ in range(3):
            record(await monitor.poll())
        # The list never changed: any rate but none or 0, any "growing", is false.
        false = [r for r in rows if any("growing" in a for a in r[2]) or r[1]]
        assert not false, false
        assert rows[-1][0] == len(letters)
    finally:
        await monitor.aclose()
        sync.close()
