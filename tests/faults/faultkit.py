"""Shared bits of the fault suite: dead-letter values, ids, and recording a figure."""

from __future__ import annotations

import json

from helpers import figure

__all__ = ["dead", "figure", "job_id"]


def dead(i: int, reason: str = "boom") -> bytes:
    return json.dumps({"job": {"id": f"job-{i}", "payload": {"n": i}, "retry_count": 3,
                               "last_error": reason, "first_attempt": 5},
                       "dead_at": 1_000_000 + i, "reason": reason},
                      separators=(",", ":")).encode()


def job_id(raw: bytes) -> str:
    data = json.loads(raw)
    return (data.get("job") or data)["id"]


