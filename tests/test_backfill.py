"""Backfill: per-minute series rebuilt from times inside the data, against a real server."""

import json
import time

import pytest

from ferrite_tui.backend.backfill import Backfill, BackfillReport
from ferrite_tui.backend.envelopes import decode
from ferrite_tui.backend.itemtimes import item_time
from ferrite_tui.backend.models import QueueKind, QueueRef
from ferrite_tui.backend.trends import Trends, minute_of
from helpers import REDUCED, monitor_at

needs_lua = pytest.mark.skipif(REDUCED, reason="the library needs Lua (reduced server)")

MIN = 60_000


def now_on_minute() -> int:
    """Now, moved to 30 s into its minute, so 'n minutes ago' lands mid-minute."""
    now = int(time.time() * 1000)
    return now - now % MIN + 30_000


def dead_letter(i: int, dead_at: int) -> str:
    return json.dumps({"job": {"id": f"d{i}", "payload": {"n": i}, "retry_count": 3,
                               "last_error": "boom", "first_attempt": dead_at - 5_000},
                       "dead_at": dead_at, "reason": "max retries"})


def job(i: int, t: int) -> str:
    return json.dumps({"id": f"j{i}", "payload": {"n": i}, "enqueued_at": t})


def dead_shape(now: int) -> dict[int, int]:
    """minutes ago -> dead letters that arrived then: 2 long ago, then 3/min for 14 min."""
    shape = {50: 2}
    shape.update({ago: 3 for ago in range(14, -1, -1)})
    return shape


def write_dead_letters(sync, key: str, now: int) -> int:
    values: list = []
    for ago, n in dead_shape(now).items():
        values += [dead_letter(len(values), now - ago * MIN) for _ in range(n)]
    sync.rpush(key, *values)
    return len(values)


REFS = [
    QueueRef(QueueKind.DLQ, "queue:main:dlq", target_key="queue:main"),
    QueueRef(QueueKind.RELIABLE, "queue:orders", processing_key="queue:orders:processing"),
    QueueRef(QueueKind.DELAYED, "queue:reports:scheduled", ready_key="queue:reports:ready"),
    QueueRef(QueueKind.STREAM, "events:main"),
    QueueRef(QueueKind.PRIORITY, "jobs:priority"),
]


