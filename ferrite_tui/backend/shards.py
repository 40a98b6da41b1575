"""Sharded Pub/Sub on a cluster (Redis 7: SSUBSCRIBE / SPUBLISH), tailed per shard.

A sharded channel lives in one hash slot and its messages stay on the shard that owns
it, so one subscription connection cannot see them all: `ShardedTail` opens one
SSUBSCRIBE connection per primary that owns any of the channels asked for, each with the
reconnect/backoff/gap handling of `pubsub.Tail`, all feeding this tail's one buffer and
counts. Sharded subscriptions take channel names only (no patterns).
"""

from __future__ import annotations

from collections.abc import Iterable

from redis import exceptions as rexc

from ferrite_tui.backend.client import Client, mutation
from ferrite_tui.backend.cluster import slot_of
from ferrite_tui.backend.envelopes import key_text
from ferrite_tui.backend.pubsub import Entry, Tail, TailState, is_pattern


class _ShardFeed(Tail):
    """SSUBSCRIBE on one node; its messages go to the parent's buffer."""

    def __init__(self, parent: ShardedTail, node: str, channels: list[str]) -> None:
        super().__init__(parent.client, channels, buffer=1)
        self.parent = parent
        self.node = node
        self._message = parent._message  # type: ignore[method-assign]
        self._add_marker = parent._add_marker  # type: ignore[method-assign]

    async def _subscribe(self):
        router = self.client.cluster
        assert router is not None
        if self._redis is None:
            self._redis = router.node_client(self.node)._build()
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
            reply = await conn.read_response(timeout=self.client.settings.command_timeout,
                                             disable_decoding=True)
            if reply is None:
                raise rexc.TimeoutError("no answer to SSUBSCRIBE")
            if isinstance(reply, list) and reply and reply[0] == b"ssubscribe":
                confirmed += 1
            else:
                self._handle(reply)
        return conn

    def _handle(self, reply) -> None:
        if type(reply) is list and len(reply) == 3 and reply[0] == b"smessage":
            self._message(reply[1], None, reply[2])
            return
        super()._handle(reply)


class ShardedTail(Tail):
    """A tail of sharded channels: one SSUBSCRIBE connection per owning primary."""

    def __init__(self, client: Client, channels: Iterable[str], **kwargs) -> None:
        channels = tuple(c for c in channels if c)
        bad = [c for c in channels if is_pattern(c)]
        if bad:
            raise ValueError(f"sharded channels take no patterns: {bad[0]}")
        super().__init__(client, channels, **kwargs)
        self.feeds: list[_ShardFeed] = []

    @property
    def running(self) -> bool:
        return any(f.running for f in self.feeds)

    def start(self) -> None:
        router = self.client.cluster
        if router is None:
            self.state = TailState("refused", error="sharded channels need a cluster")
            return
        if self.running:
            return
        by_node: dict[str, list[str]] = {}
        for channel in self.patterns:
            by_node.setdefault(router.node_of(channel), []).append(channel)
        self.feeds = [_ShardFeed(self, node, chans) for node, chans in sorted(by_node.items())]
        for feed in self.feeds:
            feed.start()
        self._add_marker(Entry.NOTE, "tailing sharded " + " ".join(self.patterns) + " on "
                         + ", ".join(sorted(by_node)))

    @property
    def state(self) -> TailState:
        """Live when every shard is; else the worst shard's state, naming its node."""
        feeds = getattr(self, "feeds", [])
        if not feeds:
            return self._state
        for status in ("refused", "reconnecting", "connecting"):
            for feed in feeds:
                if feed.state.status == status:
                    error = feed.state.error
                    return TailState(status, attempt=feed.state.attempt,
                                     error=f"{feed.node}: {error}" if error else feed.node)
        return TailState("live")

    @state.setter
    def state(self, value: TailState) -> None:
        self._state = value

    async def stop(self) -> None:
        for feed in self.feeds:
            await feed.stop()
        self.feeds = []
        self._state = TailState("stopped")


class ShardedPubSub:
    """SPUBLISH (the message stays on the channel's shard)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    @mutation("publish (sharded)")
    async def publish(self, channel: str, message: str | bytes) -> int:
        """SPUBLISH; returns the subscribers the shard delivered it to (exact: a sharded
        message reaches only that shard's subscribers)."""
        data = message.encode("utf-8", "surrogateescape") if isinstance(message, str) \
            else message
        node = self.client.for_keys(channel)
        receivers = int(await node.redis.execute_command("SPUBLISH", channel, data))
        self.client.audit("publish (sharded)", [key_text(channel.encode())], 1)
        return receivers
