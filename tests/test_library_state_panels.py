"""The libraries' failed and scheduled states in panels 6 (Dead letters) and 4 (Scheduled),
through Pilot: one row per library queue's state with the library's label and count, its
items browsable, and only the library's own operations (checked with the library's own
registries)."""

from __future__ import annotations

import pytest
import redis

from ferrite_tui.cli.status import library_json
from ferrite_tui.presentation import states_text
from ferrite_tui.ui.library_states import LibraryStateRows
from ferrite_tui.ui.screens.dialogs import ConfirmScreen
from helpers import REDUCED, async_wait_until, running
from test_queues_ui import make_app

needs_lua = pytest.mark.skipif(REDUCED, reason="the library needs Lua (reduced server)")


@pytest.fixture
def sync(redis_url):
    r = redis.Redis.from_url(redis_url)
    yield r
    r.close()


def rows_of(app, panel: str) -> LibraryStateRows:
    return app.panel(panel).library_rows


async def open_state(app, pilot, key: str, panel: str, label: str,
                     count: int) -> LibraryStateRows:
    """Panel `key` with the library state labelled `label` selected (showing `count`),
    its items focused."""
    await pilot.press(key)
    rows = rows_of(app, panel)

    def shown() -> str | None:
        return next((k for k in rows.states_table.row_keys
                     if rows.states_table.cell_text(k, "state") == label), None)

    await async_wait_until(lambda: (row := shown()) is not None
                           and rows.states_table.cell_text(row, "count") == f"{count:,}",
                           message=f"{label} with {count}")
    # The panel's key again: its own table focused (the switch's focus comes after a
    # refresh), so nothing takes the focus back from the rows.
    await pilot.press(key)
    await async_wait_until(lambda: app.focused is app.panel(panel).table)
    rows.states_table.focus()
    row = shown()
    assert row is not None
    rows.states_table.select_key(row)
    await pilot.press("enter")
    await async_wait_until(lambda: rows.items_table.has_focus and rows.current is not None
                           and rows.current.label == label
                           and rows.items_table.row_count == count,
                           message=f"{label}: {count} items")
    return rows


@pytest.mark.libraries
async def test_rq_failed_jobs_in_dead_letters_requeue_with_rqs_own_operation(
        redis_url, sync, tmp_path):
    from rq import Queue
    from rq.registry import FailedJobRegistry

    import libjobs
    from rqworker import QuietWorker

    flag = tmp_path / "fail"
    flag.touch()
    q = Queue("default", connection=sync)
    first = q.enqueue(libjobs.flaky, str(flag))
    q.enqueue(libjobs.flaky, str(flag))
    QuietWorker([q], connection=sync).work(burst=True)
    failed = FailedJobRegistry(queue=q)
    assert failed.count == 2 and q.count == 0
    # A guide dead-letter list beside them: the panel's own R would requeue it.
    sync.rpush("queue:mail:dlq", '{"id": "m1", "error": "smtp down"}')
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        rows = await open_state(app, pilot, "6", "dlq", "rq failed · default",
                                failed.count)
        table = rows.items_table
        assert all(table.cell_text(k, "preview").startswith("ValueError: flaky:")
                   for k in table.row_keys)
        # Only RQ's own operation on its failed jobs is offered: requeue.
        keys = app.screen.active_bindings
        assert keys["r"].binding.action == "lib_item('requeue')" and keys["r"].enabled
        assert keys["x"].binding.action == "lib_item('run_now')" and not keys["x"].enabled
        # x (run now) is not RQ's on a failed job: refused, nothing sent, not the panel's x.
        await pilot.press("x")
        await async_wait_until(lambda: any("run now applies to" in n.message
                                           for n in app.notices))
        assert failed.count == 2 and q.count == 0
        # The panel's own writing keys act on its lists, not on the library jobs in view:
        # refused while the focus is in the library rows, nothing sent.
        await pilot.press("e", "F")
        await async_wait_until(lambda: sum("acts on the panel's own queues" in n.message
                                           for n in app.notices) >= 1)
        assert not isinstance(app.screen, ConfirmScreen)
        assert sync.llen("queue:mail:dlq") == 1 and failed.count == 2 and q.count == 0
        row = next(k for k in table.row_keys if table.by_key[k].raw == first.id.encode())
        table.select_key(row)
        await pilot.press("r")
        await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen))
        assert "Requeue 1 item of rq queue default (failed)" in str(app.screen.body)
        await pilot.press("y")
        await async_wait_until(lambda: failed.count == 1 and q.count == 1)
        assert q.job_ids == [first.id]
        # The row follows RQ's own count at the next poll.
        await async_wait_until(lambda: rows.states_table.cell_text(
            rows.states_table.row_keys[0], "count") == "1")
    assert "rq requeue failed" in (tmp_path / "audit.log").read_text()
    flag.unlink()
    QuietWorker([q], connection=sync).work(burst=True)
    assert first.get_status(refresh=True) == "finished"


