"""The demo's initial data: every pattern filled once, deterministically (screenshots,
``--no-workload``)."""

from __future__ import annotations

import random
from contextlib import suppress

from redis.asyncio import Redis, RedisCluster
from redis.exceptions import ResponseError

from ferrite_tui.demo.layout import (
    ANALYTICS_CONSUMER,
    ANALYTICS_GROUP,
    DEFAULT_NAMES,
    MAX_RETRIES,
    WORKER_CONSUMERS,
    WORKERS_GROUP,
    DemoNames,
)
from ferrite_tui.demo.payloads import (
    dumps,
    email_job,
    failure_reason,
    job_wrapper,
    main_job,
    random_event,
    random_id,
    random_order,
    random_report,
    random_task,
    retry_wrapper,
    wall_clock_ms,
)

SEED_EMAILS = 40
SEED_ORDERS = 60
SEED_PROCESSING_FRESH = 5
SEED_PROCESSING_STALE = 3
SEED_STREAM = 300
SEED_ANALYTICS_READ = 25
SEED_PRIORITY = 50
SEED_SCHEDULED = 80
SEED_OVERDUE = 15
SEED_READY = 4
SEED_MAIN = 30
SEED_DLQ = 120
#: Non-envelope DLQ entries, inserted at these positions (JSON object, text line, binary).
_DLQ_ODDITIES: tuple[tuple[int, bytes], ...] = (
    (17, b'{"order_id":"ORD-20931","error":"legacy worker format","attempts":5}'),
    (58, b"job 7f3a9c failed: worker killed by OOM (exit 137) - see logs"),
    (101, b"\x80\x04\x95\x1f\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x02id\x94\xff\xfe\x00job"),
)


