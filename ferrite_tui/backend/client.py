"""Connection, capability probe, error wording, and the read-only guard.

Plain asyncio + redis.asyncio; nothing here imports Textual.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import shlex
import ssl
import subprocess
from dataclasses import dataclass, replace
from typing import Any, Callable
from urllib.parse import unquote, urlsplit, urlunsplit

import hiredis
import redis.asyncio as aioredis
from redis import exceptions as rexc
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from ferrite_tui.backend.audit import AuditLog
from ferrite_tui.backend.models import Capabilities
from ferrite_tui.config import Profile


class BackendError(Exception):
    """A failure worded as one line for the screen."""


class ReadOnlyError(BackendError):
    pass


class UnsupportedError(BackendError):
    """The server lacks a command this action needs."""


def redact_url(url: str, keep_user: bool = True, mask: str = "***") -> str:
    """The URL with its password replaced (or removed when mask is empty)."""
    parts = urlsplit(url)
    if parts.password is None and not (parts.username and not keep_user):
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    user = parts.username if keep_user and parts.username else ""
    cred = user
    if parts.password is not None and mask:
        cred = f"{user}:{mask}"
    netloc = f"{cred}@{host}" if cred else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class ConnectionSettings:
    url: str
    username: str | None = None
    password: str | None = None
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_verify: bool = True
    connect_timeout: float = 5.0
    command_timeout: float = 5.0
    read_only: bool = False
    profile: str = "default"

    @property
    def display_url(self) -> str:
        return redact_url(self.url)

    @classmethod
    def from_profile(cls, profile: Profile, *, url: str | None = None,
                     read_only: bool | None = None) -> "ConnectionSettings":
        url = url or profile.url
        return cls(
            url=url,
            username=profile.username,
            password=resolve_password(profile, url),
            tls_ca_file=profile.tls_ca_file,
            tls_cert_file=profile.tls_cert_file,
            tls_key_file=profile.tls_key_file,
            tls_verify=profile.tls_verify,
            connect_timeout=profile.connect_timeout,
            command_timeout=profile.command_timeout,
            read_only=profile.read_only if read_only is None else (read_only or profile.read_only),
            profile=profile.name,
        )


def resolve_password(profile: Profile, url: str) -> str | None:
    """URL password, else REDISCLI_AUTH, else the profile's password_env, else its command."""
    parts = urlsplit(url)
    if parts.password:
        return unquote(parts.password)
    if os.environ.get("REDISCLI_AUTH"):
        return os.environ["REDISCLI_AUTH"]
    if profile.password_env:
        value = os.environ.get(profile.password_env)
        if value is None:
            raise BackendError(
                f"profile {profile.name}: environment variable {profile.password_env} is not set"
            )
        return value
    if profile.password_command:
        try:
            out = subprocess.run(
                shlex.split(profile.password_command),
                capture_output=True, text=True, timeout=15, check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackendError(f"profile {profile.name}: password_command failed: {exc}") from None
        if out.returncode != 0:
            raise BackendError(
                f"profile {profile.name}: password_command exited {out.returncode}"
            )
        return out.stdout.strip("\n")
    return None


def describe_error(exc: BaseException, settings: ConnectionSettings | None = None) -> str:
    """One line an operator can act on, for any connection or command failure."""
    where = settings.display_url if settings else "server"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, BackendError):
        return text
    if "NOAUTH" in text or "Authentication required" in text:
        return f"authentication required by {where}: give a password (URL, REDISCLI_AUTH or profile)"
    if isinstance(exc, rexc.AuthenticationError) or "WRONGPASS" in text or "invalid password" in text:
        return f"authentication failed at {where}: wrong user name or password"
    if isinstance(exc, rexc.AuthenticationWrongNumberOfArgsError):
        return f"authentication failed at {where}: the server takes no user name"
    if isinstance(exc, ssl.SSLError) or "SSL" in text or "CERTIFICATE" in text.upper():
        return f"TLS failure with {where}: {text}"
    if isinstance(exc, (rexc.TimeoutError, asyncio.TimeoutError, TimeoutError)):
        timeout = settings.command_timeout if settings else None
        after = f" within {timeout:g} s" if timeout else ""
        return f"{where} did not answer{after}"
    if isinstance(exc, (rexc.ConnectionError, OSError)):
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


def _counting_class(base: type, counter: RoundTripCounter) -> type:
    async def send_packed_command(self, command, check_health=True):
        counter.count += 1
        return await base.send_packed_command(self, command, check_health)

    return type(f"Counting{base.__name__}", (base,), {"send_packed_command": send_packed_command})


