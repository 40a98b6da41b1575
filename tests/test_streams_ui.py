"""The Streams panel (5) driven through Textual's Pilot against a real server."""

from __future__ import annotations

import json
from typing import cast

from textual.widgets import Input, Static

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.backend.envelopes import decode
from ferrite_tui.config import Config
from ferrite_tui.ui.app import FerriteApp
from ferrite_tui.ui.screens.dialogs import ConfirmScreen, FormScreen
from helpers import async_wait_until

S = "orders:events"
G = "workers"


def seed(sync) -> dict[str, list[str]]:
    """20 entries; 'dead-worker' holds 5 (idle 10 min, 2 of them delivered 6 times),
    'live' holds 5, 10 are not delivered yet."""
    pipe = sync.pipeline(transaction=False)
    for i in range(20):
        pipe.xadd(S, {"data": json.dumps({"order": i})})
    ids = [i.decode() for i in pipe.execute()]
    sync.xgroup_create(S, G, id="0")
    sync.xreadgroup(G, "dead-worker", {S: ">"}, count=5)
    sync.xreadgroup(G, "live", {S: ">"}, count=5)
    sync.execute_command(b"XCLAIM", S, G, "dead-worker", 0, *ids[:5], "IDLE", 600_000,
                         "JUSTID")
    sync.execute_command(b"XCLAIM", S, G, "dead-worker", 0, *ids[:2], "IDLE", 600_000,
                         "RETRYCOUNT", 6, "JUSTID")
    return {"all": ids, "dead": ids[:5], "live": ids[5:10]}


def owners(sync) -> dict[str, str]:
    rows = sync.xpending_range(S, G, "-", "+", 1000)
    return {r["message_id"].decode(): r["consumer"].decode() for r in rows}


def make_app(url, tmp_path, **settings) -> FerriteApp:
    return FerriteApp(Config(), ConnectionSettings(url=url, **settings), refresh=0.2,
                      audit_path=tmp_path / "audit.log")


def panel(app):
    return app.panel("streams")


async def open_streams(app, pilot, pending: int):
    await async_wait_until(lambda: app.monitor and app.monitor.snapshot
                           and app.monitor.snapshot.queues, timeout=15)
    await pilot.press("5")
    p = panel(app)
    await async_wait_until(lambda: p.page is not None and len(p.page.entries) == pending,
                           timeout=10, message="pending entries never shown")
    await pilot.pause()
    return p


async def select_entry(app, pilot, entry_id: str):
    p = panel(app)
    p.pending_table.focus()
    await async_wait_until(lambda: p.pending_table.select_key(entry_id), timeout=5)
    await pilot.pause()
    assert p.selected_entry().id == entry_id


async def fill_form(app, pilot, **values):
    await async_wait_until(lambda: isinstance(app.screen, FormScreen), timeout=5)
    for name, value in values.items():
        app.screen.query_one(f"#field-{name}", Input).value = value
    first = next(iter(values))
    app.screen.query_one(f"#field-{first}", Input).focus()
    await pilot.press("enter")
    await pilot.pause()


def audit(tmp_path) -> list[dict]:
    path = tmp_path / "audit.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_tables_linked_and_claim_selected_end_to_end(redis_url, sync, tmp_path):
    ids = seed(sync)
    app = make_app(redis_url, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        p = await open_streams(app, pilot, 10)
        assert p.stream == S and p.group == G
        await async_wait_until(lambda: p.consumers_table.row_count == 2, timeout=5)
        assert p.groups_table.row_count == 1
        lag = p.group_rows[0].lag
        assert lag == 10 and p.group_rows[0].lag_kind in ("xinfo", "counted")
        marks = [p.pending_table.get_row(i)[0].plain for i in ids["dead"][:3]]
        assert marks == ["P!", "P!", ""]
        await select_entry(app, pilot, ids["dead"][2])
        await pilot.press("c")
        await fill_form(app, pilot, consumer="rescuer")
        # A name never seen reading: the console asks whether a process runs it.
        await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen), timeout=5)
        assert "has not read from this group" in str(cast(ConfirmScreen, app.screen).body)
        await pilot.press("y")
        await async_wait_until(lambda: owners(sync).get(ids["dead"][2]) == "rescuer",
                               timeout=5)
        assert sum(1 for c in owners(sync).values() if c == "rescuer") == 1
        await async_wait_until(lambda: any(e.consumer == "rescuer" for e in p.page.entries),
                               timeout=5)
        assert [a["action"] for a in audit(tmp_path)] == ["stream claim"]


async def test_claim_all_idle_with_progress(redis_url, sync, tmp_path):
    ids = seed(sync)
    app = make_app(redis_url, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_streams(app, pilot, 10)
        panel(app).pending_table.focus()
        await pilot.press("C")
        await fill_form(app, pilot, consumer="sweeper", idle="300")
        await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen), timeout=5)
        await pilot.press("y")  # a name never seen reading: confirmed
        await async_wait_until(
            lambda: sorted(i for i, c in owners(sync).items() if c == "sweeper")
            == sorted(ids["dead"]), timeout=10)
        assert all(owners(sync)[i] == "live" for i in ids["live"])


