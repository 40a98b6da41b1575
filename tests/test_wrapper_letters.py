"""Wrapper dead letters (the job under job/payload/message/original/data/body, the cause
under error/reason/exception/failure): read for reason, time and attempts, grouped by
reason, filtered by any field; requeued as their inner job, byte for byte, each to the queue
it names (one plan with the count per target; a missing or non-list queue refused and its
letters left in place), else to the list's target. Nothing lost or doubled."""

from __future__ import annotations

import json
from collections import Counter
from typing import cast

import pytest

from ferrite_tui.backend.dlq import DeadLetters, Filter, group_of, reason_of
from ferrite_tui.backend.dlq_routes import plan_routes, read_head
from ferrite_tui.backend.envelopes import decode
from ferrite_tui.backend.itemtimes import item_time
from ferrite_tui.backend.models import QueueKind, QueueRef
from ferrite_tui.backend.requeue_plan import plan_items
from ferrite_tui.ui.panels.deadletters import DeadLettersPanel
from ferrite_tui.ui.screens.dialogs import ConfirmScreen
from handmade import SHAPES, inner_job, wrapper

NOW_S = 1_700_000_000
DLQ = "dead_letters"


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s[0])
def test_each_shape_reads_reason_time_attempts(shape):
    env = decode(wrapper(shape, 7, NOW_S, queue="work:7"))
    assert env.kind == "wrapped" and env.is_dead_letter
    assert env.reason == "timeout after 7s" and reason_of(env) == "timeout after 7s"
    assert env.dead_at == (NOW_S - 420) * 1000 and env.time_ms == env.dead_at
    assert env.retry_count == 3 and env.id == "job-7" and env.origin == "work:7"
    assert env.job_field == shape[0]
    assert group_of(env) == "timeout after #s"


def test_origin_fields_and_string_jobs():
    for field in ("queue", "origin", "source"):
        env = decode(wrapper(SHAPES[0], 1, NOW_S, queue="q1", origin_field=field))
        assert env.origin == "q1"
    env = decode(wrapper(SHAPES[2], 1, NOW_S, as_string=True))
    assert env.kind == "wrapped" and env.id == "job-1"
    plan = plan_items([_item(wrapper(SHAPES[2], 1, NOW_S, as_string=True))])
    assert plan.unwrapped == 1 and plan.first_unwrapped == inner_job(1)


def test_not_wrappers():
    # A job that failed, with its own id beside a payload: not a wrapper (no job inside).
    assert decode(b'{"id":1,"payload":{"a":1},"error":"x"}').kind != "wrapped"
    # No cause, or a null one.
    assert decode(b'{"job":{"id":1},"error":null}').kind != "wrapped"
    assert decode(b'{"job":{"id":1},"note":"x"}').kind != "wrapped"
    # The guide's own dead letter stays the guide's.
    assert decode(b'{"job":{"id":"a","payload":1,"retry_count":1,"last_error":"e",'
                  b'"first_attempt":1},"dead_at":2,"reason":"e"}').kind == "dead"


def test_filter_by_any_field_and_groups():
    env = decode(wrapper(SHAPES[0], 3, NOW_S, queue="work:3"))
    assert Filter("work:3")(env) and Filter("attempts")(env) and Filter('"n": 1e2')(env)
    assert not Filter("work:4")(env)
    assert Filter(group="timeout after #s")(env)


def _item(raw: bytes, pos: int = 0):
    from ferrite_tui.backend.movebase import Item
    return Item(raw, pos, pos + 1)


