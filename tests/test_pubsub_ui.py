"""Panel 7 through Pilot against real servers: tail, pause, filters, follow, inspect,
record, publish, patterns, read-only, and a server that refuses SUBSCRIBE."""

from __future__ import annotations

import pytest
import redis
from textual.widgets import Input, TabbedContent

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.backend.recording import Entry, read_ndjson
from ferrite_tui.config import Config
from ferrite_tui.ui.app import FerriteApp
from ferrite_tui.ui.panels.pubsub import PubSubPanel
from ferrite_tui.ui.screens.dialogs import FormScreen
from ferrite_tui.ui.screens.inspector import InspectorScreen
from ferrite_tui.ui.widgets.logview import LogView
from helpers import async_wait_until, running

HOSTILE = [
    b"\x1b[31mred\x1b[0m \x1b]0;title\x07",
    b"[bold red]markup[/] [link=http://x]y[/link]",
    b"\x00\x01\x7f\x9b ctrl",
    b"\xff\xfe\xc3\x28 not utf-8",
    b"{" + b"x" * (1 << 20) + b"}",
]
REFUSED = ['rename-command SUBSCRIBE ""', 'rename-command PSUBSCRIBE ""']


@pytest.fixture
def sync(redis_url):
    r = redis.Redis.from_url(redis_url)
    yield r
    r.close()


def make_app(url, tmp_path, read_only=False):
    return FerriteApp(Config(), ConnectionSettings(url=url, read_only=read_only),
                      refresh=0.2, audit_path=tmp_path / "audit.log")


async def open_panel(app, pilot) -> PubSubPanel:
    await async_wait_until(lambda: app.monitor is not None and app.monitor.snapshot is not None)
    await pilot.press("7")
    panel = app.panel("pubsub")
    await async_wait_until(lambda: panel.tail is not None and panel.tail.state.status
                           in ("live", "refused"), message="tail never started")
    return panel


def publish(r, channel, n, body="m-{i}"):
    pipe = r.pipeline(transaction=False)
    for i in range(n):
        pipe.publish(channel, body.replace("{i}", str(i)))
    pipe.execute()


def screen_lines(log: LogView) -> list[str]:
    return [log.render_line(y).text for y in range(log.size.height)]


def messages(log: LogView) -> list[Entry]:
    return [e for e in log.rows if e.is_message]


def notes(app) -> list[str]:
    return [str(n.message) for n in app.notices]


async def fill_form(app, pilot, **values) -> None:
    await async_wait_until(lambda: isinstance(app.screen, FormScreen), message="no form")
    await pilot.pause()
    for name, value in values.items():
        field = app.screen.query_one(f"#field-{name}", Input)
        field.value = value
    field.focus()
    await pilot.press("enter")
    await async_wait_until(lambda: not isinstance(app.screen, FormScreen))


async def test_tail_counts_draws_and_rates(redis_url, sync, tmp_path):
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        panel = await open_panel(app, pilot)
        log = panel.log_view
        publish(sync, "orders.created", 300)
        publish(sync, "orders.paid", 50)
        await async_wait_until(lambda: len(messages(log)) == 350, message="log incomplete")
        assert panel.tail.received == 350 and panel.skipped == 0
        # follow mode: the newest line is on screen and selected
        assert log.follow and log.selected.data == b"m-49"
        await async_wait_until(lambda: any("orders.paid" in line and "m-49" in line
                                           for line in screen_lines(log)))
        await async_wait_until(lambda: panel.table.row_count >= 2)
        await async_wait_until(
            lambda: "350 received" in str(panel.query_one("#note").render()))
        row = panel.table.get_row("channel:orders.created")
        assert str(row[-1]) == "300"  # received column
        # drawn with the line API: a redraw draws the visible lines, not the whole log
        assert log.renders <= 3 * log.size.height + 50
        # leaving the tab works from the table (focus must not pull the tab back)
        await pilot.press("8")
        await pilot.pause()
        assert app.query_one("#tabs", TabbedContent).active == "server"


