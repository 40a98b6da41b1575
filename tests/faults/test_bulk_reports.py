"""Bulk reports that add up: the list renamed or flushed mid-run, and the server out of
memory mid-run. Every report satisfies done + skipped + failed + gone + not attempted =
the count confirmed, names each part in its line, and nothing is lost or duplicated."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
from faultkit import dead, figure

from ferrite_tui.backend.audit import AuditLog
from ferrite_tui.backend.bulk import BulkReport, BulkRunner, HeadPlan
from ferrite_tui.backend.dlq import DeadLetters, Filter
from ferrite_tui.backend.lists import ListItems
from ferrite_tui.backend.movebase import PositionalPlan
from helpers import client_at

DLQ, MAIN, ELSEWHERE = "queue:main:dlq", "queue:main", "queue:moved:dlq"
N = 2_000
PARTS = ("requeued", "skipped", "failed", "gone", "not attempted", "confirmed")


def adds_up(report: BulkReport, total: int) -> None:
    assert report.total == total
    assert (report.done + report.skipped + report.failed + report.gone
            + report.not_attempted) == total, report
    line = report.summary("requeued")
    assert all(part in line for part in PARTS), line


def after_chunks(n: int, action: Callable[[], object]) -> Callable[[BulkReport], None]:
    """A progress hook that acts once, between chunks, after `n` chunks ran."""
    calls = 0

    def hook(_report: BulkReport) -> None:
        nonlocal calls
        calls += 1
        if calls == n:
            action()
    return hook


def fill(sync: redis.Redis) -> list[bytes]:
    values = [dead(i) for i in range(N)]
    sync.rpush(DLQ, *values)
    return values


@pytest.mark.parametrize("how", ["rename", "flushdb"])
async def test_the_list_going_away_mid_run_is_counted_gone(client, sync, how):
    fill(sync)
    action = (lambda: sync.rename(DLQ, ELSEWHERE)) if how == "rename" else sync.flushdb
    dl = DeadLetters(client)
    # "Requeue all": from the head, 500 per chunk.
    count, tail = await ListItems(client).count_and_tail(DLQ)
    report = await BulkRunner(HeadPlan(count, 500),
                              lambda n: dl.requeue_head(DLQ, MAIN, n, stop_at=tail),
                              progress=after_chunks(1, action)).run()
    adds_up(report, N)
    assert (report.done, report.gone, report.not_attempted) == (500, N - 500, 0)
    assert "gone: the list was emptied, renamed or deleted mid-run" in report.summary()
    if how == "rename":
        assert sync.llen(MAIN) + sync.llen(ELSEWHERE) == N  # nothing lost or duplicated
    figure(f"{how} mid requeue-all ({N:,}): {report.summary('requeued')}")

    # Requeue of the entries shown (a filter's matches): exact values, 200 per chunk.
    sync.flushdb()
    fill(sync)
    state = await dl.scan(DLQ, Filter("boom"))
    assert len(state.matches) == N
    report = await BulkRunner(PositionalPlan(state.matches, max_items=200),
                              lambda c: dl.requeue(DLQ, MAIN, c),
                              progress=after_chunks(2, action)).run()
    adds_up(report, N)
    assert (report.done, report.gone, report.skipped) == (400, N - 400, 0)
    if how == "rename":
        assert sync.llen(MAIN) + sync.llen(ELSEWHERE) == N
    figure(f"{how} mid requeue-shown ({N:,}): {report.summary('requeued')}")


async def test_out_of_memory_mid_run_fails_one_chunk_and_leaves_the_rest(fresh_server,
                                                                         tmp_path):
    """maxmemory lowered between chunks: the next push is refused (OOM), its whole
    transaction with it. That chunk is failed; the ones after it were never attempted."""
    sync = redis.Redis.from_url(fresh_server.url)
    client = client_at(fresh_server.url, AuditLog(tmp_path / "a.log"))
    await client.connect()
    try:
        values = fill(sync)
        dl = DeadLetters(client)
        count, tail = await ListItems(client).count_and_tail(DLQ)
        report = await BulkRunner(
            HeadPlan(count, 500), lambda n: dl.requeue_head(DLQ, MAIN, n, stop_at=tail),
            progress=after_chunks(1, lambda: sync.config_set("maxmemory", 1))).run()
        adds_up(report, N)
        assert (report.done, report.failed, report.not_attempted) == (500, 500, N - 1000)
        assert report.stopped is not None and "maxmemory" in report.stopped
        assert "stopped by:" in report.summary()
        sync.config_set("maxmemory", 0)
        assert sync.llen(MAIN) == 500 and sync.lrange(DLQ, 0, -1) == values[500:]
        figure(f"OOM mid requeue-all ({N:,}): {report.summary('requeued')}")

        # The same for a run over exact values.
        state = await dl.scan(DLQ, Filter("boom"))
        report = await BulkRunner(
            PositionalPlan(state.matches, max_items=200), lambda c: dl.requeue(DLQ, MAIN, c),
            progress=after_chunks(1, lambda: sync.config_set("maxmemory", 1))).run()
        sync.config_set("maxmemory", 0)
        adds_up(report, N - 500)
        assert (report.done, report.failed, report.not_attempted) == (200, 200, N - 500 - 400)
        assert sync.llen(MAIN) + sync.llen(DLQ) == N
        figure(f"OOM mid requeue-shown ({N - 500:,}): {report.summary('requeued')}")
    finally:
        await client.aclose()
        sync.close()


async def test_a_lost_server_mid_run_leaves_the_rest_not_attempted(fresh_server, tmp_path,
                                                                   monkeypatch):
    """The server goes away between chunks and does not come back within the bound the run
    waits: the chunk that found it gone never ran, so it and every later one are "not
    attempted" (not "failed"), and the line says what stopped the run."""
    from ferrite_tui.backend import bulk

    monkeypatch.setattr(bulk, "DEFAULT_FAILURE_BOUND_S", 0.5)
    sync = redis.Redis.from_url(fresh_server.url)
    client = client_at(fresh_server.url, AuditLog(tmp_path / "a.log"), connect_timeout=1.0,
                       command_timeout=1.0)
    await client.connect()
    try:
        fill(sync)
        sync.close()
        dl = DeadLetters(client)
        count, tail = await ListItems(client).count_and_tail(DLQ)
        report = await BulkRunner(HeadPlan(count, 500),
                                  lambda n: dl.requeue_head(DLQ, MAIN, n, stop_at=tail),
                                  progress=after_chunks(2, fresh_server.stop)).run()
        adds_up(report, N)
        assert (report.done, report.failed, report.not_attempted) == (1000, 0, N - 1000)
        assert report.stopped is not None
        figure(f"server lost mid requeue-all ({N:,}): {report.summary('requeued')}")
    finally:
        await client.aclose()
