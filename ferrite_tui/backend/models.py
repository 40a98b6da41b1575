"""Plain, frozen data the backend hands to the UI. No I/O here."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from redis.crc import key_slot

from ferrite_tui.backend.libraries.model import LibraryQueue, Means, StateCount, add_to_totals
from ferrite_tui.backend.servertime import Replication


class QueueKind(enum.StrEnum):
    WORK = "work"
    RELIABLE = "reliable"
    PRIORITY = "priority"
    DELAYED = "delayed"
    DLQ = "dlq"
    STREAM = "stream"

    @property
    def label(self) -> str:
        return _KIND_LABELS[self]


_KIND_LABELS = {
    QueueKind.WORK: "work",
    QueueKind.RELIABLE: "reliable",
    QueueKind.PRIORITY: "priority",
    QueueKind.DELAYED: "delayed",
    QueueKind.DLQ: "dead letters",
    QueueKind.STREAM: "stream",
}


@dataclass(frozen=True, slots=True)
class QueueRef:
    """One logical queue and the keys it is made of.

    `key` is the main key (the list, sorted set or stream). Companion keys are set only for
    the kinds that have them: a reliable queue's processing list, a delayed queue's ready list,
    a dead-letter queue's target queue.
    """

    kind: QueueKind
    key: str
    processing_key: str | None = None
    ready_key: str | None = None
    target_key: str | None = None
    declared: bool = False  # from a [[queues]] entry rather than found by discovery
    # A queue library's queue (RQ, Celery, ...): its states and their keys. `key` is then
    # the key of its first pending state and `kind` that key's panel kind.
    library: LibraryQueue | None = None
    # Found by what the keys hold (see evidence): why this kind, in one line.
    evidence: str | None = field(default=None, compare=False)
    score_unit: str | None = None  # delayed: "s" when due times are epoch seconds (else ms)
    # Not found by this rescan but seen before on this server (see remembered): when.
    last_seen: float | None = field(default=None, compare=False)
    #: Stable identity used as a row key in every table (set once: a poll reads it
    #: thousands of times).
    ident: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ident", f"{self.kind.value}:{self.key}")

    @property
    def name(self) -> str:
        """Short human name: the seed's NAME part where the layout has one."""
        if self.library is not None:
            return self.library.name
        key = self.key
        if self.kind is QueueKind.DELAYED and key.endswith(":scheduled"):
            key = key[: -len(":scheduled")]
        if key.startswith("queue:") and self.kind in (QueueKind.RELIABLE, QueueKind.DELAYED):
            key = key[len("queue:"):]
        return key

    @property
    def keys(self) -> tuple[str, ...]:
        if self.library is not None:
            return self.library.keys
        return tuple(
            k for k in (self.key, self.processing_key, self.ready_key) if k is not None
        )


def library_ref(queue: LibraryQueue) -> QueueRef:
    """A library queue as a QueueRef whose kind is its first pending key's panel kind, so
    the existing panels list and page it; the poll counts every state."""
    pending = queue.pending
    if pending.type == "stream":
        kind = QueueKind.STREAM
    elif pending.type == "zset":
        kind = QueueKind.DELAYED if pending.means is Means.DUE else QueueKind.PRIORITY
    else:
        kind = QueueKind.WORK
    return QueueRef(kind, pending.key, library=queue)


@dataclass(frozen=True, slots=True)
class ConsumerHealth:
    """One consumer of a group, from every pending entry it holds (bounded scan)."""

    name: str
    pending: int  # entries it holds (from the scan; a lower bound when the scan was cut)
    oldest_idle_ms: int | None  # the longest-idle entry it holds
    newest_idle_ms: int | None  # the entry it touched last: dead when even this is old
    dead: bool = False  # holds entries, none of which moved for the dead-consumer threshold


@dataclass(frozen=True, slots=True)
class GroupStats:
    name: str
    consumers: int
    pending: int
    last_delivered_id: str
    lag: int | None  # None: the server does not report it (Ferrite, Redis < 7)
    entries_read: int | None = None
    oldest_pending_id: str | None = None
    # From all pending entries (bounded; `scan_complete` False: more were pending).
    idle_count: int | None = None  # entries idle at least the idle threshold
    oldest_idle_ms: int | None = None  # the longest-idle pending entry
    holders: tuple[ConsumerHealth, ...] = ()  # consumers holding entries, by name
    scan_complete: bool = True
    read_rate: float | None = None  # entries delivered to this group per second
    alerts: tuple[str, ...] = ()

    @property
    def dead_consumers(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.holders if c.dead)


