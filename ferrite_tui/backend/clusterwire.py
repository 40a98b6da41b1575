"""What a cluster's routing reads and sends, as plain functions: the key (and slot) a
command names, redis-py's cluster client taking command names as bytes, and the nodes'
replies read (INFO merged over the primaries, CLUSTER NODES, slot ranges that changed
owner). cluster.py's router uses them.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis import exceptions as rexc
from redis.asyncio.cluster import ClusterPipeline
from redis.crc import key_slot

from ferrite_tui.backend.epoch import int_or_none

#: Commands whose key is their third word (XINFO GROUPS key, OBJECT ENCODING key ...).
SUBCOMMAND_KEYED = {"XINFO", "OBJECT", "MEMORY"}
#: Commands without a key: sent to every primary, replies merged.
KEYLESS = {"INFO", "PUBSUB", "CLUSTER", "PING", "ROLE", "DBSIZE", "TIME", "CONFIG",
            "SLOWLOG", "LASTSAVE", "COMMAND", "ECHO"}
#: INFO fields that add up over the primaries.
SUM_FIELDS = {"used_memory", "total_commands_processed", "instantaneous_ops_per_sec",
               "connected_clients", "total_connections_received", "keyspace_hits",
               "keyspace_misses", "expired_keys", "evicted_keys", "blocked_clients",
               "pubsub_channels", "pubsub_patterns", "total_net_input_bytes",
               "total_net_output_bytes"}


_KEY_INDEX: dict[Any, int] = {}  # command name (as given) -> index of its key (0: none)


def command_key(command: tuple) -> Any | None:
    """The key a command acts on, or None for a keyless command."""
    head = command[0]
    index = _KEY_INDEX.get(head)
    if index is None:
        name = (head.decode() if isinstance(head, bytes) else head).upper()
        index = 0 if name in KEYLESS else 2 if name in SUBCOMMAND_KEYED else 1
        _KEY_INDEX[head] = index
    return command[index] if index and len(command) > index else None


def slot_of(key: Any) -> int:
    if isinstance(key, str):
        key = key.encode("utf-8", "surrogateescape")
    return key_slot(key)


class _BytesName(str):
    """A command name the caller gave as bytes (it parses the raw reply itself). The cluster
    client needs a str to route it, but must not apply the response callback of the str
    name, which the plain client skips for bytes: so it equals no plain str in a lookup."""

    __slots__ = ()

    def __hash__(self) -> int:
        return hash((_BytesName, str(self)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _BytesName) and str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)


def _text_name(args: tuple) -> tuple:
    if args and isinstance(args[0], bytes):
        return (_BytesName(args[0].decode()), *args[1:])
    return args


class _ClusterPipeline(ClusterPipeline):
    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        return super().execute_command(*_text_name(args), **kwargs)


class RedisCluster(aioredis.RedisCluster):
    """redis-py's cluster client, also taking command names as bytes (the console's modules
    send b"XPENDING" and the like; the cluster client's command policies want str)."""

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        return await super().execute_command(*_text_name(args), **kwargs)

    async def initialize(self, *args: Any, **kwargs: Any) -> RedisCluster:
        """As redis-py's, but the default node (it reads COMMAND from it) is a primary that
        answers: redis-py takes the first one, which may be the one that is down."""
        if not self._initialize:
            return self
        await self.nodes_manager.initialize()
        first = self.get_default_node()
        candidates = [first, *(n for n in self.get_primaries() if n is not first)]
        last: BaseException | None = None
        for node in candidates:
            try:
                await self.commands_parser.initialize(node)
            except (rexc.ConnectionError, rexc.TimeoutError, OSError) as exc:
                last = exc
                continue
            self.set_default_node(node)
            self._initialize = False
            return self
        await self.nodes_manager.aclose()
        await self.nodes_manager.aclose("startup_nodes")
        raise last or rexc.ConnectionError("no cluster node answers")

    def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> ClusterPipeline:
        if shard_hint:
            raise rexc.RedisClusterException("shard_hint is deprecated in cluster mode")
        return _ClusterPipeline(self, transaction)  # type: ignore[abstract]


def command_name(command: tuple) -> str:
    head = command[0]
    return (head.decode() if isinstance(head, bytes) else head).upper()


