"""Every state of a library queue in panel 2 through Pilot: the state selector (s / S),
each state's own pager with the library's fields, and the single-item library actions
(r requeue, x run now, d delete) with the library's semantics; after a requeue the
library's own worker runs the job."""

from __future__ import annotations

import datetime
import re
import time
from typing import cast

import pytest
import redis

from ferrite_tui.backend.libraries.browse import StateItem
from ferrite_tui.ui.panels.queues import QueuesPanel
from ferrite_tui.ui.screens.dialogs import ConfirmScreen
from ferrite_tui.ui.screens.inspector import InspectorScreen
from helpers import REDUCED, async_wait_until, dramatiq_worker_runs, running
from test_queues_ui import make_app

needs_lua = pytest.mark.skipif(REDUCED, reason="the library needs Lua (reduced server)")


@pytest.fixture
def sync(redis_url):
    r = redis.Redis.from_url(redis_url)
    yield r
    r.close()


async def open_library(app, pilot, library: str, name: str) -> QueuesPanel:
    """Panel 2 with this library queue selected and its state view focused."""
    def found():
        snap = app.monitor.snapshot if app.monitor is not None else None
        return snap is not None and any(
            q.ref.library is not None and (q.ref.library.library, q.ref.library.name)
            == (library, name) for q in snap.queues)

    await async_wait_until(found)
    await pilot.press("2")
    panel = app.panel("queues")
    ident = next(q.ref.ident for q in app.monitor.snapshot.queues if q.ref.library is not None
                 and (q.ref.library.library, q.ref.library.name) == (library, name))
    await async_wait_until(lambda: ident in panel.table.row_keys)
    panel.table.focus()
    panel.table.select_key(ident)
    await pilot.pause()
    await pilot.press("enter")
    await async_wait_until(lambda: panel.state_table.display and panel.state_table.has_focus
                           and panel.state_table.page is not None)
    return panel


def server_s(sync) -> float:
    seconds, micros = sync.time()
    return seconds + micros / 1e6


IN = re.compile(r"in (?:(\d+)h(\d\d)m|(\d+)m(\d\d)s|(\d+)s)$")


def assert_due_in_an_hour(when: str, made_at: float, sync) -> None:
    """`when` ("in 59m12s", "in 1h00m") is the time left to a due time one hour after
    `made_at` (server clock), as drawn at some moment between then and now: checked against
    the server's clock at both ends, never against a string from a later wall clock (a
    slow library worker once put a minute between the two)."""
    m = IN.match(when)
    assert m, when
    h, hm, mm, ms, ss = (int(g) if g else 0 for g in m.groups())
    shown = h * 3600 + hm * 60 + mm * 60 + ms + ss
    granularity = 60 if m.group(1) else 1  # "1h00m" drops the seconds
    elapsed = server_s(sync) - made_at
    assert 3600 - elapsed - granularity - 1 <= shown <= 3600 + 1, (when, elapsed)


async def show_state(panel: QueuesPanel, pilot, label: str, rows: int | None = None) -> None:
    """Press s until the state labelled `label` is shown (and has `rows` rows)."""
    for _ in range(len(panel.library.library_states()) + 1):
        state = panel.library.current_state()
        if state is not None and state.name == label:
            break
        await pilot.press("s")
    state = panel.library.current_state()
    assert state is not None and state.name == label
    table = panel.state_table
    await async_wait_until(lambda: table.page is not None and table.page.key == state.key
                           and (rows is None or table.row_count == rows),
                           message=f"state {label}: {rows} rows")



def cells(panel: QueuesPanel, column: str) -> list[str]:
    table = panel.state_table
    return [table.cell_text(k, column) for k in table.row_keys]


async def confirm(app, pilot, expect: str) -> None:
    await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen))
    assert expect in str(app.screen.body)
    await pilot.press("y")


def footer_actions(app) -> dict[str, str]:
    return {key: b.binding.action for key, b in app.screen.active_bindings.items()}


