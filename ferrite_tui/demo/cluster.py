"""A private Redis Cluster on loopback, for `demo --cluster` and the test suite.

Plain Python (no Textual). Starts N primaries (and optionally one replica each) from one
server binary with cluster mode on, splits the 16,384 slots evenly (CLUSTER ADDSLOTS),
introduces the nodes (CLUSTER MEET), attaches replicas (CLUSTER REPLICATE) and waits,
with a deadline, until every node reports ``cluster_state:ok`` and the same slot map.

    with LocalCluster(primaries=3) as cluster:
        client = redis.RedisCluster.from_url(cluster.url)

Each node is a :class:`RedisServer` (own temp dir, own port); ``stop()`` ends them all and
removes their dirs. Cluster mode needs Redis 6 or later. The cluster bus listens on
port + 10000, so nodes take ports whose bus port is free too.

With ``tls=TlsFiles(...)`` (Redis 7 built with TLS) every node also serves TLS on a port of
its own and the cluster bus speaks TLS (``tls-cluster yes``); ``tls_url`` is the seed for
``rediss://`` clients, to which the nodes announce their TLS ports. The plain port stays
open on loopback for the fixture's own setup and health checks.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

import redis

from ferrite_tui.demo.server import (
    RedisServer,
    binary_version,
    find_server_binary,
    port_is_free,
)

__all__ = ["SLOTS", "LocalCluster", "TlsFiles", "cluster_support"]

SLOTS = 16384
_HOST = "127.0.0.1"
_BUS_OFFSET = 10000


def cluster_support(binary: str | None) -> str | None:
    """None when `binary` can run a cluster, else the reason it cannot."""
    if binary is None:
        return "no redis-server binary found"
    version = binary_version(binary)
    if version is None:
        return f"cannot read the version of {binary}"
    try:
        major = int(version.split(".")[0])
    except ValueError:
        return f"unrecognised version {version} of {binary}"
    if major < 6:
        return f"{binary} is Redis {version}; cluster mode here needs 6.0 or later"
    return None


def _cluster_port(taken: set[int], port_base: int | None = None) -> int:
    """A port whose bus port (port + 10000) is free as well (and below 65536): the first
    such after `port_base` when one is given (ports assigned to the demo), else a random
    one."""
    if port_base is not None:
        port = port_base
        while port in taken or port + _BUS_OFFSET in taken:
            port += 1
        if port + _BUS_OFFSET > 65535:
            raise RuntimeError(f"port {port}: its cluster bus port {port + _BUS_OFFSET} "
                               "is above 65535 (take a base below 55536)")
        if not (port_is_free(port) and port_is_free(port + _BUS_OFFSET)):
            raise RuntimeError(f"port {port} or its cluster bus port {port + _BUS_OFFSET} "
                               "is in use")
        return port
    for _ in range(500):
        port = random.randrange(20000, 45000)
        if port in taken or port + _BUS_OFFSET in taken:
            continue
        if port_is_free(port) and port_is_free(port + _BUS_OFFSET):
            return port
    raise RuntimeError("no free port pair for a cluster node")


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for the nodes: the CA that signed them, and their certificate and key."""

    ca_file: str
    cert_file: str
    key_file: str


