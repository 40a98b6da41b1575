"""Command line: the console, `demo`, `status` and `config init`.

Every failure the user can cause (bad config, unreachable server, wrong password, missing
server binary) ends in one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ferrite_tui import __version__
from ferrite_tui import formatting as fmt
from ferrite_tui.backend.client import BackendError, ConnectionSettings, url_problem
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.libraries.model import State, state_totals
from ferrite_tui.backend.models import AlertNote, ClusterView, QueueStats, Snapshot
from ferrite_tui.backend.servertime import SHOWN_OFFSET_MS, offset_text
from ferrite_tui.config import Config, ConfigError, Profile, init_config, load, range_error
from ferrite_tui.escaping import json_safe

if TYPE_CHECKING:
    from ferrite_tui.backend.crossslot import InFlight

EXIT_FAIL = 2
COMMANDS = ("demo", "status", "config", "exporter")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH",
                        help="config file (default: platform config dir)")
    parser.add_argument("--profile", metavar="NAME", help="profile from the config")


def _password_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--askpass", action="store_true",
                        help="ask for the password (kept out of the command line)")


def _console_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--read-only", action="store_true", help="refuse every change")
    parser.add_argument("--refresh", type=_refresh, metavar="SECONDS", help="poll interval")
    parser.add_argument("--match", action="append", metavar="PATTERN",
                        help="SCAN MATCH pattern for discovery (repeatable; default '*')")
    _notifications_option(parser)


def _notifications_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--notifications", action="store_true",
                        help="exact list / sorted-set in/out from keyspace notifications, "
                             "where the server already publishes them (notify-keyspace-"
                             "events with E or K and l, z)")


def build_parser(command: str | None) -> argparse.ArgumentParser:
    if command == "demo":
        p = argparse.ArgumentParser(prog="ferrite-tui demo",
                                    description="Run the console on a private demo server.")
        _common(p)
        _console_options(p)
        p.add_argument("--no-workload", action="store_true",
                       help="seed the data once, without live traffic")
        p.add_argument("--server", metavar="BINARY", help="server binary to run")
        p.add_argument("--cluster", action="store_true",
                       help="a local 3-primary Redis Cluster (Redis 6+) instead of one server")
        p.add_argument("--replicas", type=int, default=0, choices=range(0, 3), metavar="N",
                       help="with --cluster: N replicas per primary (0-2), to watch a failover")
        p.add_argument("--port", type=_port, metavar="PORT",
                       help="the demo server's port (default: a free one)")
        p.add_argument("--port-base", type=_port, metavar="PORT",
                       help="with --cluster: nodes on PORT, PORT+1, ... and their bus ports "
                            "10000 above (default: free ones)")
        return p
    if command == "status":
        p = argparse.ArgumentParser(prog="ferrite-tui status",
                                    description="One discovery and one poll, printed.")
        p.add_argument("url", nargs="?", help="redis://, rediss:// or unix:// URL")
        _common(p)
        p.add_argument("--json", action="store_true", help="print JSON")
        p.add_argument("--read-only", action="store_true",
                       help="accepted for symmetry: status never changes anything")
        _password_option(p)
        p.add_argument("--match", action="append", metavar="PATTERN")
        p.add_argument("--over", type=_seconds, metavar="SECONDS",
                       help="poll again after this long (e.g. 5s) to measure in/out rates")
        _notifications_option(p)
        return p
    if command == "config":
        p = argparse.ArgumentParser(prog="ferrite-tui config")
        p.add_argument("action", choices=["init", "path"])
        p.add_argument("--config", metavar="PATH")
        return p
    p = argparse.ArgumentParser(
        prog="ferrite-tui",
        description="Terminal console for message queues on Ferrite and Redis.",
        epilog=("Other commands: ferrite-tui demo | status [URL] [--json] | serve [URL]"
                " | exporter [URL] | config init"),
    )
    p.add_argument("url", nargs="?", help="redis://, rediss:// or unix:// URL")
    _common(p)
    _console_options(p)
    _password_option(p)
    p.add_argument("--version", action="version", version=f"ferrite-tui {__version__}")
    return p


def _seconds(text: str) -> float:
    try:
        value = float(text[:-1] if text.endswith("s") else text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds such as 5s, not {text!r}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError("must be more than 0 and at most 3600 seconds")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, not {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be a port from 1 to 65535")
    return value


def _refresh(text: str) -> float:
    """--refresh: the range of the config's `refresh` (NaN and infinities refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds such as 2.5, not {text!r}") from None
    why = range_error("refresh", value)
    if why is not None:
        raise argparse.ArgumentTypeError(why)
    return value


