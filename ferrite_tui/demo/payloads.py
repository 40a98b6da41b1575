"""Made-up job bodies of each pattern, and the guide's envelopes around them (compact JSON,
as ``serde_json::to_string`` writes it; millisecond timestamps)."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

from ferrite_tui.demo.layout import (
    DEMO_CHANNELS,
)


def dumps(value: Any) -> bytes:
    """Compact JSON, as serde_json::to_string writes it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def random_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


_FIRST_NAMES = ("ada", "grace", "linus", "margaret", "alan", "barbara", "ken", "radia",
                "dennis", "frances", "edsger", "hedy")
_EMAIL_SUBJECTS = (
    ("Welcome!", "Thanks for signing up."),
    ("Your receipt", "Thanks for your order. Your receipt is attached."),
    ("Password reset", "Click the link below to reset your password."),
    ("Your order has shipped", "Good news: your order is on its way."),
    ("Weekly digest", "Here is what happened this week."),
    ("Verify your email", "Please confirm your email address."),
)
_CURRENCIES = ("USD", "USD", "USD", "EUR", "GBP")
_REPORTS = ("daily_sales", "weekly_revenue", "inventory", "churn", "payouts", "audit_log")
_FORMATS = ("pdf", "csv", "xlsx")

#: Priority task types (seed: critical_alert 100, send_email 50, cleanup 10) and weights.
_TASK_TYPES: tuple[tuple[str, float, int], ...] = (
    ("critical_alert", 100.0, 1),
    ("charge_card", 75.0, 2),
    ("send_email", 50.0, 5),
    ("generate_thumbnail", 25.0, 3),
    ("cleanup", 10.0, 3),
    ("reindex_search", 5.0, 1),
)


def email_job(rng: random.Random) -> dict[str, Any]:
    subject, body = rng.choice(_EMAIL_SUBJECTS)
    name = rng.choice(_FIRST_NAMES)
    return {"to": f"{name}{rng.randint(1, 999)}@example.com", "subject": subject, "body": body}


def random_order(rng: random.Random) -> dict[str, Any]:
    return {
        "order_id": f"ORD-{rng.randint(10000, 99999)}",
        "customer_id": f"cus_{rng.randint(1000, 9999)}",
        "items": rng.randint(1, 6),
        "total": round(rng.uniform(4.0, 400.0), 2),
        "currency": rng.choice(_CURRENCIES),
    }


def random_event(rng: random.Random, ts_ms: int) -> dict[str, Any]:
    kind = rng.choices(("order.created", "order.paid", "order.shipped", "user.signup",
                        "page.view"), weights=(3, 2, 1, 1, 4))[0]
    event: dict[str, Any] = {"type": kind}
    if kind.startswith("order."):
        event["order_id"] = f"ORD-{rng.randint(10000, 99999)}"
        event["user_id"] = f"user_{rng.randint(1, 500)}"
        if kind != "order.shipped":
            event["total"] = round(rng.uniform(4.0, 400.0), 2)
    elif kind == "user.signup":
        event["user_id"] = f"user_{rng.randint(500, 9999)}"
    else:
        event["path"] = rng.choice(("/", "/cart", "/checkout", "/products", "/account"))
        event["user_id"] = f"user_{rng.randint(1, 500)}"
    event["ts"] = ts_ms
    return event


