"""Requeue confirmations count by outcome before anything moves."""

from __future__ import annotations

import pytest
import redis

from ferrite_tui.backend.movebase import Item
from ferrite_tui.backend.requeue_plan import plan_head, plan_items
from helpers import async_wait_until, client_at, running
from test_deadletters_ui import DLQ, TARGET, dead, make_app, open_dlq


@pytest.fixture
def sync(redis_url):
    r = redis.Redis.from_url(redis_url)
    yield r
    r.close()


OTHERS = [b"plain text", b"\xff\xfe", b'{"id":"not-dead","payload":1}']


async def test_plan_head_reads_in_windows_and_counts_each_outcome(redis_url, sync):
    sync.rpush(DLQ, *[dead(i, "boom") for i in range(2500)], *OTHERS)
    client = client_at(redis_url)
    try:
        before = client.round_trips.count
        plan = await plan_head(client, DLQ, 2503)
        trips = client.round_trips.count - before
        assert (plan.reset, plan.unchanged, plan.unread) == (2500, 3, 0)
        assert trips == 3  # 1000-entry windows
        assert plan.describe() == ("2,500 dead-letter envelopes reset, "
                                   "3 other values moved unchanged")
        capped = await plan_head(client, DLQ, 2503, limit=1000)
        assert (capped.reset, capped.unchanged, capped.unread) == (1000, 0, 1503)
        assert "1,503 not read ahead of time" in capped.describe()
    finally:
        await client.aclose()
    assert sync.llen(DLQ) == 2503  # planning moved nothing


def test_plan_items_uses_the_requeue_rule():
    items = [Item(dead(1, "x"), 0, 3), Item(OTHERS[0], 1, 3), Item(OTHERS[2], 2, 3)]
    plan = plan_items(items)
    assert (plan.total, plan.reset, plan.unchanged) == (3, 1, 2)
    assert plan.describe() == "1 dead-letter envelope reset, 2 other values moved unchanged"


async def test_requeue_all_confirmation_says_what_happens_to_each(redis_url, sync, tmp_path):
    sync.rpush(DLQ, *[dead(i, "boom") for i in range(143)], *OTHERS)
    app = make_app(redis_url, tmp_path)
    async with running(app, size=(80, 24)) as pilot:
        await open_dlq(app, pilot)
        await pilot.press("R")
        await async_wait_until(lambda: app.screen.__class__.__name__ == "ConfirmScreen")
        body = str(app.screen.body)
        assert "143 dead-letter envelopes reset, 3 other values moved unchanged" in body
        assert sync.llen(DLQ) == 146 and sync.llen(TARGET) == 0  # nothing moved yet
        await pilot.press("n")
        await async_wait_until(lambda: app.screen is app.screen_stack[0])
        assert sync.llen(DLQ) == 146
