"""Live demo traffic for ``ferrite-tui demo``: every pattern of the seed, running.

Plain asyncio + redis.asyncio (no Textual). Every pattern is written exactly as the seed
(``seed/message-queues.md``) has it: the same key names, JSON envelope field names,
millisecond timestamps and push/pop sides. Where the seed uses Lua (the priority dequeue
and ``process_scheduled``) this module does the same thing atomically with
WATCH/MULTI/EXEC and retries on WatchError, because Ferrite has no Lua.

- :func:`seed` writes deterministic initial data (screenshots, ``--no-workload``).
- :class:`Workload` runs producers and consumers until an :class:`asyncio.Event` is set.

JSON is written compactly, as ``serde_json::to_string`` does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ResponseError, WatchError

__all__ = [
    "DEMO_CHANNELS",
    "DEMO_KEYS",
    "DEMO_PATTERNS",
    "Workload",
    "seed",
]

log = logging.getLogger(__name__)

# -- keys -------------------------------------------------------------------------------

EMAILS = "emails"
ORDERS = "queue:orders"
ORDERS_PROCESSING = "queue:orders:processing"
EVENTS = "events:main"
WORKERS_GROUP = "workers"
WORKER_CONSUMERS = ("worker-1", "worker-2")
ANALYTICS_GROUP = "analytics"
ANALYTICS_CONSUMER = "analytics-dead"
PRIORITY = "jobs:priority"
REPORTS_SCHEDULED = "queue:reports:scheduled"
REPORTS_READY = "queue:reports:ready"
MAIN = "queue:main"
MAIN_DLQ = "queue:main:dlq"

#: Every key the demo uses: redis type, queue kind, seed pattern and element shape.
DEMO_KEYS: dict[str, dict[str, Any]] = {
    EMAILS: {
        "type": "list", "kind": "work", "pattern": "1. Simple Work Queue",
        "element": '{"to","subject","body"} (EmailJob)', "push": "RPUSH", "pop": "BLPOP",
    },
    ORDERS: {
        "type": "list", "kind": "reliable", "pattern": "2. Reliable Queue",
        "element": '{"id","payload","enqueued_at"} (JobWrapper)', "push": "RPUSH",
        "pop": f"BRPOPLPUSH -> {ORDERS_PROCESSING}", "processing": ORDERS_PROCESSING,
    },
    ORDERS_PROCESSING: {
        "type": "list", "kind": "processing", "pattern": "2. Reliable Queue",
        "element": '{"id","payload","enqueued_at"} (JobWrapper)', "queue": ORDERS,
        "ack": "LREM 1 <exact json>",
    },
    EVENTS: {
        "type": "stream", "kind": "stream", "pattern": "3. Stream-Based Message Queue",
        "element": 'field "data" = JSON',
        "groups": {
            WORKERS_GROUP: list(WORKER_CONSUMERS),
            ANALYTICS_GROUP: [ANALYTICS_CONSUMER],  # dead: never reads again
        },
        "maxlen": 10_000,
    },
    PRIORITY: {
        "type": "zset", "kind": "priority", "pattern": "4. Priority Queue",
        "element": '{"id","payload":{"task_type","data"},"enqueued_at"}',
        "score": "priority (higher first)",
    },
    REPORTS_SCHEDULED: {
        "type": "zset", "kind": "delayed", "pattern": "5. Delayed/Scheduled Queue",
        "element": '{"id","payload","scheduled_at"}', "score": "due time (ms)",
        "ready": REPORTS_READY,
    },
    REPORTS_READY: {
        "type": "list", "kind": "ready", "pattern": "5. Delayed/Scheduled Queue",
        "element": '{"id","payload","scheduled_at"}', "push": "RPUSH", "pop": "BLPOP",
        "scheduled": REPORTS_SCHEDULED,
    },
    MAIN: {
        "type": "list", "kind": "main", "pattern": "6. Dead Letter Queue",
        "element": '{"id","payload","retry_count","last_error","first_attempt"}',
        "push": "RPUSH", "pop": "BLPOP", "dlq": MAIN_DLQ, "max_retries": 3,
    },
    MAIN_DLQ: {
        "type": "list", "kind": "dlq", "pattern": "6. Dead Letter Queue",
        "element": '{"job":{RetryWrapper},"dead_at","reason"}', "push": "RPUSH",
        "main": MAIN,
    },
}

#: Pub/sub channels published to, and what the demo subscribers listen on.
DEMO_CHANNELS: tuple[str, ...] = ("orders.created", "orders.paid", "orders.cancelled")
SUBSCRIBED_CHANNELS: tuple[str, ...] = ("orders.created", "orders.paid")
DEMO_PATTERNS: tuple[str, ...] = ("orders.*",)

MAX_RETRIES = 3
_RETRY_FIELDS = frozenset({"id", "payload", "retry_count", "last_error", "first_attempt"})
STREAM_MAXLEN = 10_000
#: Producers skip a tick while their queue holds this many items, so a demo left running
#: for hours keeps the server small (the queues still visibly pile up first).
BACKLOG_CAP = 10_000
#: Dying order workers stop leaving jobs behind once processing holds this many.
PROCESSING_CAP = 500
#: Scheduled jobs moved per MULTI (bulk work in chunks).
SCHEDULE_CHUNK = 200

# -- helpers ----------------------------------------------------------------------------


def _dumps(value: Any) -> bytes:
    """Compact JSON, as serde_json::to_string writes it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


