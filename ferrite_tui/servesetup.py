"""`ferrite-tui serve`'s setup: its options, the long-lived token, and the command and
environment each console process gets (the server's password never in an argv)."""

from __future__ import annotations

import argparse
import ipaddress
import os
import stat
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from ferrite_tui.backend.connection import ConnectionSettings, describe_error
from ferrite_tui.backend.errors import BackendError
from ferrite_tui.backend.monitor import Monitor
from ferrite_tui.commandline import ORIGINS_ENV
from ferrite_tui.config import ConfigError
from ferrite_tui.urls import redact_url
from ferrite_tui.webaccess import DEFAULT_LINK_TTL_S

TOKEN_ENV = "FERRITE_TUI_SERVE_TOKEN"
PASSWORD_ENV = "REDISCLI_AUTH"
MIN_TOKEN_LENGTH = 16
DEFAULT_MAX_SESSIONS = 4
# How long a console whose page lost its connection waits for the page to come back.
DEFAULT_GRACE_S = 600.0

EXIT_FAIL = 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ferrite-tui serve",
        description="Serve the console in a browser (one console process per session).",
        epilog=f"The token comes from --token-file, else ${TOKEN_ENV}, else is generated "
               "and printed in the URL to open.",
    )
    p.add_argument("url", nargs="?", help="redis://, rediss:// or unix:// URL")
    p.add_argument("--config", metavar="PATH", help="config file (default: platform config dir)")
    p.add_argument("--profile", metavar="NAME", help="profile from the config")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; anything else is reachable "
                        "by others)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--allow-writes", action="store_true",
                   help="let browser sessions change data (default: read-only)")
    p.add_argument("--max-sessions", type=int, default=DEFAULT_MAX_SESSIONS, metavar="N",
                   help=f"concurrent browser sessions (default {DEFAULT_MAX_SESSIONS})")
    p.add_argument("--token-file", metavar="FILE",
                   help="read a long-lived access token from FILE (valid until serve stops)")
    p.add_argument("--link-minutes", type=float, default=DEFAULT_LINK_TTL_S / 60,
                   metavar="M", help="a printed link expires after M minutes unused "
                   f"(default {DEFAULT_LINK_TTL_S / 60:g}); each link opens once")
    p.add_argument("--grace-minutes", type=float, default=DEFAULT_GRACE_S / 60, metavar="M",
                   help="a console whose page lost its connection (a closed laptop, a "
                   "reload) waits M minutes for it to come back (default "
                   f"{DEFAULT_GRACE_S / 60:g}; 0 ends it at once)")
    return p


def fail(message: str) -> int:
    print(f"ferrite-tui serve: {message}", file=sys.stderr)
    return EXIT_FAIL


def read_token(token_file: str | None, environ=os.environ) -> tuple[str | None, str]:
    """(long-lived token, where it came from), or (None, "") when links are printed
    instead. Raises ConfigError for an unusable file or value."""
    if token_file:
        path = Path(token_file).expanduser()
        try:
            token = path.read_text(encoding="utf-8").strip()
            mode = path.stat().st_mode
        except OSError as exc:
            raise ConfigError(f"token file {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"token file {path}: not UTF-8 text") from None
        source = f"the file {path}"
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            print(f"ferrite-tui serve: warning: {path} is readable by other users "
                  f"(chmod 600 it)", file=sys.stderr)
    elif environ.get(TOKEN_ENV):
        token, source = environ[TOKEN_ENV].strip(), f"${TOKEN_ENV}"
    else:
        return None, ""
    if len(token) < MIN_TOKEN_LENGTH or any(c.isspace() or not c.isprintable() for c in token):
        raise ConfigError(f"the token from {source} must be at least {MIN_TOKEN_LENGTH} "
                          "printable characters without spaces")
    return token, source


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_without_password(url: str) -> str:
    """The URL with no password, neither in its user part nor as a `password=` parameter."""
    # Split by hand: urlunsplit would turn unix:///path into unix:/path.
    base, _, query = redact_url(url, mask="").partition("?")
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True)
            if k.lower() != "password"]
    return f"{base}?{urlencode(kept)}" if kept else base


def console_command(settings: ConnectionSettings, args, allow_writes: bool) -> list[str]:
    """The argv of one console process: the URL without its password, never a secret."""
    argv = [sys.executable, "-m", "ferrite_tui", url_without_password(settings.url)]
    if args.profile:
        argv += ["--profile", args.profile]
    if args.config:
        argv += ["--config", str(Path(args.config).expanduser().resolve())]
    if not allow_writes:
        argv.append("--read-only")
    return argv


def console_environ(settings: ConnectionSettings,
                    origins: str | None = None) -> dict[str, str | None]:
    """Changes to the serving process's environment for every console (None: remove);
    `origins`: where the console's settings came from (commandline.serve_origins)."""
    in_query = [v for k, v in parse_qsl(settings.url.partition("?")[2]) if k.lower() == "password"]
    return {
        # The URL given to the console has no password: it comes from here.
        PASSWORD_ENV: settings.password or (in_query[-1] if in_query else None),
        TOKEN_ENV: None,  # consoles never need the access token
        ORIGINS_ENV: origins,
    }


async def check_server(cfg, settings: ConnectionSettings) -> str | None:
    """One connection, as a console will make it: the reason it fails, or None."""
    monitor = Monitor(settings, cfg)
    try:
        await monitor.connect()
    except BackendError as exc:
        return str(exc)
    except Exception as exc:
        return describe_error(exc, settings)
    finally:
        await monitor.aclose()
    return None


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