@pytest.mark.libraries
async def test_rq_states_are_browsable_and_its_items_act_with_rq_semantics(
        redis_url, sync, tmp_path):
    from rq import Queue
    from rq.job import Job

    import libjobs
    from rqworker import QuietWorker

    flag = tmp_path / "fail"
    flag.touch()
    q = Queue("default", connection=sync)
    q.enqueue(libjobs.ok, 1)
    failed = q.enqueue(libjobs.flaky, str(flag))
    made_at = server_s(sync)
    scheduled = q.enqueue_in(datetime.timedelta(hours=1), libjobs.ok, 3)
    QuietWorker([q], connection=sync).work(burst=True)
    queued = q.enqueue(libjobs.ok, 4)
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        panel = await open_library(app, pilot, "rq", "default")
        # The library's keys on the footer, instead of the list moves.
        keys = footer_actions(app)
        assert (keys["r"], keys["x"], keys["d"], keys["s"]) == (
            "lib_requeue", "lib_run_now", "lib_delete", "next_state")
        await show_state(panel, pilot, "queued", rows=1)
        assert cells(panel, "task") == [queued.description]  # RQ's own: libjobs.ok(4)
        # S goes back (from the first state to the last), the palette goes forward.
        await pilot.press("S")
        await async_wait_until(lambda: panel.library.current_state().name == "intermediate")
        await pilot.press("ctrl+p")
        await pilot.press(*"show its next state")
        await async_wait_until(lambda: app.screen.query("CommandList")
                               and app.screen.query_one("CommandList").option_count > 0)
        await pilot.press("enter")
        await async_wait_until(lambda: panel.library.current_state().name == "queued"
                               and panel.state_table.row_count == 1)
        assert [str(n) for n in [s.name for s in panel.library.library_states()]] == [
            "queued", "wip", "scheduled", "deferred", "failed", "finished", "canceled",
            "ready", "intermediate"]

        # Scheduled: its score (unix seconds) read as a due time, about an hour ahead.
        await show_state(panel, pilot, "scheduled", rows=1)
        (when,) = cells(panel, "when")
        assert_due_in_an_hour(when, made_at, sync)
        title = str(app.query_one("#items-title").render())
        assert "scheduled: scheduled (3/9, zset, due times (s))" in title

        # Failed: task, the traceback's last line; enter shows the whole traceback.
        await show_state(panel, pilot, "failed", rows=1)
        assert cells(panel, "task") == [failed.description]
        assert cells(panel, "preview")[0].startswith("ValueError: flaky:")
        await pilot.press("enter")
        await async_wait_until(lambda: isinstance(app.screen, InspectorScreen))
        meta = dict(app.screen.meta)
        assert "Traceback" in meta["traceback"] and meta["status"] == "failed"
        await pilot.press("escape")
        await async_wait_until(lambda: not isinstance(app.screen, InspectorScreen))

        # r on a queued job is not a requeue: refused with where it applies.
        await show_state(panel, pilot, "queued", rows=1)
        await pilot.press("r")
        await async_wait_until(lambda: any("requeue applies to its failed jobs" in n.message
                                           for n in app.notices))
        # r on the failed job: RQ's requeue.
        await show_state(panel, pilot, "failed", rows=1)
        await pilot.press("r")
        await confirm(app, pilot, "Requeue 1 item of rq queue default (failed)")
        await async_wait_until(lambda: sync.zcard("rq:failed:default") == 0)
        # x on the scheduled job: to the queue now.
        await show_state(panel, pilot, "scheduled", rows=1)
        await pilot.press("x")
        await confirm(app, pilot, "Run now 1 item")
        await async_wait_until(lambda: sync.zcard("rq:scheduled:default") == 0)
        # d on the queued job: gone with its job hash.
        await show_state(panel, pilot, "queued", rows=3)
        row = next(k for k in panel.state_table.row_keys
                   if panel.state_table.by_key[k].raw == queued.id.encode())
        panel.state_table.select_key(row)
        await pilot.press("d")
        await confirm(app, pilot, "Delete 1 item")
        await async_wait_until(lambda: not sync.exists(f"rq:job:{queued.id}"))
    assert sync.lrange("rq:queue:default", 0, -1) == [failed.id.encode(), scheduled.id.encode()]
    audit = (tmp_path / "audit.log").read_text()
    assert "rq requeue failed" in audit and "rq run scheduled now" in audit
    assert "rq delete" in audit
    flag.unlink()
    QuietWorker([q], connection=sync).work(burst=True)
    assert Job.fetch(failed.id, connection=sync).get_status() == "finished"
    assert Job.fetch(scheduled.id, connection=sync).get_status() == "finished"