@needs_lua
@pytest.mark.libraries
async def test_bullmq_delayed_and_saq_scheduled_jobs_in_scheduled(redis_url, sync, tmp_path):
    import time

    from bullmq import Queue as BullQueue
    from saq import Queue as SaqQueue

    bull = BullQueue("mail", {"connection": redis_url})
    await bull.add("later", {"x": 1}, {"delay": 3_600_000})
    await bull.add("later", {"x": 2}, {"delay": 7_200_000})
    delayed = await bull.getDelayedCount()
    await bull.close()
    saq = SaqQueue.from_url(redis_url, name="reports")
    await saq.connect()
    await saq.enqueue("nightly", scheduled=int(time.time()) + 3600)
    await saq.disconnect()
    assert delayed == 2
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        rows = await open_state(app, pilot, "4", "scheduled", "bullmq delayed · mail", delayed)
        table = rows.items_table
        assert [table.cell_text(k, "task") for k in table.row_keys] == ["later", "later"]
        assert all(table.cell_text(k, "when").startswith("in ") for k in table.row_keys)
        labels = [rows.states_table.cell_text(k, "state") for k in rows.states_table.row_keys]
        assert "saq scheduled · reports" in labels


# -- arq's and saq's failed jobs: one string per job, listed from the strings ------------------

@pytest.mark.libraries
async def test_arq_failed_results_listed_with_error_and_time_and_refused_actions(
        redis_url, sync, tmp_path):
    """arq's failed results (one `arq:result:ID` string per job) are listed in panel 6 with
    arq's error and the time of failure, as many as arq's own `all_job_results()` counts;
    requeue and delete are refused with arq's reason and nothing is sent."""
    from arq import create_pool
    from arq.connections import RedisSettings
    from arq.worker import Worker, func

    async def ok_fn(ctx, x):
        return x

    async def boom_fn(ctx, x):
        raise ValueError(f"boom {x}")

    settings = RedisSettings.from_dsn(redis_url)
    pool = await create_pool(settings)
    for i in range(3):
        await pool.enqueue_job("boom", i)
    await pool.enqueue_job("ok", 9)
    worker = Worker(functions=[func(ok_fn, name="ok"), func(boom_fn, name="boom")],
                    redis_settings=settings, burst=True, max_tries=1, poll_delay=0.05,
                    handle_signals=False)
    await worker.main()
    await worker.close()
    results = await pool.all_job_results()
    await pool.aclose()
    own_failed = [r for r in results if not r.success]
    assert len(own_failed) == 3 and len(results) == 4
    before = sorted(sync.keys("arq:*"))
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        rows = await open_state(app, pilot, "6", "dlq", "arq failed · arq:queue",
                                len(own_failed))
        table = rows.items_table
        assert sorted(table.cell_text(k, "preview") for k in table.row_keys) == \
            [f"ValueError: boom {i}" for i in range(3)]
        assert {table.cell_text(k, "task") for k in table.row_keys} == {"boom"}
        assert all(table.cell_text(k, "when").endswith(" ago") for k in table.row_keys)
        assert {table.by_key[k].raw.decode() for k in table.row_keys} == \
            {f"arq:result:{r.job_id}" for r in own_failed}
        for key, why in (("r", "no call that runs a finished job again"),
                         ("d", "only when keep_result expires it")):
            await pilot.press(key)
            await async_wait_until(lambda why=why: any(why in n.message for n in app.notices),
                                   message=why)
        assert not isinstance(app.screen, ConfirmScreen)
    assert sorted(sync.keys("arq:*")) == before


