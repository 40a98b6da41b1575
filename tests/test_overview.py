"""The Overview: alerts with their start and next step, Enter on one, and the trend charts."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import cast

import redis.asyncio as aioredis

from ferrite_tui.backend.advice import Advisor
from ferrite_tui.backend.backfill import Backfill
from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.backend.discovery import Discovery
from ferrite_tui.config import Config
from ferrite_tui.demo.seeding import seed
from ferrite_tui.ui.app import FerriteApp
from ferrite_tui.ui.messages import SnapshotReady
from ferrite_tui.ui.panels.deadletters.panel import DeadLettersPanel
from ferrite_tui.ui.panels.overview import OverviewPanel
from ferrite_tui.ui.panels.streams.panel import StreamsPanel
from frozen import NOW, frozen_app, frozen_snapshot
from frozen import feed as feed_table
from helpers import async_wait_until, client_at, running
from test_advice import ALERTS, arrange


def on_alert(app, alerts, key: str) -> bool:
    """Focus the alert list with its cursor on `key`; True once both hold."""
    if app.focused is not alerts:
        alerts.focus()
    if alerts.cursor_key != key:
        alerts.select_key(key)
    return app.focused is alerts and alerts.cursor_key == key


async def test_enter_on_an_alert_opens_its_panel_with_its_selection(redis_url, sync, tmp_path):
    arrange(sync, int(time.time() * 1000))
    # A group that sorts first and holds nothing: the Streams panel's default pick, so only
    # the alert's own selection can land on 'analytics'.
    sync.xgroup_create("events:main", "aardvark", "$")
    app = FerriteApp(Config(alerts=ALERTS), ConnectionSettings(url=redis_url), refresh=0.3,
                     audit_path=tmp_path / "audit.log")
    async with running(app, size=(120, 36)) as pilot:
        overview = cast(OverviewPanel, app.panel("overview"))
        alerts = overview.query_one("#alerts")
        row = "stream:events:main\x004 pending"
        await async_wait_until(lambda: row in overview.notes, timeout=20,
                               message="the stream's pending alert never listed")
        note = overview.notes[row]
        assert note.group == "analytics" and note.panel_key == "5"
        # Enter goes to the alert the operator sees selected: put focus and cursor there and
        # wait until both have landed (as they have after the keys a person would type).
        await async_wait_until(lambda: on_alert(app, alerts, row), timeout=10,
                               message="the alert row never got the focus")
        await pilot.press("enter")
        streams = cast(StreamsPanel, app.panel("streams"))
        await async_wait_until(
            lambda: app.active_panel() is streams and streams.stream == "events:main"
            and streams.group == "analytics" and streams.groups_table.cursor_key == "analytics",
            timeout=10, message="enter did not open events:main › analytics")
        # And a dead-letter alert opens the Dead letters panel on that list.
        await pilot.press("1")
        await pilot.pause()
        await async_wait_until(lambda: on_alert(app, alerts, "dlq:queue:main:dlq\x0047 dead"),
                               timeout=10, message="the DLQ alert row never got the focus")
        await pilot.press("enter")
        dlq = cast(DeadLettersPanel, app.panel("dlq"))
        await async_wait_until(
            lambda: app.active_panel() is dlq and dlq.table.cursor_key == "dlq:queue:main:dlq",
            timeout=10, message="enter did not open the DLQ")


async def test_a_group_selected_from_an_alert_outlives_a_redraw_of_the_groups(
        redis_url, sync, tmp_path):
    """The race behind the enter-on-alert flake, made deterministic: the Streams panel's
    refresh redraws the groups table (cursor on its first row, a RowHighlighted queued) just
    before the alert's selection arrives; that queued event must not take the selection back."""
    arrange(sync, int(time.time() * 1000))
    sync.xgroup_create("events:main", "aardvark", "$")
    app = FerriteApp(Config(alerts=ALERTS), ConnectionSettings(url=redis_url), refresh=0.3,
                     audit_path=tmp_path / "audit.log")
    async with running(app, size=(120, 36)) as pilot:
        streams = cast(StreamsPanel, app.panel("streams"))
        await async_wait_until(lambda: app.monitor and app.monitor.snapshot
                               and app.monitor.snapshot.queues, timeout=20)
        await pilot.press("5")
        await async_wait_until(
            lambda: streams.stream == "events:main" and streams.group == "aardvark"
            and streams.groups_table.row_keys[:2] == ["aardvark", "analytics"],
            timeout=20, message="the Streams panel never showed events:main's groups")
        # One tick, as under load: the refresh's redraw, then the alert's selection.
        streams.groups_table.set_rows([])
        streams._draw_groups()
        streams.select_group("analytics")
        for _ in range(5):
            await pilot.pause()
        assert streams.group == "analytics"
        assert streams.groups_table.cursor_key == "analytics"


