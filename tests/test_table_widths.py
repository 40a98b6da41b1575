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
        return cols, rows, dict(table._col_widths or {})


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


async def test_figures_are_shown_whole_or_cut_with_an_ellipsis():
    """A lag of 800,000 in a column declared 6 wide is shown whole (figure columns widen
    to their longest value); past the cap, a cut figure ends in '…', never reads smaller."""
    from rich.text import Text
    from textual.app import App, ComposeResult

    from ferrite_tui.ui.widgets.table import FIGURE_CAP, Column, KeyedTable

    class Figures(App):
        def compose(self) -> ComposeResult:
            yield KeyedTable([Column("name", "name", 10), Column("lag", "lag", 6,
                                                                  justify="right")])

    app = Figures()
    async with app.run_test(size=(60, 6)) as pilot:
        table = app.query_one(KeyedTable)
        huge = "9" * (FIGURE_CAP + 4)
        table.set_rows([("g1", {"name": "g1", "lag": Text("800,000")}),
                        ("g2", {"name": "g2", "lag": Text(huge)})])
        await pilot.pause()
        lines = ["".join(seg.text for seg in strip) for strip in
                 table.render_lines(table.region.reset_offset)[1:3]]
        assert "800,000" in lines[0], lines
        assert "…" in lines[1] and huge not in lines[1], lines
