"""`ferrite-tui exporter`: the console's figures as Prometheus metrics, checked against real
parts: a seeded server, `status --json` on the same data, Debian's promtool and a real
Prometheus scraping the exporter on loopback."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
import redis
import redis.asyncio as aioredis
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.config import Config, load
from ferrite_tui.demo.seeding import seed
from ferrite_tui.escaping import printable
from ferrite_tui.exporter import Exporter
from ferrite_tui.metrics import METRICS, alert_name
from helpers import async_wait_until, skip_as_the_server_lacks, wait_until

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = REPO_ROOT / "examples"
REQUIRE_ENV = "FERRITE_TUI_REQUIRE_PROMETHEUS"

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def need(tool: str) -> str:
    """The path of Debian's `prometheus` / `promtool`; skip without it (fail in CI)."""
    path = shutil.which(tool)
    if path is None:
        reason = f"no {tool} on PATH: install Debian's prometheus (.ci/run does)"
        if os.environ.get(REQUIRE_ENV):  # CI: a skip would pass unseen
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@asynccontextmanager
async def exporting(url: str, config_path: Path | None = None, *, refresh: float = 0.3,
                    trends: bool = True, config: Config | None = None,
                    **kwargs) -> AsyncIterator[Exporter]:
    from dataclasses import replace

    cfg = config or load(config_path if config_path is not None else _empty_config())
    if not trends:
        cfg = replace(cfg, trend_minutes=0)
    exporter = Exporter(ConnectionSettings(url=url), cfg, refresh=refresh, **kwargs)
    await exporter.start("127.0.0.1", 0)
    try:
        yield exporter
    finally:
        await exporter.aclose()


def _empty_config() -> Path:
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"ferrite-exporter-test-{os.getpid()}.toml"
    path.write_text("", encoding="utf-8")
    return path


async def scrape(exporter: Exporter, path: str = "/metrics",
                 accept: str | None = None) -> tuple[int, str, str]:
    assert exporter.address is not None
    host, port = exporter.address
    headers = {"Accept": accept} if accept else {}
    async with aiohttp.ClientSession() as session, \
            session.get(f"http://{host}:{port}{path}", headers=headers) as resp:
        return resp.status, await resp.text(), resp.headers.get("Content-Type", "")


def parse(text: str) -> Series:
    out: Series = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def pick(series: Series, name: str, **labels: str) -> dict[frozenset, float]:
    """Samples of `name` whose labels include `labels`."""
    want = set(labels.items())
    return {lab: v for (n, lab), v in series.items() if n == name and want <= lab}


def one(series: Series, name: str, **labels: str) -> float | None:
    found = pick(series, name, **labels)
    assert len(found) <= 1, f"{name} {labels}: {found}"
    return next(iter(found.values()), None)


async def settled(exporter: Exporter, polls_after_discovery: int = 2) -> None:
    """Discovery done and `polls_after_discovery` polls since (rates need two)."""
    st = exporter.state
    await async_wait_until(exporter.settled, message="no poll after discovery")
    first = st.polls
    await async_wait_until(lambda: st.polls >= first + polls_after_discovery
                           and not st.in_poll and st.snapshot is not None,
                           message="polls did not go on")


async def seeded(url: str) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        await seed(client)
    finally:
        await client.aclose()


def promtool_check_metrics(text: str) -> None:
    out = subprocess.run([need("promtool"), "check", "metrics"], input=text, text=True,
                         capture_output=True, timeout=30)
    assert out.returncode == 0 and not out.stdout.strip() and not out.stderr.strip(), \
        out.stdout + out.stderr


# -- the figures ------------------------------------------------------------------------

