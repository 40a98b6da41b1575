"""The demo's keys, one per pattern of the guide (``seed/message-queues.md``): their names
(hash-tagged on a cluster where a worker moves between two keys atomically), what each
holds, and the channels published to.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

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

@dataclass(frozen=True)
class DemoNames:
    """The demo's key names. On a cluster the keys a worker moves between atomically
    (BRPOPLPUSH, the scheduler's MULTI) are hash-tagged into one slot; the others are not,
    so the console meets both kinds (the DLQ and its main queue sit in two slots)."""

    emails: str = EMAILS
    orders: str = ORDERS
    orders_processing: str = ORDERS_PROCESSING
    events: str = EVENTS
    priority: str = PRIORITY
    reports_scheduled: str = REPORTS_SCHEDULED
    reports_ready: str = REPORTS_READY
    main: str = MAIN
    main_dlq: str = MAIN_DLQ

    def all(self) -> tuple[str, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))


DEFAULT_NAMES = DemoNames()
CLUSTER_NAMES = DemoNames(
    orders="queue:{orders}", orders_processing="queue:{orders}:processing",
    reports_scheduled="queue:{reports}:scheduled", reports_ready="queue:{reports}:ready",
)

#: Pub/sub channels published to, and what the demo subscribers listen on.
DEMO_CHANNELS: tuple[str, ...] = ("orders.created", "orders.paid", "orders.cancelled")
SUBSCRIBED_CHANNELS: tuple[str, ...] = ("orders.created", "orders.paid")
DEMO_PATTERNS: tuple[str, ...] = ("orders.*",)

MAX_RETRIES = 3
RETRY_FIELDS = frozenset({"id", "payload", "retry_count", "last_error", "first_attempt"})
STREAM_MAXLEN = 10_000
#: Producers skip a tick while their queue holds this many items, so a demo left running
#: for hours keeps the server small (the queues still visibly pile up first).
BACKLOG_CAP = 10_000
#: The main queue's producer waits while it holds this many jobs. A failed job is retried
#: from the queue's tail, so it dies (its fourth failure) only after three trips through
#: the whole queue: kept short, a dead letter comes within seconds also where the worker is
#: slower than the producer (a loaded machine: 27 jobs/s against 150, and no dead letter in
#: 90 s with 10,000 queued).
MAIN_BACKLOG_CAP = 100
#: Dying order workers stop leaving jobs behind once processing holds this many.
PROCESSING_CAP = 500
#: Scheduled jobs moved per MULTI (bulk work in chunks).
SCHEDULE_CHUNK = 200