async def test_hostile_messages_are_shown_literally(redis_url, sync, tmp_path):
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        panel = await open_panel(app, pilot)
        for body in HOSTILE:
            sync.publish(b"evil[b]\x1b[2J", body)
        await async_wait_until(lambda: len(messages(panel.log_view)) == len(HOSTILE))
        await pilot.pause()
        text = "\n".join(screen_lines(panel.log_view))
        assert "\x1b" not in text and "\x07" not in text and "\x00" not in text
        assert "\\x1b[31mred\\x1b[0m" in text
        assert "[bold red]markup[/] [link=http://x]y[/link]" in text
        assert "\\xff\\xfe" in text
        assert "evil[b]\\x1b[2J" in text  # the channel, literal
        assert "1.0 MiB" in text and "xxx…" in text  # size shown, body truncated
        assert all(len(line) <= panel.log_view.size.width for line in screen_lines(panel.log_view))


async def test_pause_keeps_counting_and_resume_catches_up(redis_url, sync, tmp_path):
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        panel = await open_panel(app, pilot)
        publish(sync, "c", 10)
        await async_wait_until(lambda: len(messages(panel.log_view)) == 10)
        await pilot.press("space")
        assert panel.tail.paused
        publish(sync, "c", 25)
        await async_wait_until(lambda: panel.tail.received == 35)
        await async_wait_until(lambda: "25 arrived since" in
                               str(panel.query_one("#log-status").render()))
        assert len(messages(panel.log_view)) == 10  # the view held still
        await pilot.press("space")
        assert not panel.tail.paused
        await async_wait_until(lambda: len(messages(panel.log_view)) == 35)
        assert panel.skipped == 0


async def test_view_says_how_many_it_skipped(redis_url, sync, tmp_path):
    app = FerriteApp(Config(pubsub_buffer=50), ConnectionSettings(url=redis_url), refresh=0.2,
                     audit_path=tmp_path / "audit.log")
    async with running(app) as pilot:
        panel = await open_panel(app, pilot)
        assert panel.tail.buffer_size == 50 and panel.log_view.limit == 50
        await pilot.press("space")
        publish(sync, "c", 120)
        await async_wait_until(lambda: panel.tail.received == 120)
        await pilot.press("space")
        await async_wait_until(lambda: panel.skipped == 70)
        assert len(messages(panel.log_view)) == 50
        await async_wait_until(lambda: "view skipped 70" in
                               str(panel.query_one("#log-status").render()))


async def test_filters_by_text_and_channel(redis_url, sync, tmp_path):
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        panel = await open_panel(app, pilot)
        publish(sync, "orders.created", 20, body='{"n":{i},"tag":"red"}')
        publish(sync, "orders.paid", 5, body='{"n":{i},"tag":"blue"}')
        publish(sync, "users.signup", 3, body="plain")
        await async_wait_until(lambda: len(messages(panel.log_view)) == 28)
        await pilot.press("slash")
        await pilot.press(*"BLUE")  # text filter, case-insensitive
        await async_wait_until(lambda: len(messages(panel.log_view)) == 5)
        assert {e.channel for e in messages(panel.log_view)} == {b"orders.paid"}
        app.query_one("#filter", Input).value = "users"  # matches the channel name
        await async_wait_until(lambda: len(messages(panel.log_view)) == 3)
        assert panel.table.row_count == 1
        # new messages pass the filter as they arrive
        publish(sync, "users.signup", 2, body="more")
        publish(sync, "orders.paid", 2)
        await async_wait_until(lambda: panel.tail.received == 32)
        await async_wait_until(lambda: len(messages(panel.log_view)) == 5)
        await pilot.press("escape")  # clears the filter
        await async_wait_until(lambda: len(messages(panel.log_view)) == 32)
        # enter on a channel row shows that channel only; enter again shows all
        await async_wait_until(lambda: panel.table.row_count == 3)
        panel.table.focus()
        panel.table.select_key("channel:orders.paid")
        await pilot.press("enter")
        await async_wait_until(lambda: len(messages(panel.log_view)) == 7)
        assert panel.log_view.has_focus
        panel.table.focus()
        await pilot.press("enter")
        await async_wait_until(lambda: len(messages(panel.log_view)) == 32)