async def seed(client: Redis | RedisCluster, *, now_ms: int | None = None, rng_seed: int = 7,
               names: DemoNames | None = None) -> None:
    """Write the demo's initial data (deleting the demo keys first).

    Deterministic: the same ``rng_seed`` and ``now_ms`` give byte-identical values,
    stream ids and delivery counts (only pending idle times depend on the real clock).
    """
    names = names or DEFAULT_NAMES
    now = wall_clock_ms() if now_ms is None else int(now_ms)
    rng = random.Random(rng_seed)
    await client.delete(*names.all())

    pipe = client.pipeline(transaction=False)

    # 1. Work queue: RPUSH of plain EmailJob JSON.
    for _ in range(SEED_EMAILS):
        pipe.rpush(names.emails, dumps(email_job(rng)))

    # 2. Reliable queue: RPUSH JobWrapper; processing list is fed by BRPOPLPUSH (LPUSH side).
    start = now - 120_000
    for i in range(SEED_ORDERS):
        at = start + i * 2_000 + rng.randint(0, 1_999)
        pipe.rpush(names.orders, dumps(job_wrapper(rng, random_order(rng), at)))
    held = [now - rng.randint(6 * 60_000, 45 * 60_000) for _ in range(SEED_PROCESSING_STALE)]
    held += [now - rng.randint(200, 20_000) for _ in range(SEED_PROCESSING_FRESH)]
    for at in sorted(held):  # oldest pushed first, so the newest sits at the head
        pipe.lpush(names.orders_processing, dumps(job_wrapper(rng, random_order(rng), at)))

    # 4. Priority queue: ZADD score = priority.
    for _ in range(SEED_PRIORITY):
        task, priority = random_task(rng)
        at = now - rng.randint(0, 15 * 60_000)
        member = {"id": random_id(rng), "payload": task, "enqueued_at": at}
        pipe.zadd(names.priority, {dumps(member): priority})

    # 5. Delayed queue: ZADD score = due ms; a few overdue; a few already ready.
    due_times = [now + rng.randint(10_000, 3_600_000) for _ in range(SEED_SCHEDULED)]
    due_times += [now - rng.randint(60_000, 20 * 60_000) for _ in range(SEED_OVERDUE)]
    for due in due_times:
        member = {"id": random_id(rng), "payload": random_report(rng), "scheduled_at": due}
        pipe.zadd(names.reports_scheduled, {dumps(member): due})
    for _ in range(SEED_READY):
        due = now - rng.randint(1_000, 30_000)
        ready = {"id": random_id(rng), "payload": random_report(rng), "scheduled_at": due}
        pipe.rpush(names.reports_ready, dumps(ready))

    # 6. Main queue with RetryWrapper jobs, and its DLQ of DeadLetters.
    for _ in range(SEED_MAIN):
        payload = main_job(rng)
        retries = rng.choices((0, 1, 2, 3), weights=(14, 3, 2, 1))[0]
        last_error = failure_reason(rng, payload) if retries else None
        first = now - rng.randint(1_000, 5 * 60_000)
        job = retry_wrapper(random_id(rng), payload, retries, last_error, first)
        pipe.rpush(names.main, dumps(job))
    dead_times = sorted(now - rng.randint(60_000, 24 * 3_600_000) for _ in range(SEED_DLQ))
    oddities = dict(_DLQ_ODDITIES)
    for i, dead_at in enumerate(dead_times):
        if i in oddities:
            pipe.rpush(names.main_dlq, oddities[i])
        payload = main_job(rng)
        job = retry_wrapper(random_id(rng), payload, MAX_RETRIES, failure_reason(rng, payload),
                             dead_at - rng.randint(5_000, 30 * 60_000))
        pipe.rpush(names.main_dlq, dumps({"job": job, "dead_at": dead_at,
                                     "reason": failure_reason(rng, payload)}))

    # 3. Stream: explicit ids (deterministic), then the consumer groups read it.
    stream_start = now - 600_000
    entry_ms = [stream_start + i * 2_000 + rng.randint(0, 1_999) for i in range(SEED_STREAM)]
    ids = [f"{ms}-0" for ms in entry_ms]
    for ms, entry_id in zip(entry_ms, ids):
        pipe.xadd(names.events, {"data": dumps(random_event(rng, ms))}, id=entry_id)
    pipe.xgroup_create(names.events, WORKERS_GROUP, id="0")
    pipe.xgroup_create(names.events, ANALYTICS_GROUP, id="0")
    await pipe.execute()

    # analytics-dead reads once, never acks, never reads again.
    await client.xreadgroup(ANALYTICS_GROUP, ANALYTICS_CONSUMER, {names.events: ">"},
                            count=SEED_ANALYTICS_READ)
    dead_ids = ids[:SEED_ANALYTICS_READ]
    # workers alternate reads of 10 and ack all but a few.
    pipe = client.pipeline(transaction=False)
    owned: dict[str, list[str]] = {c: [] for c in WORKER_CONSUMERS}
    for chunk in range(0, SEED_STREAM, 10):
        consumer = WORKER_CONSUMERS[(chunk // 10) % 2]
        pipe.xreadgroup(WORKERS_GROUP, consumer, {names.events: ">"}, count=10)
        owned[consumer].extend(ids[chunk:chunk + 10])
    await pipe.execute()
    pending_counts = {"worker-1": 3, "worker-2": 2}
    worker_pending: dict[str, list[str]] = {}
    pipe = client.pipeline(transaction=False)
    for consumer, got in owned.items():
        keep = sorted(rng.sample(got[-60:], pending_counts[consumer]))
        worker_pending[consumer] = keep
        pipe.xack(names.events, WORKERS_GROUP, *[i for i in got if i not in keep])
    # Poison entries: claimed again and again (each XCLAIM bumps the delivery counter).
    poison = [(ANALYTICS_GROUP, ANALYTICS_CONSUMER, i)
              for i in sorted(rng.sample(dead_ids, 4))]
    poison.append((WORKERS_GROUP, "worker-2", worker_pending["worker-2"][0]))
    for group, consumer, entry_id in poison:
        for _ in range(rng.randint(5, 11)):
            pipe.xclaim(names.events, group, consumer, 0, [entry_id])
    await pipe.execute()

    # Cosmetic, best effort: pending entries look as idle as they are old (JUSTID: the
    # delivery counters stay as they are). A server without XCLAIM IDLE just skips it.
    pipe = client.pipeline(transaction=False)
    age = dict(zip(ids, entry_ms))
    for group, consumer, pending in (
        [(ANALYTICS_GROUP, ANALYTICS_CONSUMER, dead_ids)]
        + [(WORKERS_GROUP, c, p) for c, p in worker_pending.items()]
    ):
        for entry_id in pending:
            pipe.xclaim(names.events, group, consumer, 0, [entry_id],
                        idle=max(now - age[entry_id], 0), justid=True)
    with suppress(ResponseError):
        await pipe.execute(raise_on_error=False)