async def saq_worker_until_idle(queue, sync, functions) -> None:
    """saq's own worker runs queue `mail` until nothing is queued, active or incomplete."""
    import asyncio

    from saq import Worker

    worker = Worker(queue, functions=functions, concurrency=1, dequeue_timeout=0.05)
    task = asyncio.create_task(worker.start())
    try:
        await async_wait_until(lambda: sync.llen("saq:mail:queued") == 0
                               and sync.llen("saq:mail:active") == 0
                               and sync.zcard("saq:mail:incomplete") == 0, timeout=60,
                               message="saq worker did not finish its jobs")
    finally:
        await worker.stop()
        task.cancel()


@needs_lua
@pytest.mark.libraries
async def test_saq_failed_jobs_listed_and_retried_with_saqs_own_retry(redis_url, sync,
                                                                       tmp_path):
    """saq's failed jobs (their job strings say failed) are listed in panel 6 with saq's
    error, as many as saq's own jobs say; r retries one with saq's Job.retry, and saq's own
    worker then runs it to complete; d is refused with saq's reason."""
    from saq import Queue

    flag = tmp_path / "fail"
    flag.touch()

    async def flaky(ctx, x=0):
        if flag.exists():
            raise ValueError(f"flaky {x}")
        return x

    queue = Queue.from_url(redis_url, name="mail")
    await queue.connect()

    async def work_until_idle() -> None:
        await saq_worker_until_idle(queue, sync, [("flaky", flaky)])

    enqueued = [await queue.enqueue("flaky", x=i, retries=1) for i in range(3)]
    jobs = [j for j in enqueued if j is not None]
    assert len(jobs) == 3
    await work_until_idle()

    async def statuses() -> list[str]:
        found = [await queue.job(j.key) for j in jobs]
        return [j.status.value if j is not None else "gone" for j in found]

    # (saq's worker may end a job aborted rather than failed: its own status.)
    seen = await statuses()
    failed = [j for j, status in zip(jobs, seen, strict=True) if status == "failed"]
    assert failed and all(s in ("failed", "aborted") for s in seen)
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        rows = await open_state(app, pilot, "6", "dlq", "saq failed · mail", len(failed))
        table = rows.items_table
        assert all(table.cell_text(k, "preview").startswith("ValueError: flaky")
                   for k in table.row_keys)
        assert all(table.cell_text(k, "when").endswith(" ago") for k in table.row_keys)
        await pilot.press("d")
        await async_wait_until(lambda: any("drops finished ones" in n.message
                                           for n in app.notices))
        row = next(k for k in table.row_keys if table.by_key[k].raw == failed[0].id.encode())
        table.select_key(row)
        await pilot.press("r")
        await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen))
        assert "Job.retry" in str(app.screen.body)
        await pilot.press("y")
        await async_wait_until(lambda: sync.llen("saq:mail:queued") == 1)
    retried = jobs.index(failed[0])
    after = await statuses()
    assert after[retried] == "queued" and after[:retried] + after[retried + 1:] == \
        seen[:retried] + seen[retried + 1:]
    flag.unlink()
    await work_until_idle()
    assert (await statuses())[retried] == "complete"
    await queue.disconnect()
    assert "saq retry" in (tmp_path / "audit.log").read_text()


# -- bulk: the library's own operation on every job of a state, through the bulk runner ------

async def confirm_bulk(app, pilot, *expected: str) -> None:
    await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen))
    body = str(app.screen.body)
    assert all(e in body for e in expected), body
    await pilot.press("y")


@pytest.mark.libraries
async def test_rq_requeue_all_failed_with_rqs_own_requeue_then_rqs_worker_runs_them(
        redis_url, sync, tmp_path):
    """R on RQ's failed row requeues every failed job by RQ's own requeue, through the bulk
    runner (one confirmation with the count); RQ's own worker then runs each of them."""
    from rq import Queue
    from rq.registry import FailedJobRegistry

    import libjobs
    from rqworker import QuietWorker

    flag = tmp_path / "fail"
    flag.touch()
    q = Queue("default", connection=sync)
    jobs = [q.enqueue(libjobs.flaky, str(flag)) for _ in range(3)]
    QuietWorker([q], connection=sync).work(burst=True)
    failed = FailedJobRegistry(queue=q)
    assert failed.count == 3 and q.count == 0
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        rows = await open_state(app, pilot, "6", "dlq", "rq failed · default", failed.count)
        rows.states_table.focus()
        await pilot.press("R")
        await confirm_bulk(app, pilot, "Requeue all 3 items of rq queue default (failed)",
                           "FailedJobRegistry.requeue")
        await async_wait_until(lambda: failed.count == 0 and q.count == 3)
        await async_wait_until(lambda: any("3 done, 0 skipped, 0 failed" in n.message
                                           for n in app.notices))
        assert sorted(q.job_ids) == sorted(j.id for j in jobs)
    assert "rq requeue failed" in (tmp_path / "audit.log").read_text()
    flag.unlink()
    QuietWorker([q], connection=sync).work(burst=True)
    assert [j.get_status(refresh=True) for j in jobs] == ["finished"] * 3