@pytest.mark.libraries
async def test_arq_in_progress_counted_and_deletes_with_the_job_body(redis_url, sync,
                                                                     tmp_path):
    """A job arq's worker is running keeps its member in the due set, with a marker: the
    poll counts it in progress (not pending). d deletes a queued or deferred job with its
    body; the running one is skipped."""
    import asyncio

    from arq import create_pool
    from arq.connections import RedisSettings
    from arq.worker import Worker, func

    release = asyncio.Event()

    async def slow(ctx, x):
        await release.wait()
        return x

    settings = RedisSettings.from_dsn(redis_url)
    pool = await create_pool(settings)
    running_job = await pool.enqueue_job("slow", 1)
    worker = Worker(functions=[func(slow, name="slow")], redis_settings=settings, poll_delay=0.05,
                    handle_signals=False, max_jobs=1)
    task = asyncio.create_task(worker.main())
    try:
        await async_wait_until(lambda: sync.exists(f"arq:in-progress:{running_job.job_id}"),
                               timeout=30, message="arq's worker did not start the job")
        queued = await pool.enqueue_job("slow", 2, _defer_by=0.001)
        made_at = server_s(sync)
        deferred = await pool.enqueue_job("slow", 3, _defer_by=3600)
        app = make_app(redis_url, tmp_path)
        async with running(app) as pilot:
            panel = await open_library(app, pilot, "arq", "arq:queue")

            def figures():
                stats = next(q for q in app.monitor.snapshot.queues
                             if q.ref.library is not None and q.ref.library.library == "arq")
                return {c.label: c.size for c in stats.states}, stats.depth, stats.processing

            await async_wait_until(lambda: figures() == (
                {"due": 2, "deferred": 1, "in progress": 1, "failed": 0}, 1, 1))
            await show_state(panel, pilot, "due", rows=2)
            assert panel.library.current_state().name == "due"
            # arq's pickle: the function's name read from its opcodes (nothing unpickled).
            assert cells(panel, "task") == ["slow", "slow"]
            ids = [panel.state_table.by_key[k].raw for k in panel.state_table.row_keys]
            assert set(ids) == {running_job.job_id.encode(), queued.job_id.encode()}
            # Both selected: the queued one goes, the running one is skipped.
            panel.state_table.move_cursor(row=0)
            await pilot.press("space", "space")
            await pilot.press("d")
            await confirm(app, pilot, "Delete 2 items of arq queue arq:queue (due)")
            await async_wait_until(lambda: any("1 done, 1 skipped" in n.message
                                               for n in app.notices))
            assert not sync.exists(f"arq:job:{queued.job_id}")
            assert sync.zscore("arq:queue", running_job.job_id) is not None
            await show_state(panel, pilot, "deferred", rows=1)
            assert_due_in_an_hour(cells(panel, "when")[0], made_at, sync)
            await pilot.press("d")
            await confirm(app, pilot, "Delete 1 item")
            await async_wait_until(lambda: sync.zcard("arq:queue") == 1)
            assert not sync.exists(f"arq:job:{deferred.job_id}")
    finally:
        release.set()
        # The job's task is done only after its finishing transaction's reply, which on a
        # busy machine comes well after the server removed the job: closing before that
        # cancels the task, and arq's close raises the CancelledError.
        await async_wait_until(lambda: sync.zcard("arq:queue") == 0 and worker.jobs_complete
                               and all(t.done() for t in worker.tasks.values()), timeout=30,
                               message="arq's worker did not finish the running job")
        await worker.close()
        task.cancel()
        await pool.aclose()


async def test_celery_requeue_one_unacked_message_past_the_configured_timeout(
        redis_url, sync, tmp_path):
    """[libraries] celery_visibility_timeout sets when an unacked message is stuck; r on it
    puts it back where kombu's own consumer gets it next."""
    from kombu import Connection

    from ferrite_tui.backend.connection import ConnectionSettings
    from ferrite_tui.config import Config, LibrariesConfig
    from ferrite_tui.ui.app import FerriteApp

    conn = Connection(redis_url)
    simple = conn.SimpleQueue("jobs")
    simple.put({"n": 1})
    simple.put({"n": 2})
    assert simple.get(timeout=10).payload == {"n": 1}  # taken, never acked
    vt = 0.5
    app = FerriteApp(Config(libraries=LibrariesConfig(celery_visibility_timeout=vt)),
                     ConnectionSettings(url=redis_url), refresh=0.2,
                     audit_path=tmp_path / "audit.log")
    async with running(app) as pilot:
        panel = await open_library(app, pilot, "celery", "jobs")
        assert panel.current_ref.library.visibility_timeout_s == vt
        await show_state(panel, pilot, "reserved", rows=1)
        (score,) = [s for _, s in sync.zrange("unacked_index", 0, -1, withscores=True)]
        await async_wait_until(lambda: time.time() - score > vt + 0.1)
        await pilot.press("r")
        await confirm(app, pilot, "Requeue 1 item of celery queue jobs")
        await async_wait_until(lambda: sync.hlen("unacked") == 0)
        assert sync.zcard("unacked_index") == 0
    again = simple.get(timeout=10)
    assert again.payload == {"n": 1} and again.headers.get("redelivered") is True
    again.ack()
    simple.close()
    conn.release()


