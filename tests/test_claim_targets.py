"""Claim targets: never the holder, never a dead consumer; a dead target needs a yes.

The backend choice (`claim_target`) against real XINFO CONSUMERS replies, and the claim
dialogs (`c`, `C`) through Textual's Pilot against a real server.
"""

from __future__ import annotations

import json
from typing import cast

from textual.widgets import Input

from ferrite_tui.backend import streams as st
from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.config import Config
from ferrite_tui.ui.app import FerriteApp
from ferrite_tui.ui.panels.streams.panel import StreamsPanel
from ferrite_tui.ui.screens.dialogs import ConfirmScreen, FormScreen
from helpers import async_wait_until, client_at, wait_until

S = "orders:events"
G = "workers"


def seed(sync) -> dict[str, list[str]]:
    """'dead-worker' holds 5 entries idle 10 min (its own idle was reset by the claim that
    made them idle, as a claim back to it would); 'live' holds 5 fresh ones; 'newest' read
    last and holds one."""
    pipe = sync.pipeline(transaction=False)
    for i in range(20):
        pipe.xadd(S, {"data": json.dumps({"order": i})})
    ids = [i.decode() for i in pipe.execute()]
    sync.xgroup_create(S, G, id="0")
    sync.xreadgroup(G, "dead-worker", {S: ">"}, count=5)
    sync.xreadgroup(G, "live", {S: ">"}, count=5)
    sync.execute_command(b"XCLAIM", S, G, "dead-worker", 0, *ids[:5], "IDLE", 600_000,
                         "JUSTID")
    # 'newest' reads once the others are measurably idle (XINFO counts milliseconds).
    wait_until(lambda: min(c["idle"] for c in sync.xinfo_consumers(S, G)) >= 50, timeout=10)
    sync.xreadgroup(G, "newest", {S: ">"}, count=1)
    return {"dead": ids[:5], "live": ids[5:10]}


def owners(sync) -> dict[str, str]:
    rows = sync.xpending_range(S, G, "-", "+", 1000)
    return {r["message_id"].decode(): r["consumer"].decode() for r in rows}


async def test_claim_target_is_never_the_holder_nor_dead(redis_url, sync):
    seed(sync)
    client = client_at(redis_url)
    await client.connect()
    try:
        consumers = await st.Streams(client).consumers(S, G)
    finally:
        await client.aclose()
    names = {c.name for c in consumers}
    assert names == {"dead-worker", "live", "newest"}
    # The claim reset dead-worker's own idle: judged by idle alone it looks alive, and is
    # first by name. The poll's verdict (from its entries) and the holder rule exclude it.
    assert st.claim_target(consumers, holders=("dead-worker",)) != "dead-worker"
    assert st.claim_target(consumers, dead=("dead-worker",)) == "newest"
    assert st.claim_target(consumers, holders=("newest",), dead=("dead-worker",)) == "live"
    assert st.claim_target(consumers, holders=("live", "newest"),
                           dead=("dead-worker",)) is None


def make_app(url, tmp_path) -> FerriteApp:
    return FerriteApp(Config(), ConnectionSettings(url=url), refresh=0.2,
                      audit_path=tmp_path / "audit.log")


async def open_group(app, pilot):
    p = cast(StreamsPanel, app.panel("streams"))
    await async_wait_until(lambda: app.monitor and app.monitor.snapshot
                           and app.monitor.snapshot.queues, timeout=15)
    await pilot.press("5")
    await async_wait_until(lambda: p.page is not None and p.page.entries, timeout=15)
    # The poll has judged the group (dead consumers come from its pending scan).
    await async_wait_until(lambda: p._dead_consumers() == {"dead-worker"}, timeout=15,
                           message="the poll never found dead-worker dead")
    await async_wait_until(lambda: p.consumers_table.row_count == 3, timeout=10)
    return p


def form_value(app, name: str) -> str:
    return app.screen.query_one(f"#field-{name}", Input).value


async def test_claim_dialog_defaults_to_the_most_recently_active_other_consumer(
        redis_url, sync, tmp_path):
    ids = seed(sync)
    app = make_app(redis_url, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        p = await open_group(app, pilot)
        p.pending_table.focus()
        await async_wait_until(lambda: p.pending_table.select_key(ids["dead"][0]), timeout=5)
        await pilot.pause()
        await pilot.press("c")
        await async_wait_until(lambda: isinstance(app.screen, FormScreen), timeout=5)
        assert form_value(app, "consumer") == "newest"
        body = "".join(str(w.render()) for w in app.screen.query("Static"))
        assert "held by dead-worker" in body.replace("\n", " ")
        assert "dead-worker (5 pending" in body and ", dead)" in body
        assert "live (5 pending" in body and ", live)" in body
        await pilot.press("escape")


async def test_claim_idle_never_defaults_to_the_holder_and_a_dead_target_needs_a_yes(
        redis_url, sync, tmp_path):
    ids = seed(sync)
    app = make_app(redis_url, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        p = await open_group(app, pilot)
        p.pending_table.focus()
        await pilot.press("C")
        await async_wait_until(lambda: isinstance(app.screen, FormScreen), timeout=5)
        assert form_value(app, "consumer") not in ("dead-worker", "")
        assert form_value(app, "consumer") == "newest"
        # Typing the dead holder asks first; declining claims nothing.
        app.screen.query_one("#field-consumer", Input).value = "dead-worker"
        app.screen.query_one("#field-consumer", Input).focus()
        await pilot.press("enter")
        await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen), timeout=5)
        await pilot.press("escape")
        await async_wait_until(lambda: not isinstance(app.screen, ConfirmScreen), timeout=5)
        assert [owners(sync)[i] for i in ids["dead"]] == ["dead-worker"] * 5
        assert not (tmp_path / "audit.log").exists() or "claim" not in (
            tmp_path / "audit.log").read_text()