# -- every library's failed and scheduled states in panels 6 and 4, as the library counts ----

@needs_lua  # dramatiq's broker acks and nacks with EVALSHA
@pytest.mark.libraries
async def test_dramatiq_dead_letters_in_panel_6_requeued_all_and_run_by_dramatiq(
        redis_url, sync, tmp_path):
    """dramatiq's dead letters show with the count of messages its worker dead-lettered
    (its own after_nack); R requeues them all as dramatiq's enqueue does, and dramatiq's
    own worker runs each."""
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker
    from dramatiq.middleware import Middleware

    import libjobs
    from helpers import wait_until

    flag = tmp_path / "fail"
    flag.touch()
    nacked: list[str] = []
    ran: list[str] = []

    class Seen(Middleware):
        def after_nack(self, broker, message):
            nacked.append(message.message_id)

        def after_process_message(self, broker, message, *, result=None, exception=None):
            if exception is None:
                ran.append(message.message_id)

    broker = RedisBroker(url=redis_url)
    broker.add_middleware(Seen())
    dramatiq.set_broker(broker)
    flaky = dramatiq.actor(libjobs.flaky, max_retries=0, queue_name="default",
                           broker=broker, actor_name="flaky")
    sent = [flaky.send(str(flag)).message_id for _ in range(2)]

    def run_until(done) -> None:
        worker = dramatiq.Worker(broker, worker_timeout=50, worker_threads=1)
        worker.start()
        try:
            wait_until(done, timeout=60, message="dramatiq's worker did not get there")
        finally:
            worker.stop()

    run_until(lambda: sorted(nacked) == sorted(sent))
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        rows = await open_state(app, pilot, "6", "dlq", "dramatiq dead · default",
                                len(nacked))
        assert {rows.items_table.cell_text(k, "task")
                for k in rows.items_table.row_keys} == {"flaky"}
        rows.states_table.focus()
        await pilot.press("R")
        await confirm_bulk(app, pilot, "Requeue all 2 items of dramatiq queue default")
        await async_wait_until(lambda: sync.zcard("dramatiq:default.XQ") == 0
                               and sync.llen("dramatiq:default") == 2)
    flag.unlink()
    run_until(lambda: sorted(ran) == sorted(sent))


def test_huey_errors_in_panel_6_as_huey_counts_them(redis_url, tmp_path):
    """huey's stored Error results show in panel 6 ("errors"), as many as huey's own
    results hold; its successful results are not among them."""
    import asyncio

    from huey import RedisHuey
    from huey.utils import Error

    import libjobs

    huey = RedisHuey("jobs", url=redis_url)
    ok = huey.task()(libjobs.ok)
    boom = huey.task()(libjobs.boom)
    ok(1)
    boom(2)
    boom(3)
    for _ in range(3):  # the consumer's own steps
        try:
            huey.execute(huey.dequeue())
        except Exception:
            pass
    results = [huey.serializer.deserialize(v) for v in huey.all_results().values()]
    errors = sum(isinstance(r, Error) for r in results)
    assert (errors, len(results)) == (2, 3)

    async def check() -> None:
        app = make_app(redis_url, tmp_path)
        async with running(app) as pilot:
            await open_state(app, pilot, "6", "dlq", "huey errors · jobs", errors)

    asyncio.run(check())


