"""A replica is known as one (issue 21, item 5): role and replication lag read in the poll,
`status --json` reports the role, and every change is refused before anything is sent or
any dialog opens, with one line naming the primary. A real primary and a real replica
(REPLICAOF), no mocks."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from typing import cast

import pytest
import redis
from rich.console import Console
from textual.widgets import Static

from ferrite_tui.backend.audit import AuditLog
from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.backend.delayed import DelayedQueue
from ferrite_tui.backend.dlq import DeadLetters
from ferrite_tui.backend.envelopes import dumps
from ferrite_tui.backend.errors import ReplicaError
from ferrite_tui.config import Config
from ferrite_tui.ui.app import FerriteApp
from ferrite_tui.ui.panels.scheduled import ScheduledPanel
from ferrite_tui.ui.panels.server import ServerPanel
from ferrite_tui.ui.screens.dialogs import ConfirmScreen, FormScreen
from ferrite_tui.ui.widgets.status import StatusLine
from helpers import (
    FERRITE,
    CommandRecorder,
    async_wait_until,
    client_at,
    monitor_at,
    mutating,
    wait_until,
)

pytestmark = pytest.mark.skipif(
    FERRITE, reason="the Ferrite stand-in's INFO has no replication section (role unknown: "
    "test_server_clock.py::test_a_server_without_a_replication_section_has_an_unknown_role)")

SCHEDULED = "queue:reports:scheduled"
READY = "queue:reports:ready"
DLQ = "queue:main:dlq"


@pytest.fixture
def pair(server_factory):
    """(primary, replica) with the link up and the queues replicated."""
    primary, replica = server_factory(), server_factory()
    p = redis.Redis.from_url(primary.url)
    r = redis.Redis.from_url(replica.url)
    now = p.time()[0] * 1000
    p.zadd(SCHEDULED, {dumps({"id": f"j{i}", "payload": i, "scheduled_at": now - 1000 - i})
                       .encode(): now - 1000 - i for i in range(5)})
    p.rpush(DLQ, *[dumps({"job": {"id": f"d{i}", "payload": i, "retry_count": 1,
                                  "last_error": "x", "first_attempt": now},
                          "dead_at": now, "reason": "r"}) for i in range(3)])
    r.execute_command("REPLICAOF", "127.0.0.1", primary.port)
    wait_until(lambda: r.info("replication").get("master_link_status") == "up", timeout=20,
               message="replica link never came up")
    wait_until(lambda: r.zcard(SCHEDULED) == 5 and r.llen(DLQ) == 3, timeout=20,
               message="data never replicated")
    wait_until(lambda: replica_online(p), timeout=20,
               message="the primary never put its replica online")
    try:
        yield primary, replica
    finally:
        p.close()
        r.close()


def replica_online(primary: redis.Redis) -> bool:
    """Whether the primary counts its replica (ROLE lists it): Redis 7.0 puts a replica
    online at its first ACK after the sync, a moment after the replica says its link is up."""
    slave = primary.info("replication").get("slave0")
    return isinstance(slave, dict) and slave.get("state") == "online"


def written(recorder: CommandRecorder, url: str) -> list[str]:
    """The write commands (as the server flags them) the replica received."""
    r = redis.Redis.from_url(url)
    try:
        return mutating(r, [n for n in recorder.names() if n != "REPLCONF"])
    finally:
        r.close()


async def test_role_lag_and_refusal_before_anything_is_sent(pair, tmp_path):
    primary, replica = pair
    client = client_at(replica.url, AuditLog(tmp_path / "audit.log"))
    await client.connect()
    try:
        rep = client.replication
        assert rep.role == "replica"
        assert rep.primary == f"127.0.0.1:{primary.port}"
        assert rep.link == "up"
        host, _, port = replica.url.removeprefix("redis://").partition("/")[0].partition(":")
        with CommandRecorder(host, int(port)) as recorder:
            dq = DelayedQueue(client, SCHEDULED, READY)
            with pytest.raises(ReplicaError) as refused:
                await dq.run_overdue(client.server_now_ms(), 5)
            text = str(refused.value)
            assert text.startswith(f"this server is a replica of 127.0.0.1:{primary.port}: "
                                   "changes go to the primary")
            page = await DeadLetters(client).page(DLQ, 0, 10)
            with pytest.raises(ReplicaError):
                await DeadLetters(client).requeue(DLQ, "queue:main", [page.items[0]])
            # MONITOR shows commands in order: a PING after the refusals proves every
            # command sent before it (none of them a write) has been seen.
            await client.redis.ping()
            wait_until(lambda: "PING" in recorder.names(), timeout=10)
            assert written(recorder, replica.url) == []
    finally:
        await client.aclose()

    # The primary lists its replica and how far behind it is.
    monitor = monitor_at(primary.url)
    await monitor.connect()
    try:
        await monitor.discover()
        snap = await monitor.poll()
        rep = snap.server.replication
        assert rep.role == "primary"
        assert len(rep.replicas) == 1 and rep.replicas[0][2] is not None
        assert monitor.client.refusal("requeue") is None
    finally:
        await monitor.aclose()

    monitor = monitor_at(replica.url)
    await monitor.connect()
    try:
        await monitor.discover()
        snap = await monitor.poll()
        rep = snap.server.replication
        assert (rep.role, rep.primary, rep.link) == ("replica", f"127.0.0.1:{primary.port}", "up")
        assert rep.last_io_s is not None and rep.last_io_s >= 0
        assert "link up" in rep.lag_text()
        assert monitor.client.refusal("requeue") is not None
        # Promoted (a failover): the next poll knows, and changes are allowed again.
        await monitor.client.redis.execute_command("REPLICAOF", "NO", "ONE")
        snap = await monitor.poll()
        assert snap.server.replication.role == "primary"
        assert monitor.client.refusal("requeue") is None
    finally:
        await monitor.aclose()


def test_status_json_reports_the_role(pair):
    primary, replica = pair
    for server, role in ((replica, "replica"), (primary, "primary")):
        out = subprocess.run([sys.executable, "-m", "ferrite_tui", "status", server.url,
                              "--json"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        assert data["server"]["role"] == role
    assert data["server"]["replication"]["replicas"][0]["state"] == "online"
    table = subprocess.run([sys.executable, "-m", "ferrite_tui", "status", replica.url],
                           capture_output=True, text=True, timeout=60)
    assert f"replica of 127.0.0.1:{primary.port}" in table.stdout


async def test_keys_on_a_replica_refuse_before_any_dialog(pair, tmp_path):
    primary, replica = pair
    app = FerriteApp(Config(), ConnectionSettings(url=replica.url), refresh=60,
                     audit_path=tmp_path / "audit.log")
    host, _, port = replica.url.removeprefix("redis://").partition("/")[0].partition(":")
    async with app.run_test(size=(120, 36)) as pilot:
        await async_wait_until(lambda: app.monitor and app.monitor.snapshot and any(
            q.ref.key == SCHEDULED for q in app.monitor.snapshot.queues), timeout=15)
        await pilot.press("4")
        panel = cast(ScheduledPanel, app.panel("scheduled"))
        await async_wait_until(lambda: panel.jobs_view is not None and panel.jobs.row_count > 0)
        await pilot.press("enter")
        await pilot.pause()
        assert "REPLICA: changes refused" in app.query_one(StatusLine).line().plain
        with CommandRecorder(host, int(port)) as recorder:
            for key in ("x", "X", "plus", "e", "d", "n"):
                await pilot.press(key)
                await pilot.pause()
                assert not isinstance(app.screen, (ConfirmScreen, FormScreen)), key
            await async_wait_until(lambda: sum(f"replica of 127.0.0.1:{primary.port}" in n.message
                                               for n in app.notices) >= 6, timeout=10,
                                   message=f"notices: {[n.message for n in app.notices]}")
            assert written(recorder, replica.url) == []
        await pilot.press("8")
        server_panel = app.query_one(ServerPanel)
        info = server_panel.query_one("#info", Static)

        def drawn() -> str:
            console = Console(width=200, record=True, file=io.StringIO())
            console.print(info.content)
            return console.export_text()

        await async_wait_until(lambda: f"replica of 127.0.0.1:{primary.port}" in drawn(),
                               timeout=10)
        assert "link up" in drawn()


async def test_run_now_and_run_overdue_wait_for_the_replica(pair):
    """Run now (delayed -> ready) on a primary with a replica: each chunk's transaction is
    acknowledged by the replica (WAIT in the same write) before the run counts it, as the
    other moves are; the replica holds the moved jobs when the run returns."""
    from ferrite_tui.backend.delayed import DelayedQueue

    primary, replica = pair
    p = redis.Redis.from_url(primary.url)
    r = redis.Redis.from_url(replica.url)
    client = client_at(primary.url)
    await client.connect()
    try:
        waits = int(p.info("commandstats").get("cmdstat_wait", {}).get("calls", 0))
        dq = DelayedQueue(client, SCHEDULED, READY)
        view = await dq.view()
        first = await dq.run_now(view.items[0])
        assert len(first.done) == 1
        report = await dq.run_overdue(client.server_now_ms(), 4, chunk_size=2)
        assert report.done == 4
        # One WAIT per transaction: the single run now and the two chunks.
        assert int(p.info("commandstats")["cmdstat_wait"]["calls"]) - waits == 3
        assert r.llen(READY) == 5 and r.zcard(SCHEDULED) == 0
    finally:
        await client.aclose()
        p.close()
        r.close()


async def test_a_new_client_asks_afresh_whether_its_server_has_a_replica(server_factory,
                                                                        monkeypatch):
    """The replica count behind WAIT is remembered per client, not per URL: a client made
    after a replica was attached (as a test's next server on a reused port, or a restart)
    sends WAIT at once, where a count remembered for the URL a moment ago said none."""
    from ferrite_tui.backend import movebase
    from ferrite_tui.backend.movebase import replica_wait

    # What is remembered does not lapse while the replica is attached.
    monkeypatch.setattr(movebase, "REPLICAS_TTL_S", 3600.0)
    primary, replica = server_factory(), server_factory()
    first = client_at(primary.url)
    await first.connect()
    try:
        assert await replica_wait(first) is None  # no replica yet
        r = redis.Redis.from_url(replica.url)
        r.execute_command("REPLICAOF", "127.0.0.1", primary.port)
        p = redis.Redis.from_url(primary.url)
        wait_until(lambda: replica_online(p), timeout=20,
                   message="the primary never put its replica online")
        p.close()
        r.close()
        second = client_at(primary.url)
        await second.connect()
        try:
            assert await replica_wait(second) is not None
        finally:
            await second.aclose()
    finally:
        await first.aclose()