@dataclass(frozen=True, slots=True)
class QueueStats:
    """What one poll learned about one queue."""

    ref: QueueRef
    depth: int = 0
    processing: int | None = None  # reliable: processing list depth
    ready: int | None = None  # delayed: ready list depth
    overdue: int | None = None  # delayed: scheduled jobs due at or before now
    oldest_ms: int | None = None  # age of the oldest job where the envelope carries a time
    groups: tuple[GroupStats, ...] = ()
    pending: int | None = None  # stream: sum of group pending
    last_id: str | None = None  # stream: last generated id
    in_rate: float | None = None
    out_rate: float | None = None
    net_rate: float | None = None
    error: str | None = None  # one line: wrong type, vanished key, ...
    alerts: tuple[str, ...] = ()
    states: tuple[StateCount, ...] = ()  # library queues: the count of every state key
    # How far the in/out figures can be trusted: a lower bound ("≥") where some moves
    # could not be seen; `rate_note` says how they were measured, or why they are "?".
    in_lower: bool = False
    out_lower: bool = False
    rate_note: str | None = None
    producer_end: str | None = None  # lists: "head" / "tail", as detected between polls
    consumer_end: str | None = None
    oldest_sampled: bool = False  # oldest_ms from a bounded sample (sorted sets by priority)
    stale: int | None = None  # reliable: processing jobs older than the visibility timeout
    stale_lower: bool = False  # the processing list was longer than the bounded read
    idle_pending: int | None = None  # stream: pending entries idle past the threshold
    capped: bool = False  # stream: trimmed as written (MAXLEN): its length is no backlog

    @property
    def in_progress(self) -> int | None:
        """Jobs taken but not finished: a processing list, or a stream's pending entries."""
        return self.processing if self.ref.kind is not QueueKind.STREAM else self.pending

    @property
    def severity(self) -> int:
        if self.error:
            return 1
        return 2 if self.alerts else 0


@dataclass(frozen=True, slots=True)
class Capabilities:
    server_kind: str = "unknown"  # redis / valkey / ferrite / unknown
    version: str = ""
    lua: bool = False
    xautoclaim: bool = False
    xinfo_lag: bool = False
    scan_type: bool = False
    subscribe: bool = False
    lpos: bool = False
    sharded_pubsub: bool = False  # SSUBSCRIBE / SPUBLISH (Redis 7+)
    xpending_idle: bool = False  # XPENDING ... IDLE (Redis 6.2+)
    notes: tuple[str, ...] = ()
    denied: tuple[str, ...] = ()  # probed commands this ACL user may not run (NOPERM)
    # Probed commands the probe could not tell about (no ACL DRYRUN for a read-only probe,
    # or no key this user may read to probe with): not used, and said so.
    unknown: tuple[str, ...] = ()
    info: bool = True  # INFO is permitted (else every figure from it is unknown)
    publish: bool | None = None  # this user may PUBLISH; None: could not tell
    probe_key: str = ""  # the key the probe named (inside the user's key patterns)

    def as_rows(self) -> list[tuple[str, bool]]:
        return [
            ("Lua scripting (EVAL)", self.lua),
            ("XAUTOCLAIM", self.xautoclaim),
            ("lag in XINFO GROUPS", self.xinfo_lag),
            ("SCAN ... TYPE", self.scan_type),
            ("SUBSCRIBE / PSUBSCRIBE", self.subscribe),
            ("LPOS (list in/out rates)", self.lpos),
        ]


@dataclass(frozen=True, slots=True)
class ChannelStats:
    name: str
    subscribers: int


@dataclass(frozen=True, slots=True)
class ServerStats:
    info: dict = field(default_factory=dict)
    ops_per_sec: float | None = None
    used_memory: int | None = None
    clients: int | None = None
    uptime_s: int | None = None
    keyspace: dict = field(default_factory=dict)
    # INFO replication (role unknown where the server has no such section).
    replication: Replication = field(default_factory=Replication)


@dataclass(frozen=True, slots=True)
class AlertNote:
    """One alert of one queue: since when its condition holds, and what to press next."""

    ident: str  # the queue's row key
    key: str
    alert: str  # as the poll worded it
    since: float | None  # wall-clock seconds; None: unknown
    since_from: str  # "data" (rebuilt from times in the data), "live" (the console's
    #                   own samples) or "seen" (when the console first saw the alert)
    before_window: bool  # held since before the trend window began: "since" is a bound
    action: str  # e.g. "C to hand them to a live consumer"
    panel_key: str  # the panel that acts on it: "1".."8"
    group: str | None = None  # the stream group it is about, selected when opened
    short_action: str = ""  # the next step in a few words (narrow terminals)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One poll's worth of data: everything the panels draw."""

    taken_at: float  # when the poll finished, by the server's clock (epoch s)
    queues: tuple[QueueStats, ...]
    server: ServerStats
    channels: tuple[ChannelStats, ...] = ()
    numpat: int | None = None
    round_trips: int = 0
    poll_ms: float = 0.0
    cluster: ClusterView | None = None  # set when connected to a cluster
    left_out: int = 0  # queues found but not polled (more than [discovery] max_queues)
    max_queues: int = 0
    # "N keys not readable by user X": keys SCAN found outside the ACL user's key patterns.
    access_note: str | None = None
    alert_notes: tuple[AlertNote, ...] = ()  # each alert's start and next step (advice.py)
    # Exact mode from keyspace notifications: None when not asked for, "on" while
    # counting, else why not (what the server would need).
    notifications: str | None = None
    # The server's TIME read by this poll (None: not answered), and the offset
    # server - console clock in ms that every due/overdue/age figure applies.
    server_time_ms: int | None = None
    clock_offset_ms: int | None = None

    def by_kind(self, *kinds: QueueKind) -> list[QueueStats]:
        return [q for q in self.queues if q.ref.kind in kinds]

    def totals(self, queues: tuple[QueueStats, ...] | list[QueueStats] | None = None,
               ) -> dict[str, int]:
        """Jobs by what they are, never mixed: one computation for the console and status."""
        out = dict.fromkeys(TOTALS, 0)
        shared_seen: set[str] = set()
        for q in self.queues if queues is None else queues:
            kind = q.ref.kind
            # A library's states by their role, not by the panel's kind (a stream keeps its
            # acked entries: its pending entries are the stream's figure, as any stream's).
            if q.ref.library is not None and kind is not QueueKind.STREAM:
                add_to_totals(out, q.states, shared_seen)
            elif kind in (QueueKind.WORK, QueueKind.RELIABLE, QueueKind.PRIORITY):
                out["waiting"] += q.depth
            elif kind is QueueKind.DELAYED:
                out["waiting"] += q.ready or 0
                out["overdue"] += q.overdue or 0
                out["scheduled"] += max(q.depth - (q.overdue or 0), 0)
            elif kind is QueueKind.DLQ:
                out["dead"] += q.depth
            elif kind is QueueKind.STREAM:
                out["stream_pending"] += q.pending or 0
            if kind is QueueKind.RELIABLE:
                out["in_progress"] += q.processing or 0
        return out