async def test_figures_equal_status_json_and_promtool_finds_nothing(redis_url, tmp_path):
    """On the demo's seeded data, every figure `status --json` prints is the exporter's:
    depths, states, rates (0, exact: nothing moved), stream groups, totals, alerts."""
    await seeded(redis_url)
    config = tmp_path / "config.toml"
    config.write_text("", encoding="utf-8")
    status = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "ferrite_tui", "status", redis_url, "--json",
                         "--over", "0.5", "--config", str(config)],
        capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    status_done = time.time()
    async with exporting(redis_url, config) as exporter:
        await settled(exporter)
        code, text, content_type = await scrape(exporter)
        scraped = time.time()
    assert code == 200 and content_type.startswith("text/plain")
    promtool_check_metrics(text)
    # Every declared family is in every scrape (what the dashboard test checks names by).
    assert set(re.findall(r"^# HELP (\S+)", text, re.M)) == \
        {n + "_total" if METRICS[n][0] == "counter" else n for n in METRICS}
    series = parse(text)
    assert len(data["queues"]) == 7
    assert one(series, "ferrite_queues") == len(data["queues"])
    for category, n in data["totals"].items():
        assert one(series, "ferrite_items", category=category) == n, category
    for q in data["queues"]:
        at = {"queue": q["key"], "kind": q["kind"]}
        assert one(series, "ferrite_queue_depth", **at) == q["depth"], q["key"]
        for figure, metric in (("processing", "ferrite_queue_processing_items"),
                               ("ready", "ferrite_queue_ready_items"),
                               ("overdue", "ferrite_queue_overdue_items"),
                               ("stale", "ferrite_queue_stale_processing_items")):
            assert one(series, metric, **at) == q.get(figure), (q["key"], figure)
        for figure, metric in (("in_rate", "ferrite_queue_in_per_second"),
                               ("out_rate", "ferrite_queue_out_per_second")):
            lower = q[figure.replace("rate", "lower_bound")]
            found = pick(series, metric, **at)
            if q[figure] is None:  # unknown: absent, never 0
                assert found == {}, (q["key"], figure)
            else:
                assert list(found.values()) == [q[figure]], (q["key"], figure)
                assert dict(next(iter(found)))["exact"] == ("false" if lower else "true")
        if q["oldest_ms"] is None:
            assert pick(series, "ferrite_queue_oldest_age_seconds", **at) == {}
        else:  # both ages of the same item, read at different times
            age = one(series, "ferrite_queue_oldest_age_seconds", **at)
            assert age is not None
            assert q["oldest_ms"] / 1000 - 1 <= age <= q["oldest_ms"] / 1000 + \
                (scraped - status_done) + 2, q["key"]
        if q["kind"] == "dlq":
            assert one(series, "ferrite_dead_letters", **at) == q["depth"]
        if q["kind"] == "stream":
            assert one(series, "ferrite_stream_length", **at) == q["depth"]
            for g in q["groups"]:
                on = {**at, "group": g["name"]}
                assert one(series, "ferrite_stream_pending_entries", **on) == g["pending"]
                assert one(series, "ferrite_stream_consumers", **on) == g["consumers"]
                assert one(series, "ferrite_stream_lag_entries", **on) == g["lag"]
                assert one(series, "ferrite_stream_idle_pending_entries", **on) == \
                    g["idle_count"]
                assert one(series, "ferrite_stream_dead_consumers", **on) == \
                    len(g["dead_consumers"])
                for holder in g["holders"]:
                    assert one(series, "ferrite_stream_consumer_pending_entries", **on,
                               consumer=holder["name"]) == holder["pending"]
        alerts = {alert_name(a) for a in q["alerts"]}
        active = {dict(lab)["alert"] for lab in pick(series, "ferrite_alert_active", **at)}
        assert active == alerts, q["key"]
        for lab in pick(series, "ferrite_alert_active", **at):
            assert (("ferrite_alert_since_timestamp_seconds", lab) in series)
    assert pick(series, "ferrite_alert_active", alert="dead_letters")  # the seed has some


