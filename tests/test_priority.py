"""Priority queues backend (backend/priority.py) against real servers."""

from __future__ import annotations

import json

import pytest

from ferrite_tui.backend.audit import AuditLog
from ferrite_tui.backend.client import Client
from ferrite_tui.backend.envelopes import dumps
from ferrite_tui.backend.errors import BackendError, ReadOnlyError
from ferrite_tui.backend.priority import (
    PriorityQueue,
    ZItem,
    checked_transaction,
    format_score,
    parse_payload,
    parse_score,
    plausible_ms,
)
from helpers import client_at

KEY = "jobs:priority"
NOW = 1_800_000_000_000


def job(i: int, at: int = NOW) -> bytes:
    return dumps({"id": f"job-{i}", "payload": {"task_type": "t", "n": i},
                  "enqueued_at": at}).encode()


@pytest.fixture
def pq(client):
    return PriorityQueue(client, KEY)


async def seeded(client, n100=5, n50=7, n10=9):
    mapping = {}
    i = 0
    for prio, n in ((100, n100), (50, n50), (10, n10)):
        for _ in range(n):
            mapping[job(i)] = prio
            i += 1
    await client.redis.zadd(KEY, mapping)
    return mapping


async def test_view_pages_highest_first_with_a_histogram_in_two_round_trips(client, pq):
    mapping = await seeded(client)
    view = await pq.view(0, 4)
    assert view.round_trips == 2
    page = view.page
    assert (page.total, page.card, page.offset) == (21, 21, 0)
    assert [it.score for it in page.items] == [100.0] * 4
    assert page.has_next
    # every page by rank: all members, each once, in priority order
    seen = []
    offset = 0
    while True:
        p = await pq.page(offset, 4)
        seen.extend(p.items)
        if not p.has_next:
            break
        offset += 4
    assert len({it.member for it in seen}) == len(seen) == len(mapping)
    assert [it.score for it in seen] == sorted((float(v) for v in mapping.values()), reverse=True)
    hist = view.histogram
    assert sum(hist.counts) == hist.total == 21
    assert (hist.lo, hist.hi) == (10.0, 100.0)
    by_label = dict(zip(hist.labels, hist.counts))
    assert [c for c in hist.counts if c] == [9, 7, 5]
    assert any(lbl.startswith("10") for lbl, c in by_label.items() if c == 9)


async def test_priority_range_filter(client, pq):
    await seeded(client)
    p = await pq.page(0, 5, lo=20, hi=60)
    assert p.total == 7 and p.card == 21
    assert [it.score for it in p.items] == [50.0] * 5
    p2 = await pq.page(5, 5, lo=20, hi=60)
    assert len(p2.items) == 2 and not p2.has_next
    assert not {it.member for it in p.items} & {it.member for it in p2.items}
    p3 = await pq.page(0, 50, lo=10, hi=50)  # inclusive bounds
    assert p3.total == 16 and {it.score for it in p3.items} == {50.0, 10.0}
    p4 = await pq.page(0, 50, lo=100)
    assert p4.total == 5
    p5 = await pq.page(0, 50, lo=200, hi=300)
    assert p5.total == 0 and p5.items == ()


async def test_histogram_of_float_and_single_value_sets(client, pq):
    await client.redis.zadd(KEY, {job(i): i / 7 for i in range(100)})
    hist = (await pq.view(0, 1, bins=10)).histogram
    assert len(hist.counts) == 10 and sum(hist.counts) == 100
    await client.redis.delete(KEY)
    await client.redis.zadd(KEY, {job(1): 3, job(2): 3})
    hist = (await pq.view(0, 1)).histogram
    assert hist.counts == (2,) and hist.labels == ("3",)
    await client.redis.delete(KEY)
    view = await pq.view(0, 10)
    assert view.page.items == () and view.histogram.counts == ()


async def test_change_priority_of_the_exact_member(client, pq, tmp_path):
    await seeded(client)
    item = (await pq.page(0, 50, lo=10, hi=10)).items[3]
    result = await pq.set_priority(item, 75)
    assert result.ok
    assert await client.redis.zscore(KEY, item.member) == 75
    assert await client.redis.zcard(KEY) == 21
    entry = AuditLog(tmp_path / "audit.log").read()[-1]
    assert entry["action"] == "change priority (priority 75)"
    assert entry["ids"] == [item.env.id] and entry["count"] == 1
    # the view is stale now: a second change reports it and changes nothing
    again = await pq.set_priority(item, 1)
    assert not again.done and again.rescored
    assert await client.redis.zscore(KEY, item.member) == 75


