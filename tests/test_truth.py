"""The poll's figures against a workload whose rates are known (tests/truth.py).

Every in/out figure within 15% of the known rate after warm-up, ages within a poll interval,
alerts on while their condition holds and off after, and `status --json --over` agreeing.
Rates are averages over measured elapsed time, so a busy machine slows the workload's moves
without changing what the figures must say; every wait has a generous deadline.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import pytest

import truth
from ferrite_tui import formatting as fmt
from ferrite_tui.backend.models import Snapshot
from ferrite_tui.backend.monitor import Monitor
from ferrite_tui.backend.poll import NOTE_DUE, RATE_SPAN_S
from ferrite_tui.config import AlertConfig, Config
from helpers import async_wait_until, monitor_at, skip_as_the_server_lacks

INTERVAL = 0.5
ALERTS = AlertConfig(oldest_age_seconds=3, stream_dead_consumer_seconds=3,
                     processing_stale_seconds=60, depth=100_000)
TOLERANCE = 0.15


def close(figure: float | None, rate: float) -> bool:
    if figure is None:
        return False
    if rate == 0:
        return abs(figure) <= 0.3
    return abs(figure - rate) <= TOLERANCE * rate


def by_key(snap):
    return {q.ref.key: q for q in snap.queues}


def rate_errors(snap) -> list[str]:
    """Every figure that is not within tolerance, worded for the failure message."""
    queues = by_key(snap)
    wrong = []
    for key, (rate_in, rate_out) in truth.RATES.items():
        q = queues.get(key)
        if q is None:
            wrong.append(f"{key}: not polled")
            continue
        if not close(q.in_rate, rate_in) or not close(q.out_rate, rate_out):
            wrong.append(f"{key}: in {q.in_rate} (want {rate_in}), "
                         f"out {q.out_rate} (want {rate_out}) [{q.rate_note}]")
    return wrong


class Poller:
    """Polls every INTERVAL in the background, keeping the latest snapshot."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self.snap: Snapshot | None = None
        self.polls = 0
        self.stopping = False
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while not self.stopping:
            self.snap = await self.monitor.poll()
            self.polls += 1
            await asyncio.sleep(INTERVAL)

    async def fresh(self):
        """The first snapshot taken after now."""
        polls = self.polls
        await async_wait_until(lambda: self.polls > polls + 1, timeout=30)
        return self.snap

    async def stop(self) -> None:
        self.stopping = True
        await asyncio.gather(self.task, return_exceptions=True)


@pytest.fixture
async def running(redis_url):
    work = truth.TruthWorkload(redis_url)
    await work.seed()
    monitor = monitor_at(redis_url, Config(alerts=ALERTS))
    await monitor.connect()
    await monitor.discover()
    work.start()
    poller = Poller(monitor)
    try:
        yield work, monitor, poller
    finally:
        await poller.stop()
        await work.stop()
        await monitor.aclose()


async def oldest_age_ms(r, key: str) -> int:
    """The age of the list's oldest item, read whole by the test (its own small list)."""
    times = [json.loads(v)["enqueued_at"] for v in await r.lrange(key, 0, -1)]
    return int(time.time() * 1000) - min(times)


