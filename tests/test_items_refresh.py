"""A list opened just before a poll shows the page its first read brought (issue 25: key to
first page): the poll's reload of the window shown waits while a load is in flight, where
it used to start a second read that threw the first one's page away."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.backend.lists import Page
from ferrite_tui.config import Config
from ferrite_tui.ui.app import FerriteApp
from ferrite_tui.ui.panels.deadletters import DeadLettersPanel
from ferrite_tui.ui.widgets.items import Source
from helpers import async_wait_until, running

SMALL, BIG = "queue:a:dlq", "queue:b:dlq"


def dead(i: int) -> bytes:
    return json.dumps({"job": {"id": f"job-{i}", "payload": {"n": i}, "retry_count": 3,
                               "last_error": "timeout", "first_attempt": 1000},
                       "dead_at": 2000 + i, "reason": "timeout"}).encode()


async def test_a_poll_during_the_first_read_does_not_read_the_page_again(
        redis_url: str, sync: redis.Redis, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    sync.rpush(SMALL, dead(0))
    sync.rpush(BIG, *[dead(i) for i in range(100)])
    reads: list[str] = []
    load = Source.load

    async def counted(self: Source, client: Any, start: int, count: int) -> Page:
        reads.append(self.key)
        return await load(self, client, start, count)

    monkeypatch.setattr(Source, "load", counted)
    # One poll at start, then none for the test's length: only the poll the test sends.
    app = FerriteApp(Config(), ConnectionSettings(url=redis_url), refresh=600,
                     audit_path=tmp_path / "audit.log")
    async with running(app) as pilot:
        await async_wait_until(lambda: app.monitor is not None and app.monitor.snapshot
                               is not None and len(app.monitor.snapshot.by_kind(
                                   *DeadLettersPanel.KINDS)) == 2)
        monitor = app.monitor
        assert monitor is not None and monitor.snapshot is not None
        snap = monitor.snapshot
        await pilot.press("6")
        panel = app.panel("dlq")
        assert isinstance(panel, DeadLettersPanel)
        items = panel.items_table
        await async_wait_until(lambda: items.page is not None and items.page.key == SMALL)
        big = next(q.ref for q in snap.queues if q.ref.key == BIG)
        panel.entries.select_dlq(big)  # the first read of BIG starts
        panel.update_snapshot(snap, monitor.history)  # a poll arrives
        await async_wait_until(lambda: items.page is not None and items.page.key == BIG
                               and items.row_count > 0)
        await pilot.pause()
        assert reads.count(BIG) == 1, f"the page of {BIG} was read {reads.count(BIG)} times"
        panel.update_snapshot(snap, monitor.history)  # the next poll
        await async_wait_until(lambda: reads.count(BIG) == 2)  # reads the page shown again
