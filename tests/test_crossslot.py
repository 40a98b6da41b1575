"""Moves between hash slots on a cluster: exactly once, through staging, crash-safe."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import redis
from redis.crc import key_slot

from ferrite_tui.backend import crossslot
from ferrite_tui.backend.dlq import DeadLetters
from ferrite_tui.backend.movebase import Item
from helpers import client_at

pytestmark = pytest.mark.cluster

NOW_MS = 1_700_000_000_000
CROSS = ("queue:main:dlq", "queue:main")  # two slots
SAME = ("queue:{main}:dlq", "queue:{main}")  # one slot (hash tag)
ROOT = Path(__file__).resolve().parents[1]


def _dead(i: int) -> bytes:
    return json.dumps({"job": {"id": f"j{i}", "payload": {"n": i}, "retry_count": 3,
                               "last_error": "boom", "first_attempt": NOW_MS},
                       "dead_at": NOW_MS, "reason": "boom"}).encode()


def _ids(values) -> list[str]:
    return [json.loads(v)["id"] for v in values]


def _internal_keys(sync: redis.RedisCluster) -> list[bytes]:
    return list(sync.scan_iter(match="ferrite-tui:*", target_nodes=redis.RedisCluster.PRIMARIES))


def test_pairs_and_our_key_names_land_in_the_right_slots():
    assert key_slot(CROSS[0].encode()) != key_slot(CROSS[1].encode())
    assert key_slot(SAME[0].encode()) == key_slot(SAME[1].encode())
    for slot in (0, 77, 16383):
        assert key_slot(crossslot.slot_tag(slot).encode()) == slot
    for key in ("queue:main", "queue:{main}:dlq", "odd}key", "{}x", "a{b", "ключ:1"):
        staged = crossslot.Staged.parse(crossslot.stage_key(key, "dst:1", "r1", 3, True))
        assert staged is not None and staged.dst == "dst:1" and staged.push_left
        assert key_slot(staged.stage.encode()) == key_slot(key.encode())
        mark = crossslot.Staged.parse(crossslot.stage_key("src", key, "r", 1, False)).mark
        assert key_slot(mark.encode()) == key_slot(key.encode())


@pytest.fixture
async def cluster_client(cluster_url, tmp_path):
    from ferrite_tui.backend.audit import AuditLog

    c = client_at(cluster_url, AuditLog(tmp_path / "audit.log"))
    await c.connect()
    assert c.cluster is not None
    try:
        yield c
    finally:
        await c.aclose()


@pytest.mark.parametrize("pair", [CROSS, SAME], ids=["cross-slot", "same-slot"])
async def test_requeue_selected_and_all(cluster_client, cluster_sync, pair):
    dlq, target = pair
    cluster_sync.rpush(dlq, *[_dead(i) for i in range(50)])
    cluster_sync.rpush(target, b'{"id":"existing","payload":0}')
    dead = DeadLetters(cluster_client, clock=lambda: NOW_MS / 1000)
    picked = [Item(_dead(i), i, 50) for i in (3, 10, 11, 40)]
    chunk = await dead.requeue(dlq, target, picked)
    assert (chunk.done, chunk.skipped, chunk.failed) == (4, 0, 0)
    # The same values again: gone from the DLQ, so skipped, not doubled.
    again = await dead.requeue(dlq, target, picked)
    assert (again.done, again.skipped) == (0, 4)
    while cluster_sync.llen(dlq):
        res = await dead.requeue_head(dlq, target, 7)
        assert res.done > 0 and not res.errors
    values = cluster_sync.lrange(target, 0, -1)
    assert sorted(_ids(values)) == sorted(["existing"] + [f"j{i}" for i in range(50)])
    assert _ids(values)[1:5] == ["j3", "j10", "j11", "j40"]
    assert json.loads(values[1])["retry_count"] == 0
    assert _internal_keys(cluster_sync) == []


async def test_wrong_type_target_moves_nothing(cluster_client, cluster_sync):
    dlq, target = CROSS
    cluster_sync.rpush(dlq, *[_dead(i) for i in range(5)])
    cluster_sync.set(target, b"not a list")
    dead = DeadLetters(cluster_client)
    from ferrite_tui.backend.errors import BackendError
    with pytest.raises(BackendError, match="not a list"):
        await dead.requeue_head(dlq, target, 5)
    assert cluster_sync.llen(dlq) == 5 and _internal_keys(cluster_sync) == []


async def test_failed_delivery_stays_in_flight_and_is_finished(cluster_client, cluster_sync):
    dlq, target = CROSS
    cluster_sync.rpush(dlq, *[_dead(i) for i in range(6)])
    dead = DeadLetters(cluster_client)

    async def make_target_a_string(step, stage):
        if step == "staged":
            cluster_sync.set(target, b"oops")

    crossslot.after_step = make_target_a_string
    try:
        res = await dead.requeue_head(dlq, target, 6)
    finally:
        crossslot.after_step = None
    assert res.done == 0 and res.failed == 6 and "in flight" in res.errors[0]
    found = await crossslot.inflight(cluster_client)
    assert found.items == 6 and len(found.chunks) == 1
    cluster_sync.delete(target)
    report = await crossslot.finish_inflight(cluster_client)
    assert (report.delivered, report.chunks, report.errors) == (6, 1, [])
    assert sorted(_ids(cluster_sync.lrange(target, 0, -1))) == [f"j{i}" for i in range(6)]
    assert _internal_keys(cluster_sync) == []


WORKER = textwrap.dedent('''
    import asyncio, sys
    from ferrite_tui.backend import crossslot
    from ferrite_tui.backend.client import Client, ConnectionSettings
    from ferrite_tui.backend.dlq import DeadLetters

    url, dlq, target, kill_step, kill_chunk = sys.argv[1:6]
    seen = []

    async def hook(step, stage):
        if step == kill_step:
            seen.append(stage)
            if len(seen) == int(kill_chunk):
                print("AT", step, stage, flush=True)
                await asyncio.Event().wait()  # wait here for the SIGKILL

    async def main():
        crossslot.after_step = hook
        client = Client(ConnectionSettings(url=url))
        await client.connect()
        dead = DeadLetters(client)
        while await client.redis.llen(dlq):
            await dead.requeue_head(dlq, target, 10)
        print("DONE", flush=True)

    asyncio.run(main())
''')


def _where(sync, dlq, target):
    """Every id and where it sits: the DLQ, the target, or staged without a marker."""
    places: dict[str, list[str]] = {}
    for v in sync.lrange(dlq, 0, -1):
        places.setdefault(json.loads(v)["job"]["id"], []).append("dlq")
    for v in sync.lrange(target, 0, -1):
        places.setdefault(json.loads(v)["id"], []).append("target")
    for key in _internal_keys(sync):
        staged = crossslot.Staged.parse(key.decode())
        if staged is None or sync.exists(staged.mark):
            continue  # a marker, or a spent copy already delivered
        for v in sync.lrange(key, 0, -1):
            places.setdefault(json.loads(v)["id"], []).append("in flight")
    return places


@pytest.mark.parametrize("step", ["staging", "staged", "delivered", "cleaned-stage"])
async def test_sigkill_at_every_step_loses_and_doubles_nothing(cluster_url, cluster_sync,
                                                               step, tmp_path):
    dlq, target = CROSS
    total = 45
    cluster_sync.rpush(dlq, *[_dead(i) for i in range(total)])
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # The worker blocks at its step until killed; nothing else runs on this loop meanwhile.
    proc = subprocess.Popen(
        [sys.executable, str(script), cluster_url, dlq, target, step, "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    try:
        line = proc.stdout.readline().decode()  # blocks until the worker is at the step
        assert line.startswith("AT " + step), (line, proc.stderr.read().decode()[-2000:])
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()

    places = _where(cluster_sync, dlq, target)
    assert sorted(places) == sorted(f"j{i}" for i in range(total)), "an item was lost"
    assert all(len(p) == 1 for p in places.values()), {k: p for k, p in places.items()
                                                       if len(p) != 1}
    in_flight = sum(p == ["in flight"] for p in places.values())
    assert in_flight == (10 if step == "staged" else 0)

    # Reopen: finish what is in flight, then run the requeue again to the end.
    client = client_at(cluster_url)
    await client.connect()
    try:
        found = await crossslot.inflight(client)
        assert found.items == in_flight
        report = await crossslot.finish_inflight(client)
        assert report.delivered == in_flight and not report.errors
        dead = DeadLetters(client)
        while cluster_sync.llen(dlq):
            await dead.requeue_head(dlq, target, 10)
    finally:
        await client.aclose()
    final = _ids(cluster_sync.lrange(target, 0, -1))
    assert sorted(final) == sorted(f"j{i}" for i in range(total))
    # Only a marker whose stage was already gone may remain (cleaned once it is old).
    left = [k.decode() for k in _internal_keys(cluster_sync)]
    assert all(k.startswith(crossslot.MARK_PREFIX) for k in left)
    assert len(left) == (1 if step == "cleaned-stage" else 0)