async def test_removed_or_rescored_by_the_application_changes_nothing(client, pq):
    await seeded(client)
    a, b = (await pq.page(0, 2)).items
    await client.redis.zrem(KEY, a.member)  # a worker dequeued it
    await client.redis.zadd(KEY, {b.member: 99})  # the application re-prioritised it
    r1 = await pq.set_priority(a, 1)
    r2 = await pq.remove(b)
    assert r1.gone and not r1.done and "already gone" in r1.message("changed")
    assert r2.rescored and not r2.done
    assert await client.redis.zscore(KEY, a.member) is None  # ZADD XX did not re-add it
    assert await client.redis.zscore(KEY, b.member) == 99


async def test_remove_and_enqueue(client, pq):
    await seeded(client, 1, 1, 1)
    top = (await pq.page(0, 1)).items[0]
    assert (await pq.remove(top)).ok
    assert await client.redis.zcard(KEY) == 2
    member = await pq.enqueue({"task_type": "critical_alert"}, 100, at_ms=NOW)
    data = json.loads(member)
    assert list(data) == ["id", "payload", "enqueued_at"]
    assert data["enqueued_at"] == NOW and data["payload"] == {"task_type": "critical_alert"}
    assert await client.redis.zscore(KEY, member) == 100
    assert (await pq.page(0, 1)).items[0].member == member
    with pytest.raises(BackendError):
        await pq.enqueue({"task_type": "critical_alert"}, 5, job_id=data["id"], at_ms=NOW)
    assert await client.redis.zscore(KEY, member) == 100


async def test_bulk_forms_for_marked_jobs(client, pq):
    await seeded(client, 10, 10, 10)
    marked = list((await pq.page(0, 15)).items)
    await client.redis.zrem(KEY, marked[0].member)
    progress = []
    report = await pq.set_priority_many(marked, 1, chunk_size=4,
                                        progress=lambda r: progress.append(r.processed))
    assert (report.done, report.skipped, report.failed) == (14, 1, 0)
    assert progress == [4, 8, 12, 15]
    assert await client.redis.zcount(KEY, 1, 1) == 14
    fresh = list((await pq.page(0, 50, lo=1, hi=1)).items)
    report = await pq.remove_many(fresh + marked[:2], chunk_size=5)
    assert report.done == 14 and report.skipped == 2
    assert await client.redis.zcard(KEY) == 15


async def test_checked_transaction_retries_when_the_key_changes(client):
    """A write between WATCH and EXEC aborts the EXEC; the retry sees the new state."""
    await client.redis.zadd(KEY, {b"a": 1, b"b": 2})
    item = ZItem.of(b"a", 1)
    calls = []

    def build(pipe, ok):
        calls.append(len(ok))
        pipe.zadd(KEY, {b"a": 5}, xx=True)

    # another client changes the key while the first attempt is between WATCH and EXEC
    original = client.redis.pipeline

    def pipeline(*args, **kwargs):
        pipe = original(*args, **kwargs)
        if not kwargs.get("transaction", True) and not calls:
            async def touch_then_execute(_execute=pipe.execute):
                result = await _execute()
                other = Client(client.settings)
                try:
                    await other.redis.zadd(KEY, {b"c": 3})
                finally:
                    await other.aclose()
                return result
            pipe.execute = touch_then_execute
        return pipe

    client.redis.pipeline = pipeline
    try:
        result = await checked_transaction(client, KEY, [item], build)
    finally:
        del client.redis.pipeline
    assert result.ok and result.attempts == 2 and calls == [1, 1]
    assert await client.redis.zscore(KEY, b"a") == 5


async def test_every_mutation_is_refused_in_read_only_mode(redis_url):
    c = client_at(redis_url, read_only=True)
    await c.connect()
    try:
        await c.redis.zadd(KEY, {job(1): 5})
        pq = PriorityQueue(c, KEY)
        item = ZItem.of(job(1), 5)
        calls: dict[str, tuple] = {"set_priority": (item, 1), "remove": (item,), "enqueue": ({}, 1),
                 "set_priority_many": ([item], 1), "remove_many": ([item],)}
        names = {n for n in dir(PriorityQueue)
                 if getattr(getattr(PriorityQueue, n), "mutation", None)}
        assert names == set(calls)
        before = c.round_trips.count
        for name, args in calls.items():
            with pytest.raises(ReadOnlyError):
                await getattr(pq, name)(*args)
        assert c.round_trips.count == before
        assert await c.redis.zrange(KEY, 0, -1, withscores=True) == [(job(1), 5.0)]
    finally:
        await c.aclose()


def test_scores_and_payloads_as_typed():
    assert format_score(100.0) == "100" and format_score(2.5) == "2.5"
    assert format_score(float("inf")) == "+inf"
    assert parse_score(" 7 ") == 7.0 and parse_score("-1.5") == -1.5
    for bad in ("", "high", "nan"):
        with pytest.raises(ValueError):
            parse_score(bad)
    assert parse_payload('{"a": 1}') == {"a": 1}
    assert parse_payload("just text") == "just text"
    assert plausible_ms(NOW) and not plausible_ms(100) and not plausible_ms(None)
