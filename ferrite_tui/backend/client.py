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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import hiredis
import redis.asyncio as aioredis
from redis import exceptions as rexc
from redis._parsers.helpers import parse_info
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from ferrite_tui.backend.audit import AuditLog
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.models import Capabilities
from ferrite_tui.backend.servertime import Replication, ServerClock, replication_of
from ferrite_tui.config import Profile

if TYPE_CHECKING:
    from redis.asyncio.connection import AbstractConnection

    from ferrite_tui.backend.cluster import ClusterRouter


class BackendError(Exception):
    """A failure worded as one line for the screen."""


class ReadOnlyError(BackendError):
    pass


class ReplicaError(ReadOnlyError):
    """A change refused because the server is a replica (it would answer READONLY)."""


def _query(text: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl
    return parse_qsl(text)


def url_problem(url: str) -> str | None:
    """Why a URL cannot name a server (one line, with the likely fix), or None.

    Checked before anything connects, by the console and `status` alike: a URL that can
    never work is an exit with this line, not a reconnect loop."""
    parts = urlsplit(url)
    if parts.scheme in ("redis", "rediss", "unix"):
        return None
    if "://" not in url:  # "localhost:7301" parses as scheme "localhost"
        where = printable(url.rpartition("@")[2], 80)  # never echo a password
        return (f"'{where}' is not a URL: did you mean redis://{where}? "
                "(redis://, rediss:// or unix://)")
    return (f"unsupported URL scheme '{printable(parts.scheme, 20)}': "
            "use redis://, rediss:// or unix://")


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
    # Redis Cluster: None detects it on connect; True/False as named by profile or URL
    # (`?cluster=yes`). Seeds are more nodes (host:port) to learn the topology from.
    cluster: bool | None = None
    seeds: tuple[str, ...] = ()

    @property
    def display_url(self) -> str:
        return redact_url(self.url)

    @property
    def server_identity(self) -> str:
        """Which server and database this is, without credentials (keys the bulk journal)."""
        parts = urlsplit(self.url)
        if parts.scheme == "unix":
            return f"unix://{parts.path}?db={dict(_query(parts.query)).get('db', '0')}"
        host = parts.hostname or "localhost"
        host = f"[{host}]" if ":" in host else host
        try:
            port = parts.port or 6379
        except ValueError:
            port = 6379
        db = parts.path.strip("/") or dict(_query(parts.query)).get("db", "0")
        return f"{parts.scheme}://{host}:{port}/{db}"

    @classmethod
    def from_profile(cls, profile: Profile, *, url: str | None = None,
                     read_only: bool | None = None,
                     waiting: Callable[[float], None] | None = None) -> ConnectionSettings:
        """`waiting(seconds)` is called while a password_command runs (to show the wait)."""
        url = url or profile.url
        return cls(
            url=url,
            username=profile.username,
            password=resolve_password(profile, url, waiting),
            tls_ca_file=profile.tls_ca_file,
            tls_cert_file=profile.tls_cert_file,
            tls_key_file=profile.tls_key_file,
            tls_verify=profile.tls_verify,
            connect_timeout=profile.connect_timeout,
            command_timeout=profile.command_timeout,
            read_only=profile.read_only if read_only is None else (read_only or profile.read_only),
            profile=profile.name,
            cluster=profile.cluster,
            seeds=profile.seeds,
        )


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
    import selectors
    import time

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
                     waiting: Callable[[float], None] | None = None) -> str | None:
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
        return run_password_command(profile.password_command, profile.name, waiting=waiting)
    return None


