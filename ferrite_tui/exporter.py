"""`ferrite-tui exporter`: the console's figures for Prometheus.

One Monitor (the console's own connect, discovery and poll) polls in the background every
refresh interval; a scrape only renders the last snapshot, so however many scrapers there
are, the server sees one poll per interval. The figures are the snapshot's, the same ones
the console and `status --json` show: a figure the console does not know (None) is left
out, never written as 0. Server text in label values passes through `printable`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector, CollectorRegistry

from ferrite_tui import __version__
from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.backend.errors import BackendError
from ferrite_tui.backend.models import (
    AlertNote,
    Capabilities,
    ConnectionState,
    DiscoveryProgress,
    Snapshot,
)
from ferrite_tui.backend.monitor import Listener, Monitor
from ferrite_tui.commandline import (
    _common,
    _notifications_option,
    _password_option,
    _refresh,
    resolve_settings,
    with_command_line,
)
from ferrite_tui.config import Config, ConfigError, load
from ferrite_tui.escaping import printable
from ferrite_tui.metrics import METRICS, alert_samples, label, queue_samples
from ferrite_tui.presentation import origin_lines

log = logging.getLogger("ferrite_tui.exporter")

DEFAULT_LISTEN = "127.0.0.1:9808"
DEFAULT_MAX_SERIES = 20_000
EXIT_FAIL = 2


@dataclass
class PollState:
    """What the poller learned, read by every scrape (one event loop: no locks needed)."""

    snapshot: Snapshot | None = None
    state: ConnectionState | None = None
    polls: int = 0
    errors: int = 0  # polls that failed
    connect_errors: int = 0
    in_poll: bool = False
    # Local clocks (the snapshot's times are the server's): when the last snapshot came,
    # and which poll it was; which poll had started when the last discovery pass ended.
    received_at: float | None = None  # time.time()
    received_mono: float | None = None  # time.monotonic(), for staleness
    snapshot_poll: int = 0
    discovery_poll: int | None = None
    cutting: bool = False  # the last scrape hit --max-series (logged once per start)


class CountingMonitor(Monitor):
    """The console's Monitor, counting every poll and every failed one."""

    def __init__(self, *args, poll_state: PollState, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.poll_state = poll_state
        connect = self.client.connect

        async def counted_connect() -> Capabilities:
            # The loop's connects and reconnects: refusals count as errors too.
            try:
                return await connect()
            except BackendError:
                poll_state.connect_errors += 1
                raise

        self.client.connect = counted_connect  # type: ignore[method-assign]

    async def _snapshot(self) -> Snapshot:
        self.poll_state.polls += 1
        self.poll_state.in_poll = True
        try:
            return await super()._snapshot()
        except Exception:
            self.poll_state.errors += 1
            raise
        finally:
            self.poll_state.in_poll = False


class SnapshotCollector(Collector):
    """Metric families from the last snapshot; collecting never touches the server."""

    def __init__(self, exporter: Exporter) -> None:
        self.exporter = exporter

    def collect(self) -> Iterable[Metric]:
        return self.exporter.families()


class Exporter:
    def __init__(self, settings: ConnectionSettings, config: Config, *,
                 refresh: float | None = None, match: tuple[str, ...] | None = None,
                 max_series: int = DEFAULT_MAX_SERIES) -> None:
        # Read-only whatever the profile says: the exporter only ever reads.
        self.settings = replace(settings, read_only=True)
        self.config = config
        self.match = match  # the command line's --match (None: the config's)
        self.max_series = max_series
        self.state = PollState()
        self.monitor = CountingMonitor(self.settings, config, match=match, refresh=refresh,
                                       poll_state=self.state)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(SnapshotCollector(self))
        self._task: asyncio.Task | None = None
        self._runner: web.AppRunner | None = None
        self.address: tuple[str, int] | None = None
        self._rendered: dict[str, tuple[tuple, bytes]] = {}
        self._render_lock = asyncio.Lock()
        # A poll older than this is stale: unhealthy, and its figures are not served.
        self.stale_after = max(3 * self.monitor.refresh, 10.0)

    # -- the poller ---------------------------------------------------------------------

    def start_polling(self) -> None:
        listener = Listener(on_snapshot=self._on_snapshot, on_state=self._on_state,
                            on_discovery=self._on_discovery)
        self._task = asyncio.create_task(self.monitor.run(listener))

    def _on_snapshot(self, snap: Snapshot) -> None:
        st = self.state
        st.snapshot = snap
        st.received_at, st.received_mono = time.time(), time.monotonic()
        st.snapshot_poll = st.polls  # polls never overlap: this is the last one started

    def settled(self) -> bool:
        """A snapshot taken after the last discovery pass ended, no poll running and none
        woken to run at once (tests and benchmarks wait for this)."""
        st = self.state
        return (st.discovery_poll is not None and st.snapshot_poll > st.discovery_poll
                and not st.in_poll and not self.monitor._wake.is_set())

    def _on_discovery(self, progress: DiscoveryProgress) -> None:
        if progress.done:
            self.state.discovery_poll = self.state.polls
            if progress.error:
                log.warning("discovery: %s", printable(progress.error, 300))

    def _on_state(self, state: ConnectionState) -> None:
        if state.error and (self.state.state is None or self.state.state.error != state.error):
            log.warning("%s: %s", state.status, printable(state.error, 300))
        self.state.state = state

    def up(self) -> tuple[bool, str]:
        """(healthy, why): a poll succeeded within `stale_after` seconds (three refresh
        intervals, at least 10 s)."""
        state, received = self.state.state, self.state.received_mono
        if received is None:
            why = state.error if state is not None and state.error else "no poll yet"
            return False, printable(why, 300)
        age = time.monotonic() - received
        if age > self.stale_after:
            why = state.error if state is not None and state.error else "polls stopped"
            return False, printable(f"last poll {age:.0f} s ago: {why}", 300)
        return True, "ok"

    # -- the metrics --------------------------------------------------------------------

    def families(self) -> Iterator[Metric]:
        fams: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
        for name, (type_, doc, labels) in METRICS.items():
            cls = CounterMetricFamily if type_ == "counter" else GaugeMetricFamily
            fams[name] = cls(name, doc, labels=labels)
        st = self.state
        fams["ferrite_exporter_build_info"].add_metric([__version__], 1)
        up = self.up()[0]
        fams["ferrite_up"].add_metric([], 1 if up else 0)
        fams["ferrite_polls"].add_metric([], st.polls)
        fams["ferrite_poll_errors"].add_metric([], st.errors)
        fams["ferrite_connect_errors"].add_metric([], st.connect_errors)
        fams["ferrite_exporter_series_limit"].add_metric([], self.max_series)
        caps = self.monitor.capabilities
        if caps is not None and caps.version:
            fams["ferrite_server_info"].add_metric(
                [caps.server_kind, label(caps.version)], 1)
        snap = st.snapshot
        dropped_series = dropped_queues = 0
        if st.received_at is not None:
            # Always: when the figures below were true.
            fams["ferrite_last_poll_timestamp_seconds"].add_metric([], st.received_at)
        if snap is not None and up:  # a stale poll's figures would pass for current ones
            fams["ferrite_poll_duration_seconds"].add_metric([], snap.poll_ms / 1000)
            fams["ferrite_poll_round_trips"].add_metric([], snap.round_trips)
            if snap.clock_offset_ms is not None:
                fams["ferrite_server_clock_offset_seconds"].add_metric(
                    [], snap.clock_offset_ms / 1000)
            fams["ferrite_queues"].add_metric([], len(snap.queues))
            fams["ferrite_queues_left_out"].add_metric([], snap.left_out)
            for category, n in snap.totals().items():
                fams["ferrite_items"].add_metric([category], n)
            dropped_series, dropped_queues = self._queue_series(snap, fams)
        fams["ferrite_exporter_series_dropped"].add_metric([], dropped_series)
        fams["ferrite_exporter_queues_dropped"].add_metric([], dropped_queues)
        if dropped_series and not st.cutting:
            log.warning("--max-series %d reached: %d series of %d queues left out (see "
                        "ferrite_exporter_series_dropped)", self.max_series, dropped_series,
                        dropped_queues)
        st.cutting = bool(dropped_series)
        return iter(fams.values())

    def _queue_series(self, snap: Snapshot, fams: dict) -> tuple[int, int]:
        """Add every queue's and alert's series within the limit, alerting and deepest
        queues first; returns the series and queues left out."""
        notes: dict[str, list[AlertNote]] = {}
        for note in snap.alert_notes:
            notes.setdefault(note.ident, []).append(note)
        budget = self.max_series
        seen: set[tuple[str, tuple[str, ...]]] = set()
        dropped_series = dropped_queues = 0
        cluster = snap.cluster
        for q in sorted(snap.queues, key=lambda q: (-q.severity, -q.depth, q.ref.key)):
            node = "" if cluster is None else label(cluster.node_of(q.ref.key) or "?")
            samples = queue_samples(q, node)
            for note in notes.get(q.ref.ident, ()):
                samples += alert_samples(note, q.ref.kind.value)
            # Label values made printable can meet (a key and its escaped spelling): the
            # first one stands, so no series is ever written twice.
            unique: dict[tuple[str, tuple[str, ...]], float] = {}
            for name, labels, value in samples:
                if (name, labels) not in seen:
                    unique.setdefault((name, labels), value)
            if len(unique) > budget:
                dropped_series += len(unique)
                dropped_queues += 1
                continue
            budget -= len(unique)
            for (family, labels), value in unique.items():
                seen.add((family, labels))
                fams[family].add_metric(list(labels), value)
        return dropped_series, dropped_queues

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """The body for one scrape: rendered once per poll and format, since thousands of
        queues take a while to render and every scrape until the next poll is the same."""
        encoder, content_type = choose_encoder(accept or "")
        st = self.state
        key = (st.snapshot_poll, st.polls, st.errors, st.connect_errors, self.up()[0],
               content_type)
        cached = self._rendered.get(content_type)
        if cached is None or cached[0] != key:
            cached = self._rendered[content_type] = (key, encoder(self.registry))
        return cached[1], content_type

    # -- HTTP ---------------------------------------------------------------------------

    async def _metrics(self, request: web.Request) -> web.Response:
        # Rendered in a thread, so a large render never holds up the poller; one at a time,
        # so the scrapes that wait for it reuse its result.
        async with self._render_lock:
            body, content_type = await asyncio.to_thread(self.render,
                                                         request.headers.get("Accept"))
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def _healthz(self, request: web.Request) -> web.Response:
        ok, why = self.up()
        return web.Response(status=200 if ok else 503, text=why + "\n")

    async def _index(self, request: web.Request) -> web.Response:
        return web.Response(text="ferrite-tui exporter: /metrics, /healthz\n")

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Start polling and serving; returns the address bound (port 0: a free one)."""
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/", self._index)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]  # the port the system chose for port 0
        self.address = (str(bound[0]), int(bound[1]))
        self.start_polling()
        return self.address

    async def aclose(self) -> None:
        self.monitor.stop()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        await self.monitor.aclose()


# -- command line --------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    # The console's own options, with their checks (--refresh in range, as the config's).

    p = argparse.ArgumentParser(
        prog="ferrite-tui exporter",
        description="Serve the console's figures as Prometheus metrics (/metrics, /healthz). "
                    "Read-only: it sends read commands only.",
    )
    p.add_argument("url", nargs="?", help="redis://, rediss:// or unix:// URL")
    _common(p)
    p.add_argument("--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT", type=_listen,
                   help=f"address to serve on (default {DEFAULT_LISTEN}; port 0: a free one)")
    p.add_argument("--refresh", type=_refresh, metavar="SECONDS",
                   help="poll interval (default: the config's refresh)")
    p.add_argument("--match", action="append", metavar="PATTERN",
                   help="SCAN MATCH pattern for discovery (repeatable; default '*')")
    p.add_argument("--max-series", type=_max_series, default=DEFAULT_MAX_SERIES, metavar="N",
                   help=f"most per-queue series in one scrape (default {DEFAULT_MAX_SERIES})")
    _password_option(p)
    _notifications_option(p)
    return p


def _max_series(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT such as {DEFAULT_LISTEN}, "
                                         f"not {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def fail(message: str) -> int:
    print(f"ferrite-tui exporter: {printable(message)}", file=sys.stderr)
    return EXIT_FAIL


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="ferrite-tui exporter: %(message)s")
    try:
        cfg = with_command_line(load(args.config), args, "exporter").noted(
            "exporter (it only reads)", "read_only")
        settings = resolve_settings(cfg, args.url, args.profile, read_only=True,
                                    askpass=args.askpass)
    except (ConfigError, BackendError) as exc:
        return fail(str(exc))
    if settings is None:
        return fail("no server to poll: give a URL or --profile")
    exporter = Exporter(settings, cfg, refresh=args.refresh,
                        match=tuple(args.match) if args.match else None,
                        max_series=args.max_series)
    try:
        return asyncio.run(_serve(exporter, *args.listen))
    except OSError as exc:
        return fail(f"cannot listen on {args.listen[0]}:{args.listen[1]}: "
                    f"{exc.strerror or exc}")


async def _serve(exporter: Exporter, host: str, port: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        bound_host, bound_port = await exporter.start(host, port)
        where = f"[{bound_host}]" if ":" in bound_host else bound_host
        print(f"ferrite-tui exporter: polling {exporter.settings.display_url}, serving "
              f"http://{where}:{bound_port}/metrics", flush=True)
        # Which server and profile, and why (as the console's Server panel says it).
        for name, line in origin_lines(exporter.config, exporter.settings, exporter.match):
            print(f"  {name}: {printable(line, 200)}", flush=True)
        await stop.wait()
    finally:
        await exporter.aclose()
    return 0
