"""Sharded Pub/Sub (Redis 7: SSUBSCRIBE / SPUBLISH), tailed per shard.

A sharded channel lives in one hash slot and its messages stay on the shard that owns it,
so one subscription connection cannot see them all, and no pattern reaches them.
`ShardedTail` is the Pub/Sub panel's tail with sharded channels added: its own patterns and
channels as `pubsub.Tail` (SUBSCRIBE/PSUBSCRIBE on one connection), plus one SSUBSCRIBE
connection per primary that owns any of the sharded channels asked for (one connection to
the server off a cluster), each with the reconnect/backoff/gap handling of `pubsub.Tail`,
all feeding this tail's one buffer and counts. Sharded messages are counted apart
(`by_shard`): a sharded channel and a plain one may share a name and are not the same.

When a shard's slots move (failover, resharding) the server ends the subscription
(``sunsubscribe``); the feed then subscribes again on the slot's owner in the current map.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from redis import exceptions as rexc

from ferrite_tui.backend.client import Client, mutation
from ferrite_tui.backend.clusterwire import slot_of
from ferrite_tui.backend.envelopes import key_text
from ferrite_tui.backend.pubsub import Tail, TailState, is_pattern
from ferrite_tui.backend.recording import Entry

ONE_SERVER = "server"  # the feed's node name off a cluster


class ShardEntry(Entry):
    """A message of a sharded channel (SSUBSCRIBE)."""

    __slots__ = ()
    sharded = True


class _ShardFeed(Tail):
    """SSUBSCRIBE on one node; its messages go to the parent's buffer."""

    def __init__(self, parent: ShardedTail, node: str, channels: list[str]) -> None:
        super().__init__(parent.client, channels, buffer=1)
        self.parent = parent
        self.router = parent.client.cluster
        self.node = node
        self._use(node)
        self._add_marker = parent._add_marker  # type: ignore[method-assign]

    def _use(self, node: str) -> None:
        """Talk to `node`: on a cluster, as its own client, so errors name that node."""
        self.node = node
        if self.router is not None:
            self.client = self.router.node_client(node)

    def _verb(self) -> str:
        return "SSUBSCRIBE"

    def _owner(self) -> str:
        router = self.router
        if router is None:
            return ONE_SERVER
        try:
            return router.node_of(self.patterns[0])
        except rexc.RedisClusterException:
            return self.node  # slot not served right now: retry where it was

    async def _subscribe(self):
        owner = self._owner()
        if owner != self.node and self._redis is not None:
            await self._redis.aclose()
            self._redis = None
            self._add_marker(Entry.NOTE, f"sharded {' '.join(self.patterns)}: "
                                         f"{self.node} -> {owner}")
        self._use(owner)
        router = self.router
        if self._redis is None:
            # On a cluster self.client is the node's own client (a plain connection to it).
            self._redis = self.client.pubsub_connection()
        conn = await self._redis.connection_pool.get_connection()
        self._conn = conn
        # One SSUBSCRIBE per slot: a node refuses channels of several slots in one command.
        by_slot: dict[int, list[str]] = {}
        for channel in self.patterns:
            by_slot.setdefault(slot_of(channel), []).append(channel)
        for chans in by_slot.values():
            await conn.send_command("SSUBSCRIBE", *chans, check_health=False)
        confirmed = 0
        while confirmed < len(self.patterns):
            try:
                reply = await conn.read_response(timeout=self.client.settings.command_timeout,
                                                 disable_decoding=True)
            except rexc.ResponseError as exc:
                if router is None or not str(exc).startswith("MOVED"):
                    raise
                # The map was stale (a failover): reload it and subscribe where it says.
                await router.refresh()
                raise rexc.ConnectionError(f"SSUBSCRIBE redirected: {exc}") from None
            if reply is None:
                raise rexc.TimeoutError("no answer to SSUBSCRIBE")
            if isinstance(reply, list) and reply and reply[0] == b"ssubscribe":
                confirmed += 1
            else:
                self._handle(reply)
        return conn

    def _handle(self, reply) -> None:
        if type(reply) is list and len(reply) == 3:
            if reply[0] == b"smessage":
                self.parent._shard_message(reply[1], reply[2])
                return
            if reply[0] == b"sunsubscribe":
                # The node gave the slot away: subscribe again where it lives now.
                raise rexc.ConnectionError(f"{key_text(reply[1])}: its slot moved away "
                                           f"from {self.node}")
        super()._handle(reply)


