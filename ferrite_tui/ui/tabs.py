"""The console's tabs: which panel each number key shows, and which tab shows a queue kind."""

from ferrite_tui.backend.kinds import REGISTRY
from ferrite_tui.ui.panels.deadletters import DeadLettersPanel
from ferrite_tui.ui.panels.overview import OverviewPanel
from ferrite_tui.ui.panels.priority import PriorityPanel
from ferrite_tui.ui.panels.pubsub import PubSubPanel
from ferrite_tui.ui.panels.queues import QueuesPanel
from ferrite_tui.ui.panels.scheduled import ScheduledPanel
from ferrite_tui.ui.panels.server import ServerPanel
from ferrite_tui.ui.panels.streams import StreamsPanel
from ferrite_tui.ui.protocols import PanelClass

# (tab id, number key, panel class); the order and keys are part of the user's muscle memory.
PANELS: tuple[tuple[str, str, PanelClass], ...] = (
    ("overview", "1", OverviewPanel),
    ("queues", "2", QueuesPanel),
    ("priority", "3", PriorityPanel),
    ("scheduled", "4", ScheduledPanel),
    ("streams", "5", StreamsPanel),
    ("dlq", "6", DeadLettersPanel),
    ("pubsub", "7", PubSubPanel),
    ("server", "8", ServerPanel),
)

# Which tab lists each kind: its layout says (KindLayout.panel).
TAB_OF_KIND = {layout.kind: layout.panel for layout in REGISTRY.kinds}

PANEL_OF_TAB = {tab: cls for tab, _, cls in PANELS}
