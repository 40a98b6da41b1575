"""Regenerate the SVGs in screenshots/ from the demo's deterministic seed data.

    python -m ferrite_tui.demo.screenshots [OUTPUT_DIR]

Starts a private server, writes the demo seed (fixed random seed, so the same jobs every
time; ages follow the clock), runs the console headless at 120x36 and at 80x24 (the
operator's SSH terminal; files named *-80x24.svg) and saves one SVG per panel, plus the
help screen. No live traffic, so the pictures are stable.

Then, on a second server, the demo as `ferrite-tui demo` runs it (seed plus live traffic):
the Overview after the trends were rebuilt and a few dozen polls went by, at 120x36
(`overview-live.svg`, the README's first picture) and at 80x24 (`overview-80x24.svg`).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import redis.asyncio as aioredis

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.config import Config
from ferrite_tui.demo.seeding import seed
from ferrite_tui.demo.server import RedisServer
from ferrite_tui.demo.traffic import DemoTraffic, demo_config
from ferrite_tui.ui.app import FerriteApp
from ferrite_tui.ui.tabs import PANELS

SIZES = ((120, 36), (80, 24))  # the first one's files carry no size in their names
LIVE_SIZES = {"overview-live.svg": (120, 36), "overview-80x24.svg": (80, 24)}
LIVE_SECONDS = 40  # of traffic before the live pictures: rates settle, trends show a slope


async def capture_all(url: str, out: Path, state: Path) -> list[Path]:
    client = aioredis.Redis.from_url(url)
    await seed(client, now_ms=int(time.time() * 1000))
    await client.aclose()
    saved: list[Path] = []
    for i, size in enumerate(SIZES):
        saved += await capture(url, out, state, size, "" if i == 0 else f"-{size[0]}x{size[1]}")
    return saved


async def capture(url: str, out: Path, state: Path, size: tuple[int, int],
                  suffix: str) -> list[Path]:
    app = FerriteApp(Config(), ConnectionSettings(url=url, profile="demo"), refresh=0.5,
                     audit_path=state / "audit.log")
    saved: list[Path] = []
    async with app.run_test(size=size) as pilot:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            snap = app.monitor.snapshot if app.monitor else None
            if snap is not None and len(snap.queues) >= 7 and len(snap.channels) >= 0:
                break
            await asyncio.sleep(0.1)
        # A few polls so rates and sparklines have something to show.
        for _ in range(6):
            await asyncio.sleep(0.5)
        await pilot.pause()
        for index, (tab, key, _cls) in enumerate(PANELS, start=1):
            await pilot.press(key)
            await pilot.pause()
            await asyncio.sleep(0.6)  # panels that load items do so on activation
            if tab == "pubsub":
                await publish_events(url)  # the tail is up now: give it traffic to show
                await asyncio.sleep(1.2)
            await pilot.pause()
            path = out / f"{index}-{tab}{suffix}.svg"
            app.save_screenshot(filename=path.name, path=str(out))
            saved.append(path)
        await pilot.press("1")
        await pilot.press("question_mark")
        await pilot.pause()
        app.save_screenshot(filename=f"help{suffix}.svg", path=str(out))
        saved.append(out / f"help{suffix}.svg")
    return saved


async def publish_events(url: str) -> None:
    """A fixed burst of order events, as the demo's EventBus publishes them."""
    client = aioredis.Redis.from_url(url)
    try:
        for i in range(24):
            channel = ("orders.created", "orders.paid", "orders.cancelled")[i % 3]
            event = {"order_id": f"ORD-{10400 + i}", "user_id": f"user_{i % 7}",
                     "total": round(19.99 + i * 3.5, 2)}
            await client.publish(channel, json.dumps(event, separators=(",", ":")))
    finally:
        await client.aclose()


async def capture_live(url: str, out: Path, state: Path) -> list[Path]:
    """The Overview of the live demo, once per size, from one run of the traffic."""
    traffic = DemoTraffic(url, live=True)
    traffic.start()
    saved: list[Path] = []
    try:
        for name, size in LIVE_SIZES.items():
            app = FerriteApp(demo_config(Config()), ConnectionSettings(url=url, profile="demo"),
                             refresh=1.0, audit_path=state / "audit.log")
            async with app.run_test(size=size) as pilot:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    monitor = app.monitor
                    if monitor and monitor.backfill_report and monitor.snapshot \
                            and len(monitor.snapshot.queues) >= 7:
                        break
                    await asyncio.sleep(0.2)
                await asyncio.sleep(LIVE_SECONDS if not saved else 12)
                await pilot.pause()
                app.save_screenshot(filename=name, path=str(out))
                saved.append(out / name)
                app.workers.cancel_group(app, "poll")
                await pilot.pause()
    finally:
        traffic.stop()
    return saved


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0] if argv else "screenshots").resolve()
    out.mkdir(parents=True, exist_ok=True)
    with RedisServer() as server:
        assert server.dir is not None  # set once the server runs
        saved = asyncio.run(capture_all(server.url, out, Path(server.dir)))
    with RedisServer() as server:
        assert server.dir is not None
        saved += asyncio.run(capture_live(server.url, out, Path(server.dir)))
    for path in saved:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
