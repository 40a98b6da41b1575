"""Pub/Sub tail under a flood, side by side with `redis-cli psubscribe '*'` on the same flood.

1. Absorb: bounded floods at rising publish rates (loopback only). For each: does the tail
   count exactly what was published, and does redis-cli? CPU per message for both.
2. Keys under load: inside a Pilot run, 20,000 messages/s arrive while keys are pressed;
   the time from the key press until the panel's action ran, next to the same key presses
   with no flood, the same run. Counts stay exact; the log redraws at most 10 times/s.

Run: python -m pytest -n 0 -m perf -s tests/perf/test_pubsub_perf.py
Sizes: PUBSUB_PERF_SECONDS (flood length per rate, default 3), PUBSUB_PERF_RATES
(default "10000,20000,40000,80000,0"; 0 = as fast as one publisher can go).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from typing import cast

import pytest
import redis

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.backend.pubsub import Tail
from ferrite_tui.config import Config
from ferrite_tui.ui.app import FerriteApp
from ferrite_tui.ui.panels.pubsub import PubSubPanel
from helpers import async_wait_until, client_at, running

pytestmark = pytest.mark.perf

REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
SECONDS = float(os.environ.get("PUBSUB_PERF_SECONDS", "3"))
RATES = [int(r) for r in os.environ.get("PUBSUB_PERF_RATES", "10000,20000,40000,80000,0")
         .split(",")]
KEY_RATE = 20_000
CHANNELS = 5

# A bounded, paced publisher in its own process (so it does not share our GIL).
PUBLISHER = r"""
import json, sys, time, redis
url, rate, total, channels = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
r = redis.Redis.from_url(url)
body = b'{"order_id":"ORD-%06d","user_id":"user_17","total":123.45,"ts":1795826266499}'
tick = 0.005
batch = max(1, int(rate * tick)) if rate else 1000
start = time.perf_counter()
sent = 0
while sent < total:
    pipe = r.pipeline(transaction=False)
    n = min(batch, total - sent)
    for i in range(sent, sent + n):
        pipe.publish(b"events.%d" % (i % channels), body % i)
    pipe.execute()
    sent += n
    if rate:
        due = start + sent / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
elapsed = time.perf_counter() - start
print(json.dumps({"sent": sent, "elapsed": elapsed}))
"""


class CliCounter:
    """`redis-cli psubscribe '*'` reading the same flood; counts the messages it printed."""

    def __init__(self, port: int) -> None:
        self.proc = subprocess.Popen([REDIS_CLI, "-h", "127.0.0.1", "-p", str(port),
                                      "psubscribe", "*"], stdout=subprocess.PIPE)
        self.lines = 0
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while chunk := out.read1(1 << 16):  # type: ignore[attr-defined]  # a pipe: a BufferedReader
            self.lines += chunk.count(b"\n")

    @property
    def messages(self) -> int:
        # "psubscribe\n*\n1\n" then 4 lines per message: pmessage, pattern, channel, body
        return max(0, (self.lines - 3) // 4)

    def cpu_s(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_publisher(url: str, rate: int, total: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", PUBLISHER, url, str(rate), str(total),
                             str(CHANNELS)], stdout=subprocess.PIPE, text=True)


async def finish_publisher(proc: subprocess.Popen) -> dict:
    while proc.poll() is None:
        await asyncio.sleep(0.05)
    out = proc.stdout.read() if proc.stdout else ""
    assert proc.returncode == 0, "publisher failed"
    return json.loads(out)


async def settle(get, target: int, quiet_s: float = 3.0) -> int:
    """Wait until get() reaches target, or stops growing for quiet_s."""
    last, since = get(), time.monotonic()
    while get() < target:
        await asyncio.sleep(0.05)
        now = get()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > quiet_s:
            break
    return get()


async def test_tail_absorbs_floods_with_exact_counts(server_factory):
    server = server_factory()
    sync = redis.Redis.from_url(server.url)
    client = client_at(server.url)
    tail = Tail(client, buffer=10_000)
    cli = CliCounter(server.port)
    rows = []
    try:
        tail.start()
        await async_wait_until(lambda: tail.state.status == "live")
        await async_wait_until(lambda: cli.lines >= 3)  # redis-cli has subscribed
        for rate in RATES:
            total = int((rate or 100_000) * SECONDS)
            base_tail, base_cli = tail.received, cli.messages
            cpu0, cli_cpu0 = time.process_time(), cli.cpu_s()
            pub = start_publisher(server.url, rate, total)
            result = await finish_publisher(pub)
            got = await settle(lambda base=base_tail: tail.received - base, total)
            cli_got = await settle(lambda base=base_cli: cli.messages - base, total)
            cpu, cli_cpu = time.process_time() - cpu0, cli.cpu_s() - cli_cpu0
            rows.append((rate, result["sent"] / result["elapsed"], total, got, cli_got,
                         cpu / max(got, 1) * 1e6, cli_cpu / max(cli_got, 1) * 1e6, tail.gaps))
    finally:
        cli.stop()
        await tail.aclose()
        await client.aclose()
        sync.close()

    print("\n\nPub/Sub tail vs redis-cli psubscribe '*', same flood "
          f"({CHANNELS} channels, ~80 B bodies, {SECONDS:g} s per rate, loopback)")
    print(f"{'target/s':>9} {'achieved/s':>11} {'published':>10} {'tail got':>10} "
          f"{'cli got':>10} {'tail µs/msg':>12} {'cli µs/msg':>11} {'exact':>6}")
    for rate, achieved, total, got, cli_got, us, cli_us, _gaps in rows:
        exact = "yes" if got == total else "NO"
        print(f"{rate or 'max':>9} {achieved:>11,.0f} {total:>10,} {got:>10,} {cli_got:>10,} "
              f"{us:>12.1f} {cli_us:>11.1f} {exact:>6}")
    exact_rates = [achieved for _, achieved, total, got, *_ in rows if got == total]
    print(f"highest publish rate absorbed with exact counts: "
          f"{max(exact_rates):,.0f} msg/s" if exact_rates else "none exact")
    # counts are exact at least up to the rate the key-response benchmark floods with
    for rate, _achieved, total, got, cli_got, *_ in rows:
        if rate and rate <= KEY_RATE:
            assert got == total, f"tail lost messages at {rate}/s: {got} of {total}"
            assert cli_got == total, f"redis-cli lost messages at {rate}/s"
    assert rows[-1][-1] == 0, "the tail was disconnected (gap) during a flood"


async def press_and_time(pilot, panel: PubSubPanel, key: str, count: int,
                         gap_s: float = 0.1) -> list[float]:
    """Milliseconds from pressing `key` until the panel's action ran, `count` times."""
    out = []
    for _ in range(count):
        t0 = time.perf_counter()
        await pilot.press(key)
        await async_wait_until(lambda t0=t0: panel.last_key_at >= t0, timeout=10,
                               interval=0.001)
        out.append((panel.last_key_at - t0) * 1000)
        await asyncio.sleep(gap_s)  # pacing between presses, not waiting for a condition
    return out


