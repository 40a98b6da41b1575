"""Per scrape at 1,000 queues: commands the server runs, round trips and time, for
`ferrite-tui exporter` and, side by side in the same run on the same server and keys,
Debian's prometheus-redis-exporter with --check-keys.

Run: python -m pytest -n 0 -m perf -s tests/perf/test_exporter_perf.py

Measured on the server: commands from INFO commandstats, read events from INFO stats'
total_reads_processed, each the difference over one scrape minus the measuring INFO
itself. Round trips: redis_exporter sends one command at a time (each a read event, as the
figures show); the exporter's poll counts its own pipelines (Snapshot.round_trips), whose
bytes the server may take in several reads (a 1,000-queue pipeline is larger than one
read buffer), so both figures are printed. The exporter polls on
its own once per refresh interval and a scrape only renders the last poll, so its cost per
scrape, scraped once per interval, is one poll (plus nothing for the scrape itself).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest
import redis

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.config import Config
from ferrite_tui.exporter import Exporter
from helpers import figure, wait_until
from test_poll_perf import populate

pytestmark = pytest.mark.perf

QUEUES = 1_000
REPEATS = 5
REQUIRE_ENV = "FERRITE_TUI_REQUIRE_PROMETHEUS"


def server_counts(r: redis.Redis) -> tuple[int, int]:
    """(commands run, read events) so far, as the server counts them."""
    info = r.info("all")
    commands = sum(v["calls"] for k, v in info.items() if k.startswith("cmdstat_"))
    return commands, int(info["total_reads_processed"])


def cost(r: redis.Redis, before: tuple[int, int]) -> tuple[int, int]:
    """Commands and round trips since `before`, less the INFO that read `before` (counted
    after it ran) and the read of the INFO measuring now (counted before it runs)."""
    commands, reads = server_counts(r)
    return commands - before[0] - 1, reads - before[1] - 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as resp:
        return resp.read()


def redis_exporter_side(url: str, r: redis.Redis) -> tuple[float, float, float, int]:
    binary = shutil.which("prometheus-redis-exporter")
    if binary is None:
        import os

        reason = "no prometheus-redis-exporter: install Debian's package (.ci/run does)"
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(reason)
        pytest.skip(reason)
    port = free_port()
    # The same keys as the queues the console finds: every key of populate().
    patterns = "work*,queue:*,prio*,stream*"
    proc = subprocess.Popen([binary, f"--redis.addr={url}", f"--check-keys={patterns}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        metrics = f"http://127.0.0.1:{port}/metrics"
        wait_until(lambda: get(metrics), timeout=15, interval=0.1,
                   ignore_exceptions=(OSError,))  # also the warm-up scrape
        commands, trips, times = [], [], []
        for _ in range(REPEATS):
            before = server_counts(r)
            t0 = time.perf_counter()
            body = get(metrics).decode()
            times.append(time.perf_counter() - t0)
            c, t = cost(r, before)
            commands.append(c)
            trips.append(t)
        keys = sum(1 for line in body.splitlines() if line.startswith("redis_key_size{"))
        return (sum(commands) / REPEATS, sum(trips) / REPEATS, min(times), keys)
    finally:
        proc.terminate()
        proc.wait(timeout=15)


async def ours_side(url: str, r: redis.Redis) -> dict[str, float]:
    # Polls only when asked to in this measurement: a long refresh, no trend rebuild.
    from dataclasses import replace

    cfg = replace(Config(), trend_minutes=0)
    exporter = Exporter(ConnectionSettings(url=url), cfg, refresh=3600)
    await exporter.start("127.0.0.1", 0)
    try:
        st = exporter.state
        deadline = time.monotonic() + 60
        while not exporter.settled():
            assert time.monotonic() < deadline, "no poll after discovery"
            await asyncio.sleep(0.05)
        assert st.snapshot is not None and len(st.snapshot.queues) == QUEUES
        host, port = exporter.address or ("", 0)
        metrics = f"http://{host}:{port}/metrics"
        poll_commands, poll_trips, poll_times, reported = [], [], [], []
        for _ in range(REPEATS):
            before = server_counts(r)
            t0 = time.perf_counter()
            snap = await exporter.monitor.poll()  # what the poller does once per interval
            poll_times.append(time.perf_counter() - t0)
            c, t = cost(r, before)
            poll_commands.append(c)
            poll_trips.append(t)
            reported.append(snap.round_trips)
            exporter.state.snapshot = snap
        scrape_commands, scrape_trips, scrape_times = [], [], []
        for _ in range(REPEATS):
            before = server_counts(r)
            t0 = time.perf_counter()
            body = await asyncio.to_thread(get, metrics)
            scrape_times.append(time.perf_counter() - t0)
            c, t = cost(r, before)
            scrape_commands.append(c)
            scrape_trips.append(t)
        depths = body.decode().count("ferrite_queue_depth{")
        return {
            "poll_commands": sum(poll_commands) / REPEATS,
            "poll_trips": sum(poll_trips) / REPEATS,
            "poll_reported_trips": max(reported),
            "poll_s": min(poll_times),
            "scrape_commands": sum(scrape_commands) / REPEATS,
            "scrape_trips": sum(scrape_trips) / REPEATS,
            "scrape_s": min(scrape_times),
            "render_s": scrape_times[0],  # the first after a poll renders; the rest reuse it
            "queues": depths,
        }
    finally:
        await exporter.aclose()


async def test_exporter_per_scrape_against_redis_exporter(redis_url):
    r = redis.Redis.from_url(redis_url)
    try:
        populate(r, QUEUES)
        keys = r.dbsize()
        ours = await ours_side(redis_url, r)
        their_commands, their_trips, their_s, their_keys = \
            await asyncio.to_thread(redis_exporter_side, redis_url, r)
    finally:
        r.close()
    lines = [
        f"exporter per scrape at {QUEUES:,} queues ({keys:,} keys), mean of {REPEATS}:",
        f"  ferrite-tui exporter: {ours['queues']:,.0f} queues; one poll per interval "
        f"{ours['poll_commands']:,.0f} commands, {ours['poll_reported_trips']:.0f} round "
        f"trips ({ours['poll_trips']:,.1f} server reads), {ours['poll_s'] * 1000:,.1f} ms; "
        f"the scrape itself {ours['scrape_commands']:,.0f} commands, "
        f"{ours['scrape_trips']:,.0f} round trips, {ours['render_s'] * 1000:,.1f} ms "
        f"(rendered), {ours['scrape_s'] * 1000:,.1f} ms (until the next poll)",
        f"  redis_exporter --check-keys: {their_keys:,} keys; {their_commands:,.0f} "
        f"commands, {their_trips:,.0f} round trips (server reads), {their_s * 1000:,.1f} ms "
        "per scrape",
    ]
    for line in lines:
        print(line)
        figure(line)
    assert ours["queues"] == QUEUES
    assert ours["scrape_commands"] == 0 and ours["scrape_trips"] == 0
    assert ours["poll_reported_trips"] <= 3
    assert their_keys >= QUEUES  # it did look at every key
    assert their_trips >= their_commands  # one command per round trip
    assert ours["poll_reported_trips"] < their_trips
    assert ours["poll_trips"] * 10 < their_trips  # read events too
