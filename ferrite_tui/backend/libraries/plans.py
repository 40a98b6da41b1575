"""What a library action will act on: the ids it reads now, which the confirmation counts
and the action then names exactly (principle: act on what was seen)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from ferrite_tui.backend.client import Client
from ferrite_tui.backend.envelopes import key_text
from ferrite_tui.backend.libraries import (
    arq,
    bullmq,
    bullmq_api,
    celery,
    dramatiq,
    huey,
    rq,
    rq_api,
    saq,
    saq_api,
    taskiq,
)
from ferrite_tui.backend.libraries.actions import ActionResult, LibraryActions
from ferrite_tui.backend.libraries.items import member_id
from ferrite_tui.backend.libraries.model import LibraryQueue, State, StateKey
from ferrite_tui.backend.movebase import Item

#: At most this many items per action (one confirmation); run it again for more.
MAX_ITEMS = 1000


@dataclass(frozen=True)
class Plan:
    action: str  # an ACTIONS key
    queue: LibraryQueue
    ids: tuple[str, ...]  # what was seen (for purge: the count seen, as one item)
    question: str  # the confirmation's text, with the exact count

    @property
    def count(self) -> int:
        return int(self.ids[0]) if self.action == "celery-purge" else len(self.ids)


#: action id -> (library, label shown in the palette)
ACTIONS = {
    "rq-requeue-failed": (rq.LIBRARY, "requeue every failed job"),
    "rq-run-scheduled": (rq.LIBRARY, "run every scheduled job now"),
    "dramatiq-requeue-dead": (dramatiq.LIBRARY, "requeue every dead message"),
    "celery-purge": (celery.LIBRARY, "purge the queue (all priorities)"),
    "celery-requeue-unacked": (celery.LIBRARY,
                               "requeue unacked messages past the visibility timeout"),
}


def actions_for(queue: LibraryQueue) -> list[tuple[str, str]]:
    """The queue-wide actions its layout declares (the palette offers only these)."""
    return [(action, label) for action, (_lib, label) in ACTIONS.items()
            if queue.declared(action) is not None and queue.read_only is None]


async def plan(client: Client, action: str, queue: LibraryQueue) -> Plan:
    name = queue.name
    if action in ("rq-requeue-failed", "rq-run-scheduled"):
        registry = f"rq:{'failed' if action == 'rq-requeue-failed' else 'scheduled'}:{name}"
        (ids,) = await client.raw_pipeline([("ZRANGE", registry, 0, MAX_ITEMS - 1)])
        what = "failed jobs" if action == "rq-requeue-failed" else "scheduled jobs"
        verb = "Requeue" if action == "rq-requeue-failed" else "Run now"
        return _plan(action, queue, ids, f"{verb}: {{n}} {what} of RQ queue {name}, to the "
                     "end of the queue as RQ requeues them")
    if action == "dramatiq-requeue-dead":
        (ids,) = await client.raw_pipeline([("ZRANGE", f"dramatiq:{name}.XQ", 0,
                                             MAX_ITEMS - 1)])
        return _plan(action, queue, ids, f"Requeue {{n}} dead messages of dramatiq queue "
                     f"{name} to the end of the queue")
    if action == "celery-purge":
        keys = [s.key for s in queue.of(State.PENDING)]
        lengths = await client.raw_pipeline([("LLEN", k) for k in keys])
        seen = sum(v for v in lengths if isinstance(v, int))
        return Plan(action, queue, (str(seen),),
                    f"Purge Celery queue {name}: delete {seen:,} messages from {len(keys)} "
                    "list(s); nothing is deleted if the count changed. Cannot be undone.")
    if action == "celery-requeue-unacked":
        vt = queue.visibility_timeout_s or celery.VISIBILITY_TIMEOUT_S
        cutoff = client.server_clock.now_s() - vt
        (tags,) = await client.raw_pipeline([("ZRANGEBYSCORE", celery.UNACKED_INDEX, "-inf",
                                              cutoff, "LIMIT", 0, MAX_ITEMS)])
        return _plan(action, queue, tags, f"Requeue up to {{n}} messages unacked for more "
                     f"than {vt:g} s (those of queue {name}) so a worker gets them next")
    raise ValueError(f"unknown library action {action!r}")


def _plan(action: str, queue: LibraryQueue, reply: Any, question: str) -> Plan:
    ids = tuple(key_text(i) for i in reply) if isinstance(reply, list) else ()
    return Plan(action, queue, ids, question.replace("{n}", f"{len(ids):,}"))


async def run(client: Client, p: Plan) -> ActionResult:
    if p.queue.declared(p.action) is None or p.queue.read_only:
        raise ValueError(p.queue.refusal(p.action) or f"{p.action}: not for this queue")
    acts = LibraryActions(client)
    if p.action == "rq-requeue-failed":
        return await acts.rq_requeue_failed(p.queue, p.ids)
    if p.action == "rq-run-scheduled":
        return await acts.rq_run_now(p.queue, p.ids)
    if p.action == "dramatiq-requeue-dead":
        return await acts.dramatiq_requeue_dead(p.queue, p.ids)
    if p.action == "celery-purge":
        return await acts.celery_purge(p.queue, p.count)
    return await acts.celery_requeue_unacked(p.queue, p.ids)


# -- single items (the Queues panel's r / x / d on a library state's items) ---------------

#: action -> what it does, for the confirmation and the audit
ITEM_ACTIONS = {"requeue": "Requeue", "run_now": "Run now", "delete": "Delete",
                "set_priority": "Change priority"}

def item_refusal(queue: LibraryQueue, state: StateKey, action: str) -> str | None:
    """Why `action` does not apply to items of `state` (None: the layout declares it)."""
    return queue.refusal(action, state.name)


def runtime_refusal(client: Client, queue: LibraryQueue, action: str = "") -> str | None:
    """Why a declared action cannot run on this server or install (checked before anything
    is sent): BullMQ acts only through its own package and its Lua scripts; saq retries
    a failed job only through its own package."""
    if queue.library == bullmq.LIBRARY:
        return bullmq_api.refusal(client)
    if queue.library == saq.LIBRARY and action == "requeue":
        return saq_api.refusal(client)
    return None


#: (library, action) -> how the console performs it: every declared item action has one
#: (tests/test_library_owner_actions.py checks both ways), and nothing else is reachable.
_ItemRun = Callable[[Client, LibraryActions, LibraryQueue, StateKey, Sequence[Item]],
                    Awaitable[ActionResult]]


def _ids(state: StateKey, items: Sequence[Item]) -> list[str]:
    return [member_id(state, it.raw) for it in items]


async def _rq_delete(client: Client, acts: LibraryActions, queue: LibraryQueue,
                     state: StateKey, items: Sequence[Item]) -> ActionResult:
    """RQ's delete mirrored in one transaction per job; a job RQ 3's rate limit holds is
    deleted by RQ's own Job.delete (its slot released by RQ's script) where the `rq`
    package and Lua are there, else refused naming that call."""
    res = await acts.rq_delete(queue, state.key,
                               [it.raw.decode("utf-8", "surrogateescape") for it in items])
    if res.owner and rq_api.refusal(client) is None:
        done, skipped = await rq_api.delete(client, state, list(res.owner))
        taken = set(res.owner.values())  # their refusals, exactly (an id can be in another)
        res.errors = [e for e in res.errors if e not in taken]
        res.done += done
        res.skipped += skipped
        res.owner = {}
    return res


IMPLEMENTED: dict[tuple[str, str], _ItemRun] = {
    (rq.LIBRARY, "requeue"): lambda c, a, q, s, i: a.rq_requeue_failed(q, _ids(s, i)),
    (rq.LIBRARY, "run_now"): lambda c, a, q, s, i: a.rq_run_now(q, _ids(s, i)),
    (rq.LIBRARY, "delete"): lambda c, a, q, s, i: _rq_delete(c, a, q, s, i),
    (dramatiq.LIBRARY, "requeue"): lambda c, a, q, s, i: a.dramatiq_requeue_dead(
        q, _ids(s, i)),
    (celery.LIBRARY, "requeue"): lambda c, a, q, s, i: a.celery_requeue_unacked(
        q, _ids(s, i)),
    (arq.LIBRARY, "run_now"): lambda c, a, q, s, i: a.arq_run_now(q, i),
    (arq.LIBRARY, "delete"): lambda c, a, q, s, i: a.arq_delete(q, _ids(s, i)),
    (huey.LIBRARY, "delete"): lambda c, a, q, s, i: a.huey_delete(q, s, i),
    (saq.LIBRARY, "delete"): lambda c, a, q, s, i: a.saq_delete(q, s, _ids(s, i)),
    (saq.LIBRARY, "requeue"): lambda c, a, q, s, i: saq_api.retry(c, q, s, _ids(s, i)),
}
for _act in ("requeue", "run_now", "delete"):
    IMPLEMENTED[(bullmq.LIBRARY, _act)] = partial(
        lambda act, c, a, q, s, i: bullmq_api.act(c, q, s, act, _ids(s, i)), _act)
#: Declared actions run by a panel's own checked move, the layout giving its meaning:
#: huey's priority (score = -priority, PriorityQueue with the layout's sign); taskiq's
#: stream claim and ack (the Streams panel's XCLAIM / XACK, the broker's own).
BY_PANEL = {(huey.LIBRARY, "set_priority"), (taskiq.LIBRARY, "claim"),
            (taskiq.LIBRARY, "ack")}


async def run_items(client: Client, action: str, queue: LibraryQueue, state: StateKey,
                    items: Sequence[Item]) -> ActionResult:
    """`action` on exactly these items of `state`, with the library's semantics."""
    why = item_refusal(queue, state, action) or runtime_refusal(client, queue, action)
    if why:  # an undeclared action is never sent, whoever asks
        raise ValueError(why)
    runner = IMPLEMENTED.get((queue.library, action))
    if runner is None:
        raise ValueError(f"{action}: declared for {queue.library} but not implemented")
    return await runner(client, LibraryActions(client), queue, state, items)
