"""Delayed queues on a cluster: the ready list in another slot, or hash-tagged into one."""

from __future__ import annotations

import pytest

from ferrite_tui.backend.delayed import DelayedQueue
from ferrite_tui.backend.priority import ZItem
from helpers import client_at

pytestmark = pytest.mark.cluster

NOW = 1_700_000_000_000
PAIRS = {
    "cross-slot": ("queue:reports:scheduled", "queue:reports:ready"),
    "same-slot": ("queue:{reports}:scheduled", "queue:{reports}:ready"),
}


@pytest.fixture
async def cluster_client(cluster_url):
    c = client_at(cluster_url)
    await c.connect()
    try:
        yield c
    finally:
        await c.aclose()


@pytest.mark.parametrize("pair", list(PAIRS.values()), ids=list(PAIRS))
async def test_view_run_now_and_run_overdue(cluster_client, cluster_sync, pair):
    scheduled, ready = pair
    members = {f"job-{i}".encode(): NOW - 1000 * (i + 1) for i in range(30)}
    members.update({f"later-{i}".encode(): NOW + 3_600_000 for i in range(5)})
    cluster_sync.zadd(scheduled, members)
    cluster_sync.rpush(ready, b"already-ready")
    q = DelayedQueue(cluster_client, scheduled, ready)

    view = await q.view(now=NOW)
    assert (view.card, view.overdue, view.ready) == (35, 30, 1)

    one = ZItem(b"job-0", float(NOW - 1000))
    assert len((await q.run_now(one)).done) == 1
    assert len((await q.run_now(one)).gone) == 1  # not twice
    marked = [ZItem(f"job-{i}".encode(), float(NOW - 1000 * (i + 1))) for i in (1, 2, 3)]
    report = await q.run_now_many(marked, chunk_size=2)
    assert report.done == 3
    report = await q.run_overdue(NOW, 26, chunk_size=10)
    assert report.done == 26

    got = cluster_sync.lrange(ready, 0, -1)
    assert got[0] == b"already-ready" and got[1] == b"job-0"
    assert sorted(got[1:]) == sorted(f"job-{i}".encode() for i in range(30))
    assert cluster_sync.zcard(scheduled) == 5
    assert list(cluster_sync.scan_iter(match="ferrite-tui:*",
                                       target_nodes=cluster_sync.PRIMARIES)) == []