def fail(message: str) -> int:
    # Server errors and key names end up here: escaped, one line.
    print(f"ferrite-tui: {printable(message)}", file=sys.stderr)
    return EXIT_FAIL


class PasswordWait:
    """While a profile's password_command runs (before the console starts), the terminal
    says what it waits for, instead of staying blank."""

    SHOWN_AFTER_S = 0.5  # a quick command shows nothing

    def __init__(self, profile: str) -> None:
        self.profile = profile
        self.shown = False
        self.tty = sys.stderr.isatty()

    def __call__(self, seconds: float) -> None:
        if seconds < self.SHOWN_AFTER_S:
            return
        text = (f"waiting for password_command of profile {printable(self.profile, 60)} "
                f"({seconds:.0f} s; ctrl+c stops)")
        if self.tty:  # one line, updated in place
            sys.stderr.write("\r\x1b[K" + text)
            sys.stderr.flush()
        elif not self.shown:
            print(text, file=sys.stderr, flush=True)
        self.shown = True

    def done(self) -> None:
        if self.shown and self.tty:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def resolve_settings(cfg: Config, url: str | None, profile_name: str | None,
                     read_only: bool = False, askpass: bool = False
                     ) -> ConnectionSettings | None:
    """Settings from URL and/or profile; None when neither is given (connect screen)."""
    profile = cfg.profile(profile_name)
    if profile_name and profile is None:
        where = cfg.path or "the config"
        raise ConfigError(f"{where}: no profile named '{profile_name}'")
    if url is None and profile is None:
        return None
    if profile is None:
        profile = Profile(name=profile_name or "default")
    # Before any password is looked for: a URL that can never work ends here.
    if (problem := url_problem(url or profile.url)) is not None:
        raise BackendError(problem)
    wait = PasswordWait(profile.name)
    try:
        settings = ConnectionSettings.from_profile(profile, url=url, read_only=read_only,
                                                   waiting=wait)
    except KeyboardInterrupt:  # ctrl+c while it waits: one line, as every other failure
        raise BackendError(f"profile {profile.name}: password_command interrupted "
                           "(nothing was started)") from None
    finally:
        wait.done()
    if askpass:
        from ferrite_tui.credentials import ask_password

        settings = replace(settings, password=ask_password(
            f"Password for {settings.display_url}: "))
    return settings


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
    if argv is None:
        from ferrite_tui.credentials import WARNING, hide_passwords

        if hide_passwords(sys.argv[1:]):  # before anything else: ps shows it to every user
            print(f"ferrite-tui: {WARNING}", file=sys.stderr, flush=True)
    argv = list(sys.argv[1:] if argv is None else argv)
    command, rest = split_command(argv)
    if command == "serve":  # its own parser and module (aiohttp, textual-serve)
        from ferrite_tui.serve import main as serve_main

        return serve_main(rest)
    if command == "exporter":  # its own parser and module (aiohttp, prometheus_client)
        from ferrite_tui.exporter import main as exporter_main

        return exporter_main(rest)
    args = build_parser(command).parse_args(rest)
    try:
        if command == "config":
            return config_command(args)
        cfg = load(args.config)
        if getattr(args, "notifications", False):
            cfg = replace(cfg, exact_from_notifications=True)
        if command == "status":
            return status_command(cfg, args)
        if command == "demo":
            return demo_command(cfg, args)
        settings = resolve_settings(cfg, args.url, args.profile, args.read_only,
                                    askpass=args.askpass)
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
    # status only reads: its probe sends read commands only, whatever --read-only says.
    settings = resolve_settings(cfg, args.url, args.profile, read_only=True,
                                askpass=args.askpass)
    if settings is None:
        settings = resolve_settings(cfg, Profile().url, None, read_only=True,
                                    askpass=args.askpass)
    if settings is None:
        return fail("no server to connect to: give a URL or --profile")
    try:
        snap, caps, inflight = asyncio.run(
            _one_poll(cfg, settings, tuple(args.match or ()) or None, args.over))
    except BackendError as exc:
        return fail(str(exc))
    if args.json:
        # Control characters, bidi overrides and binary key names (str with
        # surrogateescape) as \uXXXX escapes: nothing raw on a terminal, valid UTF-8, and
        # json.loads gives the same str back.
        print(json_safe(json.dumps(status_json(snap, caps, settings, inflight), indent=2,
                                   ensure_ascii=False)))
    else:
        print(status_table(snap, caps, settings, inflight))
    return 0