#: ACL category of the commands the console sends (for "ask for +@list write").
_CATEGORIES = {
    **dict.fromkeys(("LPUSH", "RPUSH", "LREM", "LTRIM", "LSET", "LPOP", "RPOP", "LMOVE",
                     "RPOPLPUSH", "LINSERT", "LPOS", "LRANGE", "LLEN", "LINDEX", "BLPOP",
                     "BRPOP"), "list"),
    **dict.fromkeys(("ZADD", "ZREM", "ZINCRBY", "ZPOPMIN", "ZPOPMAX", "ZRANGE", "ZREVRANGE",
                     "ZRANGEBYSCORE", "ZREVRANGEBYSCORE", "ZCARD", "ZCOUNT", "ZSCORE",
                     "ZREMRANGEBYSCORE"), "sortedset"),
    **dict.fromkeys(("XADD", "XACK", "XCLAIM", "XAUTOCLAIM", "XDEL", "XGROUP", "XTRIM",
                     "XRANGE", "XREVRANGE", "XLEN", "XINFO", "XPENDING", "XREADGROUP"),
                    "stream"),
    **dict.fromkeys(("DEL", "UNLINK", "RENAME", "EXPIRE", "TYPE", "SCAN", "EXISTS"),
                    "keyspace"),
    **dict.fromkeys(("EVAL", "EVALSHA", "SCRIPT"), "scripting"),
    **dict.fromkeys(("PUBLISH", "SUBSCRIBE", "PSUBSCRIBE", "PUBSUB"), "pubsub"),
    **dict.fromkeys(("MULTI", "EXEC", "WATCH", "UNWATCH", "DISCARD"), "transaction"),
    **dict.fromkeys(("SET", "GET", "MEMORY"), "string"),
}
_WRITES = {"LPUSH", "RPUSH", "LREM", "LTRIM", "LSET", "LPOP", "RPOP", "LMOVE", "RPOPLPUSH",
           "LINSERT", "BLPOP", "BRPOP", "ZADD", "ZREM", "ZINCRBY", "ZPOPMIN", "ZPOPMAX",
           "ZREMRANGEBYSCORE", "XADD", "XACK", "XCLAIM", "XAUTOCLAIM", "XDEL", "XGROUP",
           "XTRIM", "XREADGROUP", "DEL", "UNLINK", "RENAME", "EXPIRE", "SET", "PUBLISH"}
_NOPERM = re.compile(r"no permissions to run the '([^']+)' command", re.I)
_NOPERM_USER = re.compile(r"NOPERM User (\S+) has", re.I)
#: redis-py's pipeline annotation: it quotes the whole command, user data included.
_PIPELINE_DUMP = re.compile(r"^Command # \d+ \(.*\) of pipeline caused error: ", re.S)


def server_error_text(exc: BaseException | str) -> str:
    """The server's own error line, without redis-py's pipeline dump of the command."""
    text = _PIPELINE_DUMP.sub("", str(exc).strip())
    if text.startswith("('") and text.endswith("',)"):  # redis-py wraps some in a tuple
        text = text[2:-3]
    return text.splitlines()[0] if text else type(exc).__name__


#: The line for a key or channel refusal when the keys are not known (the server's NOPERM
#: does not name them); call sites that know them say `keys_refused`.
_UNNAMED_REFUSAL = "may not touch this key or channel: ask for access to it (~pattern)"


def is_noperm(exc: BaseException | str) -> bool:
    text = server_error_text(exc)
    return "NOPERM" in text or "no permissions" in text.lower()


def is_key_refusal(exc: BaseException | str) -> bool:
    """An ACL refusal of the keys (or channels) a command names, not of the command."""
    text = server_error_text(exc)
    return (is_noperm(text) and _NOPERM.search(text) is None
            and ("key" in text.lower() or "channel" in text.lower())) \
        or _UNNAMED_REFUSAL in text


def keys_refused(who: str, keys: Sequence[str], what: str = "key") -> str:
    """'user app may not access key other:list: ...', naming the keys (or channels) a
    command used."""
    names = " or ".join(printable(k, 80) for k in keys[:3]) + (" …" if len(keys) > 3 else "")
    noun = what if len(keys) == 1 else what + "s"
    pattern = "~pattern" if what == "key" else "&pattern"
    return f"{who} may not access {noun} {names}: ask for a {what} pattern ({pattern}) " \
        "that covers it"


