"""A library's keys shown in a generic panel change only by that library's own rules
(issue 22): arq's "run now" and delete in Scheduled (4), huey's priority order, sign and edit
in Priority (3), RQ's delete as strong as Job.delete, BullMQ through its own package. Each
action goes through the UI on data made by the library's own producer; the library's own
worker or API then says where the job is."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
import redis
from textual.widgets import Input

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.config import Config
from ferrite_tui.ui.app import FerriteApp
from ferrite_tui.ui.screens.dialogs import ConfirmScreen, FormScreen
from helpers import REDUCED, async_wait_until, running
from test_library_states_ui import cells, footer_actions, open_library, show_state

needs_lua = pytest.mark.skipif(REDUCED, reason="the library needs Lua (reduced server)")


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


# -- 4. RQ delete as strong as Job.delete ------------------------------------------------


def rq_worker(url: str, *queues: str) -> subprocess.Popen:
    """RQ's own worker as a process (its signal handlers need a main thread)."""
    tests = os.path.dirname(__file__)
    return subprocess.Popen(
        [sys.executable, "-c", "from rq.cli import main; main()", "worker", "--burst",
         "--worker-class", "rqworker.QuietWorker", "-u", url, *queues],
        cwd=tests, env={**os.environ, "PYTHONPATH": tests},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.libraries
async def test_rq_delete_mirrors_job_delete_or_refuses(redis_url, sync, tmp_path):
    """d on a deferred RQ job leaves exactly what RQ's Job.delete leaves (no orphan
    dependencies set); on a running job it is refused naming RQ's stop command, and the
    job finishes as RQ runs it (never "1 done" then back in finished); a queued job holding
    RQ 3's rate-limit slot is deleted by RQ's own Job.delete (its script frees the slot and
    lets the waiting job through), and RQ's worker then runs the rest."""
    from rq import Queue
    from rq.exceptions import NoSuchJobError
    from rq.job import Job
    from rq.rate_limit import RateLimit, RateLimitRegistry
    from rq.registry import DeferredJobRegistry, FinishedJobRegistry

    import libjobs

    flag = tmp_path / "hold"
    flag.touch()
    q = Queue("default", connection=sync)
    running_job = q.enqueue(libjobs.hold, str(flag))
    worker = rq_worker(redis_url, "default")
    try:
        await async_wait_until(lambda: Job.fetch(running_job.id, connection=sync)
                               .get_status() == "started", timeout=60,
                               message="RQ's worker did not start the job")
        parent = q.enqueue(libjobs.ok, 1)
        by_console = q.enqueue(libjobs.ok, 2, depends_on=parent)
        by_rq = q.enqueue(libjobs.ok, 3, depends_on=parent)
        # RQ 3's rate limit is its own Lua script: only where the server runs Lua.
        limited = Queue("limited", connection=sync)
        held = [] if REDUCED else [
            limited.enqueue(libjobs.ok, i, rate_limit=RateLimit("mail", 1)) for i in range(2)]
        # RQ 3 names it with a doubled colon (rq/job.py dependencies_key).
        assert sync.exists(f"rq:job::{by_console.id}:dependencies")
        app = make_app(redis_url, tmp_path)
        async with running(app) as pilot:
            panel = await open_library(app, pilot, "rq", "default")
            await show_state(panel, pilot, "deferred", rows=2)
            row = next(k for k in panel.state_table.row_keys
                       if panel.state_table.by_key[k].raw == by_console.id.encode())
            panel.state_table.select_key(row)
            await pilot.press("d")
            await confirm(app, pilot, "Job.delete(remove_from_queue=True)")
            await async_wait_until(lambda: any("1 done" in n.message for n in app.notices))
            Job.fetch(by_rq.id, connection=sync).delete()  # RQ's own, for comparison
            # The running job: d is refused before anything is sent.
            await show_state(panel, pilot, "wip", rows=1)
            await pilot.press("d")
            await async_wait_until(lambda: any("send_stop_job_command" in n.message
                                               for n in app.notices))
            if held:  # the queued job holding the limit's slot: RQ's own Job.delete
                panel = await open_library(app, pilot, "rq", "limited")
                await show_state(panel, pilot, "queued", rows=1)
                assert cells(panel, "id") == [held[0].id]
                await pilot.press("d")
                await confirm(app, pilot, "Delete 1 item")
                await async_wait_until(lambda: sum("1 done" in n.message
                                                   for n in app.notices) >= 2)
        for job in (by_console, by_rq):
            with pytest.raises(NoSuchJobError):
                Job.fetch(job.id, connection=sync)
        assert sorted(k.decode().replace(by_console.id, "ID") for k in sync.keys(
            f"*{by_console.id}*")) == sorted(k.decode().replace(by_rq.id, "ID") for k in
                                              sync.keys(f"*{by_rq.id}*")) == []
        assert DeferredJobRegistry("default", connection=sync).count == 0
        if held:
            # Its slot freed and the waiting job let through, as RQ's own delete does.
            with pytest.raises(NoSuchJobError):
                Job.fetch(held[0].id, connection=sync)
            assert RateLimitRegistry("mail", sync).get_allowed_job_ids() == [held[1].id]
            assert Job.fetch(held[1].id, connection=sync).get_status() == "queued"
            held = held[1:]
    finally:
        flag.unlink()
        await asyncio.to_thread(worker.wait, 150)
    worker = rq_worker(redis_url, "default", *(["limited"] if held else []))
    assert await asyncio.to_thread(worker.wait, 150) == 0
    statuses = {name: Job.fetch(j.id, connection=sync).get_status()
                for name, j in (("running", running_job), ("parent", parent))}
    registries = {name: sorted(k.decode() for k in sync.keys(f"rq:{name}:default"))
                  for name in ("finished", "failed", "started", "deferred")}
    assert statuses == {"running": "finished", "parent": "finished"}, (statuses, registries)
    finished = FinishedJobRegistry("default", connection=sync)
    assert set(finished.get_job_ids()) <= {running_job.id, parent.id}
    assert [Job.fetch(j.id, connection=sync).get_status() for j in held] == \
        ["finished"] * len(held)


# -- 5. BullMQ through its own package -----------------------------------------------------


async def bullmq_layout(url: str, sync) -> dict:
    """BullMQ's own producer and worker: one failed job, one delayed an hour, one waiting
    (made while no worker runs)."""
    from bullmq import Queue, Worker

    async def process(job, token):
        if job.data.get("fail"):
            raise ValueError("boom")
        return "ok"

    queue = Queue("mail", {"connection": url})
    failed = await queue.add("send", {"fail": True}, {"attempts": 1})
    worker = Worker("mail", process, {"connection": url})
    try:
        await async_wait_until(lambda: sync.zcard("bull:mail:failed") == 1, timeout=60,
                               message="BullMQ's worker did not fail the job")
    finally:
        await worker.close()
    later = await queue.add("later", {"x": 2}, {"delay": 3_600_000})
    drop = await queue.add("send", {"x": 3})
    return {"queue": queue, "failed": failed.id, "later": later.id, "drop": drop.id}


@needs_lua
@pytest.mark.libraries
async def test_bullmq_retry_promote_and_remove_through_its_own_package(redis_url, sync,
                                                                       tmp_path):
    """r on a failed BullMQ job is Job.retry, x on a delayed one Job.promote, d Job.remove
    (BullMQ's own scripts through the `bullmq` package); BullMQ's getJobCounts and its
    worker then agree: both back in wait, the removed one gone, both completed once."""
    from bullmq import Job, Worker

    made = await bullmq_layout(redis_url, sync)
    queue = made["queue"]
    try:
        app = make_app(redis_url, tmp_path)
        async with running(app) as pilot:
            panel = await open_library(app, pilot, "bullmq", "mail")
            keys = footer_actions(app)
            assert (keys["r"], keys["x"], keys["d"]) == ("lib_requeue", "lib_run_now",
                                                         "lib_delete")
            await show_state(panel, pilot, "failed", rows=1)
            await pilot.press("r")
            await confirm(app, pilot, "Job.retry('failed')")
            await async_wait_until(lambda: sync.zcard("bull:mail:failed") == 0)
            await show_state(panel, pilot, "delayed", rows=1)
            await pilot.press("x")
            await confirm(app, pilot, "Job.promote()")
            await async_wait_until(lambda: sync.zcard("bull:mail:delayed") == 0)
            await show_state(panel, pilot, "wait", rows=3)
            row = next(k for k in panel.state_table.row_keys
                       if panel.state_table.by_key[k].raw == made["drop"].encode())
            panel.state_table.select_key(row)
            await pilot.press("d")
            await confirm(app, pilot, "Job.remove()")
            await async_wait_until(lambda: sum("1 done" in n.message
                                               for n in app.notices) >= 3)
        counts = await queue.getJobCounts("wait", "failed", "delayed", "completed")
        assert counts == {"wait": 2, "failed": 0, "delayed": 0, "completed": 0}
        assert await Job.fromId(queue, made["drop"]) is None

        async def process(job, token):
            return "ok"

        worker = Worker("mail", process, {"connection": redis_url})
        try:
            await async_wait_until(lambda: sync.zcard("bull:mail:completed") == 2, timeout=60,
                                   message="BullMQ's worker did not run the two jobs")
        finally:
            await worker.close()
        counts = await queue.getJobCounts("wait", "failed", "delayed", "completed")
        assert counts == {"wait": 0, "failed": 0, "delayed": 0, "completed": 2}
    finally:
        await queue.close()


@needs_lua
@pytest.mark.libraries
async def test_bullmq_is_refused_with_the_reason_where_the_server_runs_no_lua(
        redis_url, redis_server, sync, tmp_path):
    """The same data seen through the Ferrite stand-in (no Lua): r, x and d are refused
    before anything is sent, saying why; BullMQ's own counts are unchanged."""
    from ferrite_proxy import FerriteProxy

    made = await bullmq_layout(redis_url, sync)
    queue = made["queue"]
    proxy = FerriteProxy()
    proxy.start(("127.0.0.1", int(redis_url.rsplit(":", 1)[1].split("/")[0])))
    try:
        app = make_app(f"redis://127.0.0.1:{proxy.port}/0", tmp_path)
        async with running(app) as pilot:
            panel = await open_library(app, pilot, "bullmq", "mail")
            for label, key in (("failed", "r"), ("delayed", "x"), ("wait", "d")):
                await show_state(panel, pilot, label)
                before = len(app.notices)
                await pilot.press(key)
                await async_wait_until(lambda before=before: any(
                    "runs no Lua" in n.message for n in list(app.notices)[before:]))
        counts = await queue.getJobCounts("wait", "failed", "delayed")
        assert counts == {"wait": 1, "failed": 1, "delayed": 1}
    finally:
        proxy.stop()
        await queue.close()


# -- 7. every library action declared with its layout ------------------------------------


def test_every_declared_action_is_implemented_and_nothing_else_is():
    from ferrite_tui.backend.libraries import RECOGNISERS, plans

    item_actions = {"requeue", "run_now", "delete", "set_priority", "claim", "ack"}
    declared = {(m.LIBRARY, a.action) for m in RECOGNISERS for a in getattr(m, "ACTIONS", ())}
    items = {d for d in declared if d[1] in item_actions}
    assert items == set(plans.IMPLEMENTED) | plans.BY_PANEL
    bulk = {(lib, action) for action, (lib, _label) in plans.ACTIONS.items()}
    assert declared - items == bulk


@pytest.mark.libraries
async def test_only_declared_library_actions_show_or_run(redis_url, sync, tmp_path):
    """A huey queue declares delete only: r and x are off the footer and the palette;
    reached anyway they say why and send nothing; in read-only mode d is shown disabled."""
    from huey import RedisHuey

    import libjobs
    from ferrite_tui.ui.commands import panel_commands

    huey = RedisHuey("jobs", url=redis_url)
    huey.task()(libjobs.ok)(1)
    before = sync.lrange("huey.redis.jobs", 0, -1)
    for read_only in (False, True):
        app = make_app(redis_url, tmp_path, read_only=read_only)
        async with running(app) as pilot:
            panel = await open_library(app, pilot, "huey", "jobs")
            keys = footer_actions(app)
            assert keys.get("d") == "lib_delete"
            assert "lib_requeue" not in keys.values() and "lib_run_now" not in keys.values()
            assert (panel.check_action("lib_delete", ()) is None) == read_only
            names = [name for name, *_ in panel_commands(panel)]
            assert any("delete selected with their bodies" in n for n in names)
            assert not any("requeue selected (library)" in n or "run selected now" in n
                           for n in names)
            if not read_only:
                panel.action_lib_run_now()
                await pilot.press("r")
                await async_wait_until(lambda app=app: sum("huey: no" in n.message
                                                           for n in app.notices) >= 2)
    assert sync.lrange("huey.redis.jobs", 0, -1) == before


def test_bullmq_without_its_package_is_refused_naming_the_extra(tmp_path):
    """The `bullmq` package is an optional extra: without it (blocked in a fresh
    interpreter), BullMQ's actions are refused with the pip command, and nothing of the
    console imports it."""
    code = (
        "import sys; sys.modules['bullmq'] = None\n"
        "from dataclasses import replace\n"
        "from ferrite_tui.backend.client import Client\n"
        "from ferrite_tui.backend.connection import ConnectionSettings\n"
        "from ferrite_tui.backend.libraries import bullmq_api\n"
        "import ferrite_tui.ui.app\n"
        "c = Client(ConnectionSettings(url='redis://127.0.0.1:1/0'))\n"
        "c.capabilities = replace(c.capabilities, lua=True)\n"
        "print(bullmq_api.refusal(c))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert "pip install 'ferrite-tui[bullmq]'" in out


@pytest.mark.libraries
async def test_taskiq_stream_offers_only_its_brokers_claim_and_ack(redis_url, sync,
                                                                    tmp_path):
    """taskiq-redis's stream: claim and ack (XCLAIM / XACK, what its broker does) stay;
    the seed's dead-letter move and publishing a message taskiq did not make are off the
    footer, refused if reached, and send nothing."""
    from taskiq_redis import RedisStreamBroker

    import libjobs

    broker = RedisStreamBroker(redis_url)
    ok = broker.task(task_name="ok")(libjobs.own_copy(libjobs.ok))
    await broker.startup()
    await ok.kiq(1)
    await broker.shutdown()
    before = sync.xlen("taskiq")
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        p = app.panel("streams")
        await async_wait_until(lambda: app.monitor and app.monitor.snapshot and any(
            q.ref.key == "taskiq" for q in app.monitor.snapshot.queues), timeout=15)
        await pilot.press("5")
        await async_wait_until(lambda: p.stream == "taskiq" and (ref := p.stream_ref()) is not None
                               and ref.library is not None)
        keys = footer_actions(app)
        assert "dead_letter" not in keys.values() and "claim" in keys.values()
        p.action_dead_letter()
        await async_wait_until(lambda: any("taskiq stream: not done here" in n.message
                                           for n in app.notices))
    assert sync.xlen("taskiq") == before and not sync.exists("taskiq:dlq")
