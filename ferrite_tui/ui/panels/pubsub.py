"""Panel 7: pub/sub channels, a live tail, recording and publish.

Top: the active channels (PUBSUB CHANNELS / NUMSUB, NUMPAT from each poll) merged with the
channels the tail has seen, with messages per second while tailing. Where the server has
sharded Pub/Sub (Redis 7), sharded channels are rows of their own (kind "sharded"; on a
cluster PUBSUB SHARDCHANNELS / SHARDNUMSUB of every primary, with the node that owns each),
`s` tails them (SSUBSCRIBE on the owning shard) and `n` publishes to them (SPUBLISH).
Below: the live log, drawn with the line API (a ScrollView whose render_line draws only
the visible lines) and fed in batches at most ten times a second, so a flood never keeps
keys from answering.
"""

from __future__ import annotations

import shlex
import time

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.envelopes import key_text, printable
from ferrite_tui.backend.pubsub import (
    DEFAULT_BUFFER,
    Entry,
    PubSub,
    Tail,
    is_pattern,
    tail_matches,
)
from ferrite_tui.backend.shards import ShardedPubSub, ShardedTail
from ferrite_tui.ui.panels.base import Outcome, Panel
from ferrite_tui.ui.screens.dialogs import Field, check_output_path
from ferrite_tui.ui.widgets.logview import FollowChanged, InspectEntry, LogView
from ferrite_tui.ui.widgets.table import Column

PULL_S = 0.1  # the log takes new messages from the tail at most 10 times a second
TABLE_S = 1.0  # channel rates are redrawn once a second
MAX_CHANNEL_ROWS = 1000
FILTER_SCAN_BYTES = 64 << 10  # a text filter looks at the first 64 KiB of each message


def _quote(pattern: str) -> str:
    """Quoted for shlex.split only where needed (glob characters stay bare)."""
    if pattern and not any(ch.isspace() or ch in "'\"\\" for ch in pattern):
        return pattern
    return shlex.quote(pattern)


