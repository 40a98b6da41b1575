"""`ferrite-tui`: parse, then run the console or the command named."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ferrite_tui import __version__
from ferrite_tui.backend.errors import BackendError
from ferrite_tui.cli.console import run_console
from ferrite_tui.commandline import (
    _common,
    _console_options,
    _notifications_option,
    _password_option,
    _port,
    _seconds,
    fail,
    resolve_settings,
    with_command_line,
    with_serve_origins,
)
from ferrite_tui.config import ConfigError, default_config_path, init_config, load
from ferrite_tui.credentials import WARNING, hide_passwords
from ferrite_tui.startup import resume_collector

COMMANDS = ("demo", "status", "config", "exporter")


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
        if hide_passwords(sys.argv[1:]):  # before anything else: ps shows it to every user
            print(f"ferrite-tui: {WARNING}", file=sys.stderr, flush=True)
    argv = list(sys.argv[1:] if argv is None else argv)
    command, rest = split_command(argv)
    if command not in (None, "demo"):  # only a console's start waits for its first data
        resume_collector()
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
        # Started by serve: its flags, not this command line it wrote, chose the settings.
        cfg = with_serve_origins(with_command_line(load(args.config), args), os.environ)
        # Each command's module when it runs: the console starts without status's or the
        # demo's (start to first data is a budget, issue 25).
        if command == "status":
            from ferrite_tui.cli.status import status_command

            return status_command(cfg, args)
        if command == "demo":
            from ferrite_tui.cli.demo import demo_command

            return demo_command(cfg, args)
        settings = resolve_settings(cfg, args.url, args.profile, args.read_only,
                                    askpass=args.askpass)
    except (ConfigError, BackendError) as exc:
        return fail(str(exc))
    return run_console(cfg, settings, args)


# -- config ------------------------------------------------------------------------------

def config_command(args) -> int:
    path = Path(args.config) if args.config else default_config_path()
    if args.action == "path":
        print(path)
        return 0
    init_config(path)
    print(f"wrote {path}")
    return 0