def mutation(action: str) -> Callable:
    """Marks a backend coroutine as a mutation: the read-only guard runs before it sends."""

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        async def guarded(self, *args: Any, **kwargs: Any) -> Any:
            self.client.guard(action)
            return await fn(self, *args, **kwargs)

        guarded.mutation = action  # type: ignore[attr-defined]
        return guarded

    return wrap


class Client:
    """One connection pool to one server, with its probe results and the guard."""

    def __init__(self, settings: ConnectionSettings, audit: AuditLog | None = None) -> None:
        self.settings = settings
        self.audit_log = audit
        self.round_trips = RoundTripCounter()
        self.capabilities = Capabilities()
        self._redis: aioredis.Redis | None = None

    @property
    def read_only(self) -> bool:
        return self.settings.read_only

    @property
    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            self._redis = self._build()
        return self._redis

    def _build(self) -> aioredis.Redis:
        s = self.settings
        kwargs: dict[str, Any] = {
            "socket_connect_timeout": s.connect_timeout,
            "socket_timeout": s.command_timeout,
            "decode_responses": False,
            # Key names are str decoded with surrogateescape (see discovery.key_text), so any
            # byte string survives the round trip back to the server.
            "encoding_errors": "surrogateescape",
            "retry_on_timeout": False,
            "max_connections": 16,
            # RESP2 everywhere: Ferrite speaks it, and replies parse the same on every server.
            "protocol": 2,
            # The Monitor owns reconnects (with visible backoff); redis-py must not retry
            # on its own, or a wrong password takes seconds to report.
            "retry": Retry(NoBackoff(), 0),
            # CLIENT SETINFO is noise on Ferrite; skip it.
            "driver_info": None,
        }
        if s.username:
            kwargs["username"] = s.username
        if s.password is not None:
            kwargs["password"] = s.password
        scheme = urlsplit(s.url).scheme
        if scheme == "rediss":
            kwargs["ssl_cert_reqs"] = "required" if s.tls_verify else "none"
            kwargs["ssl_check_hostname"] = s.tls_verify
            if s.tls_ca_file:
                kwargs["ssl_ca_certs"] = s.tls_ca_file
            if s.tls_cert_file:
                kwargs["ssl_certfile"] = s.tls_cert_file
            if s.tls_key_file:
                kwargs["ssl_keyfile"] = s.tls_key_file
        elif scheme not in ("redis", "unix"):
            raise BackendError(
                f"unsupported URL scheme '{scheme}': use redis://, rediss:// or unix://"
            )
        try:
            pool = aioredis.ConnectionPool.from_url(s.url, **kwargs)
        except TypeError:
            kwargs.pop("driver_info")
            kwargs["lib_name"] = None
            pool = aioredis.ConnectionPool.from_url(s.url, **kwargs)
        except ValueError as exc:
            raise BackendError(f"bad URL {redact_url(s.url)}: {exc}") from None
        pool.connection_class = _counting_class(pool.connection_class, self.round_trips)
        return aioredis.Redis(connection_pool=pool)

    async def raw_pipeline(self, commands: list[tuple]) -> list[Any]:
        """Send many commands in one write and read every reply, without redis-py's
        per-command machinery (the poll sends thousands per tick; this keeps it cheap).

        Replies are raw RESP2 values (bytes, int, list, None); a command the server refused
        comes back as its ResponseError instead of raising. One round trip, whatever the
        number of commands.
        """
        if not commands:
            return []
        packed = b"".join(_pack(c) for c in commands)
        pool = self.redis.connection_pool
        conn = await pool.get_connection()
        try:
            async with asyncio.timeout(self.settings.command_timeout):
                await conn.send_packed_command(packed, check_health=False)
                # Parse every reply in hiredis (C) straight from the connection's stream;
                # error replies come back as ResponseError instances, not raised.
                reader = hiredis.Reader(replyError=rexc.ResponseError)
                stream = conn._reader  # redis-py's asyncio StreamReader for this socket
                replies: list[Any] = []
                want = len(commands)
                while len(replies) < want:
                    reply = reader.gets()
                    if reply is False:
                        data = await stream.read(1 << 16)
                        if not data:
                            raise rexc.ConnectionError("server closed the connection")
                        reader.feed(data)
                    else:
                        replies.append(reply)
            return replies
        except BaseException:
            # A half-read connection must never be reused.
            await conn.disconnect(nowait=True)
            raise
        finally:
            await pool.release(conn)

    def pubsub_connection(self) -> aioredis.Redis:
        """A separate client for SUBSCRIBE (its connection cannot run other commands)."""
        return self._build()

    def guard(self, action: str) -> None:
        """Every mutation passes here first; read-only refuses before anything is sent."""
        if self.read_only:
            raise ReadOnlyError(f"read-only mode: '{action}' refused (nothing was changed)")

    def audit(self, action: str, keys: list[str] | tuple[str, ...], count: int,
              ids: list[str] | tuple[str, ...] = ()) -> None:
        if self.audit_log is not None:
            self.audit_log.record(
                profile=self.settings.profile,
                server=self.settings.display_url,
                action=action,
                keys=list(keys),
                count=count,
                ids=list(ids),
            )

    async def connect(self) -> Capabilities:
        """Open the connection and probe what the server can do. Raises BackendError."""
        try:
            async with asyncio.timeout(self.settings.connect_timeout + 1):
                await self.redis.ping()
            self.capabilities = await self.probe()
        except BackendError:
            raise
        except Exception as exc:  # every failure becomes one line
            if (isinstance(exc, (rexc.TimeoutError, TimeoutError))
                    and urlsplit(self.settings.url).scheme == "rediss"):
                # A plain (non-TLS) port never answers a TLS hello: say so, not just "slow".
                raise BackendError(
                    f"TLS failure with {self.settings.display_url}: no TLS handshake within "
                    f"{self.settings.connect_timeout:g} s (is this a TLS port?)") from exc
            raise BackendError(describe_error(exc, self.settings)) from exc
        return self.capabilities

    async def probe(self) -> Capabilities:
        r = self.redis
        info = await r.info("server")
        kind, version = server_identity(info)
        notes: list[str] = []
        probe_key = "__ferrite_tui_probe__"
        async def works(*args: Any, missing: tuple[str, ...] = ("unknown command",)) -> bool:
            try:
                await r.execute_command(*args)
                return True
            except rexc.ResponseError as exc:
                text = str(exc).lower()
                return not any(m in text for m in missing) and "unknown subcommand" not in text
        lua = await works("EVAL", "return 1", 0)
        if not lua:
            notes.append("Lua is unavailable: moves use MULTI/EXEC")
        # A missing group answers NOGROUP, which proves the command exists.
        xautoclaim = await works("XAUTOCLAIM", probe_key, "g", "c", 0, "0-0", "COUNT", 1)
        if not xautoclaim:
            notes.append("XAUTOCLAIM is unavailable: claims use XPENDING + XCLAIM")
        scan_type = await works("SCAN", 0, "COUNT", 1, "TYPE", "list",
                                missing=("unknown command", "syntax", "argument"))
        lpos = await works("LPOS", probe_key, "x")
        subscribe = await self._probe_subscribe()
        if not subscribe:
            notes.append("SUBSCRIBE is refused: the Pub/Sub tail is unavailable")
        major = _major(version)
        xinfo_lag = kind in ("redis", "valkey") and major >= 7
        return Capabilities(
            server_kind=kind, version=version, lua=lua, xautoclaim=xautoclaim,
            xinfo_lag=xinfo_lag, scan_type=scan_type, subscribe=subscribe, lpos=lpos,
            notes=tuple(notes),
        )

    async def _probe_subscribe(self) -> bool:
        client = self.pubsub_connection()
        pubsub = client.pubsub()
        try:
            async with asyncio.timeout(3):
                await pubsub.subscribe("__ferrite_tui_probe__")
                msg = await pubsub.get_message(ignore_subscribe_messages=False, timeout=2)
            return bool(msg) and msg.get("type") == "subscribe"
        except Exception:
            return False
        finally:
            try:
                await pubsub.aclose()
                await client.aclose()
            except Exception:
                pass

    def note_lag_seen(self, present: bool) -> None:
        """XINFO GROUPS answers settle the lag capability better than the version guess."""
        if present != self.capabilities.xinfo_lag:
            self.capabilities = replace(self.capabilities, xinfo_lag=present)

    async def aclose(self) -> None:
        if self._redis is not None:
            try:
                await self._redis.aclose()
            except Exception:
                pass
            self._redis = None


def _pack(command: tuple) -> bytes:
    try:
        return hiredis.pack_command(command)
    except UnicodeEncodeError:
        # str keys may carry surrogateescape bytes (key_text): send the original bytes.
        return hiredis.pack_command(tuple(
            a.encode("utf-8", "surrogateescape") if isinstance(a, str) else a
            for a in command))


def server_identity(info: dict) -> tuple[str, str]:
    def text(v: Any) -> str:
        return v.decode() if isinstance(v, bytes) else str(v)
    for field, kind in (("ferrite_version", "ferrite"), ("valkey_version", "valkey")):
        if field in info:
            return kind, text(info[field])
    if "redis_version" in info:
        return "redis", text(info["redis_version"])
    return "unknown", ""


def _major(version: str) -> int:
    try:
        return int(version.split(".")[0])
    except ValueError:
        return 0
