"""The pub/sub log view: a ScrollView drawn with the line API (render_line draws only the
visible lines), so an unbounded log costs only what is on screen."""

from __future__ import annotations

import time
from collections import OrderedDict, deque

from rich.highlighter import JSONHighlighter
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ferrite_tui import formatting as fmt
from ferrite_tui.backend import boundedjson
from ferrite_tui.backend.envelopes import dumps, printable
from ferrite_tui.backend.pubsub import DEFAULT_BUFFER, DEFAULT_MAX_BYTES
from ferrite_tui.backend.recording import Entry

PREVIEW_JSON_BYTES = 64 << 10  # messages up to this size are shown as compact JSON
CHANNEL_WIDTH = 22

_json_highlighter = JSONHighlighter()


def entry_preview(entry: Entry, limit: int) -> Text:
    """The message as one literal line: compact, highlighted JSON where it parses."""
    data = entry.data
    if not entry.is_message:
        return Text(printable(data, limit))
    text = None
    if len(data) <= PREVIEW_JSON_BYTES and data[:1] in (b"{", b"["):
        try:
            text = dumps(boundedjson.loads(data))
        except (ValueError, RecursionError):
            text = None
    if text is None:
        head = data[: limit * 4 + 8]
        text = printable(head, limit)
        if len(head) < len(data) and not text.endswith("…"):
            text = text[: max(limit - 1, 0)] + "…"
    else:
        text = printable(text, limit)
    out = Text(text, no_wrap=True)
    if data[:1] in (b"{", b"["):
        _json_highlighter.highlight(out)
    return out


class FollowChanged(Message):
    def can_replace(self, message: Message) -> bool:
        return isinstance(message, FollowChanged)


class InspectEntry(Message):
    def __init__(self, entry: Entry) -> None:
        super().__init__()
        self.entry = entry