async def _one_poll(cfg: Config, settings: ConnectionSettings, match, over: float | None = None):
    from ferrite_tui.backend.client import describe_error
    from ferrite_tui.backend.monitor import Monitor

    monitor = Monitor(settings, cfg, match=match)
    try:
        await monitor.connect()
        await monitor.discover()
        snap = await monitor.poll()
        if over:
            # Rates need two polls: a few in between keep lists followed move by move.
            deadline = asyncio.get_running_loop().time() + over
            while (left := deadline - asyncio.get_running_loop().time()) > 0:
                await asyncio.sleep(min(left, cfg.refresh))
                snap = await monitor.poll()
        alerting = [q.ref for q in snap.queues if q.alerts]
        if alerting and cfg.trend_minutes > 0:
            # Rebuild the hour of the alerting queues only, so each alert can say since
            # when it holds; the second poll annotates with it (and measures rates).
            await monitor.backfill(alerting)
            snap = await monitor.poll()
        inflight = None
        if monitor.client.cluster is not None:
            from ferrite_tui.backend import crossslot

            # Chunks a console left between hash slots (the Server panel's "in flight").
            inflight = await crossslot.inflight(monitor.client)
        return snap, monitor.capabilities, inflight
    except BackendError:
        raise
    except Exception as exc:
        raise BackendError(describe_error(exc, settings)) from exc
    finally:
        await monitor.aclose()


def alert_json(note: AlertNote) -> dict:
    since = note.since
    return {
        "alert": note.alert,
        "since": (datetime.fromtimestamp(since, UTC).isoformat(timespec="seconds")
                  if since is not None else None),
        "since_from": note.since_from,
        "since_before_window": note.before_window,
        "next": f"{note.panel_key}, then {note.action}",
        **({"group": note.group} if note.group is not None else {}),
    }


def queue_json(q: QueueStats, notes: tuple[AlertNote, ...] = (),
               cluster: ClusterView | None = None) -> dict:
    ref = q.ref
    out: dict = {
        "kind": ref.kind.value,
        "key": ref.key,
        # The primary holding the queue's key, as the Overview's node column (null off a
        # cluster; "?" while its slot is not served).
        "node": (cluster.node_of(ref.key) or "?") if cluster is not None else None,
        "keys": {k: v for k, v in (("main", ref.key), ("processing", ref.processing_key),
                                   ("ready", ref.ready_key), ("target", ref.target_key))
                 if v is not None},
        "depth": q.depth,
        "oldest_ms": q.oldest_ms,
        "oldest_sampled": q.oldest_sampled,
        "in_rate": _round(q.in_rate),
        "out_rate": _round(q.out_rate),
        "in_lower_bound": q.in_lower,
        "out_lower_bound": q.out_lower,
        "net_rate": _round(q.net_rate),
        "rate_note": q.rate_note,
        "alerts": list(q.alerts),
        "alert_details": [alert_json(n) for n in notes if n.ident == ref.ident],
        "error": q.error,
    }
    if ref.library is not None:
        out.update(library_json(q))
    if q.producer_end or q.consumer_end:
        out["producer_end"] = q.producer_end
        out["consumer_end"] = q.consumer_end
    if q.stale is not None:
        out["stale"] = q.stale
        out["stale_lower_bound"] = q.stale_lower
    if q.processing is not None:
        out["processing"] = q.processing
    if q.ready is not None:
        out["ready"] = q.ready
    if q.overdue is not None:
        out["overdue"] = q.overdue
    if ref.kind.value == "stream":
        out["pending"] = q.pending
        out["idle_pending"] = q.idle_pending
        out["last_id"] = q.last_id
        out["groups"] = [
            {"name": g.name, "consumers": g.consumers, "pending": g.pending,
             "last_delivered_id": g.last_delivered_id, "lag": g.lag,
             "entries_read": g.entries_read, "read_rate": _round(g.read_rate),
             "idle_count": g.idle_count, "oldest_idle_ms": g.oldest_idle_ms,
             "scan_complete": g.scan_complete,
             "holders": [{"name": c.name, "pending": c.pending,
                          "oldest_idle_ms": c.oldest_idle_ms,
                          "newest_idle_ms": c.newest_idle_ms, "dead": c.dead}
                         for c in g.holders],
             "dead_consumers": list(g.dead_consumers), "alerts": list(g.alerts)}
            for g in q.groups
        ]
    return out