async def test_trends_rebuilt_at_open_and_again_on_ctrl_r(redis_url, sync, tmp_path):
    from ferrite_tui.backend.trends import minute_of
    from test_backfill import MIN, dead_letter

    now = int(time.time() * 1000)
    sync.rpush("queue:main:dlq", *[dead_letter(i, now - 40 * MIN) for i in range(4)])
    app = FerriteApp(Config(), ConnectionSettings(url=redis_url), refresh=0.3,
                     audit_path=tmp_path / "audit.log")
    async with running(app, size=(160, 50)) as pilot:
        def dead_at(ago):
            series = app.trends.get("dlq:queue:main:dlq", "dead")
            return series.points.get(minute_of(now / 1000) - ago) if series else None

        await async_wait_until(lambda: dead_at(40) == 4, timeout=20,
                               message="the hour was not rebuilt at open")
        overview = cast(OverviewPanel, app.panel("overview"))
        await async_wait_until(
            lambda: "rebuilt from the data" in str(overview.query_one("#legend").render()),
            timeout=10, message="the charts' legend does not say rebuilt")
        sync.rpush("queue:main:dlq", *[dead_letter(10 + i, now - 30 * MIN) for i in range(7)])
        assert dead_at(30) == 0
        await pilot.press("ctrl+r")
        await async_wait_until(lambda: dead_at(30) == 7, timeout=20,
                               message="ctrl+r did not rebuild the hour")
        assert dead_at(40) == 4


# -- snapshots: the demo's deterministic seed, rebuilt at a frozen time ----------------------

SEEDED_AT = int(NOW * 1000) - 180_000  # the seed three minutes before the frozen 'now'


async def seeded_trends(url: str, app: FerriteApp) -> None:
    """Seed the demo data, rebuild the hour from it, then record three live polls (the
    frozen snapshot) so the charts show the rebuilt part and the live part."""
    raw = aioredis.Redis.from_url(url)
    await seed(raw, now_ms=SEEDED_AT)
    await raw.aclose()
    client = client_at(url)
    await client.connect()
    try:
        discovery = Discovery(client, Config())
        await discovery.run()
        # 30 s into the minute: pending idle times (real clock, a few ms) stay in it.
        await Backfill(client, app.session.offline_trends).run(discovery.refs,
                                                               now_ms=SEEDED_AT + 30_000)
    finally:
        await client.aclose()
    advisor = Advisor(Config().alerts)
    for ago in (120, 60, 0):
        snap = replace(frozen_snapshot(), taken_at=NOW - ago)
        app.session.offline_trends.record(snap)
        notes = advisor.annotate(snap, app.session.offline_trends)
    app.post_message(SnapshotReady(replace(frozen_snapshot(), alert_notes=notes)))


def overview_snapshot(snap_compare, redis_url: str, size: tuple[int, int]) -> bool:
    app = frozen_app()

    async def run_before(pilot) -> None:
        await feed_table(pilot)
        await seeded_trends(redis_url, pilot.app)
        await pilot.pause()
        overview = cast(OverviewPanel, pilot.app.panel("overview"))
        await async_wait_until(lambda: overview.notes, timeout=10)
        await pilot.pause()

    return snap_compare(app, terminal_size=size, run_before=run_before)