async def test_follow_moving_and_inspect(redis_url, sync, tmp_path):
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        panel = await open_panel(app, pilot)
        publish(sync, "c", 100)
        await async_wait_until(lambda: len(messages(panel.log_view)) == 100)
        panel.log_view.focus()
        await pilot.press("up", "up")
        assert not panel.log_view.follow and panel.log_view.selected.data == b"m-97"
        publish(sync, "c", 5, body="new-{i}")
        await async_wait_until(lambda: len(messages(panel.log_view)) == 105)
        assert panel.log_view.selected.data == b"m-97"  # not following: the cursor stays
        await pilot.press("enter")
        await async_wait_until(lambda: isinstance(app.screen, InspectorScreen))
        assert app.screen.value == b"m-97" if hasattr(app.screen, "value") else True
        await pilot.press("escape")
        await async_wait_until(lambda: not isinstance(app.screen, InspectorScreen))
        await pilot.press("f")
        assert panel.log_view.follow and panel.log_view.selected.data == b"new-4"
        await pilot.press("f")
        assert not panel.log_view.follow
        await pilot.press("end")
        assert panel.log_view.follow
        await pilot.press("1")  # and from the log
        await pilot.pause()
        assert app.query_one("#tabs", TabbedContent).active == "overview"


async def test_record_start_and_stop(redis_url, sync, tmp_path):
    app = make_app(redis_url, tmp_path)
    path = tmp_path / "rec.ndjson"
    async with running(app) as pilot:
        panel = await open_panel(app, pilot)
        publish(sync, "before", 3)
        await async_wait_until(lambda: panel.tail.received == 3)
        await pilot.press("w")
        await fill_form(app, pilot, path=str(path))
        assert panel.tail.recorder is not None
        publish(sync, "during", 40)
        sync.publish("during", HOSTILE[3])
        await async_wait_until(lambda: panel.tail.received == 44)
        await async_wait_until(lambda: "REC 41" in str(panel.query_one("#log-status").render()))
        await pilot.press("w")
        assert panel.tail.recorder is None
        assert any("Recorded 41 messages" in n for n in notes(app))
        publish(sync, "after", 2)
        await async_wait_until(lambda: panel.tail.received == 46)
        # an existing file is never overwritten
        await pilot.press("w")
        await fill_form(app, pilot, path=str(path))
        assert panel.tail.recorder is None
        assert any("exists already" in n for n in notes(app))
    records = read_ndjson(path)
    assert [r["message"] for r in records] == [f"m-{i}".encode() for i in range(40)] + [
        HOSTILE[3]]
    assert {r["channel"] for r in records} == {b"during"}


async def test_publish_reports_receivers(redis_url, sync, tmp_path):
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        panel = await open_panel(app, pilot)
        await pilot.press("n")
        await fill_form(app, pilot, channel="orders.created", message='{"id":"[b]1"}')
        await async_wait_until(lambda: panel.tail.received == 1)
        assert panel.tail.entries()[-1].data == b'{"id":"[b]1"}'
        await async_wait_until(lambda: any("only this console's tail" in n for n in notes(app)))
        # another subscriber: it counts
        other = sync.pubsub()
        other.subscribe("orders.created")
        other.get_message(timeout=2)
        await pilot.press("n")
        await fill_form(app, pilot, channel="orders.created", message="x")
        await async_wait_until(lambda: any("1 subscriber received it (plus this console's tail)"
                                           in n for n in notes(app)))
        other.close()
        # nobody listening: a warning
        await pilot.press("t")
        await async_wait_until(lambda: not panel.tail.running)
        await pilot.press("n")
        await fill_form(app, pilot, channel="orders.[b]x", message="x")
        await async_wait_until(lambda: any("0 subscribers received it" in n for n in notes(app)))
        assert any("orders.[b]x" in n for n in notes(app))  # literal, not markup
        assert (tmp_path / "audit.log").read_text().count('"publish"') == 3


async def test_read_only_refuses_publish(redis_url, sync, tmp_path):
    app = make_app(redis_url, tmp_path, read_only=True)
    async with running(app, size=(80, 24)) as pilot:
        panel = await open_panel(app, pilot)
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, FormScreen)
        assert any("read-only" in n for n in notes(app))
        # the tail still works read-only (it changes nothing)
        publish(sync, "c", 3)
        await async_wait_until(lambda: len(messages(panel.log_view)) == 3)
    assert not (tmp_path / "audit.log").exists()


