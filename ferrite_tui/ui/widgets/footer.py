"""The key footer: one line of text, redrawn only when the keys it shows change.

Textual's Footer is a container of one widget per key, recomposed on every bindings update.
Switching panels changes the keys, so each switch mounted and styled a dozen widgets: half
the CPU of a panel switch. This footer keeps the keys as a list and draws them as one line
of text (a repaint, no layout); it still lists what Textual's footer lists (one key per
action, the command palette key on the right), dims disabled keys, runs a key when it is
clicked and shows its tooltip on hover.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from rich.text import Text
from textual import events
from textual.widget import Widget

from ferrite_tui.ui.bindings_read import reading_bindings
from ferrite_tui.ui.protocols import LabelsKeys

if TYPE_CHECKING:
    from textual.screen import Screen


class FooterEntry(NamedTuple):
    key: str  # the key as Textual names it ("ctrl+p"): what a click simulates
    display: str  # as shown ("^p")
    description: str
    enabled: bool
    tooltip: str


class KeyFooter(Widget, can_focus=False):
    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"footer-key--key", "footer-key--description", "footer-key--hover",
                         "footer-key--separator"}
    DEFAULT_CSS = """
    KeyFooter {
        height: 1;
        dock: bottom;
        color: $footer-foreground;
        background: $footer-background;
        .footer-key--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        .footer-key--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        .footer-key--hover { background: $block-hover-background; }
        .footer-key--separator { color: $foreground 20%; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._entries: tuple[FooterEntry, ...] = ()
        self._palette: FooterEntry | None = None
        self._hover: FooterEntry | None = None
        self._stale = True

    # -- what it shows ------------------------------------------------------------------

    def entries(self) -> tuple[FooterEntry, ...]:
        """Every key listed, left to right (the palette key is not one of them)."""
        self._read_bindings()
        return self._entries

    def keys(self) -> list[str]:
        return [entry.key for entry in self.entries()]

    def shown_keys(self) -> list[str]:
        """The keys drawn whole at the footer's width (those past the right edge are not)."""
        _, spans = self._layout()
        return [entry.key for _, _, entry in spans if entry is not self._palette]

    @property
    def palette(self) -> FooterEntry | None:
        self._read_bindings()
        return self._palette

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self.bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def bindings_changed(self, screen: Screen[object]) -> None:
        # Every focus change updates the bindings, and a panel switch focuses several
        # widgets in turn: they are read once, when the footer is next drawn. (Not in a
        # call_after_refresh: Textual hands that to whichever screen is on top when it is
        # processed, and a dialog closed before it was ever drawn dropped it, with the
        # footer waiting for it for the rest of the session.)
        if not screen.app.app_focus:  # as Textual's footer: a blurred app keeps its keys
            return
        if screen is self.screen and not self._stale:
            self._stale = True
            self.refresh()

    def _read_bindings(self) -> None:
        if not self._stale or not self.is_attached:
            return
        self._stale = False
        app = self.app
        entries: list[FooterEntry] = []
        actions: set[str] = set()
        palette = None
        with reading_bindings():  # each panel finds its selected queue once
            for key, (node, binding, enabled, tooltip) in self.screen.active_bindings.items():
                label = node.key_label(binding) if isinstance(node, LabelsKeys) \
                    else binding.description
                entry = FooterEntry(binding.key, app.get_key_display(binding), label,
                                    enabled, tooltip)
                if app.ENABLE_COMMAND_PALETTE and key == app.COMMAND_PALETTE_BINDING:
                    palette = entry._replace(tooltip=binding.tooltip or binding.description)
                elif binding.show and binding.action not in actions:
                    actions.add(binding.action)  # one key per action, as Textual's footer
                    entries.append(entry)
        self._entries, self._palette = tuple(entries), palette

    # -- drawing ------------------------------------------------------------------------

    def _label(self, entry: FooterEntry, compact: bool) -> Text:
        key_style = self.get_component_rich_style("footer-key--key")
        description_style = self.get_component_rich_style("footer-key--description")
        if compact:
            label = Text.assemble((entry.display, key_style), (f" {entry.description}",
                                                               description_style))
        else:
            label = Text.assemble((f" {entry.display} ", key_style),
                                  (f"{entry.description} ", description_style))
        if entry == self._hover:
            label.stylize(self.get_component_rich_style("footer-key--hover"))
        if not entry.enabled:
            label.stylize("dim")
        return label

    def render(self) -> Text:
        line, _ = self._layout()
        return line

    def _layout(self) -> tuple[Text, list[tuple[int, int, FooterEntry]]]:
        """The line at the current width, and where each key drawn whole is on it. Keys are
        padded while they all fit, and packed (one space apart) when they do not."""
        self._read_bindings()
        line, spans = self._layout_at(compact=False)
        if len(spans) < len(self._entries) + (self._palette is not None):
            line, spans = self._layout_at(compact=True)
        return line, spans

    def _layout_at(self, compact: bool) -> tuple[Text, list[tuple[int, int, FooterEntry]]]:
        width = self.size.width
        right = Text()
        palette_width = 0
        if self._palette is not None:
            palette_label = self._label(self._palette, compact=True)
            palette_width = palette_label.cell_len
            right.append("▏", self.get_component_rich_style("footer-key--separator"))
            right.append_text(palette_label)
            right.append(" ")
        room = width - right.cell_len
        line = Text(no_wrap=True, overflow="crop", end="")
        spans: list[tuple[int, int, FooterEntry]] = []
        gap = " " if compact else ""
        for entry in self._entries:
            label = self._label(entry, compact)
            start = line.cell_len
            if start + label.cell_len > room:
                line.append("…")  # more keys than room: the palette and help list them all
                break
            line.append_text(label)
            spans.append((start, line.cell_len, entry))
            line.append(gap)
        line.truncate(max(room, 0), pad=True)
        if self._palette is not None and room >= 0:
            start = room + 1  # after the separator
            spans.append((start, start + palette_width, self._palette))
            line.append_text(right)
        return line, spans

    # -- mouse ----------------------------------------------------------------------------

    def _entry_at(self, x: int) -> FooterEntry | None:
        _, spans = self._layout()
        for start, end, entry in spans:
            if start <= x < end:
                return entry
        return None

    def on_mouse_move(self, event: events.MouseMove) -> None:
        entry = self._entry_at(event.x)
        if entry != self._hover:
            self._hover = entry
            self.tooltip = (entry.tooltip or None) if entry is not None else None
            self.refresh()

    def on_leave(self, event: events.Leave) -> None:
        if self._hover is not None:
            self._hover = None
            self.tooltip = None
            self.refresh()

    def on_mouse_down(self, event: events.MouseDown) -> None:
        entry = self._entry_at(event.x)
        if entry is None:
            return
        if entry.enabled:
            self.app.simulate_key(entry.key)
        else:
            self.app.bell()