def random_task(rng: random.Random) -> tuple[dict[str, Any], float]:
    names = [t[0] for t in _TASK_TYPES]
    weights = [t[2] for t in _TASK_TYPES]
    i = rng.choices(range(len(names)), weights=weights)[0]
    task_type, priority, _ = _TASK_TYPES[i]
    data: dict[str, Any]
    if task_type == "critical_alert":
        data = {"message": rng.choice(("Server down!", "Disk 95% full on db-2",
                                       "Error rate above 5%", "Replica lag 30s"))}
    elif task_type == "send_email":
        data = {"to": f"{rng.choice(_FIRST_NAMES)}{rng.randint(1, 999)}@example.com"}
    elif task_type == "charge_card":
        data = {"order_id": f"ORD-{rng.randint(10000, 99999)}",
                "amount_cents": rng.randint(199, 49999)}
    elif task_type == "generate_thumbnail":
        data = {"image": f"uploads/{rng.getrandbits(32):08x}.jpg",
                "size": rng.choice((64, 128, 256))}
    elif task_type == "reindex_search":
        data = {"index": rng.choice(("products", "users", "orders"))}
    else:
        data = {}
    return {"task_type": task_type, "data": data}, priority


def random_report(rng: random.Random) -> dict[str, Any]:
    return {
        "report": rng.choice(_REPORTS),
        "account_id": f"acct_{rng.randint(100, 999)}",
        "format": rng.choice(_FORMATS),
    }


# Main-queue job kinds and the failures each can have: (template, weight).
_FAILURES: dict[str, tuple[tuple[Callable[[random.Random], str], int], ...]] = {
    "send_email": (
        (lambda r: f"SMTP timeout after {r.choice((5000, 15000, 30000, 30000, 60000))}ms", 6),
        (lambda r: "validation failed: missing field "
                   f"'{r.choice(('email', 'email', 'email', 'subject'))}'", 3),
        (lambda r: f"rate limited by upstream, retry after {r.randint(1, 120)}s", 1),
    ),
    "charge": (
        (lambda r: f"payment declined: card {r.choice(('4242', '0341', '1117', '9995', '5100'))}"
                   " expired", 5),
        (lambda r: f"HTTP {r.choice((502, 503, 503, 504))} from https://api.example.com/v1/charge",
         4),
        (lambda r: f"validation failed: missing field '{r.choice(('amount', 'currency'))}'", 1),
    ),
    "webhook": (
        (lambda r: f"HTTP {r.choice((500, 502, 503, 504))} from "
                   f"https://hooks.example.com/t/{r.randint(100, 999)}", 4),
        (lambda r: f"connection refused: db-{r.randint(1, 4)}.internal:5432", 2),
        (lambda r: f"order ORD-{r.randint(10000, 99999)} not found", 2),
    ),
}


def main_job(rng: random.Random) -> dict[str, Any]:
    kind = rng.choices(("send_email", "charge", "webhook"), weights=(5, 3, 2))[0]
    if kind == "send_email":
        return {"type": kind, "to": f"{rng.choice(_FIRST_NAMES)}{rng.randint(1, 999)}@example.com",
                "template": rng.choice(("welcome", "receipt", "reset"))}
    if kind == "charge":
        return {"type": kind, "order_id": f"ORD-{rng.randint(10000, 99999)}",
                "amount_cents": rng.randint(199, 49999)}
    return {"type": kind, "url": f"https://hooks.example.com/t/{rng.randint(100, 999)}",
            "event": rng.choice(DEMO_CHANNELS)}


def failure_reason(rng: random.Random, payload: Any) -> str:
    kind = payload.get("type") if isinstance(payload, dict) else None
    options = _FAILURES.get(kind if isinstance(kind, str) else "", _FAILURES["webhook"])
    template = rng.choices([o[0] for o in options], weights=[o[1] for o in options])[0]
    return template(rng)


def job_wrapper(rng: random.Random, payload: Any, enqueued_at: int) -> dict[str, Any]:
    """Reliable queue ``JobWrapper``."""
    return {"id": random_id(rng), "payload": payload, "enqueued_at": enqueued_at}


def retry_wrapper(job_id: str, payload: Any, retry_count: int, last_error: str | None,
                   first_attempt: int) -> dict[str, Any]:
    """DLQ pattern ``RetryWrapper``."""
    return {"id": job_id, "payload": payload, "retry_count": retry_count,
            "last_error": last_error, "first_attempt": first_attempt}