def test_a_consumer_idle_for_minutes_is_no_target_even_holding_nothing():
    """Idle 6 min and holding nothing is not "live": no default target at all."""
    quiet = st.ConsumerInfo("bystander", pending=0, idle_ms=360_000)
    holder = st.ConsumerInfo("dead-worker", pending=5, idle_ms=600_000)
    assert st.claim_target([quiet, holder], holders=("dead-worker",)) is None
    assert st.claim_target([quiet, st.ConsumerInfo("reader", 0, 1_000)]) == "reader"
    assert not quiet.reading(300_000)


def seed_without_reader(sync) -> list[str]:
    """'dead-worker' holds 5 entries idle 10 min; 'bystander' exists and holds nothing;
    neither reads (both idle past the test's 1 s dead-consumer threshold)."""
    ids = [sync.xadd(S, {"data": json.dumps({"order": i})}).decode() for i in range(8)]
    sync.xgroup_create(S, G, id="0")
    sync.xreadgroup(G, "dead-worker", {S: ">"}, count=5)
    sync.execute_command(b"XCLAIM", S, G, "dead-worker", 0, *ids[:5], "IDLE", 600_000,
                         "JUSTID")
    sync.execute_command("XGROUP", "CREATECONSUMER", S, G, "bystander")
    wait_until(lambda: min(c["idle"] for c in sync.xinfo_consumers(S, G)) >= 1_100,
               timeout=10)
    return ids[:5]


async def test_no_reader_no_default_the_dialog_offers_the_choices(redis_url, sync,
                                                                   tmp_path):
    """The group's only consumers are a dead holder and one that read nothing for longer
    than the threshold: c and C name no target (never a made-up `ferrite-tui`), say nobody
    is reading, and offer: name one, leave them (nothing moves), or the dead-letter list."""
    from dataclasses import replace

    dead = seed_without_reader(sync)
    config = Config()
    config = replace(config, alerts=replace(config.alerts, stream_dead_consumer_seconds=1.0))
    app = FerriteApp(config, ConnectionSettings(url=redis_url), refresh=0.2,
                     audit_path=tmp_path / "audit.log")
    async with app.run_test(size=(120, 36)) as pilot:
        p = cast(StreamsPanel, app.panel("streams"))
        await async_wait_until(lambda: app.monitor and app.monitor.snapshot
                               and app.monitor.snapshot.queues, timeout=15)
        await pilot.press("5")
        await async_wait_until(lambda: p.page is not None and p.page.entries, timeout=15)
        await async_wait_until(lambda: p._dead_consumers() == {"dead-worker"}
                               and p.consumers_table.row_count == 2, timeout=15)
        # The consumers table calls the one that holds nothing and reads nothing quiet.
        assert p.consumers_table.cell_text("bystander", "dead") == "quiet"
        p.pending_table.focus()
        await async_wait_until(lambda: p.pending_table.select_key(dead[0]), timeout=5)
        await pilot.pause()
        await pilot.press("c")
        await async_wait_until(lambda: type(app.screen).__name__ in ("ChoiceScreen",
                                                                    "FormScreen"), timeout=5)
        # Never a form with a target filled in for the operator.
        assert type(app.screen).__name__ == "ChoiceScreen", form_value(app, "consumer")
        body = "".join(str(w.render()) for w in app.screen.query("Static")).replace("\n", " ")
        assert f"No consumer of group {G} but the holder has read" in body
        assert "bystander (0 pending" in body and "not reading)" in body
        assert ", live)" not in body
        await pilot.press("l")  # leave them: nothing moves
        await async_wait_until(lambda: type(app.screen).__name__ != "ChoiceScreen", timeout=5)
        assert set(owners(sync).values()) == {"dead-worker"}
        await pilot.press("C")
        await async_wait_until(lambda: type(app.screen).__name__ == "ChoiceScreen", timeout=5)
        await pilot.press("k")  # to the dead-letter list
        await async_wait_until(lambda: isinstance(app.screen, FormScreen), timeout=5)
        assert form_value(app, "dlq") == f"{S}:dlq"
        await pilot.press("enter")
        await async_wait_until(lambda: sync.llen(f"{S}:dlq") == 5, timeout=10)
    assert owners(sync) == {}
    assert "ferrite-tui" not in {c["name"].decode() for c in sync.xinfo_consumers(S, G)}
