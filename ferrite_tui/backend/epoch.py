"""Has the server restarted or been flushed since the last poll?

Rates compare this poll with the last; across a restart or a FLUSHALL/FLUSHDB the old and
the new contents of a key are unrelated, and comparing them invents traffic (a DLQ refilled
after a flush read "in 2.5/s, out 2.5/s, growing"). The poll asks this once per tick and,
on a change, starts every rate and history series again.

Signals, each optional (Ferrite lacks some): `run_id` changed or `uptime_in_seconds` went
back (a restart); the FLUSHALL + FLUSHDB call count of INFO commandstats went up (a flush,
of any database: resetting the rates is harmless); only where INFO has no commandstats
(Ferrite), the key count of INFO keyspace falling to 0 or to less than half (a flush seen
before the keys came back; a flush refilled before the next poll is not seen there).
"""

from __future__ import annotations

from typing import Any


def int_or_none(value: Any) -> int | None:
    """An INFO field as an int; None where it is missing or not a number."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


#: The lines of INFO commandstats the epoch reads (parsing every command's line at every
#: poll cost a third of the rest of the poll's fixed work).
FLUSH_LINES = ("cmdstat_flushall:", "cmdstat_flushdb:")


def flush_calls(commandstats: str) -> int | None:
    """FLUSHALL + FLUSHDB calls so far, from INFO commandstats's text (None: unknown, no
    command's line in it)."""
    if "cmdstat_" not in commandstats:
        return None
    total = 0
    for line in commandstats.splitlines():
        if line.startswith(FLUSH_LINES):  # cmdstat_flushall:calls=2,usec=...
            for field in line.partition(":")[2].split(","):
                name, _, value = field.partition("=")
                if name == "calls":
                    total += int_or_none(value) or 0
    return total


def key_count(info: dict) -> int:
    """Keys in every database, from a parsed INFO (keyspace: db0:keys=N,...)."""
    return sum(int_or_none(v.get("keys")) or 0 for k, v in info.items()
               if k.startswith("db") and isinstance(v, dict))


class ServerEpoch:
    def __init__(self) -> None:
        self.run_id: str | None = None
        self.uptime: int | None = None
        self.flushes: int | None = None
        self.keys: int | None = None

    def changed(self, info: dict, commandstats: str) -> str | None:
        """Why the server is not the one the last poll saw ("restarted", "flushed"), or
        None; remembers this poll's values (`commandstats`: INFO commandstats's text)."""
        run_id = info.get("run_id")
        run_id = str(run_id) if run_id is not None else None
        uptime = int_or_none(info.get("uptime_in_seconds"))
        flushes = flush_calls(commandstats)
        keys = key_count(info) if "redis_version" in info or "db0" in info else None
        reason = None
        if self.run_id is not None and run_id is not None and run_id != self.run_id:
            reason = "restarted"
        elif self.uptime is not None and uptime is not None and uptime < self.uptime:
            reason = "restarted"
        elif self.flushes is not None and flushes is not None and flushes > self.flushes:
            reason = "flushed"
        elif flushes is None and self.keys and keys is not None and (
                keys == 0 or (self.keys >= 4 and keys < self.keys / 2)):
            # Only without commandstats: queues that drain can empty a small keyspace too.
            reason = "flushed"
        self.run_id, self.uptime, self.flushes, self.keys = run_id, uptime, flushes, keys
        return reason
