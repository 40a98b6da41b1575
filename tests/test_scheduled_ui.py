"""Panel 4 (Scheduled) driven through Pilot against a real server."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import redis.asyncio as aioredis
from textual.widgets import Input

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.backend.envelopes import dumps
from ferrite_tui.config import Config
from ferrite_tui.ui.app import FerriteApp
from ferrite_tui.ui.screens.dialogs import ConfirmScreen, FormScreen
from helpers import async_wait_until

KEY = "queue:reports:scheduled"
READY = "queue:reports:ready"
MIN = 60_000


def job(name: str, due: int) -> bytes:
    return dumps({"id": name, "payload": {"report": name}, "scheduled_at": due}).encode()


async def seed(url: str) -> tuple[int, dict[str, bytes]]:
    now = time.time_ns() // 1_000_000
    jobs = {
        "late3": job("late3", now - 3 * MIN), "late2": job("late2", now - 2 * MIN),
        "late1": job("late1", now - 1 * MIN), "soon": job("soon", now + 5 * MIN),
        "later": job("later", now + 10 * MIN), "much": job("much", now + 30 * MIN),
        "far": job("far", now + 120 * MIN),
    }
    r = aioredis.Redis.from_url(url)
    await r.zadd(KEY, {m: json.loads(m)["scheduled_at"] for m in jobs.values()})
    await r.rpush(READY, b"already-ready")
    await r.aclose()
    return now, jobs


def make_app(url, tmp_path, **settings):
    # a long refresh: the page reloads after each action, not under the test's feet
    return FerriteApp(Config(), ConnectionSettings(url=url, **settings), refresh=60,
                      audit_path=tmp_path / "audit.log")


async def open_panel(app, pilot):
    await async_wait_until(lambda: app.monitor and app.monitor.snapshot and any(
        q.ref.key == KEY for q in app.monitor.snapshot.queues), timeout=15)
    await pilot.press("4")
    panel = app.panel("scheduled")
    await async_wait_until(lambda: panel.jobs_view is not None and panel.jobs.row_count > 0)
    await pilot.press("enter")  # the queue: its jobs get the focus
    await pilot.pause()
    assert panel.jobs.has_focus
    return panel


async def reloaded(panel, before):
    await async_wait_until(lambda: panel.loads > before, timeout=10)


def cell_text(panel, row: int, col: str) -> str:
    key = panel.jobs.row_keys[row]
    return panel.jobs.cell_text(key, col)


async def test_jobs_in_due_order_run_now_run_all_overdue_and_inspect(redis_url, tmp_path):
    _now, jobs = await seed(redis_url)
    r = aioredis.Redis.from_url(redis_url)
    app = make_app(redis_url, tmp_path)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            panel = await open_panel(app, pilot)
            assert [json.loads(panel.jobs.by_key[k].member)["id"] for k in panel.jobs.row_keys] \
                == ["late3", "late2", "late1", "soon", "later", "much", "far"]
            assert cell_text(panel, 0, "due").startswith("overdue 3m")
            assert cell_text(panel, 3, "due").startswith("in 4m") or \
                cell_text(panel, 3, "due").startswith("in 5m")
            title = str(panel.query_one("#jobs-title").render())
            assert "3 overdue" in title and "of 7" in title
            assert panel.jobs_view.timeline.overdue == 3
            assert sum(panel.jobs_view.timeline.counts) == 3  # soon, later, much
            # x: the job under the cursor, exactly, to the tail of the ready list
            before = panel.loads
            await pilot.press("x")
            await async_wait_until(lambda: _llen_is(r, 2), timeout=10)
            await async_wait_until(lambda: panel.loads > before)
            assert await r.lrange(READY, 0, -1) == [b"already-ready", jobs["late3"]]
            assert await r.zscore(KEY, jobs["late3"]) is None
            # X: confirmation with the count, then every overdue job in due order
            await pilot.press("X")
            await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen))
            assert "Move 2 overdue jobs" in str(app.screen.body)
            await pilot.press("y")
            await async_wait_until(lambda: _llen_is(r, 4), timeout=10)
            assert await r.lrange(READY, 0, -1) == [
                b"already-ready", jobs["late3"], jobs["late2"], jobs["late1"]]
            assert await r.zcard(KEY) == 4
            # enter inspects the job under the cursor
            await reloaded(panel, before)
            from ferrite_tui.ui.screens.inspector import InspectorScreen
            await pilot.press("enter")
            await async_wait_until(lambda: isinstance(app.screen, InspectorScreen))
            await pilot.press("escape")
            await async_wait_until(lambda: not isinstance(app.screen, InspectorScreen))
            log = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]
            assert [e["action"] for e in log] == ["run now", "run all overdue"]
            assert log[1]["count"] == 2 and log[1]["ids"] == ["late2", "late1"]
    finally:
        await r.aclose()


async def _llen_is(r, n):
    return await r.llen(READY) == n


async def fill_form(app, pilot, **values):
    await async_wait_until(lambda: isinstance(app.screen, FormScreen))
    for name, value in values.items():
        app.screen.query_one(f"#field-{name}", Input).value = value
    await pilot.pause()
    await pilot.press("enter")
    await async_wait_until(lambda: not isinstance(app.screen, FormScreen))


async def test_postpone_set_due_cancel_and_schedule(redis_url, tmp_path):
    now, jobs = await seed(redis_url)
    r = aioredis.Redis.from_url(redis_url)
    app = make_app(redis_url, tmp_path)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            panel = await open_panel(app, pilot)
            panel.jobs.move_cursor(row=3)  # "soon", due in 5 minutes
            await pilot.pause()
            old = await r.zscore(KEY, jobs["soon"])
            before = panel.loads
            await pilot.press("plus")
            await fill_form(app, pilot, by="10m")
            await async_wait_until(lambda: _score_is(r, jobs["soon"], old + 10 * MIN))
            await reloaded(panel, before)
            # e: a due time for the job now under the cursor
            item = panel.jobs.current()
            before = panel.loads
            await pilot.press("e")
            await fill_form(app, pilot, due="+2h")
            await async_wait_until(lambda: _score_above(r, item.member, now + 119 * MIN))
            await reloaded(panel, before)
            # d: cancel asks first; n keeps the job
            panel.jobs.move_cursor(row=0)
            await pilot.pause()
            first = panel.jobs.current()
            await pilot.press("d")
            await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("n")
            await async_wait_until(lambda: not isinstance(app.screen, ConfirmScreen))
            assert await r.zscore(KEY, first.member) is not None
            await pilot.press("d")
            await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            await async_wait_until(lambda: _gone(r, first.member))
            assert await r.llen(READY) == 1  # cancel does not run it
            # n: a new job in the seed's envelope
            await pilot.press("n")
            await fill_form(app, pilot, payload='{"report":"adhoc"}', due="+15m")
            await async_wait_until(lambda: _zcard_is(r, 7))
            members = await r.zrangebyscore(KEY, "-inf", "+inf", withscores=True)
            new = [(m, s) for m, s in members if b"adhoc" in m]
            assert len(new) == 1
            data = json.loads(new[0][0])
            assert data["payload"] == {"report": "adhoc"} and data["scheduled_at"] == new[0][1]
            assert now + 14 * MIN < new[0][1] < time.time() * 1000 + 16 * MIN
    finally:
        await r.aclose()


async def _score_is(r, member, score):
    return await r.zscore(KEY, member) == score


async def _score_above(r, member, score):
    value = await r.zscore(KEY, member)
    return value is not None and value > score


async def _gone(r, member):
    return await r.zscore(KEY, member) is None


async def _zcard_is(r, n):
    return await r.zcard(KEY) == n


async def test_marks_stale_jobs_and_read_only(redis_url, tmp_path):
    now, jobs = await seed(redis_url)
    r = aioredis.Redis.from_url(redis_url)
    app = make_app(redis_url, tmp_path)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            panel = await open_panel(app, pilot)
            # the application re-scores the first job while the operator looks at it
            await r.zadd(KEY, {jobs["late3"]: now + 99 * MIN})
            before = panel.loads
            await pilot.press("x")
            await reloaded(panel, before)
            assert await r.llen(READY) == 1
            assert await r.zscore(KEY, jobs["late3"]) == now + 99 * MIN
            assert any("re-scored" in n.message for n in app.notices)
            # space marks two jobs; x asks with the count and moves exactly those
            panel.jobs.move_cursor(row=0)
            await pilot.pause()
            marked = [panel.jobs.current()]
            await pilot.press("space")
            marked.append(panel.jobs.current())
            await pilot.press("space")
            assert len(panel.marks) == 2
            await pilot.press("x")
            await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen))
            assert "2 marked jobs" in str(app.screen.body)
            await pilot.press("y")
            await async_wait_until(lambda: _llen_is(r, 3))
            assert await r.lrange(READY, 1, -1) == [it.member for it in marked]
            assert not panel.marks
    finally:
        await r.aclose()

    ro = make_app(redis_url, tmp_path, read_only=True)
    async with ro.run_test(size=(120, 36)) as pilot:
        await open_panel(ro, pilot)
        for key in ("x", "X", "plus", "e", "d", "n"):
            await pilot.press(key)
            await pilot.pause()
            assert not isinstance(ro.screen, (ConfirmScreen, FormScreen))
        assert sum("read-only" in n.message for n in ro.notices) >= 6
    r = aioredis.Redis.from_url(redis_url)
    assert await r.llen(READY) == 3
    await r.aclose()


def test_a_stopped_scheduler_shows_as_a_growing_overdue_count():
    from ferrite_tui.backend.poll import overdue_growing

    assert overdue_growing([0, 2, 2, 5, 9])
    assert not overdue_growing([9, 5, 2, 2, 0])  # the scheduler is catching up
    assert not overdue_growing([3, 3, 3, 3, 3])  # steady
    assert not overdue_growing([0, 0, 0, 0, 0])
    assert not overdue_growing([1, 2])  # too few samples
    assert not overdue_growing([1, 2, 3, 2, 4])  # it fell once: a scheduler is running


async def test_a_run_a_dead_server_stopped_says_x_resumes_it(server_factory, tmp_path,
                                                            after_check, monkeypatch):
    """X, and the server dies under the first chunk and is not back within the bound: the
    line names the server and the key that resumes the run on this panel."""
    from ferrite_tui.backend import bulk
    from helpers import FERRITE

    if FERRITE:
        import pytest

        pytest.skip("the stand-in proxy does not restart its server")
    monkeypatch.setattr(bulk, "DEFAULT_FAILURE_BOUND_S", 0.5, raising=False)
    server = server_factory()
    await seed(server.url)
    app = make_app(server.url, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_panel(app, pilot)
        after_check(server.kill)  # between the first chunk's check and its EXEC
        await pilot.press("X")
        await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        try:
            line = await async_wait_until(lambda: next(
                (str(n.message) for n in app.notices if "stopped by" in str(n.message)), None),
                timeout=20)
        except AssertionError:
            raise AssertionError([str(n.message) for n in app.notices]) from None
        assert f"127.0.0.1:{server.port}" in line, line
        assert "X on this panel runs the rest of the overdue jobs" in line, line


async def test_end_shows_the_last_page_in_due_order_and_home_the_first(redis_url, tmp_path):
    """End on the jobs went nowhere (a notice said to page from the head): it shows the
    latest jobs, the last of them at the bottom, many sharing one due time included."""
    from ferrite_tui.ui.panels.scheduled import PAGE_SIZE

    now = time.time_ns() // 1_000_000
    total = PAGE_SIZE * 2 + 7
    # a run of equal due times across the last page's first row: the cursor skips by member
    dues = {job(f"j{i:04d}", now + MIN + i * 1000): now + MIN + i * 1000 for i in range(total)}
    same = now + MIN + (total - PAGE_SIZE - 2) * 1000
    dues.update({job(f"s{i:04d}", same): same for i in range(5)})
    r = aioredis.Redis.from_url(redis_url)
    await r.zadd(KEY, {m: d for m, d in dues.items()})
    expected = [json.loads(m)["id"] for m in await r.zrange(KEY, -PAGE_SIZE, -1)]
    await r.aclose()
    count = len(dues)
    app = make_app(redis_url, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        panel = await open_panel(app, pilot)
        first_page = [i.env.id for i in panel.jobs_view.items]
        await pilot.press("end")
        await async_wait_until(lambda: [i.env.id for i in panel.jobs_view.items]
                               == expected, timeout=10)
        title = panel.title_text(panel.jobs_view).plain
        assert f"{count - PAGE_SIZE + 1:,}–{count:,} of {count:,}" in title
        await pilot.press("home")
        await async_wait_until(lambda: [i.env.id for i in panel.jobs_view.items]
                               == first_page, timeout=10)


async def test_a_load_that_changes_nothing_draws_neither_title_nor_plot(redis_url, tmp_path):
    """Every load (each poll, and the panel's key) set the title again, which lays out the
    whole screen, and built the plot again: 60-170 ms of CPU at 200x60 on a busy machine,
    between a panel's key and the dialog typed next. Only what changed is drawn."""
    await seed(redis_url)
    app = make_app(redis_url, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        panel = await open_panel(app, pilot)
        title, plot = panel.query_one("#jobs-title"), panel.query_one("#plot")
        drawn: list[str] = []
        title.update = lambda *args, **kwargs: drawn.append("title")
        plot.refresh = lambda *args, **kwargs: drawn.append("plot")
        view = panel.jobs_view
        panel.show(replace(view))  # a load that read the same (a new view, equal)
        assert drawn == []
        timeline = replace(view.timeline, overdue=view.timeline.overdue + 1)
        panel.show(replace(view, timeline=timeline))  # one more overdue: the plot's title
        assert drawn == ["plot"]
        panel.show(replace(view, timeline=timeline, card=view.card + 1))  # one more job
        assert drawn == ["plot", "title"]