_FIRST_NAMES = ("ada", "grace", "linus", "margaret", "alan", "barbara", "ken", "radia",
                "dennis", "frances", "edsger", "hedy")
_EMAIL_SUBJECTS = (
    ("Welcome!", "Thanks for signing up."),
    ("Your receipt", "Thanks for your order. Your receipt is attached."),
    ("Password reset", "Click the link below to reset your password."),
    ("Your order has shipped", "Good news: your order is on its way."),
    ("Weekly digest", "Here is what happened this week."),
    ("Verify your email", "Please confirm your email address."),
)
_CURRENCIES = ("USD", "USD", "USD", "EUR", "GBP")
_REPORTS = ("daily_sales", "weekly_revenue", "inventory", "churn", "payouts", "audit_log")
_FORMATS = ("pdf", "csv", "xlsx")

#: Priority task types (seed: critical_alert 100, send_email 50, cleanup 10) and weights.
_TASK_TYPES: tuple[tuple[str, float, int], ...] = (
    ("critical_alert", 100.0, 1),
    ("charge_card", 75.0, 2),
    ("send_email", 50.0, 5),
    ("generate_thumbnail", 25.0, 3),
    ("cleanup", 10.0, 3),
    ("reindex_search", 5.0, 1),
)


def _email_job(rng: random.Random) -> dict[str, Any]:
    subject, body = rng.choice(_EMAIL_SUBJECTS)
    name = rng.choice(_FIRST_NAMES)
    return {"to": f"{name}{rng.randint(1, 999)}@example.com", "subject": subject, "body": body}


def _order(rng: random.Random) -> dict[str, Any]:
    return {
        "order_id": f"ORD-{rng.randint(10000, 99999)}",
        "customer_id": f"cus_{rng.randint(1000, 9999)}",
        "items": rng.randint(1, 6),
        "total": round(rng.uniform(4.0, 400.0), 2),
        "currency": rng.choice(_CURRENCIES),
    }


def _event(rng: random.Random, ts_ms: int) -> dict[str, Any]:
    kind = rng.choices(("order.created", "order.paid", "order.shipped", "user.signup",
                        "page.view"), weights=(3, 2, 1, 1, 4))[0]
    event: dict[str, Any] = {"type": kind}
    if kind.startswith("order."):
        event["order_id"] = f"ORD-{rng.randint(10000, 99999)}"
        event["user_id"] = f"user_{rng.randint(1, 500)}"
        if kind != "order.shipped":
            event["total"] = round(rng.uniform(4.0, 400.0), 2)
    elif kind == "user.signup":
        event["user_id"] = f"user_{rng.randint(500, 9999)}"
    else:
        event["path"] = rng.choice(("/", "/cart", "/checkout", "/products", "/account"))
        event["user_id"] = f"user_{rng.randint(1, 500)}"
    event["ts"] = ts_ms
    return event


def _task(rng: random.Random) -> tuple[dict[str, Any], float]:
    names = [t[0] for t in _TASK_TYPES]
    weights = [t[2] for t in _TASK_TYPES]
    i = rng.choices(range(len(names)), weights=weights)[0]
    task_type, priority, _ = _TASK_TYPES[i]
    data: dict[str, Any]
    if task_type == "critical_alert":
        data = {"message": rng.choice(("Server down!", "Disk 95% full on db-2",
                                       "Error rate above 5%", "Replica lag 30s"))}
    elif task_type == "send_email":
        data = {"to": f"{rng.choice(_FIRST_NAMES)}{rng.randint(1, 999)}@example.com"}
    elif task_type == "charge_card":
        data = {"order_id": f"ORD-{rng.randint(10000, 99999)}",
                "amount_cents": rng.randint(199, 49999)}
    elif task_type == "generate_thumbnail":
        data = {"image": f"uploads/{rng.getrandbits(32):08x}.jpg",
                "size": rng.choice((64, 128, 256))}
    elif task_type == "reindex_search":
        data = {"index": rng.choice(("products", "users", "orders"))}
    else:
        data = {}
    return {"task_type": task_type, "data": data}, priority