def permission_error(exc: BaseException | str, user: str | None = None,
                     keys: Sequence[str] = ()) -> str | None:
    """For an ACL refusal (NOPERM), one line saying who may not run what (on which keys,
    where the call site names them) and what to ask for; None for any other error."""
    text = server_error_text(exc)
    if not is_noperm(text):
        return None
    match = _NOPERM.search(text)
    named = _NOPERM_USER.search(text)
    who = f"user {user}" if user else (f"user {named.group(1)}" if named else "this user")
    on = f" on {' and '.join(printable(k, 80) for k in keys[:2])}" if keys else ""
    if not match:
        if ("key" in text.lower() or "channel" in text.lower()) and keys:
            return keys_refused(who, keys, "key" if "key" in text.lower() else "channel")
        if "key" in text.lower() or "channel" in text.lower():
            return f"{who} {_UNNAMED_REFUSAL}"
        return f"{who} is not permitted to do this: {text}"
    command = match.group(1).split("|")[0].upper()
    category = _CATEGORIES.get(command)
    if command in _WRITES:
        ask = f"+@{category} write" if category else f"+{command.lower()}"
        return f"{who} may not run {command}{on}: ask for {ask} or use --read-only"
    ask = f"+@{category} read" if category else f"+{command.lower()}"
    return f"{who} may not run {command}{on}: ask for {ask}"


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


_CLUSTER_OPTIONS = ("cluster",)


def cluster_url_option(url: str) -> bool | None:
    """`?cluster=yes|no` in the URL (None when absent)."""
    for key, value in parse_qsl(urlsplit(url).query):
        if key == "cluster":
            return value.strip().lower() in ("1", "yes", "true", "on")
    return None


