"""The Pub/Sub panel's channel table and the note above it, computed from the snapshot
and the tail (plain channels and sharded ones as separate rows)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.envelopes import key_text, printable
from ferrite_tui.backend.pubsub import is_pattern
from ferrite_tui.backend.shards import ShardedTail
from ferrite_tui.ui.panels.base import BEFORE_FIRST_POLL

if TYPE_CHECKING:
    from ferrite_tui.ui.panels.pubsub.view import PubSubView

MAX_CHANNEL_ROWS = 1000


def channel_rows(panel: PubSubView) -> tuple[list[tuple[str, dict[str, object]]], int, int]:
    """The channel table's rows (plain and sharded channels apart), how many channels
    match and how many are shown."""
    snap = panel.snapshot
    subs: dict[str, int] = {c.name: c.subscribers for c in snap.channels} if snap else {}
    tail = panel.tail
    counts = {key_text(k): v for k, v in tail.by_channel.items()} if tail else {}
    rates = {key_text(k): v for k, v in panel.rates[1].items()}
    tailing = tail is not None and tail.state.status == "live"
    # Sharded channels: listed by the cluster's primaries, or tailed here.
    view = snap.cluster if snap else None
    shard_subs: dict[str, int | None] = {}
    shard_node: dict[str, str] = {}
    for name, n, node in (view.shard_channels or ()) if view else ():
        shard_subs[name], shard_node[name] = n, node
    shard_counts: dict[str, int] = {}
    shard_rates: dict[str, float] = {}
    tailed: tuple[str, ...] = ()
    if isinstance(tail, ShardedTail):
        shard_counts = {key_text(k): v for k, v in tail.by_shard.items()}
        shard_rates = {key_text(k): v for k, v in tail.shard_rates.items()}
        tailed = tail.shard_channels
    names = sorted({(n, False) for n in (*subs, *counts)}
                   | {(n, True) for n in (*shard_subs, *shard_counts, *tailed)})
    if panel.filter_text:
        needle = panel.filter_text.lower()
        names = [(n, sh) for n, sh in names if needle in n.lower()]
    shown = names[:MAX_CHANNEL_ROWS]
    rows = []
    cluster = view is not None
    for name, sharded in shown:
        selected = (panel.channel_filter is not None and panel.filter_sharded == sharded
                    and key_text(panel.channel_filter) == name)
        label = Text(("▶ " if selected else "") + printable(name, 200), no_wrap=True,
                     overflow="ellipsis", style="bold" if selected else "")
        if sharded:
            live = tailing and name in tailed
            rate = shard_rates.get(name)
            n = shard_subs.get(name)
            rows.append((f"shard:{name}", {
                "channel": label,
                "kind": Text("sharded", style="magenta"),
                "node": shard_node.get(name) or shard_owner(panel, name),
                # Counted by SHARDNUMSUB on a cluster; off a cluster, not polled.
                "subs": fmt.count(n) if n is not None else "?",
                "rate": fmt.rate(rate) if live and rate is not None else
                        ("…" if live else "-"),
                "received": fmt.count(shard_counts[name]) if name in shard_counts
                            else "-",
            }))
            continue
        rate = rates.get(name)
        rows.append((f"channel:{name}", {
            "channel": label,
            "kind": "global",
            "node": "all" if cluster else "",
            "subs": fmt.count(subs.get(name, 0)) if snap else "-",
            "rate": fmt.rate(rate) if tailing and rate is not None else
                    ("…" if tailing else "-"),
            "received": fmt.count(counts[name]) if name in counts else "-",
        }))
    return rows, len(names), len(shown)


def shard_owner(panel: PubSubView, channel: str) -> str:
    """The primary serving a sharded channel's slot (empty off a cluster)."""
    client = panel.session.client
    if client is None or client.cluster is None:
        return ""
    try:
        return client.cluster.node_of(channel)
    except Exception:  # slot not served right now
        return "?"


def channel_note(panel: PubSubView, snap, total: int, shown: int) -> Text:
    """The lines above the table: channels, NUMPAT, sharded channels, the tail's state."""
    note = Text()
    if snap is None:  # nothing read yet: no figure of channels or patterns to give
        note.append(BEFORE_FIRST_POLL)
    else:
        numpat = "n/a" if snap.numpat is None else str(snap.numpat)
        if not snap.channels:
            note.append(panel.EMPTY + " ")
        else:
            note.append(f"{len(snap.channels)} active channels · ")
        note.append(f"{numpat} pattern subscriptions (NUMPAT)")
    tail = panel.tail
    if tail is not None and tail.state.status == "live" and any(
            is_pattern(p) for p in tail.patterns):
        note.append(" incl. this tail", style="dim")
    if snap is not None and snap.cluster is not None:
        shard = snap.cluster.shard_channels
        if shard is None or not panel.sharded_available():
            note.append(" · sharded channels: not available on this server (Redis 7+)",
                        style="dim")
        else:
            note.append(f" · {len(shard)} sharded channels (s tails them)")
    if panel.filter_text:
        note.append(f" · filter “{printable(panel.filter_text, 40)}”: {total} channels")
    if shown < total:
        note.append(f" · first {shown} shown")
    note.append("\n")
    if tail is None:
        note.append("Tail: not started", style="dim")
        return note
    state = tail.state
    if state.status == "refused":
        note.append(printable(state.error or "SUBSCRIBE refused", 300), style="bold yellow")
        note.append("  (t retries)", style="dim")
        return note
    label = {"live": ("● live", "green"), "connecting": ("… connecting", "yellow"),
             "reconnecting": ("… reconnecting", "yellow"),
             "stopped": ("■ stopped (t starts)", "dim")}.get(state.status,
                                                              (state.status, ""))
    note.append(f"Tail {label[0]}", style=label[1])
    note.append(" on " + printable(" ".join(tail.patterns), 60))
    if isinstance(tail, ShardedTail) and tail.shard_channels:
        note.append((" + " if tail.patterns else "") + "sharded "
                    + printable(" ".join(tail.shard_channels), 60))
    total_rate = panel.rates[0]
    note.append(f" · {tail.received:,} received")
    if total_rate is not None and state.status == "live":
        note.append(f" · {fmt.rate(total_rate)} msg/s")
    note.append(f" · buffer {tail.buffered:,}/{tail.buffer_size:,}")
    if tail.dropped:
        note.append(f" ({tail.dropped:,} fell off)")
    if tail.gaps:
        note.append(f" · {tail.gaps} gap{'s' if tail.gaps != 1 else ''}", style="yellow")
    if state.status == "reconnecting" and state.error:
        note.append(" · " + printable(state.error, 80), style="yellow")
    return note