@pytest.mark.scenario
async def test_every_figure_matches_the_known_workload(running, redis_url, tmp_path):
    work, monitor, poller = running
    if not monitor.capabilities.lpos:
        skip_as_the_server_lacks(redis_url, "lpos", "no LPOS: list figures are marked unknown")
    started = time.monotonic()
    # Warm-up, then a full rate span: every figure within 15% (retried while the machine
    # catches up, with a generous deadline).
    await async_wait_until(lambda: time.monotonic() - started > RATE_SPAN_S + 2, timeout=60)
    await async_wait_until(lambda: poller.snap is not None and not rate_errors(poller.snap),
                           timeout=90, interval=0.5,
                           message=f"rates never matched: {rate_errors(poller.snap)}")
    snap = poller.snap
    queues = by_key(snap)
    for key, (rate_in, rate_out) in truth.RATES.items():
        q = queues[key]
        print(f"{key:24} in {fmt.flow(q.in_rate, q.in_lower):>7} (truth {rate_in:g})  "
              f"out {fmt.flow(q.out_rate, q.out_lower):>7} (truth {rate_out:g})")
    # Exact where the data allows it: FIFO lists in both directions, the DLQ, streams.
    for key in (truth.FIFO, truth.LEFT, truth.MAIN, truth.DLQ, truth.SCHEDULED):
        assert not queues[key].in_lower, (key, queues[key].rate_note)
    assert (queues[truth.FIFO].producer_end, queues[truth.FIFO].consumer_end) == ("tail", "head")
    assert (queues[truth.LEFT].producer_end, queues[truth.LEFT].consumer_end) == ("head", "tail")
    # A delayed set whose ready list is emptied at once: counted from due times, a lower
    # bound (jobs due within a poll could pass unseen) that is still within 15%.
    later = queues[truth.LATER]
    assert later.in_lower and later.out_lower and later.rate_note == NOTE_DUE, later
    # The reliable queue is a stack (RPUSH + BRPOPLPUSH): counted from the processing list,
    # and said to be a lower bound.
    assert queues[truth.RELIABLE].in_lower and queues[truth.RELIABLE].rate_note

    # Ages: the oldest item, whichever end it is at, within one poll interval.
    for key in (truth.FIFO, truth.LEFT):
        snap = await poller.fresh()
        expected = await oldest_age_ms(work.r, key)
        got = by_key(snap)[key].oldest_ms
        assert got is not None and abs(got - expected) <= INTERVAL * 1000 + 500, (key, got,
                                                                                  expected)

    # Alerts on while the condition holds...
    await async_wait_until(lambda: "1 stale processing" in by_key(poller.snap)[
        truth.RELIABLE].alerts, timeout=30, message="stale job not alerted")
    await async_wait_until(lambda: "1 dead consumer" in by_key(poller.snap)[truth.STREAM].alerts,
                           timeout=30, message="dead consumer not alerted")
    stream = by_key(poller.snap)[truth.STREAM]
    (group,) = stream.groups
    assert group.dead_consumers == (truth.DEAD_CONSUMER,)
    assert group.idle_count == truth.DEAD_HELD and stream.idle_pending == truth.DEAD_HELD
    assert stream.oldest_ms is not None and stream.oldest_ms >= 3000

    # `status --json --over` measures the same figures over its own window.
    config = tmp_path / "config.toml"
    config.write_text("[alerts]\noldest_age_seconds = 3\nstream_dead_consumer_seconds = 3\n"
                      "processing_stale_seconds = 60\ndepth = 100000\n")
    # Like the poll's figures above, retried while a busy machine slows the workload: a
    # window of 6 s holds few moves of the slower queues, so one late move can decide it.
    for _attempt in range(3):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ferrite_tui", "status", redis_url, "--json", "--over", "6s",
            "--config", str(config), stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0, err.decode()
        status = {q["key"]: q for q in json.loads(out)["queues"]}
        wrong = [(key, status[key]) for key, (rate_in, rate_out) in truth.RATES.items()
                 if not (close(status[key]["in_rate"], rate_in)
                         and close(status[key]["out_rate"], rate_out))]
        if not wrong:
            break
    assert not wrong, wrong
    assert status[truth.RELIABLE]["stale"] == 1
    assert "1 dead consumer" in status[truth.STREAM]["alerts"]
    assert status[truth.STREAM]["oldest_ms"] >= 3000

    # ... and off once it no longer holds, whatever single item changed first.
    held = [e["message_id"] for e in await work.r.xpending_range(
        truth.STREAM, truth.GROUP, "-", "+", 100, truth.DEAD_CONSUMER)]
    await work.r.xack(truth.STREAM, truth.GROUP, held[0])  # one of five: still alerting
    snap = await poller.fresh()
    assert "1 dead consumer" in by_key(snap)[truth.STREAM].alerts
    await work.r.xack(truth.STREAM, truth.GROUP, *held[1:])
    await work.r.lrem(truth.PROCESSING, 1, work.stale)
    await async_wait_until(lambda: not any(
        "dead" in a or "idle" in a for a in by_key(poller.snap)[truth.STREAM].alerts),
        timeout=30, message="stream alert stayed on")
    await async_wait_until(lambda: by_key(poller.snap)[truth.RELIABLE].stale == 0
                           and not by_key(poller.snap)[truth.RELIABLE].alerts,
                           timeout=30, message="stale alert stayed on")


@pytest.mark.scenario  # a known workload over a full rate span: 14 s
async def test_without_lpos_fifo_lists_are_counted_from_item_times(redis_url):
    """A server without LPOS: arrivals are the items newer than the last poll's newest at
    the producers' end, exact where the far end's item moved (consumers take from there)
    while an item seen before is still in the list."""
    import dataclasses

    work = truth.TruthWorkload(redis_url)
    await work.seed()
    monitor = monitor_at(redis_url, Config(alerts=ALERTS))
    await monitor.connect()
    monitor.client.capabilities = dataclasses.replace(monitor.client.capabilities, lpos=False)
    await monitor.discover()
    work.start()
    poller = Poller(monitor)
    fifo = {key: truth.RATES[key] for key in (truth.FIFO, truth.LEFT, truth.MAIN)}

    def wrong(snap) -> list[str]:
        queues = by_key(snap)
        return [f"{k}: {queues[k].in_rate}/{queues[k].out_rate} {queues[k].rate_note}"
                for k, (rin, rout) in fifo.items()
                if not close(queues[k].in_rate, rin) or not close(queues[k].out_rate, rout)
                or queues[k].in_lower or queues[k].out_lower]

    try:
        started = time.monotonic()
        await async_wait_until(lambda: time.monotonic() - started > RATE_SPAN_S + 2,
                               timeout=60)
        await async_wait_until(lambda: poller.snap is not None and not wrong(poller.snap),
                               timeout=90, interval=0.5,
                               message=f"never exact: {wrong(poller.snap)}")
        queues = by_key(poller.snap)
        assert queues[truth.LEFT].producer_end == "head"
        # The DLQ is never popped: nothing shows which end consumers would take from.
        dlq = queues[truth.DLQ]
        assert close(dlq.in_rate, truth.RATES[truth.DLQ][0]) and dlq.in_lower, dlq
    finally:
        await poller.stop()
        await work.stop()
        await monitor.aclose()
