"""The demo's data and live traffic, in a thread of its own beside the console."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import replace

import redis.asyncio as aioredis

from ferrite_tui.config import Config
from ferrite_tui.demo.layout import CLUSTER_NAMES
from ferrite_tui.demo.seeding import seed
from ferrite_tui.demo.workload import Workload

DEMO_NOTIFY = "Elz"  # key-events of lists and sorted sets


def demo_config(cfg: Config) -> Config:
    """The console's settings on the demo's own server: quick rescans, and exact in/out from
    the keyspace notifications that DemoTraffic switches on there."""
    return replace(cfg, discovery=replace(cfg.discovery, rescan_seconds=10.0),
                   exact_from_notifications=True)


class DemoTraffic:
    """Seeds the demo data, then runs the live workload in a thread of its own, so the
    console's event loop only ever sees the server as any client would."""

    def __init__(self, url: str, live: bool = True, cluster: bool = False) -> None:
        self.url = url
        self.live = live
        self.cluster = cluster
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="demo-workload", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            names = CLUSTER_NAMES if self.cluster else None
            client = (aioredis.RedisCluster if self.cluster else aioredis.Redis).from_url(self.url)
            try:
                if not self.cluster:
                    # The demo's own server publishes what exact in/out counts from (the
                    # console itself never changes a server's configuration).
                    with contextlib.suppress(Exception):
                        await client.config_set("notify-keyspace-events", DEMO_NOTIFY)
                await seed(client, names=names)
            finally:
                await client.aclose()
        except BaseException as exc:  # reported by start() in the main thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        if self.live:
            try:
                await Workload(self.url, cluster=self.cluster).run(self._stop)
            except Exception:
                pass  # the server going away at exit is expected

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