def _report(rng: random.Random) -> dict[str, Any]:
    return {
        "report": rng.choice(_REPORTS),
        "account_id": f"acct_{rng.randint(100, 999)}",
        "format": rng.choice(_FORMATS),
    }


# Main-queue job kinds and the failures each can have: (template, weight).
_FAILURES: dict[str, tuple[tuple[Callable[[random.Random], str], int], ...]] = {
    "send_email": (
        (lambda r: f"SMTP timeout after {r.choice((5000, 15000, 30000, 30000, 60000))}ms", 6),
        (lambda r: "validation failed: missing field "
                   f"'{r.choice(('email', 'email', 'email', 'subject'))}'", 3),
        (lambda r: f"rate limited by upstream, retry after {r.randint(1, 120)}s", 1),
    ),
    "charge": (
        (lambda r: f"payment declined: card {r.choice(('4242', '0341', '1117', '9995', '5100'))}"
                   " expired", 5),
        (lambda r: f"HTTP {r.choice((502, 503, 503, 504))} from https://api.example.com/v1/charge",
         4),
        (lambda r: f"validation failed: missing field '{r.choice(('amount', 'currency'))}'", 1),
    ),
    "webhook": (
        (lambda r: f"HTTP {r.choice((500, 502, 503, 504))} from "
                   f"https://hooks.example.com/t/{r.randint(100, 999)}", 4),
        (lambda r: f"connection refused: db-{r.randint(1, 4)}.internal:5432", 2),
        (lambda r: f"order ORD-{r.randint(10000, 99999)} not found", 2),
    ),
}


def _main_job(rng: random.Random) -> dict[str, Any]:
    kind = rng.choices(("send_email", "charge", "webhook"), weights=(5, 3, 2))[0]
    if kind == "send_email":
        return {"type": kind, "to": f"{rng.choice(_FIRST_NAMES)}{rng.randint(1, 999)}@example.com",
                "template": rng.choice(("welcome", "receipt", "reset"))}
    if kind == "charge":
        return {"type": kind, "order_id": f"ORD-{rng.randint(10000, 99999)}",
                "amount_cents": rng.randint(199, 49999)}
    return {"type": kind, "url": f"https://hooks.example.com/t/{rng.randint(100, 999)}",
            "event": rng.choice(DEMO_CHANNELS)}


def _failure_reason(rng: random.Random, payload: Any) -> str:
    kind = payload.get("type") if isinstance(payload, dict) else None
    options = _FAILURES.get(kind if isinstance(kind, str) else "", _FAILURES["webhook"])
    template = rng.choices([o[0] for o in options], weights=[o[1] for o in options])[0]
    return template(rng)


def _job_wrapper(rng: random.Random, payload: Any, enqueued_at: int) -> dict[str, Any]:
    """Reliable queue ``JobWrapper``."""
    return {"id": _uuid(rng), "payload": payload, "enqueued_at": enqueued_at}


def _retry_wrapper(job_id: str, payload: Any, retry_count: int, last_error: str | None,
                   first_attempt: int) -> dict[str, Any]:
    """DLQ pattern ``RetryWrapper``."""
    return {"id": job_id, "payload": payload, "retry_count": retry_count,
            "last_error": last_error, "first_attempt": first_attempt}


# -- seed -------------------------------------------------------------------------------

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


