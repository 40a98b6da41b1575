"""Poll cost for 10, 100 and 1,000 queues against a naive loop of one command per queue,
same run, same server, with the poll before the registry of layouts (poll_before_registry)
side by side; 10,000 queues among 1,000,000 unrelated keys; and the time from process start
to the first screen with data.

Run: python -m pytest -n 0 -m perf -s tests/perf/test_poll_perf.py
Targets (issues 2 and 23): at 1,000 queues at most 3 round trips per poll and at least 8x
faster than the naive loop; at 10,000 queues at most 2 round trips and a time growing about
linearly from 1,000; first data on screen under 1.5 s with the demo server running.
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

from ferrite_tui.backend.history import History
from ferrite_tui.config import Config, DiscoveryConfig
from helpers import monitor_at
from poll_before_registry import Poller as PollerBefore

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
    """Medians of today's poll, the poll before the registry and the naive loop, taken in
    turn at each repeat (so a busy machine slows all three alike); today's round trips and
    commands per poll."""
    monitor = monitor_at(url)
    await monitor.connect()
    await monitor.discover()
    refs = monitor.discovery.refs
    assert len(refs) == n
    before = PollerBefore(monitor.client, Config().alerts, History())
    for poller in (monitor.poller, before):  # warm up: the second poll follows the first
        await poller.snapshot(refs)
        await poller.snapshot(refs)
    naive_client = aioredis.Redis.from_url(url, protocol=2)
    times, before_times, naive_times, trips = [], [], [], []
    for _ in range(REPEATS):
        start = time.perf_counter()
        snap = await monitor.poller.snapshot(refs)
        times.append(time.perf_counter() - start)
        trips.append(snap.round_trips)
        start = time.perf_counter()
        await before.snapshot(refs)
        before_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        await naive_poll(naive_client, refs)
        naive_times.append(time.perf_counter() - start)
    await naive_client.aclose()
    sent = count_commands(monitor.client)
    await monitor.poller.snapshot(refs)
    await monitor.aclose()
    return (median(times), max(trips), median(naive_times), median(before_times), sent[0])


def median(values):
    return sorted(values)[len(values) // 2]


def count_commands(client):
    """Counts the commands `client` pipelines from now on (sent[0])."""
    sent = [0]
    pipeline = client.raw_pipeline

    async def counted(commands):
        sent[0] += len(commands)
        return await pipeline(commands)

    client.raw_pipeline = counted
    return sent


def test_poll_scales_flat_in_round_trips(redis_url):
    r = redis.Redis.from_url(redis_url)
    rows = []
    for n in (10, 100, 1000):
        populate(r, n)
        rows.append((n, *asyncio.run(measure(redis_url, n))))
    r.close()
    print("\nqueues  poll (median)  round trips  naive loop (median)  speed-up"
          "  | before the registry  speed-up")
    for n, poll_s, trips, naive_s, before_s, _ in rows:
        print(f"{n:>6}  {poll_s * 1000:>10.1f} ms  {trips:>11}  {naive_s * 1000:>16.1f} ms"
              f"  {naive_s / poll_s:>7.1f}x  | {before_s * 1000:>16.1f} ms"
              f"  {naive_s / before_s:>7.1f}x")
    n, poll_s, trips, naive_s, before_s, commands = rows[-1]
    print(f"1,000 queues: {commands:,} commands per poll")
    assert trips <= 3
    assert all(row[2] == rows[0][2] for row in rows)  # flat in the number of queues
    # Issue 23: at least 8x again (the poll before the registry was at about 5x). Figures
    # already equal need no LPOS, per-queue bookkeeping was trimmed (see docs/performance.md).
    assert naive_s / poll_s >= 8


UNRELATED = 1_000_000


def add_unrelated_keys(r, n):
    """n string keys no queue is made of, made by the server itself where it can (DEBUG
    POPULATE, else a Lua loop), else sent in pipelines."""
    try:
        r.execute_command("DEBUG", "POPULATE", n, "unrelated")
        return "DEBUG POPULATE"
    except redis.ResponseError:
        pass
    try:
        loop = "for i = ARGV[1], ARGV[2] do redis.call('SET', 'unrelated:' .. i, 'x') end"
        for start in range(0, n, 100_000):
            r.eval(loop, 0, start, min(start + 100_000, n) - 1)
        return "a Lua loop"
    except redis.ResponseError:
        pass
    for start in range(0, n, 10_000):
        pipe = r.pipeline(transaction=False)
        for i in range(start, min(start + 10_000, n)):
            pipe.set(f"unrelated:{i}", "x")
        pipe.execute()
    return "pipelined SETs"


async def measure_ten_thousand(url):
    """The poll of 1,000 queues (every tenth) and of all 10,000, today's and before the
    registry, taken in turn at each repeat: medians, round trips and commands."""
    config = Config(discovery=DiscoveryConfig(max_queues=20_000))
    monitor = monitor_at(url, config)
    await monitor.connect()
    started = time.perf_counter()
    await monitor.discover()
    discovery_s = time.perf_counter() - started
    every = monitor.discovery.refs
    assert len(every) == 10_000
    sets = {1000: every[::10], 10_000: every}
    pollers = {(n, name): cls(monitor.client, config.alerts, History())
               for n in sets for name, cls in (("now", type(monitor.poller)),
                                                ("before", PollerBefore))}
    for (n, _name), poller in pollers.items():  # warm up: the second poll follows the first
        await poller.snapshot(sets[n])
        await poller.snapshot(sets[n])
    times: dict[tuple[int, str], list[float]] = {key: [] for key in pollers}
    trips: dict[int, set[int]] = {n: set() for n in sets}
    for _ in range(5):
        for (n, name), poller in pollers.items():
            start = time.perf_counter()
            snap = await poller.snapshot(sets[n])
            times[n, name].append(time.perf_counter() - start)
            if name == "now":
                trips[n].add(snap.round_trips)
    sent = count_commands(monitor.client)
    await pollers[10_000, "now"].snapshot(every)
    await monitor.aclose()
    return {k: median(v) for k, v in times.items()}, trips, sent[0], discovery_s


def test_ten_thousand_queues_among_a_million_keys(redis_url):
    """Issue 23: 10,000 queues among 1,000,000 unrelated keys are polled in at most 2 round
    trips, in a time growing about linearly from 1,000 (every tenth of the same queues)."""
    r = redis.Redis.from_url(redis_url)
    populate(r, 10_000)
    how = add_unrelated_keys(r, UNRELATED)
    assert r.dbsize() >= UNRELATED + 10_000
    r.close()
    medians, trips, commands, discovery_s = asyncio.run(measure_ten_thousand(redis_url))
    print(f"\n{UNRELATED:,} unrelated keys ({how}); discovery of 10,000 queues "
          f"{discovery_s:.1f} s")
    print("queues  poll (median)  round trips  | before the registry")
    for n in (1000, 10_000):
        print(f"{n:>6}  {medians[n, 'now'] * 1000:>10.1f} ms  {sorted(trips[n])!s:>11}"
              f"  | {medians[n, 'before'] * 1000:>16.1f} ms")
    growth = medians[10_000, "now"] / medians[1000, "now"]
    print(f"10,000 / 1,000: {growth:.1f}x (before the registry "
          f"{medians[10_000, 'before'] / medians[1000, 'before']:.1f}x); "
          f"{commands:,} commands per poll of 10,000")
    assert max(trips[10_000]) <= 2 and max(trips[1000]) <= 2
    assert commands <= 4 * 10_000  # a few commands per queue, whatever else the keyspace holds
    # Linear: ten times the queues, about ten times the time (a margin for a shared machine).
    assert growth <= 15


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

    monitor = monitor_at(url)
    await monitor.connect()
    await monitor.discover()
    refs = monitor.discovery.refs
    assert len(refs) == n
    baseline = BaselinePoller(monitor.client, Config().alerts, History())
    for poller in (monitor.poller, baseline):  # warm up: the second poll follows the first
        await poller.snapshot(refs)
        await poller.snapshot(refs)
    times: dict[str, list[float]] = {"now": [], "before": []}
    trips: dict[str, set[int]] = {"now": set(), "before": set()}
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
