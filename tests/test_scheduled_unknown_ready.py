"""A delayed queue found by its scores alone (a set of due times in epoch ms under a name
of its own, promoted by the team's own code) has no known ready list: its ready count is
unknown ("?", "ready list unknown"), never 0, and run now is refused before anything is
sent, never made to a guessed `NAME:ready`."""

from __future__ import annotations

import json
from typing import cast

import pytest

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.backend.delayed import NO_READY_LIST, DelayedQueue
from ferrite_tui.backend.errors import BackendError
from ferrite_tui.config import Config
from ferrite_tui.ui.app import FerriteApp
from ferrite_tui.ui.panels.scheduled import ScheduledPanel
from helpers import async_wait_until

KEY = "emails:delayed"
MIN = 60_000


def fill(sync) -> None:
    now = int(sync.time()[0]) * 1000
    sync.zadd(KEY, {json.dumps({"id": f"d{i}"}): now + m * MIN
                    for i, m in enumerate((-5, -4, -3, 10, 20, 30))})


def untouched(sync) -> bool:
    """Every job still in the set; no list made beside it."""
    return sync.zcard(KEY) == 6 and not any(
        k for k in sync.scan_iter("emails:*") if k != KEY.encode())


async def test_no_ready_list_is_guessed_by_the_backend(client, sync):
    fill(sync)
    dq = DelayedQueue(client, KEY)
    view = await dq.view()
    assert view.ready is None and view.card == 6 and view.overdue == 3
    with pytest.raises(BackendError, match="no ready list is known"):
        await dq.run_now(view.items[0])
    with pytest.raises(BackendError, match="no ready list is known"):
        await dq.run_overdue(view.now, 3)
    assert untouched(sync)


async def test_the_scheduled_panel_shows_the_ready_list_unknown_and_refuses_run_now(
        redis_url, sync, tmp_path):
    fill(sync)
    app = FerriteApp(Config(), ConnectionSettings(url=redis_url), refresh=60,
                     audit_path=tmp_path / "audit.log")
    async with app.run_test(size=(140, 40)) as pilot:
        await async_wait_until(lambda: app.monitor is not None and app.monitor.snapshot
                               is not None and any(q.ref.key == KEY
                                                   for q in app.monitor.snapshot.queues),
                               timeout=15)
        assert app.monitor is not None and app.monitor.snapshot is not None
        ref = next(q.ref for q in app.monitor.snapshot.queues if q.ref.key == KEY)
        assert ref.ready_key is None  # found by its scores: no ready list is known
        await pilot.press("4")
        panel = cast(ScheduledPanel, app.panel("scheduled"))
        await async_wait_until(lambda: panel.jobs_view is not None
                               and panel.jobs.row_count == 6)
        title = panel.title_text(panel.jobs_view).plain
        assert "ready list unknown" in title and "ready 0" not in title
        assert panel.table.cell_text(ref.ident, "ready") == "?"
        await pilot.press("enter")
        await pilot.pause()
        told = len(app.notices)
        await pilot.press("x")
        await async_wait_until(lambda: len(app.notices) > told)
        assert NO_READY_LIST in app.notices[-1].message
        await pilot.press("X")
        await async_wait_until(lambda: len(app.notices) > told + 1)
        assert NO_READY_LIST in app.notices[-1].message
    assert untouched(sync)