class LogView(ScrollView, can_focus=True):
    """The tail's log. Holds references to the tail's entries that pass the filter."""

    COMPONENT_CLASSES = {"logview--cursor", "logview--time", "logview--channel",
                         "logview--marker", "logview--size"}

    DEFAULT_CSS = """
    LogView { height: 1fr; overflow-x: hidden; }
    LogView > .logview--cursor { background: $accent 40%; }
    LogView:focus > .logview--cursor { background: $accent 70%; }
    LogView > .logview--time { color: $text-muted; }
    LogView > .logview--channel { color: $secondary; }
    LogView > .logview--marker { color: $warning; text-style: bold; }
    LogView > .logview--size { color: $text-muted; }
    """

    BINDINGS = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("pageup", "move_page(-1)", "Page up", show=False),
        Binding("pagedown", "move_page(1)", "Page down", show=False),
        Binding("home", "top", "Top", show=False),
        Binding("end", "bottom", "End (follow)", show=False),
        Binding("enter", "inspect", "Inspect", id="pubsub.inspect"),
    ]

    def __init__(self, limit: int = DEFAULT_BUFFER, max_bytes: int = DEFAULT_MAX_BYTES,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.rows: deque[Entry] = deque()
        self.limit = limit
        self.max_bytes = max_bytes
        self._bytes = 0
        self.base = 0  # absolute index of rows[0]
        self.cursor: int | None = None  # absolute index
        self.follow = True
        self._cache: OrderedDict[tuple, Strip] = OrderedDict()
        self.renders = 0  # lines drawn (tests and benchmarks read it)

    # -- content --------------------------------------------------------------------------

    def clear_rows(self) -> None:
        self.rows.clear()
        self._bytes = 0
        self.base = 0
        self.cursor = None
        self._cache.clear()
        self._update_size()

    def add(self, entries: list[Entry]) -> None:
        if not entries:
            return
        rows = self.rows
        rows.extend(entries)
        self._bytes += sum(len(e.data) for e in entries)
        removed = 0
        while len(rows) > self.limit or (self._bytes > self.max_bytes and len(rows) > 1):
            self._bytes -= len(rows.popleft().data)
            removed += 1
        self.base += removed
        if removed and not self.follow:
            # keep the same lines on screen while older ones fall off the top
            self._scroll_y(max(self.scroll_y - removed, 0))
        if self.cursor is not None and self.cursor < self.base:
            self.cursor = self.base if rows else None
        self._update_size()
        if self.follow:
            self.cursor = self.base + len(rows) - 1
            self._scroll_bottom()
        self.refresh()

    def _scroll_y(self, y: float) -> None:
        # force: the scrollbar may not be laid out yet right after the log grew
        self.scroll_to(y=y, animate=False, force=True, immediate=True)

    def _scroll_bottom(self) -> None:
        self._scroll_y(max(len(self.rows) - self.scrollable_content_region.height, 0))

    def keep_following(self) -> None:
        """In follow mode the newest line stays in view, also after the log was resized."""
        if self.follow and self.rows and int(self.scroll_y) < self.max_scroll_y:
            self._scroll_bottom()
            self.refresh()

    def _update_size(self) -> None:
        self.virtual_size = Size(max(self.size.width, 1), len(self.rows))

    def on_resize(self, event: events.Resize) -> None:
        self._cache.clear()
        self._update_size()
        if self.follow:
            self._scroll_bottom()

    @property
    def selected(self) -> Entry | None:
        if self.cursor is None:
            return None
        i = self.cursor - self.base
        return self.rows[i] if 0 <= i < len(self.rows) else None

    # -- drawing ----------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        index = int(self.scroll_y) + y
        width = self.size.width
        if index < 0 or index >= len(self.rows) or width <= 0:
            return Strip.blank(width, self.rich_style)
        entry = self.rows[index]
        is_cursor = self.cursor == self.base + index
        key = (entry.seq, width, is_cursor, self.has_focus)
        strip = self._cache.get(key)
        if strip is None:
            strip = self._draw(entry, width, is_cursor)
            self._cache[key] = strip
            if len(self._cache) > 400:
                self._cache.popitem(last=False)
        return strip

    def _draw(self, entry: Entry, width: int, is_cursor: bool) -> Strip:
        self.renders += 1
        base = self.rich_style
        stamp = time.strftime("%H:%M:%S", time.localtime(entry.time))
        stamp += f".{int(entry.time * 1000) % 1000:03d}"
        line = Text(no_wrap=True, overflow="crop", end="")
        line.append(stamp + " ", self.get_component_rich_style("logview--time"))
        if entry.is_message:
            chan_w = min(CHANNEL_WIDTH, max(width // 4, 8))
            # "§": a sharded channel's message (SSUBSCRIBE), not the plain channel's.
            chan = "§" * entry.sharded + printable(entry.channel, chan_w - entry.sharded)
            line.append(chan.ljust(chan_w) + " ", self.get_component_rich_style("logview--channel"))
            size = len(entry.data)
            size_text = fmt.size(size) if size >= 1024 else f"{size} B"
            line.append(f"{size_text:>9} ", self.get_component_rich_style("logview--size"))
            room = max(width - line.cell_len, 1)
            line.append_text(entry_preview(entry, room))
        else:
            label = "── gap ── " if entry.kind == Entry.GAP else "── "
            room = max(width - line.cell_len - len(label), 1)
            line.append(label + printable(entry.data, room),
                        self.get_component_rich_style("logview--marker"))
        segments = list(line.render(self.app.console))
        strip = Strip(segments).crop(0, width).extend_cell_length(width)
        if is_cursor:
            base = base + self.get_component_rich_style("logview--cursor")
        return strip.apply_style(base)

    def _invalidate(self) -> None:
        self._cache.clear()
        self.refresh()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # -- moving ------------------------------------------------------------------------------

    def _set_cursor(self, absolute: int) -> None:
        if not self.rows:
            self.cursor = None
            return
        absolute = max(self.base, min(absolute, self.base + len(self.rows) - 1))
        self.cursor = absolute
        i = absolute - self.base
        height = max(self.size.height, 1)
        if i < self.scroll_y:
            self._scroll_y(i)
        elif i >= self.scroll_y + height:
            self._scroll_y(i - height + 1)
        self.follow = i == len(self.rows) - 1 and self.follow
        self.refresh()

    def action_move(self, delta: int) -> None:
        if self.cursor is None:
            self._set_cursor(self.base + len(self.rows) - 1)
            return
        if delta < 0:
            self.follow = False
        self._set_cursor(self.cursor + delta)
        self.post_message(FollowChanged())

    def action_move_page(self, direction: int) -> None:
        self.action_move(direction * max(self.size.height - 1, 1))

    def action_top(self) -> None:
        self.follow = False
        self._set_cursor(self.base)
        self.post_message(FollowChanged())

    def action_bottom(self) -> None:
        self.follow = True
        self._set_cursor(self.base + len(self.rows) - 1)
        self._scroll_bottom()
        self.post_message(FollowChanged())

    def set_follow(self, follow: bool) -> None:
        if follow:
            self.action_bottom()
        else:
            self.follow = False
            self.post_message(FollowChanged())

    def on_click(self, event: events.Click) -> None:
        index = int(self.scroll_y) + event.y
        if 0 <= index < len(self.rows):
            self.follow = False
            self._set_cursor(self.base + index)
            self.post_message(FollowChanged())

    def say(self, message: str, **kwargs) -> None:
        self.notify(message, markup=False, **kwargs)

    def action_inspect(self) -> None:
        entry = self.selected
        if entry is None or not entry.is_message:
            self.say("Select a message first (up/down; end follows the newest)", timeout=3)
            return
        self.post_message(InspectEntry(entry))


