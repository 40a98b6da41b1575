"""Command palette entries: panels and actions by name."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


class PanelCommands(Provider):
    def _commands(self):
        from ferrite_tui.ui.app import PANELS

        app = self.app
        for tab, key, cls in PANELS:
            yield (f"Show {cls.TITLE} ({key})", partial(app.action_show_panel, tab),
                   f"Switch to the {cls.TITLE} panel")
        yield ("Rescan and refresh now (ctrl+r)", app.action_rescan,
               "Run discovery again and poll immediately")
        yield ("Filter the current panel (/)", app.action_filter, "Substring filter on keys")
        yield ("Help: key bindings (?)", app.action_help, "List every binding")
        for seconds in (0.5, 1.0, 2.0, 5.0, 10.0):
            yield (f"Refresh every {seconds:g} s", partial(app.set_refresh, seconds),
                   "Poll interval; saved for next time")
        from ferrite_tui.ui.panels.queues import QueuesPanel

        for panel in app.query(QueuesPanel):  # the selected library queue's own actions
            yield from panel.library_commands()
        yield ("Quit (q)", app.exit, "Leave the console")

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
