"""The capability probe: what the server can do, and what this user may do.

Each capability is "works", "missing" (unknown command: renamed away, or not in this
server) or "not permitted" (NOPERM: the ACL user may not run it). The probe asks the
connection for a few commands (`ProbeTarget`); it holds none of its own.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis import exceptions as rexc

from ferrite_tui.backend.errors import BackendError, is_key_refusal, is_noperm
from ferrite_tui.backend.models import Capabilities
from ferrite_tui.backend.replies import reply_text

#: The key the probe names first (no application uses it).
PROBE_KEY = "__ferrite_tui_probe__"


class ProbeTarget(Protocol):
    """What the probe asks of a connection (the client, or on a cluster one node's)."""

    @property
    def redis(self) -> Any: ...

    @property
    def read_only(self) -> bool: ...

    @property
    def username(self) -> str: ...

    async def raw_pipeline(self, commands: list[tuple]) -> list[Any]: ...

    def pubsub_connection(self) -> aioredis.Redis: ...


async def probe(client: ProbeTarget, node: ProbeTarget) -> Capabilities:
    """What the server can do, and what this user may do: `client` is the console's
    connection (on a cluster, routed), `node` the server the commands are tried on (on a
    cluster one node that answers: commands exist on all or none, and a key in another
    node's slot answers MOVED, which proves the command exists too).

    In read-only mode only read commands are sent: COMMAND INFO tells whether EVAL and
    XAUTOCLAIM exist, ACL DRYRUN (Redis 7+) whether this user may run them."""
    r = node.redis
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
        notes.append(f"user {client.username} may not run INFO: server figures (version, "
                     "memory, clients, ops/s) are unknown (?): ask for +info")
    kind, version = server_identity(info) if info else ("unknown", "? (INFO not permitted)")
    probe_key = await _probe_key(node)
    if probe_key is None:
        notes.append(f"no key user {client.username} may read was found to probe with: "
                     "LPOS and XAUTOCLAIM are unknown and not used")

    # Each command below is tried once, all in one pipeline (one round trip, not seven:
    # start-up waits for them). An error reply says whether the command exists.
    group = "__ferrite_tui_probe__"  # no application's: NOGROUP proves the command exists
    tried: dict[str, tuple[Any, ...]] = {}
    if not client.read_only:
        tried["EVAL"] = ("EVAL", "return 1", 0)
        if probe_key is not None:
            tried["XAUTOCLAIM"] = ("XAUTOCLAIM", probe_key, group, "c", 0, "0-0", "COUNT", 1)
    tried["SCAN"] = ("SCAN", 0, "COUNT", 1, "TYPE", "list")
    if probe_key is not None:
        tried["LPOS"] = ("LPOS", probe_key, "x")
    # Sharded Pub/Sub (Redis 7): before it, PUBSUB answers "unknown subcommand".
    tried["SSUBSCRIBE"] = ("PUBSUB", "SHARDCHANNELS")
    # A missing key answers NOGROUP, which proves the form parses; before 6.2 "IDLE" is
    # read as a stream id.
    tried["XPENDING IDLE"] = ("XPENDING", probe_key or "", "g", "IDLE", 0, "-", "+", 1)
    replies = dict(zip(tried, await node.raw_pipeline(list(tried.values())), strict=True))

    def works(name: str, missing: tuple[str, ...] = ("unknown command",)) -> bool:
        reply = replies[name]
        if not isinstance(reply, Exception):
            return True
        text = str(reply).lower()
        if is_key_refusal(reply):
            unknown.append(name)  # the key, not the command, was refused
            return False
        if "noperm" in text or "no permissions" in text:
            denied.append(name)
            return False
        return not any(m in text for m in missing) and "unknown subcommand" not in text

    if client.read_only:
        lua = await _exists_and_permitted(client, "EVAL", ["EVAL", "return 1", "0"], denied,
                                               unknown)
        xautoclaim = probe_key is not None and await _exists_and_permitted(client,
            "XAUTOCLAIM", ["XAUTOCLAIM", probe_key, group, "c", "0", "0-0"], denied,
            unknown)
    else:
        lua = works("EVAL")
        xautoclaim = probe_key is not None and works("XAUTOCLAIM")
    publish = await _publish_permitted(client)
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
    scan_type = works("SCAN", missing=("unknown command", "syntax", "argument"))
    lpos = probe_key is not None and works("LPOS")
    probe_key = probe_key or ""
    sharded_pubsub = works("SSUBSCRIBE")
    xpending_idle = works("XPENDING IDLE",
                          missing=("unknown command", "syntax", "invalid stream id"))
    subscribe = await _probe_subscribe(client)
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

async def _probe_key(node: ProbeTarget) -> str | None:
    """A key the probe may name: the usual one where this user may read it, else one
    inside the user's key patterns (ACL GETUSER, where permitted), else a key SCAN finds
    that this user may read; None when none is found."""
    (reply,) = await node.raw_pipeline([("EXISTS", PROBE_KEY)])
    if not isinstance(reply, Exception) or not is_key_refusal(reply):
        return PROBE_KEY  # the usual case: no key patterns in the way
    (user,) = await node.raw_pipeline([("ACL", "GETUSER", node.username)])
    patterns = _key_patterns(user) if isinstance(user, list) else []
    key = await _first_readable(node, [k for k in map(_key_in, patterns) if k is not None])
    if key is not None:
        return key
    # One SCAN page (at connect only: SCAN is costly on some servers).
    (scan,) = await node.raw_pipeline([("SCAN", 0, "COUNT", 100)])
    if isinstance(scan, list) and len(scan) == 2 and isinstance(scan[1], list):
        return await _first_readable(node, [key_name(k) for k in scan[1][:100]])
    return None

async def _first_readable(node: ProbeTarget, keys: list[str]) -> str | None:
    # EXISTS names the key the way the probes do: a refusal is of the key.
    replies = await node.raw_pipeline([("EXISTS", k) for k in keys])
    for key, reply in zip(keys, replies, strict=True):
        if not isinstance(reply, Exception) or not is_key_refusal(reply):
            return key
    return None

async def _publish_permitted(client: ProbeTarget) -> bool | None:
    """Whether this user may PUBLISH (ACL DRYRUN, Redis 7+); None where it cannot tell
    (publishing a probe would reach other subscribers)."""
    try:
        (verdict,) = await client.raw_pipeline(
            [("ACL", "DRYRUN", client.username, "PUBLISH", PROBE_KEY, "x")])
    except (BackendError, rexc.ConnectionError, rexc.TimeoutError):
        # (the probe key's node is down, on a cluster): it cannot tell
        return None
    if isinstance(verdict, Exception):
        return None
    text = verdict.decode(errors="replace") if isinstance(verdict, bytes) else str(verdict)
    return text.upper() == "OK"

async def _exists_and_permitted(client: ProbeTarget, name: str, dryrun: list[str],
                                denied: list[str], unknown: list[str]) -> bool:
    """Read-only probe of a command that changes data: COMMAND INFO for whether it
    exists, ACL DRYRUN for whether this user may run it (where the server has them).
    A user who may not ask ACL DRYRUN gets "unknown" (not used), never "works"."""
    (reply,) = await client.raw_pipeline([("COMMAND", "INFO", name)])
    # One entry per name asked; nil for a command this server lacks (or renamed away).
    # Without COMMAND INFO (an error) it cannot tell: later use reports plainly.
    if isinstance(reply, list) and reply and reply[0] is None:
        return False
    (verdict,) = await client.raw_pipeline([("ACL", "DRYRUN", client.username, *dryrun)])
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

async def _probe_subscribe(client: ProbeTarget) -> bool:
    conn = client.pubsub_connection()
    pubsub = conn.pubsub()
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
            await conn.aclose()
        except Exception:
            pass

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


def server_identity(info: dict) -> tuple[str, str]:
    for field, kind in (("ferrite_version", "ferrite"), ("valkey_version", "valkey")):
        if field in info:
            return kind, reply_text(info[field])
    if "redis_version" in info:
        return "redis", reply_text(info["redis_version"])
    return "unknown", ""


def _major(version: str) -> int:
    try:
        return int(version.split(".")[0])
    except ValueError:
        return 0
