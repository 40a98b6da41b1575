"""Command palette entries: panels, app actions, and every action of the panel shown, by
name ("Dead letters: requeue all shown (R)"). In read-only mode the actions that change
data are listed as disabled and say so when chosen."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Protocol, cast

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

from ferrite_tui.ui.bindings_read import reading_bindings
from ferrite_tui.ui.panels.base import Panel
from ferrite_tui.ui.protocols import ConsoleApp
from ferrite_tui.ui.tabs import PANELS

if TYPE_CHECKING:
    from ferrite_tui.ui.panels.base import Panel

Command = tuple[str, Callable[[], object], str]


class PaletteApp(ConsoleApp, Protocol):
    """The app's actions the palette lists, besides what every part of the UI sees."""

    async def action_show_panel(self, tab: str) -> None: ...

    def action_rescan(self) -> None: ...

    def action_filter(self) -> None: ...

    def action_log_in(self) -> None: ...

    def action_help(self) -> None: ...

    def set_refresh(self, seconds: float) -> None: ...

    def exit(self) -> None: ...


def action_keys(panel: Panel) -> dict[str, str]:
    """action name -> the key that runs it, from the panel's bindings (its own first)."""
    keys: dict[str, str] = {}
    for cls in type(panel).__mro__:
        for binding in cls.__dict__.get("BINDINGS", ()):
            if isinstance(binding, Binding) and binding.action not in keys:
                keys[binding.action] = binding.key_display or binding.key.split(",")[0]
    return keys


def panel_commands(panel: Panel) -> Iterator[Command]:
    with reading_bindings():  # the panel finds its selected queue once for them all
        commands = list(_panel_commands(panel))
    yield from commands


def _panel_commands(panel: Panel) -> Iterator[Command]:
    read_only = panel.session.read_only
    keys = action_keys(panel)
    for action in {**panel.MUTATIONS, **panel.COMMANDS}:
        if panel.check_action(action, ()) is False:
            continue  # not for what is selected (its layout does not declare it)
        label = panel.action_label(action)  # the selected queue's layout's words
        key = keys.get(action)
        name = f"{panel.TITLE}: {label}" + (f" ({key})" if key else "")
        decl = panel.declaration(action)
        sends = f"sends {decl.sends}" + (" (the library's Lua)" if decl.needs_lua else "") \
            if decl is not None and decl.sends else f"on the {panel.TITLE} panel"
        if action in panel.MUTATIONS and read_only:
            yield (name, partial(panel.ferrite.say_read_only, label),
                   "disabled: read-only mode")
        else:
            yield (name, partial(panel.run_command, action), sends)


class PanelCommands(Provider):
    def _commands(self) -> Iterator[Command]:
        app = cast(PaletteApp, self.app)
        for tab, key, cls in PANELS:
            yield (f"Show {cls.TITLE} ({key})", partial(app.action_show_panel, tab),
                   f"Switch to the {cls.TITLE} panel")
        yield ("Rescan and refresh now (ctrl+r)", app.action_rescan,
               "Run discovery again and poll immediately")
        yield ("Filter the current panel (/)", app.action_filter, "Substring filter on keys")
        yield ("Log in: user name and password…", app.action_log_in,
               "Connect again with a password typed here (never saved)")
        yield ("Help: key bindings (?)", app.action_help, "List every binding")
        for seconds in (0.5, 1.0, 2.0, 5.0, 10.0):
            yield (f"Refresh every {seconds:g} s", partial(app.set_refresh, seconds),
                   "Poll interval; saved for next time")
        yield ("Quit (q)", app.exit, "Leave the console")
        panel = app.active_panel()
        if isinstance(panel, Panel):
            yield ("Correct the highlighted queue's kind (o)", panel.action_correct_kind,
                   "Saved as a [[queues]] entry in your config file")
            yield from panel_commands(panel)

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
