"""saq: `saq:Q:queued` (list of job keys, RPUSH; workers take the head), `saq:Q:active`
(list), `saq:Q:incomplete` (zset of every unfinished job, scored by its scheduled time in
unix seconds, 0 for "now"), `saq:Q:stats` (worker stats); the job itself is a JSON string
under the key listed. saq's moves are its own Lua scripts, so the console only reads."""

from __future__ import annotations

from ferrite_tui.backend import boundedjson
from ferrite_tui.backend.libraries.model import (
    Act,
    Body,
    LibraryQueue,
    Means,
    Recognised,
    State,
    Unit,
    state_key,
)

LIBRARY = "saq"
PREFIX = "saq:"
JOB = Body("key", "{id}", "string", "json", "queued")
READ_ONLY = ("saq moves jobs with its own Lua scripts; the console only deletes jobs not yet "
             "taken (queued, scheduled)")
_SIGNATURE_SUFFIXES = (":incomplete", ":stats", ":queued", ":active")

JOB_PREFIX = PREFIX + "job:"
#: A job string, listed with its time of completion (`completed`, ms: saq's `now()`).
JOB_STRING = Body("key", "{id}", "string", "saq-job", "completed", "ms")
#: At most this many of a queue's job strings are read per poll for their status.
MAX_JOB_STRINGS = 1000

#: Names `keeps` may answer True for start with one of these (a fast pre-check).
KEEP_PREFIXES: tuple[str, ...] = (JOB_PREFIX,)


def keeps(name: str, type_: str) -> bool:
    """saq's job strings `saq:job:Q:ID`: a finished job stays only there (for its ttl,
    600 s by default), so its failures are counted from them."""
    return type_ == "string" and name.startswith(JOB_PREFIX)


def failed_job(queue: object, raw: bytes) -> bool:
    """A saq job string whose status is failed (saq's `Status.FAILED`)."""
    try:
        doc = boundedjson.loads(raw)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("status") == "failed"


SAQ_TAKEN = ("saq ends active jobs with its Lua scripts and drops finished ones (failed "
             "too) at their ttl; only queued and scheduled jobs can be deleted here")
ACTIONS = (Act("delete", ("queued", "scheduled"), "what saq's Job abort leaves of a job not "
               "yet taken: LREM queued, ZREM incomplete, DEL the job key",
               "queued and scheduled jobs"),
           Act("requeue", ("failed",), "saq's own Job.retry (its web UI's retry): status "
               "queued, back to the end of `queued`", "failed jobs"))
REFUSALS = (("delete", SAQ_TAKEN),)


def queue(name: str, job_strings: tuple[str, ...] = ()) -> LibraryQueue:
    base = f"{PREFIX}{name}:"
    return LibraryQueue(LIBRARY, name, (
        state_key(State.PENDING, base + "queued", "list", "queued", "head", body=JOB),
        state_key(State.ACTIVE, base + "active", "list", "active", "head", body=JOB),
        state_key(State.SCHEDULED, base + "incomplete", "zset", "scheduled", "low", Unit.S,
                 Means.DUE, "future", JOB),
        # Due (score in 1..now) but not yet moved to `queued` by a worker's schedule script
        # (which takes ZRANGEBYSCORE incomplete 1 now): without a worker they stay here.
        state_key(State.SCHEDULED, base + "incomplete", "zset", "overdue", "low", Unit.S,
                 Means.DUE, "overdue", JOB),
        # Failed jobs are in no list or set: only their job strings say so (as of the last
        # scan; each poll reads them again).
        state_key(State.FAILED, f"{JOB_PREFIX}{name}:*", "strings", "failed",
                  body=JOB_STRING),
    ), string_keys=job_strings[:MAX_JOB_STRINGS], string_total=len(job_strings),
        needs_lua=True, read_only=READ_ONLY,
        actions=ACTIONS, refusals=REFUSALS, own_command="saq's own API (Queue.abort)")


def recognise(types: dict[str, str], members: dict[str, list[str]]) -> Recognised:
    names = set()
    for key, type_ in types.items():
        if key.startswith(PREFIX) and (
                type_ == "zset" and key.endswith((":incomplete", ":stats"))):
            names.add(key[len(PREFIX):key.rindex(":")])
    names.discard("")
    if not names:
        return Recognised()
    # Queue keys are `saq:NAME:suffix` (NAME may hold ':'), job keys `saq:job:NAME:ID`.
    claimed = frozenset(k for k in types if k.startswith(PREFIX) and (
        k[len(PREFIX):k.rfind(":")] in names
        or (k.startswith(JOB_PREFIX) and k[len(JOB_PREFIX):k.rfind(":")] in names)))
    strings: dict[str, list[str]] = {}
    for k in claimed:
        if k.startswith(JOB_PREFIX) and types[k] == "string":
            strings.setdefault(k[len(JOB_PREFIX):k.rfind(":")], []).append(k)
    return Recognised(tuple(queue(n, tuple(sorted(strings.get(n, ()))))
                            for n in sorted(names)), claimed)
