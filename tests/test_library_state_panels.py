"""The libraries' failed and scheduled states in panels 6 (Dead letters) and 4 (Scheduled),
through Pilot: one row per library queue's state with the library's label and count, its
items browsable, and only the library's own operations (checked with the library's own
registries)."""

from __future__ import annotations

import pytest
import redis

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
        await pilot.press("R", "D")
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