async def test_patterns_are_editable(redis_url, sync, tmp_path):
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        panel = await open_panel(app, pilot)
        await pilot.press("p")
        await fill_form(app, pilot, patterns="orders.* 'a b'")
        await async_wait_until(lambda: panel.tail.patterns == ("orders.*", "a b")
                               and panel.tail.state.status == "live")
        publish(sync, "users.x", 5)
        publish(sync, "a b", 1)
        publish(sync, "orders.y", 2)
        await async_wait_until(lambda: panel.tail.received == 3)
        await async_wait_until(lambda: len(messages(panel.log_view)) == 3)
        assert any(e.kind == Entry.NOTE for e in panel.log_view.rows)


async def test_refused_subscribe_keeps_table_and_publish(server_factory, tmp_path):
    server = server_factory(extra_args=REFUSED)
    app = make_app(server.url, tmp_path)
    async with running(app) as pilot:
        panel = await open_panel(app, pilot)
        assert panel.tail.state.status == "refused"
        await async_wait_until(lambda: "refused PSUBSCRIBE" in
                               str(panel.query_one("#note").render()))
        note = str(panel.query_one("#note").render())
        assert "pattern subscriptions (NUMPAT)" in note  # the channel part still polls
        assert "publish still work" in note
        await pilot.press("n")
        await fill_form(app, pilot, channel="orders.created", message="x")
        await async_wait_until(lambda: any("0 subscribers received it" in n
                                           for n in notes(app)))
        assert not any("error" in n.lower() for n in notes(app))


async def test_gap_after_a_restart_is_marked_in_the_log(server_factory, tmp_path):
    server = server_factory()
    app = make_app(server.url, tmp_path)
    async with running(app) as pilot:
        panel = await open_panel(app, pilot)
        r = redis.Redis.from_url(server.url)
        publish(r, "c", 3)
        r.close()
        await async_wait_until(lambda: len(messages(panel.log_view)) == 3)
        server.restart()
        await async_wait_until(lambda: panel.tail.gaps == 1 and panel.tail.state.status
                               == "live", timeout=20)
        r = redis.Redis.from_url(server.url)
        publish(r, "c", 2, body="after-{i}")
        r.close()
        await async_wait_until(lambda: len(messages(panel.log_view)) == 5)
        await pilot.pause()
        lines = screen_lines(panel.log_view)
        gap = next(i for i, line in enumerate(lines) if "── gap ──" in line)
        assert "resubscribed" in lines[gap]
        assert "after-0" in lines[gap + 1] and "m-2" in "\n".join(lines[:gap])
        await async_wait_until(lambda: "1 gap" in str(panel.query_one("#note").render()))


async def test_sharded_channels_on_one_server_or_why_not(redis_url, sync, tmp_path):
    from ferrite_tui.backend.shards import ShardedTail

    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        panel = await open_panel(app, pilot)
        await pilot.press("s")
        if not app.monitor.client.capabilities.sharded_pubsub:  # before Redis 7, Ferrite
            await async_wait_until(lambda: any("not available on this server" in n
                                               for n in notes(app)))
            assert not isinstance(app.screen, FormScreen)
            assert not isinstance(panel.tail, ShardedTail)
            return
        await fill_form(app, pilot, channels="jobs.done")
        tail = panel.tail
        assert isinstance(tail, ShardedTail)
        await async_wait_until(lambda: tail.state.status == "live" and len(tail.feeds) == 1)
        for i in range(5):
            sync.spublish("jobs.done", f"d-{i}")
        sync.publish("jobs.done", "plain")  # the plain channel of the same name
        await async_wait_until(lambda: tail.by_shard == {b"jobs.done": 5}
                               and tail.by_channel == {b"jobs.done": 1})
        table = panel.table
        await async_wait_until(lambda: table.cell_text("shard:jobs.done", "received") == "5"
                               and table.cell_text("channel:jobs.done", "received") == "1")
        assert table.cell_text("shard:jobs.done", "kind") == "sharded"
        assert table.cell_text("shard:jobs.done", "subs") == "?"  # not polled off a cluster
        # The log takes the tail's entries on its own beat (the table may be ahead).
        await async_wait_until(lambda: sum(e.sharded for e in messages(panel.log_view)) == 5)
