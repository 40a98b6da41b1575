"""Redis Cluster (and Ferrite's cluster mode): per-node routing for the console.

redis-py's asyncio ``RedisCluster`` owns the topology: the slot map, MOVED/ASK redirects for
ordinary commands, and refreshes. The console's own hot paths (the poll and discovery send
thousands of commands per tick through ``Client.raw_pipeline``) are routed here with that
same slot map, one pipeline per primary, all primaries at once:

- a keyed command goes to the primary that owns its key's slot;
- a command without a key (INFO, PUBSUB ...) goes to every primary and the replies are
  merged (INFO sums the additive counters, PUBSUB CHANNELS is the union, NUMSUB/NUMPAT sum);
  with INFO the router also asks each node CLUSTER INFO and CLUSTER NODES in the same
  pipeline, which feeds the cluster table (`view()`) at no extra round trip;
- ``SCAN`` alone in a call scans every primary at once under one composite cursor, so a
  SCAN loop written for one server walks the whole cluster;
- an MGET / EXISTS over keys of several slots (a library's job strings, locks) is sent as
  one command per slot and its replies joined, so it is exact, not a CROSSSLOT error.

Round trips per call = number of primaries (sent concurrently: wall time about one).

Failures are per node: a primary that does not answer turns its commands' replies into
``NodeUnreachable`` errors (the poll shows them on the queues it holds) and marks the map
stale; the next call refreshes it, so once a replica is promoted the queues come back, and
the change ("slots 0-5460: 127.0.0.1:7000 -> 127.0.0.1:7003") is recorded in `events`.
A MOVED reply refreshes the map and resends the command once to its new owner. A node that
fails mid-SCAN fails the pass with its name (discovery reports it; nothing is skipped
silently).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis import exceptions as rexc

from ferrite_tui.backend.audit import AuditLog
from ferrite_tui.backend.clusterwire import (
    RedisCluster,
    command_key,
    command_name,
    info_fields,
    join_multi_key,
    merge_info,
    parse_nodes,
    slot_changes,
    slot_of,
    split_multi_key,
)
from ferrite_tui.backend.connection import (
    ConnectionSettings,
    RoundTripCounter,
    describe_error,
    is_connection_failure,
)
from ferrite_tui.backend.envelopes import key_text
from ferrite_tui.backend.epoch import int_or_none
from ferrite_tui.backend.errors import BackendError
from ferrite_tui.backend.models import Capabilities, ClusterNodeStats, ClusterView
from ferrite_tui.backend.servertime import ServerClock
from ferrite_tui.urls import strip_cluster_options

EVENTS_KEPT = 20


class CrossSlotError(BackendError):
    """Keys in different hash slots: no single transaction can hold them."""


class NodeUnreachable(rexc.ConnectionError):
    """The reply of a command whose node did not answer (one line for the screen)."""


class NodeClient(Protocol):
    """What the router needs of the console's client and of each node's (client.py's
    `Client`; the router builds node clients through the factory it is given)."""

    settings: ConnectionSettings
    audit_log: AuditLog | None
    round_trips: RoundTripCounter
    server_clock: ServerClock
    capabilities: Capabilities

    def connection_kwargs(self) -> dict[str, Any]: ...

    async def raw_pipeline(self, commands: list[tuple]) -> list[Any]: ...

    async def aclose(self) -> None: ...


C = TypeVar("C", bound=NodeClient)


class ClusterRouter(Generic[C]):
    """One connected cluster: redis-py's client for routing, one raw client per primary
    (made by `node_client_factory` from that node's settings)."""

    def __init__(self, client: C, node_client_factory: Callable[[ConnectionSettings], C]) -> None:
        self.client = client
        self._new_node_client = node_client_factory
        self.redis = self._build()
        self._nodes: dict[str, C] = {}
        self.events: deque[tuple[float, str]] = deque(maxlen=EVENTS_KEPT)
        self.node_info: dict[str, dict[str, str]] = {}
        self.cluster_info: dict[str, str] = {}
        self.cluster_nodes = ""
        self.unreachable: dict[str, str] = {}  # node -> why, from the last call
        # Nodes asked for INFO in the last poll, and those that answered it: only their
        # figures are shown (a demoted primary's or a dead node's earlier ones are not now).
        self._info_asked: set[str] = set()
        self._info_answered: set[str] = set()
        self._nodes_seen: tuple = ()  # (id, address, role, flags) per node, last poll
        self._ops: dict[str, tuple[float, int]] = {}
        self._ops_rate: dict[str, float] = {}
        self._stale = False
        self._scans: dict[bytes, dict[str, bytes]] = {}
        self._scan_ids = itertools.count(1)
        # The poll routes thousands of keys per tick: slots are cached per key (a key's slot
        # never changes) and owners per slot (rebuilt whenever redis-py reloads its map).
        # Sharded channels (Redis 7: SSUBSCRIBE) per node, and their subscriber counts; None
        # once a node says PUBSUB SHARDCHANNELS is unknown.
        self.shard_channels: dict[str, list[bytes]] | None = {}
        self.shard_numsub: dict[bytes, int] = {}
        self._key_slots: dict[Any, int] = {}
        self._owners: list[str | None] = []
        self._owners_of: Any = None

    # -- setup -----------------------------------------------------------------------

    def _build(self) -> aioredis.RedisCluster:
        s = self.client.settings
        kwargs = self.client.connection_kwargs()
        kwargs.pop("retry_on_timeout", None)
        url = strip_cluster_options(s.url)
        if urlsplit(url).scheme == "unix":
            raise BackendError("a cluster is reached over TCP: use redis:// or rediss://")
        # The console keeps working on the slots that are served while others fail over.
        kwargs["require_full_coverage"] = False
        try:
            return RedisCluster.from_url(url, **kwargs)
        except TypeError:
            kwargs.pop("driver_info", None)
            kwargs["lib_name"] = None
            return RedisCluster.from_url(url, **kwargs)
        except ValueError as exc:
            raise BackendError(f"bad cluster URL: {exc}") from None

    async def start(self) -> None:
        """Learn the topology from the URL's node, else from the profile's seeds."""
        errors = []
        for seed in (None, *self.client.settings.seeds):
            if seed is not None:
                host, _, port = seed.rpartition(":")
                self.redis = self._seed_client(host or "127.0.0.1", int(port or 6379))
            try:
                await self.redis.initialize()
                return
            except Exception as exc:
                errors.append(exc)
                await self._close_quietly(self.redis)
        raise errors[-1]

    def _seed_client(self, host: str, port: int) -> aioredis.RedisCluster:
        parts = urlsplit(strip_cluster_options(self.client.settings.url))
        netloc = parts.netloc.rpartition("@")
        auth = netloc[0] + "@" if netloc[1] else ""
        url = urlunsplit(parts._replace(netloc=f"{auth}{host}:{port}"))
        self.client.settings = replace(self.client.settings, url=url)
        return self._build()

    def node_client(self, name: str) -> C:
        """The raw-pipeline client of one node (created on first use, kept)."""
        nc = self._nodes.get(name)
        if nc is None:
            host, _, port = name.rpartition(":")
            parts = urlsplit(strip_cluster_options(self.client.settings.url))
            netloc = parts.netloc.rpartition("@")
            auth = netloc[0] + "@" if netloc[1] else ""
            url = urlunsplit(parts._replace(netloc=f"{auth}{host}:{port}"))
            nc = self._new_node_client(
                replace(self.client.settings, url=url, cluster=False, seeds=()))
            nc.round_trips = self.client.round_trips  # one count for the whole cluster
            nc.server_clock = self.client.server_clock  # one clock: the first node's TIME
            self._nodes[name] = nc
        nc.capabilities = self.client.capabilities
        return nc

    def primaries(self) -> list[str]:
        return sorted(n.name for n in self.redis.get_primaries())

    def default_node(self) -> str:
        """redis-py's default node: a primary that answered when the map was loaded."""
        node = self.redis.get_default_node()
        return node.name if node is not None else self.primaries()[0]

    def subscribe_node(self) -> str:
        """A primary to hold subscriptions: the default node unless it has stopped
        answering since, else the first primary not known to be unreachable."""
        first = self.default_node()
        if first not in self.unreachable:
            return first
        names = self.primaries()
        live = [n for n in names if n not in self.unreachable]
        return (live or names)[0]

    def node_of(self, key: Any) -> str:
        """Name (host:port) of the primary serving `key`'s slot, from redis-py's slot map."""
        cache = self.redis.nodes_manager.slots_cache
        if cache is not self._owners_of:
            self._owners = [None] * 16384
            for slot, nodes in cache.items():
                if nodes:
                    self._owners[slot] = nodes[0].name
            self._owners_of = cache
        cached = self._key_slots.get(key)
        if cached is None:
            if len(self._key_slots) > 500_000:
                self._key_slots.clear()
            cached = self._key_slots[key] = slot_of(key)
        slot = cached
        owner = self._owners[slot]
        if owner is None:
            raise rexc.SlotNotCoveredError(f'slot {slot} is not covered by the cluster')
        return owner

    def client_for_keys(self, *keys: Any) -> C:
        slots = {slot_of(k) for k in keys if k is not None}
        if len(slots) > 1:
            raise CrossSlotError(
                "these keys live in different hash slots: " + ", ".join(map(str, keys)))
        key = next(k for k in keys if k is not None)
        return self.node_client(self.node_of(key))

    def note(self, text: str) -> None:
        self.events.append((self.client.server_clock.now_s(), text))  # as every time in status

    # -- topology ---------------------------------------------------------------------

    def _slot_owners(self) -> dict[int, str]:
        cache = self.redis.nodes_manager.slots_cache
        return {slot: nodes[0].name for slot, nodes in cache.items() if nodes}

    async def refresh(self) -> None:
        """Reload the slot map; record which slot ranges changed hands."""
        before = self._slot_owners()
        try:
            await self.redis.nodes_manager.initialize()
        except Exception as exc:
            self.note(f"topology refresh failed: {describe_error(exc)}")
            return
        self._stale = False
        after = self._slot_owners()
        for lo, hi, old, new in slot_changes(before, after):
            why = " (failover)" if old in self.unreachable else ""
            self.note(f"slots {lo}-{hi}: {old} -> {new}{why}")
        for name in list(self._nodes):
            if name not in {n.name for n in self.redis.get_nodes()}:
                await self._nodes.pop(name).aclose()

    # -- the raw pipeline -------------------------------------------------------------

    async def raw_pipeline(self, commands: list[tuple]) -> list[Any]:
        if len(commands) == 1 and command_name(commands[0]) == "SCAN":
            return [await self._scan(commands[0])]
        split = split_multi_key(commands)  # a library's MGET of job strings, say
        if split is None:
            return await self._route(commands)
        sent, joins = split
        return join_multi_key(commands, await self._route(sent), joins)

    async def _route(self, commands: list[tuple]) -> list[Any]:
        if self._stale:
            await self.refresh()
        replies: list[Any] = [None] * len(commands)
        keyless: list[int] = []
        per_node: dict[str, list[tuple[int | str, tuple]]] = {}
        node_of = self.node_of
        for i, command in enumerate(commands):
            key = command_key(command)
            if key is None:
                keyless.append(i)
                continue
            try:
                name = node_of(key)
            except rexc.RedisClusterException as exc:  # slot not served right now
                replies[i] = rexc.ResponseError(f"CLUSTERDOWN {exc}")
                continue
            batch = per_node.get(name)
            if batch is None:
                batch = per_node[name] = []
            batch.append((i, command))
        primaries = self.primaries()
        wants_view = any(command_name(commands[i]) == "INFO" for i in keyless)
        if wants_view and any(len(commands[i]) == 1 for i in keyless
                              if command_name(commands[i]) == "INFO"):
            # Every other node the cluster lists and does not mark failed (replicas, a
            # demoted primary, a node back after a crash) answers INFO too, in a pipeline
            # of its own sent at the same time: its figures are always this poll's.
            for other in self._other_live_nodes(primaries):
                per_node[other] = [("node-info", ("INFO",))]
            self._info_asked = set(per_node)
            self._info_answered = set()
        for name in primaries:
            batch = per_node.setdefault(name, [])
            batch += [(i, commands[i]) for i in keyless]
            if wants_view:
                batch += [("cluster-info", ("CLUSTER", "INFO")),
                          ("cluster-nodes", ("CLUSTER", "NODES"))]
                if self.shard_channels is not None:
                    # Counts for the channels seen last poll (a new one shows "?" once).
                    known = self.shard_channels.get(name, [])
                    batch += [("shard-channels", ("PUBSUB", "SHARDCHANNELS")),
                              ("shard-numsub", ("PUBSUB", "SHARDNUMSUB", *known[:1000]))]
        results = await self._send(per_node)
        if results and all(isinstance(r, BaseException) for r in results.values()):
            raise next(iter(results.values()))
        fanned: dict[int, list[tuple[str, Any]]] = {i: [] for i in keyless}
        moved: list[int] = []
        views: dict[str, dict[str, Any]] = {}
        for name, result in results.items():
            for (tag, _command), reply in zip(per_node[name], _expand(result, per_node[name])):
                if isinstance(tag, str):
                    views.setdefault(name, {})[tag] = reply
                elif tag in fanned:
                    fanned[tag].append((name, reply))
                else:
                    replies[tag] = reply
                    if isinstance(reply, rexc.ResponseError) and str(reply).startswith("MOVED"):
                        moved.append(tag)
        if moved:
            await self._resend(commands, moved, replies)
        for i, by_node in fanned.items():
            replies[i] = self._merge(commands[i], by_node, len(primaries))
        if wants_view:
            self._read_views(views)
        return replies

    async def _send(self, per_node: dict[str, list[tuple[Any, tuple]]]) -> dict[str, Any]:
        names = [n for n, batch in per_node.items() if batch]

        async def one(name: str) -> Any:
            return await self.node_client(name).raw_pipeline([c for _, c in per_node[name]])

        out = await asyncio.gather(*(one(n) for n in names), return_exceptions=True)
        results: dict[str, Any] = {}
        for name, result in zip(names, out):
            if isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result  # cancellation
            if isinstance(result, Exception):
                if not is_connection_failure(result):
                    raise result
                why = describe_error(result, self.node_client(name).settings)
                if name not in self.unreachable:
                    self.note(f"node {name} unreachable: {why}")
                self.unreachable[name] = why
                self._stale = True
                result = NodeUnreachable(f"node {name} unreachable ({why})")
            elif name in self.unreachable:
                self.unreachable.pop(name)
                self.note(f"node {name} answers again")
            results[name] = result
        return results

    async def _resend(self, commands: list[tuple], moved: list[int], replies: list[Any]) -> None:
        """MOVED: the slot changed owner (failover, resharding). Refresh, send once more."""
        self.note(f"{len(moved)} command(s) redirected (MOVED): slot map refreshed")
        await self.refresh()
        per_node: dict[str, list[tuple[Any, tuple]]] = {}
        for i in moved:
            try:
                name = self.node_of(command_key(commands[i]))
            except rexc.RedisClusterException:
                continue  # not served yet: the MOVED reply stands, the next poll retries
            per_node.setdefault(name, []).append((i, commands[i]))
        results = await self._send(per_node)
        for name, result in results.items():
            for (i, _), reply in zip(per_node[name], _expand(result, per_node[name])):
                replies[i] = reply

    def _merge(self, command: tuple, by_node: list[tuple[str, Any]], primaries: int) -> Any:
        ok = [(n, r) for n, r in by_node if not isinstance(r, Exception)]
        if not ok:
            return by_node[0][1] if by_node else rexc.ResponseError("no node answered")
        name = command_name(command)
        sub = command_name(command[1:]) if len(command) > 1 else ""
        complete = len(ok) == primaries
        if name == "INFO":
            if len(command) == 1:  # the whole INFO (not a section such as commandstats)
                for node, raw in ok:
                    self.record_info(node, raw)
            return merge_info([r for _, r in ok], complete)
        if name == "PUBSUB" and sub in ("CHANNELS", "SHARDCHANNELS"):
            return list(dict.fromkeys(c for _, r in ok for c in r))
        if name == "PUBSUB" and sub == "NUMPAT":
            return sum(int(r) for _, r in ok) if complete else None
        if name == "PUBSUB" and sub in ("NUMSUB", "SHARDNUMSUB"):
            counts: dict[Any, int] = {}
            for _, r in ok:
                for channel, n in zip(r[::2], r[1::2]):
                    counts[channel] = counts.get(channel, 0) + int(n)
            return [x for pair in counts.items() for x in pair]
        return ok[0][1]

    # -- the cluster table ----------------------------------------------------------------

    def _read_views(self, views: dict[str, dict[str, Any]]) -> None:
        """CLUSTER INFO / NODES as the first node (by address) that answered sees them."""
        for name, got in views.items():
            if isinstance(got.get("node-info"), bytes):
                self.record_info(name, got["node-info"])
        answered = {name: got for name, got in views.items()
                    if isinstance(got.get("cluster-info"), bytes)}
        if not answered:
            return
        first = answered[min(answered)]
        self.cluster_info = info_fields(first["cluster-info"])
        if isinstance(first.get("cluster-nodes"), bytes):
            self.cluster_nodes = first["cluster-nodes"].decode(errors="replace")
            seen = tuple((n["id"], n["address"], n["role"], n["flags"])
                         for n in parse_nodes(self.cluster_nodes))
            if self._nodes_seen and seen != self._nodes_seen:
                self._stale = True  # roles or members changed: reload the slot map next
            self._nodes_seen = seen
        if self.shard_channels is None:
            return
        channels: dict[str, list[bytes]] = {}
        counts: dict[bytes, int] = {}
        for name, got in views.items():
            listed, numsub = got.get("shard-channels"), got.get("shard-numsub")
            if isinstance(listed, rexc.ResponseError) and "unknown" in str(listed).lower():
                self.shard_channels = None  # before Redis 7: no sharded Pub/Sub
                return
            if isinstance(listed, list):
                channels[name] = sorted(listed)
            if isinstance(numsub, list):
                counts.update((c, int(n)) for c, n in zip(numsub[::2], numsub[1::2]))
        self.shard_channels = channels
        self.shard_numsub = counts

    def _other_live_nodes(self, primaries: list[str]) -> list[str]:
        """Nodes of the last CLUSTER NODES that are not primaries of the slot map and that
        the cluster does not mark failed (a failed one is not asked: a dead host would hold
        every poll for its connect timeout)."""
        out = []
        for n in parse_nodes(self.cluster_nodes):
            address = n["address"]
            flags = set(n["flags"])
            if address in primaries or not address or address.startswith(":"):
                continue
            if flags & {"fail", "noaddr", "handshake"}:
                continue
            out.append(address)
        return out

    def record_info(self, name: str, raw: bytes) -> None:
        info = info_fields(raw)
        self.node_info[name] = info
        self._info_answered.add(name)
        total = int_or_none(info.get("total_commands_processed"))
        now = time.monotonic()
        if "instantaneous_ops_per_sec" in info:
            self._ops_rate[name] = float(info["instantaneous_ops_per_sec"])
        elif total is not None:
            last = self._ops.get(name)
            if last is not None and total >= last[1] and now > last[0]:
                self._ops_rate[name] = (total - last[1]) / (now - last[0])
            self._ops[name] = (now, total)

    def view(self) -> ClusterView:
        """The cluster as the last poll saw it: nodes, roles, slots, state, events."""
        nodes = parse_nodes(self.cluster_nodes)
        offsets: dict[str, int] = {}
        current = {name: info for name, info in self.node_info.items()
                   if name in self._info_answered}
        for name, info in current.items():
            offset = int_or_none(info.get("master_repl_offset"))
            if offset is not None:
                offsets[name] = offset
            for field, value in info.items():
                if field.startswith("slave") and "," in value:
                    parts = dict(p.split("=", 1) for p in value.split(",") if "=" in p)
                    if "offset" in parts and "ip" in parts:
                        offsets.setdefault(f"{parts['ip']}:{parts.get('port')}",
                                           int(parts["offset"]))
        stats = []
        for n in nodes:
            # Figures only from this poll's answer: a node that did not answer (or was not
            # asked, being marked failed) keeps none, since earlier ones would pass for now.
            address = n["address"]
            live = address in current
            info = current.get(address, {})
            error = None
            if not live:
                error = self.unreachable.get(address) if (
                    address in self._info_asked or "fail" in n["flags"]) else None
                if error is None and "fail" in n["flags"]:
                    error = "marked failed by the cluster"
            stats.append(ClusterNodeStats(
                node_id=n["id"], address=address, role=n["role"],
                primary_id=n["primary_id"], slots=n["slots"], flags=n["flags"],
                link=n["link"], used_memory=int_or_none(info.get("used_memory")),
                ops_per_sec=self._ops_rate.get(address) if live else None,
                repl_offset=offsets.get(address) if live or error is None else None,
                error=error,
            ))
        failing = [s for s in stats if s.failing]
        state = self.cluster_info.get("cluster_state", "?")
        failover = None
        if failing:
            # Still holding slots: they wait for a replica to take over. Without: done.
            waiting = [s.address for s in failing if s.slots]
            replaced = [s.address for s in failing if not s.slots]
            failover = "; ".join(
                [*(["failover in progress: " + ", ".join(waiting) + " failing"]
                   if waiting else []),
                 *([", ".join(replaced) + " failed (its slots are served by others)"]
                   if replaced else [])])
        elif self.unreachable:
            failover = "unreachable: " + ", ".join(sorted(self.unreachable))
        owners = tuple(sorted(
            (lo, hi, s.address) for s in stats if s.role == "primary"
            for lo, hi in s.slot_ranges()))
        shard = tuple(
            (key_text(c), self.shard_numsub.get(c), node)
            for node, chans in sorted((self.shard_channels or {}).items()) for c in chans)
        return ClusterView(state=state, nodes=tuple(stats), failover=failover,
                           events=tuple(self.events), slot_owners=owners,
                           shard_channels=shard if self.shard_channels is not None else None)

    # -- SCAN over every primary ------------------------------------------------------------

    async def _scan(self, command: tuple) -> Any:
        cursor, rest = command[1], tuple(command[2:])
        if cursor in (0, "0", b"0"):
            if self._stale:
                await self.refresh()
            state = {name: b"0" for name in self.primaries()}
        else:
            token = cursor if isinstance(cursor, bytes) else str(cursor).encode()
            known = self._scans.pop(token, None)
            if known is None:
                raise BackendError("cluster SCAN cursor unknown (the pass was restarted)")
            state = known
        names = list(state)
        out = await asyncio.gather(
            *(self.node_client(n).raw_pipeline([("SCAN", state[n], *rest)]) for n in names),
            return_exceptions=True)
        keys: list[bytes] = []
        following: dict[str, bytes] = {}
        for name, result in zip(names, out):
            reply = result[0] if isinstance(result, list) else result
            if isinstance(reply, BaseException):
                if not isinstance(reply, Exception):
                    raise reply
                self._stale = True
                self.note(f"node {name} failed mid-scan: {describe_error(reply)}")
                raise BackendError(
                    f"node {name} failed mid-scan ({describe_error(reply)}): "
                    "this discovery pass is incomplete") from reply
            next_cursor, batch = reply
            keys.extend(batch)
            if next_cursor not in (b"0", 0):
                following[name] = next_cursor
        if not following:
            return [b"0", keys]
        token = b"cluster-%d" % next(self._scan_ids)
        self._scans[token] = following
        return [token, keys]

    async def aclose(self) -> None:
        for nc in self._nodes.values():
            await nc.aclose()
        self._nodes.clear()
        await self._close_quietly(self.redis)

    @staticmethod
    async def _close_quietly(rc: aioredis.RedisCluster) -> None:
        with contextlib.suppress(Exception):  # closing a half-open client
            await rc.aclose()


# -- helpers ---------------------------------------------------------------------------------

def _expand(result: Any, batch: list) -> list[Any]:
    """A node's replies, or its failure repeated for every command it was sent."""
    if isinstance(result, Exception):
        return [result] * len(batch)
    return result
