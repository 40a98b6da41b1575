"""Panel 3 (Priority) driven through Pilot against a real server."""

from __future__ import annotations

import json

import redis.asyncio as aioredis
from textual.widgets import Input
from textual_plotext import PlotextPlot

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.backend.envelopes import dumps
from ferrite_tui.config import Config
from ferrite_tui.ui.app import FerriteApp
from ferrite_tui.ui.screens.dialogs import ConfirmScreen, FormScreen
from helpers import async_wait_until

KEY = "jobs:priority"
NOW = 1_790_000_000_000


def job(name: str) -> bytes:
    return dumps({"id": name, "payload": {"task_type": name}, "enqueued_at": NOW}).encode()


JOBS = {"alert": 100, "email1": 50, "email2": 50, "clean1": 10, "clean2": 10, "clean3": 10}


async def seed(url: str) -> None:
    r = aioredis.Redis.from_url(url)
    await r.zadd(KEY, {job(n): p for n, p in JOBS.items()})
    await r.aclose()


def make_app(url, tmp_path, **settings):
    return FerriteApp(Config(), ConnectionSettings(url=url, **settings), refresh=60,
                      audit_path=tmp_path / "audit.log")


async def open_panel(app, pilot):
    await async_wait_until(lambda: app.monitor and app.monitor.snapshot and any(
        q.ref.key == KEY for q in app.monitor.snapshot.queues), timeout=15)
    await pilot.press("3")
    panel = app.panel("priority")
    await async_wait_until(lambda: panel.jobs_view is not None and panel.jobs.row_count > 0)
    await pilot.press("enter")
    await pilot.pause()
    assert panel.jobs.has_focus
    return panel


def shown_ids(panel) -> list[str]:
    return [panel.jobs.by_key[k].env.id for k in panel.jobs.row_keys]


async def fill_form(app, pilot, **values):
    await async_wait_until(lambda: isinstance(app.screen, FormScreen))
    for name, value in values.items():
        app.screen.query_one(f"#field-{name}", Input).value = value
    await pilot.pause()
    await pilot.press("enter")
    await async_wait_until(lambda: not isinstance(app.screen, FormScreen))


async def score_is(r, name_or_member, value):
    member = name_or_member if isinstance(name_or_member, bytes) else job(name_or_member)
    return await r.zscore(KEY, member) == value


async def test_jobs_highest_first_histogram_change_priority_remove_and_enqueue(
        redis_url, tmp_path):
    await seed(redis_url)
    r = aioredis.Redis.from_url(redis_url)
    app = make_app(redis_url, tmp_path)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            panel = await open_panel(app, pilot)
            ids = shown_ids(panel)
            assert ids[0] == "alert" and set(ids[1:3]) == {"email1", "email2"}
            assert [panel.jobs.by_key[k].score for k in panel.jobs.row_keys] == \
                [100, 50, 50, 10, 10, 10]
            hist = panel.jobs_view.histogram
            assert sum(hist.counts) == 6 and sorted(c for c in hist.counts if c) == [1, 2, 3]
            assert panel.query_one("#plot", PlotextPlot).display
            # e: the exact job under the cursor gets the new priority
            panel.jobs.move_cursor(row=5)
            await pilot.pause()
            target = panel.jobs.current()
            before = panel.loads
            await pilot.press("e")
            await fill_form(app, pilot, priority="75")
            await async_wait_until(lambda: score_is(r, target.member, 75))
            await async_wait_until(lambda: panel.loads > before)
            assert shown_ids(panel)[1] == target.env.id
            assert await r.zcard(KEY) == 6
            # d asks, then removes that job only
            panel.jobs.move_cursor(row=0)
            await pilot.pause()
            await pilot.press("d")
            await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            await async_wait_until(lambda: score_is(r, "alert", None))
            assert await r.zcard(KEY) == 5
            # n: a new job in the seed's envelope at the priority given
            await pilot.press("n")
            await fill_form(app, pilot, payload='{"task_type":"critical_alert"}',
                            priority="200")
            top = await async_wait_until(lambda: r.zrevrange(KEY, 0, 0, withscores=True))
            data = json.loads(top[0][0])
            assert top[0][1] == 200 and list(data) == ["id", "payload", "enqueued_at"]
            assert data["payload"] == {"task_type": "critical_alert"}
            # enter inspects
            from ferrite_tui.ui.screens.inspector import InspectorScreen
            await async_wait_until(lambda: shown_ids(panel)[0] == data["id"])
            await pilot.press("enter")
            await async_wait_until(lambda: isinstance(app.screen, InspectorScreen))
            await pilot.press("escape")
        log = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]
        assert [e["action"] for e in log] == [
            "change priority (priority 75)", "remove job", "enqueue job"]
    finally:
        await r.aclose()


async def test_range_filter_marks_bulk_and_stale(redis_url, tmp_path):
    await seed(redis_url)
    r = aioredis.Redis.from_url(redis_url)
    app = make_app(redis_url, tmp_path)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            panel = await open_panel(app, pilot)
            before = panel.loads
            await pilot.press("f")
            await fill_form(app, pilot, lo="10", hi="50")
            await async_wait_until(lambda: panel.loads > before)
            assert sorted(shown_ids(panel)) == ["clean1", "clean2", "clean3", "email1", "email2"]
            assert "10..50" in str(panel.query_one("#jobs-title").render())
            # mark two, change both at once
            panel.jobs.move_cursor(row=0)
            await pilot.pause()
            await pilot.press("space")
            await pilot.press("space")
            marked = list(panel.marks.values())
            assert len(marked) == 2
            await pilot.press("e")
            await fill_form(app, pilot, priority="1")
            await async_wait_until(lambda: r.zcount(KEY, 1, 1))
            assert await r.zcount(KEY, 1, 1) == 2
            assert {await r.zscore(KEY, it.member) for it in marked} == {1.0}
            assert not panel.marks
            # the application removes a job while the operator looks at it
            await async_wait_until(lambda: panel.jobs.row_count == 3)
            panel.jobs.move_cursor(row=0)
            await pilot.pause()
            stale = panel.jobs.current()
            await r.zrem(KEY, stale.member)
            before = panel.loads
            await pilot.press("e")
            await fill_form(app, pilot, priority="99")
            await async_wait_until(lambda: panel.loads > before)
            assert await r.zscore(KEY, stale.member) is None  # not re-added
            assert any("already gone" in n.message for n in app.notices)
    finally:
        await r.aclose()


async def test_read_only_and_narrow(redis_url, tmp_path):
    """Read-only: every mutating key of panel 3 says so and opens nothing; at 80x24 the
    histogram gives its room to the jobs table."""
    await seed(redis_url)
    ro = make_app(redis_url, tmp_path, read_only=True)
    async with ro.run_test(size=(80, 24)) as pilot:
        panel = await open_panel(ro, pilot)
        assert not panel.query_one("#plot").display
        assert panel.jobs.row_count == 6
        for key in ("e", "d", "n"):
            await pilot.press(key)
            await pilot.pause()
            assert not isinstance(ro.screen, (ConfirmScreen, FormScreen))
        assert sum("read-only" in n.message for n in ro.notices) >= 3
    r = aioredis.Redis.from_url(redis_url)
    assert await r.zrange(KEY, 0, -1, withscores=True) == sorted(
        [(job(n), float(p)) for n, p in JOBS.items()], key=lambda kv: (kv[1], kv[0]))
    await r.aclose()