async def test_huey_deletes_from_its_queue_schedule_and_results(redis_url, sync, tmp_path):
    from huey import RedisHuey

    import libjobs

    huey = RedisHuey("jobs", url=redis_url)
    ok = huey.task()(libjobs.ok)
    made_at = server_s(sync)
    ok.schedule((4,), delay=3600)
    ok(1)
    huey.execute(huey.dequeue())  # the consumer's step: the scheduled one to the schedule
    huey.execute(huey.dequeue())  # and ok(1) run: a result in huey.results.jobs
    ok(2)
    ok(3)
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        panel = await open_library(app, pilot, "huey", "jobs")
        await show_state(panel, pilot, "queued", rows=2)
        # Row 0 is the next message (huey LPUSHes and takes the tail): ok(2).
        assert "libjobs.ok" in cells(panel, "preview")[0]
        nxt = panel.state_table.by_key[panel.state_table.row_keys[0]].raw
        await pilot.press("d")
        await confirm(app, pilot, "Delete 1 item of huey queue jobs (queued)")
        await async_wait_until(lambda: sync.llen("huey.redis.jobs") == 1)
        assert nxt not in sync.lrange("huey.redis.jobs", 0, -1)
        await show_state(panel, pilot, "schedule", rows=1)
        assert_due_in_an_hour(cells(panel, "when")[0], made_at, sync)
        await pilot.press("d")
        await confirm(app, pilot, "Delete 1 item")
        await async_wait_until(lambda: sync.zcard("huey.schedule.jobs") == 0)
        await show_state(panel, pilot, "results", rows=1)
        await pilot.press("d")
        await confirm(app, pilot, "Delete 1 item")
        await async_wait_until(lambda: sync.hlen("huey.results.jobs") == 0)
    # What is left is still huey's: its own consumer step runs it.
    assert huey.execute(huey.dequeue()) == 3


@needs_lua
@pytest.mark.libraries
async def test_saq_deletes_queued_and_scheduled_jobs_and_says_why_not_active(
        redis_url, sync, tmp_path):
    from saq import Queue

    queue = Queue.from_url(redis_url, name="mail")
    await queue.connect()
    first = await queue.enqueue("ok", x=1)
    await queue.enqueue("ok", x=2)
    later = await queue.enqueue("ok", x=3, scheduled=int(time.time()) + 3600)
    await queue.disconnect()
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        panel = await open_library(app, pilot, "saq", "mail")
        await show_state(panel, pilot, "queued", rows=2)
        assert cells(panel, "task") == ["ok", "ok"]
        await pilot.press("d")
        await confirm(app, pilot, "Delete 1 item of saq queue mail (queued)")
        await async_wait_until(lambda: sync.llen("saq:mail:queued") == 1)
        assert not sync.exists(first.id)
        assert sync.zscore("saq:mail:incomplete", first.id) is None
        await show_state(panel, pilot, "scheduled", rows=1)
        await pilot.press("d")
        await confirm(app, pilot, "Delete 1 item")
        await async_wait_until(lambda: not sync.exists(later.id))
        await show_state(panel, pilot, "active", rows=0)
        await pilot.press("d")
        await async_wait_until(lambda: any("saq ends active jobs" in n.message
                                           for n in app.notices))
    assert sync.llen("saq:mail:queued") == 1 and sync.zcard("saq:mail:incomplete") == 1


@needs_lua
@pytest.mark.libraries
async def test_dramatiq_requeue_one_dead_message_then_its_worker_runs_it(
        redis_url, sync, tmp_path):
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    import libjobs
    from helpers import wait_until

    flag = tmp_path / "fail"
    flag.touch()
    broker = RedisBroker(url=redis_url)
    dramatiq.set_broker(broker)
    flaky = dramatiq.actor(libjobs.flaky, max_retries=0, queue_name="default",
                           broker=broker, actor_name="flaky")
    dead = [flaky.send(str(flag)) for _ in range(2)]
    worker = dramatiq.Worker(broker, worker_timeout=50, worker_threads=1)
    worker.start()
    try:
        wait_until(lambda: sync.zcard("dramatiq:default.XQ") == 2, timeout=60,
                   message="dramatiq's worker did not dead-letter the failing jobs")
    finally:
        worker.stop()
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        panel = await open_library(app, pilot, "dramatiq", "default")
        await show_state(panel, pilot, "dead", rows=2)
        assert cells(panel, "task") == ["flaky", "flaky"]
        # Without retries dramatiq keeps no traceback: the arguments are shown.
        assert cells(panel, "preview") == [f'["{flag}"]'] * 2
        row = cast(StateItem, panel.state_table.by_key[panel.state_table.row_keys[0]])
        chosen, chosen_id = row.raw.decode(), row.field(("message_id",))
        await pilot.press("r")
        await confirm(app, pilot, "Requeue 1 item of dramatiq queue default (dead)")
        await async_wait_until(lambda: sync.zcard("dramatiq:default.XQ") == 1)
    assert sync.lrange("dramatiq:default", 0, -1) == [chosen.encode()]
    flag.unlink()
    dramatiq_worker_runs(broker, chosen_id)
    assert chosen_id in {m.message_id for m in dead}