async def test_a_library_queue_has_its_states_next_due_and_alerts(redis_url, tmp_path):
    """RQ's own API: its queue's states, the scheduled state's next due time and the
    failed alert, as `status --json` has them."""
    import datetime

    from rq import Queue
    from rq.registry import FailedJobRegistry

    import libjobs

    conn = redis.Redis.from_url(redis_url)
    try:
        q_rq = Queue("default", connection=conn)
        q_rq.enqueue(libjobs.ok, 1)
        q_rq.enqueue_in(datetime.timedelta(hours=1), libjobs.ok, 3)
        # Failed as RQ's worker records it (its worker is left out: its teardown can wait
        # a minute on its pub/sub thread).
        failing = q_rq.enqueue(libjobs.boom, 2)
        q_rq.remove(failing)
        FailedJobRegistry(queue=q_rq).add(failing, exc_string="ValueError: boom 2")
    finally:
        conn.close()
    config = tmp_path / "config.toml"
    config.write_text("", encoding="utf-8")
    status = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "ferrite_tui", "status", redis_url, "--json",
                         "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    (q,) = [q for q in json.loads(status.stdout)["queues"] if q.get("library") == "rq"]
    async with exporting(redis_url, config) as exporter:
        await settled(exporter, 1)
        _, text, _ = await scrape(exporter)
    promtool_check_metrics(text)
    series = parse(text)
    at = {"queue": q["key"], "library": "rq"}
    assert one(series, "ferrite_queue_depth", **at) == q["depth"] == 1
    items = {dict(lab)["state"]: v for lab, v in pick(series, "ferrite_queue_items", **at).items()}
    assert items == {state: n for state, n in q["totals"].items() if n is not None}
    assert items["failed"] == 1 and items["scheduled"] == 1
    (sched,) = [s for s in q["states"] if s["label"] == "scheduled"]
    assert one(series, "ferrite_queue_next_due_timestamp_seconds", **at,
               state="scheduled") == sched["next_at_ms"] / 1000
    assert one(series, "ferrite_alert_active", queue=q["key"], alert="failed") == 1


async def test_consumers_per_group_are_bounded(redis_url):
    """Fifteen consumers hold entries of one group: the ten holding most have series of
    their own, the group's figures count all of them."""
    from ferrite_tui.metrics import MAX_CONSUMERS

    r = redis.Redis.from_url(redis_url)
    try:
        for i in range(40):
            r.xadd("events:wide", {"data": json.dumps({"n": i})})
        r.xgroup_create("events:wide", "g", "0")
        for i in range(15):  # consumer c00 takes 11 entries, the others 2 or 1
            r.xreadgroup("g", f"c{i:02}", {"events:wide": ">"}, count=11 if i == 0 else 2)
    finally:
        r.close()
    async with exporting(redis_url) as exporter:
        await settled(exporter, 1)
        _, text, _ = await scrape(exporter)
    series = parse(text)
    at = {"queue": "events:wide", "group": "g"}
    held = {dict(lab)["consumer"]: v
            for lab, v in pick(series, "ferrite_stream_consumer_pending_entries", **at).items()}
    assert len(held) == MAX_CONSUMERS == 10
    assert held["c00"] == 11
    assert one(series, "ferrite_stream_pending_entries", **at) == 11 + 14 * 2
    assert one(series, "ferrite_stream_consumers", **at) == 15


async def test_openmetrics_when_asked_and_healthz(redis_url):
    await seeded(redis_url)
    async with exporting(redis_url) as exporter:
        await settled(exporter, 1)
        code, text, content_type = await scrape(
            exporter, accept="application/openmetrics-text; version=1.0.0")
        health = await scrape(exporter, "/healthz")
    assert code == 200 and content_type.startswith("application/openmetrics-text")
    assert text.rstrip().endswith("# EOF")
    names = {f.name for f in openmetrics_families(text)}
    assert {"ferrite_queue_depth", "ferrite_polls", "ferrite_alert_active"} <= names
    assert health[0] == 200 and health[1].strip() == "ok"


async def test_hostile_key_names_reach_labels_only_through_printable(redis_url):
    """Key names with terminal escapes, newlines and invalid UTF-8 are label values as
    `printable` writes them: no control character reaches a scraper."""
    # The last two read the same once escaped: one series, never two with one name.
    raw_keys = [b"evil\x1b[31m\nred", b"bad\xff\xfeutf8", b'quote"back\\slash',
                b"tab\tkey", b"tab\\tkey"]
    r = redis.Redis.from_url(redis_url)
    try:
        for key in raw_keys:
            r.rpush(key, b'{"id":"1","payload":{}}')
    finally:
        r.close()
    async with exporting(redis_url) as exporter:
        await settled(exporter, 1)
        _, text, _ = await scrape(exporter)
    assert "\x1b" not in text and "\ufffd" not in text
    promtool_check_metrics(text)
    queues = {dict(lab)["queue"] for lab in pick(parse(text), "ferrite_queue_depth")}
    assert queues == {printable(k, 200) for k in raw_keys}
    assert len(queues) == 4
    assert text.count("ferrite_queue_depth{") == 4