def strip_cluster_options(url: str) -> str:
    """The URL without the console's own query options (redis-py would refuse them)."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in _CLUSTER_OPTIONS]
    return urlunsplit(parts._replace(query=urlencode(query)))


class RoundTripCounter:
    """Counts writes to the server: one per command, one per pipeline."""

    def __init__(self) -> None:
        self.count = 0


def _counting_class(base: type[AbstractConnection], counter: RoundTripCounter) -> type:
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
            try:
                return await fn(self, *args, **kwargs)
            except (BackendError, rexc.ResponseError) as exc:
                # The server's key refusal names no key: the keys this call was given do.
                keys = [a for a in args if isinstance(a, str)]
                if not keys or not is_key_refusal(exc):
                    raise
                user = self.client.username
                text = server_error_text(exc).lower()
                what = "channel" if "channel" in text and "key" not in text else "key"
                raise BackendError(keys_refused(f"user {user}", keys, what)) from exc

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
        # On a cluster, the router's RedisCluster (it routes each command by its keys).
        self._redis: aioredis.Redis | aioredis.RedisCluster | None = None
        # Set on connect when the server is a cluster node: routes every command per node.
        self.cluster: ClusterRouter | None = None
        # The server's clock and role, read at connect and by every poll (servertime.py).
        self.server_clock = ServerClock()
        self.replication = Replication()

    @property
    def read_only(self) -> bool:
        return self.settings.read_only

    @property
    def redis(self) -> aioredis.Redis | aioredis.RedisCluster:
        if self._redis is None:
            self._redis = self._build()
        return self._redis

    def _build(self) -> aioredis.Redis:
        kwargs = self.connection_kwargs()
        url = strip_cluster_options(self.settings.url)
        try:
            pool = aioredis.ConnectionPool.from_url(url, **kwargs)
        except TypeError:
            kwargs.pop("driver_info")
            kwargs["lib_name"] = None
            pool = aioredis.ConnectionPool.from_url(url, **kwargs)
        except ValueError as exc:
            raise BackendError(f"bad URL {redact_url(url)}: {exc}") from None
        pool.connection_class = _counting_class(pool.connection_class, self.round_trips)
        return aioredis.Redis(connection_pool=pool)

    def connection_kwargs(self) -> dict[str, Any]:
        """redis-py connection options from the settings (one server or a cluster node)."""
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
        elif (problem := url_problem(s.url)) is not None:
            raise BackendError(problem)
        return kwargs

    async def raw_pipeline(self, commands: list[tuple]) -> list[Any]:
        """Send many commands in one write and read every reply, without redis-py's
        per-command machinery (the poll sends thousands per tick; this keeps it cheap).

        Replies are raw RESP2 values (bytes, int, list, None); a command the server refused
        comes back as its ResponseError instead of raising. One round trip, whatever the
        number of commands.
        """
        if not commands:
            return []
        if self.cluster is not None:
            return await self.cluster.raw_pipeline(commands)
        try:
            packed = b"".join(map(hiredis.pack_command, commands))
        except UnicodeEncodeError:  # (see _pack: one command at a time, then)
            packed = b"".join(_pack(c) for c in commands)
        redis = self.redis
        assert isinstance(redis, aioredis.Redis)  # a cluster's router returned above
        pool = redis.connection_pool
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
        """A separate client for SUBSCRIBE (its connection cannot run other commands). On a
        cluster: to a primary that answers (PUBLISH reaches every node)."""
        if self.cluster is not None:
            return self.cluster.node_client(self.cluster.subscribe_node())._build()
        return self._build()

    def refusal(self, action: str) -> str | None:
        """Why this change may not be sent (read-only mode, a replica), or None."""
        if self.read_only:
            return f"read-only mode: '{action}' refused (nothing was changed)"
        return self.replication.refusal(action)

    def guard(self, action: str) -> None:
        """Every mutation passes here first; read-only mode and a replica refuse before
        anything is sent (the UI asks `refusal` before any dialog: the same answer)."""
        refused = self.refusal(action)
        if refused:
            raise (ReadOnlyError if self.read_only else ReplicaError)(refused)

    def server_now_ms(self) -> int:
        """Now by the server's clock (epoch ms): every due, overdue and age uses this."""
        return self.server_clock.now_ms()

    async def read_clock_and_role(self) -> None:
        """TIME and INFO replication in one round trip (at connect; the poll reads both in
        its own pipeline afterwards)."""
        sent = self.server_clock.local()
        if self.cluster is not None:
            # Per node; the role of a cluster's primaries is not a replica's refusal.
            node = self.cluster.node_client(self.cluster.default_node())
            (reply,) = await node.raw_pipeline([("TIME",)])
            self.server_clock.observe(reply, sent, self.server_clock.local())
            return
        reply, info = await self.raw_pipeline([("TIME",), ("INFO", "replication")])
        self.server_clock.observe(reply, sent, self.server_clock.local())
        self.note_info(info)

    def note_info(self, raw: Any) -> None:
        """The role from an INFO reply (raw bytes or parsed); a refused INFO keeps it."""
        if self.cluster is not None:
            return
        if isinstance(raw, bytes):
            raw = parse_info(raw.decode("utf-8", "replace"))
        if isinstance(raw, dict):
            self.replication = replication_of(raw)

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
                # A cluster named by the profile starts from its seeds when the URL's node
                # is down; otherwise INFO on the URL's node tells (and checks the login).
                await self._join_cluster()
                if self.cluster is None:
                    await self.redis.ping()
            self.capabilities = await self.probe()
            await self.read_clock_and_role()
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
        """What the server can do, and what this user may do.

        Each capability is "works", "missing" (unknown command: renamed away, or not in
        this server) or "not permitted" (NOPERM: the ACL user may not run it). In read-only
        mode only read commands are sent: COMMAND INFO tells whether EVAL and XAUTOCLAIM
        exist, ACL DRYRUN (Redis 7+) whether this user may run them."""
        # On a cluster, probe one node that answers (commands exist on all or none; a key
        # in another node's slot answers MOVED, which proves the command exists too).
        r = self.cluster.node_client(self.cluster.default_node()).redis \
            if self.cluster is not None else self.redis
        notes: list[str] = []
        denied: list[str] = []
        unknown: list[str] = []
        try:
            info = await r.info("server")
        except rexc.ResponseError as exc:
            if not is_noperm(exc):
                raise
            # A common ACL (-@dangerous) takes INFO away: the console works without it.
            info = {}
            notes.append(f"user {self.username} may not run INFO: server figures (version, "
                         "memory, clients, ops/s) are unknown (?): ask for +info")
        kind, version = server_identity(info) if info else ("unknown", "? (INFO not permitted)")
        node = self.cluster.node_client(self.cluster.default_node()) \
            if self.cluster is not None else self
        probe_key = await node._probe_key()
        if probe_key is None:
            notes.append(f"no key user {self.username} may read was found to probe with: "
                         "LPOS and XAUTOCLAIM are unknown and not used")

        async def works(name: str, *args: Any,
                        missing: tuple[str, ...] = ("unknown command",)) -> bool:
            try:
                await r.execute_command(*args)
                return True
            except rexc.ResponseError as exc:
                text = str(exc).lower()
                if is_key_refusal(exc):
                    unknown.append(name)  # the key, not the command, was refused
                    return False
                if "noperm" in text or "no permissions" in text:
                    denied.append(name)
                    return False
                return not any(m in text for m in missing) and "unknown subcommand" not in text

        # A group no application uses: NOGROUP proves the command exists, and claims nothing.
        group = "__ferrite_tui_probe__"
        if self.read_only:
            lua = await self._exists_and_permitted("EVAL", ["EVAL", "return 1", "0"], denied,
                                                   unknown)
            xautoclaim = probe_key is not None and await self._exists_and_permitted(
                "XAUTOCLAIM", ["XAUTOCLAIM", probe_key, group, "c", "0", "0-0"], denied,
                unknown)
        else:
            lua = await works("EVAL", "EVAL", "return 1", 0)
            xautoclaim = probe_key is not None and await works(
                "XAUTOCLAIM", "XAUTOCLAIM", probe_key, group, "c", 0, "0-0", "COUNT", 1)
        publish = await self._publish_permitted()
        if not lua:
            notes.append("Lua is not permitted for this user: moves use MULTI/EXEC"
                         if "EVAL" in denied else
                         "Lua: could not tell whether this user may run EVAL (ACL DRYRUN "
                         "refused): moves use MULTI/EXEC" if "EVAL" in unknown
                         else "Lua is unavailable: moves use MULTI/EXEC")
        if not xautoclaim:
            notes.append(("XAUTOCLAIM is not permitted for this user" if "XAUTOCLAIM" in denied
                          else "XAUTOCLAIM: could not tell whether this user may run it"
                          if "XAUTOCLAIM" in unknown or probe_key is None
                          else "XAUTOCLAIM is unavailable")
                         + ": claims use XPENDING + XCLAIM")
        scan_type = await works("SCAN", "SCAN", 0, "COUNT", 1, "TYPE", "list",
                                missing=("unknown command", "syntax", "argument"))
        lpos = probe_key is not None and await works("LPOS", "LPOS", probe_key, "x")
        probe_key = probe_key or ""
        # Sharded Pub/Sub (Redis 7): before it, PUBSUB answers "unknown subcommand".
        sharded_pubsub = await works("SSUBSCRIBE", "PUBSUB", "SHARDCHANNELS")
        # A missing key answers NOGROUP, which proves the form parses; before 6.2 "IDLE"
        # is read as a stream id.
        xpending_idle = await works("XPENDING IDLE", "XPENDING", probe_key, "g", "IDLE", 0,
                                    "-", "+", 1,
                                    missing=("unknown command", "syntax", "invalid stream id"))
        subscribe = await self._probe_subscribe()
        if not subscribe:
            notes.append("SUBSCRIBE is refused: the Pub/Sub tail is unavailable")
        major = _major(version)
        xinfo_lag = kind in ("redis", "valkey") and major >= 7
        return Capabilities(
            server_kind=kind, version=version, lua=lua, xautoclaim=xautoclaim,
            xinfo_lag=xinfo_lag, scan_type=scan_type, subscribe=subscribe, lpos=lpos,
            sharded_pubsub=sharded_pubsub, xpending_idle=xpending_idle,
            notes=tuple(notes), denied=tuple(denied),
            unknown=tuple(dict.fromkeys(unknown + ([] if probe_key else
                                                   ["LPOS", "XAUTOCLAIM"]))),
            info=bool(info), publish=publish, probe_key=probe_key,
        )

    @property
    def username(self) -> str:
        """The ACL user this connection logs in as (from the settings or the URL)."""
        from_url = urlsplit(self.settings.url).username
        return self.settings.username or (unquote(from_url) if from_url else "default")

    async def _probe_key(self) -> str | None:
        """A key the probe may name: the usual one where this user may read it, else one
        inside the user's key patterns (ACL GETUSER, where permitted), else a key SCAN finds
        that this user may read; None when none is found."""
        (reply,) = await self.raw_pipeline([("EXISTS", PROBE_KEY)])
        if not isinstance(reply, Exception) or not is_key_refusal(reply):
            return PROBE_KEY  # the usual case: no key patterns in the way
        (user,) = await self.raw_pipeline([("ACL", "GETUSER", self.username)])
        patterns = _key_patterns(user) if isinstance(user, list) else []
        key = await self._first_readable([k for k in map(_key_in, patterns) if k is not None])
        if key is not None:
            return key
        # One SCAN page (at connect only: SCAN is costly on some servers).
        (scan,) = await self.raw_pipeline([("SCAN", 0, "COUNT", 100)])
        if isinstance(scan, list) and len(scan) == 2 and isinstance(scan[1], list):
            return await self._first_readable([key_name(k) for k in scan[1][:100]])
        return None

    async def _first_readable(self, keys: list[str]) -> str | None:
        # EXISTS names the key the way the probes do: a refusal is of the key.
        replies = await self.raw_pipeline([("EXISTS", k) for k in keys])
        for key, reply in zip(keys, replies, strict=True):
            if not isinstance(reply, Exception) or not is_key_refusal(reply):
                return key
        return None

    async def _publish_permitted(self) -> bool | None:
        """Whether this user may PUBLISH (ACL DRYRUN, Redis 7+); None where it cannot tell
        (publishing a probe would reach other subscribers)."""
        try:
            (verdict,) = await self.raw_pipeline(
                [("ACL", "DRYRUN", self.username, "PUBLISH", PROBE_KEY, "x")])
        except (BackendError, rexc.ConnectionError, rexc.TimeoutError):
            # (the probe key's node is down, on a cluster): it cannot tell
            return None
        if isinstance(verdict, Exception):
            return None
        text = verdict.decode(errors="replace") if isinstance(verdict, bytes) else str(verdict)
        return text.upper() == "OK"

    async def _exists_and_permitted(self, name: str, dryrun: list[str],
                                    denied: list[str], unknown: list[str]) -> bool:
        """Read-only probe of a command that changes data: COMMAND INFO for whether it
        exists, ACL DRYRUN for whether this user may run it (where the server has them).
        A user who may not ask ACL DRYRUN gets "unknown" (not used), never "works"."""
        (reply,) = await self.raw_pipeline([("COMMAND", "INFO", name)])
        # One entry per name asked; nil for a command this server lacks (or renamed away).
        # Without COMMAND INFO (an error) it cannot tell: later use reports plainly.
        if isinstance(reply, list) and reply and reply[0] is None:
            return False
        (verdict,) = await self.raw_pipeline([("ACL", "DRYRUN", self.username, *dryrun)])
        if isinstance(verdict, Exception) and is_noperm(verdict):
            unknown.append(name)  # not allowed to ask: it cannot tell
            return False
        if isinstance(verdict, Exception):
            return True  # no ACL DRYRUN (Redis < 7, Ferrite): later use reports plainly
        text = verdict.decode(errors="replace") if isinstance(verdict, bytes) else str(verdict)
        if text.upper() != "OK":
            denied.append(name)
            return False
        return True

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

    async def _join_cluster(self) -> None:
        """On a cluster node (or when the profile says so), switch to per-node routing."""
        wanted = self.settings.cluster
        if wanted is None:
            wanted = cluster_url_option(self.settings.url)
        if wanted is None:
            try:
                info = await self.redis.info("cluster")
            except rexc.ResponseError as exc:
                if not is_noperm(exc):
                    raise
                # INFO refused (-@dangerous): a cluster node answers CLUSTER MYID (a
                # standalone server says cluster support is disabled).
                (myid,) = await self.raw_pipeline([("CLUSTER", "MYID")])
                info = {"cluster_enabled": 0 if isinstance(myid, Exception) else 1}
            wanted = str(info.get("cluster_enabled", "0")) == "1"
        if not wanted or self.cluster is not None:
            return
        from ferrite_tui.backend.cluster import ClusterRouter

        router = ClusterRouter(self)
        await router.start()
        seed, self._redis = self._redis, router.redis
        self.cluster = router
        if seed is not None:
            await seed.aclose()

    def for_keys(self, *keys: str) -> Client:
        """The client that holds these keys: itself on one server; on a cluster, its node's
        client (raises CrossSlotError when the keys live in different slots)."""
        if self.cluster is None:
            return self
        return self.cluster.client_for_keys(*keys)

    def note_lag_seen(self, present: bool) -> None:
        """XINFO GROUPS answers settle the lag capability better than the version guess."""
        if present != self.capabilities.xinfo_lag:
            self.capabilities = replace(self.capabilities, xinfo_lag=present)

    async def aclose(self) -> None:
        if self.cluster is not None:
            router, self.cluster = self.cluster, None
            await router.aclose()
            self._redis = None
        if self._redis is not None:
            try:
                await self._redis.aclose()
            except Exception:
                pass
            self._redis = None