def info_fields(raw: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in raw.decode(errors="replace").splitlines():
        if ":" in line and not line.startswith("#"):
            k, _, v = line.partition(":")
            out[k.strip()] = v.strip()
    return out


def merge_info(raws: list[bytes], complete: bool) -> bytes:
    """One INFO text for the cluster: additive counters summed over the primaries (left
    out when a primary did not answer, so they show as unknown); any other field only when
    every node reports the same value (version, mode), since one node's peak memory or
    uptime would pass for the cluster's. Per-node figures are in the cluster table."""
    sums: dict[str, int] = {}
    dbs: dict[str, dict[str, int]] = {}
    values: dict[str, set[str]] = {}
    order: list[str] = []
    for raw in raws:
        for field, value in info_fields(raw).items():
            if field not in values:
                values[field] = set()
                order.append(field)
            values[field].add(value)
            if field in SUM_FIELDS and int_or_none(value) is not None:
                sums[field] = sums.get(field, 0) + int(value)
            elif field.startswith("db") and field[2:].isdigit():
                db = dbs.setdefault(field, {})
                for part in value.split(","):
                    k, _, v = part.partition("=")
                    if k in ("keys", "expires") and int_or_none(v) is not None:
                        db[k] = db.get(k, 0) + int(v)
    lines = []
    for field in order:
        if field in SUM_FIELDS:
            if complete and field in sums:
                lines.append(f"{field}:{sums[field]}")
        elif field in dbs:
            if complete:
                db = dbs[field]
                lines.append(f"{field}:keys={db.get('keys', 0)},expires={db.get('expires', 0)}")
        elif len(values[field]) == 1:
            lines.append(f"{field}:{next(iter(values[field]))}")
    lines.append(f"cluster_primaries_answered:{len(raws)}")
    return ("\r\n".join(lines) + "\r\n").encode()


def parse_nodes(text: str) -> list[dict[str, Any]]:
    """CLUSTER NODES lines: id addr flags primary ping pong epoch link slots..."""
    nodes = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        address = parts[1].split("@", 1)[0].split(",", 1)[0]
        flags = tuple(f for f in parts[2].split(",") if f != "myself")
        role = "primary" if "master" in flags else "replica" if "slave" in flags else "?"
        nodes.append({
            "id": parts[0], "address": address, "flags": flags, "role": role,
            "primary_id": None if parts[3] == "-" else parts[3],
            "link": parts[7], "slots": tuple(s for s in parts[8:] if not s.startswith("[")),
        })
    # Primaries first, each followed by its replicas, by address.
    primaries = sorted((n for n in nodes if n["role"] != "replica"),
                       key=lambda n: str(n["address"]))
    ordered = []
    for p in primaries:
        ordered.append(p)
        ordered += sorted((n for n in nodes if n["primary_id"] == p["id"]),
                          key=lambda n: str(n["address"]))
    ordered += [n for n in nodes if n not in ordered]
    return ordered


def slot_changes(before: dict[int, str], after: dict[int, str]) -> list[tuple[int, int, str, str]]:
    """Contiguous slot ranges whose owner changed: (lo, hi, old, new)."""
    out: list[tuple[int, int, str, str]] = []
    for slot in sorted(set(before) | set(after)):
        old, new = before.get(slot, "?"), after.get(slot, "?")
        if old == new:
            continue
        if out and out[-1][1] == slot - 1 and out[-1][2:] == (old, new):
            out[-1] = (out[-1][0], slot, old, new)
        else:
            out.append((slot, slot, old, new))
    return out



#: Read-only commands over many keys that a cluster node takes only within one hash slot:
#: split per slot by the router and joined back (MGET: values in order; EXISTS: the sum).
MULTI_KEY_READS = {"MGET", "EXISTS"}


def split_multi_key(commands: list[tuple]) -> tuple[list[tuple], list[tuple[int, list]]] | None:
    """`commands` with each MGET / EXISTS over keys of several slots sent as one command per
    slot, and for each such command (its index in `commands`, and per key the sub-command
    at the index it is sent at); None when there is nothing to split (most polls)."""
    sent: list[tuple] | None = None
    joins: list[tuple[int, list]] = []
    for i, command in enumerate(commands):
        if len(command) < 3 or command_name(command) not in MULTI_KEY_READS:
            continue
        keys = command[1:]
        slots = [slot_of(k) for k in keys]
        if len(set(slots)) < 2:
            continue
        if sent is None:
            sent = list(commands)
        by_slot: dict[int, list] = {}
        for key, slot in zip(keys, slots):
            by_slot.setdefault(slot, []).append(key)
        at: dict[int, int] = {}
        # The first slot's command takes the original's place; the others go at the end.
        for n, (slot, slot_keys) in enumerate(by_slot.items()):
            part = (command[0], *slot_keys)
            if n == 0:
                sent[i] = part
                at[slot] = i
            else:
                at[slot] = len(sent)
                sent.append(part)
        joins.append((i, [at[slot] for slot in slots]))
    return None if sent is None else (sent, joins)


def join_multi_key(commands: list[tuple], replies: list[Any],
                   joins: list[tuple[int, list]]) -> list[Any]:
    """The replies to `commands` from those to `split_multi_key`'s: a split command's reply
    is the first error among its parts (so its figure is "?", never a partial count), else
    MGET's values in key order or EXISTS' sum."""
    out = replies[:len(commands)]
    for i, parts in joins:
        got = [replies[p] for p in dict.fromkeys(parts)]
        error = next((r for r in got if isinstance(r, Exception)), None)
        if error is not None:
            out[i] = error
        elif command_name(commands[i]) == "EXISTS":
            out[i] = sum(r for r in got if isinstance(r, int))
        elif not all(isinstance(r, list) for r in got):
            out[i] = rexc.ResponseError("unexpected reply to MGET")
        else:  # MGET: each key's value, taken from its slot's reply in turn
            taken = {p: iter(replies[p]) for p in dict.fromkeys(parts)}
            out[i] = [next(taken[p], None) for p in parts]
    return out