async def test_rebuilt_series_per_minute(client, sync):
    now = now_on_minute()
    now_min = minute_of(now / 1000)
    write_dead_letters(sync, "queue:main:dlq", now)
    # Orders: 10 jobs queued 70 min ago (before the window), then 2 a minute for 5 minutes.
    orders = [job(i, now - 70 * MIN) for i in range(10)]
    orders += [job(100 + i, now - ago * MIN) for ago in range(5, 0, -1) for i in range(2)]
    sync.rpush("queue:orders", *orders)
    # Scheduled: due 20, 10 and 10 minutes ago, and one in 5 minutes.
    sync.zadd("queue:reports:scheduled", {json.dumps({"id": f"s{i}", "scheduled_at": due}): due
                                          for i, due in enumerate(
                                              (now - 20 * MIN, now - 10 * MIN,
                                               now - 10 * MIN + 1, now + 5 * MIN))})
    # Stream: 4 entries 30 min ago, 6 entries 3 min ago, ids carry the times.
    ids = [f"{now - 30 * MIN + i}-0" for i in range(4)] + [f"{now - 3 * MIN + i}-0"
                                                           for i in range(6)]
    for entry_id in ids:
        sync.xadd("events:main", {"data": "{}"}, id=entry_id)
    sync.xgroup_create("events:main", "analytics", "0")
    sync.xreadgroup("analytics", "a1", {"events:main": ">"}, count=5)
    # Pending idle ages: 3 entries delivered 12 min ago, 2 delivered 2 min ago.
    for entry_id, idle in zip(ids[:5], (12 * MIN,) * 3 + (2 * MIN,) * 2):
        sync.xclaim("events:main", "analytics", "a1", 0, [entry_id], idle=idle)
    sync.zadd("jobs:priority", {job(7, now - 45 * MIN): 5, job(8, now - 45 * MIN + 1): 1})

    trends = Trends(60)
    report = await Backfill(client, trends, minutes=60).run(REFS, now_ms=now)
    assert report.notes == [] and report.sampled == []

    def at(ident, metric, ago):
        return trends.get(ident, metric).points.get(now_min - ago)

    dead = trends.get("dlq:queue:main:dlq", "dead")
    shape = dead_shape(now)
    for ago in range(61):
        assert at("dlq:queue:main:dlq", "dead", ago) == shape.get(ago, 0), ago
    assert set(dead.points) == dead.rebuilt  # every value rebuilt
    assert at("dlq:queue:main:dlq", "backlog", 51) == 0
    assert at("dlq:queue:main:dlq", "backlog", 50) == 2
    assert at("dlq:queue:main:dlq", "backlog", 0) == 2 + 15 * 3

    assert at("reliable:queue:orders", "backlog", 60) == 10  # queued before the window
    assert at("reliable:queue:orders", "backlog", 3) == 10 + 3 * 2
    assert [at("reliable:queue:orders", "arrivals", a) for a in (6, 5, 1, 0)] == [0, 2, 2, 0]

    assert at("delayed:queue:reports:scheduled", "overdue", 21) == 0
    assert at("delayed:queue:reports:scheduled", "overdue", 20) == 1
    assert at("delayed:queue:reports:scheduled", "overdue", 10) == 3
    assert at("delayed:queue:reports:scheduled", "overdue", 0) == 3

    assert at("stream:events:main", "arrivals", 30) == 4
    assert at("stream:events:main", "arrivals", 3) == 6
    assert at("stream:events:main", "arrivals", 4) == 0
    assert at("stream:events:main", "pending:analytics", 13) == 0
    assert at("stream:events:main", "pending:analytics", 12) == 3
    assert at("stream:events:main", "pending:analytics", 2) == 5
    assert at("stream:events:main", "backlog", 2) == 5

    assert at("priority:jobs:priority", "backlog", 46) == 0
    assert at("priority:jobs:priority", "backlog", 45) == 2