async def test_ack_selected_and_ack_all_shown_with_count(redis_url, sync, tmp_path):
    ids = seed(sync)
    app = make_app(redis_url, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        p = await open_streams(app, pilot, 10)
        await select_entry(app, pilot, ids["live"][0])
        await pilot.press("a")
        await async_wait_until(lambda: ids["live"][0] not in owners(sync), timeout=5)
        await async_wait_until(lambda: len(p.page.entries) == 9, timeout=5)
        p.pending_table.focus()
        await pilot.press("A")
        await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen), timeout=5)
        assert "Ack 9 entries" in cast(ConfirmScreen, app.screen).title_text
        await pilot.press("y")
        await async_wait_until(lambda: owners(sync) == {}, timeout=5)
        assert [a["count"] for a in audit(tmp_path)] == [1, 9]


async def test_poison_to_dlq_and_inspect(redis_url, sync, tmp_path):
    from ferrite_tui.ui.screens.inspector import InspectorScreen

    ids = seed(sync)
    app = make_app(redis_url, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        p = await open_streams(app, pilot, 10)
        await select_entry(app, pilot, ids["dead"][3])
        await pilot.press("k")  # not poison: refused
        await pilot.pause()
        assert not isinstance(app.screen, FormScreen)
        await select_entry(app, pilot, ids["dead"][0])
        await pilot.press("enter")
        await async_wait_until(lambda: isinstance(app.screen, InspectorScreen), timeout=5)
        assert cast(InspectorScreen, app.screen).value == json.dumps({"order": 0}).encode()
        assert ("deliveries", "6  (poison)") in cast(InspectorScreen, app.screen).meta
        await pilot.press("escape")
        await pilot.pause()
        p.pending_table.focus()
        await pilot.press("K")
        await fill_form(app, pilot, dlq="orders:events:dlq")
        await async_wait_until(lambda: sync.llen("orders:events:dlq") == 2, timeout=5)
        envs = [decode(v) for v in sync.lrange("orders:events:dlq", 0, 10)]
        assert [e.id for e in envs] == ids["dead"][:2]
        assert all(e.kind == "dead" and e.reason == "max deliveries exceeded" for e in envs)
        assert not set(ids["dead"][:2]) & set(owners(sync))


async def test_publish_validates_json_and_shows_id(redis_url, sync, tmp_path):
    from ferrite_tui.ui.screens.publish import PublishScreen

    seed(sync)
    app = make_app(redis_url, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_streams(app, pilot, 10)
        await pilot.press("n")
        await async_wait_until(lambda: isinstance(app.screen, PublishScreen), timeout=5)
        screen = app.screen
        assert screen.query_one("#pub-stream", Input).value == S
        screen.query_one("#pub-value-0", Input).value = "{not json"
        screen.query_one("#pub-value-0", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen  # refused: invalid JSON
        assert "not valid JSON" in str(screen.query_one("#error", Static).render())
        screen.query_one("#pub-value-0", Input).value = '{"order": 99}'
        await pilot.press("ctrl+n")
        await async_wait_until(lambda: screen.query("#pub-value-1"), timeout=5)
        screen.query_one("#pub-name-1", Input).value = "source"
        screen.query_one("#pub-value-1", Input).value = "console; with = signs"
        screen.query_one("#pub-maxlen", Input).value = "1000"
        screen.query_one("#pub-value-1", Input).focus()
        await pilot.press("enter")
        await async_wait_until(lambda: sync.xlen(S) == 21, timeout=5)
        new_id, fields = sync.xrevrange(S, count=1)[0]
        assert fields == {b"data": b'{"order": 99}', b"source": b"console; with = signs"}
        await async_wait_until(lambda: any(new_id.decode() in str(n.message)
                                           for n in app.notices), timeout=5)
        assert audit(tmp_path)[-1]["ids"] == [new_id.decode()]


async def test_read_only_refuses_and_changes_nothing(redis_url, sync, tmp_path):
    ids = seed(sync)
    before = owners(sync)
    app = make_app(redis_url, tmp_path, read_only=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_streams(app, pilot, 10)
        await select_entry(app, pilot, ids["dead"][0])
        for key in ("c", "C", "a", "A", "k", "K", "n", "G", "L"):
            await pilot.press(key)
            await pilot.pause()
            assert not isinstance(app.screen, (FormScreen, ConfirmScreen)), key
        assert owners(sync) == before and sync.xlen(S) == 20
        assert audit(tmp_path) == []


async def test_bad_input_and_vanishing_group_and_stream(redis_url, sync, tmp_path):
    sync.xadd(S, {"data": b"\xff\xfe\x00"})
    sync.xadd(S, {"no-data": "x"})
    sync.xadd(S, {"data": "\x1b[31mnot json"})
    sync.xgroup_create(S, G, id="0")
    evil = "\x1b[2Jevil\nname"
    sync.xreadgroup(G, evil, {S: ">"}, count=3)
    app = make_app(redis_url, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        p = await open_streams(app, pilot, 3)
        await async_wait_until(lambda: p.consumers_table.row_count == 1, timeout=5)
        shown = p.consumers_table.get_row_at(0)[0].plain
        assert "\x1b" not in shown and "\\x1b[2Jevil\\nname" in shown
        previews = [p.pending_table.cell_text(k, "preview") for k in p.pending_table.row_keys]
        assert all("\x1b" not in t for t in previews)
        assert any("no-data=x" in t for t in previews)
        sync.xgroup_destroy(S, G)
        await async_wait_until(lambda: p.group is None or p.detail_error, timeout=5)
        sync.delete(S)
        await async_wait_until(lambda: p.stream is None or p.detail_error, timeout=10)
        await pilot.press("b")
        await pilot.pause()
        assert app.is_running


async def test_group_admin_and_browser(redis_url, sync, tmp_path):
    ids = seed(sync)["all"]
    sync.xgroup_createconsumer(S, G, "idle-one")
    app = make_app(redis_url, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        p = await open_streams(app, pilot, 10)
        await pilot.press("G")
        await fill_form(app, pilot, name="audit", start=ids[14])
        await async_wait_until(lambda: any(g.name == "audit" for g in p.group_rows),
                               timeout=5)
        assert next(g for g in p.group_rows if g.name == "audit").lag == 5
        await pilot.press("L")
        await fill_form(app, pilot, id="0")
        assert p.group == G

        def workers_last_id():
            return {g["name"]: g["last-delivered-id"] for g in sync.xinfo_groups(S)}[b"workers"]

        await async_wait_until(lambda: workers_last_id() == b"0-0", timeout=5)
        # Delete a consumer holding nothing; one holding entries says how many it drops.
        await async_wait_until(lambda: p.consumers_table.select_key("idle-one"), timeout=5)
        p.consumers_table.focus()
        await pilot.press("d")
        await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen), timeout=5)
        await pilot.press("y")
        await async_wait_until(
            lambda: "idle-one" not in {c["name"].decode() for c in sync.xinfo_consumers(S, G)},
            timeout=5)
        p.consumers_table.select_key("dead-worker")
        await pilot.press("d")
        await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen), timeout=5)
        assert "holds 5 pending" in cast(ConfirmScreen, app.screen).body.plain
        await pilot.press("n")
        await pilot.pause()
        assert owners(sync).get(ids[0]) == "dead-worker"  # refused: still there
        # Browser: newest first, then go to a time before the 5th entry.
        await pilot.press("b")
        await async_wait_until(lambda: len(p.browser_rows) == 20, timeout=5)
        assert p.browser_rows[0].id == ids[-1]
        await pilot.press("g")
        await fill_form(app, pilot, when=ids[4])
        await async_wait_until(lambda: p.browser_rows and p.browser_rows[0].id == ids[4],
                               timeout=5)
        assert [e.id for e in p.browser_rows] == ids[4::-1]


async def test_a_dead_consumer_is_marked_in_its_name_at_80_columns(redis_url, sync, tmp_path):
    """At 80 columns the consumer table leaves out `idle` and `dead?`: the dead consumer is
    marked in its name, so the one to claim from is still told apart."""
    seed(sync)
    app = make_app(redis_url, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        p = await open_streams(app, pilot, pending=10)
        table = p.consumers_table
        await async_wait_until(lambda: table.row_count == 2 and p._dead_consumers())
        assert p._dead_consumers() == {"dead-worker"}
        assert "dead" not in {c.key for c in table.shown}  # no room for the column
        assert table.cell_text("dead-worker", "name").startswith("✗ ")
        assert not table.cell_text("live", "name").startswith("✗")


async def test_end_and_home_go_to_the_last_and_first_entry(redis_url, sync, tmp_path):
    """End on the pending entries: the page holding the last one, the cursor on it; in
    the browser (newest first): the oldest entry. Home: back to the first."""
    pipe = sync.pipeline(transaction=False)
    for i in range(250):  # more than a page of pending entries, and of the browser
        pipe.xadd(S, {"data": json.dumps({"n": i})})
    ids = [i.decode() for i in pipe.execute()]
    sync.xgroup_create(S, G, id="0")
    sync.xreadgroup(G, "w", {S: ">"}, count=250)
    app = make_app(redis_url, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        p = await open_streams(app, pilot, 100)
        table = p.pending_table
        table.focus()
        await pilot.press("end")
        await async_wait_until(lambda: table.cursor_key == ids[-1], timeout=10)
        assert p.page is not None and p.page.entries[-1].id == ids[-1]
        assert not any("pages go from the head" in n.message for n in app.notices)
        await pilot.press("home")
        await async_wait_until(lambda: table.cursor_key == ids[0], timeout=10)
        await pilot.press("b")
        browser = p.browser_table
        await async_wait_until(lambda: p.browser_rows and p.browser_rows[0].id == ids[-1],
                               timeout=10)
        await pilot.press("end")
        await async_wait_until(lambda: browser.cursor_key == ids[0], timeout=10)
        assert p.browser_rows[-1].id == ids[0]
        await pilot.press("home")
        await async_wait_until(lambda: browser.cursor_key == ids[-1], timeout=10)
