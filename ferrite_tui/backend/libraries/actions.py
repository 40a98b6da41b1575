"""Actions with each library's own semantics, exact and without Lua.

Each acts on the ids the operator saw, one optimistic transaction per job: WATCH the keys
the check reads, check the job is still where it was seen, then MULTI ... EXEC. A job that
moved meanwhile is skipped and counted, never acted on twice. Libraries whose state lives
in their own Lua scripts (BullMQ, saq) and huey's pickles are refused with the reason.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ferrite_tui.backend import boundedjson
from ferrite_tui.backend.client import BackendError, Client, mutation
from ferrite_tui.backend.libraries import arq, celery, dramatiq, rq, saq
from ferrite_tui.backend.libraries.model import LibraryQueue, State, StateKey
from ferrite_tui.backend.moves import Item, pinned, remove_values

MAX_ATTEMPTS = 5


@dataclass
class ActionResult:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # no longer where they were seen
    errors: list[str] = field(default_factory=list)


def _text(v: Any) -> str | None:
    return v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else v


def rq_now(now_s: float) -> str:
    """RQ's timestamp format (utcformat), of a time on the server's clock."""
    return datetime.fromtimestamp(now_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LibraryActions:
    def __init__(self, client: Client) -> None:
        self.client = client

    async def _transact(self, watch: Sequence[str], check: list[tuple], ok, build,
                        ) -> bool | None:
        """WATCH `watch`, run `check`; if `ok(replies)`, send MULTI + `build(replies)` +
        EXEC. True: done; False: the check failed (moved, gone); None: kept losing the race."""
        for _ in range(MAX_ATTEMPTS):
            async with pinned(self.client) as c:
                replies = await c.exchange([("WATCH", *watch), *check])
                replies = replies[1:]
                if not ok(replies):
                    await c.exchange([("UNWATCH",)])
                    return False
                tx = [("MULTI",), *build(replies), ("EXEC",)]
                out = await c.exchange(tx)
                if isinstance(out[-1], Exception):
                    raise BackendError(f"transaction refused: {out[-1]}")
                if out[-1] is not None:
                    return True
        return None

    # -- RQ ------------------------------------------------------------------------------

    async def _rq_enqueue(self, queue: LibraryQueue, registry: str, job_ids: Sequence[str],
                          action: str) -> ActionResult:
        """Move jobs from an RQ registry back to their queue as RQ's own requeue does:
        ZREM the registry, status queued, times reset, hash persisted, RPUSH the queue,
        SADD rq:queues. The check: still in the registry."""
        res = ActionResult()
        qkey = f"rq:queue:{queue.name}"
        for job_id in job_ids:
            job_key = f"rq:job:{job_id}"

            def build(_replies, job_id=job_id, job_key=job_key):
                return [("ZREM", registry, job_id),
                        ("HSET", job_key, "status", "queued",
                         "enqueued_at", rq_now(self.client.server_clock.now_s()),
                         "started_at", "", "ended_at", "", "origin", queue.name),
                        ("HDEL", job_key, "exc_info"),
                        ("PERSIST", job_key),
                        ("RPUSH", qkey, job_id),
                        ("SADD", rq.SIGNATURE, qkey)]

            done = await self._transact(
                [registry, job_key],
                [("ZSCORE", registry, job_id), ("EXISTS", job_key)],
                lambda r: r[0] is not None and not isinstance(r[0], Exception) and r[1] == 1,
                build)
            (res.done if done else res.skipped).append(job_id)
        self.client.audit(action, [registry, qkey], len(res.done), res.done)
        return res

    @mutation("rq requeue failed")
    async def rq_requeue_failed(self, queue: LibraryQueue, job_ids: Sequence[str]) -> ActionResult:
        return await self._rq_enqueue(queue, f"rq:failed:{queue.name}", job_ids,
                                      "rq requeue failed")

    @mutation("rq run scheduled now")
    async def rq_run_now(self, queue: LibraryQueue, job_ids: Sequence[str]) -> ActionResult:
        return await self._rq_enqueue(queue, f"rq:scheduled:{queue.name}", job_ids,
                                      "rq run scheduled now")

    @mutation("rq delete")
    async def rq_delete(self, queue: LibraryQueue, state_key: str,
                        members: Sequence[str]) -> ActionResult:
        """Delete jobs seen in `state_key` (the queue list or a registry) with their job
        hash and result stream. A member is a job id (`id:execution_id` in `rq:wip:Q`)."""
        res = ActionResult()
        is_list = state_key == f"rq:queue:{queue.name}"
        for member in members:
            job_id = member.split(":", 1)[0]
            job_key = f"rq:job:{job_id}"
            check = ([("LPOS", state_key, member)] if is_list
                     else [("ZSCORE", state_key, member)])
            remove = ("LREM", state_key, 1, member) if is_list else ("ZREM", state_key, member)
            done = await self._transact(
                [state_key, job_key], check,
                lambda r: r[0] is not None and not isinstance(r[0], Exception),
                lambda _r, remove=remove, job_key=job_key, job_id=job_id: [
                    remove, ("DEL", job_key, f"rq:results:{job_id}")])
            (res.done if done else res.skipped).append(job_id)
        self.client.audit("rq delete", [state_key], len(res.done), res.done)
        return res

    # -- dramatiq ------------------------------------------------------------------------

    @mutation("dramatiq requeue dead")
    async def dramatiq_requeue_dead(self, queue: LibraryQueue,
                                    message_ids: Sequence[str]) -> ActionResult:
        """Dead letters back to the queue as dramatiq's enqueue does (HSET the body into
        `Q.msgs`, RPUSH the id), removed from `.XQ` and `.XQ.msgs` in the same EXEC."""
        res = ActionResult()
        base = dramatiq.NS + queue.name
        xq, xq_msgs, q_msgs = base + ".XQ", base + ".XQ.msgs", base + ".msgs"
        for mid in message_ids:
            done = await self._transact(
                [xq, xq_msgs],
                [("ZSCORE", xq, mid), ("HGET", xq_msgs, mid)],
                lambda r: r[0] is not None and isinstance(r[1], bytes),
                lambda r, mid=mid: [("ZREM", xq, mid), ("HDEL", xq_msgs, mid),
                                    ("HSET", q_msgs, mid, r[1]), ("RPUSH", base, mid)])
            (res.done if done else res.skipped).append(mid)
        self.client.audit("dramatiq requeue dead", [xq, base], len(res.done), res.done)
        return res

    # -- Celery --------------------------------------------------------------------------

    @mutation("celery requeue unacked")
    async def celery_requeue_unacked(self, queue: LibraryQueue, tags: Sequence[str],
                                     now_s: float | None = None) -> ActionResult:
        """Messages a worker took and never acked, past the visibility timeout, back to
        the queue as kombu's own restore does: marked redelivered, RPUSH (the consumer's
        end, so they go next), removed from `unacked` and `unacked_index` in one EXEC.
        Only messages of this queue without a priority are restored (a priority message's
        sublist depends on the app's priority steps, which the console cannot see)."""
        res = ActionResult()
        vt = (celery.VISIBILITY_TIMEOUT_S if queue.visibility_timeout_s is None
              else queue.visibility_timeout_s)
        now_s = self.client.server_clock.now_s() if now_s is None else now_s

        def still_stuck(r: list) -> bool:
            score, raw = r
            if score is None or isinstance(score, Exception) or not isinstance(raw, bytes):
                return False
            entry = _json_list(raw)
            return (float(score) <= now_s - vt and entry is not None
                    and entry[2] == queue.name and not (entry[0].get("properties") or {})
                    .get("priority"))

        def restore(r: list, tag: str) -> list[tuple]:
            entry = _json_list(r[1])
            assert entry is not None  # still_stuck checked it
            envelope = entry[0]
            envelope.setdefault("headers", {})["redelivered"] = True
            envelope.setdefault("properties", {}).setdefault("delivery_info", {})[
                "redelivered"] = True
            return [("ZREM", celery.UNACKED_INDEX, tag), ("HDEL", celery.UNACKED, tag),
                    ("RPUSH", queue.name, json.dumps(envelope))]

        for tag in tags:
            done = await self._transact(
                [celery.UNACKED_INDEX, celery.UNACKED],
                [("ZSCORE", celery.UNACKED_INDEX, tag), ("HGET", celery.UNACKED, tag)],
                still_stuck, lambda r, tag=tag: restore(r, tag))
            (res.done if done else res.skipped).append(tag)
        self.client.audit("celery requeue unacked", [celery.UNACKED, queue.name],
                          len(res.done), res.done)
        return res

    @mutation("celery purge")
    async def celery_purge(self, queue: LibraryQueue, seen: int) -> ActionResult:
        """Delete every message of the queue and its priority sublists, as kombu's purge
        does, if the total is still the `seen` count (otherwise nothing is deleted)."""
        keys = [s.key for s in queue.of(State.PENDING)]
        res = ActionResult()
        done = await self._transact(
            keys, [("LLEN", k) for k in keys],
            lambda r: sum(v for v in r if isinstance(v, int)) == seen,
            lambda _r: [("DEL", *keys)])
        if done:
            res.done.append(str(seen))
        else:
            res.skipped.append(str(seen))
        self.client.audit("celery purge", keys, seen if done else 0)
        return res


    # -- arq, huey, saq: deletes ------------------------------------------------------------

    @mutation("arq delete")
    async def arq_delete(self, queue: LibraryQueue, job_ids: Sequence[str]) -> ActionResult:
        """Delete queued or deferred arq jobs seen in the queue's sorted set, with their
        body and retry marker, as arq's own abort-before-start leaves them. A job a worker
        has started (its `arq:in-progress:ID` marker exists) is skipped."""
        res = ActionResult()
        for job_id in job_ids:
            marker = arq.IN_PROGRESS + job_id
            done = await self._transact(
                [queue.name, marker], [("ZSCORE", queue.name, job_id), ("EXISTS", marker)],
                lambda r: r[0] is not None and not isinstance(r[0], Exception) and r[1] == 0,
                lambda _r, job_id=job_id: [("ZREM", queue.name, job_id),
                                           ("DEL", arq.JOB_PREFIX + job_id,
                                            arq.RETRY + job_id)])
            (res.done if done else res.skipped).append(job_id)
        self.client.audit("arq delete", [queue.name], len(res.done), res.done)
        return res

    @mutation("huey delete")
    async def huey_delete(self, queue: LibraryQueue, state: StateKey,
                          items: Sequence[Item]) -> ActionResult:
        """Delete huey messages (pickles, held whole in the key) by their exact value: from
        the queue list, the schedule or priority sorted set, or the results hash (the item
        is a field, removed only while it still holds the value seen)."""
        res = ActionResult()
        if state.type == "list":
            moved = await remove_values(self.client, state.key, items)
            res.done = [_sha(it.raw) for it, _ in moved.moved]
            res.skipped = [_sha(it.raw) for it in moved.missing + moved.failed]
            res.errors = list(moved.errors)
        else:
            for it in items:
                seen = getattr(it, "value", None)  # a hash field's value when seen
                if state.type == "zset":
                    check, remove = ("ZSCORE", state.key, it.raw), ("ZREM", state.key, it.raw)
                else:
                    check, remove = ("HGET", state.key, it.raw), ("HDEL", state.key, it.raw)
                done = await self._transact(
                    [state.key], [check],
                    lambda r, seen=seen: (r[0] is not None and not isinstance(r[0], Exception)
                                          and (seen is None or r[0] == seen)),
                    lambda _r, remove=remove: [remove])
                (res.done if done else res.skipped).append(_sha(it.raw))
        self.client.audit("huey delete", [state.key], len(res.done), res.done)
        return res

    @mutation("saq delete")
    async def saq_delete(self, queue: LibraryQueue, state: StateKey,
                         job_keys: Sequence[str]) -> ActionResult:
        """Delete saq jobs not yet taken by a worker: the job key seen in `queued` (or a
        scheduled one in `incomplete`) is removed from both, with its JSON body, in one
        EXEC; a job that moved to `active` meanwhile is skipped."""
        res = ActionResult()
        base = f"{saq.PREFIX}{queue.name}:"
        queued, incomplete = base + "queued", base + "incomplete"
        for job_key in job_keys:
            check = ([("LPOS", queued, job_key)] if state.type == "list"
                     else [("ZSCORE", incomplete, job_key)])
            done = await self._transact(
                [queued, incomplete, job_key], check,
                lambda r: r[0] is not None and not isinstance(r[0], Exception),
                lambda _r, job_key=job_key: [("LREM", queued, 1, job_key),
                                             ("ZREM", incomplete, job_key),
                                             ("DEL", job_key)])
            (res.done if done else res.skipped).append(job_key)
        self.client.audit("saq delete", [state.key], len(res.done), res.done)
        return res


def _sha(raw: bytes) -> str:
    return "sha1:" + hashlib.sha1(raw).hexdigest()[:12]


def _json_list(raw: bytes) -> list | None:
    """kombu's unacked entry: [envelope, exchange, routing_key]."""
    try:
        entry = boundedjson.loads(raw)
    except ValueError:
        return None
    if isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], dict):
        return entry
    return None


def actions_for(queue: LibraryQueue) -> tuple[str, ...]:
    """What the console can do to this library's queue (by action name)."""
    if queue.library == rq.LIBRARY:
        return ("requeue failed", "requeue all failed", "run scheduled now", "delete")
    if queue.library == dramatiq.LIBRARY:
        return ("requeue dead",)
    if queue.library == celery.LIBRARY:
        return ("purge", "requeue unacked past the visibility timeout")
    return ()