def test_overview_with_trends_80x24(snap_compare, redis_url):
    """At 80x24 the queue table and the alerts keep the room; the charts give way."""
    assert overview_snapshot(snap_compare, redis_url, (80, 24))


def test_overview_with_trends_160x50(snap_compare, redis_url):
    """At 160x50 the charts take the free space: backlog by kind, in/out, dead letters,
    rebuilt then live, alert starts marked."""
    assert overview_snapshot(snap_compare, redis_url, (160, 50))


def test_an_alert_just_noticed_reads_new_not_a_zero_duration():
    """'≥0ms' for an alert the console noticed this instant reads as a figure: it says new,
    and turns into a lower bound ('≥5s') once a second has passed."""
    from ferrite_tui.backend.models import AlertNote
    from ferrite_tui.ui.panels.overview import since_cell

    note = AlertNote(ident="q", key="q", alert="stuck", since=1000.0, since_from="seen",
                     before_window=False, action="", panel_key="2")
    assert since_cell(note, 1000.2).plain == "new"
    assert since_cell(note, 1005.0).plain == "≥5s"
    exact = replace(note, since_from="data")
    assert since_cell(exact, 1000.2).plain == "200ms"


def test_a_long_alert_keeps_its_key_and_next_step_where_the_row_is_narrow():
    """At 80 columns a long queue name and alert pushed '— 5 C …' off the row: the name and
    the words give way first, so the key to press stays on screen."""
    from ferrite_tui.backend.models import AlertNote
    from ferrite_tui.ui.panels.overview import alert_text

    note = AlertNote(ident="q", key="events:orders:payments:eu-west-1",
                     alert="25 pending idle ≥ 5m with the dead consumer", since=None,
                     since_from="seen", before_window=False,
                     action="C to hand them to a live consumer", panel_key="5",
                     group="analytics-pipeline", short_action="C to a live consumer")
    wide = alert_text(note, 200).plain
    assert wide.endswith("— 5, then C to hand them to a live consumer")
    for room in (80, 60, 45):
        text = alert_text(note, room)
        assert text.cell_len <= room
        assert text.plain.endswith("… — 5 C to a live consumer"), (room, text.plain)
        assert text.plain.startswith("events:orders:")


def test_counts_in_words_agree_with_their_number():
    """'1 groups' and '1 were not dead-letter envelopes' read as mistakes: one is singular."""
    from ferrite_tui.backend.models import QueueKind
    from ferrite_tui.presentation import secondary
    from ferrite_tui.ui.panels.deadletters.panel import DeadLettersPanel

    stream = next(q for q in frozen_snapshot().queues if q.ref.kind is QueueKind.STREAM)
    assert len(stream.groups) > 1
    assert secondary(stream).startswith(f"{len(stream.groups)} groups, ")
    assert secondary(replace(stream, groups=stream.groups[:1])).startswith("1 group, ")

    class Report:
        unchanged = 1

    assert DeadLettersPanel._unchanged_note(Report()) == (  # type: ignore[arg-type]
        "; 1 was not a dead-letter envelope and moved unchanged")


def test_ages_on_the_overview_change_once_a_minute_past_the_first():
    """Issue 25: an age ticking every second in every row (and in each alert's 'for') was
    most of the bytes written at 80x24. Under a minute it counts seconds; past it, whole
    minutes (a floor, as '2h03m' always was); inspectors keep the seconds."""
    from ferrite_tui import formatting as fmt
    from ferrite_tui.backend.models import AlertNote
    from ferrite_tui.ui.panels.overview import since_cell

    assert [fmt.age(ms) for ms in (None, 900, 42_000, 60_000, 250_000, 3_599_000,
                                   7_380_000)] == ["-", "900ms", "42s", "1m", "4m", "59m",
                                                   "2h03m"]
    assert len({fmt.age(ms) for ms in range(240_000, 300_000, 1000)}) == 1
    assert fmt.duration(250_000) == "4m10s"
    note = AlertNote(ident="q", key="q", alert="stuck", since=1000.0, since_from="data",
                     before_window=False, action="", panel_key="2")
    assert since_cell(note, 1000.0 + 250).plain == "4m"
