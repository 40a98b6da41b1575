"""The settings of one connection (built from a profile), its password, the one-line
description of any connection or command failure, and the count of round trips.
"""

from __future__ import annotations

import asyncio
import os
import re
import selectors
import shlex
import ssl
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlsplit

from redis import exceptions as rexc

from ferrite_tui.backend.errors import BackendError, permission_error, server_error_text
from ferrite_tui.config import Profile, ServerConnection
from ferrite_tui.urls import redact_url

if TYPE_CHECKING:
    from redis.asyncio.connection import AbstractConnection


@dataclass(frozen=True)
class ConnectionSettings(ServerConnection):
    """A profile's connection (config.ServerConnection: URL, user, TLS, timeouts, read-only,
    cluster) with the password found for it and the profile's name."""

    password: str | None = None
    profile: str = "default"
    # Where the password came from, never the password: "the URL", "environment:
    # REDISCLI_AUTH", "password_command of profile x", ... (None: no password).
    password_from: str | None = None

    @property
    def display_url(self) -> str:
        return redact_url(self.url)

    @property
    def server_identity(self) -> str:
        """Which server and database this is, without credentials (keys the bulk journal)."""
        parts = urlsplit(self.url)
        if parts.scheme == "unix":
            return f"unix://{parts.path}?db={dict(parse_qsl(parts.query)).get('db', '0')}"
        host = parts.hostname or "localhost"
        host = f"[{host}]" if ":" in host else host
        try:
            port = parts.port or 6379
        except ValueError:
            port = 6379
        db = parts.path.strip("/") or dict(parse_qsl(parts.query)).get("db", "0")
        return f"{parts.scheme}://{host}:{port}/{db}"

    @classmethod
    def from_profile(cls, profile: Profile, *, url: str | None = None,
                     read_only: bool | None = None,
                     waiting: Callable[[float], None] | None = None) -> ConnectionSettings:
        """`waiting(seconds)` is called while a password_command runs (to show the wait)."""
        url = url or profile.url
        password, password_from = resolve_password(profile, url, waiting)
        return cls(**{**profile.connection(), "url": url,
                      "read_only": profile.read_only or bool(read_only)},
                   password=password, password_from=password_from, profile=profile.name)


#: A password is one line: past this much output the command is stopped (`yes` reached
#: 9.6 GB before the timeout when its output was read whole).
PASSWORD_COMMAND_MAX_BYTES = 4096
PASSWORD_COMMAND_TIMEOUT_S = 15.0
#: How often `waiting` hears from a password_command that has not answered yet.
WAIT_REPORT_S = 0.25