def library_json(q: QueueStats) -> dict:
    """A library queue's name and every state's count ("?" as null), key by key."""
    lib = q.ref.library
    assert lib is not None
    # What each state's scores are times of (due, at, expires...): how to read its times.
    means = {(s.key, s.name): s.means.value for s in lib.states if s.means is not None}
    return {
        "library": lib.library,
        "name": lib.name,
        "read_only": lib.read_only,
        "actions": [a.action for a in lib.actions],
        "states": [{"state": c.state.value, "label": c.label, "key": c.key, "count": c.size,
                    **({"next_at_ms": c.next_at_ms} if c.next_at_ms is not None else {}),
                    **({"past": c.past} if c.past is not None else {}),
                    **({"shared": True} if c.shared else {}),
                    **({"means": means[c.key, c.label]} if (c.key, c.label) in means else {})}
                   for c in q.states],
        "totals": {state.value: n for state, n in state_totals(q.states).items()},
    }


def _round(rate: float | None) -> float | None:
    return None if rate is None else round(rate, 3)


def cluster_json(view: ClusterView, inflight: InFlight | None) -> dict:
    """The cluster as the Server panel shows it (the same ClusterView), for scripts."""
    staging = [] if inflight is None else [
        {"stage": staged.stage, "node": view.node_of(staged.stage) or "?",
         "target": staged.dst, "target_node": view.node_of(staged.dst) or "?",
         "items": length, "delivered": marked}
        for staged, length, marked in inflight.chunks]
    return {
        "state": view.state,
        **view.counts(),
        "failover": view.failover,
        "nodes": [{"id": n.node_id, "address": n.address, "role": n.role,
                   "primary_id": n.primary_id,
                   "slots": [[lo, hi] for lo, hi in n.slot_ranges()],
                   "slot_count": n.slot_count, "link": n.link, "flags": list(n.flags),
                   "state": n.state, "used_memory": n.used_memory,
                   "ops_per_sec": _round(n.ops_per_sec), "repl_offset": n.repl_offset,
                   "error": n.error}
                  for n in view.nodes],
        "sharded_channels": None if view.shard_channels is None else [
            {"name": name, "subscribers": subs, "node": node}
            for name, subs, node in view.shard_channels],
        # Moves between hash slots left half-way (items staged, not yet delivered: "in
        # flight"; a delivered chunk only waits to be cleaned). null: not looked at.
        "in_flight_items": None if inflight is None else inflight.items,
        "staging": None if inflight is None else staging,
        "events": [{"time": datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds"),
                    "event": text} for when, text in view.events],
    }


def status_json(snap: Snapshot, caps, settings: ConnectionSettings,
                inflight: InFlight | None = None) -> dict:
    return {
        "server": {"url": settings.display_url, "kind": caps.server_kind,
                   "version": caps.version,
                   "capabilities": {name: ok for name, ok in caps.as_rows()},
                   # null: the server's INFO has no replication section (Ferrite).
                   "role": snap.server.replication.role,
                   "replication": snap.server.replication.as_json(),
                   # Every due, overdue and age figure is computed on the server's clock.
                   "time_ms": snap.server_time_ms,
                   "clock_offset_ms": snap.clock_offset_ms},
        # null on one server.
        "cluster": cluster_json(snap.cluster, inflight) if snap.cluster is not None else None,
        "queues": [queue_json(q, snap.alert_notes, snap.cluster) for q in snap.queues],
        "channels": [{"name": c.name, "subscribers": c.subscribers} for c in snap.channels],
        "round_trips": snap.round_trips,
        "left_out": snap.left_out,
        "access_note": snap.access_note,
        # Probed commands the probe could not tell about (ACL): not used, not "missing".
        "capabilities_unknown": list(caps.unknown),
        "max_queues": snap.max_queues,
        "totals": snap.totals(),
        **({"notifications": snap.notifications} if snap.notifications is not None else {}),
    }


def states_text(q: QueueStats) -> str:
    """A library queue's states other than pending, with their totals ("?" if unread)."""
    return " · ".join(f"{state.value.replace('_', ' ')} {'?' if n is None else fmt.count(n)}"
                      for state, n in state_totals(q.states).items()
                      if n != 0 and state is not State.PENDING)