def summary(ms: list[float]) -> str:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return f"median {statistics.median(ms):6.1f} ms  p95 {p95:6.1f} ms  max {ms[-1]:6.1f} ms"


async def test_keys_answer_while_20k_per_second_arrive(server_factory, tmp_path):
    server = server_factory()
    sync = redis.Redis.from_url(server.url)
    app = FerriteApp(Config(), ConnectionSettings(url=server.url), refresh=1.0,
                     audit_path=tmp_path / "audit.log")
    cli = CliCounter(server.port)
    presses = 30
    try:
        async with running(app) as pilot:
            await async_wait_until(lambda: app.monitor is not None
                                   and app.monitor.snapshot is not None)
            await pilot.press("7")
            panel = cast(PubSubPanel, app.panel("pubsub"))
            await async_wait_until(lambda: panel.tail is not None
                                   and panel.tail.state.status == "live")
            await async_wait_until(lambda: cli.lines >= 3)  # redis-cli has subscribed
            panel.log_view.focus()
            idle = await press_and_time(pilot, panel, "f", presses)

            renders0 = panel.log_view.renders
            total = int(KEY_RATE * max(SECONDS * 2, 6))
            t_start = time.perf_counter()
            pub = start_publisher(server.url, KEY_RATE, total)
            await async_wait_until(lambda: panel.tail is not None and panel.tail.received > 2000,
                                   timeout=30)
            loaded = await press_and_time(pilot, panel, "f", presses)
            result = await finish_publisher(pub)
            got = await settle(lambda: panel.tail.received if panel.tail else 0, total)
            cli_got = await settle(lambda: cli.messages, total)
            flood_s = time.perf_counter() - t_start
            await pilot.pause()
            renders = panel.log_view.renders - renders0
            skipped = panel.skipped
            lines = panel.log_view.size.height
    finally:
        cli.stop()
        sync.close()

    achieved = result["sent"] / result["elapsed"]
    print(f"\n\nKey response in the Pub/Sub panel (Pilot, 120x36), {presses} presses of 'f'")
    print(f"  idle:                       {summary(idle)}")
    print(f"  while {achieved:,.0f} msg/s arrive: {summary(loaded)}   (target: under 100 ms)")
    print(f"  flood: {total:,} published; tail counted {got:,}; redis-cli counted {cli_got:,}; "
          f"view skipped {skipped:,}")
    print(f"  log lines drawn during the flood: {renders:,} over {flood_s:.1f} s "
          f"({renders / flood_s:,.0f}/s, {lines} visible lines; a RichLog would re-render "
          f"every message)")
    assert got == total, f"the tail in the app lost messages: {got} of {total}"
    assert cli_got == total
    assert skipped == 0
    # batches: at most ~10 redraws a second, each drawing at most the visible lines (+ the
    # cursor line moving); never one line per message
    assert renders <= (flood_s * 10 + 20) * (lines + 2)
    assert renders < total / 5
