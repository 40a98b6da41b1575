"""Frozen data and a frozen clock for offline UI tests: an app with no Monitor and no
server I/O (poll=False), fed one fixed snapshot. Snapshot tests and the tests that only
drive the UI (focus, tabs, layout) use it; tests of actions use a real server."""

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.backend.models import (
    Capabilities,
    ChannelStats,
    ConnectionState,
    GroupStats,
    QueueKind,
    QueueRef,
    QueueStats,
    ServerStats,
    Snapshot,
)
from ferrite_tui.backend.servertime import Replication
from ferrite_tui.config import Config
from ferrite_tui.ui.app import FerriteApp
from ferrite_tui.ui.messages import ConnectionChanged, SnapshotReady

NOW = 1_800_000_000.0


def frozen_snapshot() -> Snapshot:
    queues = (
        QueueStats(QueueRef(QueueKind.DLQ, "queue:main:dlq", target_key="queue:main"),
                   depth=123, oldest_ms=86_000_000, net_rate=0.4, in_rate=0.4, out_rate=0.0,
                   alerts=("123 dead", "growing")),
        QueueStats(QueueRef(QueueKind.RELIABLE, "queue:orders",
                            processing_key="queue:orders:processing"),
                   depth=75, processing=21, oldest_ms=124_000, in_rate=27.0, out_rate=23.0,
                   in_lower=True, out_lower=True, stale=2, alerts=("2 stale processing",)),
        QueueStats(QueueRef(QueueKind.STREAM, "events:main"), depth=634, pending=30,
                   oldest_ms=602_000, in_rate=None, net_rate=30.2,
                   last_id=f"{int(NOW * 1000) - 4_000}-0",
                   groups=(GroupStats("workers", 2, 5, "1-0", None),
                           GroupStats("analytics", 1, 25, "1-0", None)),
                   alerts=("old jobs",)),
        QueueStats(QueueRef(QueueKind.DELAYED, "queue:reports:scheduled",
                            ready_key="queue:reports:ready"),
                   depth=100, overdue=15, ready=3, oldest_ms=1_200_000, net_rate=4.6,
                   alerts=("15 overdue",)),
        QueueStats(QueueRef(QueueKind.PRIORITY, "jobs:priority"), depth=53, oldest_ms=51,
                   net_rate=1.3),
        QueueStats(QueueRef(QueueKind.WORK, "emails"), depth=47, in_rate=20.0, out_rate=18.0),
        QueueStats(QueueRef(QueueKind.WORK, "\x1b[31m[bold]evil[/bold]"), depth=1,
                   in_rate=0.0, out_rate=0.0),
    )
    return Snapshot(
        taken_at=NOW, queues=queues,
        server=ServerStats(info={"redis_version": "7.0.15", "used_memory": 1_700_000,
                                 "uptime_in_seconds": 3600, "connected_clients": 18,
                                 "total_commands_processed": 8774},
                           ops_per_sec=474.0, used_memory=1_700_000, clients=18,
                           uptime_s=3600, keyspace={"db0": {"keys": 7, "expires": 0}},
                           replication=Replication(role="primary")),
        channels=(ChannelStats("orders.created", 1), ChannelStats("orders.paid", 1)),
        numpat=1, round_trips=1, poll_ms=2.0, server_time_ms=int(NOW * 1000), clock_offset_ms=0,
    )


def frozen_app() -> FerriteApp:
    app = FerriteApp(Config(), ConnectionSettings(url="redis://127.0.0.1:6379/0"),
                     clock=lambda: NOW, poll=False)
    return app


async def feed(pilot, snapshot: Snapshot | None = None) -> None:
    app = pilot.app
    app.session.offline_capabilities = Capabilities(
        server_kind="redis", version="7.0.15", lua=True, xautoclaim=True, xinfo_lag=True,
        scan_type=True, subscribe=True, lpos=True)
    for i, value in enumerate([40, 44, 47, 52, 60, 71, 80, 95, 101, 110, 118, 123]):
        app.session.offline_history.series("dlq:queue:main:dlq", "depth").add(float(i), value)
    app.post_message(ConnectionChanged(ConnectionState("live", last_ok=NOW)))
    app.post_message(SnapshotReady(snapshot or frozen_snapshot()))
    await pilot.pause()