def status_table(snap: Snapshot, caps, settings: ConnectionSettings,
                 inflight: InFlight | None = None) -> str:
    from ferrite_tui.backend.models import TOTALS
    from ferrite_tui.ui.panels.overview import secondary

    lines = [f"{settings.display_url}  {caps.server_kind} {caps.version}  "
             f"{len(snap.queues)} queues"]
    totals = snap.totals()
    lines.append(" · ".join(f"{fmt.count(totals[k])} {label}" for k, label in TOTALS.items()))
    if snap.left_out:
        lines.append(left_out_text(snap))
    if snap.access_note:
        lines.append(printable(snap.access_note, 300) + " (outside its key patterns)")
    if snap.cluster is not None:
        view = snap.cluster
        line = f"cluster {view.state} · {view.summary()}"
        if inflight is not None and inflight.items:
            line += f" · {inflight.items} item(s) in flight between hash slots"
        if view.failover:
            line += " · " + view.failover
        lines.append(printable(line, 300))
    if snap.notifications is not None:
        lines.append(notifications_text(snap.notifications))
    rep = snap.server.replication
    if rep.is_replica:
        lines.append(printable(f"replica of {rep.primary or '?'}: {rep.lag_text()}", 300))
    if snap.clock_offset_ms is not None and abs(snap.clock_offset_ms) > SHOWN_OFFSET_MS:
        lines.append(f"{offset_text(snap.clock_offset_ms)}: times are the server's")
    rows = [("KIND", "KEY", "DEPTH", "IN/S", "OUT/S", "OLDEST", "DETAIL", "ALERTS")]
    for q in sorted(snap.queues, key=lambda q: (-q.severity, -q.depth, q.ref.key)):
        lib = q.ref.library
        rows.append((q.ref.kind.label if lib is None else lib.library,
                     printable(q.ref.key, 48), fmt.count(q.depth),
                     fmt.flow(q.in_rate, q.in_lower), fmt.flow(q.out_rate, q.out_lower),
                     fmt.duration(q.oldest_ms), secondary(q) if lib is None else states_text(q),
                     printable(q.error, 60) if q.error else ", ".join(q.alerts) or "ok"))
    # Every cell escaped (names are already): no cell can break its line or the terminal.
    cells = [[printable(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    for r in cells:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    # The header quotes the server (its version, a notifications error): escaped too.
    return "\n".join(printable(line) for line in lines)


def notifications_text(state: str) -> str:
    if state == "on":
        return "exact in/out: counted from keyspace notifications"
    return f"exact in/out from keyspace notifications: off, {state}"


def left_out_text(snap: Snapshot) -> str:
    return (f"{snap.left_out:,} more queues found but not shown (max_queues = "
            f"{snap.max_queues:,}; raise [discovery] max_queues in the config to see them)")


# -- demo --------------------------------------------------------------------------------

def demo_command(cfg: Config, args) -> int:
    from ferrite_tui.demo.server import (
        RedisServer,
        ServerNotFound,
        find_server_binary,
        port_is_free,
    )

    binary = find_server_binary(args.server)
    if binary is None:
        return fail(str(ServerNotFound()))
    if getattr(args, "cluster", False):
        return demo_cluster(cfg, args, binary)
    if args.port_base is not None:
        return fail("demo: --port-base is for --cluster (one server takes --port)")
    if args.port is not None and not port_is_free(args.port):
        return fail(f"demo: port {args.port} is in use on 127.0.0.1 (choose another --port)")
    server = RedisServer(binary, port=args.port)
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
        cfg = demo_config(cfg)
        settings = ConnectionSettings(url=server.url, read_only=args.read_only, profile="demo")
        try:
            return run_console(cfg, settings, args)
        finally:
            traffic.stop()
    finally:
        server.stop()


def demo_cluster(cfg: Config, args, binary: str) -> int:
    """`demo --cluster`: three primaries on loopback from the same binary, the usual
    workload (some queues hash-tagged into one slot, some spread over two)."""
    from ferrite_tui.demo.cluster import LocalCluster, cluster_support

    reason = cluster_support(binary)
    if reason is not None:
        return fail(f"demo --cluster: {reason} (give --server with a Redis 6+ binary)")
    if args.port is not None:
        return fail("demo --cluster: give --port-base (the nodes take consecutive ports)")
    cluster = LocalCluster(binary, primaries=3, replicas=getattr(args, "replicas", 0),
                           port_base=args.port_base)
    try:
        try:
            cluster.start()
        except (RuntimeError, OSError) as exc:
            return fail(f"demo cluster did not start: {str(exc).splitlines()[0]}")
        traffic = DemoTraffic(cluster.url, live=not args.no_workload, cluster=True)
        try:
            traffic.start()
        except Exception as exc:
            return fail(f"demo data could not be written: {exc}")
        cfg = replace(cfg, discovery=replace(cfg.discovery, rescan_seconds=10.0))
        settings = ConnectionSettings(url=cluster.url, read_only=args.read_only,
                                      profile="demo", cluster=True)
        try:
            return run_console(cfg, settings, args)
        finally:
            traffic.stop()
    finally:
        cluster.stop()


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
        import redis.asyncio as aioredis

        from ferrite_tui.demo.workload import CLUSTER_NAMES, Workload, seed

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


if __name__ == "__main__":
    raise SystemExit(main())
