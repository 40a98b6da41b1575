"""The connection to one server (or a cluster, routed per node), and the read-only guard
every mutation passes through.

Plain asyncio + redis.asyncio; nothing here imports Textual. The settings and error
wording live in connection.py and errors.py, the probe in probe.py, the cluster routing in
cluster.py.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import unquote, urlsplit

import hiredis
import redis.asyncio as aioredis
from redis import exceptions as rexc
from redis._parsers.helpers import parse_info
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from ferrite_tui.backend.audit import AuditLog
from ferrite_tui.backend.cluster import ClusterRouter
from ferrite_tui.backend.connection import (
    ConnectionSettings,
    RoundTripCounter,
    counting_class,
    describe_error,
)
from ferrite_tui.backend.errors import (
    BackendError,
    ReadOnlyError,
    ReplicaError,
    is_key_refusal,
    is_noperm,
    keys_refused,
    server_error_text,
)
from ferrite_tui.backend.models import Capabilities
from ferrite_tui.backend.packing import PackedCommands
from ferrite_tui.backend.probe import probe
from ferrite_tui.backend.servertime import Replication, ServerClock, replication_of
from ferrite_tui.urls import cluster_url_option, redact_url, strip_cluster_options, url_problem

#: Bytes handed to the reply parser at a time (see Client.raw_pipeline).
FEED_BYTES = 4096


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
        self.cluster: ClusterRouter[Client] | None = None
        # The server's clock and role, read at connect and by every poll (servertime.py).
        self.server_clock = ServerClock()
        self.replication = Replication()
        self._packed = PackedCommands()  # the poll's commands, packed once

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
        pool.connection_class = counting_class(pool.connection_class, self.round_trips)
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
        packed = self._packed.pack(commands)
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
                gets, add = reader.gets, replies.append  # (thousands of replies a poll)
                left = len(commands)
                data, fed = b"", 0
                while left:
                    reply = gets()
                    if reply is False:
                        if fed == len(data):
                            data, fed = await stream.read(1 << 18), 0
                            if not data:
                                raise rexc.ConnectionError("server closed the connection")
                        # A slice at a time: each time hiredis has read 1 KB of its buffer
                        # it moves the rest to the front, so a whole 256 KB read fed at
                        # once was copied over and over (a tenth of a poll's work).
                        size = min(FEED_BYTES, len(data) - fed)
                        reader.feed(data, fed, size)
                        fed += size
                    else:
                        add(reply)
                        left -= 1
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
        """What the server can do, and what this user may do (see probe.py)."""
        node = self.cluster.node_client(self.cluster.default_node()) \
            if self.cluster is not None else self
        return await probe(self, node)

    @property
    def username(self) -> str:
        """The ACL user this connection logs in as (from the settings or the URL)."""
        from_url = urlsplit(self.settings.url).username
        return self.settings.username or (unquote(from_url) if from_url else "default")

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
        router = ClusterRouter(self, self._node_client)
        await router.start()
        seed, self._redis = self._redis, router.redis
        self.cluster = router
        if seed is not None:
            await seed.aclose()

    def _node_client(self, settings: ConnectionSettings) -> Client:
        """The client of one cluster node (the router asks for one per primary)."""
        return Client(settings, self.audit_log)

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