@pytest.mark.scenario
async def test_rates_and_their_exactness_on_the_known_workload(redis_url):
    """The truth tests' workload (every rate known): each in/out series within 15% of the
    known rate, labelled exact where the console counts every move and exact="false" where
    it gives a lower bound (a delayed set emptied at once, a reliable stack)."""
    import truth
    from test_truth import ALERTS, close

    work = truth.TruthWorkload(redis_url)
    await work.seed()
    work.start()
    try:
        async with exporting(redis_url, config=Config(alerts=ALERTS), refresh=0.5) as exporter:
            await async_wait_until(lambda: exporter.state.snapshot is not None)
            if not exporter.monitor.capabilities.lpos:
                skip_as_the_server_lacks(redis_url, "lpos",
                                         "no LPOS: list figures are marked unknown")
            latest: dict[str, Series] = {}

            def rate(series: Series, metric: str, key: str) -> tuple[float | None, str]:
                found = pick(series, metric, queue=key)
                if len(found) != 1:
                    return None, "absent"
                labels, value = next(iter(found.items()))
                return value, dict(labels)["exact"]

            async def wrong() -> list[str]:
                _, text, _ = await scrape(exporter)
                series = latest["series"] = parse(text)
                out = []
                for key, (rate_in, rate_out) in truth.RATES.items():
                    got_in = rate(series, "ferrite_queue_in_per_second", key)
                    got_out = rate(series, "ferrite_queue_out_per_second", key)
                    if not close(got_in[0], rate_in) or not close(got_out[0], rate_out):
                        out.append(f"{key}: in {got_in} (want {rate_in}), out {got_out} "
                                   f"(want {rate_out})")
                return out

            last: list[str] = []

            async def matched() -> bool:
                last[:] = await wrong()
                return not last

            await async_wait_until(matched, timeout=120, interval=0.5,
                                   message=f"rates never matched: {last}")
            series = latest["series"]
            for key in (truth.FIFO, truth.LEFT, truth.MAIN, truth.DLQ, truth.SCHEDULED):
                assert rate(series, "ferrite_queue_in_per_second", key)[1] == "true", key
            assert rate(series, "ferrite_queue_in_per_second", truth.LATER)[1] == "false"
            assert rate(series, "ferrite_queue_out_per_second", truth.LATER)[1] == "false"
            assert rate(series, "ferrite_queue_in_per_second", truth.RELIABLE)[1] == "false"
    finally:
        await work.stop()


async def test_sends_read_commands_only_whatever_the_settings_say(redis_url, redis_server):
    """The read-only guard is on even for settings that allow writes, and every command
    of its connect, discovery, trend rebuild and polls is a read (COMMAND INFO flags)."""
    from dataclasses import replace

    from helpers import CommandRecorder, mutating

    await seeded(redis_url)
    port = getattr(redis_server, "server_port", None) or redis_server.port
    r = redis.Redis(host="127.0.0.1", port=port)
    try:
        with CommandRecorder("127.0.0.1", port) as rec:
            exporter = Exporter(ConnectionSettings(url=redis_url, read_only=False),
                                replace(load(_empty_config())), refresh=0.2)
            assert exporter.settings.read_only and exporter.monitor.client.settings.read_only
            await exporter.start("127.0.0.1", 0)
            try:
                await settled(exporter, 2)
                await async_wait_until(lambda: exporter.monitor.backfill_report is not None)
            finally:
                await exporter.aclose()
            r.execute_command("PING", "end-of-exporter")
            wait_until(lambda: ["end-of-exporter"] in [a for _, _, a in rec.commands])
        sent = rec.names()
        assert {"SCAN", "LLEN"} <= set(sent)  # the recorder did see discovery and polls
        assert mutating(r, sent) == [], sent
    finally:
        r.close()


# -- one poller for every scrape -------------------------------------------------------

def commandstats(r: redis.Redis) -> dict[str, int]:
    return {name: stats["calls"] for name, stats in r.info("commandstats").items()}