#: Totals, and how the screen words them.
TOTALS = {
    "waiting": "waiting",
    "in_progress": "in progress",
    "scheduled": "scheduled (not yet due)",
    "overdue": "overdue",
    "dead": "dead",
    "stream_pending": "stream pending",
}


@dataclass(frozen=True, slots=True)
class DiscoveryProgress:
    scanned: int
    found: int
    done: bool
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectionState:
    """Where the connection stands, for the header."""

    status: str  # connecting / live / reconnecting / failed
    attempt: int = 0
    next_retry_s: float = 0.0
    error: str | None = None
    last_ok: float | None = None


@dataclass(frozen=True, slots=True)
class ClusterNodeStats:
    """One cluster node as CLUSTER NODES and its INFO describe it (None: not known)."""

    node_id: str
    address: str  # host:port
    role: str  # primary / replica / ?
    primary_id: str | None
    slots: tuple[str, ...]  # as CLUSTER NODES lists them: "0-5460", "7000"
    flags: tuple[str, ...]  # fail, fail?, handshake, noaddr ...
    link: str  # connected / disconnected
    used_memory: int | None = None
    ops_per_sec: float | None = None
    repl_offset: int | None = None
    error: str | None = None  # why the last poll could not reach it

    def slot_ranges(self) -> list[tuple[int, int]]:
        out = []
        for part in self.slots:
            lo, _, hi = part.partition("-")
            if lo.isdigit():
                out.append((int(lo), int(hi or lo)))
        return out

    @property
    def slot_count(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self.slot_ranges())

    @property
    def failing(self) -> bool:
        """Flagged as failing by the cluster (fail, or fail? not yet agreed)."""
        return "fail" in self.flags or "fail?" in self.flags

    @property
    def state(self) -> str:
        """ok, or why not: the poll's error, else the flags beyond the role (fail, ...)."""
        return self.error or ",".join(
            f for f in self.flags if f not in ("master", "slave")) or "ok"


@dataclass(frozen=True, slots=True)
class ClusterView:
    """The cluster behind a snapshot: its state, nodes and what recently happened."""

    state: str  # cluster_state: ok / fail / ?
    nodes: tuple[ClusterNodeStats, ...] = ()
    failover: str | None = None  # a failover or unreachable node, worded for the screen
    events: tuple[tuple[float, str], ...] = ()  # (time, what happened), oldest first
    slot_owners: tuple[tuple[int, int, str], ...] = ()  # (first slot, last slot, node)
    # Sharded channels (SSUBSCRIBE, Redis 7): (name, subscribers or None if not yet
    # counted, node); None when the server has no sharded Pub/Sub.
    shard_channels: tuple[tuple[str, int | None, str], ...] | None = None

    def counts(self) -> dict[str, int]:
        """Nodes by role, failing ones apart (a failed primary is no longer one)."""
        return {
            "primaries": sum(1 for n in self.nodes if n.role == "primary" and not n.failing),
            "replicas": sum(1 for n in self.nodes if n.role == "replica" and not n.failing),
            "failing": sum(1 for n in self.nodes if n.failing),
        }

    def summary(self) -> str:
        """"3 primaries, 3 replicas" (", 1 failing"): the Server panel and status say it."""
        c = self.counts()
        return (f"{c['primaries']} primaries, {c['replicas']} replicas"
                + (f", {c['failing']} failing" if c["failing"] else ""))

    def node_of(self, key: str | bytes) -> str | None:
        """The primary (host:port) holding `key`, from the slot map (None: not covered)."""
        raw = key.encode("utf-8", "surrogateescape") if isinstance(key, str) else key
        slot = key_slot(raw)
        for lo, hi, node in self.slot_owners:
            if lo <= slot <= hi:
                return node
        return None