@needs_lua
@pytest.mark.libraries
async def test_bullmq_failed_in_panel_6_retried_all_with_bullmqs_own_retry(
        redis_url, sync, tmp_path):
    """BullMQ's failed jobs show with `getFailedCount`; R retries them all through the
    `bullmq` package (Job.retry), and BullMQ's own worker then completes them."""
    from bullmq import Queue, Worker

    fail = {"on": True}

    async def process(job, token):
        if fail["on"]:
            raise ValueError("boom")
        return "ok"

    queue = Queue("mail", {"connection": redis_url})
    for i in range(3):
        await queue.add("send", {"x": i}, {"attempts": 1})
    worker = Worker("mail", process, {"connection": redis_url})
    try:
        await async_wait_until(lambda: sync.zcard("bull:mail:failed") == 3, timeout=60,
                               message="BullMQ worker did not fail its jobs")
    finally:
        await worker.close()
    own_failed = await queue.getFailedCount()
    assert own_failed == 3
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        rows = await open_state(app, pilot, "6", "dlq", "bullmq failed · mail", own_failed)
        table = rows.items_table
        assert all(table.cell_text(k, "preview") == "boom" for k in table.row_keys)
        rows.states_table.focus()
        await pilot.press("R")
        await confirm_bulk(app, pilot, "Requeue all 3 items of bullmq queue mail (failed)")
        await async_wait_until(lambda: sync.zcard("bull:mail:failed") == 0)
    assert await queue.getFailedCount() == 0
    fail["on"] = False
    worker = Worker("mail", process, {"connection": redis_url})
    try:
        await async_wait_until(lambda: sync.zcard("bull:mail:completed") == 3, timeout=60,
                               message="BullMQ worker did not complete the retried jobs")
    finally:
        await worker.close()
    assert (await queue.getJobCounts("completed"))["completed"] == 3
    await queue.close()


@pytest.mark.libraries
async def test_taskiq_schedules_in_panel_4(redis_url, tmp_path):
    """taskiq's ListRedisScheduleSource schedules show in panel 4: its per-minute list with
    the tasks added for that minute, its cron list with the cron schedule (what its own
    get_schedules returns now)."""
    import datetime

    from taskiq import ScheduledTask
    from taskiq_redis import ListRedisScheduleSource

    source = ListRedisScheduleSource(redis_url)
    await source.startup()
    now = datetime.datetime.now(datetime.UTC)
    at = (now + datetime.timedelta(minutes=30)).replace(second=0, microsecond=0)
    for n in range(3):
        await source.add_schedule(ScheduledTask(task_name="ok", labels={}, args=[n],
                                                kwargs={}, schedule_id=f"t{n}", time=at))
    await source.add_schedule(ScheduledTask(task_name="ok", labels={}, args=[], kwargs={},
                                            schedule_id="c1", cron="*/5 * * * *"))
    own_now = await source.get_schedules()
    await source.shutdown()
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        await open_state(app, pilot, "4", "scheduled",
                         f"taskiq at {at.strftime('%Y-%m-%dT%H:%M')} UTC · schedule", 3)
        await open_state(app, pilot, "4", "scheduled", "taskiq cron · schedule",
                         len(own_now))


@needs_lua  # kombu's Redis transport restores unacked messages with a Lua script
@pytest.mark.libraries
async def test_celery_countdown_tasks_in_panel_4_as_celerys_inspect_counts_them(
        redis_url, sync, tmp_path):
    """Celery's countdown (ETA) tasks a worker holds show in panel 4 ("eta"), as many as
    Celery's own `inspect().scheduled()` reports, each due in about an hour."""
    import os
    import signal
    import subprocess
    import sys

    from helpers import wait_until
    from test_library_own_counts import CELERY_APP, TESTS

    (tmp_path / "ownapp.py").write_text(CELERY_APP.format(url=redis_url))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(TESTS)])}
    sys.path[:0] = [str(tmp_path)]
    sys.modules.pop("ownapp", None)  # another test's app (another server) imported before
    try:
        import ownapp
    finally:
        sys.path.remove(str(tmp_path))
    for n in range(2):
        ownapp.add.apply_async((n, n), countdown=3600)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "ownapp", "worker", "-P", "threads", "-c", "1",
         "--loglevel=WARNING", "-n", "panel4@%h"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: sync.hlen("unacked") == 2 and sync.llen("celery") == 0,
                   timeout=90, message="the Celery worker did not take its ETA tasks")
        scheduled = ownapp.app.control.inspect(timeout=5).scheduled() or {}
        own = sum(len(v) for v in scheduled.values())
        assert own == 2
        app = make_app(redis_url, tmp_path)
        async with running(app) as pilot:
            rows = await open_state(app, pilot, "4", "scheduled", "celery eta · celery", own)
            table = rows.items_table
            assert all(table.cell_text(k, "when").startswith("in 5") or
                       table.cell_text(k, "when").startswith("in 1h")
                       for k in table.row_keys), [table.cell_text(k, "when")
                                                  for k in table.row_keys]
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        sys.modules.pop("ownapp", None)


