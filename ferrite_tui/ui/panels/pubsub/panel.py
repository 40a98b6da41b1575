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

import time

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.envelopes import key_text, printable
from ferrite_tui.backend.pubsub import DEFAULT_BUFFER, Tail
from ferrite_tui.backend.recording import Entry
from ferrite_tui.backend.shards import ShardedTail
from ferrite_tui.ui.panels.base import BEFORE_FIRST_POLL, Panel
from ferrite_tui.ui.panels.pubsub.actions import (
    ask_patterns,
    ask_publish,
    ask_record,
    ask_sharded,
    set_sharded,
)
from ferrite_tui.ui.panels.pubsub.channels import channel_note, channel_rows
from ferrite_tui.ui.widgets.logview import FollowChanged, InspectEntry, LogView
from ferrite_tui.ui.widgets.table import Column, KeyedTable
from ferrite_tui.websession import refuse_file_writes

PULL_S = 0.1  # the log takes new messages from the tail at most 10 times a second
TABLE_S = 1.0  # channel rates are redrawn once a second
FILTER_SCAN_BYTES = 64 << 10  # a text filter looks at the first 64 KiB of each message


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
        self.rates: tuple[float | None, dict[bytes, float]] = (None, {})
        self._status_text = ""
        self._seen_state: tuple = ()
        self.last_key_at = 0.0  # perf_counter() of the last panel key handled (benchmarks)

    def compose(self) -> ComposeResult:
        yield Static(Text(BEFORE_FIRST_POLL), classes="panel-note", id="note")
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
            self.rates = tail.rates()
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
        if client is None or not client.capabilities.sharded_pubsub or any(
                c.key == "kind" for c in self.table.all_columns):
            return
        self.table.insert_column(1, Column("kind", "kind", 7))
        if client.cluster is not None:
            self.table.insert_column(2, Column("node", "node", 21, priority=2))

    def redraw_table(self) -> None:
        self._ensure_columns()
        rows, total, shown = channel_rows(self)
        self.table.set_rows(rows)
        self.query_one("#note", Static).update(channel_note(self, self.snapshot, total, shown))

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
        # One line high whatever it says: no layout of the screen (the line count changes
        # with every pull, and a layout was 60-170 ms of CPU at 200x60 on a busy machine).
        self.query_one("#log-status", Static).update(text, layout=False)

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
        self.act("patterns", lambda: None, lambda _: ask_patterns(self))

    def action_sharded(self) -> None:
        self._key()
        if not self.sharded_available():
            self.notify(self.NOT_SHARDED, severity="warning", timeout=6)
            return
        self.act("sharded", lambda: None, lambda _: ask_sharded(self))

    @work(group="pubsub-sharded", exit_on_error=False)
    async def _tail_sharded(self, channels: list[str]) -> None:
        outcome = await set_sharded(self, channels)
        if outcome is not None:
            self.notify(outcome.line, severity=outcome.severity, timeout=outcome.timeout)

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
        if not refuse_file_writes(self.notify, "record"):
            self.act("record", lambda: None, lambda _: ask_record(self))

    def action_publish(self) -> None:
        self._key()
        self.act("publish", self._channel_shown, lambda target: ask_publish(self, target))

    def _channel_shown(self) -> tuple[str, bool]:
        """The channel the operator looks at, and whether it is a sharded one."""
        if self.channel_filter is not None:
            return key_text(self.channel_filter), self.filter_sharded
        key = self.table.cursor_key or ""
        kind, _, name = key.partition(":")
        if kind in ("channel", "shard"):
            return name, kind == "shard"
        return "", False

