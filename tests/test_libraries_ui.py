"""Library queues in panel 2 through Pilot: the next job first for LPUSH producers, and the
library's own fields in the inspector."""

from __future__ import annotations

import json

from ferrite_tui.ui.screens.inspector import InspectorScreen
from helpers import async_wait_until, running
from test_libraries import celery_app
from test_queues_ui import make_app


async def test_celery_queue_lists_the_next_job_first_and_inspects_its_task(
        redis_url, sync, tmp_path):
    import libjobs
    from test_library_states_ui import cells, open_library, show_state

    app_ = celery_app(redis_url)
    add = app_.task(name="jobs.add")(libjobs.add)
    for i in range(5):
        add.apply_async((i, i), queue="ui")  # its own queue: kombu declares once per process
    add.apply_async((9, 9), queue="ui", priority=5)
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        panel = await open_library(app, pilot, "celery", "ui")
        await show_state(panel, pilot, "queued", rows=5)
        rows = [panel.state_table.by_key[k] for k in panel.state_table.row_keys]
        # Row 0 is the job sent first (the tail of the list): the next one a worker takes.
        assert json.loads(rows[0].raw)["headers"]["argsrepr"] == "(0, 0)"
        assert json.loads(rows[-1].raw)["headers"]["argsrepr"] == "(4, 4)"
        assert cells(panel, "task") == ["jobs.add"] * 5
        assert cells(panel, "pos") == ["0", "1", "2", "3", "4"]
        # The priority sublist is a state of its own, listed.
        await show_state(panel, pilot, "priority 5", rows=1)
        assert cells(panel, "preview") == ["(9, 9)"]
        await show_state(panel, pilot, "queued", rows=5)
        panel.state_table.move_cursor(row=0)
        await pilot.press("enter")
        await async_wait_until(lambda: isinstance(app.screen, InspectorScreen))
        meta = dict(app.screen.meta)
        assert (meta["library"], meta["task"], meta["argsrepr"]) == ("celery", "jobs.add",
                                                                     "(0, 0)")
        await pilot.press("escape")
        await async_wait_until(lambda: not isinstance(app.screen, InspectorScreen))
        # The generic list moves do not apply to a library's queue: d says why.
        await pilot.press("d")
        await async_wait_until(lambda: any("not deleted one by one" in n.message
                                           for n in app.notices))
        assert sync.llen("ui") == 5


async def test_rq_requeue_failed_from_the_command_palette(redis_url, sync, tmp_path):
    """ctrl+p on a selected RQ queue offers its own actions; the confirmation counts the
    jobs; RQ's layout is then what RQ's requeue writes."""
    from rq import Queue

    import libjobs
    from ferrite_tui.ui.screens.dialogs import ConfirmScreen
    from rqworker import QuietWorker
    from test_library_states_ui import open_library

    flag = tmp_path / "fail"
    flag.touch()
    q = Queue("default", connection=sync)
    jobs = [q.enqueue(libjobs.flaky, str(flag)) for _ in range(2)]
    QuietWorker([q], connection=sync).work(burst=True)
    q.enqueue(libjobs.ok, 1)  # keeps the queue list non-empty, so the panel lists it
    assert sync.zcard("rq:failed:default") == 2
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        await open_library(app, pilot, "rq", "default")
        await pilot.press("ctrl+p")
        await pilot.press(*"requeue every failed")
        await async_wait_until(lambda: app.screen.query("CommandList")
                               and app.screen.query_one("CommandList").option_count > 0)
        await pilot.press("enter")
        await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen))
        assert "2 failed jobs" in str(app.screen.body)
        await pilot.press("y")
        await async_wait_until(lambda: sync.zcard("rq:failed:default") == 0)
    # Both back at the end of the queue (in the failed registry's order), after the job
    # that was already waiting.
    assert sorted(sync.lrange("rq:queue:default", 1, -1)) == sorted(j.id.encode()
                                                                   for j in jobs)
    assert {sync.hget(f"rq:job:{j.id}", "status") for j in jobs} == {b"queued"}
