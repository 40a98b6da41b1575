"""Keys typed in one burst right after the key that opens a dialog land in that dialog, in
order; keys typed while an action's worker runs wait for it, then go where they were aimed."""

from __future__ import annotations

import pytest
import redis
from textual.widgets import Input

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.config import Config
from ferrite_tui.ui.app import FerriteApp
from ferrite_tui.ui.screens.dialogs import FormScreen
from helpers import async_wait_until, running
from keyburst import burst, typed


@pytest.fixture
def sync(redis_url):
    r = redis.Redis.from_url(redis_url)
    yield r
    r.close()


def make_app(url, tmp_path):
    return FerriteApp(Config(), ConnectionSettings(url=url), refresh=0.2,
                      audit_path=tmp_path / "audit.log")


async def connected(app):
    await async_wait_until(lambda: app.monitor is not None and app.monitor.snapshot is not None,
                           timeout=20)


def audit(tmp_path) -> str:
    path = tmp_path / "audit.log"
    return path.read_text() if path.exists() else ""


async def test_publish_burst_lands_in_the_dialog(redis_url, sync, tmp_path):
    app = make_app(redis_url, tmp_path)
    async with running(app, size=(80, 24)) as pilot:
        await connected(app)
        await pilot.press("7")
        p = sync.pubsub()
        p.subscribe("orders.nctest")
        p.get_message(timeout=2)
        # What an operator types: the dialog is not there yet when most of it arrives.
        burst(app, "n", "ctrl+u", *typed("orders.nctest"), "tab", *typed('{"nc":1}'), "enter")
        await async_wait_until(lambda: '"publish"' in audit(tmp_path), timeout=20)
        got = p.get_message(timeout=10)
        p.close()
        assert got is not None and got["channel"] == b"orders.nctest"
        assert got["data"] == b'{"nc":1}'
        assert not isinstance(app.screen, FormScreen)


async def test_claim_burst_names_the_consumer(redis_url, sync, tmp_path):
    from test_streams_ui import G, S, open_streams, owners, seed, select_entry

    ids = seed(sync)
    app = make_app(redis_url, tmp_path)
    async with running(app, size=(80, 24)) as pilot:
        await open_streams(app, pilot, pending=10)
        target = ids["dead"][0]
        await select_entry(app, pilot, target)
        # A name not seen reading asks for a yes (maybe no process runs it): in the burst too.
        burst(app, "c", "ctrl+u", *typed("burst-worker"), "enter", "y")
        await async_wait_until(lambda: owners(sync).get(target) == "burst-worker", timeout=20)
        assert not isinstance(app.screen, FormScreen)
        assert sync.xpending(S, G)["pending"] == 10


async def test_edit_burst_replaces_the_payload(redis_url, sync, tmp_path):
    import json

    from test_deadletters_ui import DLQ, TARGET, dead, open_dlq

    sync.rpush(DLQ, dead(0, "boom"))
    app = make_app(redis_url, tmp_path)
    async with running(app, size=(80, 24)) as pilot:
        await open_dlq(app, pilot)
        burst(app, "e", "ctrl+u", *typed('{"fixed":true}'), "enter")
        await async_wait_until(lambda: sync.llen(TARGET) == 1, timeout=20)
        job = json.loads(sync.lindex(TARGET, 0))
        assert job["id"] == "job-0" and job["payload"] == {"fixed": True}
        assert sync.llen(DLQ) == 0


async def test_schedule_burst_fills_both_fields(redis_url, sync, tmp_path):
    import json
    import time

    from test_scheduled_ui import KEY, open_panel, seed

    await seed(redis_url)
    app = make_app(redis_url, tmp_path)
    async with running(app, size=(80, 24)) as pilot:
        await open_panel(app, pilot)
        before = sync.zcard(KEY)
        burst(app, "n", "ctrl+u", *typed('{"report":"burst"}'), "tab", "ctrl+u",
              *typed("+90m"), "enter")
        await async_wait_until(lambda: sync.zcard(KEY) == before + 1, timeout=20)
        now = time.time() * 1000
        added = [(json.loads(m), s) for m, s in sync.zrange(KEY, 0, -1, withscores=True)
                 if json.loads(m).get("payload") == {"report": "burst"}]
        assert len(added) == 1
        _, due = added[0]
        assert 85 * 60_000 < due - now < 95 * 60_000


async def test_filter_burst_filters_by_the_whole_text(redis_url, sync, tmp_path):
    sync.rpush("queue:alpha", b"x")
    sync.rpush("queue:beta", b"y")
    app = make_app(redis_url, tmp_path)
    async with running(app, size=(80, 24)):
        await async_wait_until(lambda: app.monitor and app.monitor.snapshot
                               and len(app.monitor.snapshot.queues) == 2, timeout=20)
        burst(app, "2", "slash", *typed("alpha"), "enter", "j")
        filter_input = app.query_one("#filter", Input)
        await async_wait_until(lambda: filter_input.value == "alpha" and not filter_input.has_focus,
                               timeout=20)
        assert app.query_one("#tabs").active == "queues"


async def test_connect_burst_types_the_url(redis_url, tmp_path):
    from ferrite_tui.ui.screens.connect import ConnectScreen

    app = FerriteApp(Config(), None, refresh=0.2, audit_path=tmp_path / "audit.log")
    async with running(app, size=(80, 24)):
        # Typed as the program starts: the screen is not even there yet.
        burst(app, "ctrl+u", *typed(redis_url), "enter")
        await async_wait_until(lambda: app.settings is not None, timeout=20)
        assert app.settings is not None and app.settings.url == redis_url
        assert not isinstance(app.screen, ConnectScreen)


def terminal_sends(app, data: str) -> None:
    """Keys as Textual's parser reads these bytes from the terminal in one read."""
    from textual._xterm_parser import XTermParser

    parser = XTermParser()
    for event in [*parser.feed(data), *parser.feed("")]:  # "" ends the read
        event.set_sender(app)
        app._driver.send_message(event)


async def test_escape_then_a_key_in_one_read_is_two_keys(redis_url, sync, tmp_path):
    """A terminal delivers Escape and the next key in one read when typed quickly (or over
    SSH); Textual's parser reads ESC 1 as "¡" and ESC j as Alt+j. In the console they are
    Escape, then the key: the filter is left and the panel switches."""
    sync.rpush("queue:alpha", b"x")
    app = make_app(redis_url, tmp_path)
    async with running(app, size=(80, 24)) as pilot:
        await connected(app)
        await pilot.press("2", "slash", *typed("al"))
        filter_input = app.query_one("#filter", Input)
        await async_wait_until(lambda: filter_input.has_focus and filter_input.value == "al")
        terminal_sends(app, "\x1b1")
        await async_wait_until(lambda: app.query_one("#tabs").active == "overview")
        assert "¡" not in filter_input.value and not filter_input.has_focus
        await pilot.press("2", "slash")
        await async_wait_until(lambda: filter_input.has_focus)
        terminal_sends(app, "\x1bj")
        await async_wait_until(lambda: not filter_input.has_focus,
                               message=f"{filter_input.value!r} {app.focused}")
        assert "j" not in filter_input.value