@pytest.mark.libraries
async def test_overview_shows_scheduled_in_progress_and_failed_beside_the_depth(
        redis_url, sync, tmp_path):
    from rq import Queue

    import libjobs
    from rqworker import QuietWorker

    flag = tmp_path / "fail"
    flag.touch()
    q = Queue("default", connection=sync)
    for _ in range(2):
        q.enqueue(libjobs.flaky, str(flag))
    q.enqueue_in(datetime.timedelta(hours=1), libjobs.ok, 3)
    QuietWorker([q], connection=sync).work(burst=True)
    q.enqueue(libjobs.ok, 4)
    sync.rpush("plain", "x")
    app = make_app(redis_url, tmp_path)
    async with running(app, size=(80, 24)) as pilot:
        panel = app.panel("overview")
        table = panel.table

        def row(key):
            snap = app.monitor.snapshot if app.monitor else None
            ident = next((s.ref.ident for s in snap.queues if s.ref.key == key), None) \
                if snap else None
            return ident if ident in table.row_keys else None

        await async_wait_until(lambda: row("rq:queue:default") and row("plain"))
        await pilot.pause()
        assert "states" in [c.key for c in table.shown]  # fits at 80 columns
        assert table.cell_text(row("rq:queue:default"), "states") == "1 · 0 · 2"
        assert table.cell_text(row("plain"), "states") == ""


@needs_lua
@pytest.mark.libraries
async def test_bullmq_states_browsable_and_its_keys_say_where_they_apply(redis_url, sync,
                                                                     tmp_path):
    from bullmq import Queue, Worker

    async def process(job, token):
        raise ValueError("boom")

    queue = Queue("mail", {"connection": redis_url})
    await queue.add("send", {"fail": True}, {"attempts": 1})
    worker = Worker("mail", process, {"connection": redis_url})
    try:
        await async_wait_until(lambda: sync.zcard("bull:mail:failed") == 1, timeout=60,
                               message="BullMQ's worker did not fail the job")
    finally:
        await worker.close()
    made_at = server_s(sync)
    await queue.add("later", {"x": 2}, {"delay": 3_600_000})
    await queue.add("send", {"x": 1}, {"priority": 3})
    await queue.close()
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        panel = await open_library(app, pilot, "bullmq", "mail")
        await show_state(panel, pilot, "delayed", rows=1)
        # Score due_ms * 4096 + counter, read as a due time about an hour ahead.
        assert_due_in_an_hour(cells(panel, "when")[0], made_at, sync)
        await show_state(panel, pilot, "prioritized", rows=1)
        assert cells(panel, "when") == ["p 3"]
        await show_state(panel, pilot, "failed", rows=1)
        assert cells(panel, "task") == ["send"] and cells(panel, "preview") == ["boom"]
        # r / x / d are BullMQ's own (test_library_owner_actions.py); x on a failed job
        # is not a promote: refused with where it applies.
        await pilot.press("x")
        await async_wait_until(lambda: any("run now applies to delayed jobs (promote)"
                                           in n.message for n in app.notices))
    assert sync.zcard("bull:mail:failed") == 1


async def test_library_keys_in_read_only_mode_say_so_and_change_nothing(redis_url, sync,
                                                                        tmp_path):
    from rq import Queue

    import libjobs

    job = Queue("default", connection=sync).enqueue(libjobs.ok, 1)
    app = make_app(redis_url, tmp_path, read_only=True)
    async with running(app) as pilot:
        panel = await open_library(app, pilot, "rq", "default")
        await show_state(panel, pilot, "queued", rows=1)
        for key, label in (("d", "delete selected with their bodies"),
                           ("r", "requeue selected (library)"),
                           ("x", "run selected now (library)")):
            await pilot.press(key)
            await async_wait_until(lambda label=label: any(
                f"read-only mode: '{label}" in n.message for n in app.notices))
    assert sync.lrange("rq:queue:default", 0, -1) == [job.id.encode()]
    assert sync.exists(f"rq:job:{job.id}")
