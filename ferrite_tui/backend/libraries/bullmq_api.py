"""BullMQ's own actions through the official `bullmq` package (an optional extra): retry a
failed job, promote a delayed one, remove a job. Each is one of BullMQ's Lua scripts, sent
by the package itself on its own connection made from the console's settings; where the
server runs no Lua or the package is missing, the action is refused before anything is
sent."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis

from ferrite_tui.backend.client import Client
from ferrite_tui.backend.libraries import bullmq
from ferrite_tui.backend.libraries.actions import ActionResult
from ferrite_tui.backend.libraries.model import LibraryQueue, StateKey
from ferrite_tui.urls import strip_cluster_options

INSTALL = "pip install 'ferrite-tui[bullmq]'"

#: console action -> what the package's Job method does (for the audit and the result)
OPERATIONS = {"requeue": "retry", "run_now": "promote", "delete": "remove"}


def refusal(client: Client) -> str | None:
    """Why BullMQ's actions cannot run here (None: they can)."""
    if not client.capabilities.lua:
        return ("bullmq: this server runs no Lua, and BullMQ changes a job only with its own "
                "Lua scripts; retry, promote or remove it with BullMQ on a server with Lua")
    if not installed():
        return f"bullmq: acting on BullMQ jobs needs its own package: {INSTALL}"
    return None


def installed() -> bool:
    try:
        return importlib.util.find_spec("bullmq") is not None
    except (ImportError, ValueError):  # a module entry blocked (None) or broken
        return False


def _connection(client: Client) -> aioredis.Redis:
    """A connection for the package, with the console's URL, credentials and TLS; replies
    decoded, as the package expects."""
    kwargs: dict[str, Any] = client.connection_kwargs()
    kwargs.update(decode_responses=True, max_connections=4)
    for name in ("driver_info", "lib_name", "lib_version", "retry", "encoding_errors"):
        kwargs.pop(name, None)
    return aioredis.Redis.from_url(strip_cluster_options(client.settings.url), **kwargs)


async def act(client: Client, queue: LibraryQueue, state: StateKey, action: str,
              job_ids: Sequence[str]) -> Any:
    """`action` on each job seen in `state`, by the package's own Job method. A job that
    left that state meanwhile (BullMQ's getState) is skipped; a job BullMQ refuses (locked
    by a worker) is reported with BullMQ's reason."""
    from bullmq import Job, Queue  # the optional extra: imported only when acting

    client.guard(f"bullmq {OPERATIONS[action]}")  # read-only mode: nothing is sent
    why = refusal(client)
    if why:
        raise ValueError(why)
    res = ActionResult()
    q = Queue(queue.name, {"connection": _connection(client), "prefix": bullmq.prefix_of(queue)})
    try:
        for job_id in job_ids:
            job = await Job.fromId(q, job_id)
            if job is None or await job.getState() != _bullmq_state(state.name):
                res.skipped.append(job_id)
                continue
            try:
                if action == "requeue":
                    await job.retry("failed")
                elif action == "run_now":
                    await job.promote()
                else:
                    await job.remove()
            except Exception as exc:  # BullMQ's own refusal (locked, moved): its words
                res.errors.append(f"bullmq job {job_id}: {exc}")
                continue
            res.done.append(job_id)
    finally:
        await q.close()
    client.audit(f"bullmq {OPERATIONS[action]}", [state.key], len(res.done), res.done)
    return res


def _bullmq_state(label: str) -> str:
    """BullMQ's getState word for a state key's label ("wait" covers paused jobs too)."""
    return {"paused": "waiting", "wait": "waiting", "prioritized": "prioritized"}.get(
        label, label)
