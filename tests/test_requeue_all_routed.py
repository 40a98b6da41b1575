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
LETTERS = PLAN_LIMIT + 100_000


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


async def test_requeue_all_past_the_read_bound_routes_every_letter_once(client, sync,
                                                                        page_reads):
    fill(sync, LETTERS)
    known = [QueueRef(QueueKind.WORK, "work:3")]  # known to the console, empty right now
    before = job_ids(sync, DLQ)
    assert sum(before.values()) == LETTERS

    head = await plan_head_routes(client, DLQ, LETTERS, known)
    assert (head.read, head.total, head.complete) == (PLAN_LIMIT, LETTERS, False)
    text = head.describe("work:default")
    scale = LETTERS / PLAN_LIMIT
    per_name = Counter(_name(i) for i in range(PLAN_LIMIT))
    assert f"≈{round(per_name['work:1'] * scale):,} to work:1" in text
    assert f"estimates from the first {PLAN_LIMIT:,} of {LETTERS:,} letters read" in text
    assert "names work:gone, which does not exist" in text
    assert "names work:hash, a hash, not a list" in text
    assert f"{LETTERS - PLAN_LIMIT:,} not read ahead" in head.plan.describe()

    run = RoutedHeadRun(DeadLetters(client), DLQ, LETTERS, "work:default", head.resolved,
                        known)
    report = await BulkRunner(run, run.chunk).run()
    assert max(page_reads) <= SCAN_WINDOW

    expected = Counter(_name(i) for i in range(LETTERS))
    refused = expected["work:gone"] + expected["work:hash"]
    moved = LETTERS - refused
    assert (report.done, report.failed, report.skipped, report.not_attempted) == \
        (moved, refused, 0, 0)
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
