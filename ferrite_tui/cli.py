"""Command line: the console, `demo`, `status` and `config init`.

Every failure the user can cause (bad config, unreachable server, wrong password, missing
server binary) ends in one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path

from ferrite_tui import __version__
from ferrite_tui import formatting as fmt
from ferrite_tui.backend.client import BackendError, ConnectionSettings
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.models import QueueStats, Snapshot
from ferrite_tui.config import Config, ConfigError, Profile, init_config, load

EXIT_FAIL = 2
COMMANDS = ("demo", "status", "config")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH", help="config file (default: platform config dir)")
    parser.add_argument("--profile", metavar="NAME", help="profile from the config")


def _console_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--read-only", action="store_true", help="refuse every change")
    parser.add_argument("--refresh", type=float, metavar="SECONDS", help="poll interval")
    parser.add_argument("--match", action="append", metavar="PATTERN",
                        help="SCAN MATCH pattern for discovery (repeatable; default '*')")


def build_parser(command: str | None) -> argparse.ArgumentParser:
    if command == "demo":
        p = argparse.ArgumentParser(prog="ferrite-tui demo",
                                    description="Run the console on a private demo server.")
        _common(p)
        _console_options(p)
        p.add_argument("--no-workload", action="store_true",
                       help="seed the data once, without live traffic")
        p.add_argument("--server", metavar="BINARY", help="server binary to run")
        return p
    if command == "status":
        p = argparse.ArgumentParser(prog="ferrite-tui status",
                                    description="One discovery and one poll, printed.")
        p.add_argument("url", nargs="?", help="redis://, rediss:// or unix:// URL")
        _common(p)
        p.add_argument("--json", action="store_true", help="print JSON")
        p.add_argument("--match", action="append", metavar="PATTERN")
        return p
    if command == "config":
        p = argparse.ArgumentParser(prog="ferrite-tui config")
        p.add_argument("action", choices=["init", "path"])
        p.add_argument("--config", metavar="PATH")
        return p
    p = argparse.ArgumentParser(
        prog="ferrite-tui",
        description="Terminal console for message queues on Ferrite and Redis.",
        epilog="Other commands: ferrite-tui demo | status [URL] [--json] | serve [URL] | config init",
    )
    p.add_argument("url", nargs="?", help="redis://, rediss:// or unix:// URL")
    _common(p)
    _console_options(p)
    p.add_argument("--version", action="version", version=f"ferrite-tui {__version__}")
    return p


def fail(message: str) -> int:
    print(f"ferrite-tui: {message}", file=sys.stderr)
    return EXIT_FAIL


def resolve_settings(cfg: Config, url: str | None, profile_name: str | None,
                     read_only: bool = False) -> ConnectionSettings | None:
    """Settings from URL and/or profile; None when neither is given (connect screen)."""
    profile = cfg.profile(profile_name)
    if profile_name and profile is None:
        where = cfg.path or "the config"
        raise ConfigError(f"{where}: no profile named '{profile_name}'")
    if url is None and profile is None:
        return None
    if profile is None:
        profile = Profile(name=profile_name or "default")
    return ConnectionSettings.from_profile(profile, url=url, read_only=read_only)


def split_command(argv: list[str]) -> tuple[str | None, list[str]]:
    """The subcommand wherever it stands among the options, and the other arguments.

    `ferrite-tui --config X status URL` and `ferrite-tui status URL --config X` mean the
    same: the first word that is neither an option nor an option's value names the command
    when it is one (anything else is the console's URL)."""
    takes_value = {
        opt for name in (None, *COMMANDS) for action in build_parser(name)._actions
        if action.option_strings and action.nargs != 0 for opt in action.option_strings
    }
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            break
        if arg.startswith("-"):
            i += 2 if arg in takes_value else 1
            continue
        if arg in (*COMMANDS, "serve"):
            return arg, argv[:i] + argv[i + 1:]
        break
    return None, argv


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command, rest = split_command(argv)
    if command == "serve":  # its own parser and module (aiohttp, textual-serve)
        from ferrite_tui.serve import main as serve_main

        return serve_main(rest)
    args = build_parser(command).parse_args(rest)
    try:
        if command == "config":
            return config_command(args)
        cfg = load(args.config)
        if command == "status":
            return status_command(cfg, args)
        if command == "demo":
            return demo_command(cfg, args)
        settings = resolve_settings(cfg, args.url, args.profile, args.read_only)
    except (ConfigError, BackendError) as exc:
        return fail(str(exc))
    return run_console(cfg, settings, args)


def run_console(cfg: Config, settings: ConnectionSettings | None, args) -> int:
    from ferrite_tui.ui.app import FerriteApp

    app = FerriteApp(cfg, settings, refresh=args.refresh,
                     match=tuple(args.match) if args.match else None)
    previous = signal.getsignal(signal.SIGTERM)
    # SIGTERM leaves through the normal exit path, so the terminal and any demo server are
    # restored and cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: app.exit())
    try:
        app.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    return app.return_code or 0


# -- config ------------------------------------------------------------------------------

def config_command(args) -> int:
    from ferrite_tui.config import default_config_path

    path = Path(args.config) if args.config else default_config_path()
    if args.action == "path":
        print(path)
        return 0
    init_config(path)
    print(f"wrote {path}")
    return 0


# -- status ------------------------------------------------------------------------------

def status_command(cfg: Config, args) -> int:
    settings = resolve_settings(cfg, args.url, args.profile)
    if settings is None:
        settings = ConnectionSettings.from_profile(Profile())
    try:
        snap, caps = asyncio.run(_one_poll(cfg, settings, tuple(args.match or ()) or None))
    except BackendError as exc:
        return fail(str(exc))
    if args.json:
        print(json.dumps(status_json(snap, caps, settings), indent=2, ensure_ascii=False))
    else:
        print(status_table(snap, caps, settings))
    return 0


async def _one_poll(cfg: Config, settings: ConnectionSettings, match):
    from ferrite_tui.backend.client import describe_error
    from ferrite_tui.backend.monitor import Monitor

    monitor = Monitor(settings, cfg, match=match)
    try:
        await monitor.connect()
        await monitor.discover()
        snap = await monitor.poll()
        return snap, monitor.capabilities
    except BackendError:
        raise
    except Exception as exc:
        raise BackendError(describe_error(exc, settings)) from exc
    finally:
        await monitor.aclose()


def queue_json(q: QueueStats) -> dict:
    ref = q.ref
    out: dict = {
        "kind": ref.kind.value,
        "key": ref.key,
        "keys": {k: v for k, v in (("main", ref.key), ("processing", ref.processing_key),
                                   ("ready", ref.ready_key), ("target", ref.target_key))
                 if v is not None},
        "depth": q.depth,
        "oldest_ms": q.oldest_ms,
        "alerts": list(q.alerts),
        "error": q.error,
    }
    if q.processing is not None:
        out["processing"] = q.processing
    if q.ready is not None:
        out["ready"] = q.ready
    if q.overdue is not None:
        out["overdue"] = q.overdue
    if ref.kind.value == "stream":
        out["pending"] = q.pending
        out["last_id"] = q.last_id
        out["groups"] = [
            {"name": g.name, "consumers": g.consumers, "pending": g.pending,
             "last_delivered_id": g.last_delivered_id, "lag": g.lag,
             "entries_read": g.entries_read}
            for g in q.groups
        ]
    return out


def status_json(snap: Snapshot, caps, settings: ConnectionSettings) -> dict:
    return {
        "server": {"url": settings.display_url, "kind": caps.server_kind,
                   "version": caps.version,
                   "capabilities": {name: ok for name, ok in caps.as_rows()}},
        "queues": [queue_json(q) for q in snap.queues],
        "channels": [{"name": c.name, "subscribers": c.subscribers} for c in snap.channels],
        "round_trips": snap.round_trips,
    }


def status_table(snap: Snapshot, caps, settings: ConnectionSettings) -> str:
    from ferrite_tui.ui.panels.overview import secondary

    lines = [f"{settings.display_url}  {caps.server_kind} {caps.version}  "
             f"{len(snap.queues)} queues"]
    rows = [("KIND", "KEY", "DEPTH", "OLDEST", "DETAIL", "ALERTS")]
    for q in sorted(snap.queues, key=lambda q: (-q.severity, -q.depth, q.ref.key)):
        rows.append((q.ref.kind.label, printable(q.ref.key, 48), fmt.count(q.depth),
                     fmt.duration(q.oldest_ms), secondary(q),
                     printable(q.error, 60) if q.error else ", ".join(q.alerts) or "ok"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return "\n".join(lines)


# -- demo --------------------------------------------------------------------------------

def demo_command(cfg: Config, args) -> int:
    from ferrite_tui.demo.server import RedisServer, ServerNotFound, find_server_binary

    binary = find_server_binary(args.server)
    if binary is None:
        return fail(str(ServerNotFound()))
    server = RedisServer(binary)
    try:
        try:
            server.start()
        except (RuntimeError, OSError) as exc:
            return fail(f"demo server did not start: {str(exc).splitlines()[0]}")
        traffic = DemoTraffic(server.url, live=not args.no_workload)
        try:
            traffic.start()
        except Exception as exc:
            return fail(f"demo data could not be written: {exc}")
        cfg = replace(cfg, discovery=replace(cfg.discovery, rescan_seconds=10.0))
        settings = ConnectionSettings(url=server.url, read_only=args.read_only, profile="demo")
        try:
            return run_console(cfg, settings, args)
        finally:
            traffic.stop()
    finally:
        server.stop()


class DemoTraffic:
    """Seeds the demo data, then runs the live workload in a thread of its own, so the
    console's event loop only ever sees the server as any client would."""

    def __init__(self, url: str, live: bool = True) -> None:
        self.url = url
        self.live = live
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
        import redis.asyncio as aioredis

        from ferrite_tui.demo.workload import Workload, seed

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            client = aioredis.Redis.from_url(self.url)
            try:
                await seed(client)
            finally:
                await client.aclose()
        except BaseException as exc:  # reported by start() in the main thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        if self.live:
            try:
                await Workload(self.url).run(self._stop)
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


if __name__ == "__main__":
    raise SystemExit(main())
