"""The Pub/Sub panel's dialogs: tail patterns, sharded channels, recording, publish
(PUBLISH, or SPUBLISH on a sharded channel)."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.pubsub import PubSub, is_pattern, tail_matches
from ferrite_tui.backend.shards import ShardedPubSub, ShardedTail
from ferrite_tui.files import RECORDINGS, default_file, resolve
from ferrite_tui.ui.panels.base import Outcome
from ferrite_tui.ui.panels.pubsub.channels import shard_owner
from ferrite_tui.ui.screens.dialogs import Field, check_output_path

if TYPE_CHECKING:
    from ferrite_tui.ui.panels.pubsub.view import PubSubView


def _quote(pattern: str) -> str:
    """Quoted for shlex.split only where needed (glob characters stay bare)."""
    if pattern and not any(ch.isspace() or ch in "'\"\\" for ch in pattern):
        return pattern
    return shlex.quote(pattern)


async def ask_patterns(panel: PubSubView) -> Outcome | None:
    current = " ".join(_quote(p) for p in (panel.tail.patterns if panel.tail else ("*",)))

    def check(value: str) -> str | None:
        try:
            return None if shlex.split(value) else "give at least one pattern"
        except ValueError as exc:
            return str(exc)

    values = await panel.ask(
        "Tail patterns",
        [Field("patterns", "Patterns, space-separated (quote names with spaces)", current,
               placeholder="orders.* payments.failed", check=check)],
        submit_label="Subscribe",
        body="Names with * ? [ ] subscribe with PSUBSCRIBE, plain names with SUBSCRIBE.")
    if values is None:
        return None
    patterns = shlex.split(values["patterns"])
    if panel.tail is None:
        panel.start_tail()
    if panel.tail is None:
        return Outcome("Not connected", "error")
    await panel.tail.set_patterns(patterns)
    if not panel.tail.running and panel.tail.state.status != "refused":
        panel.tail.start()
    panel.pull(force=True)
    return Outcome("Tailing " + printable(" ".join(patterns), 100), timeout=3)


async def ask_sharded(panel: PubSubView) -> Outcome | None:
    tail = panel.tail
    current = " ".join(_quote(c) for c in tail.shard_channels) \
        if isinstance(tail, ShardedTail) else ""

    def check(value: str) -> str | None:
        try:
            names = shlex.split(value)
        except ValueError as exc:
            return str(exc)
        bad = [n for n in names if is_pattern(n)]
        return f"sharded channels take names, not patterns: {bad[0]}" if bad else None

    values = await panel.ask(
        "Tail sharded channels",
        [Field("channels", "Sharded channels, space-separated (empty: none)", current,
               placeholder="orders.{eu} orders.{us}", check=check)],
        submit_label="Subscribe",
        body="SSUBSCRIBE on the shard that owns each channel's slot (a cluster: one "
             "connection per owning primary). Names only: no pattern reaches a sharded "
             "channel.")
    if values is None:
        return None
    return await set_sharded(panel, shlex.split(values["channels"]))


async def set_sharded(panel: PubSubView, channels: list[str]) -> Outcome | None:
    if panel.tail is None:
        panel.start_tail()
    tail = panel.tail
    if not isinstance(tail, ShardedTail):
        return Outcome(panel.NOT_SHARDED, "warning")
    await tail.set_shard_channels(channels)
    panel.pull(force=True)
    if not channels:
        return Outcome("No sharded channel tailed", timeout=3)
    where = sorted({f.node for f in tail.feeds}) if panel.session.client and \
        panel.session.client.cluster is not None else []
    return Outcome("Tailing sharded " + printable(" ".join(channels), 100)
                   + (" on " + ", ".join(where) if where else ""), timeout=4)


async def ask_record(panel: PubSubView) -> Outcome | None:
    default = default_file(RECORDINGS, "pubsub", ".ndjson")
    values = await panel.ask(
        "Record the tail",
        [Field("path", f"NDJSON file (a new file; never overwritten). A bare name goes "
                       f"to {default.parent}",
               str(default),
               check=lambda v: check_output_path(str(resolve(v, RECORDINGS))))],
        submit_label="Record",
        body="Every message from now on is written as {time, channel, message}, "
             "paused or not, until w again.")
    if values is None or panel.tail is None:
        return None
    path = resolve(values["path"], RECORDINGS)
    try:
        panel.tail.start_recording(path)
    except FileExistsError:
        return Outcome(f"{path} exists already: choose another name", "error")
    except (OSError, RuntimeError) as exc:
        return Outcome(f"cannot record to {path}: {getattr(exc, 'strerror', None) or exc}",
                       "error")
    panel.update_status()
    return Outcome(f"Recording to {path} (w stops)", timeout=4)


async def ask_publish(panel: PubSubView, target: tuple[str, bool]) -> Outcome | None:
    client = panel.session.client
    if client is None:
        return Outcome("Not connected", "error")
    channel, sharded = target
    fields = [Field("channel", "Channel", channel, placeholder="orders.created",
                    check=lambda v: None if v else "give a channel"),
              Field("message", "Message (sent as typed, UTF-8)", "",
                    placeholder='{"order_id": "12345"}')]
    if panel.sharded_available():
        fields.append(Field("sharded", "Sharded channel: SPUBLISH (yes / no)",
                            "yes" if sharded else "no",
                            check=lambda v: None if v.strip().lower() in ("yes", "no")
                            else "yes or no"))
    values = await panel.ask("Publish a message", fields, submit_label="Publish")
    if values is None:
        return None
    channel, message = values["channel"], values["message"]
    if values.get("sharded", "no").strip().lower() == "yes":
        return await spublish(panel, channel, message)
    receivers = await PubSub(client).publish(channel, message)
    tail = panel.tail
    ours = int(tail is not None and tail.state.status == "live"
               and tail_matches(tail.patterns, channel))
    shown = printable(channel, 60)
    if client.cluster is not None:
        # A cluster relays PUBLISH to every node, but the count is the publishing
        # node's own subscribers only: say so rather than claim "nobody listened".
        return Outcome(f"Published to {shown}: {receivers} subscriber(s) on the node that "
                       "took it; the cluster relays it to every node, whose subscribers "
                       "it does not count", timeout=8)
    return received_outcome(f"Published to {shown}", receivers, ours)


async def spublish(panel: PubSubView, channel: str, message: str) -> Outcome:
    client = panel.session.client
    assert client is not None
    receivers = await ShardedPubSub(client).publish(channel, message)
    tail = panel.tail
    ours = int(isinstance(tail, ShardedTail) and channel in tail.shard_channels
               and tail.state.status == "live")
    where = ""
    if client.cluster is not None:
        # SPUBLISH counts the subscribers of the shard's primary (its replicas' not).
        where = f" on {shard_owner(panel, channel)}"
    return received_outcome(f"Published to sharded {printable(channel, 60)}{where}",
                     receivers, ours)


def received_outcome(what: str, receivers: int, ours: int) -> Outcome:
    """How many received a message, this console's tail told apart."""
    if receivers == 0:
        return Outcome(f"{what}, but 0 subscribers received it: nobody was listening, the "
                       "message is gone", "warning", 8)
    if receivers - ours <= 0:
        return Outcome(f"{what}: only this console's tail received it (no other "
                       "subscriber)", "warning", 8)
    extra = " (plus this console's tail)" if ours else ""
    return Outcome(f"{what}: {receivers - ours} subscriber"
                   f"{'s' if receivers - ours != 1 else ''} received it{extra}", timeout=5)