class LocalCluster:
    """`primaries` primaries (each with `replicas` replicas) on loopback."""

    def __init__(self, binary: str | None = None, *, primaries: int = 3, replicas: int = 0,
                 node_timeout_ms: int = 1000, extra_args: Sequence[str] = (),
                 password: str | None = None, tls: TlsFiles | None = None,
                 port_base: int | None = None) -> None:
        resolved = find_server_binary(binary)
        reason = cluster_support(resolved)
        if reason is not None:
            raise RuntimeError(reason)
        assert resolved is not None
        self.binary = resolved
        self.primary_count = primaries
        self.replica_count = replicas
        self.node_timeout_ms = node_timeout_ms
        self.extra_args = list(extra_args)
        self.password = password  # requirepass on every node (replicas use it as masterauth)
        self.tls = tls
        self.port_base = port_base  # nodes on port_base, port_base + 1, ... (else random)
        self.tls_ports: dict[int, int] = {}  # plain port -> TLS port of the same node
        self.primaries: list[RedisServer] = []
        self.replicas: list[RedisServer] = []

    @property
    def nodes(self) -> list[RedisServer]:
        return self.primaries + self.replicas

    @property
    def url(self) -> str:
        """A seed URL: the first primary (the client learns the rest from it)."""
        return self.primaries[0].url

    @property
    def tls_url(self) -> str:
        """A rediss:// seed URL (the first primary's TLS port)."""
        auth = f":{self.password}@" if self.password is not None else ""
        return f"rediss://{auth}{_HOST}:{self.tls_ports[int(self.primaries[0].port or 0)]}/0"

    @property
    def seeds(self) -> list[tuple[str, int]]:
        return [(_HOST, s.port) for s in self.primaries if s.port is not None]

    def _node(self, taken: set[int]) -> RedisServer:
        port = _cluster_port(taken, self.port_base)
        taken.update((port, port + _BUS_OFFSET))
        auth = [f'masterauth "{self.password}"'] if self.password is not None else []
        tls: list[str] = []
        if self.tls is not None:
            tls_port = _cluster_port(taken, self.port_base)
            taken.add(tls_port)
            self.tls_ports[port] = tls_port
            tls = [f"tls-port {tls_port}", f'tls-cert-file "{self.tls.cert_file}"',
                   f'tls-key-file "{self.tls.key_file}"',
                   f'tls-ca-cert-file "{self.tls.ca_file}"',
                   "tls-cluster yes", "tls-replication yes", "tls-auth-clients no",
                   # The bus would follow the TLS port (+10000): keep it where MEET says.
                   f"cluster-port {port + _BUS_OFFSET}"]
        return RedisServer(self.binary, port=port, password=self.password, extra_args=[
            *auth, *tls,
            "cluster-enabled yes",
            "cluster-config-file nodes.conf",
            f"cluster-node-timeout {self.node_timeout_ms}",
            # A replica may take over at once in tests (no data-age check).
            "cluster-replica-validity-factor 0",
            *self.extra_args,
        ])

    def start(self, timeout: float = 30.0) -> Self:
        deadline = time.monotonic() + timeout
        taken: set[int] = set()
        try:
            self.primaries = [self._node(taken) for _ in range(self.primary_count)]
            self.replicas = [self._node(taken)
                             for _ in range(self.primary_count * self.replica_count)]
            for server in self.nodes:
                server.start(timeout=max(deadline - time.monotonic(), 1.0))
            self._form(deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def _form(self, deadline: float) -> None:
        clients = {s.port: redis.Redis(host=_HOST, port=int(s.port or 0), password=self.password)
                   for s in self.nodes}
        try:
            per = SLOTS // self.primary_count
            for i, server in enumerate(self.primaries):
                lo = i * per
                hi = SLOTS - 1 if i == self.primary_count - 1 else (i + 1) * per - 1
                clients[server.port].execute_command("CLUSTER", "ADDSLOTS", *range(lo, hi + 1))
            first = clients[self.primaries[0].port]
            for server in self.nodes[1:]:
                first.execute_command("CLUSTER", "MEET", _HOST, server.port)
            ids = {s.port: clients[s.port].execute_command("CLUSTER", "MYID").decode()
                   for s in self.primaries}
            for i, replica in enumerate(self.replicas):
                primary = self.primaries[i // max(self.replica_count, 1)]
                # REPLICATE needs the replica to know the primary already (MEET gossip).
                self._wait(deadline, f"{replica.port} to learn of {primary.port}",
                           lambda r=replica, p=primary: ids[p.port].encode()
                           in clients[r.port].execute_command("CLUSTER", "NODES"))
                clients[replica.port].execute_command("CLUSTER", "REPLICATE", ids[primary.port])
            self._wait(deadline, "cluster_state:ok on every node",
                       lambda: all(self._ok(c) for c in clients.values()))
        finally:
            for c in clients.values():
                c.close()

    def _ok(self, client: redis.Redis) -> bool:
        info = client.execute_command("CLUSTER", "INFO").decode()
        if "cluster_state:ok" not in info:
            return False
        known = int(info.split("cluster_known_nodes:")[1].split()[0])
        return known == len(self.nodes)

    @staticmethod
    def _wait(deadline: float, what: str, predicate) -> None:
        last: BaseException | None = None
        while True:
            try:
                if predicate():
                    return
            except redis.RedisError as exc:
                last = exc
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster did not form: waited for {what}"
                                   + (f" (last error: {last})" if last else ""))
            time.sleep(0.05)

    def stop(self) -> None:
        errors: list[BaseException] = []
        for server in reversed(self.nodes):
            try:
                server.stop()
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
