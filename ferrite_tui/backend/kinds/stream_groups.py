"""A stream's consumer groups in the poll: XINFO GROUPS, the pending scan per group, and
their health (idle entries, oldest idle per consumer, dead consumers) and alerts.

Every pending entry is read (XPENDING, bounded by PENDING_SCAN); a group holding more gets
its idle entries only (XPENDING IDLE, Redis 6.2+, up to IDLE_SCAN) with the per-consumer
counts, so idle counts and dead verdicts stay exact.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.envelopes import key_text
from ferrite_tui.backend.kinds.base import int_or_none, takes_errors, text
from ferrite_tui.backend.models import ConsumerHealth
from ferrite_tui.config import AlertConfig

# Pending entries read per group per poll for idle / dead-consumer health.
PENDING_SCAN = 1000
# Groups holding more: only their idle entries are read (XPENDING IDLE, Redis 6.2+), up to
# this many, with the per-consumer counts, so idle counts and dead verdicts stay exact.
IDLE_SCAN = 10_000


@dataclass(slots=True)
class GroupReads:
    """A stream's consumer groups in this poll."""

    names: list[str] = field(default_factory=list)
    fields: list[dict] = field(default_factory=list)  # XINFO GROUPS, read
    pending_rows: dict[str, list | None] = field(default_factory=dict)
    large: list[str] = field(default_factory=list)  # asked with XPENDING IDLE
    idle_rows: dict[str, list | None] = field(default_factory=dict)
    holder_counts: dict[str, dict[str, int] | None] = field(default_factory=dict)

    # The groups whose pending entries were asked, in the order asked.
    asked: list[str] = field(default_factory=list)


# Per-group reads are matched to groups by order (an error keeps its place: a group gone
# since the last poll has no rows).

@takes_errors
def pending_scan(t: Any, v: Any, now_ms: int) -> None:
    reads = t.group_reads
    reads.pending_rows[reads.asked[len(reads.pending_rows)]] = \
        None if isinstance(v, Exception) else v


@takes_errors
def holder_counts(t: Any, v: Any, now_ms: int) -> None:
    reads = t.group_reads
    reads.holder_counts[reads.large[len(reads.holder_counts)]] = \
        None if isinstance(v, Exception) else {key_text(c): int(n) for c, n in (v[3] or ())}


@takes_errors
def idle_scan(t: Any, v: Any, now_ms: int) -> None:
    reads = t.group_reads
    reads.idle_rows[reads.large[len(reads.idle_rows)]] = \
        None if isinstance(v, Exception) else v


def groups_reply(t: Any, reply: Any, now_ms: int) -> None:
    """XINFO GROUPS: each group's fields."""
    reads = t.group_reads
    names = []
    lag_seen = False
    for raw in reply:
        g = dict(zip(raw[::2], raw[1::2]))  # (field names left as bytes: read every poll)
        name = key_text(g.get(b"name", b""))
        names.append(name)
        lag_seen = lag_seen or b"lag" in g
        reads.fields.append(dict(
            name=name,
            consumers=int(g.get(b"consumers", 0)),
            pending=int(g.get(b"pending", 0)),
            last_delivered_id=text(g.get(b"last-delivered-id", b"")),
            lag=int_or_none(g.get(b"lag")),
            entries_read=int_or_none(g.get(b"entries-read")),
        ))
    if reply:
        t.reader.poll.client.note_lag_seen(lag_seen)
    reads.names = names


