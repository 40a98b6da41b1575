"""Exact mode: list and sorted-set moves counted from keyspace notifications.

Against a server started with notify-keyspace-events: lists drained between polls, a stack,
a reliable queue whose jobs never stay, a priority set, all exact and within 15% of the
known rates; a command pushing two elements makes its figures lower bounds. Against a
server without the setting, the console says what would be needed and changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import sys

import pytest
import redis

import truth
from ferrite_tui import formatting as fmt
from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.backend.notifications import missing_classes
from ferrite_tui.backend.poll import NOTE_EVENTS_MULTI, RATE_SPAN_S
from ferrite_tui.config import Config
from helpers import async_wait_until, monitor_at
from test_truth import Poller, by_key, close

EXACT = Config(exact_from_notifications=True)


def wrong_rates(snap) -> list[str]:
    queues = by_key(snap)
    wrong = []
    for key, (rate_in, rate_out) in truth.NOTIFY_RATES.items():
        q = queues.get(key)
        if q is None or not close(q.in_rate, rate_in) or not close(q.out_rate, rate_out) \
                or q.in_lower or q.out_lower:
            wrong.append(f"{key}: {q and (q.in_rate, q.out_rate, q.in_lower, q.rate_note)}")
    return wrong


@pytest.fixture
async def notified(server_factory):
    server = server_factory(extra_args=["notify-keyspace-events Elz"])
    work = truth.NotifiedWorkload(server.url)
    await work.seed()
    monitor = monitor_at(server.url, EXACT)
    await monitor.connect()
    await monitor.discover()
    work.start()
    poller = Poller(monitor)
    try:
        yield server, work, monitor, poller
    finally:
        await poller.stop()
        await work.stop()
        await monitor.aclose()


@pytest.mark.scenario  # a known workload over a full rate span: 18 s
async def test_drained_lists_stacks_and_priority_sets_are_exact(notified, tmp_path):
    server, _work, _monitor, poller = notified
    await async_wait_until(lambda: poller.snap is not None
                           and poller.snap.notifications == "on", timeout=30,
                           message=f"never counting: {poller.snap and poller.snap.notifications}")
    started = asyncio.get_running_loop().time()
    await async_wait_until(lambda: asyncio.get_running_loop().time() - started
                           > RATE_SPAN_S + 1, timeout=60)
    await async_wait_until(lambda: not wrong_rates(poller.snap), timeout=90, interval=0.5,
                           message=f"rates never matched: {wrong_rates(poller.snap)}")
    queues = by_key(poller.snap)
    for key, (rate_in, rate_out) in truth.NOTIFY_RATES.items():
        q = queues[key]
        print(f"{key:24} in {fmt.flow(q.in_rate, q.in_lower):>7} (truth {rate_in:g})  "
              f"out {fmt.flow(q.out_rate, q.out_lower):>7} (truth {rate_out:g})")
    # Two elements per RPUSH are notified once: said to be lower bounds, with the reason.
    await async_wait_until(lambda: by_key(poller.snap)[truth.MULTI].in_lower, timeout=30)
    assert by_key(poller.snap)[truth.MULTI].rate_note == NOTE_EVENTS_MULTI

    # `status --json --notifications --over` counts the same way (lists that are empty
    # at every look are declared: a scan does not find what is never there).
    config = tmp_path / "config.toml"
    config.write_text(f'[[queues]]\nkey = "{truth.DRAINED}"\nkind = "work"\n\n'
                      f'[[queues]]\nkey = "{truth.QUICK}"\nkind = "reliable"\n'
                      f'processing_key = "{truth.QUICK_PROCESSING}"\n')
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ferrite_tui", "status", server.url, "--json", "--over", "6s",
        "--notifications", "--config", str(config), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    status = json.loads(out)
    assert status["notifications"] == "on"
    queues_json = {q["key"]: q for q in status["queues"]}
    for key, (rate_in, rate_out) in truth.NOTIFY_RATES.items():
        q = queues_json[key]
        assert close(q["in_rate"], rate_in) and close(q["out_rate"], rate_out), (key, q)
        assert not q["in_lower_bound"] and not q["out_lower_bound"], (key, q)


async def test_turning_notifications_off_stops_exact_figures_until_back_on(notified):
    server, _work, _monitor, poller = notified
    await async_wait_until(lambda: poller.snap is not None
                           and poller.snap.notifications == "on", timeout=30)
    r = redis.Redis.from_url(server.url)
    try:
        r.config_set("notify-keyspace-events", "")  # someone else changes it
    finally:
        r.close()
    snap = await poller.fresh()
    assert "lacks" in (snap.notifications or ""), snap.notifications
    drained = by_key(snap)[truth.DRAINED]
    # No longer counted: the drained list is back to what the list itself shows.
    assert drained.in_rate is None or drained.in_lower, drained
    r = redis.Redis.from_url(server.url)
    try:
        r.config_set("notify-keyspace-events", "Elz")  # and back: counting starts again
    finally:
        r.close()
    await async_wait_until(lambda: poller.snap.notifications == "on", timeout=30)
    await async_wait_until(lambda: not by_key(poller.snap)[truth.DRAINED].in_lower
                           and close(by_key(poller.snap)[truth.DRAINED].in_rate,
                                     truth.NOTIFY_RATES[truth.DRAINED][0]),
                           timeout=60, interval=0.5, message="never exact again")


async def test_a_server_without_the_setting_is_told_not_changed(redis_url):
    r = redis.Redis.from_url(redis_url)
    before = r.config_get("notify-keyspace-events")["notify-keyspace-events"]
    r.rpush("truth:drained", "x")
    monitor = monitor_at(redis_url, EXACT)
    await monitor.connect()
    try:
        await monitor.discover()
        snap = await monitor.poll()
    finally:
        await monitor.aclose()
    assert before is not None and missing_classes(before)
    assert snap.notifications is not None
    assert "notify-keyspace-events" in snap.notifications and "lacks" in snap.notifications
    assert r.config_get("notify-keyspace-events")["notify-keyspace-events"] == before
    r.close()


@pytest.mark.parametrize(("flags", "lacking"), [
    ("", "E or K, l, z"), ("KEA", None), ("Elz", None), ("Kl", "z"), ("Ex", "l, z"),
])
def test_missing_classes(flags, lacking):
    assert missing_classes(flags) == lacking


async def help_text(url, tmp_path, state) -> str:
    from ferrite_tui.ui.app import FerriteApp
    from ferrite_tui.ui.screens.help import HelpScreen

    app = FerriteApp(EXACT, ConnectionSettings(url=url), refresh=0.2,
                     audit_path=tmp_path / "audit.log")
    async with app.run_test(size=(120, 36)) as pilot:
        await async_wait_until(lambda: app.monitor and app.monitor.snapshot
                               and state(app.monitor.snapshot.notifications or ""), timeout=30)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        return " ".join(f"{key} {text}" for key, text in app.screen.rows())


async def test_help_says_what_the_server_would_need(redis_url, tmp_path):
    r = redis.Redis.from_url(redis_url)
    r.rpush("truth:drained", "x")
    r.close()
    text = await help_text(redis_url, tmp_path, lambda state: "lacks" in state)
    assert "asked for, but off" in text and "notify-keyspace-events" in text, text


async def test_help_says_exact_mode_is_on(server_factory, tmp_path):
    server = server_factory(extra_args=["notify-keyspace-events Elz"])
    r = redis.Redis.from_url(server.url)
    r.rpush("truth:drained", "x")
    r.close()
    text = await help_text(server.url, tmp_path, lambda state: state == "on")
    assert "exact mode on" in text, text


async def test_a_reader_that_falls_behind_says_so_and_counts_nothing(server_factory,
                                                                     monkeypatch):
    """Marks never answered (as when notifications come faster than they are read): the
    state says "behind" and no figure is taken from the counts."""
    from ferrite_tui.backend.notifications import KeyEvents

    server = server_factory(extra_args=["notify-keyspace-events Elz"])
    r = redis.Redis.from_url(server.url)
    r.rpush(truth.DRAINED, "x")
    monitor = monitor_at(server.url, EXACT)
    await monitor.connect()
    try:
        await monitor.discover()

        async def unanswered(pubsub, seq):
            return None

        monkeypatch.setattr(KeyEvents, "_ping", staticmethod(unanswered))
        pushed = 0

        async def polled_state() -> str:
            nonlocal pushed
            pushed += 1
            r.rpush(truth.DRAINED, f"j{pushed}")
            return (await monitor.poll()).notifications or ""

        await async_wait_until(
            lambda: _starts(polled_state(), "behind"), timeout=30, interval=0.1)
        flow = monitor.poller.history.flow(f"work:{truth.DRAINED}", "events_in")
        assert flow.rate() == (None, True)  # nothing was taken from the counts
    finally:
        await monitor.aclose()
        r.close()


async def _starts(state, prefix: str) -> bool:
    return (await state).startswith(prefix)


async def test_moves_and_new_keys_share_one_subscription(server_factory, tmp_path):
    """Exact moves and new keys at once, both on: one pub/sub connection of the console
    feeds both, and each still gets what it reads."""
    server = server_factory(extra_args=["notify-keyspace-events Elz"])
    r = redis.Redis.from_url(server.url)
    r.rpush(truth.DRAINED, "x")
    monitor = monitor_at(server.url, EXACT, remember_in=tmp_path)
    await monitor.connect()
    try:
        await monitor.discover()
        new_keys, events = monitor.new_keys, monitor.poller.events
        assert new_keys is not None and events is not None
        new_keys.start()

        async def counting() -> bool:
            return (await monitor.poll()).notifications == "on" and new_keys.reason is None

        await async_wait_until(counting, timeout=30, interval=0.2)
        r.rpush("orders:new", b"job")
        r.rpush(truth.DRAINED, "y")
        await async_wait_until(lambda: "orders:new" in new_keys.pending, timeout=15)
        await async_wait_until(lambda: events.counts.get(truth.DRAINED, [0, 0])[0] >= 1,
                               timeout=15)
        subscribers = r.client_list(_type="pubsub")
        assert len(subscribers) == 1, subscribers
    finally:
        await monitor.aclose()
        r.close()
