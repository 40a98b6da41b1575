"""RQ's own delete for the jobs RQ 3's rate limit holds: `Job.delete()` through the `rq`
package (optional), which releases the job's slot and promotes a waiting job with RQ's own
Lua script. The console does not copy that script; where the package is missing or the
server runs no Lua, such a job is refused naming RQ's call."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Sequence
from typing import Any

from ferrite_tui.backend.client import Client
from ferrite_tui.backend.libraries.model import StateKey
from ferrite_tui.urls import strip_cluster_options

INSTALL = "pip install 'ferrite-tui[rq]'"


def installed() -> bool:
    try:
        return importlib.util.find_spec("rq") is not None
    except (ImportError, ValueError):  # a module entry blocked (None) or broken
        return False


def refusal(client: Client) -> str | None:
    """Why RQ's own delete cannot run here (None: it can)."""
    if not client.capabilities.lua:
        return "this server runs no Lua, and RQ frees a rate-limit slot with its own script"
    if not installed():
        return f"RQ's own delete needs its package ({INSTALL})"
    return None


def _delete(client: Client, state: StateKey, job_ids: Sequence[str]) -> tuple[list[str],
                                                                              list[str]]:
    """In a thread: each job still in `state` deleted by RQ's Job.delete (sync redis-py,
    as RQ needs, with the console's settings)."""
    import redis
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    kwargs: dict[str, Any] = client.connection_kwargs()
    for name in ("driver_info", "lib_name", "lib_version", "retry", "max_connections"):
        kwargs.pop(name, None)
    conn = redis.Redis.from_url(strip_cluster_options(client.settings.url), **kwargs)
    done: list[str] = []
    skipped: list[str] = []
    try:
        for job_id in job_ids:
            still = (conn.lpos(state.key, job_id) if state.type == "list"
                     else conn.zscore(state.key, job_id))
            if still is None:
                skipped.append(job_id)  # moved since seen
                continue
            try:
                Job.fetch(job_id, connection=conn).delete()
            except NoSuchJobError:
                skipped.append(job_id)
                continue
            done.append(job_id)
    finally:
        conn.close()
    return done, skipped


async def delete(client: Client, state: StateKey, job_ids: Sequence[str]
                 ) -> tuple[list[str], list[str]]:
    """(deleted, skipped) by RQ's own Job.delete, audit-logged."""
    client.guard("rq delete (rate-limited)")
    done, skipped = await asyncio.to_thread(_delete, client, state, job_ids)
    client.audit("rq delete (RQ's Job.delete, rate-limited)", [state.key], len(done), done)
    return done, skipped
