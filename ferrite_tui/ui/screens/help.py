"""? : every binding that is active here, from the bindings themselves."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from ferrite_tui.backend.envelopes import printable
from ferrite_tui.ui.widgets.table import KeyedTable

GENERAL = [
    ("1 … 8", "panels: Overview, Queues, Priority, Scheduled, Streams, Dead letters, "
              "Pub/Sub, Server"),
    ("enter", "inspect / open the selected row"),
    ("escape", "back (closes filter, dialogs, detail views)"),
    ("/", "filter the current table"),
    ("?", "this help"),
    ("ctrl+p", "command palette"),
    ("ctrl+r", "rescan keys and refresh now"),
    ("q / ctrl+q", "quit"),
    ("space", "mark the selected item"),
    ("r / R", "requeue or retry the selected (or marked) items / all shown (R, and r on "
              "several marked, ask with the count)"),
    ("d / D", "delete the selected item / all shown (asks; D wants the name typed)"),
    ("c  a  x", "claim, ack, run now"),
    ("n  e", "new message (publish, enqueue, schedule), edit"),
]


def figure_rows(snapshot) -> list[tuple[str | Text, str]]:
    """What in/out marks mean, and why each queue's figure is marked (from the poll)."""
    rows: list[tuple[str | Text, str]] = [
        ("", ""), (Text("in/s, out/s", style="bold"), ""),
        ("12", "exact: every move counted"),
        ("≥12", "a lower bound: some moves could not be seen (reason below)"),
        ("?", "unknown (reason below); never shown as 0"),
    ]
    noted = [q for q in (snapshot.queues if snapshot else ()) if q.rate_note]
    for q in noted[:12]:
        rows.append((printable(q.ref.key, 24), q.rate_note))
    if len(noted) > 12:
        rows.append(("…", f"{len(noted) - 12} more (status --json lists every rate_note)"))
    state = snapshot.notifications if snapshot else None
    if state == "on":
        rows.append(("exact mode", "on: lists and sorted sets counted from keyspace "
                     "notifications"))
    elif state is not None:
        rows.append(("exact mode", f"asked for, but off: {state}"))
    elif noted:
        rows.append(("exact lists", "start with --notifications (or exact_from_notifications "
                     "= true) on a server whose notify-keyspace-events has E or K and l, z; "
                     "the console never changes server config"))
    return rows


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; max-width: 100; height: 80%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, app) -> None:
        super().__init__()
        self.target = app

    def panel_bindings(self) -> list[Binding]:
        """The bindings of the focused widget and its containers up to the panel: what
        the keys do right here, nearest first."""
        panel = self.target.active_panel()
        chain = []
        node = self.target.screen_stack[0].focused if self.target.screen_stack else None
        while node is not None and node is not panel and panel in node.ancestors:
            chain.append(node)
            node = node.parent
        chain.append(panel)
        chain.reverse()  # the panel's actions first, then the focused table's paging keys
        seen: set[str] = set()
        out: list[Binding] = []
        for widget in chain:
            for b in getattr(widget, "BINDINGS", []):
                if b in DataTable.BINDINGS or b in KeyedTable.BINDINGS:
                    continue  # arrow keys, home and end: every table has them
                if isinstance(b, Binding) and b.key not in seen and b.description:
                    seen.add(b.key)
                    out.append(b)
        return out

    def key_text(self, binding: Binding) -> str:
        if binding.key_display:
            return binding.key_display
        return " / ".join(self.target.get_key_display(Binding(k.strip(), ""))
                          for k in binding.key.split(","))

    def rows(self) -> list[tuple[str | Text, str]]:
        """The current panel's keys first (what the operator came for), then the rest."""
        rows: list[tuple[str | Text, str]] = []
        panel = self.target.active_panel()
        extra = self.panel_bindings()
        if extra:
            rows.append((Text(f"{panel.TITLE} panel", style="bold"), ""))
            rows.extend((self.key_text(b), b.description) for b in extra)
            rows.append(("", ""))
        rows.append((Text("Everywhere", style="bold"), ""))
        rows.extend(GENERAL)
        monitor = getattr(self.target, "monitor", None)
        rows.extend(figure_rows(monitor.snapshot if monitor is not None else None))
        if self.target.settings is not None and self.target.settings.read_only:
            rows.insert(0, (Text("READ-ONLY", style="bold magenta"),
                            "keys that change data say so and do nothing"))
        return rows

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, padding=(0, 2), expand=True)
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for key, text in self.rows():
            table.add_row(key, text)
        with VerticalScroll():
            yield Static(Text("Keys", style="bold"))
            yield Static(table)
