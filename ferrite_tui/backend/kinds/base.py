"""What every layout declares, and what every reader inside the poll is.

A layout (`KindLayout`) says in one place how a queue of its kind is recognised, the
reader that polls it, its alerts, how its items decode and the actions it offers. A reader
(`Reader`) owns one kind's memories between polls and has three steps inside the poll's
single pipeline:

- `commands(t, commands, appliers, now_ms)`: appends its commands, and for each a pair
  (target, applier) to `appliers`; the poll calls `applier(target, reply, now_ms)` with
  the reply, so no reply is matched to its meaning by a tag.
- the appliers: plain functions that set one field of a tally (an error reply becomes the
  queue's error line first, unless the applier is in `TAKES_ERRORS`).
- `finish(t, mono, now_ms) -> QueueStats`: the figures, flows and alerts of the queue.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from ferrite_tui.backend.envelopes import decode, printable
from ferrite_tui.backend.errors import permission_error
from ferrite_tui.backend.models import GroupStats, QueueKind, QueueRef, QueueStats

if TYPE_CHECKING:
    from ferrite_tui.backend.client import Client
    from ferrite_tui.backend.evidence import Evidence
    from ferrite_tui.backend.history import History
    from ferrite_tui.backend.kinds.listends import ListFollower
    from ferrite_tui.config import AlertConfig, DiscoveryConfig, QueueDecl

RATE_SPAN_S = 10.0
# An envelope time further than this in the future is not a plausible enqueue time.
FUTURE_SLACK_MS = 86_400_000
#: An item read for its age or id (a list's end, a set's top, a stream's end entry) over
#: this many bytes is not read again while its key stands still (see poll's docstring).
BIG_END = 16 << 10
NOTE_WARMUP = "measured from the second poll on"

#: An applier: sets what one reply says on its target (a tally or a list read).
Applier = Callable[[Any, Any, int], None]
#: Appliers that read their own error replies (a group gone: no rows; LPOS refused: not
#: followed; a library's replies, errors included). Others: the error becomes a line.
TAKES_ERRORS: set[Applier] = set()


def takes_errors(applier: Applier) -> Applier:
    TAKES_ERRORS.add(applier)
    return applier


class PollContext(Protocol):
    """What readers use of the poll they run in (the Poller)."""

    client: Client
    alerts: AlertConfig
    history: History
    visibility_timeouts: dict[str, float]
    interval_s: float  # between the last two polls
    last_mono: float | None  # when the last poll finished
    lpos: bool  # the server has LPOS
    lists: ListFollower  # the ends of every list followed

    def item_time(self, raw: bytes | None, now_ms: int) -> int | None: ...
    def age(self, raw: bytes | None, now_ms: int) -> int | None: ...
    def flow(self, ident: str, name: str, moved: int | None, exact: bool,
             mono: float) -> tuple[float | None, bool]: ...
    def depth_rate(self, t: Tally, mono: float) -> float | None: ...
    def stats(self, t: Tally, net: float | None, f: Flows) -> QueueStats: ...


# -- small reply helpers ---------------------------------------------------------------------

def text(value: Any) -> str:
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else str(value)


def pairs(flat: list) -> dict[str, Any]:
    """A RESP2 field/value list as a dict with str keys."""
    return {text(k): v for k, v in zip(flat[::2], flat[1::2])}


def int_or_none(value: Any) -> int | None:
    if value is None:  # (a nil field, such as a group's entries-read: no exception raised)
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def largest(*values: int | None) -> int | None:
    best = None
    for v in values:
        if v is not None and (best is None or v > best):
            best = v
    return best


def error_line(exc: Exception, key: str = "", user: str | None = None) -> str:
    line = str(exc)
    denied = permission_error(exc, user, (key,) if key else ())
    if denied:
        return printable(denied, 200)
    if "WRONGTYPE" in line:
        return "wrong type: the key now holds another kind of value"
    return printable(line.splitlines()[0] if line else type(exc).__name__, 120)


def item_time(raw: bytes | None, now_ms: int) -> int | None:
    """An item's own time: dead_at for dead letters, else the envelope's job time."""
    if raw is None:
        return None
    env = decode(raw)
    t = env.dead_at if env.kind == "dead" else env.time_ms
    if t is None or t <= 0 or t > now_ms + FUTURE_SLACK_MS:
        return None
    return t


# -- recognition ------------------------------------------------------------------------------

def strip(key: str, suffix: str) -> str | None:
    """`key` without `suffix`, or None where it does not end with it (or is only it)."""
    if suffix and key.endswith(suffix) and len(key) > len(suffix):
        return key[: -len(suffix)]
    return None


@dataclass(slots=True)
class Candidates:
    """The keys discovery found that no library and no declaration claimed, by type; each
    kind's `recognise` in turn takes the ones of its layout (discarding the companion keys
    it uses) and adds its queues."""

    types: dict[str, str]  # every key found: {key: type}
    priority_zsets: set[str]  # sorted sets whose top member is a job envelope
    cfg: DiscoveryConfig
    declared: set[str]  # keys of declared queues
    claimed: set[str]  # keys that belong to a declared queue
    lists: set[str]
    zsets: set[str]
    streams: set[str]
    refs: dict[str, QueueRef] = field(default_factory=dict)
    #: Judgements of keys by their content (see evidence.py): sets of due times or of
    #: priorities and dead-letter lists under names of their own.
    evidence: Mapping[str, Evidence] = field(default_factory=dict)

    def add(self, ref: QueueRef) -> None:
        self.refs[ref.ident] = ref

    def list_keys_taken(self) -> set[str]:
        """Lists already part of a queue (a reliable queue's two lists)."""
        taken = {r.key for r in self.refs.values() if r.kind is QueueKind.RELIABLE}
        return taken | {r.processing_key for r in self.refs.values() if r.processing_key}


def declared_ref(kind: QueueKind) -> Callable[[QueueDecl, DiscoveryConfig], QueueRef]:
    """A declared queue of a kind with no companion keys: its key, as declared."""
    def declare(d: QueueDecl, cfg: DiscoveryConfig) -> QueueRef:
        return QueueRef(kind, d.key, declared=True)
    return declare


# -- tallies and figures ---------------------------------------------------------------------

@dataclass(slots=True)
class Tally:
    """One queue's scratch while its replies are read (kinds add their own fields)."""

    ref: QueueRef
    reader: Reader
    errors: list[str] = field(default_factory=list)
    depth: int = 0
    oldest_ms: int | None = None

    @property
    def key(self) -> str:  # named in an error line
        return self.ref.key


def set_depth(t: Any, v: Any, now_ms: int) -> None:
    t.depth = v


class Flows(NamedTuple):
    """What a kind's reader measured beyond the depth, for the one QueueStats builder."""

    in_rate: float | None = None
    in_exact: bool = True
    out_rate: float | None = None
    out_exact: bool = True
    note: str | None = None
    pending: int | None = None
    idle_pending: int | None = None
    producer_end: str | None = None
    consumer_end: str | None = None
    stale: int | None = None
    stale_lower: bool = False
    overdue_growing: bool = False
    groups: tuple[GroupStats, ...] = ()
    processing: int | None = None
    ready: int | None = None
    overdue: int | None = None
    last_id: str | None = None
    oldest_sampled: bool = False
    capped: bool = False  # a stream trimmed as it is written (see capped.py)


class Memories(NamedTuple):
    """A reader's per-key memories between polls, by what forgets them: a restart or flush
    of the server (all of them), a queue's node changing (its keys' entries), and a
    rescan that dropped the key (the entries of keys no longer polled)."""

    restart: tuple[dict, ...] = ()
    failover: tuple[dict, ...] = ()
    rescan: tuple[dict, ...] = ()


class AlertFigures(NamedTuple):
    """What a kind's alerts read (the fields of the queue's stats)."""

    depth: int
    oldest_ms: int | None
    net_rate: float | None
    flows: Flows


class Action(NamedTuple):
    """One action a layout offers, declared with the layout: a panel offers, for a queue,
    exactly the actions its layout declares (its keys, footer and command palette), and a
    key for any other is refused before anything is sent.

    `name`: the panel action it enables (the `action_NAME` of the panel showing the kind);
    `label`: the key's word in the footer; `does`: the command palette's line; `sends`: the
    exact commands it sends, in words; `needs_lua`: whether it needs server-side Lua (the
    guide's kinds never do: Ferrite's default build has none)."""

    name: str
    label: str
    does: str
    sends: str
    needs_lua: bool = False


Alerts = Callable[[AlertFigures, "AlertConfig"], list[str]]
Decoder = Callable[[bytes], Any]


class Reader:
    """One kind's part of the poll (see the module docstring). Subclasses keep their
    memories between polls in dicts by key, listed by `stores` (forgotten on a restart,
    a failover, or when the key leaves the list of queues)."""

    #: Moves counted from keyspace notifications apply (not to streams: their counters
    #: say more), and an error line voids the rates.
    counts_events = True
    #: It may ask a second read in the poll's round trip 2 (`second`).
    second_round = False

    def __init__(self, poll: PollContext, layout: KindLayout | None) -> None:
        self.poll = poll
        self.layout = layout

    def second(self, t: Any, commands: list, appliers: list, now_ms: int) -> None:
        """What it asks in round trip 2, once round trip 1's replies are applied (as
        `commands`)."""

    def tally(self, ref: QueueRef) -> Tally:
        return Tally(ref, self)

    def commands(self, t: Any, commands: list, appliers: list, now_ms: int) -> None:
        raise NotImplementedError

    def finish(self, t: Any, mono: float, now_ms: int) -> QueueStats:
        raise NotImplementedError

    def memories(self) -> Memories:
        """Its memories between polls, by key, and which events forget them."""
        return Memories()


@dataclass(frozen=True)
class KindLayout:
    """One kind of the guide's layouts, declared in one place (see kinds/__init__.py)."""

    kind: QueueKind
    #: How discovery recognises it (the names and types it looks for), in words...
    recognised_by: str
    #: ... and in code: takes its keys from the candidates (see Candidates).
    recognise: Callable[[Candidates], None]
    #: A queue of this kind declared in the config ([[queues]]), its companion keys filled.
    declare: Callable[[QueueDecl, DiscoveryConfig], QueueRef]
    reader: Callable[[PollContext, KindLayout], Reader]
    alerts: Alerts
    #: How one item decodes (an envelope: job fields and times).
    decode: Decoder
    #: The actions it offers: the only ones a panel runs on a queue of this kind.
    actions: tuple[Action, ...] = ()
    #: Kept first when there are more queues than max_queues (lower first).
    rank: int = 0
    #: The console's tab that lists it (queues, priority, scheduled, streams, dlq).
    panel: str = "queues"
    #: Its line in the Overview's backlog chart (RGB).
    color: tuple[int, int, int] = (200, 200, 200)
    #: What comes in are deaths of other queues (charted as dead, not as arrivals).
    arrivals_are_deaths: bool = False
