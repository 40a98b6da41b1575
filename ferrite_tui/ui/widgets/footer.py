"""The key footer, rebuilt only when the keys it shows change.

Textual's Footer rebuilds all its keys on every bindings update, and every focus change is
one: switching panels focuses two or three widgets in turn, so the footer was rebuilt (and
restyled) several times per switch. This one compares what it would show with what it
shows, and rebuilds at most once per refresh, only on a difference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Footer

if TYPE_CHECKING:
    from textual.screen import Screen

Shown = tuple[tuple[str, str, bool, bool, str], ...]


class KeyFooter(Footer):
    # Compact (narrow terminals): the palette key keeps its last column, else the key
    # scrolled under it shows through its margin.
    DEFAULT_CSS = """
    KeyFooter.-compact FooterKey.-command-palette { margin-right: 0; padding-right: 1; }
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._shown: Shown | None = None
        self._pending = False

    def on_resize(self, event) -> None:
        # Narrow terminals: one space between keys, so the panel's actions fit at 80.
        self.compact = event.size.width < 120

    def _wanted(self) -> Shown:
        return tuple((binding.key, binding.description, binding.show, enabled, tooltip)
                     for (_, binding, enabled, tooltip) in self.screen.active_bindings.values())

    def bindings_changed(self, screen: Screen[object]) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen and not self._pending:
            self._pending = True
            self.call_after_refresh(self._rebuild)

    async def _rebuild(self) -> None:
        self._pending = False
        wanted = self._wanted()
        if wanted != self._shown:
            self._shown = wanted
            await self.recompose()
