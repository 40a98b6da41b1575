"""The demo's data and live traffic, in a process of its own beside the console.

A process, not a thread: in the console's process the workload took a quarter of its CPU and
shared its interpreter lock, so on a busy machine the console's event loop also waited for
the producers (a dialog's key among what waited). Run as `python -m ferrite_tui.demo.traffic
URL [--cluster] [--seed-only]`: it seeds, says `ready` on stdout, then runs the workload until
SIGTERM (or its parent's death); a failure to seed is its one line instead."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import selectors
import signal
import subprocess
import sys
from dataclasses import replace

import redis.asyncio as aioredis

from ferrite_tui.config import Config
from ferrite_tui.demo.layout import CLUSTER_NAMES
from ferrite_tui.demo.seeding import seed
from ferrite_tui.demo.server import _pdeathsig_preexec
from ferrite_tui.demo.workload import Workload

DEMO_NOTIFY = "Elz"  # key-events of lists and sorted sets
READY = "ready"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 5.0


def demo_config(cfg: Config) -> Config:
    """The console's settings on the demo's own server: quick rescans, and exact in/out from
    the keyspace notifications that DemoTraffic switches on there."""
    return replace(cfg, discovery=replace(cfg.discovery, rescan_seconds=10.0),
                   exact_from_notifications=True)


class DemoTraffic:
    """Seeds the demo data, then runs the live workload in a process of its own, so the
    console's event loop only ever sees the server as any client would."""

    def __init__(self, url: str, live: bool = True, cluster: bool = False) -> None:
        self.url = url
        self.live = live
        self.cluster = cluster
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Returns once the data is seeded; raises RuntimeError with the reason if not."""
        argv = [sys.executable, "-m", "ferrite_tui.demo.traffic", self.url]
        argv += ["--cluster"] * self.cluster + ["--seed-only"] * (not self.live)
        self._process = process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            preexec_fn=_pdeathsig_preexec())  # (main thread only: checked there)
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            said = selector.select(READY_TIMEOUT_S) and process.stdout.readline()
        line = said.decode(errors="replace").strip() if said else ""
        if line == READY:
            return
        self.stop()
        raise RuntimeError(line or "the demo traffic did not start")

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


async def _run(url: str, cluster: bool, live: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    names = CLUSTER_NAMES if cluster else None
    client = (aioredis.RedisCluster if cluster else aioredis.Redis).from_url(url)
    try:
        if not cluster:
            # The demo's own server publishes what exact in/out counts from (the console
            # itself never changes a server's configuration).
            with contextlib.suppress(Exception):
                await client.config_set("notify-keyspace-events", DEMO_NOTIFY)
        await seed(client, names=names)
    finally:
        await client.aclose()
    print(READY, flush=True)
    if live:
        with contextlib.suppress(Exception):  # the server going away at exit is expected
            await Workload(url, cluster=cluster).run(stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ferrite_tui.demo.traffic")
    parser.add_argument("url")
    parser.add_argument("--cluster", action="store_true")
    parser.add_argument("--seed-only", action="store_true")
    args = parser.parse_args(argv)
    try:
        asyncio.run(_run(args.url, args.cluster, not args.seed_only))
    except Exception as exc:  # one line for the parent, which shows it
        print(f"{type(exc).__name__}: {exc}".replace("\n", " "), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
