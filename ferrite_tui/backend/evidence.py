"""What a list or a sorted set holds, read from a small sample of it, with the name as a
hint: the layouts teams write by hand, found with no configuration.

- A sorted set whose scores are epoch times near the server's now holds due times: a
  delayed queue, in seconds or milliseconds (told apart by size). Small scores are
  priorities. Only sets whose members look like jobs (JSON objects) are taken (for due
  times, a name that says so will do): a leaderboard or a rate limiter is not a queue.
- A list whose items carry a failure (the guide's dead letter, a wrapper with an error,
  reason, exception or failure) holds dead letters; a name such as `...:failed`,
  `...:deadletter` or `dead_letters` says so too (an empty one has no items to show).
- A list of jobs that carry a time of their own (`created_at`, `timestamp`, `ts`, ...)
  has ages.

Every judgement carries its evidence as one line ("delayed: scores are epoch ms, 5 in the
past"), shown in the panels and in `status --json`. Sampling is a few members per key in
one pipeline for every key not judged before (see discovery); the functions here are pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ferrite_tui.backend.envelopes import (
    JOB_TIME_FIELDS,
    WRAP_CAUSE_FIELDS,
    WRAP_TIME_FIELDS,
    decode,
)
from ferrite_tui.backend.models import QueueKind

#: Items / members read per key: the head of a list, the lowest and the highest of a set.
LIST_SAMPLE = 3
ZSET_SAMPLE = 3
#: How far from now an epoch score may be to count as a due time (a year and a bit).
NEAR_S = 400 * 86400
#: Scores of at most this size (and not epoch times) are priorities.
PRIORITY_MAX = 1_000_000

# Names teams give dead-letter lists and delayed sets: hints, never the only evidence for
# a set (a sorted set's scores decide), enough for an (empty-looking) list.
_DLQ_NAME = re.compile(r"^(failed|dead|deadletters?|dead[_-]letters?|dlq|poison)$", re.I)
_DLQ_SUFFIX = re.compile(r"[:._-](failed|dead|deadletters?|dead[_-]letters?|dlq|errors?|"
                         r"poison)$", re.I)
_DLQ_PREFIX = re.compile(r"^(failed|dead|deadletters?|dead[_-]letters?|dlq)[:.]", re.I)
_DELAYED_NAME = re.compile(r"(^|[:._-])(delayed|scheduled?|retry|retries|deferred|later|"
                           r"due|timers?|backoff)([:._-]|$)", re.I)
_QUEUE_NAME = re.compile(r"(^|[:._-])(queues?|jobs?|tasks?|work)([:._-]|$)", re.I)


@dataclass(frozen=True, slots=True)
class Evidence:
    """A judgement of one key: the queue kind (None: not a queue), why, and what goes
    with it (a delayed set's score unit, a dead-letter list's target by name)."""

    kind: QueueKind | None
    text: str
    unit: str | None = None  # delayed: "ms" or "s"
    target: str | None = None  # dead letters: the queue the name points to


def sample_commands(key: str, kind: str, now_ms: int) -> list[tuple]:
    """The few reads that judge a key (one pipeline for all keys)."""
    if kind == "list":
        return [("LRANGE", key, 0, LIST_SAMPLE - 1)]
    return [("ZRANGE", key, 0, ZSET_SAMPLE - 1, "WITHSCORES"),
            ("ZREVRANGE", key, 0, 0, "WITHSCORES"),
            ("ZCOUNT", key, "-inf", now_ms), ("ZCOUNT", key, "-inf", now_ms // 1000)]


def judge(key: str, kind: str, replies: list[Any], now_ms: int) -> Evidence:
    if kind == "list":
        items = replies[0] if isinstance(replies[0], list) else []
        return judge_list(key, items)
    return judge_zset(key, replies, now_ms)


def dlq_target(key: str) -> str | None:
    """The queue a dead-letter list's name points to: `work:7:failed` -> `work:7`,
    `failed:work:7` -> `work:7`; None for a name with no queue in it (`dead_letters`)."""
    if _DLQ_NAME.search(key):
        return None
    for pattern in (_DLQ_SUFFIX, _DLQ_PREFIX):
        rest = pattern.sub("", key)
        if rest != key and rest:
            return rest
    return None


def judge_list(key: str, items: list[Any]) -> Evidence:
    envs = [decode(raw) for raw in items if isinstance(raw, bytes | str)]
    failures = [e for e in envs if e.is_dead_letter]
    if envs and len(failures) == len(envs):
        fields = _fields(failures)
        return Evidence(QueueKind.DLQ, f"dead letters: items carry {fields} "
                        f"({len(failures)} of {len(envs)} sampled)", target=dlq_target(key))
    hint = next((m.group(0) for m in (_DLQ_NAME.search(key), _DLQ_SUFFIX.search(key),
                                      _DLQ_PREFIX.search(key)) if m), None)
    if hint is not None:
        also = f", {len(failures)} of {len(envs)} sampled carry a failure" if envs else ""
        return Evidence(QueueKind.DLQ, f"dead letters: named “{hint}”{also}",
                        target=dlq_target(key))
    times = [_time_field(e.data) for e in envs if isinstance(e.data, dict)]
    named = next((t for t in times if t is not None), None)
    if named is not None:
        return Evidence(QueueKind.WORK, f"work: jobs carry {named[0]} ({named[1]}), "
                        "read for ages")
    return Evidence(QueueKind.WORK, "")  # a plain list: nothing to tell beyond its type


def _fields(envs: list) -> str:
    """The members a failure record was recognised by, e.g. "error and failed_at"."""
    e = envs[0]
    if e.kind == "dead":
        return "the guide's dead-letter envelope"
    data = e.data if isinstance(e.data, dict) else {}
    cause = next((f for f in WRAP_CAUSE_FIELDS if f in data), "a cause")
    when = next((f for f in WRAP_TIME_FIELDS if f in data), None)
    parts = [cause] + ([when] if when else []) + ([f"the job under {e.job_field}"]
                                                  if e.job_field else [])
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]


def _time_field(data: dict) -> tuple[str, str] | None:
    """(field, unit) of the job time a job carries: epoch s, epoch ms or ISO 8601."""
    for name in ("enqueued_at", *JOB_TIME_FIELDS):
        if name not in data:
            continue
        value = data[name]
        if isinstance(value, str) and not value.strip().isdigit():
            return name, "ISO 8601"
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        return name, "epoch ms" if number >= 1e11 else "epoch s"
    return None


def score_unit(scores: list[float], now_ms: int) -> str | None:
    """"ms" or "s" when every score is an epoch time near now in that unit, else None."""
    if not scores:
        return None
    if all(abs(s - now_ms) <= NEAR_S * 1000 for s in scores):
        return "ms"
    if all(abs(s - now_ms / 1000) <= NEAR_S for s in scores):
        return "s"
    return None


def _pairs(reply: Any) -> list[tuple[bytes, float]]:
    if not isinstance(reply, list):
        return []
    out = []
    for member, score in zip(reply[0::2], reply[1::2]):
        try:
            out.append((member, float(score)))
        except (TypeError, ValueError):
            continue
    return out


def judge_zset(key: str, replies: list[Any], now_ms: int) -> Evidence:
    low, high = _pairs(replies[0]), _pairs(replies[1])
    pairs = low + [p for p in high if p not in low]
    if not pairs:
        return Evidence(None, "an empty sorted set")
    scores = [s for _, s in pairs]
    members = [decode(m) for m, _ in pairs]
    jobs = sum(1 for e in members if isinstance(e.data, dict))
    unit = score_unit(scores, now_ms)
    if unit is not None:
        if not (jobs or _DELAYED_NAME.search(key) or _QUEUE_NAME.search(key)):
            return Evidence(None, f"scores are epoch {unit}, but neither the members (not "
                            "JSON objects) nor the name say jobs")
        past = replies[2] if unit == "ms" else replies[3]
        past_text = f", {past:,} in the past" if isinstance(past, int) else ""
        return Evidence(QueueKind.DELAYED, f"delayed: scores are epoch {unit}{past_text}",
                        unit=unit)
    if all(abs(s) <= PRIORITY_MAX for s in scores):
        if jobs:
            lo, hi = min(scores), max(scores)
            span = f"{_num(lo)}–{_num(hi)}" if lo != hi else _num(lo)
            return Evidence(QueueKind.PRIORITY, f"priority: scores {span}, members are "
                            "JSON jobs")
        return Evidence(None, "small scores, members are not jobs (a ranking?)")
    return Evidence(None, "scores are neither due times nor priorities")


def _num(x: float) -> str:
    return str(int(x)) if x == int(x) else f"{x:g}"

