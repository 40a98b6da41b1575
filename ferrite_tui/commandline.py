"""What the commands of the command line share (the console, `status`, `demo`, `serve`,
`exporter`): their common options, the settings from a URL and/or a profile (asked
before anything connects), and the one-line failure."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import replace

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.backend.errors import BackendError
from ferrite_tui.config import (
    Config,
    ConfigError,
    Profile,
    range_error,
)
from ferrite_tui.credentials import ask_password
from ferrite_tui.escaping import printable
from ferrite_tui.urls import url_problem

EXIT_FAIL = 2


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
        settings = replace(settings, password=ask_password(
            f"Password for {settings.display_url}: "), password_from="asked (--askpass)")
    return settings


#: The command line's settings: (setting, its flag, the argparse attribute).
FLAGS = (("exact_from_notifications", "--notifications", "notifications"),
         ("refresh", "--refresh", "refresh"))
#: What the command line chooses that is not a setting of the config itself.
CHOICES = (("config_file", "--config", "config"), ("profile", "--profile", "profile"),
           ("url", "the URL argument", "url"), ("read_only", "--read-only", "read_only"),
           ("match", "--match", "match"))


def with_command_line(cfg: Config, args: argparse.Namespace, command: str = "") -> Config:
    """The config with the command line's settings in effect, each noted as from its
    flag ("command line: serve --profile" for a `command`'s), so `Config.origin` answers
    for them as for the file's."""
    said = f"command line: {command} " if command else "command line: "
    for setting, flag, attribute in FLAGS:
        value = getattr(args, attribute, None)
        if value not in (None, False):
            cfg = cfg.overridden(said + flag, **{setting: value})
    for setting, flag, attribute in CHOICES:
        if getattr(args, attribute, None) not in (None, False, []):
            cfg = cfg.noted(said + flag, setting)
    return cfg


#: serve writes each console's command line: it tells the console where those settings
#: came from (JSON: setting -> origin), so the console does not name its own flags.
ORIGINS_ENV = "FERRITE_TUI_ORIGINS"


def serve_origins(cfg: Config, settings: ConnectionSettings, allow_writes: bool) -> str:
    """Where the settings of serve's consoles came from, for ORIGINS_ENV: serve's own
    flags, or the profile's lines (never a value, so never a credential)."""
    table = f"profiles.{settings.profile}." if settings.profile else ""
    found: dict[str, str] = {}
    for setting in ("config_file", "profile", "url", "read_only"):
        origin = cfg.origin(setting)
        if origin == "default" and table:
            origin = cfg.origin(table + setting)
        if origin != "default":
            found[setting] = origin
    if not settings.read_only:  # else the profile's line says why
        found["read_only"] = "command line: serve " + (
            "--allow-writes" if allow_writes else "(read-only without --allow-writes)")
    return json.dumps(found)


def with_serve_origins(cfg: Config, environ: Mapping[str, str]) -> Config:
    """The config noting the origins serve passed (ORIGINS_ENV), if it started us."""
    try:
        found = json.loads(environ.get(ORIGINS_ENV) or "{}")
    except ValueError:
        return cfg  # not serve's: ignored, the console's own flags stand
    if isinstance(found, dict):
        for setting, origin in found.items():
            if isinstance(setting, str) and isinstance(origin, str):
                cfg = cfg.noted(origin, setting)
    return cfg