async def test_concurrent_scrapes_send_no_command(redis_url, redis_server):
    """Two hundred scrapes, fifty at a time, between two polls: the server sees nothing
    from them (INFO commandstats) and every scrape reads the same snapshot."""
    await seeded(redis_url)
    # Counted on the server itself (behind the Ferrite stand-in's proxy, whose INFO has no
    # commandstats, when there is one).
    port = getattr(redis_server, "server_port", None) or redis_server.port
    r = redis.Redis(host="127.0.0.1", port=port)
    try:
        async with exporting(redis_url, refresh=60, trends=False) as exporter:
            st = exporter.state
            # The poll that discovery's end wakes is the last one for a minute.
            await async_wait_until(exporter.settled)
            polls = st.polls
            before = commandstats(r)
            bodies = []
            for _ in range(4):
                bodies += await asyncio.gather(*(scrape(exporter) for _ in range(50)))
            after = commandstats(r)
            assert st.polls == polls
        changed = {name: after[name] - before.get(name, 0) for name in after
                   if after[name] != before.get(name, 0)}
        assert changed == {"cmdstat_info": 1}  # the first commandstats read itself
        assert {body for _, body, _ in bodies} == {bodies[0][1]}
        assert one(parse(bodies[0][1]), "ferrite_queues") == 7
    finally:
        r.close()


async def test_polls_at_most_once_per_refresh_interval_under_load(redis_url):
    await seeded(redis_url)
    refresh = 0.25
    async with exporting(redis_url, refresh=refresh, trends=False) as exporter:
        await settled(exporter, 1)
        st = exporter.state
        polls, start = st.polls, time.monotonic()
        scrapes = 0

        async def scraper() -> None:
            nonlocal scrapes
            while time.monotonic() - start < 1.5:
                await scrape(exporter)
                scrapes += 1

        await asyncio.gather(*(scraper() for _ in range(10)))
        elapsed = time.monotonic() - start
        done = st.polls - polls
    assert scrapes > 30  # the scrapes were many more than the polls
    assert 1 <= done <= elapsed / refresh + 1, (done, elapsed)


# -- limits, failures, the command -----------------------------------------------------

async def test_max_series_cuts_with_a_metric_and_one_log_line(redis_url, caplog):
    await seeded(redis_url)
    caplog.set_level(logging.WARNING, logger="ferrite_tui.exporter")
    async with exporting(redis_url, max_series=25) as exporter:
        await settled(exporter, 1)
        _, first, _ = await scrape(exporter)
        _, second, _ = await scrape(exporter)
    series = parse(second)
    per_queue = [k for k in series if METRICS[_family(k[0])][2][:1] in (("queue",), ("alert",))]
    assert 0 < len(per_queue) <= 25
    assert (one(series, "ferrite_exporter_series_dropped") or 0) > 0
    assert (one(series, "ferrite_exporter_queues_dropped") or 0) >= 1
    assert one(series, "ferrite_exporter_series_limit") == 25
    cuts = [r for r in caplog.records if "--max-series" in r.getMessage()]
    assert len(cuts) == 1, [r.getMessage() for r in cuts]
    assert parse(first).keys() == series.keys()


def _family(sample: str) -> str:
    return sample if sample in METRICS else sample.removesuffix("_total")


async def test_unreachable_server_is_unhealthy_and_counted(server_factory):
    server = server_factory()
    url = server.url
    server.stop()
    async with exporting(url) as exporter:
        await async_wait_until(lambda: exporter.state.connect_errors >= 1)
        code, why, _ = await scrape(exporter, "/healthz")
        _, text, _ = await scrape(exporter)
    assert code == 503 and "refused" in why
    series = parse(text)
    assert one(series, "ferrite_up") == 0
    assert (one(series, "ferrite_connect_errors_total") or 0) >= 1
    assert pick(series, "ferrite_queue_depth") == {}