#: The key the probe names first (no application uses it).
PROBE_KEY = "__ferrite_tui_probe__"


def key_name(raw: Any) -> str:
    return raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else str(raw)


def _key_patterns(user: list) -> list[str]:
    """The key patterns of an ACL GETUSER reply (RESP2 flat pairs): 'keys' is '~a* ~b*'
    (Redis 7) or a list of patterns (6.2); '%R~' / '%W~' forms (read/write) included."""
    fields = dict(zip(user[::2], user[1::2], strict=False))
    keys = fields.get(b"keys", fields.get("keys"))
    if isinstance(keys, list):
        parts = [key_name(k) for k in keys]
    elif keys:
        parts = key_name(keys).split()
    else:
        parts = []
    return [p.split("~", 1)[1] if "~" in p else p for p in parts]


def _key_in(pattern: str) -> str | None:
    """A key matching a glob pattern ('queue:*' -> 'queue:__ferrite_tui_probe__'), or None
    for a pattern that is not a plain prefix/suffix glob."""
    if any(ch in pattern for ch in "?[]\\"):
        return None
    if "*" not in pattern:
        return pattern
    return pattern.replace("*", PROBE_KEY, 1).replace("*", "")


def _pack(command: tuple) -> bytes:
    try:
        return hiredis.pack_command(command)
    except UnicodeEncodeError:
        # str keys may carry surrogateescape bytes (key_text): send the original bytes.
        # hiredis's stub declares a one-element tuple; any number of arguments is packed.
        return hiredis.pack_command(tuple(  # type: ignore[arg-type]
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
