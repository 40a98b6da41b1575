"""The console on a cluster, through Textual's Pilot: the cluster table, queue holders,
and finishing moves left in flight."""

from __future__ import annotations

import json
from typing import cast

import pytest
import redis.asyncio as aioredis

from ferrite_tui.backend import crossslot
from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.backend.dlq import DeadLetters
from ferrite_tui.config import Config
from ferrite_tui.demo.seeding import seed
from ferrite_tui.ui.app import FerriteApp
from ferrite_tui.ui.panels.overview import OverviewPanel
from ferrite_tui.ui.panels.server import cluster_tables
from ferrite_tui.ui.widgets.table import KeyedTable
from helpers import async_wait_until, client_at, running

pytestmark = pytest.mark.cluster


def _render(renderables, width: int) -> str:
    import io

    from rich.console import Console, Group

    console = Console(width=width, record=True, file=io.StringIO())
    console.print(Group(*renderables))
    return console.export_text()


def _static_text(app, selector: str) -> str:
    import io

    from rich.console import Console

    widget = app.screen.query_one(selector)
    console = Console(width=160, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


async def _leave_in_flight(url: str, sync) -> None:
    """A cross-slot requeue whose delivery fails: its chunk stays staged (in flight)."""
    client = client_at(url)
    await client.connect()

    async def block_target(step, stage):
        if step == "staged":
            await sync.set("queue:main", b"in the way")

    crossslot.after_step = block_target
    try:
        res = await DeadLetters(client).requeue_head("queue:main:dlq", "queue:main", 5)
    finally:
        crossslot.after_step = None
        await client.aclose()
    assert res.failed == 5
    await sync.delete("queue:main")


async def test_server_panel_shows_cluster_and_finishes_moves_in_flight(cluster_url, tmp_path):
    sync = aioredis.RedisCluster.from_url(cluster_url)
    try:
        await seed(sync)
        before = await sync.llen("queue:main:dlq")
        await _leave_in_flight(cluster_url, sync)
        app = FerriteApp(Config(), ConnectionSettings(url=cluster_url), refresh=0.2,
                         audit_path=tmp_path / "audit.log")
        async with running(app, size=(160, 40)) as pilot:
            await async_wait_until(lambda: app.monitor and app.monitor.snapshot
                                   and app.monitor.snapshot.cluster
                                   and len(app.monitor.snapshot.queues) >= 6, timeout=20,
                                   message=f"state {app.monitor and app.monitor.state}")
            # Overview: each queue says which primary holds it.
            table = cast(OverviewPanel, app.panel("overview")).table
            assert isinstance(table, KeyedTable)
            await async_wait_until(lambda: table.row_count >= 6)
            view = app.monitor.snapshot.cluster
            holder = view.node_of("queue:orders")
            await async_wait_until(
                lambda: any(holder in str(table.get_row_at(i))
                            for i in range(table.row_count)))
            await pilot.press("8")
            await async_wait_until(lambda: "in flight" in _static_text(app, "#cluster-table"),
                                   timeout=15)
            text = _static_text(app, "#cluster-table")
            assert "cluster ok" in text and "3 primaries" in text
            assert "5 item(s) in flight" in text
            for node in view.nodes:
                assert node.address in text
            # At 80 columns the table is compact and every address stays whole.
            narrow = _render(cluster_tables(view, width=80), width=78)
            for node in view.nodes:
                assert node.address in narrow, narrow
            await pilot.press("f")
            await async_wait_until(lambda: app.screen.__class__.__name__ == "ConfirmScreen")
            await pilot.press("y")
            await async_wait_until(lambda: "in flight" not in _static_text(app, "#cluster-table"),
                                   timeout=15)
        assert await sync.llen("queue:main") == 5
        assert await sync.llen("queue:main:dlq") == before - 5
        assert json.loads((await sync.lrange("queue:main", 0, 0))[0])["retry_count"] == 0
    finally:
        await sync.aclose()
