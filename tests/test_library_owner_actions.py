"""A library's keys shown in a generic panel change only by that library's own rules
(issue 22): arq's "run now" and delete in Scheduled (4), huey's priority order, sign and edit
in Priority (3), RQ's delete as strong as Job.delete, BullMQ through its own package. Each
action goes through the UI on data made by the library's own producer; the library's own
worker or API then says where the job is."""

from __future__ import annotations

import asyncio

import pytest
import redis
from textual.widgets import Input

from ferrite_tui.backend.client import ConnectionSettings
from ferrite_tui.config import Config
from ferrite_tui.ui.app import FerriteApp
from ferrite_tui.ui.screens.dialogs import ConfirmScreen, FormScreen
from helpers import async_wait_until, running
from test_library_states_ui import footer_actions


@pytest.fixture
def sync(redis_url):
    r = redis.Redis.from_url(redis_url)
    yield r
    r.close()


def make_app(url, tmp_path, **settings):
    return FerriteApp(Config(), ConnectionSettings(url=url, **settings), refresh=0.5,
                      audit_path=tmp_path / "audit.log")


async def open_sorted(app, pilot, tab: str, name: str, key: str):
    """Panel 3 or 4 with the library key `key` selected and its jobs focused."""
    await async_wait_until(lambda: app.monitor and app.monitor.snapshot and any(
        q.ref.key == key for q in app.monitor.snapshot.queues), timeout=15)
    await pilot.press(tab)
    panel = app.panel(name)
    ident = next(q.ref.ident for q in app.monitor.snapshot.queues if q.ref.key == key)
    await async_wait_until(lambda: ident in panel.table.row_keys)
    panel.table.focus()
    panel.table.select_key(ident)
    await pilot.pause()
    await async_wait_until(lambda: panel.jobs_view is not None and panel.jobs.row_count > 0
                           and panel.selected is not None and panel.selected.key == key)
    await pilot.press("enter")
    await async_wait_until(lambda: panel.jobs.has_focus)
    return panel


def select_member(panel, member: bytes) -> None:
    row = next(k for k in panel.jobs.row_keys if panel.jobs.by_key[k].member == member)
    panel.jobs.select_key(row)


async def confirm(app, pilot, *expect: str) -> str:
    await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen))
    body = str(app.screen.body)
    for text in expect:
        assert text in body, body
    await pilot.press("y")
    return body


# -- 1. arq in Scheduled (4) -------------------------------------------------------------


@pytest.mark.libraries
async def test_arq_run_now_and_delete_in_scheduled_are_arqs_own(redis_url, sync, tmp_path):
    """x makes a deferred arq job due now in `arq:queue` (arq's worker then runs it once);
    d deletes one as arq leaves an aborted job (Job.status() not_found, body gone). The
    generic moves (a ready list arq never reads, run all overdue, postpone, new job) are not
    offered on arq's key."""
    from arq import create_pool
    from arq.connections import RedisSettings
    from arq.jobs import Job, JobStatus
    from arq.worker import Worker, func

    runs: list[int] = []

    async def work(ctx, x):
        runs.append(x)
        return x

    settings = RedisSettings.from_dsn(redis_url)
    pool = await create_pool(settings)
    try:
        later = await pool.enqueue_job("work", 1, _defer_by=3600)
        dropped = await pool.enqueue_job("work", 2, _defer_by=3600)
        app = make_app(redis_url, tmp_path)
        async with running(app) as pilot:
            panel = await open_sorted(app, pilot, "4", "scheduled", "arq:queue")
            await async_wait_until(lambda: panel.jobs.row_count == 2)
            keys = footer_actions(app)
            assert keys.get("x") == "run_now" and keys.get("d") == "cancel_job"
            generic = {"run_overdue", "postpone", "set_due", "new_job"}
            assert not generic & set(keys.values()), keys
            select_member(panel, later.job_id.encode())
            await pilot.press("x")
            await confirm(app, pilot, "arq queue arq:queue", "score = now (ms)")
            await async_wait_until(lambda: any("1 done" in n.message for n in app.notices))
            select_member(panel, dropped.job_id.encode())
            await pilot.press("d")
            await confirm(app, pilot, "Delete job")
            await async_wait_until(lambda: sync.zcard("arq:queue") == 1)
            # Undeclared keys, even when reached (the palette, a direct call), send nothing.
            panel.action_run_overdue()
            await async_wait_until(lambda: any("not done here" in n.message
                                               for n in app.notices))
        assert not sync.exists("arq:queue:ready")
        assert await Job(later.job_id, pool).status() == JobStatus.queued
        assert await Job(dropped.job_id, pool).status() == JobStatus.not_found
        assert not sync.exists(f"arq:job:{dropped.job_id}")
        worker = Worker(functions=[func(work, name="work")], redis_settings=settings,
                        burst=True, poll_delay=0.05, handle_signals=False)
        await asyncio.wait_for(worker.main(), 60)
        await worker.close()
        assert runs == [1]  # the job run now, once; the deleted one never
        assert await Job(later.job_id, pool).status() == JobStatus.complete
    finally:
        await pool.aclose()


# -- 2. huey's priority in Priority (3) ----------------------------------------------------


@pytest.mark.libraries
async def test_huey_priority_order_sign_and_edit_follow_huey(redis_url, sync, tmp_path):
    """PriorityRedisHuey stores -priority and takes the lowest score first (priority 9
    first). Panel 3 lists 9 first, shows it as 9, and raising a job to 10 there makes
    huey's own dequeue take it first."""
    from huey import PriorityRedisHuey

    import libjobs

    huey = PriorityRedisHuey("prio", url=redis_url)
    ok = huey.task()(libjobs.ok)
    for x, priority in ((1, 1), (5, 5), (9, 9), (0, 0)):
        ok(x, priority=priority)
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        panel = await open_sorted(app, pilot, "3", "priority", "huey.redis.prio")
        await async_wait_until(lambda: panel.jobs.row_count == 4)
        shown = [panel.jobs.cell_text(k, "priority") for k in panel.jobs.row_keys]
        assert shown == ["9", "5", "1", "0"]
        keys = footer_actions(app)
        assert keys.get("e") == "change_priority" and "new_job" not in keys.values()
        # The job of priority 1 (third row) raised to 10: huey must take it first.
        panel.jobs.move_cursor(row=2)
        await pilot.press("e")
        await async_wait_until(lambda: isinstance(app.screen, FormScreen))
        app.screen.query_one("#field-priority", Input).value = "10"
        await pilot.pause()
        await pilot.press("enter")
        await async_wait_until(lambda: any("1 changed" in n.message for n in app.notices))
        await async_wait_until(lambda: [panel.jobs.cell_text(k, "priority")
                                        for k in panel.jobs.row_keys] == ["10", "9", "5", "0"])
    order = []
    while (task := huey.dequeue()) is not None:
        order.append(task.args[0])
    assert order == [1, 9, 5, 0]