def _count_jobs(sync, keys) -> Counter:
    """Every job id found in these lists, wrapped or not."""
    found: Counter = Counter()
    for key in keys:
        for raw in sync.lrange(key, 0, -1):
            env = decode(raw)
            data = env.data if isinstance(env.data, dict) else {}
            found[env.id or data.get("id")] += 1
    return found


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s[0])
async def test_requeue_puts_back_the_inner_job_byte_for_byte(client, sync, shape):
    sync.rpush(DLQ, *[wrapper(shape, i, NOW_S) for i in range(4)])
    dl = DeadLetters(client)
    page = await dl.page(DLQ, 0, 10)
    plan = plan_items(page.items)
    assert (plan.unwrapped, plan.reset, plan.unchanged) == (4, 0, 0)
    assert plan.first_unwrapped == inner_job(0)
    assert f'"{shape[0]}"' in plan.describe() and "exactly as stored" in plan.describe()
    res = await dl.requeue(DLQ, "work:main", page.items)
    assert (res.done, res.skipped, res.failed, res.unchanged) == (4, 0, 0, 0)
    assert sync.lrange("work:main", 0, -1) == [inner_job(i) for i in range(4)]
    assert sync.llen(DLQ) == 0


async def test_letters_go_back_to_the_queue_they_name(client, sync):
    """13 letters naming 4 queues (one missing, one a hash), 3 naming none: one plan, the
    count per target; the refused stay; every job is in exactly one place after."""
    sync.rpush("work:1", b"existing")
    sync.rpush("work:2", b"existing")
    sync.hset("work:hash", "a", "1")
    names = ["work:1"] * 4 + ["work:2"] * 3 + ["work:3"] * 2 + ["work:gone"] * 2 + \
        ["work:hash"] * 2
    letters = [wrapper(SHAPES[i % 6], i, NOW_S, queue=q) for i, q in enumerate(names)]
    letters += [wrapper(SHAPES[0], 100 + i, NOW_S) for i in range(3)]
    sync.rpush(DLQ, *letters)
    # work:3 is known to the console (a queue drained to empty: its key is gone).
    known = [QueueRef(QueueKind.WORK, "work:3"), QueueRef(QueueKind.WORK, "work:1")]
    before = _count_jobs(sync, [DLQ])

    head = await read_head(client, DLQ, sync.llen(DLQ))
    assert head is not None and len(head) == 16
    routes = await plan_routes(client, head, "work:default", known, DLQ)
    counts = {t: len(v) for t, v in routes.routes.items()}
    assert counts == {"work:1": 4, "work:2": 3, "work:3": 2, "work:default": 3}
    assert routes.refused_count == 4 and routes.moving == 12
    text = routes.describe()
    assert "4 to work:1" in text and "3 to work:default (the list's target)" in text
    assert "2 names work:gone, which does not exist" in text
    assert "2 names work:hash, a hash, not a list" in text
    assert routes.plan.unwrapped == 12

    moving = [it for items in routes.routes.values() for it in items]
    dl = DeadLetters(client)
    res = await dl.requeue_routed(DLQ, routes.target_of, moving)
    assert (res.done, res.skipped, res.failed) == (12, 0, 0)
    assert sync.lrange("work:1", 0, -1) == [b"existing"] + [inner_job(i) for i in range(4)]
    assert sync.lrange("work:3", 0, -1) == [inner_job(i) for i in (7, 8)]
    assert sync.lrange("work:default", 0, -1) == [inner_job(100 + i) for i in range(3)]
    assert sync.type("work:hash") == b"hash" and not sync.exists("work:gone")
    left = [decode(v).origin for v in sync.lrange(DLQ, 0, -1)]
    assert left == ["work:gone"] * 2 + ["work:hash"] * 2
    after = _count_jobs(sync, [DLQ, "work:1", "work:2", "work:3", "work:default"])
    after.pop(None, None)  # the "existing" values
    assert after == before  # nothing lost, nothing doubled


async def test_a_library_key_and_the_list_itself_are_refused(client, sync):
    from ferrite_tui.backend.libraries.model import LibraryQueue
    lib = QueueRef(QueueKind.WORK, "rq:queue:default",
                   library=LibraryQueue("rq", "default", ()))
    sync.rpush("rq:queue:default", b"x")
    letters = [wrapper(SHAPES[0], 1, NOW_S, queue="rq:queue:default"),
               wrapper(SHAPES[0], 2, NOW_S, queue=DLQ)]
    sync.rpush(DLQ, *letters)
    head = await read_head(client, DLQ, 2)
    assert head is not None
    routes = await plan_routes(client, head, None, [lib], DLQ)
    assert routes.moving == 0 and routes.refused_count == 2
    assert "rq owns" in routes.describe() and "the dead-letter list itself" in routes.describe()


