""""Requeue all" of a list of letters that name their queue, past the plan's read bound
(PLAN_LIMIT letters): read in pages for the confirmation (counts per target, estimates
marked as such past the bound) and again by the run, each page to the queues its letters
name, the refused left in place; nothing lost, nothing doubled, and no read of more than
one page at a time."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from ferrite_tui.backend import dlq_routes
from ferrite_tui.backend.bulk import BulkRunner
from ferrite_tui.backend.dlq import SCAN_WINDOW, DeadLetters
from ferrite_tui.backend.dlq_routes import RoutedHeadRun, plan_head_routes
from ferrite_tui.backend.envelopes import decode
from ferrite_tui.backend.models import QueueKind, QueueRef
from ferrite_tui.backend.requeue_plan import PLAN_LIMIT
from handmade import SHAPES, inner_job, wrapper

NOW_S = 1_700_000_000
DLQ = "work:x:failed"
#: Where the i-th letter says it comes from (None: names no queue); one in 500 names a
#: queue that is missing or not a list (refused letters stay at the head, and every later
#: removal walks past them: a list of mostly refused letters is slow to requeue).
NAMES = ("work:1", "work:2", "work:3", None, "work:1")
LETTERS = PLAN_LIMIT + 100_000  # the scenario's; the default run's test lowers the bound


def _name(i: int) -> str | None:
    if i % 500 == 7:
        return "work:gone" if i % 1000 == 7 else "work:hash"
    return NAMES[i % len(NAMES)]


def fill(sync: Any, n: int) -> None:
    """`n` letters, pushed with pipelines (10,000 per round trip)."""
    sync.rpush("work:1", b"existing")
    sync.rpush("work:2", b"existing")
    sync.hset("work:hash", "a", "1")
    pipe = sync.pipeline(transaction=False)
    batch: list[bytes] = []
    for i in range(n):
        batch.append(wrapper(SHAPES[i % 6], i, NOW_S, queue=_name(i)))
        if len(batch) == 10_000:
            pipe.rpush(DLQ, *batch)
            batch = []
    if batch:
        pipe.rpush(DLQ, *batch)
    pipe.execute()


def job_ids(sync: Any, key: str) -> Counter[str]:
    """The job id of every value of a list (a letter's inner job, or a job), in pages."""
    found: Counter[str] = Counter()
    for start in range(0, sync.llen(key), 50_000):
        for raw in sync.lrange(key, start, start + 49_999):
            env = decode(raw)
            data = env.data if isinstance(env.data, dict) else {}
            found[env.id or str(data.get("id"))] += 1
    return found


@pytest.fixture
def page_reads(monkeypatch) -> list[int]:
    """The size of every page the routing reads (the list itself is never read whole)."""
    sizes: list[int] = []
    real = dlq_routes.read_page

    async def counted(client: Any, key: str, start: int, count: int) -> Any:
        page = await real(client, key, start, count)
        sizes.append(len(page.items))
        return page

    monkeypatch.setattr(dlq_routes, "read_page", counted)
    return sizes


async def requeue_all(client: Any, sync: Any, letters: int, limit: int,
                      page_reads: list[int]) -> None:
    """Fill, plan (past the bound `limit`: estimates), run, and check every job is in
    exactly one place."""
    fill(sync, letters)
    known = [QueueRef(QueueKind.WORK, "work:3")]  # known to the console, empty right now
    before = job_ids(sync, DLQ)
    assert sum(before.values()) == letters

    head = await plan_head_routes(client, DLQ, letters, known, limit=limit)
    assert (head.read, head.total, head.complete) == (limit, letters, False)
    text = head.describe("work:default")
    per_name = Counter(_name(i) for i in range(limit))
    assert f"≈{round(per_name['work:1'] * letters / limit):,} to work:1" in text
    assert f"estimates from the first {limit:,} of {letters:,} letters read" in text
    assert "names work:gone, which does not exist" in text
    assert "names work:hash, a hash, not a list" in text
    assert f"{letters - limit:,} not read ahead" in head.plan.describe()

    run = RoutedHeadRun(DeadLetters(client), DLQ, letters, "work:default", head.resolved,
                        known)
    report = await BulkRunner(run, run.chunk).run()
    assert max(page_reads) <= SCAN_WINDOW

    expected = Counter(_name(i) for i in range(letters))
    refused = expected["work:gone"] + expected["work:hash"]
    assert (report.done, report.failed, report.skipped, report.not_attempted) == \
        (letters - refused, refused, 0, 0)
    assert run.targets == {"work:1": expected["work:1"], "work:2": expected["work:2"],
                           "work:3": expected["work:3"], "work:default": expected[None]}
    assert sum(run.refused.values()) == refused
    # Each job is in exactly one place: back in its queue, unwrapped, or (refused) still
    # a letter in the list; in order within each queue.
    after: Counter[str] = Counter()
    for key in (DLQ, "work:1", "work:2", "work:3", "work:default"):
        after += job_ids(sync, key)
    del after["None"]  # work:1's and work:2's own values
    assert after == before
    assert sync.lrange("work:2", 1, 3) == [inner_job(i) for i in (1, 6, 11)]
    left = {decode(v).origin for v in sync.lrange(DLQ, 0, 999)}
    assert left == {"work:gone", "work:hash"} and sync.llen(DLQ) == refused
    assert sync.type("work:hash") == b"hash" and not sync.exists("work:gone")


async def test_requeue_all_past_the_read_bound_routes_every_letter_once(client, sync,
                                                                        page_reads):
    """The bound lowered to 1,000 letters (the same paths as past 200,000, quickly)."""
    await requeue_all(client, sync, 3_500, 1_000, page_reads)


@pytest.mark.scenario
async def test_requeue_all_of_300k_letters_routes_every_letter_once(client, sync,
                                                                   page_reads):
    """300,000 letters, past the real bound (PLAN_LIMIT): minutes on a loaded machine."""
    await requeue_all(client, sync, LETTERS, PLAN_LIMIT, page_reads)


async def test_R_on_a_list_past_the_read_bound_confirms_estimates_and_routes_all(
        redis_url, sync, tmp_path, monkeypatch):
    """Through the panel: R on the whole list (no filter) past the bound (lowered to 1,000)
    is not refused: one confirmation with the estimated count per target, marked; after
    it, every job is in exactly one place and the refused letters are still there."""
    from typing import cast

    from ferrite_tui.backend.connection import ConnectionSettings
    from ferrite_tui.config import Config
    from ferrite_tui.ui.app import FerriteApp
    from ferrite_tui.ui.panels.deadletters import DeadLettersPanel
    from ferrite_tui.ui.screens.dialogs import ConfirmScreen
    from helpers import async_wait_until, running

    monkeypatch.setattr(dlq_routes, "PLAN_LIMIT", 1_000)
    letters = 3_000
    sync.rpush("work:3", b"existing")
    fill(sync, letters)
    before = job_ids(sync, DLQ)
    expected = Counter(_name(i) for i in range(letters))
    refused = expected["work:gone"] + expected["work:hash"]
    app = FerriteApp(Config(), ConnectionSettings(url=redis_url), refresh=0.5,
                     audit_path=tmp_path / "audit.log")
    async with running(app) as pilot:
        await async_wait_until(lambda: app.monitor is not None
                               and app.monitor.snapshot is not None
                               and any(q.ref.key == DLQ for q in app.monitor.snapshot.queues))
        await pilot.press("6")
        panel = cast(DeadLettersPanel, app.panel("dlq"))
        await async_wait_until(lambda: panel.items_table.page is not None
                               and panel.items_table.row_count > 0)
        panel.entries.set_target(DLQ, "work:default")
        panel.items_table.focus()
        await pilot.pause()
        await pilot.press("R")
        await async_wait_until(lambda: app.screen.__class__.__name__ == "ConfirmScreen",
                               timeout=30)
        body = str(cast(ConfirmScreen, app.screen).body)
        assert "≈" in body and f"the first 1,000 of {letters:,} letters read" in body
        assert "names work:gone, which does not exist" in body
        await pilot.press("y")
        await async_wait_until(lambda: sync.llen(DLQ) == refused, timeout=120)
        await async_wait_until(lambda: any("requeued" in n.message for n in app.notices))
        done = next(n.message for n in app.notices if "requeued" in n.message)
        assert f"{letters - refused:,} requeued" in done and "Refused and left in place" in done
    after: Counter[str] = Counter()
    for key in (DLQ, "work:1", "work:2", "work:3", "work:default"):
        after += job_ids(sync, key)
    del after["None"]
    assert after == before
    assert {decode(v).origin for v in sync.lrange(DLQ, 0, -1)} == {"work:gone", "work:hash"}