async def test_past_max_items_an_even_sample_marked_sampled(client, sync):
    """25,000 jobs, one per 144 ms over the last hour: read 1,000 of them, in pages of 100,
    and scale each minute by 25; every minute holds about 417."""
    now = now_on_minute()
    pipe = sync.pipeline(transaction=False)
    n = 25_000
    span = 60 * MIN
    for start in range(0, n, 1000):
        pipe.rpush("work", *[job(i, now - span + i * span // n)
                             for i in range(start, start + 1000)])
    pipe.execute()
    await slowlog_reset(sync)
    trends = Trends(60)
    report = await Backfill(client, trends, minutes=60, max_items=1000, page=100).run(
        [QueueRef(QueueKind.WORK, "work")], now_ms=now)
    assert report.sampled == ["work:work"]
    assert report.items_read == 1000
    arrivals = trends.get("work:work", "arrivals")
    assert arrivals.sampled
    now_min = minute_of(now / 1000)
    full_minutes = [arrivals.points[now_min - ago] for ago in range(2, 59)]
    assert all(300 <= v <= 550 for v in full_minutes), full_minutes
    backlog = trends.get("work:work", "backlog")
    assert abs(backlog.points[now_min] - n) <= n * 0.05
    # No command read more than a page.
    assert max(len_ for name, len_ in await lrange_sizes(sync) if name == "LRANGE") <= 100


async def slowlog_reset(sync):
    sync.config_set("slowlog-log-slower-than", 0)
    sync.config_set("slowlog-max-len", 10_000)
    sync.slowlog_reset()


async def lrange_sizes(sync):
    """(command, items it asked for) for each LRANGE the server ran since the reset."""
    out = []
    for e in sync.slowlog_get(10_000):
        args = e["command"].split()
        if args and args[0].upper() == b"LRANGE":
            out.append(("LRANGE", int(args[3]) - int(args[2]) + 1))
    return out


async def test_big_values_make_smaller_pages_and_a_sparser_sample(client, sync):
    """Jobs of 16 KB: pages of at most PAGE_BYTES (64 KB: 3 jobs) and at most KEY_BYTES
    (8 MB) read from the key, whatever max_items allows; small jobs beside them keep full
    pages. The server's own log of each LRANGE shows the ranges asked for."""
    from ferrite_tui.backend.backfill import KEY_BYTES, PAGE_BYTES

    now = now_on_minute()
    pad = "x" * 16_000
    n = 1_200  # 19 MB
    pipe = sync.pipeline(transaction=False)
    for start in range(0, n, 100):
        pipe.rpush("big", *[json.dumps({"id": f"b{i}", "payload": pad,
                                        "enqueued_at": now - (i % 30) * MIN})
                            for i in range(start, start + 100)])
    pipe.rpush("small", *[job(i, now - 10 * MIN) for i in range(1_000)])
    pipe.execute()
    await slowlog_reset(sync)
    trends = Trends(60)
    refs = [QueueRef(QueueKind.WORK, "big"), QueueRef(QueueKind.WORK, "small")]
    report = await Backfill(client, trends, minutes=60).run(refs, now_ms=now)
    asked: dict = {}
    for e in sync.slowlog_get(10_000):
        args = e["command"].split()
        if args and args[0].upper() == b"LRANGE":
            asked.setdefault(args[1].decode(), []).append(int(args[3]) - int(args[2]) + 1)
    big_page = max(asked["big"])
    assert 1 <= big_page <= PAGE_BYTES // 16_000
    assert big_page * 16_000 * len(asked["big"]) <= KEY_BYTES * 1.1
    assert max(asked["small"]) == 250 and sum(asked["small"]) >= 1_000
    assert report.max_reply_bytes <= PAGE_BYTES * 1.2
    # Sampled, so marked and scaled: about n / 30 a minute over the last 30 minutes.
    assert "work:big" in report.sampled
    backlog = trends.get("work:big", "backlog")
    assert abs(backlog.points[minute_of(now / 1000)] - n) <= n * 0.1
    assert trends.get("work:small", "arrivals").points[minute_of(now / 1000) - 10] == 1_000


async def test_a_second_backfill_keeps_live_minutes(client, sync):
    now = now_on_minute()
    write_dead_letters(sync, "queue:main:dlq", now)
    trends = Trends(60)
    ref = REFS[0]
    now_min = minute_of(now / 1000)
    trends.series(ref.ident, "dead").add_live(now_min - 1, 99)
    await Backfill(client, trends, minutes=60).run([ref], now_ms=now)
    dead = trends.get(ref.ident, "dead")
    assert dead.points[now_min - 1] == 99 and now_min - 1 not in dead.rebuilt
    assert dead.points[now_min - 2] == 3 and now_min - 2 in dead.rebuilt


async def test_monitor_rebuilds_then_the_poll_carries_on(redis_url, sync):
    """The monitor rebuilds the hour, then each poll records into the same minutes."""

    now = int(time.time() * 1000)
    write_dead_letters(sync, "queue:main:dlq", now)
    m = monitor_at(redis_url)
    try:
        await m.connect()
        await m.discover()
        report = await m.backfill()
        assert report.queues == 1 and report.items_read == 47
        await m.poll()
        sync.rpush("queue:main:dlq", *[dead_letter(900 + i, now) for i in range(5)])
        snap = await m.poll()
    finally:
        await m.aclose()
    backlog = m.trends.get("dlq:queue:main:dlq", "backlog")
    minute = minute_of(snap.taken_at)
    assert backlog.points[minute] == 52 and minute not in backlog.rebuilt
    earlier = [mm for mm in backlog.points if mm < minute_of(now / 1000)]
    assert earlier and all(mm in backlog.rebuilt for mm in earlier)


def test_item_time_reads_what_decode_reads():
    samples = [
        dead_letter(1, 1_700_000_000_000), job(2, 1_700_000_000_001),
        json.dumps({"id": "r", "payload": 1, "retry_count": 2, "first_attempt": 5}),
        json.dumps({"id": "s", "payload": 1, "scheduled_at": 7.0}),
        json.dumps({"id": "x", "payload": {"enqueued_at": 9}}),  # time only in the payload
        json.dumps({"job": {"id": 1, "payload": 2}, "dead_at": 3}),  # no reason: not dead
        '{"id": "a", "payload": 1, "enqueued_at": 4} trailing', "plain text", "[1, 2]",
        "\xff\xfe", '  {"id": "w", "payload": 0, "enqueued_at": 11}  ', "",
        json.dumps({"id": "b", "payload": 1, "enqueued_at": True}),
    ]
    for sample in samples:
        raw = sample.encode("latin-1") if "\xff" in sample else sample.encode()
        env = decode(raw)
        want = env.dead_at if env.kind == "dead" else env.time_ms
        assert item_time(raw) == want, sample


async def test_many_queues_share_one_budget(client, sync):
    """Three queues of 1,000 jobs with a budget of 1,500 items: 500 each, marked sampled."""
    now = now_on_minute()
    refs = []
    for q in range(3):
        sync.rpush(f"w{q}", *[job(i, now - 30 * MIN + i * 1000) for i in range(1000)])
        refs.append(QueueRef(QueueKind.WORK, f"w{q}"))
    trends = Trends(60)
    report = await Backfill(client, trends, minutes=60, page=100, max_total=1500).run(
        refs, now_ms=now)
    assert report.items_read == 1500
    assert sorted(report.sampled) == ["work:w0", "work:w1", "work:w2"]
    backlog = trends.get("work:w1", "backlog")
    assert backlog.sampled and abs(backlog.points[minute_of(now / 1000)] - 1000) <= 20
    assert not trends.rebuilding


# -- queue libraries: their own times (created with the libraries' own APIs) ---------------

async def library_trends(client, library: str, now: int) -> tuple[str, Trends, BackfillReport]:
    from ferrite_tui.backend.discovery import Discovery
    from ferrite_tui.config import Config

    discovery = Discovery(client, Config())
    await discovery.run()
    (ref,) = [r for r in discovery.refs if r.library and r.library.library == library]
    trends = Trends(60)
    report = await Backfill(client, trends).run(discovery.refs, now_ms=now)
    return ref.ident, trends, report


def minutes_ago(times_ms: list[int], now: int) -> dict[int, int]:
    """How many of these times fall in each minute (minutes ago; later than `now`: its
    minute, as the backfill counts them)."""
    out: dict[int, int] = {}
    for t in times_ms:
        ago = max(minute_of(now / 1000) - minute_of(t / 1000), 0)
        out[ago] = out.get(ago, 0) + 1
    return out


def per_minute(trends: Trends, ident: str, metric: str, now: int) -> dict[int, float]:
    """minutes ago -> value, for the minutes with a non-zero value."""
    series = trends.get(ident, metric)
    assert series is not None, f"no {metric} series rebuilt"
    now_min = minute_of(now / 1000)
    return {now_min - m: v for m, v in series.points.items() if v and m in series.rebuilt}


async def test_rq_failed_registry_and_queue_rebuilt_from_rq_times(client, sync, tmp_path):
    """RQ keeps ids: failure times come from each failed job's `ended_at` (its registry
    score is when the entry expires: failure + ttl, and the ttl is per job), arrivals from
    the queued jobs' `enqueued_at`."""
    from datetime import UTC, datetime

    from rq import Queue
    from rq.registry import FailedJobRegistry

    import libjobs
    from rqworker import QuietWorker

    now = now_on_minute()

    def at(ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)

    q = Queue("default", connection=sync)
    registry = FailedJobRegistry(queue=q)
    # Failed: 2 jobs 40 minutes ago (one kept a week, one an hour: scores say nothing), then
    # 3 a minute for the last 4 minutes; one more failed for real by RQ's worker, now.
    failed_at = {40: 2, 4: 3, 3: 3, 2: 3, 1: 3}
    for ago, n in failed_at.items():
        for i in range(n):
            job = q.enqueue(libjobs.boom, i)
            q.remove(job)
            job.ended_at = at(now - ago * MIN)
            registry.add(job, ttl=3_600 if i == 0 else 7 * 86_400, exc_string="ValueError")
    q.enqueue(libjobs.flaky, str(tmp_path))  # the directory exists: it fails
    QuietWorker([q], connection=sync).work(burst=True)
    assert registry.count == 15
    # Queued: 4 jobs enqueued 25 minutes ago, 2 ten minutes ago.
    for ago, n in ((25, 4), (10, 2)):
        for i in range(n):
            job = q.enqueue(libjobs.ok, i)
            job.enqueued_at = at(now - ago * MIN)
            job.save()
    ident, trends, report = await library_trends(client, "rq", now)
    # The real failure happened after `now`'s minute began: it counts in the last minute.
    assert per_minute(trends, ident, "dead", now) == {**failed_at, 0: 1}
    failed = trends.get(ident, "failed")
    now_min = minute_of(now / 1000)
    assert failed.points[now_min - 41] == 0 and failed.points[now_min - 40] == 2
    assert failed.points[now_min - 5] == 2 and failed.points[now_min - 1] == 14
    assert per_minute(trends, ident, "arrivals", now) == {25: 4, 10: 2}
    assert trends.get(ident, "backlog").points[now_min - 11] == 4
    assert trends.get(ident, "backlog").points[now_min] == 6
    assert report.untimed == 0 and not report.sampled


@needs_lua
async def test_dramatiq_dead_letters_and_queue_rebuilt_from_its_times(client, sync, redis_url):
    """dramatiq: queued messages by their `message_timestamp` (in the message bodies), dead
    letters by their XQ score (ms, when dramatiq dead-lettered them)."""
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    now = now_on_minute()
    broker = RedisBroker(url=redis_url)
    for ago, n in ((30, 3), (5, 2)):
        for i in range(n):
            broker.enqueue(dramatiq.Message(
                queue_name="default", actor_name="ok", args=(i,), kwargs={}, options={},
                message_timestamp=now - ago * MIN))
    # Dead letters as dramatiq's worker leaves them: fail a fetched message (nack).
    fetched: list = []
    consumer = broker.consume("default", prefetch=10, timeout=1000)
    for message in consumer:
        if message is None or len(fetched) == 5:
            break
        fetched.append(message)
    assert len(fetched) == 5
    for message in fetched[:2]:
        consumer.nack(message)
    consumer.requeue(fetched[2:])
    consumer.close()
    broker.close()
    assert sync.zcard("dramatiq:default.XQ") == 2
    scores = [int(s) for _, s in sync.zrange("dramatiq:default.XQ", 0, -1, withscores=True)]
    ident, trends, report = await library_trends(client, "dramatiq", now)
    dead = per_minute(trends, ident, "dead", now)
    expected = minutes_ago(scores, now)
    assert dead == expected and set(dead) <= {0, 1}
    # The two nacked were the oldest (30 min ago); 1 + 2 remain queued.
    assert per_minute(trends, ident, "arrivals", now) == {30: 1, 5: 2}
    assert report.untimed == 0


@needs_lua
async def test_bullmq_failed_by_finished_on_and_wait_by_timestamp(client, sync, redis_url):
    """BullMQ: failed jobs by their failed-set score (finishedOn, ms), waiting jobs by their
    hash's `timestamp` (set here through the job options)."""
    from bullmq import Queue, Worker

    from helpers import async_wait_until

    now = now_on_minute()

    async def process(job, token):
        raise ValueError("boom")

    queue = Queue("mail", {"connection": redis_url})
    for i in range(3):
        await queue.add("send", {"n": i}, {"attempts": 1})
    worker = Worker("mail", process, {"connection": redis_url})
    try:
        await async_wait_until(lambda: sync.zcard("bull:mail:failed") == 3, timeout=60,
                               message="BullMQ's worker did not fail the jobs")
    finally:
        await worker.close()
    for ago, n in ((20, 2), (7, 1)):
        for i in range(n):
            await queue.add("send", {"n": i}, {"timestamp": now - ago * MIN})
    await queue.close()
    scores = [int(s) for _, s in sync.zrange("bull:mail:failed", 0, -1, withscores=True)]
    ident, trends, _report = await library_trends(client, "bullmq", now)
    expected = minutes_ago(scores, now)
    dead = per_minute(trends, ident, "dead", now)
    assert dead == expected and set(dead) <= {0, 1}
    assert per_minute(trends, ident, "arrivals", now) == {20: 2, 7: 1}
