"""The one bulk runner: plans, progress, cancel, failures, the journal, the report."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import pytest

from ferrite_tui.backend.bulk import BulkReport, BulkRunner, Cancel, ChunkResult, HeadPlan
from ferrite_tui.backend.journal import BulkRecord, Journal
from helpers import client_at


async def test_items_in_chunks_with_progress_and_the_unchanged_count():
    seen: list[list[int]] = []
    reports: list[tuple[int, int]] = []

    async def chunk(part: Sequence[int]) -> ChunkResult:
        seen.append(list(part))
        odd = sum(1 for i in part if i % 2)
        return ChunkResult(done=len(part) - 1, skipped=1, unchanged=odd)

    runner = BulkRunner(list(range(450)), chunk, chunk_size=200,
                        progress=lambda r: reports.append((r.done, r.skipped)))
    report = await runner.run()
    assert [len(p) for p in seen] == [200, 200, 50]
    assert [i for p in seen for i in p] == list(range(450))
    assert (report.total, report.done, report.skipped, report.failed) == (450, 447, 3, 0)
    assert report.unchanged == 225 and not report.cancelled and not report.clean
    assert reports == [(199, 1), (398, 2), (447, 3)]
    assert report.summary("moved") == ("447 moved, 3 skipped, 0 failed, 0 gone, "
                                       "0 not attempted (of 450 confirmed)")


async def test_cancel_between_chunks_says_what_was_not_touched():
    cancel = Cancel()

    async def chunk(part: Sequence[int]) -> ChunkResult:
        return ChunkResult(done=len(part))

    runner = BulkRunner(list(range(500)), chunk, chunk_size=100,
                        progress=lambda r: cancel.set() if r.done >= 200 else None,
                        cancel=cancel)
    report = await runner.run()
    assert report.cancelled and report.done == 200
    assert report.summary() == ("200 done, 0 skipped, 0 failed, 0 gone, 300 not attempted "
                                "(of 500 confirmed); cancelled")


async def test_a_failing_chunk_counts_as_failed_and_stops_the_run():
    calls = 0

    async def chunk(part: Sequence[int]) -> ChunkResult:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionError("server went away")
        return ChunkResult(done=len(part))

    report = await BulkRunner(list(range(30)), chunk, chunk_size=10).run()
    assert calls == 2  # the third chunk never ran
    assert (report.done, report.failed, report.processed) == (10, 10, 20)
    assert report.not_attempted == 10  # never sent: not "failed"
    assert len(report.errors) == 1 and "server went away" in report.errors[0]
    assert report.summary().startswith(
        "10 done, 0 skipped, 10 failed, 0 gone, 10 not attempted (of 30 confirmed); "
        "stopped by: ")


async def test_head_plan_stops_at_the_counted_last_item():
    asked: list[int] = []

    async def take(n: int) -> ChunkResult:
        asked.append(n)
        return ChunkResult(done=n, reached_stop=len(asked) == 3)

    report = await BulkRunner(HeadPlan(1200, size=500), take).run()
    assert asked == [500, 500, 200] and report.done == 1200


async def test_head_plan_stops_when_the_list_ran_dry():
    asked: list[int] = []

    async def take(n: int) -> ChunkResult:
        asked.append(n)
        return ChunkResult(done=min(n, 70) if len(asked) == 1 else 0)

    report = await BulkRunner(HeadPlan(1000, size=100), take).run()
    assert asked == [100, 100] and report.done == 70


async def test_the_journal_is_kept_per_chunk_and_removed_at_the_end(tmp_path):
    journal = Journal(tmp_path)
    record = BulkRecord("requeue dead letters", "q:dlq", "q", 30)
    on_disk: list[int] = []

    async def chunk(part: Sequence[int]) -> ChunkResult:
        (path,) = tmp_path.glob("bulk-*.json")
        on_disk.append(json.loads(path.read_text())["done"])
        return ChunkResult(done=len(part))

    report = await BulkRunner(list(range(30)), chunk, chunk_size=10, journal=journal,
                              record=record).run()
    assert report.done == 30 and on_disk == [0, 10, 20]
    assert not list(tmp_path.glob("bulk-*.json"))


async def test_a_run_killed_mid_way_leaves_its_journal(tmp_path):
    journal = Journal(tmp_path)
    record = BulkRecord("requeue dead letters", "q:dlq", "q", 30)
    started = asyncio.Event()

    async def chunk(part: Sequence[int]) -> ChunkResult:
        if part[0] >= 10:
            started.set()
            await asyncio.Event().wait()  # hangs until the task is cancelled
        return ChunkResult(done=len(part))

    task = asyncio.create_task(BulkRunner(list(range(30)), chunk, chunk_size=10,
                                          journal=journal, record=record).run())
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (path,) = tmp_path.glob("bulk-*.json")
    assert json.loads(path.read_text())["done"] == 10


def test_a_report_is_clean_only_when_everything_was_done():
    assert BulkReport(total=3, done=3).clean
    assert not BulkReport(total=3, done=2, skipped=1).clean
    assert not BulkReport(total=3, done=3, cancelled=True).clean


async def test_a_run_waits_out_a_server_restart_and_goes_on(server_factory):
    """The server is killed (SIGKILL) after the second chunk and comes back (its AOF,
    fsynced on every write, keeps every reply the run was given): the run waits, goes on,
    and every letter is requeued exactly once, with exact counts."""
    import threading

    import redis

    from ferrite_tui.backend.dlq import DeadLetters
    from helpers import FERRITE

    if FERRITE:
        pytest.skip("the stand-in proxy does not restart its server")
    server = server_factory(extra_args=["appendonly yes", "appendfsync always"])
    sync = redis.Redis.from_url(server.url)
    letters = [json.dumps({"job": {"id": f"j{i}", "payload": i, "retry_count": 3,
                                   "last_error": "boom", "first_attempt": 1},
                           "dead_at": 1, "reason": "boom"}).encode() for i in range(2000)]
    sync.rpush("jobs:dlq", *letters)
    client = client_at(server.url, command_timeout=2.0)
    await client.connect()
    restarted = threading.Event()
    chunks = 0
    waiting: list[str] = []

    def progress(report: BulkReport) -> None:
        nonlocal chunks
        if report.waiting:
            waiting.append(report.summary("requeued"))
            return
        chunks += 1
        if chunks == 2:
            server.kill()
            threading.Thread(target=lambda: (server.start(), restarted.set()),  # type: ignore[func-returns-value]
                             daemon=True).start()

    try:
        dl = DeadLetters(client)
        report = await BulkRunner(HeadPlan(len(letters), 300),
                                  lambda n: dl.requeue_head("jobs:dlq", "jobs", n),
                                  progress=progress, client=client).run()
        assert restarted.is_set()
        assert report.stopped is None, report.summary("requeued")
        assert (report.done, report.skipped, report.failed, report.not_attempted) == \
            (2000, 0, 0, 0), report.summary("requeued")
        assert report.failovers == 1
        # Meanwhile the progress line said why its count stood still.
        assert waiting and f"waiting for node redis://127.0.0.1:{server.port}/0" in waiting[0]
        assert sync.llen("jobs:dlq") == 0
        ids = [json.loads(v)["id"] for v in sync.lrange("jobs", 0, -1)]
        assert sorted(ids) == sorted(f"j{i}" for i in range(2000))
    finally:
        await client.aclose()
        sync.close()


async def test_a_run_past_the_bound_keeps_its_journal_record_for_f(server_factory, tmp_path,
                                                                   monkeypatch):
    """The server does not come back within the bound: the run stops, says which server
    failed and what resumes it, and its journal record stays, offered as interrupted
    although this console is still running."""
    import redis

    from ferrite_tui.backend import bulk
    from ferrite_tui.backend.dlq import DeadLetters
    from helpers import FERRITE

    if FERRITE:
        pytest.skip("the stand-in proxy does not restart its server")
    monkeypatch.setattr(bulk, "DEFAULT_FAILURE_BOUND_S", 0.5)
    server = server_factory()
    sync = redis.Redis.from_url(server.url)
    sync.rpush("jobs:dlq", *[json.dumps({"job": {"id": f"j{i}", "payload": i}}).encode()
                             for i in range(1000)])
    sync.close()
    client = client_at(server.url, command_timeout=1.0)
    await client.connect()
    journal = Journal(tmp_path, "here")
    record = BulkRecord("requeue dead letters", "jobs:dlq", "jobs", 1000)
    chunks = 0

    def progress(report: BulkReport) -> None:
        nonlocal chunks
        chunks += 1
        if chunks == 1:
            server.kill()

    try:
        dl = DeadLetters(client)
        report = await BulkRunner(HeadPlan(1000, 300),
                                  lambda n: dl.requeue_head("jobs:dlq", "jobs", n),
                                  progress=progress, client=client, journal=journal,
                                  record=record, resume="F resumes it").run()
    finally:
        await client.aclose()
    line = report.summary("requeued")
    assert (report.done, report.not_attempted) == (300, 700), line
    assert f"127.0.0.1:{server.port}" in line and "failed and was not back" in line
    assert line.endswith("F resumes it")
    (kept,) = journal.interrupted("jobs:dlq")
    assert kept.run_id == record.run_id and kept.stopped and kept.done == 300