async def seed(client: Redis, *, now_ms: int | None = None, rng_seed: int = 7) -> None:
    """Write the demo's initial data (deleting the demo keys first).

    Deterministic: the same ``rng_seed`` and ``now_ms`` give byte-identical values,
    stream ids and delivery counts (only pending idle times depend on the real clock).
    """
    now = _now_ms() if now_ms is None else int(now_ms)
    rng = random.Random(rng_seed)
    await client.delete(*DEMO_KEYS)

    pipe = client.pipeline(transaction=False)

    # 1. Work queue: RPUSH of plain EmailJob JSON.
    for _ in range(SEED_EMAILS):
        pipe.rpush(EMAILS, _dumps(_email_job(rng)))

    # 2. Reliable queue: RPUSH JobWrapper; processing list is fed by BRPOPLPUSH (LPUSH side).
    start = now - 120_000
    for i in range(SEED_ORDERS):
        at = start + i * 2_000 + rng.randint(0, 1_999)
        pipe.rpush(ORDERS, _dumps(_job_wrapper(rng, _order(rng), at)))
    held = [now - rng.randint(6 * 60_000, 45 * 60_000) for _ in range(SEED_PROCESSING_STALE)]
    held += [now - rng.randint(200, 20_000) for _ in range(SEED_PROCESSING_FRESH)]
    for at in sorted(held):  # oldest pushed first, so the newest sits at the head
        pipe.lpush(ORDERS_PROCESSING, _dumps(_job_wrapper(rng, _order(rng), at)))

    # 4. Priority queue: ZADD score = priority.
    for _ in range(SEED_PRIORITY):
        task, priority = _task(rng)
        at = now - rng.randint(0, 15 * 60_000)
        pipe.zadd(PRIORITY, {_dumps({"id": _uuid(rng), "payload": task, "enqueued_at": at}):
                             priority})

    # 5. Delayed queue: ZADD score = due ms; a few overdue; a few already ready.
    due_times = [now + rng.randint(10_000, 3_600_000) for _ in range(SEED_SCHEDULED)]
    due_times += [now - rng.randint(60_000, 20 * 60_000) for _ in range(SEED_OVERDUE)]
    for due in due_times:
        member = {"id": _uuid(rng), "payload": _report(rng), "scheduled_at": due}
        pipe.zadd(REPORTS_SCHEDULED, {_dumps(member): due})
    for _ in range(SEED_READY):
        due = now - rng.randint(1_000, 30_000)
        pipe.rpush(REPORTS_READY,
                   _dumps({"id": _uuid(rng), "payload": _report(rng), "scheduled_at": due}))

    # 6. Main queue with RetryWrapper jobs, and its DLQ of DeadLetters.
    for _ in range(SEED_MAIN):
        payload = _main_job(rng)
        retries = rng.choices((0, 1, 2, 3), weights=(14, 3, 2, 1))[0]
        last_error = _failure_reason(rng, payload) if retries else None
        first = now - rng.randint(1_000, 5 * 60_000)
        pipe.rpush(MAIN, _dumps(_retry_wrapper(_uuid(rng), payload, retries, last_error, first)))
    dead_times = sorted(now - rng.randint(60_000, 24 * 3_600_000) for _ in range(SEED_DLQ))
    oddities = dict(_DLQ_ODDITIES)
    for i, dead_at in enumerate(dead_times):
        if i in oddities:
            pipe.rpush(MAIN_DLQ, oddities[i])
        payload = _main_job(rng)
        job = _retry_wrapper(_uuid(rng), payload, MAX_RETRIES, _failure_reason(rng, payload),
                             dead_at - rng.randint(5_000, 30 * 60_000))
        pipe.rpush(MAIN_DLQ, _dumps({"job": job, "dead_at": dead_at,
                                     "reason": _failure_reason(rng, payload)}))

    # 3. Stream: explicit ids (deterministic), then the consumer groups read it.
    stream_start = now - 600_000
    entry_ms = [stream_start + i * 2_000 + rng.randint(0, 1_999) for i in range(SEED_STREAM)]
    ids = [f"{ms}-0" for ms in entry_ms]
    for ms, entry_id in zip(entry_ms, ids):
        pipe.xadd(EVENTS, {"data": _dumps(_event(rng, ms))}, id=entry_id)
    pipe.xgroup_create(EVENTS, WORKERS_GROUP, id="0")
    pipe.xgroup_create(EVENTS, ANALYTICS_GROUP, id="0")
    await pipe.execute()

    # analytics-dead reads once, never acks, never reads again.
    await client.xreadgroup(ANALYTICS_GROUP, ANALYTICS_CONSUMER, {EVENTS: ">"},
                            count=SEED_ANALYTICS_READ)
    dead_ids = ids[:SEED_ANALYTICS_READ]
    # workers alternate reads of 10 and ack all but a few.
    pipe = client.pipeline(transaction=False)
    owned: dict[str, list[str]] = {c: [] for c in WORKER_CONSUMERS}
    for chunk in range(0, SEED_STREAM, 10):
        consumer = WORKER_CONSUMERS[(chunk // 10) % 2]
        pipe.xreadgroup(WORKERS_GROUP, consumer, {EVENTS: ">"}, count=10)
        owned[consumer].extend(ids[chunk:chunk + 10])
    await pipe.execute()
    pending_counts = {"worker-1": 3, "worker-2": 2}
    worker_pending: dict[str, list[str]] = {}
    pipe = client.pipeline(transaction=False)
    for consumer, got in owned.items():
        keep = sorted(rng.sample(got[-60:], pending_counts[consumer]))
        worker_pending[consumer] = keep
        pipe.xack(EVENTS, WORKERS_GROUP, *[i for i in got if i not in keep])
    # Poison entries: claimed again and again (each XCLAIM bumps the delivery counter).
    poison = [(ANALYTICS_GROUP, ANALYTICS_CONSUMER, i)
              for i in sorted(rng.sample(dead_ids, 4))]
    poison.append((WORKERS_GROUP, "worker-2", worker_pending["worker-2"][0]))
    for group, consumer, entry_id in poison:
        for _ in range(rng.randint(5, 11)):
            pipe.xclaim(EVENTS, group, consumer, 0, [entry_id])
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
            pipe.xclaim(EVENTS, group, consumer, 0, [entry_id], idle=max(now - age[entry_id], 0),
                        justid=True)
    with suppress(ResponseError):
        await pipe.execute(raise_on_error=False)


# -- pacing -----------------------------------------------------------------------------


class _Pacer:
    """Paces a loop at ``per_s`` events per second, from measured elapsed time.

    Producers call :meth:`batch` (sleeps one tick, returns how many events are due, so high
    rates become pipelined batches); consumers call :meth:`acquire` before each item.
    """

    def __init__(self, per_s: float, *, min_tick: float = 0.02, max_tick: float = 0.25) -> None:
        self.per_s = per_s
        self.tick = min(max(1.0 / per_s, min_tick), max_tick)
        self._last: float | None = None
        self._carry = 0.0
        self._next: float | None = None

    async def batch(self) -> int:
        await asyncio.sleep(self.tick)
        now = time.monotonic()
        elapsed = self.tick if self._last is None else min(now - self._last, 1.0)
        self._last = now
        self._carry += elapsed * self.per_s
        n = int(self._carry)
        self._carry -= n
        return n

    async def acquire(self) -> None:
        now = time.monotonic()
        if self._next is None or self._next < now - 0.5:  # no catch-up burst after a pause
            self._next = now
        if self._next > now:
            await asyncio.sleep(self._next - now)
        self._next += 1.0 / self.per_s


# -- workload ---------------------------------------------------------------------------

class Workload:
    """All the seed's producers and consumers, live, at a few hundred jobs/s in all.

    ``rate`` multiplies every rate (and shortens work times, scheduler periods and pauses
    by the same factor); delays of scheduled jobs stay in real time. ``rng_seed`` makes
    ids and payloads reproducible (timing is not).
    """

    def __init__(self, url: str, *, rate: float = 1.0, rng_seed: int | None = None) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be > 0, got {rate!r}")
        self.url = url
        self.rate = float(rate)
        self._rng = random.Random(rng_seed)
        #: Events done so far, by name (e.g. ``emails.pushed``, ``main.dead``).
        self.counts: Counter[str] = Counter()
        self._client: Redis | None = None
        self._stop: asyncio.Event | None = None

    # -- lifecycle ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; then cancel every task and close connections."""
        self._stop = stop
        # socket_timeout=None (redis-py's default is 5 s): with a timeout, redis-py wraps
        # every send in asyncio.wait_for, which on Python 3.11 can swallow a cancellation,
        # so a stopping task would carry on. Blocking reads are bounded by their own
        # timeouts (1 s), and a lost server resets the socket.
        self._client = Redis.from_url(
            self.url,
            socket_timeout=None,
            socket_connect_timeout=3.0,
            retry=Retry(NoBackoff(), 0),  # the loops back off and retry themselves
        )
        jobs: list[tuple[str, Callable[..., Awaitable[None]], tuple[Any, ...]]] = [
            ("emails-producer", self._emails_producer, ()),
            ("emails-consumer", self._emails_consumer, ()),
            ("orders-producer", self._orders_producer, ()),
            ("orders-worker-1", self._orders_worker, (1,)),
            ("orders-worker-2", self._orders_worker, (2,)),
            ("events-producer", self._events_producer, ()),
            *[(f"events-{c}", self._events_consumer, (c,)) for c in WORKER_CONSUMERS],
            ("priority-producer", self._priority_producer, ()),
            ("priority-consumer", self._priority_consumer, ()),
            ("reports-producer", self._reports_producer, ()),
            ("reports-scheduler", self._reports_scheduler, ()),
            ("reports-consumer", self._reports_consumer, ()),
            ("main-producer", self._main_producer, ()),
            ("main-worker", self._main_worker, ()),
            ("pubsub-publisher", self._publisher, ()),
            ("pubsub-subscriber", self._subscriber, (SUBSCRIBED_CHANNELS, ())),
            ("pubsub-psubscriber", self._subscriber, ((), DEMO_PATTERNS)),
        ]
        tasks = [
            asyncio.create_task(self._supervise(name, fn, *args), name=f"workload:{name}")
            for name, fn, args in jobs
        ]
        try:
            await stop.wait()
        finally:
            await self._cancel_all(tasks)
            client, self._client = self._client, None
            try:
                await client.aclose()
            except Exception as exc:
                log.debug("workload: closing the client failed: %r", exc)

    @staticmethod
    async def _cancel_all(tasks: list[asyncio.Task[None]]) -> None:
        """Cancel ``tasks`` and wait for them, cancelling again any that swallowed it."""
        pending = {t for t in tasks if not t.done()}
        while pending:
            for task in pending:
                task.cancel()
            _done, pending = await asyncio.wait(pending, timeout=0.5)
            if pending:
                log.debug("workload: cancelling again: %s", sorted(t.get_name() for t in pending))
        for task in tasks:  # retrieve results, so none is reported as never retrieved
            if not task.cancelled() and task.exception() is not None:
                log.debug("workload task %s ended with %r", task.get_name(), task.exception())

    @property
    def _r(self) -> Redis:
        assert self._client is not None, "Workload.run() is not running"
        return self._client

    def _stopped(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    async def _supervise(self, name: str, fn: Callable[..., Awaitable[None]],
                         *args: Any) -> None:
        """Run one loop; on any error, log at debug level, back off and run it again."""
        backoff = 0.2
        while not self._stopped():
            started = time.monotonic()
            try:
                await fn(*args)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if time.monotonic() - started > 10.0:
                    backoff = 0.2  # it ran fine for a while: start over with short waits
                log.debug("workload %s: %s: %s (retrying in %.1fs)", name,
                          type(exc).__name__, exc, backoff)
                self.counts[f"{name}.errors"] += 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    def _scaled(self, seconds: float) -> float:
        return seconds / self.rate

    # -- 1. work queue ------------------------------------------------------------------

    async def _push_batch(self, key: str, values: Sequence[bytes], counter: str) -> None:
        """RPUSH each value (one RPUSH per job, as the seed's enqueue), pipelined.

        Skipped while the list holds BACKLOG_CAP items (checked with LLEN)."""
        if await self._r.llen(key) >= BACKLOG_CAP:
            return
        pipe = self._r.pipeline(transaction=False)
        for value in values:
            pipe.rpush(key, value)
        await pipe.execute()
        self.counts[counter] += len(values)

    async def _emails_producer(self) -> None:
        pacer = _Pacer(20 * self.rate)
        while True:
            n = await pacer.batch()
            if n:
                await self._push_batch(EMAILS, [_dumps(_email_job(self._rng)) for _ in range(n)],
                                       "emails.pushed")

    async def _emails_consumer(self) -> None:
        pacer = _Pacer(18 * self.rate)
        while True:
            await pacer.acquire()
            if await self._r.blpop([EMAILS], timeout=1) is not None:
                self.counts["emails.popped"] += 1

    # -- 2. reliable queue --------------------------------------------------------------

    async def _orders_producer(self) -> None:
        pacer = _Pacer(40 * self.rate)
        while True:
            n = await pacer.batch()
            if n:
                now = _now_ms()
                values = [_dumps(_job_wrapper(self._rng, _order(self._rng), now))
                          for _ in range(n)]
                await self._push_batch(ORDERS, values, "orders.pushed")

    async def _orders_worker(self, number: int) -> None:
        processing_len = 0
        while True:
            raw = await self._r.brpoplpush(ORDERS, ORDERS_PROCESSING, timeout=1)
            if raw is None:
                continue
            self.counts["orders.taken"] += 1
            # "Work" for 20-80 ms (mean 40 ms, so two workers about keep up with 40/s).
            await asyncio.sleep(self._scaled(0.020 + 0.060 * self._rng.random() ** 2))
            if self._rng.random() < 0.03 and processing_len < PROCESSING_CAP:
                # The worker dies: the job stays in processing (it goes stale in 5 min).
                log.debug("workload: orders worker %d died holding a job", number)
                self.counts["orders.abandoned"] += 1
                await asyncio.sleep(self._scaled(self._rng.uniform(0.2, 0.6)))  # restart
                processing_len += 1
                continue
            pipe = self._r.pipeline(transaction=False)
            pipe.lrem(ORDERS_PROCESSING, 1, raw)  # ack: remove the exact JSON
            pipe.llen(ORDERS_PROCESSING)
            removed, processing_len = await pipe.execute()
            if removed:
                self.counts["orders.acked"] += 1

    # -- 3. stream with consumer groups -------------------------------------------------

    async def _events_producer(self) -> None:
        pacer = _Pacer(30 * self.rate)
        while True:
            n = await pacer.batch()
            if not n:
                continue
            pipe = self._r.pipeline(transaction=False)
            now = _now_ms()
            for _ in range(n):
                pipe.xadd(EVENTS, {"data": _dumps(_event(self._rng, now))},
                          maxlen=STREAM_MAXLEN, approximate=True)
            await pipe.execute()
            self.counts["events.added"] += n

    async def _events_consumer(self, consumer: str) -> None:
        while True:
            try:
                reply = await self._r.xreadgroup(WORKERS_GROUP, consumer, {EVENTS: ">"},
                                                 count=10, block=1000)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                # Not seeded: create the group as the seed does (from "0"), then read.
                with suppress(ResponseError):  # BUSYGROUP: the other consumer made it
                    await self._r.xgroup_create(EVENTS, WORKERS_GROUP, id="0", mkstream=True)
                continue
            streams = reply.items() if isinstance(reply, dict) else reply or ()  # RESP3 / 2
            ids = [entry_id for _stream, entries in streams for entry_id, *_ in entries]
            if ids:
                await self._r.xack(EVENTS, WORKERS_GROUP, *ids)
                self.counts["events.acked"] += len(ids)

    # -- 4. priority queue --------------------------------------------------------------

    async def _priority_producer(self) -> None:
        pacer = _Pacer(10 * self.rate)
        while True:
            n = await pacer.batch()
            if not n:
                continue
            if await self._r.zcard(PRIORITY) >= BACKLOG_CAP:
                continue
            pipe = self._r.pipeline(transaction=False)
            now = _now_ms()
            for _ in range(n):
                task, priority = _task(self._rng)
                member = {"id": _uuid(self._rng), "payload": task, "enqueued_at": now}
                pipe.zadd(PRIORITY, {_dumps(member): priority})
            await pipe.execute()
            self.counts["priority.added"] += n

    async def _priority_dequeue(self) -> tuple[bytes, float] | None:
        """The seed's Lua dequeue (ZREVRANGE 0 0 WITHSCORES + ZREM), with WATCH/MULTI."""
        async with self._r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(PRIORITY)
                    top = await pipe.zrevrange(PRIORITY, 0, 0, withscores=True)
                    if not top:
                        return None
                    member, score = top[0]
                    pipe.multi()
                    pipe.zrem(PRIORITY, member)
                    (removed,) = await pipe.execute()
                    if removed:
                        return member, score
                except WatchError:
                    self.counts["priority.watch_retries"] += 1
                    continue

    async def _priority_consumer(self) -> None:
        pacer = _Pacer(9 * self.rate)
        while True:
            await pacer.acquire()
            if await self._priority_dequeue() is not None:
                self.counts["priority.taken"] += 1
            else:
                await asyncio.sleep(self._scaled(0.5))

    # -- 5. delayed queue ---------------------------------------------------------------

    async def _reports_producer(self) -> None:
        pacer = _Pacer(5 * self.rate)
        while True:
            n = await pacer.batch()
            if not n:
                continue
            if await self._r.zcard(REPORTS_SCHEDULED) >= BACKLOG_CAP:
                continue
            pipe = self._r.pipeline(transaction=False)
            now = _now_ms()
            for _ in range(n):
                # Delays of 0-30 min, a fifth of them within the next 30 s.
                if self._rng.random() < 0.2:
                    delay = self._rng.randint(0, 30_000)
                else:
                    delay = self._rng.randint(30_000, 30 * 60_000)
                due = now + delay
                member = {"id": _uuid(self._rng), "payload": _report(self._rng),
                          "scheduled_at": due}
                pipe.zadd(REPORTS_SCHEDULED, {_dumps(member): due})
            await pipe.execute()
            self.counts["reports.scheduled"] += n

    async def _process_scheduled(self) -> int:
        """The seed's Lua ``process_scheduled`` (due jobs: ZREM + RPUSH ready), with
        WATCH/MULTI/EXEC, in chunks of SCHEDULE_CHUNK."""
        moved = 0
        now = _now_ms()
        async with self._r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(REPORTS_SCHEDULED)
                    due = await pipe.zrangebyscore(REPORTS_SCHEDULED, "-inf", now,
                                                   start=0, num=SCHEDULE_CHUNK)
                    if not due:
                        return moved
                    pipe.multi()
                    for job in due:
                        pipe.zrem(REPORTS_SCHEDULED, job)
                        pipe.rpush(REPORTS_READY, job)
                    await pipe.execute()
                    moved += len(due)
                    self.counts["reports.moved"] += len(due)
                    if len(due) < SCHEDULE_CHUNK:
                        return moved
                except WatchError:
                    self.counts["reports.watch_retries"] += 1
                    continue

    async def _reports_scheduler(self) -> None:
        """Every second, move due jobs, except that it stalls for the last 20 s of every
        minute (so an overdue backlog shows)."""
        interval = max(self._scaled(1.0), 0.05)
        cycle, stall = self._scaled(60.0), self._scaled(20.0)
        started = time.monotonic()
        while True:
            await asyncio.sleep(interval)
            if (time.monotonic() - started) % cycle >= cycle - stall:
                continue  # stalled
            moved = await self._process_scheduled()
            if moved:
                log.debug("workload: moved %d scheduled jobs to ready queue", moved)

    async def _reports_consumer(self) -> None:
        pacer = _Pacer(8 * self.rate)
        while True:
            await pacer.acquire()
            if await self._r.blpop([REPORTS_READY], timeout=1) is not None:
                self.counts["reports.done"] += 1

    # -- 6. main queue with DLQ ---------------------------------------------------------

    async def _main_producer(self) -> None:
        pacer = _Pacer(15 * self.rate)
        while True:
            n = await pacer.batch()
            if n:
                now = _now_ms()
                values = [_dumps(_retry_wrapper(_uuid(self._rng), _main_job(self._rng), 0, None,
                                                now)) for _ in range(n)]
                await self._push_batch(MAIN, values, "main.pushed")

    async def _main_worker(self) -> None:
        while True:
            item = await self._r.blpop([MAIN], timeout=1)
            if item is None:
                continue
            raw = item[1]
            try:
                wrapper = json.loads(raw)
                if not isinstance(wrapper, dict) or not _RETRY_FIELDS <= wrapper.keys():
                    raise ValueError("not a RetryWrapper")
                retry_count = int(wrapper["retry_count"])
            except (ValueError, TypeError):
                # Not a RetryWrapper (e.g. pushed by hand): keep it, unchanged, in the DLQ.
                await self._r.rpush(MAIN_DLQ, raw)
                self.counts["main.unparseable"] += 1
                continue
            await asyncio.sleep(self._scaled(self._rng.uniform(0.005, 0.040)))  # "work"
            if self._rng.random() >= 0.30:
                self.counts["main.done"] += 1
                continue
            error = _failure_reason(self._rng, wrapper["payload"])
            if retry_count < MAX_RETRIES:
                retry = _retry_wrapper(wrapper["id"], wrapper["payload"], retry_count + 1, error,
                                       wrapper["first_attempt"])
                await self._r.rpush(MAIN, _dumps(retry))
                self.counts["main.retried"] += 1
            else:
                dead = {"job": wrapper, "dead_at": _now_ms(), "reason": error}
                await self._r.rpush(MAIN_DLQ, _dumps(dead))
                self.counts["main.dead"] += 1

    # -- pub/sub ------------------------------------------------------------------------

    async def _publisher(self) -> None:
        pacer = _Pacer(10 * self.rate)
        while True:
            n = await pacer.batch()
            if not n:
                continue
            pipe = self._r.pipeline(transaction=False)
            for _ in range(n):
                channel = self._rng.choices(DEMO_CHANNELS, weights=(50, 35, 15))[0]
                event = {"order_id": f"ORD-{self._rng.randint(10000, 99999)}",
                         "user_id": f"user_{self._rng.randint(1, 500)}",
                         "total": round(self._rng.uniform(4.0, 400.0), 2),
                         "ts": _now_ms()}
                pipe.publish(channel, _dumps(event))
            await pipe.execute()
            self.counts["pubsub.published"] += n

    async def _subscriber(self, channels: Sequence[str], patterns: Sequence[str]) -> None:
        """A subscriber that drains its messages (so PUBSUB NUMSUB/NUMPAT show it)."""
        pubsub = self._r.pubsub()
        try:
            if channels:
                await pubsub.subscribe(*channels)
            if patterns:
                await pubsub.psubscribe(*patterns)
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None:
                    self.counts["pubsub.received"] += 1
        finally:
            try:
                await pubsub.aclose()
            except Exception as exc:
                log.debug("workload: closing a subscriber failed: %r", exc)