async def test_an_acl_user_who_may_only_read_gets_every_figure(fresh_server, tmp_path):
    """A user who may read everything and write nothing (as an exporter's user should be),
    named in the URL as the console takes it: every queue, no poll error."""
    from ferrite_tui.commandline import resolve_settings
    from test_acl import PASSWORD

    await seeded(fresh_server.url)
    r = redis.Redis.from_url(fresh_server.url)
    try:
        r.execute_command("ACL", "SETUSER", "metrics", "on", f">{PASSWORD}", "~*", "&*",
                          "+@all", "-@write", "-@scripting")
    finally:
        r.close()
    url = f"redis://metrics:{PASSWORD}@127.0.0.1:{fresh_server.port}/0"
    cfg = load(_empty_config())
    settings = resolve_settings(cfg, url, None, read_only=True)
    assert settings is not None
    exporter = Exporter(settings, cfg, refresh=0.3)
    await exporter.start("127.0.0.1", 0)
    try:
        await settled(exporter, 1)
        _, text, _ = await scrape(exporter)
    finally:
        await exporter.aclose()
    series = parse(text)
    assert len(pick(series, "ferrite_queue_depth")) == 7
    assert pick(series, "ferrite_queue_poll_error") == {}
    assert one(series, "ferrite_poll_errors_total") == 0
    assert PASSWORD not in text


async def test_a_lost_server_takes_its_stale_figures_out(fresh_server):
    """The server goes away after a good poll: once that poll is stale, /healthz says so,
    ferrite_up is 0 and the queue figures are gone (not served as if current), while the
    time of the last good poll stays."""
    await seeded(fresh_server.url)
    async with exporting(fresh_server.url, refresh=0.2, trends=False) as exporter:
        exporter.stale_after = 1.0
        await settled(exporter, 1)
        _, before, _ = await scrape(exporter)
        assert pick(parse(before), "ferrite_queue_depth")
        fresh_server.kill()
        # After the kill: a poll in flight when it began can still end (and be the last).
        killed_at = time.time()
        await async_wait_until(lambda: not exporter.up()[0], timeout=15)
        code, why, _ = await scrape(exporter, "/healthz")
        _, after, _ = await scrape(exporter)
    assert code == 503 and "last poll" in why
    series = parse(after)
    assert one(series, "ferrite_up") == 0
    assert pick(series, "ferrite_queue_depth") == {} and pick(series, "ferrite_items") == {}
    last_poll = one(series, "ferrite_last_poll_timestamp_seconds")
    assert last_poll is not None
    assert one(parse(before), "ferrite_last_poll_timestamp_seconds") <= last_poll <= killed_at
    assert (one(series, "ferrite_poll_errors_total") or 0) + \
        (one(series, "ferrite_connect_errors_total") or 0) >= 1