class ShardedTail(Tail):
    """A tail of channels and patterns (as `Tail`) and of sharded channels (SSUBSCRIBE).

    ``patterns`` may be empty (sharded channels only); ``shard_channels`` take names only.
    """

    def __init__(self, client: Client, patterns: Iterable[str] = ("*",),
                 shard_channels: Iterable[str] = (), **kwargs) -> None:
        super().__init__(client, (), **kwargs)
        self.patterns = tuple(p for p in patterns if p)
        self.shard_channels = _check_names(shard_channels)
        self.feeds: list[_ShardFeed] = []
        self.by_shard: dict[bytes, int] = {}  # sharded messages per channel, exactly
        self._stopped_feed_gaps = 0
        self._shard_samples: deque[tuple[float, dict[bytes, int]]] = deque()
        self.shard_rates: dict[bytes, float] = {}  # per sharded channel, from rates()

    # -- control ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return super().running or any(f.running for f in self.feeds)

    def start(self) -> None:
        if self.running:
            return
        if self.patterns:
            super().start()
        self._start_feeds()

    def _start_feeds(self) -> None:
        if not self.shard_channels:
            return
        router = self.client.cluster
        by_node: dict[str, list[str]] = {}
        for channel in self.shard_channels:
            node = ONE_SERVER
            if router is not None:
                try:
                    node = router.node_of(channel)
                except rexc.RedisClusterException:
                    node = router.subscribe_node()  # unserved slot: the feed retries
            by_node.setdefault(node, []).append(channel)
        self.feeds = [_ShardFeed(self, node, chans) for node, chans in sorted(by_node.items())]
        for feed in self.feeds:
            feed.start()
        where = "" if router is None else " on " + ", ".join(sorted(by_node))
        self._add_marker(Entry.NOTE, "tailing sharded " + " ".join(self.shard_channels) + where)

    async def _stop_feeds(self) -> None:
        for feed in self.feeds:
            await feed.stop()
        self._stopped_feed_gaps += sum(f.gaps for f in self.feeds)
        self.feeds = []

    async def stop(self) -> None:
        await self._stop_feeds()
        await super().stop()

    async def set_shard_channels(self, channels: Iterable[str]) -> None:
        """Tail these sharded channels instead; the plain subscription stays as it is."""
        shard = _check_names(channels)
        await self._stop_feeds()
        self.shard_channels = shard
        if not shard:
            self._add_marker(Entry.NOTE, "no sharded channel tailed")
        self._start_feeds()

    async def set_subscriptions(self, patterns: Iterable[str],
                                shard_channels: Iterable[str]) -> None:
        """Subscribe to these instead (a new session; the log notes the change)."""
        shard = _check_names(shard_channels)
        patterns = tuple(p for p in patterns if p)
        was_running = self.running or self.state.status == "refused"
        await self.stop()
        self.patterns, self.shard_channels = patterns, shard
        self._add_marker(Entry.NOTE, "now tailing " + " ".join(
            [*patterns, *(f"sharded {c}" for c in shard)]))
        if was_running:
            self.start()

    async def set_patterns(self, patterns: Iterable[str]) -> None:
        await self.set_subscriptions(patterns, self.shard_channels)

    # -- state and counts ---------------------------------------------------------------

    @property
    def state(self) -> TailState:
        """Live when every connection is; else the worst one's state, naming its node."""
        feeds = getattr(self, "feeds", [])
        if not feeds:
            return self._state
        parts = ([(self._state, "")] if self.patterns else []) + [
            (f.state, f.node) for f in feeds]
        for status in ("refused", "reconnecting", "connecting"):
            for state, node in parts:
                if state.status == status:
                    error = state.error if not node else (
                        f"{node}: {state.error}" if state.error else node)
                    return TailState(status, attempt=state.attempt, error=error)
        return TailState("live")

    @state.setter
    def state(self, value: TailState) -> None:
        self._state = value

    def _feed_gap_total(self) -> int:
        return getattr(self, "_stopped_feed_gaps", 0) + sum(
            f.gaps for f in getattr(self, "feeds", ()))

    @property
    def gaps(self) -> int:
        """Gaps of every connection (a feed's survive its stop)."""
        return self._own_gaps + self._feed_gap_total()

    @gaps.setter
    def gaps(self, value: int) -> None:
        self._own_gaps = value - self._feed_gap_total()

    def _shard_message(self, channel: bytes, data: bytes) -> None:
        """One message of sharded `channel`: counted apart, buffered with the rest."""
        self._append(ShardEntry(self._count(self.by_shard, channel), self.clock(), channel,
                                None, data))

    def rates(self, window_s: float = 5.0) -> tuple[float | None, dict[bytes, float]]:
        """As `Tail.rates` (the total counts sharded messages too); the sharded channels'
        own rates land in `shard_rates`."""
        out = super().rates(window_s)
        now = self.monotonic()
        samples = self._shard_samples
        if not samples or now - samples[-1][0] >= 0.25:
            samples.append((now, dict(self.by_shard)))
        while len(samples) > 2 and now - samples[1][0] >= window_s:
            samples.popleft()
        self.shard_rates = {}
        if len(samples) >= 2 and samples[-1][0] > samples[0][0]:
            (t0, c0), (t1, c1) = samples[0], samples[-1]
            tailed = {c.encode("utf-8", "surrogateescape") for c in self.shard_channels}
            self.shard_rates = {ch: (c1.get(ch, 0) - c0.get(ch, 0)) / (t1 - t0)
                                for ch in tailed.union(c1)}
        return out


def _check_names(channels: Iterable[str]) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(c for c in channels if c))
    bad = [c for c in names if is_pattern(c)]
    if bad:
        raise ValueError(f"sharded channels take no patterns: {bad[0]}")
    return names


class ShardedPubSub:
    """SPUBLISH (the message stays on the channel's shard)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    @mutation("publish (sharded)")
    async def publish(self, channel: str, message: str | bytes) -> int:
        """SPUBLISH; returns how many subscribers of the channel the shard's primary (or
        the one server) delivered it to (its replicas' subscribers are not counted)."""
        data = message.encode("utf-8", "surrogateescape") if isinstance(message, str) \
            else message
        node = self.client.for_keys(channel)
        receivers = int(await node.redis.execute_command("SPUBLISH", channel, data))
        self.client.audit("publish (sharded)", [key_text(channel.encode())], 1)
        return receivers
