"""Live demo traffic for ``ferrite-tui demo``: every pattern of the seed, running.

Plain asyncio + redis.asyncio (no Textual). Every pattern is written exactly as the seed
(``seed/message-queues.md``) has it: the same key names, JSON envelope field names,
millisecond timestamps and push/pop sides. Where the seed uses Lua (the priority dequeue
and ``process_scheduled``) this module does the same thing atomically with
WATCH/MULTI/EXEC and retries on WatchError, because Ferrite has no Lua.

- :class:`Workload` runs producers and consumers until an :class:`asyncio.Event` is set.
- seeding.py writes the deterministic initial data (screenshots, ``--no-workload``),
  layout.py names the keys, payloads.py makes the job bodies and envelopes.

JSON is written compactly, as ``serde_json::to_string`` does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from typing import Any, cast

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ResponseError, WatchError

from ferrite_tui.demo.layout import (
    BACKLOG_CAP,
    CLUSTER_NAMES,
    DEFAULT_NAMES,
    DEMO_CHANNELS,
    DEMO_PATTERNS,
    MAIN_BACKLOG_CAP,
    MAX_RETRIES,
    PROCESSING_CAP,
    RETRY_FIELDS,
    SCHEDULE_CHUNK,
    STREAM_MAXLEN,
    SUBSCRIBED_CHANNELS,
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

log = logging.getLogger(__name__)

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

    def __init__(self, url: str, *, rate: float = 1.0, rng_seed: int | None = None,
                 names: DemoNames | None = None, cluster: bool = False) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be > 0, got {rate!r}")
        self.url = url
        self.names = names or (CLUSTER_NAMES if cluster else DEFAULT_NAMES)
        self.cluster = cluster
        self.rate = float(rate)
        self._rng = random.Random(rng_seed)
        #: Events done so far, by name (e.g. ``emails.pushed``, ``main.dead``).
        self.counts: Counter[str] = Counter()
        self._client: Redis | None = None
        self._node: Redis | None = None  # cluster: one node's plain client for pub/sub
        self._stop: asyncio.Event | None = None

    # -- lifecycle ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; then cancel every task and close connections."""
        self._stop = stop
        # socket_timeout=None (redis-py's default is 5 s): with a timeout, redis-py wraps
        # every send in asyncio.wait_for, which on Python 3.11 can swallow a cancellation,
        # so a stopping task would carry on. Blocking reads are bounded by their own
        # timeouts (1 s), and a lost server resets the socket.
        self._client = client = self._connect()
        if self.cluster:
            # A cluster relays PUBLISH to every node: one node's plain client serves the
            # publisher (pipelined) and the subscribers.
            self._node = Redis.from_url(self.url, socket_timeout=None,
                                        socket_connect_timeout=3.0, retry=Retry(NoBackoff(), 0))
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
            self._client = None
            node, self._node = self._node, None
            if node is not None:
                with suppress(Exception):
                    await node.aclose()
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

    def _connect(self) -> Redis:
        options: dict[str, Any] = {
            "socket_timeout": None,
            "socket_connect_timeout": 3.0,
            "retry": Retry(NoBackoff(), 0),  # the loops back off and retry themselves
        }
        if self.cluster:
            # redis-py's cluster client takes the commands the loops send (hash-tagged
            # where a command names two keys, see CLUSTER_NAMES).
            return cast(Redis, RedisCluster.from_url(self.url, **options))
        return Redis.from_url(self.url, **options)

    @property
    def _r(self) -> Redis:
        assert self._client is not None, "Workload.run() is not running"
        return self._client

    @property
    def _pubsub_client(self) -> Redis:
        return self._node if self._node is not None else self._r

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

    async def _push_batch(self, key: str, values: Sequence[bytes], counter: str,
                          cap: int = BACKLOG_CAP) -> None:
        """RPUSH each value (one RPUSH per job, as the seed's enqueue), pipelined.

        Skipped while the list holds `cap` items (checked with LLEN)."""
        if await self._r.llen(key) >= cap:
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
                jobs = [dumps(email_job(self._rng)) for _ in range(n)]
                await self._push_batch(self.names.emails, jobs, "emails.pushed")

    async def _emails_consumer(self) -> None:
        pacer = _Pacer(18 * self.rate)
        while True:
            await pacer.acquire()
            if await self._r.blpop([self.names.emails], timeout=1) is not None:
                self.counts["emails.popped"] += 1

    # -- 2. reliable queue --------------------------------------------------------------

    async def _orders_producer(self) -> None:
        pacer = _Pacer(40 * self.rate)
        while True:
            n = await pacer.batch()
            if n:
                now = wall_clock_ms()
                values = [dumps(job_wrapper(self._rng, random_order(self._rng), now))
                          for _ in range(n)]
                await self._push_batch(self.names.orders, values, "orders.pushed")

    async def _orders_worker(self, number: int) -> None:
        processing_len = 0
        while True:
            raw = await self._r.brpoplpush(self.names.orders, self.names.orders_processing,
                                           timeout=1)
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
            pipe.lrem(self.names.orders_processing, 1, raw)  # ack: remove the exact JSON
            pipe.llen(self.names.orders_processing)
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
            now = wall_clock_ms()
            for _ in range(n):
                pipe.xadd(self.names.events, {"data": dumps(random_event(self._rng, now))},
                          maxlen=STREAM_MAXLEN, approximate=True)
            await pipe.execute()
            self.counts["events.added"] += n

    async def _events_consumer(self, consumer: str) -> None:
        while True:
            try:
                reply = await self._r.xreadgroup(WORKERS_GROUP, consumer, {self.names.events: ">"},
                                                 count=10, block=1000)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                # Not seeded: create the group as the seed does (from "0"), then read.
                with suppress(ResponseError):  # BUSYGROUP: the other consumer made it
                    await self._r.xgroup_create(self.names.events, WORKERS_GROUP, id="0",
                                                mkstream=True)
                continue
            streams = reply.items() if isinstance(reply, dict) else reply or ()  # RESP3 / 2
            ids = [entry_id for _stream, entries in streams for entry_id, *_ in entries]
            if ids:
                await self._r.xack(self.names.events, WORKERS_GROUP, *ids)
                self.counts["events.acked"] += len(ids)

    # -- 4. priority queue --------------------------------------------------------------

    async def _priority_producer(self) -> None:
        pacer = _Pacer(10 * self.rate)
        while True:
            n = await pacer.batch()
            if not n:
                continue
            if await self._r.zcard(self.names.priority) >= BACKLOG_CAP:
                continue
            pipe = self._r.pipeline(transaction=False)
            now = wall_clock_ms()
            for _ in range(n):
                task, priority = random_task(self._rng)
                member = {"id": random_id(self._rng), "payload": task, "enqueued_at": now}
                pipe.zadd(self.names.priority, {dumps(member): priority})
            await pipe.execute()
            self.counts["priority.added"] += n

    async def _priority_dequeue(self) -> tuple[bytes, float] | None:
        """The seed's Lua dequeue (ZREVRANGE 0 0 WITHSCORES + ZREM), with WATCH/MULTI."""
        async with self._r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(self.names.priority)
                    top = await pipe.zrevrange(self.names.priority, 0, 0, withscores=True)
                    if not top:
                        return None
                    member, score = top[0]
                    pipe.multi()
                    pipe.zrem(self.names.priority, member)
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
            if await self._r.zcard(self.names.reports_scheduled) >= BACKLOG_CAP:
                continue
            pipe = self._r.pipeline(transaction=False)
            now = wall_clock_ms()
            for _ in range(n):
                # Delays of 0-30 min, a fifth of them within the next 30 s.
                if self._rng.random() < 0.2:
                    delay = self._rng.randint(0, 30_000)
                else:
                    delay = self._rng.randint(30_000, 30 * 60_000)
                due = now + delay
                member = {"id": random_id(self._rng), "payload": random_report(self._rng),
                          "scheduled_at": due}
                pipe.zadd(self.names.reports_scheduled, {dumps(member): due})
            await pipe.execute()
            self.counts["reports.scheduled"] += n

    async def _process_scheduled(self) -> int:
        """The seed's Lua ``process_scheduled`` (due jobs: ZREM + RPUSH ready), with
        WATCH/MULTI/EXEC, in chunks of SCHEDULE_CHUNK."""
        moved = 0
        now = wall_clock_ms()
        async with self._r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(self.names.reports_scheduled)
                    due = await pipe.zrangebyscore(self.names.reports_scheduled, "-inf", now,
                                                   start=0, num=SCHEDULE_CHUNK)
                    if not due:
                        return moved
                    pipe.multi()
                    for job in due:
                        pipe.zrem(self.names.reports_scheduled, job)
                        pipe.rpush(self.names.reports_ready, job)
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
            if await self._r.blpop([self.names.reports_ready], timeout=1) is not None:
                self.counts["reports.done"] += 1

    # -- 6. main queue with DLQ ---------------------------------------------------------

    async def _main_producer(self) -> None:
        pacer = _Pacer(15 * self.rate)
        while True:
            n = await pacer.batch()
            if n:
                now = wall_clock_ms()
                values = [dumps(retry_wrapper(random_id(self._rng), main_job(self._rng), 0, None,
                                                now)) for _ in range(n)]
                await self._push_batch(self.names.main, values, "main.pushed",
                                       cap=MAIN_BACKLOG_CAP)

    async def _main_worker(self) -> None:
        while True:
            item = await self._r.blpop([self.names.main], timeout=1)
            if item is None:
                continue
            raw = item[1]
            try:
                wrapper = json.loads(raw)
                if not isinstance(wrapper, dict) or not RETRY_FIELDS <= wrapper.keys():
                    raise ValueError("not a RetryWrapper")
                retry_count = int(wrapper["retry_count"])
            except (ValueError, TypeError):
                # Not a RetryWrapper (e.g. pushed by hand): keep it, unchanged, in the DLQ.
                await self._r.rpush(self.names.main_dlq, raw)
                self.counts["main.unparseable"] += 1
                continue
            await asyncio.sleep(self._scaled(self._rng.uniform(0.005, 0.040)))  # "work"
            if self._rng.random() >= 0.30:
                self.counts["main.done"] += 1
                continue
            error = failure_reason(self._rng, wrapper["payload"])
            if retry_count < MAX_RETRIES:
                retry = retry_wrapper(wrapper["id"], wrapper["payload"], retry_count + 1, error,
                                       wrapper["first_attempt"])
                await self._r.rpush(self.names.main, dumps(retry))
                self.counts["main.retried"] += 1
            else:
                dead = {"job": wrapper, "dead_at": wall_clock_ms(), "reason": error}
                await self._r.rpush(self.names.main_dlq, dumps(dead))
                self.counts["main.dead"] += 1

    # -- pub/sub ------------------------------------------------------------------------

    async def _publisher(self) -> None:
        pacer = _Pacer(10 * self.rate)
        while True:
            n = await pacer.batch()
            if not n:
                continue
            pipe = self._pubsub_client.pipeline(transaction=False)
            for _ in range(n):
                channel = self._rng.choices(DEMO_CHANNELS, weights=(50, 35, 15))[0]
                event = {"order_id": f"ORD-{self._rng.randint(10000, 99999)}",
                         "user_id": f"user_{self._rng.randint(1, 500)}",
                         "total": round(self._rng.uniform(4.0, 400.0), 2),
                         "ts": wall_clock_ms()}
                pipe.publish(channel, dumps(event))
            await pipe.execute()
            self.counts["pubsub.published"] += n

    async def _subscriber(self, channels: Sequence[str], patterns: Sequence[str]) -> None:
        """A subscriber that drains its messages (so PUBSUB NUMSUB/NUMPAT show it)."""
        pubsub = self._pubsub_client.pubsub()
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
