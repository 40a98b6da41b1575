"""Tables use the width: text columns take the room left over, identifying columns are the
last to go, and a last error that repeats the reason is said once."""

from __future__ import annotations

import json

import redis

from helpers import async_wait_until, running
from test_deadletters_ui import DLQ, make_app, open_dlq

LONG = "connection refused by payments-gateway.internal:8443 after 3 attempts (tls)"


def envelope(i: int, reason: str, error: str) -> bytes:
    return json.dumps({"job": {"id": f"job-{i:04d}-aaaaaaaaaaaa", "payload": {"n": i},
                               "retry_count": 3, "last_error": error, "first_attempt": 1000},
                       "dead_at": 2000 + i, "reason": reason}).encode()


async def shown_cells(app, size):
    async with running(app, size=size) as pilot:
        panel = await open_dlq(app, pilot)
        table = panel.items_table
        await async_wait_until(lambda: table.row_count >= 2)
        await pilot.pause()
        cols = [c.key for c in table.shown]
        rows = [{k: table.get_row_at(r)[i].plain for i, k in enumerate(cols)}
                for r in range(2)]
        return cols, rows, dict(table._col_widths)


async def test_wide_terminal_shows_long_reasons_whole(redis_url, tmp_path):
    r = redis.Redis.from_url(redis_url)
    r.rpush(DLQ, envelope(0, LONG, "HTTP 503"), envelope(1, "timeout", "timeout"))
    r.close()
    _cols, rows, widths = await shown_cells(make_app(redis_url, tmp_path), (160, 50))
    assert rows[0]["reason"] == LONG  # not cut: there is room
    assert rows[1]["error"] == "= reason"  # repeated text said once
    assert widths["reason"] > 26 and widths["pos"] == 7  # text grows, figures do not


async def test_narrow_terminal_keeps_the_id(redis_url, tmp_path):
    r = redis.Redis.from_url(redis_url)
    r.rpush(DLQ, envelope(0, LONG, "HTTP 503"), envelope(1, "timeout", "timeout"))
    r.close()
    cols, _rows, widths = await shown_cells(make_app(redis_url, tmp_path), (80, 24))
    assert "id" in cols and "reason" in cols
    assert "error" not in cols  # the less important text column goes before the id
    assert sum(widths[c] + 2 for c in cols) <= 80
