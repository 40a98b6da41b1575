"""A big dead letter on the visible page (issue 21, item 6): once the page is read, a poll
costs the server a bounded number of bytes, not the value's size; `c` on it refuses to
send it to the terminal and offers a file instead."""

from __future__ import annotations

import json

import pytest
import redis
from faultkit import dead, figure

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.config import Config
from ferrite_tui.ui.app import FerriteApp
from ferrite_tui.ui.panels.deadletters import DeadLettersPanel
from ferrite_tui.ui.screens.inspector import InspectorScreen
from helpers import async_wait_until, running

DLQ = "queue:main:dlq"
BIG = 20 << 20  # the principle of a 100 MB value, at a size that keeps the test quick
POLLS = 5


def big_dead_letter() -> bytes:
    return json.dumps({"job": {"id": "big-1", "payload": {"blob": "x" * BIG},
                               "retry_count": 3, "last_error": "too big",
                               "first_attempt": 5},
                       "dead_at": 1_000_000, "reason": "too big"}).encode()


def sent_bytes(r: redis.Redis) -> int:
    return int(r.info("stats")["total_net_output_bytes"])


async def next_snapshots(app, count: int) -> None:
    for _ in range(count):
        seen = app.monitor.snapshot
        await async_wait_until(lambda seen=seen: app.monitor.snapshot is not seen, timeout=30)


@pytest.mark.parametrize("where", ["middle", "head"])
async def test_big_dead_letter_is_not_read_again_each_poll(fresh_server, tmp_path, where):
    """In the middle the page holds it; at the head the poll reads it too (the list's
    ends give its age)."""
    r = redis.Redis.from_url(fresh_server.url)
    values = [dead(1), big_dead_letter(), dead(2)]
    if where == "head":
        values[:2] = values[1::-1]
    r.rpush(DLQ, *values)
    app = FerriteApp(Config(), ConnectionSettings(url=fresh_server.url), refresh=0.3,
                     audit_path=tmp_path / "audit.log")
    async with running(app) as pilot:
        await async_wait_until(lambda: app.monitor is not None
                               and app.monitor.snapshot is not None
                               and app.monitor.snapshot.by_kind(*DeadLettersPanel.KINDS),
                               timeout=30)
        await pilot.press("6")
        panel = app.panel("dlq")
        table = panel.items_table
        await async_wait_until(lambda: table.page is not None and table.row_count == 3,
                               timeout=30)
        await next_snapshots(app, 3)  # the page and the list's ends read once, remembered
        before = sent_bytes(r)
        loads = table.load_seq
        await next_snapshots(app, POLLS)
        per_poll = (sent_bytes(r) - before) / POLLS
        assert table.load_seq > loads  # the page was asked for again at every poll
        assert table.row_count == 3
        figure(f"big values: a {BIG >> 20} MB dead letter at the {where} of the visible page, "
               f"{per_poll / 1024:,.1f} KB sent by the server per poll over {POLLS} polls")
        assert per_poll < 1 << 20, per_poll

        table.focus()
        table.move_cursor(row=values.index(max(values, key=len)))
        await pilot.press("enter")
        await async_wait_until(lambda: isinstance(app.screen, InspectorScreen), timeout=30)
        await pilot.press("c")
        await async_wait_until(lambda: any("Not copied" in str(n.message)
                                           for n in app.notice_board.shown()), timeout=30)
        refused = next(str(n.message) for n in app.notice_board.shown()
                       if "Not copied" in str(n.message))
        copied = app.clipboard
    r.close()
    if where == "middle":
        figure(f"big values: copy of the {BIG >> 20} MB value: {refused!r}")
    assert copied == ""
    assert "20.0 MiB" in refused and "save it to a file" in refused
