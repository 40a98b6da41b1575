"""The server killed and restarted, and stalled (SIGSTOP / SIGCONT), under the console's
poll loop: it reports the trouble and recovers by itself."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import redis
from faultkit import dead, figure

from ferrite_tui.backend.monitor import Listener, Monitor
from helpers import async_wait_until, monitor_at


class Watch:
    """What the poll loop reported: snapshots and connection states, with times."""

    def __init__(self) -> None:
        self.snapshots: list[float] = []
        self.states: list[tuple[float, str]] = []
        self.listener = Listener(on_snapshot=lambda s: self.snapshots.append(time.monotonic()),
                                 on_state=lambda s: self.states.append((time.monotonic(),
                                                                        s.status)))

    def snapshots_after(self, t: float) -> int:
        return sum(1 for s in self.snapshots if s > t)

    def left_live_after(self, t: float) -> bool:
        return any(when > t and status != "live" for when, status in self.states)


async def run_monitor(url: str, watch: Watch) -> tuple[Monitor, asyncio.Task]:
    monitor = monitor_at(url, refresh=0.1, command_timeout=1.0, connect_timeout=1.0)
    task = asyncio.create_task(monitor.run(watch.listener))
    await async_wait_until(lambda: watch.snapshots, timeout=30)
    return monitor, task


async def stop(monitor: Monitor, task: asyncio.Task) -> None:
    monitor.stop()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await monitor.aclose()


async def test_server_killed_and_restarted(fresh_server):
    r = redis.Redis.from_url(fresh_server.url)
    r.rpush("queue:main:dlq", *[dead(i) for i in range(10)])
    r.close()
    watch = Watch()
    monitor, task = await run_monitor(fresh_server.url, watch)
    try:
        killed = time.monotonic()
        fresh_server.kill()
        await async_wait_until(lambda: watch.left_live_after(killed), timeout=30,
                               message="the loop never noticed the server was gone")
        noticed = next(w for w, s in watch.states if w > killed and s != "live") - killed
        restarted = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(None, fresh_server.start)
        up = time.monotonic()
        await async_wait_until(lambda: watch.snapshots_after(up), timeout=60,
                               message="no snapshot after the restart")
        recovery = next(s for s in watch.snapshots if s > up) - up
        figure(f"server killed: noticed after {noticed * 1000:.0f} ms; restart took "
               f"{(up - restarted) * 1000:.0f} ms; first snapshot {recovery * 1000:.0f} ms "
               "after the server was back")
        assert monitor.state.status == "live"
    finally:
        await stop(monitor, task)


async def test_server_stalled_with_sigstop(fresh_server):
    watch = Watch()
    monitor, task = await run_monitor(fresh_server.url, watch)
    pid = fresh_server.pid
    try:
        stalled = time.monotonic()
        os.kill(pid, signal.SIGSTOP)
        try:
            await async_wait_until(lambda: watch.left_live_after(stalled), timeout=30,
                                   message="a stalled server was never reported")
            noticed = next(w for w, s in watch.states if w > stalled and s != "live") - stalled
        finally:
            os.kill(pid, signal.SIGCONT)
        resumed = time.monotonic()
        await async_wait_until(lambda: watch.snapshots_after(resumed), timeout=60,
                               message="no snapshot after SIGCONT")
        recovery = next(s for s in watch.snapshots if s > resumed) - resumed
        figure(f"server stalled (SIGSTOP): reported after {noticed * 1000:.0f} ms (command "
               f"timeout 1 s); first snapshot {recovery * 1000:.0f} ms after SIGCONT")
    finally:
        await stop(monitor, task)
