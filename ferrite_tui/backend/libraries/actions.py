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
from ferrite_tui.backend.client import Client, mutation
from ferrite_tui.backend.errors import BackendError
from ferrite_tui.backend.libraries import arq, celery, dramatiq, rq, saq
from ferrite_tui.backend.libraries.model import LibraryQueue, State, StateKey
from ferrite_tui.backend.movebase import Item, pinned
from ferrite_tui.backend.moves import remove_values

MAX_ATTEMPTS = 5


@dataclass
class ActionResult:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # no longer where they were seen
    errors: list[str] = field(default_factory=list)
    # Left to the library's own API (RQ's rate-limited jobs): job id -> its refusal, which
    # stands in `errors` until the library's own call has taken the job
    owner: dict[str, str] = field(default_factory=dict)


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
        """Delete jobs seen in `state_key` as RQ's Job.delete(remove_from_queue=True) does:
        LREM the queue, ZREM the registry of its stored status, DEL the job hash, its
        dependents and dependencies sets, results and (empty) executions. A member is a job
        id (`id:execution_id` in `rq:wip:Q`).

        Refused, nothing sent, and listed in `errors`: a started job (RQ stops it with its
        own command), a rate-limited one (RQ 3 frees its slot with its own script: listed in
        `owner` too, for RQ's own Job.delete) and a group member (RQ updates the group)."""
        res = ActionResult()
        is_list = state_key == f"rq:queue:{queue.name}"
        for member in members:
            job_id = member.split(":", 1)[0]
            job_key = f"rq:job:{job_id}"
            executions = f"rq:executions:{job_id}"
            seen = ([("LPOS", state_key, member)] if is_list
                    else [("ZSCORE", state_key, member)])
            check = [*seen, ("HMGET", job_key, "status", "origin", "rate_limit_key",
                             "group_id"), ("ZCARD", executions)]
            refused: list[str] = []
            by_owner: dict[str, str] = {}

            def ok(r: list, job_id: str = job_id, refused: list[str] = refused,
                   by_owner: dict[str, str] = by_owner) -> bool:
                if r[0] is None or isinstance(r[0], Exception) or isinstance(r[1], Exception):
                    return False
                status, _origin, rate_limit, group = (_text(v) for v in r[1])
                why = _rq_refusal(job_id, status, rate_limit, group, r[2])
                if why:
                    refused.append(why)
                    if (rate_limit or status == "rate_limited") and status != "started" \
                            and not group:
                        by_owner[job_id] = why
                    return False
                return True

            def build(r: list, job_id: str = job_id, job_key: str = job_key,
                      executions: str = executions, member: str = member) -> list[tuple]:
                status, origin = _text(r[1][0]), _text(r[1][1]) or queue.name
                cmds: list[tuple] = [("LREM", f"rq:queue:{origin}", 1, job_id)]
                registry = RQ_STATUS_REGISTRY.get(status or "")
                if registry:
                    cmds.append(("ZREM", f"rq:{registry}:{origin}", job_id))
                if not is_list and state_key.split(":", 2)[1] != registry:
                    cmds.append(("ZREM", state_key, member))  # where it was seen
                # RQ 3 names the dependencies set `rq:job::ID:dependencies` (its
                # dependencies_key adds a colon to the job prefix); older RQ without it.
                cmds.append(("DEL", job_key, job_key + ":dependents",
                             job_key + ":dependencies", f"rq:job::{job_id}:dependencies",
                             f"rq:results:{job_id}", executions))
                return cmds

            done = await self._transact([state_key, job_key, executions], check, ok, build)
            if refused:
                res.errors.extend(refused)
                res.owner.update(by_owner)
            else:
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

    @mutation("arq run now")
    async def arq_run_now(self, queue: LibraryQueue, items: Sequence[Item]) -> ActionResult:
        """Make arq jobs due now, as arq's own enqueue_job(_defer_until=now) scores them:
        ZADD XX the job id at the server's time (ms) in the queue's zset, which arq's worker
        polls for members at or before now. Only while the job still has the score seen
        and no worker has started it (its `arq:in-progress:ID` marker)."""
        res = ActionResult()
        for it in items:
            job_id = it.raw.decode("utf-8", "surrogateescape")
            seen = getattr(it, "score", None)
            marker = arq.IN_PROGRESS + job_id

            def still_waiting(r: list, seen: float | None = seen) -> bool:
                score, started, _time = r
                return (score is not None and not isinstance(score, Exception)
                        and started == 0 and (seen is None or float(score) == seen))

            def due_now(r: list, job_id: str = job_id) -> list[tuple]:
                sec, usec = (int(v) for v in r[2])
                now_ms = sec * 1000 + usec // 1000
                # Never later than it already was: a due job keeps its place.
                return [("ZADD", queue.name, "XX", min(now_ms, float(r[0])), job_id)]

            done = await self._transact(
                [queue.name, marker],
                [("ZSCORE", queue.name, job_id), ("EXISTS", marker), ("TIME",)],
                still_waiting, due_now)
            (res.done if done else res.skipped).append(job_id)
        self.client.audit("arq run now", [queue.name], len(res.done), res.done)
        return res

    @mutation("arq delete")
    async def arq_delete(self, queue: LibraryQueue, job_ids: Sequence[str]) -> ActionResult:
        """Delete queued or deferred arq jobs seen in the queue's sorted set as arq's worker
        leaves a job aborted before start: ZREM the queue and `arq:abort`, DEL the body and
        retry counter (Job.status() is then not_found). A job a worker has started (its
        `arq:in-progress:ID` marker exists) is skipped."""
        res = ActionResult()
        for job_id in job_ids:
            marker = arq.IN_PROGRESS + job_id
            done = await self._transact(
                [queue.name, marker], [("ZSCORE", queue.name, job_id), ("EXISTS", marker)],
                lambda r: r[0] is not None and not isinstance(r[0], Exception) and r[1] == 0,
                lambda _r, job_id=job_id: [("ZREM", queue.name, job_id),
                                           ("ZREM", arq.ABORT, job_id),
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


#: RQ's job status -> the registry Job.delete removes it from (rq/job.py
#: _remove_from_registries); "queued" is in the queue list only.
RQ_STATUS_REGISTRY = {"finished": "finished", "deferred": "deferred", "scheduled": "scheduled",
                      "failed": "failed", "stopped": "failed", "canceled": "canceled",
                      "ready_to_enqueue": "ready"}
RQ_STOP = ("a worker runs it: stop it with RQ's own command (rq.command.send_stop_job_command"
           "(connection, id)), then delete it")


def _rq_refusal(job_id: str, status: str | None, rate_limit: str | None, group: str | None,
                executions: object) -> str | None:
    """Why the console does not delete this RQ job itself (RQ's own API must)."""
    if status == "started" or (isinstance(executions, int) and executions > 0):
        return f"rq job {job_id}: {RQ_STOP}"
    if rate_limit or status == "rate_limited":
        return (f"rq job {job_id}: rate-limited; RQ 3 frees its slot with its own script: "
                "delete it with RQ's Job.fetch(id, connection).delete()")
    if group:
        return (f"rq job {job_id}: in group {group}; delete it with RQ's "
                "Job.fetch(id, connection).delete() (RQ updates the group)")
    return None


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