async def test_a_queue_named_by_its_short_name(client, sync):
    """`"queue": "emails"` for the reliable queue queue:emails (empty right now)."""
    ref = QueueRef(QueueKind.RELIABLE, "queue:emails", processing_key="queue:emails:processing")
    sync.rpush(DLQ, wrapper(SHAPES[1], 5, NOW_S, queue="emails"))
    head = await read_head(client, DLQ, 1)
    assert head is not None
    routes = await plan_routes(client, head, None, [ref], DLQ)
    assert list(routes.routes) == ["queue:emails"]
    res = await DeadLetters(client).requeue_routed(DLQ, routes.target_of, head)
    assert res.done == 1 and json.loads(sync.lindex("queue:emails", 0))["id"] == "job-5"


async def test_requeue_all_through_the_panel_one_confirmation_per_target_counts(
        redis_url, sync, tmp_path):
    """R on a list of letters naming 3 queues (one missing): one confirmation naming the
    count per target and the refusal, showing a job exactly as it will be written; after
    it, every job is in exactly one place."""
    from ferrite_tui.backend.connection import ConnectionSettings
    from ferrite_tui.config import Config
    from ferrite_tui.ui.app import FerriteApp
    from helpers import async_wait_until, running

    sync.rpush("work:1", b"existing")
    names = ["work:1"] * 3 + ["work:2"] * 2 + ["work:gone"]
    sync.rpush("work:2", b"existing")
    sync.rpush("work:x:failed", *[wrapper(SHAPES[i % 6], i, NOW_S, queue=q)
                                  for i, q in enumerate(names)])
    before = _count_jobs(sync, ["work:x:failed"])
    app = FerriteApp(Config(), ConnectionSettings(url=redis_url), refresh=0.2,
                     audit_path=tmp_path / "audit.log")
    async with running(app) as pilot:
        await async_wait_until(lambda: app.monitor is not None
                               and app.monitor.snapshot is not None
                               and any(q.ref.key == "work:x:failed"
                                       for q in app.monitor.snapshot.queues))
        await pilot.press("6")
        panel = cast(DeadLettersPanel, app.panel("dlq"))
        await async_wait_until(lambda: panel.items_table.page is not None
                               and panel.items_table.row_count == 6)
        # Reason, attempts and failure time read from the wrapper.
        assert panel.items_table.cell_text(panel.items_table.row_keys[0], "reason") == \
            "timeout after 0s"
        panel.items_table.focus()
        await pilot.pause()
        await pilot.press("R")
        await async_wait_until(lambda: app.screen.__class__.__name__ == "ConfirmScreen")
        body = str(cast(ConfirmScreen, app.screen).body)
        assert "3 to work:1" in body and "2 to work:2" in body
        assert "1 names work:gone, which does not exist" in body
        assert inner_job(0).decode() in body and "exactly as" in body
        await pilot.press("y")
        await async_wait_until(lambda: sync.llen("work:x:failed") == 1)
    assert sync.lrange("work:1", 1, -1) == [inner_job(i) for i in range(3)]
    assert sync.lrange("work:2", 1, -1) == [inner_job(i) for i in (3, 4)]
    after = _count_jobs(sync, ["work:x:failed", "work:1", "work:2"])
    after.pop(None, None)
    assert after == before


def test_backfill_reads_a_wrapper_letter_by_when_it_failed():
    assert item_time(wrapper(SHAPES[0], 2, NOW_S)) == (NOW_S - 120) * 1000
    assert item_time(wrapper(SHAPES[3], 2, NOW_S)) == (NOW_S - 120) * 1000  # "ts"
