"""saq's own retry of a failed job through the `saq` package (an optional extra): the
job read by saq's `Queue.job` and retried by its `Job.retry`, as saq's web UI does, on
the package's own connection made from the console's settings. A job no longer failed
is skipped; where the package is missing the action is refused before anything is sent."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis

from ferrite_tui.backend.client import Client
from ferrite_tui.backend.libraries import saq
from ferrite_tui.backend.libraries.actions import ActionResult
from ferrite_tui.backend.libraries.model import LibraryQueue, StateKey
from ferrite_tui.urls import strip_cluster_options

INSTALL = "pip install saq"
#: The error saq's job keeps once retried (its web UI says "retried from ui").
RETRIED = "retried from ferrite-tui"


def installed() -> bool:
    try:
        return importlib.util.find_spec("saq") is not None
    except (ImportError, ValueError):  # a module entry blocked (None) or broken
        return False


def refusal(client: Client) -> str | None:
    """Why saq's own retry cannot run here (None: it can)."""
    if not installed():
        return f"saq: retrying a saq job needs its own package ({INSTALL})"
    return None


def _connection(client: Client) -> aioredis.Redis:
    kwargs: dict[str, Any] = client.connection_kwargs()
    kwargs.update(max_connections=4)
    for name in ("driver_info", "lib_name", "lib_version", "retry", "encoding_errors"):
        kwargs.pop(name, None)
    return aioredis.Redis.from_url(strip_cluster_options(client.settings.url), **kwargs)


async def retry(client: Client, queue: LibraryQueue, state: StateKey,
                job_keys: Sequence[str]) -> ActionResult:
    """Each failed job (its key `saq:job:Q:ID`, as seen) retried by saq's own Job.retry;
    one that is gone or no longer failed is skipped."""
    from saq.job import Status
    from saq.queue.redis import RedisQueue  # the optional extra: imported only when acting

    client.guard("saq retry")  # read-only mode: nothing is sent
    why = refusal(client)
    if why:
        raise ValueError(why)
    res = ActionResult()
    conn = _connection(client)
    q = RedisQueue(conn, name=queue.name)
    prefix = f"{saq.JOB_PREFIX}{queue.name}:"
    try:
        for job_key in job_keys:
            if not job_key.startswith(prefix):
                res.errors.append(f"saq: {job_key} is not a job of queue {queue.name}")
                continue
            job = await q.job(job_key[len(prefix):])
            if job is None or job.status != Status.FAILED:
                res.skipped.append(job_key)  # retried, expired or deleted since seen
                continue
            await job.retry(RETRIED)
            res.done.append(job_key)
    finally:
        await conn.aclose()
    client.audit("saq retry (saq's Job.retry)", [state.key], len(res.done), res.done)
    return res