def run_password_command(command: str, profile: str, *,
                         timeout: float = PASSWORD_COMMAND_TIMEOUT_S,
                         limit: int = PASSWORD_COMMAND_MAX_BYTES,
                         waiting: Callable[[float], None] | None = None) -> str:
    """A profile's password_command's output, read as it comes with a bound on its size
    and time: the process is killed past either, with one line saying which."""
    where = f"profile {profile}: password_command"
    try:
        proc = subprocess.Popen(shlex.split(command), stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
    except (OSError, ValueError) as exc:
        raise BackendError(f"{where} failed: {exc}") from None
    assert proc.stdout is not None
    out = bytearray()
    started = time.monotonic()
    why = None
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            while True:
                elapsed = time.monotonic() - started
                if elapsed >= timeout:
                    why = f"{where} gave no password within {timeout:g} s (stopped)"
                    break
                if not selector.select(min(WAIT_REPORT_S, timeout - elapsed)):
                    if waiting is not None:
                        waiting(time.monotonic() - started)
                    continue
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break  # end of output
                out += chunk
                if len(out) > limit:
                    why = (f"{where} wrote more than {limit:,} bytes (stopped): a password "
                           "is one line")
                    break
        if why is None:
            try:
                code = proc.wait(max(timeout - (time.monotonic() - started), 0.1))
            except subprocess.TimeoutExpired:
                why = f"{where} did not exit within {timeout:g} s (stopped)"
            else:
                if code != 0:
                    raise BackendError(f"{where} exited {code}")
        if why is not None:
            raise BackendError(why)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    try:
        return out.decode("utf-8").strip("\n")
    except UnicodeDecodeError:
        raise BackendError(f"{where} wrote something that is not UTF-8 text") from None


def resolve_password(profile: Profile, url: str,
                     waiting: Callable[[float], None] | None = None
                     ) -> tuple[str | None, str | None]:
    """(password, where it came from): the URL's, else REDISCLI_AUTH, else the profile's
    password_env, else its password_command; (None, None) without one."""
    parts = urlsplit(url)
    if parts.password:
        return unquote(parts.password), "the URL"
    if os.environ.get("REDISCLI_AUTH"):
        return os.environ["REDISCLI_AUTH"], "environment: REDISCLI_AUTH"
    if profile.password_env:
        value = os.environ.get(profile.password_env)
        if value is None:
            raise BackendError(
                f"profile {profile.name}: environment variable {profile.password_env} is not set"
            )
        return value, f"environment: {profile.password_env} (password_env of profile " \
                      f"{profile.name})"
    if profile.password_command:
        return (run_password_command(profile.password_command, profile.name, waiting=waiting),
                f"password_command of profile {profile.name}")
    return None, None


def describe_error(exc: BaseException, settings: ConnectionSettings | None = None) -> str:
    """One line an operator can act on, for any connection or command failure."""
    where = settings.display_url if settings else "server"
    text = server_error_text(exc) if str(exc).strip() else type(exc).__name__
    if isinstance(exc, BackendError):
        return text
    user = (settings.username or unquote(urlsplit(settings.url).username or "") or None) \
        if settings else None  # the URL's user where the settings name none
    denied = permission_error(text, user)
    if denied:
        return denied
    if "NOAUTH" in text or "Authentication required" in text:
        return (f"authentication required by {where}: "
                "give a password (URL, REDISCLI_AUTH or profile)")
    if (isinstance(exc, rexc.AuthenticationError)
            or "WRONGPASS" in text or "invalid password" in text):
        source = f" (the password from {settings.password_from})" \
            if settings is not None and settings.password_from else ""
        return f"authentication failed at {where}: wrong user name or password{source}"
    if isinstance(exc, rexc.AuthenticationWrongNumberOfArgsError):
        return f"authentication failed at {where}: the server takes no user name"
    if isinstance(exc, ssl.SSLError) or "SSL" in text or "CERTIFICATE" in text.upper():
        return f"TLS failure with {where}: {text}"
    if isinstance(exc, (rexc.TimeoutError, asyncio.TimeoutError, TimeoutError)):
        timeout = settings.command_timeout if settings else None
        after = f" within {timeout:g} s" if timeout else ""
        return f"{where} did not answer{after}"
    if isinstance(exc, (rexc.ConnectionError, OSError)):
        # On a cluster the node that failed is not the one the console started on: name it.
        node = re.search(r"connecting to (\S+?:\d+)", text)
        if node is not None and settings is not None \
                and f"{node.group(1)}/" not in settings.display_url:
            where = f"node {node.group(1)}"
        code = re.match(r"Error (-?\d+) connecting", text)
        errno_ = int(code.group(1)) if code else getattr(exc, "errno", None)
        if errno_ == 111 or "refused" in text.lower():
            return f"cannot reach {where}: connection refused"
        if errno_ in (-2, -3, -5) or "Name or service not known" in text or "nodename" in text:
            return f"cannot reach {where}: unknown host"
        if "Timeout connecting" in text:
            return f"cannot reach {where}: no answer within {settings.connect_timeout:g} s" \
                if settings else f"cannot reach {where}: connect timed out"
        if errno_ and errno_ > 0:
            return f"cannot reach {where}: {os.strerror(errno_).lower()}"
        return f"cannot reach {where}: {text}"
    if isinstance(exc, rexc.ResponseError):
        if text.startswith("WRONGTYPE"):
            return "wrong type: the key now holds another kind of value"
        return f"server error: {text}"
    return f"{type(exc).__name__}: {text}"


def is_connection_failure(exc: BaseException) -> bool:
    return isinstance(
        exc, (rexc.ConnectionError, rexc.TimeoutError, asyncio.TimeoutError, OSError)
    ) and not isinstance(exc, rexc.AuthenticationError)


class RoundTripCounter:
    """Counts writes to the server: one per command, one per pipeline."""

    def __init__(self) -> None:
        self.count = 0


def counting_class(base: type[AbstractConnection], counter: RoundTripCounter) -> type:
    async def send_packed_command(self, command, check_health=True):
        counter.count += 1
        return await base.send_packed_command(self, command, check_health)

    return type(f"Counting{base.__name__}", (base,), {"send_packed_command": send_packed_command})