def test_the_command_serves_until_sigterm(server_factory, tmp_path):
    """`ferrite-tui exporter URL --listen 127.0.0.1:0` on a server with a password given
    as the console takes it (REDISCLI_AUTH): says where it serves (no password shown),
    serves the metrics, stops cleanly on SIGTERM."""
    server = server_factory(password="exporter-s3cret")
    url = server.url.replace(":exporter-s3cret@", "")
    assert "s3cret" not in url
    config = tmp_path / "config.toml"
    config.write_text("", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferrite_tui", "exporter", url, "--listen",
         "127.0.0.1:0", "--config", str(config), "--refresh", "0.3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
        env={**os.environ, "REDISCLI_AUTH": "exporter-s3cret"})
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        found = re.search(r"serving (http://127\.0\.0\.1:\d+)/metrics", line)
        assert found, line + (proc.stderr.read() if proc.poll() is not None else "")
        assert "s3cret" not in line
        base = found.group(1)
        r = redis.Redis.from_url(server.url)
        r.rpush("emails", "x")
        r.close()

        def depth() -> bool:
            import urllib.request

            with urllib.request.urlopen(f"{base}/metrics", timeout=5) as resp:
                return 'ferrite_queue_depth{kind="work",library="",node="",queue="emails"} 1.0' \
                    in resp.read().decode()

        wait_until(depth, timeout=15, interval=0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert "s3cret" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.once  # no server involved
def test_bad_listen_address_is_exit_2_with_one_line():
    out = subprocess.run([sys.executable, "-m", "ferrite_tui", "exporter", "redis://x",
                          "--listen", "nonsense"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "HOST:PORT" in out.stderr


@pytest.mark.once  # no server involved
def test_importing_the_exporter_pulls_in_no_textual():
    code = ("import sys, ferrite_tui.exporter\n"
            "print(','.join(sorted(m for m in sys.modules if m == 'textual' "
            "or m.startswith('textual.'))))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "", out.stdout


# -- examples: alert rules and the dashboard --------------------------------------------

METRIC_NAME = re.compile(r"\b(ferrite_[a-z_]+)\b")


@pytest.mark.once  # no server involved
def test_alert_rules_pass_promtool_and_name_console_keys(tmp_path):
    rules = EXAMPLES / "prometheus-rules.yml"
    out = subprocess.run([need("promtool"), "check", "rules", str(rules)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    text = rules.read_text(encoding="utf-8")
    for name in METRIC_NAME.findall(text):
        assert _family(name) in METRICS, name
    rules_found = text.split("- alert: ")[1:]
    assert len(rules_found) >= 14
    for rule in rules_found:
        assert re.search(r"console: \"ferrite-tui: press `[^`]+`", rule), rule
    # Every alert the console can raise has a rule (by its exported name).
    from ferrite_tui.metrics import ALERT_NAMES

    for name, _ in ALERT_NAMES:
        assert f'alert="{name}"' in text, name
    # The rules' own unit tests: they fire after their `for`, with these annotations.
    out = subprocess.run([need("promtool"), "test", "rules", "prometheus-rules.test.yml"],
                         capture_output=True, text=True, timeout=30, cwd=EXAMPLES)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.once  # no server involved
def test_docs_list_every_metric_and_alert():
    from ferrite_tui.metrics import ALERT_NAMES

    text = (REPO_ROOT / "docs" / "exporter.md").read_text(encoding="utf-8")
    for name, (type_, _, _) in METRICS.items():
        assert f"`{name}_total`" in text if type_ == "counter" else f"`{name}`" in text, name
    for name, _ in ALERT_NAMES:
        assert f"| `{name}` |" in text, name


@pytest.mark.once  # no server involved
def test_dashboard_queries_parse_and_use_only_exported_metrics(tmp_path):
    """Every PromQL expression of the Grafana dashboard goes through promtool's parser
    (as recording rules), and every metric it names is one the exporter declares."""
    dashboard = json.loads((EXAMPLES / "grafana-dashboard.json").read_text(encoding="utf-8"))
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", ())]
    exprs += [v["query"]["query"] if isinstance(v.get("query"), dict) else v["query"]
              for v in dashboard.get("templating", {}).get("list", ())
              if v.get("type") == "query"]
    assert len(exprs) >= 8
    names = {_family(n) for e in exprs for n in METRIC_NAME.findall(e)}
    assert names and names <= METRICS.keys(), names - METRICS.keys()
    queries = [e for e in exprs if not e.startswith("label_values(")]
    lines = ["groups:", "  - name: dashboard", "    rules:"]
    for i, expr in enumerate(queries):
        # Grafana's variables and intervals, as Grafana would fill them in.
        filled = expr.replace("$__rate_interval", "1m").replace("$queue", ".*")
        lines += [f"      - record: dashboard:query_{i}", f"        expr: {json.dumps(filled)}"]
    rules = tmp_path / "dashboard-rules.yml"
    rules.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = subprocess.run([need("promtool"), "check", "rules", str(rules)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr


# -- a real Prometheus ---------------------------------------------------------------------

def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_a_real_prometheus_scrapes_the_figures(redis_url, tmp_path):
    binary = need("prometheus")
    await seeded(redis_url)
    async with exporting(redis_url) as exporter:
        await settled(exporter, 1)
        assert exporter.address is not None
        host, port = exporter.address
        web_port = free_port()
        (tmp_path / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n"
            "scrape_configs:\n  - job_name: ferrite\n"
            f"    static_configs:\n      - targets: ['{host}:{port}']\n", encoding="utf-8")
        proc = subprocess.Popen(
            [binary, f"--config.file={tmp_path / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{web_port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path)
        try:
            api = f"http://127.0.0.1:{web_port}/api/v1/query"

            async def query(expr: str) -> list[dict]:
                async with aiohttp.ClientSession() as session, \
                        session.get(api, params={"query": expr}) as resp:
                    body = await resp.json()
                    return body["data"]["result"] if body.get("status") == "success" else []

            depths = await async_wait_until(
                lambda: query('ferrite_queue_depth{job="ferrite"}'), timeout=30,
                interval=0.2, ignore_exceptions=(aiohttp.ClientError,),
                message="Prometheus never stored ferrite_queue_depth")
            _, text, _ = await scrape(exporter)
            ours = pick(parse(text), "ferrite_queue_depth")
            theirs = {r["metric"]["queue"]: float(r["value"][1]) for r in depths}
            assert theirs == {dict(lab)["queue"]: v for lab, v in ours.items()}
            alerts = await query('ferrite_alert_active{alert="dead_letters"}')
            assert [a["metric"]["queue"] for a in alerts] == ["queue:main:dlq"]
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# -- a cluster ---------------------------------------------------------------------------

@pytest.mark.cluster
async def test_a_cluster_labels_every_queue_with_its_node(cluster_url, tmp_path):
    """On a Redis Cluster, as the console: every primary polled, each queue's series
    labelled with the primary holding its key, depths as `status --json` has them."""
    from ferrite_tui.commandline import resolve_settings
    from ferrite_tui.demo.layout import CLUSTER_NAMES

    client = aioredis.RedisCluster.from_url(cluster_url)
    try:
        await seed(client, names=CLUSTER_NAMES)
    finally:
        await client.aclose()
    config = tmp_path / "config.toml"
    config.write_text("", encoding="utf-8")
    status = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "ferrite_tui", "status", cluster_url,
                         "--json", "--config", str(config)],
        capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    cfg = load(config)
    settings = resolve_settings(cfg, cluster_url, None, read_only=True)
    assert settings is not None
    exporter = Exporter(settings, cfg, refresh=0.3)
    await exporter.start("127.0.0.1", 0)
    try:
        await settled(exporter, 1)
        _, text, _ = await scrape(exporter)
    finally:
        await exporter.aclose()
    promtool_check_metrics(text)
    series = parse(text)
    r = redis.RedisCluster.from_url(cluster_url)
    try:
        assert data["queues"]
        for q in data["queues"]:
            node = r.get_node_from_key(q["key"]).name
            assert q["node"] == node
            assert one(series, "ferrite_queue_depth", queue=q["key"], kind=q["kind"],
                       node=node) == q["depth"], q["key"]
    finally:
        r.close()
    nodes = {dict(lab)["node"] for lab in pick(series, "ferrite_queue_depth")}
    assert len(nodes) >= 2


@pytest.mark.cluster
async def test_the_command_over_tls_to_a_cluster_from_a_profile(cluster_factory, tmp_path):
    """`ferrite-tui exporter --profile P`: a profile's rediss:// URL and CA file reach a
    TLS cluster, every primary's queues are served with their node."""
    from test_cluster_tls import _start_tls_cluster
    from tlsfiles import make_tls_files

    try:
        files, _ = make_tls_files(tmp_path)
    except (RuntimeError, OSError) as exc:
        pytest.skip(f"no TLS material: {exc}")
    cluster = _start_tls_cluster(cluster_factory, files)
    client = aioredis.RedisCluster.from_url(cluster.tls_url, ssl_ca_certs=files.ca_file)
    try:
        for i in range(6):
            await client.rpush(f"jobs:{i}", "x")
    finally:
        await client.aclose()
    config = tmp_path / "config.toml"
    config.write_text(f'[profiles.tlsprod]\nurl = "{cluster.tls_url}"\n'
                      f'tls_ca_file = "{files.ca_file}"\n', encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferrite_tui", "exporter", "--profile", "tlsprod", "--config",
         str(config), "--listen", "127.0.0.1:0", "--refresh", "0.3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"serving (http://127\.0\.0\.1:\d+)/metrics", line)
        assert found, line
        import urllib.request

        def depths() -> Series | None:
            with urllib.request.urlopen(f"{found.group(1)}/metrics", timeout=5) as resp:
                series = parse(resp.read().decode())
            return series if len(pick(series, "ferrite_queue_depth")) == 6 else None

        series = wait_until(depths, timeout=30, interval=0.2)
        nodes = {dict(lab)["node"] for lab in pick(series, "ferrite_queue_depth")}
        tls_ports = {str(p) for p in cluster.tls_ports.values()}
        assert nodes and {n.rsplit(":", 1)[1] for n in nodes} <= tls_ports
        assert len(nodes) >= 2
    finally:
        proc.terminate()
        proc.wait(timeout=15)
