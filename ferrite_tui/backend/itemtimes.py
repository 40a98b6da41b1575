"""When an item arrived, as the backfill reads it from the data: the time its body carries
(the guide's envelopes, a team's own job fields), and for a sampled list how many items
had arrived by each minute (positions interpolated in time).
"""

from __future__ import annotations

from ferrite_tui.backend import boundedjson
from ferrite_tui.backend.envelopes import MAX_PARSE_BYTES, job_time


def item_time(raw: bytes) -> int | None:
    """The time an item carries, as envelopes.decode reads it (dead_at for a dead letter,
    else the job's own time), without building an Envelope: the backfill reads up to a
    million items."""
    try:
        return item_time_or_raise(raw)
    except boundedjson.TooDeep:
        return None


def item_time_or_raise(raw: bytes) -> int | None:
    """item_time, but a value nested beyond the bound raises TooDeep (so it is named)."""
    if len(raw) > MAX_PARSE_BYTES:
        return None
    try:
        text = raw.decode("utf-8").strip()
        data, end = boundedjson.raw_decode(text)
    except boundedjson.TooDeep:
        raise
    except ValueError:  # not JSON, or not UTF-8
        return None
    if end != len(text):
        return None  # JSON followed by something else: not an envelope
    if not isinstance(data, dict):
        return None
    job = data.get("job")
    if isinstance(job, dict) and "id" in job and "payload" in job and "reason" in data:
        t = data.get("dead_at")
    elif "id" in data and "payload" in data:
        if "retry_count" in data or "first_attempt" in data:
            t = data.get("first_attempt")
        elif "scheduled_at" in data:
            t = data.get("scheduled_at")
        else:
            return job_time(data)
    else:
        return job_time(data)  # a team's own job: created_at, timestamp, ts, ...
    if type(t) is float and t.is_integer():
        return int(t)
    return t if type(t) is int else None


def arrivals_by(positions: list[tuple[int, int]], size: int, ends: list[int]) -> list[float]:
    """How many items of a sampled list arrived by each time in `ends`.

    A list keeps arrival order (pushed at the tail, or at the head), so an item's position
    says how many arrived before it; between two items read, positions are interpolated
    linearly in time. Pages at both ends of the list are always read.
    """
    pairs = sorted(positions)
    if pairs[0][1] > pairs[-1][1]:  # pushed at the head: the newest first
        pairs = [(t, size - 1 - pos) for t, pos in pairs]
    out = []
    j = 0
    for end in ends:
        while j < len(pairs) and pairs[j][0] <= end:
            j += 1
        if j == 0:
            out.append(0.0)
        elif j == len(pairs):
            out.append(float(min(max(p for _, p in pairs) + 1, size)))
        else:
            (t0, p0), (t1, p1) = pairs[j - 1], pairs[j]
            frac = (end - t0) / (t1 - t0) if t1 > t0 else 0.0
            out.append(p0 + 1 + max(p1 - p0 - 1, 0) * frac)
    return out