class PubSubPanel(Panel):
    TITLE = "Pub/Sub"
    EMPTY = "No channel has a subscriber right now (PUBSUB CHANNELS is empty)."

    DEFAULT_CSS = """
    PubSubPanel #note { height: auto; }
    PubSubPanel #table { height: auto; max-height: 35%; }
    PubSubPanel #log-status { height: 1; padding: 0 1; background: $boost; }
    PubSubPanel #log-box { height: 1fr; }
    """

    MUTATIONS = {"publish": "publish a message"}
    COMMANDS = {"pause": "pause / resume the tail", "follow": "follow the newest on/off",
                "record": "record the tail to a file (on/off)",
                "patterns": "tail patterns", "toggle_tail": "tail on/off",
                "sharded": "tail sharded channels (SSUBSCRIBE)"}
    NOT_SHARDED = ("Sharded Pub/Sub (SSUBSCRIBE / SPUBLISH) is not available on this server "
                   "(Redis 7 or later has it)")

    BINDINGS = [
        Binding("space", "pause", "Pause", id="pubsub.pause"),
        Binding("f", "follow", "Follow", id="pubsub.follow"),
        Binding("w", "record", "Record", id="pubsub.record"),
        Binding("n", "publish", "Publish", id="pubsub.publish"),
        Binding("p", "patterns", "Patterns", id="pubsub.patterns"),
        Binding("t", "toggle_tail", "Tail on/off", id="pubsub.tail"),
        Binding("s", "sharded", "Sharded", id="pubsub.sharded"),
        Binding("tab", "switch_focus", "Switch", id="pubsub.switch", show=False),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.tail: Tail | None = None
        self.last_seq = 0
        self.skipped = 0  # messages that fell off the buffer before the view took them
        self.channel_filter: bytes | None = None
        self.filter_sharded = False  # the channel filter names a sharded channel
        self._pulled_at = 0.0
        self._table_at = 0.0
        self._rates: tuple[float | None, dict[bytes, float]] = (None, {})
        self._status_text = ""
        self._seen_state: tuple = ()
        self.last_key_at = 0.0  # perf_counter() of the last panel key handled (benchmarks)

    def compose(self) -> ComposeResult:
        yield Static(Text(self.EMPTY), classes="panel-note", id="note")
        from ferrite_tui.ui.widgets.table import KeyedTable

        yield KeyedTable(self.columns(), id="table")
        yield Static(Text(""), id="log-status")
        limit = self.buffer_size()
        # In a box of its own: when the tab hides, Textual hands focus to a focusable
        # *sibling* of the focused widget, and a sibling inside the hidden pane would pull
        # the tab back (TabPane.Focused). The table has no focusable sibling this way.
        with Vertical(id="log-box"):
            yield LogView(limit=limit, id="log")

    def buffer_size(self) -> int:
        return int(self.session.config.pubsub_buffer or DEFAULT_BUFFER)

    def columns(self) -> list[Column]:
        return [
            Column("channel", "channel", 36),
            Column("subs", "subscribers", 11, justify="right"),
            Column("rate", "msgs/s", 9, justify="right"),
            Column("received", "received", 10, priority=1, justify="right"),
        ]

    @property
    def log_view(self) -> LogView:
        return self.query_one("#log", LogView)

    # -- tail lifecycle ---------------------------------------------------------------------

    def on_mount(self) -> None:
        self.set_interval(PULL_S, self.pull)

    def on_show(self) -> None:
        if self.tail is None:
            self.start_tail()

    def sharded_available(self) -> bool:
        client = self.session.client
        return client is not None and client.capabilities.sharded_pubsub

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "sharded" and not self.sharded_available():
            return False  # not in the footer where it cannot work; the key says why (on_key)
        return super().check_action(action, parameters)

    def on_key(self, event: events.Key) -> None:
        if event.key == "s" and not self.sharded_available():
            event.stop()
            event.prevent_default()
            self.notify(self.NOT_SHARDED, severity="warning", timeout=6)

    def start_tail(self) -> None:
        client = self.session.client
        if client is None:
            return
        if self.tail is None:
            self.tail = (ShardedTail(client, buffer=self.buffer_size())
                         if client.capabilities.sharded_pubsub
                         else Tail(client, buffer=self.buffer_size()))
            self.refresh_bindings()  # `s` shows where sharded Pub/Sub exists
        self.tail.start()
        self.pull(force=True)

    async def on_unmount(self) -> None:
        if self.tail is not None:
            await self.tail.aclose()

    # -- the batch loop -------------------------------------------------------------------

    def matches_entry(self, entry: Entry) -> bool:
        if not entry.is_message:
            return True
        if self.channel_filter is not None and (entry.channel != self.channel_filter
                                                or entry.sharded != self.filter_sharded):
            return False
        if not self.filter_text:
            return True
        needle = self.filter_text.lower()
        if needle in key_text(entry.channel).lower():
            return True
        return needle.encode("utf-8", "surrogateescape") in entry.data[:FILTER_SCAN_BYTES].lower()

    def pull(self, force: bool = False) -> None:
        """Take what is new from the tail (at most every PULL_S) and redraw once."""
        tail = self.tail
        if tail is None:
            return
        now = time.monotonic()
        if not tail.paused:
            entries, skipped = tail.since(self.last_seq)
            if entries:
                self.last_seq = entries[-1].seq
            elif skipped:
                self.last_seq = tail.seq
            self.skipped += skipped
            if entries:
                if self.filter_text or self.channel_filter is not None:
                    entries = [e for e in entries if self.matches_entry(e)]
                self.log_view.add(entries)
        self.log_view.keep_following()
        self._pulled_at = now
        state_changed = (tail.state, tail.gaps) != self._seen_state
        self._seen_state = (tail.state, tail.gaps)
        if force or state_changed or now - self._table_at >= TABLE_S:
            self._table_at = now
            self._rates = tail.rates()
            self.redraw_table()
        self.update_status()

    def rebuild_log(self) -> None:
        """Filter changed: draw the buffered entries again (up to what the view has taken)."""
        log = self.log_view
        log.clear_rows()
        if self.tail is None:
            return
        log.add([e for e in self.tail.entries()
                 if e.seq <= self.last_seq and self.matches_entry(e)])
        if not log.follow:
            log.action_bottom()

    # -- drawing --------------------------------------------------------------------------

    def redraw(self) -> None:
        self.redraw_table()
        self.update_status()

    def _ensure_columns(self) -> None:
        """Where sharded Pub/Sub exists, a kind column (and on a cluster, the node)."""
        client = self.session.client
        columns = self.table.all_columns
        if client is None or not client.capabilities.sharded_pubsub or any(
                c.key == "kind" for c in columns):
            return
        columns.insert(1, Column("kind", "kind", 7))
        if client.cluster is not None:
            columns.insert(2, Column("node", "node", 21, priority=2))
        self.table._layout_columns(self.table.size.width or 120)

    def redraw_table(self) -> None:
        self._ensure_columns()
        snap = self.snapshot
        subs: dict[str, int] = {c.name: c.subscribers for c in snap.channels} if snap else {}
        tail = self.tail
        counts = {key_text(k): v for k, v in tail.by_channel.items()} if tail else {}
        rates = {key_text(k): v for k, v in self._rates[1].items()}
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
        if self.filter_text:
            needle = self.filter_text.lower()
            names = [(n, sh) for n, sh in names if needle in n.lower()]
        shown = names[:MAX_CHANNEL_ROWS]
        rows = []
        cluster = view is not None
        for name, sharded in shown:
            selected = (self.channel_filter is not None and self.filter_sharded == sharded
                        and key_text(self.channel_filter) == name)
            label = Text(("▶ " if selected else "") + printable(name, 200), no_wrap=True,
                         overflow="ellipsis", style="bold" if selected else "")
            if sharded:
                live = tailing and name in tailed
                rate = shard_rates.get(name)
                n = shard_subs.get(name)
                rows.append((f"shard:{name}", {
                    "channel": label,
                    "kind": Text("sharded", style="magenta"),
                    "node": shard_node.get(name) or self._owner(name),
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
        self.table.set_rows(rows)
        self.query_one("#note", Static).update(self._note(snap, len(names), len(shown)))

    def _owner(self, channel: str) -> str:
        """The primary serving a sharded channel's slot (empty off a cluster)."""
        client = self.session.client
        if client is None or client.cluster is None:
            return ""
        try:
            return client.cluster.node_of(channel)
        except Exception:  # slot not served right now
            return "?"

    def _note(self, snap, total: int, shown: int) -> Text:
        numpat = "n/a" if snap is None or snap.numpat is None else str(snap.numpat)
        active = len(snap.channels) if snap else 0
        note = Text()
        if snap is not None and not snap.channels:
            note.append(self.EMPTY + " ")
        else:
            note.append(f"{active} active channels · ")
        note.append(f"{numpat} pattern subscriptions (NUMPAT)")
        tail = self.tail
        if tail is not None and tail.state.status == "live" and any(
                is_pattern(p) for p in tail.patterns):
            note.append(" incl. this tail", style="dim")
        if snap is not None and snap.cluster is not None:
            shard = snap.cluster.shard_channels
            if shard is None or not self.sharded_available():
                note.append(" · sharded channels: not available on this server (Redis 7+)",
                            style="dim")
            else:
                note.append(f" · {len(shard)} sharded channels (s tails them)")
        if self.filter_text:
            note.append(f" · filter “{printable(self.filter_text, 40)}”: {total} channels")
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
        total_rate = self._rates[0]
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

    def update_status(self) -> None:
        tail = self.tail
        log = self.log_view
        parts: list[tuple[str, str]] = []
        if tail is not None and tail.paused:
            parts.append((f"⏸ PAUSED: {tail.since_pause:,} arrived since (counted; "
                          "space resumes)", "bold yellow"))
        parts.append(("follow" if log.follow else "follow off (f or end)",
                      "green" if log.follow else "yellow"))
        parts.append((f"{len(log.rows):,} line{'s' if len(log.rows) != 1 else ''}", ""))
        if self.channel_filter is not None:
            parts.append(("sharded " * self.filter_sharded + "channel "
                          + printable(self.channel_filter, 40)
                          + " (enter on it again: all)", "cyan"))
        if self.filter_text:
            parts.append((f"filter “{printable(self.filter_text, 30)}”", "cyan"))
        if self.skipped:
            parts.append((f"view skipped {self.skipped:,} (fell off the buffer before "
                          "they could be drawn)", "bold red"))
        if tail is not None and tail.recorder is not None:
            rec = tail.recorder
            parts.append((f"● REC {rec.messages:,} → {printable(str(rec.path), 60)}", "bold red"))
        elif tail is not None and tail.record_error:
            parts.append((printable(tail.record_error, 100), "bold red"))
        key = "|".join(p for p, _ in parts)
        if key == self._status_text:
            return
        self._status_text = key
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, (part, style) in enumerate(parts):
            if i:
                text.append(" · ", "dim")
            text.append(part, style)
        self.query_one("#log-status", Static).update(text)

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self.redraw_table()
        self.rebuild_log()
        self.update_status()

    def open_row(self, ident: str) -> None:
        """enter on a channel: show only its messages (enter again: all channels)."""
        kind, _, name = ident.partition(":")
        sharded = kind == "shard"
        raw = name.encode("utf-8", "surrogateescape")
        same = self.channel_filter == raw and self.filter_sharded == sharded
        self.channel_filter = None if same else raw
        self.filter_sharded = sharded and not same
        tail = self.tail
        if self.filter_sharded and isinstance(tail, ShardedTail) and name not in \
                tail.shard_channels:
            # No pattern reaches a sharded channel: showing its messages means tailing it.
            self._tail_sharded([*tail.shard_channels, name])
        self.redraw_table()
        self.rebuild_log()
        self.update_status()
        if self.channel_filter is not None:
            self.log_view.focus()

    def focus_ident(self, ident: str) -> bool:
        return super().focus_ident(ident)

    # -- keys -----------------------------------------------------------------------------

    def _key(self) -> None:
        self.last_key_at = time.perf_counter()

    def on_follow_changed(self, message: FollowChanged) -> None:
        self.update_status()

    def on_inspect_entry(self, message: InspectEntry) -> None:

        entry = message.entry
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.time))
        meta = [("channel", printable(entry.channel, 300)),
                ("received", f"{when}.{int(entry.time * 1000) % 1000:03d}"),
                ("size", fmt.size(len(entry.data)))]
        if entry.pattern is not None:
            meta.insert(1, ("pattern", printable(entry.pattern, 300)))
        if entry.sharded:
            meta.insert(1, ("sharded", "yes (SSUBSCRIBE)"))
        self.inspect_value(f"pub/sub {printable(entry.channel, 80)}", entry.data, meta)

    def action_switch_focus(self) -> None:
        if self.log_view.has_focus:
            self.table.focus()
        else:
            self.log_view.focus()

    def action_pause(self) -> None:
        self._key()
        tail = self.tail
        if tail is None:
            self.notify("The tail is not running (t starts it)", timeout=3)
            return
        if tail.paused:
            tail.resume()
            self.pull(force=True)
        else:
            tail.pause()
        self.update_status()

    def action_follow(self) -> None:
        self._key()
        self.log_view.set_follow(not self.log_view.follow)
        self.update_status()

    def action_toggle_tail(self) -> None:
        self._key()
        if self.tail is not None and self.tail.running:
            self._stop_tail()
        else:
            self.start_tail()
            self.notify("Tail started", timeout=2)

    @work(group="pubsub-tail-stop", exit_on_error=False)
    async def _stop_tail(self) -> None:
        if self.tail is not None:
            await self.tail.stop()
            self.notify("Tail stopped (t starts it again)", timeout=3)
            self.pull(force=True)

    def action_patterns(self) -> None:
        self._key()
        self.act("patterns", lambda: None, self._patterns)

    async def _patterns(self, _: None) -> Outcome | None:
        current = " ".join(_quote(p) for p in (self.tail.patterns if self.tail else ("*",)))

        def check(value: str) -> str | None:
            try:
                return None if shlex.split(value) else "give at least one pattern"
            except ValueError as exc:
                return str(exc)

        values = await self.ask(
            "Tail patterns",
            [Field("patterns", "Patterns, space-separated (quote names with spaces)", current,
                   placeholder="orders.* payments.failed", check=check)],
            submit_label="Subscribe",
            body="Names with * ? [ ] subscribe with PSUBSCRIBE, plain names with SUBSCRIBE.")
        if values is None:
            return None
        patterns = shlex.split(values["patterns"])
        if self.tail is None:
            self.start_tail()
        if self.tail is None:
            return Outcome("Not connected", "error")
        await self.tail.set_patterns(patterns)
        if not self.tail.running and self.tail.state.status != "refused":
            self.tail.start()
        self.pull(force=True)
        return Outcome("Tailing " + printable(" ".join(patterns), 100), timeout=3)

    def action_sharded(self) -> None:
        self._key()
        if not self.sharded_available():
            self.notify(self.NOT_SHARDED, severity="warning", timeout=6)
            return
        self.act("sharded", lambda: None, self._sharded)

    async def _sharded(self, _: None) -> Outcome | None:
        tail = self.tail
        current = " ".join(_quote(c) for c in tail.shard_channels) \
            if isinstance(tail, ShardedTail) else ""

        def check(value: str) -> str | None:
            try:
                names = shlex.split(value)
            except ValueError as exc:
                return str(exc)
            bad = [n for n in names if is_pattern(n)]
            return f"sharded channels take names, not patterns: {bad[0]}" if bad else None

        values = await self.ask(
            "Tail sharded channels",
            [Field("channels", "Sharded channels, space-separated (empty: none)", current,
                   placeholder="orders.{eu} orders.{us}", check=check)],
            submit_label="Subscribe",
            body="SSUBSCRIBE on the shard that owns each channel's slot (a cluster: one "
                 "connection per owning primary). Names only: no pattern reaches a sharded "
                 "channel.")
        if values is None:
            return None
        return await self._set_sharded(shlex.split(values["channels"]))

    @work(group="pubsub-sharded", exit_on_error=False)
    async def _tail_sharded(self, channels: list[str]) -> None:
        outcome = await self._set_sharded(channels)
        if outcome is not None:
            self.notify(outcome.line, severity=outcome.severity, timeout=outcome.timeout)

    async def _set_sharded(self, channels: list[str]) -> Outcome | None:
        if self.tail is None:
            self.start_tail()
        tail = self.tail
        if not isinstance(tail, ShardedTail):
            return Outcome(self.NOT_SHARDED, "warning")
        await tail.set_shard_channels(channels)
        self.pull(force=True)
        if not channels:
            return Outcome("No sharded channel tailed", timeout=3)
        where = sorted({f.node for f in tail.feeds}) if self.session.client and \
            self.session.client.cluster is not None else []
        return Outcome("Tailing sharded " + printable(" ".join(channels), 100)
                       + (" on " + ", ".join(where) if where else ""), timeout=4)

    def action_record(self) -> None:
        self._key()
        tail = self.tail
        if tail is None:
            self.notify("The tail is not running (t starts it)", timeout=3)
            return
        if tail.recorder is not None:
            recorder = tail.stop_recording()
            if tail.record_error:
                self.notify(tail.record_error, severity="error")
            elif recorder is not None:
                self.notify(f"Recorded {recorder.messages:,} messages to {recorder.path}",
                            timeout=6)
            self.update_status()
            return
        self.act("record", lambda: None, self._record)

    async def _record(self, _: None) -> Outcome | None:
        from ferrite_tui.files import RECORDINGS, default_file, resolve

        default = default_file(RECORDINGS, "pubsub", ".ndjson")
        values = await self.ask(
            "Record the tail",
            [Field("path", f"NDJSON file (a new file; never overwritten). A bare name goes "
                           f"to {default.parent}",
                   str(default),
                   check=lambda v: check_output_path(str(resolve(v, RECORDINGS))))],
            submit_label="Record",
            body="Every message from now on is written as {time, channel, message}, "
                 "paused or not, until w again.")
        if values is None or self.tail is None:
            return None
        path = resolve(values["path"], RECORDINGS)
        try:
            self.tail.start_recording(path)
        except FileExistsError:
            return Outcome(f"{path} exists already: choose another name", "error")
        except (OSError, RuntimeError) as exc:
            return Outcome(f"cannot record to {path}: {getattr(exc, 'strerror', None) or exc}",
                           "error")
        self.update_status()
        return Outcome(f"Recording to {path} (w stops)", timeout=4)

    def action_publish(self) -> None:
        self._key()
        self.act("publish", self._channel_shown, self._publish)

    def _channel_shown(self) -> tuple[str, bool]:
        """The channel the operator looks at, and whether it is a sharded one."""
        if self.channel_filter is not None:
            return key_text(self.channel_filter), self.filter_sharded
        key = self.table.cursor_key or ""
        kind, _, name = key.partition(":")
        if kind in ("channel", "shard"):
            return name, kind == "shard"
        return "", False

    async def _publish(self, target: tuple[str, bool]) -> Outcome | None:
        client = self.session.client
        if client is None:
            return Outcome("Not connected", "error")
        channel, sharded = target
        fields = [Field("channel", "Channel", channel, placeholder="orders.created",
                        check=lambda v: None if v else "give a channel"),
                  Field("message", "Message (sent as typed, UTF-8)", "",
                        placeholder='{"order_id": "12345"}')]
        if self.sharded_available():
            fields.append(Field("sharded", "Sharded channel: SPUBLISH (yes / no)",
                                "yes" if sharded else "no",
                                check=lambda v: None if v.strip().lower() in ("yes", "no")
                                else "yes or no"))
        values = await self.ask("Publish a message", fields, submit_label="Publish")
        if values is None:
            return None
        channel, message = values["channel"], values["message"]
        if values.get("sharded", "no").strip().lower() == "yes":
            return await self._spublish(channel, message)
        receivers = await PubSub(client).publish(channel, message)
        tail = self.tail
        ours = int(tail is not None and tail.state.status == "live"
                   and tail_matches(tail.patterns, channel))
        shown = printable(channel, 60)
        if client.cluster is not None:
            # A cluster relays PUBLISH to every node, but the count is the publishing
            # node's own subscribers only: say so rather than claim "nobody listened".
            return Outcome(f"Published to {shown}: {receivers} subscriber(s) on the node that "
                           "took it; the cluster relays it to every node, whose subscribers "
                           "it does not count", timeout=8)
        return _received(f"Published to {shown}", receivers, ours)

    async def _spublish(self, channel: str, message: str) -> Outcome:
        client = self.session.client
        assert client is not None
        receivers = await ShardedPubSub(client).publish(channel, message)
        tail = self.tail
        ours = int(isinstance(tail, ShardedTail) and channel in tail.shard_channels
                   and tail.state.status == "live")
        where = ""
        if client.cluster is not None:
            # SPUBLISH counts the subscribers of the shard's primary (its replicas' not).
            where = f" on {self._owner(channel)}"
        return _received(f"Published to sharded {printable(channel, 60)}{where}",
                         receivers, ours)


def _received(what: str, receivers: int, ours: int) -> Outcome:
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
