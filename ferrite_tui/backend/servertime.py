"""What the server says about itself that decides what the console may compute or do: its
clock (TIME) and its replication role (INFO replication).

Clock: every due, overdue and age figure compares times the server's clients wrote with
*now*, and the console's clock may be off (a laptop over SSH, a VM after suspend). The poll
reads TIME in its pipeline and `ServerClock` keeps the offset server - local; `now_ms()` is
"server now" for every caller. TIME ran somewhere between sending and receiving, so each
reading bounds the offset to an interval as wide as the round trip; the offset taken is
that interval's low end (server now is never overestimated: nothing runs early), from the
narrowest reading of the last half minute. Pure elapsed intervals (rates) keep using the
monotonic clock.

Role: a replica refuses every write with READONLY, after the operator confirmed. The role
is read at connect and in each poll; the client's guard refuses changes on a replica before
anything is sent, naming the primary. Servers whose INFO has no replication section
(Ferrite) have an unknown role, never "master" by default.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.epoch import int_or_none

#: Past this, the Server panel and `status` show the offset (smaller is TIME's own noise).
SHOWN_OFFSET_MS = 1000
#: A reading is kept this long unless a narrower one comes (clocks drift, steps happen).
READING_KEPT_S = 30.0


def time_reply_ms(reply: Any) -> int | None:
    """TIME's [seconds, microseconds] as epoch ms, or None for anything else."""
    if not isinstance(reply, (list, tuple)) or len(reply) != 2:
        return None
    sec, usec = int_or_none(reply[0]), int_or_none(reply[1])
    if sec is None or usec is None:
        return None
    return sec * 1000 + usec // 1000


class ServerClock:
    """The server's clock as seen from this process: offset = server - local (ms)."""

    def __init__(self, local: Callable[[], float] = time.time) -> None:
        self.local = local
        self.offset_ms: int | None = None  # None: never measured (treated as 0)
        self.uncertainty_ms: int | None = None  # the true offset is at most this much more
        self._reading: tuple[float, float, float] | None = None  # (low, high, when)

    def observe(self, reply: Any, sent_s: float, received_s: float) -> int | None:
        """Take TIME's reply, read between these two local times; returns the server's
        time in ms (None: not a TIME reply, the offset is kept)."""
        server_ms = time_reply_ms(reply)
        if server_ms is None:
            return None
        low, high = server_ms - received_s * 1000, server_ms - sent_s * 1000
        kept = self._reading
        if (kept is None or high - low <= kept[1] - kept[0]
                or abs(received_s - kept[2]) > READING_KEPT_S
                or low > kept[1] or high < kept[0]):  # no overlap: a clock was stepped
            self._reading = kept = (low, high, received_s)
        self.offset_ms = round(kept[0])
        self.uncertainty_ms = max(round(kept[1] - kept[0]), 0)
        return server_ms

    def now_ms(self, local_s: float | None = None) -> int:
        """Server now, in epoch ms (the local clock where the offset is not known yet)."""
        local = self.local() if local_s is None else local_s
        return int(local * 1000) + (self.offset_ms or 0)

    def now_s(self) -> float:
        return self.now_ms() / 1000

    @property
    def shown_offset_ms(self) -> int | None:
        """The offset when it is worth saying (past a second), else None."""
        off = self.offset_ms
        return off if off is not None and abs(off) > SHOWN_OFFSET_MS else None


def offset_text(offset_ms: int) -> str:
    """'console clock 1h00m ahead of the server's' (sign: server - local)."""
    way = "behind" if offset_ms > 0 else "ahead of"
    return f"console clock {fmt.duration(abs(offset_ms))} {way} the server's"


@dataclass(frozen=True, slots=True)
class Replication:
    """INFO replication, as far as the server reported it."""

    role: str | None = None  # "primary", "replica", or None: the server did not say
    primary: str | None = None  # host:port of the primary (on a replica)
    link: str | None = None  # master_link_status: "up" / "down" (on a replica)
    last_io_s: int | None = None  # master_last_io_seconds_ago (on a replica)
    syncing: bool = False  # master_sync_in_progress (on a replica)
    # On a primary: each replica as (address, state, bytes behind, seconds since its ack).
    replicas: tuple[tuple[str, str, int | None, int | None], ...] = ()

    @property
    def is_replica(self) -> bool:
        return self.role == "replica"

    def refusal(self, action: str) -> str | None:
        """The one line a change gets on a replica (None: not a replica)."""
        if not self.is_replica:
            return None
        where = f"a replica of {self.primary}" if self.primary else "a replica"
        return (f"this server is {where}: changes go to the primary "
                f"('{action}' refused, nothing was sent)")

    def lag_text(self) -> str:
        """The replication lag in words ('' when there is nothing to say)."""
        if self.is_replica:
            parts = [f"link {self.link}" if self.link else "link ?"]
            if self.syncing:
                parts.append("initial sync in progress")
            if self.last_io_s is not None and self.last_io_s >= 0:
                parts.append(f"last contact {self.last_io_s} s ago")
            return ", ".join(parts)
        if self.replicas:
            worst = max((r[2] for r in self.replicas if r[2] is not None), default=None)
            text = f"{len(self.replicas)} replica{'s' if len(self.replicas) != 1 else ''}"
            return text + (f", up to {worst:,} bytes behind" if worst is not None else "")
        return ""

    def as_json(self) -> dict[str, Any]:
        return {"role": self.role, "primary": self.primary, "link": self.link,
                "last_io_seconds": self.last_io_s, "syncing": self.syncing,
                "replicas": [{"address": a, "state": s, "bytes_behind": b, "lag_seconds": lag}
                             for a, s, b, lag in self.replicas]}


def replication_of(info: dict) -> Replication:
    """From a parsed INFO (all sections, or the replication section)."""
    role = info.get("role")
    if role is None:
        return Replication()
    role = str(role)
    if role in ("slave", "replica"):
        host, port = info.get("master_host"), info.get("master_port")
        primary = f"{host}:{port}" if host is not None and port is not None else None
        return Replication(
            role="replica", primary=primary,
            link=str(info["master_link_status"]) if "master_link_status" in info else None,
            last_io_s=int_or_none(info.get("master_last_io_seconds_ago")),
            syncing=str(info.get("master_sync_in_progress", "0")) == "1")
    own = int_or_none(info.get("master_repl_offset"))
    replicas = []
    for name, entry in sorted(info.items()):
        if not (name.startswith("slave") and name[5:].isdigit() and isinstance(entry, dict)):
            continue
        offset = int_or_none(entry.get("offset"))
        behind = max(own - offset, 0) if own is not None and offset is not None else None
        replicas.append((f"{entry.get('ip')}:{entry.get('port')}", str(entry.get("state", "?")),
                         behind, int_or_none(entry.get("lag"))))
    return Replication(role="primary" if role == "master" else role,
                       replicas=tuple(replicas))
