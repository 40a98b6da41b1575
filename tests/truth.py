"""A workload whose every rate is known: the truth the poll's figures are checked against.

Every actor runs on a schedule (the n-th move is due at start + n / rate), so a busy machine
delays moves but does not change their long-run rate, and `counts` says what was done.
Queues keep a backlog where the figure is to be exact (a list drained between polls hides
its moves, by design: the console marks such figures as lower bounds).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

FIFO = "truth:fifo"  # RPUSH at the tail, LPOP at the head
LEFT = "truth:left"  # LPUSH at the head, RPOP at the tail
RELIABLE = "queue:truth"  # RPUSH, BRPOPLPUSH to the processing list, LREM when done
PROCESSING = "queue:truth:processing"
SCHEDULED = "queue:truthd:scheduled"  # ZADD due soon, a promoter moves due jobs to ready
READY = "queue:truthd:ready"
# Scheduled 2 s ahead, its ready list emptied as soon as jobs land: counted from due times.
LATER = "queue:truthl:scheduled"
LATER_READY = "queue:truthl:ready"
LATER_AHEAD_MS = 2000
MAIN = "truth:main"  # RPUSH, a worker pops and fails 3 jobs in 10 into the DLQ
DLQ = "truth:main:dlq"
STREAM = "truth:events"  # XADD, group g read by c1/c2 with XACK; `dead` holds entries
GROUP = "g"
DEAD_CONSUMER = "dead"
DEAD_HELD = 5

#: The known rates (per second) of every queue's in and out figure.
RATES = {
    FIFO: (20.0, 20.0),
    LEFT: (15.0, 15.0),
    RELIABLE: (4.0, 4.0),
    SCHEDULED: (8.0, 8.0),
    LATER: (6.0, 6.0),
    MAIN: (10.0, 10.0),
    DLQ: (3.0, 0.0),
    STREAM: (20.0, 20.0),
}
BACKLOG = 60
HOLD_S = 1.5  # a reliable worker holds each job this long (longer than a poll interval)
RELIABLE_WORKERS = 8
STALE_AGE_MS = 600_000


def job(i: int | str, t_ms: int | None = None) -> bytes:
    t_ms = int(time.time() * 1000) if t_ms is None else t_ms
    return json.dumps({"id": f"j{i}", "payload": {"n": i}, "enqueued_at": t_ms}).encode()


def stale_job() -> bytes:
    return job("stale", int(time.time() * 1000) - STALE_AGE_MS)


class TruthWorkload:
    def __init__(self, url: str) -> None:
        self.url = url
        self.counts: Counter[str] = Counter()
        # No retries: a loop that stops must not be kept alive by a reconnect.
        self.r = aioredis.Redis.from_url(url, retry=Retry(NoBackoff(), 0))
        self._stopping = False
        self._tasks: list[asyncio.Task] = []
        self._serial = 0
        self.stale = stale_job()  # a job a dead worker left in the processing list

    def _next(self) -> int:
        self._serial += 1
        return self._serial

    async def seed(self) -> None:
        now = int(time.time() * 1000)
        r = self.r
        pipe = r.pipeline(transaction=False)
        # Backlogs, oldest at the consumer's end: 30 s old down to now.
        for i in range(BACKLOG):
            t = now - 30_000 + i * 500
            pipe.rpush(FIFO, job(f"f{i}", t))
            pipe.lpush(LEFT, job(f"l{i}", t))
            pipe.rpush(MAIN, job(f"m{i}", t))
        for i in range(BACKLOG // 2):
            pipe.rpush(READY, job(f"r{i}", now))
        pipe.rpush(DLQ, json.dumps({"job": {"id": "old", "payload": 1, "retry_count": 3,
                                            "last_error": "boom", "first_attempt": now},
                                    "dead_at": now - 60_000, "reason": "boom"}))
        pipe.lpush(PROCESSING, self.stale)
        # Discovered from the start: one job due in an hour.
        pipe.zadd(LATER, {json.dumps({"id": "later", "payload": 1,
                                      "scheduled_at": now + 3_600_000}): now + 3_600_000})
        for i in range(DEAD_HELD):
            pipe.xadd(STREAM, {"data": json.dumps({"n": i})})
        pipe.xgroup_create(STREAM, GROUP, "0", mkstream=True)
        await pipe.execute()
        await r.xreadgroup(GROUP, DEAD_CONSUMER, {STREAM: ">"}, count=DEAD_HELD)
        # The live consumers exist (with nothing held) from the start.
        for consumer in ("c1", "c2"):
            await r.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=1)

    def start(self) -> None:
        paced = [
            (RATES[FIFO][0], self._push(FIFO, "rpush")),
            (RATES[FIFO][1], self._pop(FIFO, "lpop")),
            (RATES[LEFT][0], self._push(LEFT, "lpush")),
            (RATES[LEFT][1], self._pop(LEFT, "rpop")),
            (RATES[RELIABLE][0], self._push(RELIABLE, "rpush")),
            (RATES[SCHEDULED][0], self._schedule),
            (RATES[SCHEDULED][1], self._pop(READY, "lpop")),
            (RATES[LATER][0], self._schedule_later),
            (50.0, self._pop(LATER_READY, "lpop")),  # faster than jobs come due
            (RATES[MAIN][0], self._push(MAIN, "rpush")),
            (RATES[MAIN][1], self._work_main),
            (RATES[STREAM][0], self._xadd),
        ]
        for rate, fn in paced:
            self._tasks.append(asyncio.create_task(self._paced(rate, fn)))
        for _ in range(RELIABLE_WORKERS):
            self._tasks.append(asyncio.create_task(self._reliable_worker()))
        for consumer in ("c1", "c2"):
            self._tasks.append(asyncio.create_task(self._stream_consumer(consumer)))
        self._tasks.append(asyncio.create_task(self._promoter()))

    async def stop(self) -> None:
        """Every loop ends at its next step (blocking reads time out within a second), so
        nothing depends on a cancel reaching a client call."""
        self._stopping = True
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.r.aclose()

    async def _paced(self, rate: float, fn: Callable[[], Awaitable[None]]) -> None:
        start = time.monotonic()
        done = 0
        while not self._stopping:
            due = int((time.monotonic() - start) * rate)
            while done < due and not self._stopping:
                await fn()
                done += 1
            await asyncio.sleep(0.01)

    def _push(self, key: str, command: str) -> Callable[[], Awaitable[None]]:
        async def push() -> None:
            await getattr(self.r, command)(key, job(self._next()))
            self.counts[f"{key}.in"] += 1
        return push

    def _pop(self, key: str, command: str) -> Callable[[], Awaitable[None]]:
        async def pop() -> None:
            if await getattr(self.r, command)(key) is not None:
                self.counts[f"{key}.out"] += 1
        return pop

    async def _schedule(self) -> None:
        due = int(time.time() * 1000) + 500
        await self.r.zadd(SCHEDULED, {json.dumps({"id": self._next(), "payload": 1,
                                                  "scheduled_at": due}): due})
        self.counts[f"{SCHEDULED}.in"] += 1

    async def _schedule_later(self) -> None:
        due = int(time.time() * 1000) + LATER_AHEAD_MS
        await self.r.zadd(LATER, {json.dumps({"id": self._next(), "payload": 1,
                                              "scheduled_at": due}): due})
        self.counts[f"{LATER}.in"] += 1

    async def _promoter(self) -> None:
        while not self._stopping:
            now = int(time.time() * 1000)
            for scheduled, ready in ((SCHEDULED, READY), (LATER, LATER_READY)):
                due = await self.r.zrangebyscore(scheduled, "-inf", now, start=0, num=100)
                if due:
                    pipe = self.r.pipeline(transaction=True)
                    for member in due:
                        pipe.zrem(scheduled, member)
                        pipe.rpush(ready, member)
                    await pipe.execute()
                    self.counts[f"{scheduled}.out"] += len(due)
            await asyncio.sleep(0.1)

    async def _work_main(self) -> None:
        raw = await self.r.lpop(MAIN)
        if raw is None:
            return
        self.counts[f"{MAIN}.out"] += 1
        n = self.counts[f"{MAIN}.out"]
        if n % 10 < 3:  # 3 in 10 fail for good
            dead = {"job": {"id": str(n), "payload": 1, "retry_count": 3,
                            "last_error": "boom", "first_attempt": int(time.time() * 1000)},
                    "dead_at": int(time.time() * 1000), "reason": "boom"}
            await self.r.rpush(DLQ, json.dumps(dead))
            self.counts[f"{DLQ}.in"] += 1

    async def _reliable_worker(self) -> None:
        while not self._stopping:
            raw = await self.r.brpoplpush(RELIABLE, PROCESSING, timeout=1)
            if raw is None:
                continue
            self.counts[f"{RELIABLE}.taken"] += 1
            await asyncio.sleep(HOLD_S)
            await self.r.lrem(PROCESSING, 1, raw)
            self.counts[f"{RELIABLE}.out"] += 1

    async def _xadd(self) -> None:
        await self.r.xadd(STREAM, {"data": json.dumps({"n": self._next()})})
        self.counts[f"{STREAM}.in"] += 1

    async def _stream_consumer(self, consumer: str) -> None:
        while not self._stopping:
            reply = await self.r.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=10,
                                            block=200)
            ids = [entry_id for _stream, entries in (reply or ()) for entry_id, _ in entries]
            if ids:
                await self.r.xack(STREAM, GROUP, *ids)
                self.counts[f"{STREAM}.out"] += len(ids)


# -- moves only keyspace notifications can count ----------------------------------------

DRAINED = "truth:drained"  # RPUSH, taken as soon as it lands (empty at every poll)
STACK = "truth:stack"  # RPUSH and RPOP at the same end, over a backlog
QUICK = "queue:quick"  # RPUSH, BRPOPLPUSH and LREM at once: both lists empty at every poll
QUICK_PROCESSING = "queue:quick:processing"
PRIO = "truth:prio"  # ZADD by priority, the top taken with ZPOPMAX
MULTI = "truth:multi"  # RPUSH of two elements at once: notified once per command

#: Known rates under notification counting (MULTI's are counted per command: marked).
NOTIFY_RATES = {
    DRAINED: (20.0, 20.0),
    STACK: (10.0, 10.0),
    QUICK: (8.0, 8.0),
    PRIO: (10.0, 10.0),
}
MULTI_PER_S = 5  # commands per second, two elements each


class NotifiedWorkload(TruthWorkload):
    """Lists drained between polls, a stack, a reliable queue whose jobs never stay long,
    a priority set: rates only keyspace notifications can tell exactly."""

    async def seed(self) -> None:
        now = int(time.time() * 1000)
        pipe = self.r.pipeline(transaction=False)
        for i in range(BACKLOG):
            pipe.rpush(STACK, job(f"s{i}", now))
            pipe.zadd(PRIO, {job(f"p{i}", now).decode(): i % 7})
        for key in (DRAINED, QUICK, MULTI):
            pipe.rpush(key, job(f"{key}-seed", now))  # discovered, then taken
        await pipe.execute()

    def start(self) -> None:
        paced = [
            (NOTIFY_RATES[DRAINED][0], self._push(DRAINED, "rpush")),
            (60.0, self._pop(DRAINED, "lpop")),  # faster than jobs come: always drained
            (NOTIFY_RATES[STACK][0], self._push(STACK, "rpush")),
            (NOTIFY_RATES[STACK][1], self._pop(STACK, "rpop")),
            (NOTIFY_RATES[QUICK][0], self._push(QUICK, "rpush")),
            (NOTIFY_RATES[PRIO][0], self._add_priority),
            (NOTIFY_RATES[PRIO][1], self._pop(PRIO, "zpopmax")),
            (MULTI_PER_S, self._push_two),
            (60.0, self._pop(MULTI, "lpop")),
        ]
        for rate, fn in paced:
            self._tasks.append(asyncio.create_task(self._paced(rate, fn)))
        self._tasks.append(asyncio.create_task(self._quick_worker()))

    async def _add_priority(self) -> None:
        await self.r.zadd(PRIO, {job(self._next()).decode(): self._serial % 7})

    async def _push_two(self) -> None:
        await self.r.rpush(MULTI, job(self._next()), job(self._next()))

    async def _quick_worker(self) -> None:
        while not self._stopping:
            raw = await self.r.brpoplpush(QUICK, QUICK_PROCESSING, timeout=1)
            if raw is not None:
                await self.r.lrem(QUICK_PROCESSING, 1, raw)
                self.counts[f"{QUICK}.out"] += 1
