"""A server filled by hand, as a team writes its queues with plain commands (no library):
due-time sorted sets in ms and in seconds, a priority set, dead-letter lists of the common
wrapper shapes under common names, letters that name their queue, jobs with their own time
fields, and a capped stream.

Each shape's inner job is kept as written (odd numbers, key order, spaces), so a requeue
that re-serialises instead of unwrapping shows in the bytes."""

from __future__ import annotations

import json

#: The job fields of the common wrapper shapes: (job member, cause member, time member).
SHAPES = [("job", "error", "failed_at"), ("payload", "reason", "dead_at"),
          ("message", "exception", "timestamp"), ("original", "failure", "ts"),
          ("data", "error", "failedAt"), ("body", "reason", "time")]


def inner_job(i: int) -> bytes:
    """A job as its producer wrote it: bytes a re-serialisation would change."""
    return b'{ "id": "job-%d", "n": 1e2, "dup": 1, "dup": 2 }' % i


def wrapper(shape: tuple[str, str, str], i: int, now_s: int, *, queue: str | None = None,
            origin_field: str = "queue", as_string: bool = False) -> bytes:
    job_field, cause, when = shape
    job = json.dumps(inner_job(i).decode()).encode() if as_string else inner_job(i)
    head = b'{"%s":"timeout after %ds","%s":%d,"attempts":%d,' % (
        cause.encode(), i, when.encode(), now_s - 60 * i, i % 4)
    if queue is not None:
        head += b'"%s":"%s",' % (origin_field.encode(), queue.encode())
    return head + b'"%s":%s}' % (job_field.encode(), job)


def fill(sync, now_ms: int) -> dict[str, object]:
    """Write the data set; returns what a reader should find."""
    now_s = now_ms // 1000
    expect: dict[str, object] = {}
    # Due times in epoch ms: 5 in the past, 3 to come (minutes away).
    sync.zadd("emails:delayed", {f'{{"id":"d{i}"}}': now_ms + m * 60_000
                                 for i, m in enumerate((-5, -4, -3, -2, -1, 10, 20, 30))})
    # Due times in epoch seconds under a retry: name: 2 past, 4 to come. Plain members: the
    # name says what they are.
    sync.zadd("retry:webhooks", {f"r{i}": now_s + s
                                 for i, s in enumerate((-180, -90, 600, 700, 800, 900))})
    # Priorities: small numbers, job members.
    sync.zadd("jobs:by_priority", {f'{{"id":"p{i}","task":"x"}}': i % 5 for i in range(7)})
    # A leaderboard: small numbers, plain members: not a queue.
    sync.zadd("game:scores", {"ann": 10, "bob": 7})
    # Dead letters of each wrapper shape, under common names.
    for n, (name, shape) in enumerate(zip(
            ("work:a:failed", "work:b:deadletter", "dead_letters", "work:c:dead",
             "failed:work:d", "work:e:errors"), SHAPES, strict=True)):
        sync.rpush(name, *[wrapper(shape, 10 * n + i, now_s) for i in range(3)])
    # Jobs with their own time fields: seconds, milliseconds, ISO 8601.
    sync.rpush("work:a", json.dumps({"task": "a", "created_at": now_s - 600}))
    sync.rpush("work:b", json.dumps({"task": "b", "timestamp": now_ms - 120_000}))
    sync.rpush("work:c", json.dumps({"task": "c", "ts": "2020-01-01T00:00:00Z"}))
    # A capped stream: trimmed by XADD MAXLEN as it is written.
    for i in range(30):
        sync.xadd("events:capped", {"data": str(i)}, maxlen=10, approximate=False)
    return expect