@needs_lua
@pytest.mark.libraries
async def test_saq_failed_list_says_first_n_of_m_when_the_strings_are_capped(
        redis_url, sync, tmp_path, monkeypatch):
    """With more job strings than are read, the row's count is a lower bound ("≥") and the
    title says how many of how many were read."""
    from saq import Queue

    from ferrite_tui.backend.libraries import saq as saq_layout

    monkeypatch.setattr(saq_layout, "MAX_JOB_STRINGS", 2)

    async def boom(ctx, x=0):
        raise ValueError(f"boom {x}")

    queue = Queue.from_url(redis_url, name="mail")
    await queue.connect()
    for i in range(3):
        await queue.enqueue("boom", x=i)
    await saq_worker_until_idle(queue, sync, [("boom", boom)])
    await queue.disconnect()
    assert len(list(sync.scan_iter("saq:job:mail:*"))) == 3
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        await pilot.press("6")
        rows = rows_of(app, "dlq")

        def count() -> str | None:
            key = next((k for k in rows.states_table.row_keys
                        if rows.states_table.cell_text(k, "state") == "saq failed · mail"),
                       None)
            return None if key is None else rows.states_table.cell_text(key, "count")

        await async_wait_until(lambda: (count() or "").startswith("≥"),
                               message=f"count {count()!r}")
        rows.states_table.focus()
        rows.states_table.select_key(next(iter(rows.rows)))
        await async_wait_until(lambda: rows.loads > 0 and rows.current is not None,
                               message="the rows' items loaded")
        title = str(rows.query_one("#lib-states-title").render())
        assert "first 2 of 3 job strings read" in title
        # `status` says the same: a lower bound, never an exact-looking figure.
        snap = app.monitor.snapshot if app.monitor is not None else None
        assert snap is not None
        q = next(q for q in snap.queues
                 if q.ref.library is not None and q.ref.library.library == "saq")
        out = library_json(q)
        failed = [c for c in out["states"] if c["state"] == "failed"]
        assert failed and all(c.get("at_least") for c in failed), out["states"]
        assert "first 2 of 3" in failed[0]["note"]
        assert out["totals_at_least"] == ["failed"]
        assert f"failed ≥{failed[0]['count']}" in states_text(q), (states_text(q), out, count())


def test_panel_6_with_only_library_failures_does_not_say_none_were_found(redis_url, tmp_path):
    """No dead-letter list of the guide's layout, only huey's errors: the note above their
    rows says what is below, not "No queues of this kind found"."""
    import asyncio

    from huey import RedisHuey

    import libjobs

    huey = RedisHuey("jobs", url=redis_url)
    boom = huey.task()(libjobs.boom)
    boom(1)
    try:
        huey.execute(huey.dequeue())  # the consumer's own step
    except Exception:
        pass

    async def check() -> None:
        app = make_app(redis_url, tmp_path)
        async with running(app) as pilot:
            await open_state(app, pilot, "6", "dlq", "huey errors · jobs", 1)
            panel = app.panel("dlq")
            assert panel.note_text is not None
            note = panel.note_text.plain
            assert "not found" not in note and "No queues of this kind" not in note, note
            assert note.startswith("No dead-letter lists of the guide's layouts (yet); "
                                   "below, 1 failed state of queue libraries."), note

    asyncio.run(check())


@pytest.mark.libraries
async def test_panel_4_with_only_library_schedules_says_they_are_below(redis_url, tmp_path):
    import datetime

    from taskiq import ScheduledTask
    from taskiq_redis import ListRedisScheduleSource

    source = ListRedisScheduleSource(redis_url)
    await source.startup()
    at = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=30)).replace(
        second=0, microsecond=0)
    await source.add_schedule(ScheduledTask(task_name="ok", labels={}, args=[], kwargs={},
                                            schedule_id="t1", time=at))
    await source.shutdown()
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        await open_state(app, pilot, "4", "scheduled",
                         f"taskiq at {at.strftime('%Y-%m-%dT%H:%M')} UTC · schedule", 1)
        note = app.panel("scheduled").note_text
        assert note is not None and note.plain.startswith(
            "No delayed queues of the guide's layouts (yet); below, 1 scheduled state"), note