def group_health(pending: int, rows: list | None, idle_ms: int, dead_ms: int,
                  idle_rows: list | None = None,
                  counts: dict[str, int] | None = None) -> dict[str, Any]:
    """Idle entries, oldest idle per consumer and dead consumers from the pending scan.

    A group holding more than the scan reads also has `idle_rows` (every entry idle
    past the lower of the two thresholds, bounded) and `counts` (entries per consumer):
    idle counts come from the first, and a consumer is dead when all it holds is there.
    """
    if rows is None:
        return {}
    if not rows:  # nothing pending (the usual idle group): the result of the loop below
        return {"idle_count": 0, "oldest_idle_ms": None, "holders": (),
                "scan_complete": True, "oldest_pending_id": None}
    complete = len(rows) < PENDING_SCAN or pending <= len(rows)
    if not complete and idle_rows is not None and counts is not None:
        return _large_group_health(rows, idle_rows, counts, idle_ms, dead_ms)
    per: dict[str, list[int]] = {}
    idle_count = 0
    for row in rows:
        consumer, idle = key_text(row[1]), int(row[2])
        per.setdefault(consumer, []).append(idle)
        if idle >= idle_ms:
            idle_count += 1
    holders = tuple(
        ConsumerHealth(name=name, pending=len(idles), oldest_idle_ms=max(idles),
                       newest_idle_ms=min(idles), dead=min(idles) >= dead_ms)
        for name, idles in sorted(per.items()))
    return {
        "idle_count": idle_count,
        "oldest_idle_ms": max((max(i) for i in per.values()), default=None),
        "holders": holders,
        "scan_complete": complete,
        "oldest_pending_id": text(rows[0][0]) if rows else None,
    }

def _large_group_health(rows: list, idle_rows: list, counts: dict[str, int],
                        idle_ms: int, dead_ms: int) -> dict[str, Any]:
    idle_count = 0
    dead_held: Counter[str] = Counter()  # entries idle past the dead threshold
    oldest: dict[str, int] = {}
    newest: dict[str, int] = {}
    seen = set()
    for entry_id, consumer_raw, idle_raw, *_ in idle_rows:
        consumer, idle = key_text(consumer_raw), int(idle_raw)
        seen.add(entry_id)
        idle_count += idle >= idle_ms
        dead_held[consumer] += idle >= dead_ms
        oldest[consumer] = max(oldest.get(consumer, 0), idle)
        newest[consumer] = min(newest.get(consumer, idle), idle)
    for entry_id, consumer_raw, idle_raw, *_ in rows:  # the lowest ids, idle or not
        if entry_id not in seen:
            consumer, idle = key_text(consumer_raw), int(idle_raw)
            oldest[consumer] = max(oldest.get(consumer, 0), idle)
            newest[consumer] = min(newest.get(consumer, idle), idle)
    holders = []
    for name, held in sorted(counts.items()):
        dead = held > 0 and dead_held[name] >= held
        # Not every entry was read: the newest idle is known only when all were.
        holders.append(ConsumerHealth(
            name=name, pending=held, oldest_idle_ms=oldest.get(name),
            newest_idle_ms=newest.get(name) if dead else None, dead=dead))
    return {
        "idle_count": idle_count,
        "oldest_idle_ms": max(oldest.values(), default=None),
        "holders": tuple(holders),
        "scan_complete": len(idle_rows) < IDLE_SCAN,
        "oldest_pending_id": text(rows[0][0]) if rows else None,
    }


def group_alerts(g: dict, cfg: AlertConfig) -> tuple[str, ...]:
    """A group's alerts (from GroupStats fields): they stay on while any pending entry is
    idle past the threshold, whichever single entry moved."""
    out = []
    lag, idle_count = g.get("lag"), g.get("idle_count")
    if lag is not None and cfg.stream_lag > 0 and lag >= cfg.stream_lag:
        out.append(f"lag {lag:,}")
    if idle_count and cfg.oldest_age_seconds > 0:
        more = "" if g.get("scan_complete", True) else "+"
        out.append(f"{idle_count:,}{more} idle ≥ {fmt.duration(cfg.oldest_age_seconds * 1000)}")
    dead = [c.name for c in g.get("holders", ()) if c.dead]
    if dead:
        out.append(f"{len(dead)} dead consumer{'s' if len(dead) != 1 else ''}")
    return tuple(out)

