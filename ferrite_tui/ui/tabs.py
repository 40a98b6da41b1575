"""The console's tabs: which panel each number key shows, and which tab shows a queue kind.

A panel's module is imported when its tab is first shown (`LazyPanel`): the first screen
needs the Overview's alone, and the other seven with the dialogs and views they bring were
a good part of the start-up (start to first data is a budget, issue 25)."""

from __future__ import annotations

import importlib
from typing import Any

from ferrite_tui.backend.kinds import REGISTRY
from ferrite_tui.ui.protocols import PanelClass, PanelView


class LazyPanel:
    """A panel class by module and name, with its title: built like the class (`PanelClass`),
    imported on first use."""

    def __init__(self, title: str, module: str, name: str) -> None:
        self.TITLE = title
        self.module, self.name = module, name

    def load(self) -> Any:
        """The panel class itself."""
        return getattr(importlib.import_module(self.module), self.name)

    def __call__(self, **kwargs: Any) -> PanelView:
        panel: PanelView = self.load()(**kwargs)
        return panel

    def __repr__(self) -> str:
        return f"LazyPanel({self.module}.{self.name})"


PANELS_PACKAGE = "ferrite_tui.ui.panels"

# (tab id, number key, panel class); the order and keys are part of the user's muscle memory.
# Each title is its class's TITLE (tests/test_ui_layout.py checks).
PANELS: tuple[tuple[str, str, PanelClass], ...] = (
    ("overview", "1", LazyPanel("Overview", f"{PANELS_PACKAGE}.overview", "OverviewPanel")),
    ("queues", "2", LazyPanel("Queues", f"{PANELS_PACKAGE}.queues", "QueuesPanel")),
    ("priority", "3", LazyPanel("Priority", f"{PANELS_PACKAGE}.priority", "PriorityPanel")),
    ("scheduled", "4", LazyPanel("Scheduled", f"{PANELS_PACKAGE}.scheduled", "ScheduledPanel")),
    ("streams", "5", LazyPanel("Streams", f"{PANELS_PACKAGE}.streams", "StreamsPanel")),
    ("dlq", "6", LazyPanel("Dead letters", f"{PANELS_PACKAGE}.deadletters",
                           "DeadLettersPanel")),
    ("pubsub", "7", LazyPanel("Pub/Sub", f"{PANELS_PACKAGE}.pubsub", "PubSubPanel")),
    ("server", "8", LazyPanel("Server", f"{PANELS_PACKAGE}.server", "ServerPanel")),
)

# Which tab lists each kind: its layout says (KindLayout.panel).
TAB_OF_KIND = {layout.kind: layout.panel for layout in REGISTRY.kinds}

PANEL_OF_TAB = {tab: cls for tab, _, cls in PANELS}
