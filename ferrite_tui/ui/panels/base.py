"""What every panel shares: a snapshot goes in, a filtered, keyed table comes out; and the
one way an action runs.

The action pipeline (every key that changes data goes through it):
0. the layout: a panel offers, for the selected queue (`action_queue`), exactly the actions
   its layout declares (`REGISTRY.actions`: a guide kind's `KindLayout.actions`, a
   library layout's `ACTIONS`, through `LIBRARY_ACTION_OF`); `check_action` hides the
   others from the footer and the palette, and their key is refused with one line before
   anything is sent (`on_key`). Labels come from the declarations (`action_label`,
   `key_label`);
1. selection: `act(action, select, steps)` calls `select()` at once, on the key press, so
   the action applies to what the operator saw; it raises `NothingSelected` with a hint;
2. read-only: `check_action` disables every action named in `MUTATIONS`, so the footer and
   the command palette show it dimmed, and a key press says why;
3. confirmation with counts: `confirm(...)`, one dialog style, awaited in the worker;
4. work, with progress for bulk runs: `run_bulk(...)`;
5. one result line: the steps return an `Outcome`;
6. refresh: `after_action()`, then a poll.
A worker that fails is turned into one line in one place, `on_worker_state_changed`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static
from textual.worker import NoActiveWorker, Worker, WorkerState, get_current_worker

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.bulk import BulkReport, BulkRunner
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.history import History
from ferrite_tui.backend.kinds import REGISTRY
from ferrite_tui.backend.kinds.base import Action
from ferrite_tui.backend.models import Capabilities, QueueKind, QueueRef, QueueStats, Snapshot
from ferrite_tui.ui.bindings_read import once_per_read
from ferrite_tui.ui.messages import OpenQueue
from ferrite_tui.ui.notices import RepeatingNotices
from ferrite_tui.ui.panels.kind_correction import correct_kind, highlighted
from ferrite_tui.ui.panels.outcome import NothingSelected as NothingSelected
from ferrite_tui.ui.panels.outcome import Outcome as Outcome
from ferrite_tui.ui.screens.dialogs import ConfirmScreen, Field, FormScreen, TypedConfirmScreen
from ferrite_tui.ui.screens.inspector import InspectorScreen
from ferrite_tui.ui.screens.progress import with_progress
from ferrite_tui.ui.session import Session
from ferrite_tui.ui.textual_private import bindings_for_key
from ferrite_tui.ui.widgets.table import Column, KeyedTable
from ferrite_tui.websession import refuse_file_writes

if TYPE_CHECKING:
    from textual.dom import DOMNode

    from ferrite_tui.backend.client import Client
    from ferrite_tui.backend.libraries.model import LibraryQueue
    from ferrite_tui.ui.protocols import ConsoleApp

T = TypeVar("T")

ACTION_GROUP = "action."  # worker group prefix of the action pipeline


BEFORE_FIRST_POLL = "Waiting for the server's first answer (the header shows the connection)."


class Panel(Vertical):
    """A tab's content. Subclasses set TITLE and KINDS and give `columns` and `row`."""

    TITLE = ""
    KINDS: tuple[QueueKind, ...] = ()
    EMPTY = "No queues of this kind found (yet). Discovery rescans every 30 s; ctrl+r now."

    DEFAULT_CSS = """
    Panel { height: 1fr; }
    Panel > .panel-note { height: 1; color: $text-muted; padding: 0 1; }
    """

    #: The actions that change data: action name -> what it does, as the command palette
    #: lists it ("requeue all shown"). Disabled in read-only mode. Those of a guide kind
    #: come from its layout (`layout_mutations`); every one not in `OWN_ACTIONS` is offered
    #: only on a queue whose layout declares it.
    MUTATIONS: ClassVar[dict[str, str]] = {}
    #: Mutations of the panel's own, not of the selected queue's layout (a publish that
    #: names its target in its dialog, a journal's interrupted run).
    OWN_ACTIONS: ClassVar[frozenset[str]] = frozenset()
    #: panel action -> the action of a library layout it runs on a library's queue (a guide
    #: kind's layout names the panel's actions themselves).
    LIBRARY_ACTION_OF: ClassVar[dict[str, str]] = {}
    #: Other actions the command palette lists for this panel: action name -> label.
    COMMANDS: ClassVar[dict[str, str]] = {}
    # Every panel's queue table: correct the highlighted queue's kind (see correct_kind).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o", "correct_kind", "Correct kind", id="queue.kind", show=False)]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.snapshot: Snapshot | None = None
        self.history: History | None = None
        self.filter_text = ""
        self.read_notices = RepeatingNotices()
        # Snapshots arrived while hidden: drawn when the tab is shown (show_latest).
        self.stale = False
        self.note_text: Text | None = None  # the note's words as drawn

    @property
    def ferrite(self) -> ConsoleApp:
        """The app, as panels see it (ui/protocols.py: never the app class itself)."""
        return cast("ConsoleApp", self.app)

    @property
    def session(self) -> Session:
        return self.ferrite.session

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        # Notifications carry key names and server errors: literal text, never markup.
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def columns(self) -> list[Column]:
        raise NotImplementedError

    def row(self, q: QueueStats) -> dict[str, object]:
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        # Until the first poll the server may not even be reachable: no word of discovery
        # (the header says how the connection stands).
        yield Static(Text(BEFORE_FIRST_POLL, no_wrap=True, overflow="ellipsis"),
                     classes="panel-note", id="note")
        yield KeyedTable(self.columns(), id="table")

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#table", KeyedTable)

    def items(self, snap: Snapshot) -> list[QueueStats]:
        return snap.by_kind(*self.KINDS)

    def matches(self, q: QueueStats) -> bool:
        return not self.filter_text or self.filter_text.lower() in q.ref.key.lower()

    def update_snapshot(self, snap: Snapshot, history: History | None) -> None:
        self.snapshot = snap
        self.history = history
        # A hidden panel keeps the snapshot and draws it when its tab is shown (the app
        # calls show_latest): idle cost is one panel's rows per poll, not eight.
        self.stale = not self.active()
        if not self.stale:
            self.redraw()

    def show_latest(self) -> None:
        """The tab was just shown: catch up with the snapshots it skipped while hidden."""
        if self.stale and self.snapshot is not None:
            self.update_snapshot(self.snapshot, self.history)

    def redraw(self) -> None:
        if self.snapshot is None:
            return
        items = self.items(self.snapshot)
        shown = [q for q in items if self.matches(q)]
        self.table.set_rows([(q.ref.ident, self.row(q)) for q in shown])
        if not items:
            text = self.empty_note()
        elif self.filter_text:
            text = Text(f"filter “{printable(self.filter_text, 40)}”: {len(shown)} of "
                        f"{len(items)}")
        else:
            text = self.summary(items)
        # Static.update re-lays out the screen: only when the words change (idle cost).
        if text != self.note_text:
            self.note_text = text
            self.query_one("#note", Static).update(text)

    def summary(self, items: list[QueueStats]) -> Text:
        return Text(f"{len(items)} queue{'s' if len(items) != 1 else ''}")

    def empty_note(self) -> Text:
        """The note when no queue of the panel's kinds exists (a panel showing other rows
        says what they are instead)."""
        return Text(self.EMPTY)

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self.redraw()

    def active(self) -> bool:
        """Whether this panel's tab is the one shown (panels read items only while shown)."""
        try:
            return self.ferrite.active_panel() is self
        except NoMatches:  # the app is still composing or already tearing down
            return False

    def client(self) -> Client:
        """The connection, for actions (a selection step): says so when there is none yet."""
        client = self.session.client
        if client is None:
            raise NothingSelected("not connected yet")
        return client

    def ref_of(self, ident: str | None) -> QueueRef | None:
        """The queue with this row key in the last snapshot."""
        if ident is None or self.snapshot is None:
            return None
        for q in self.snapshot.queues:
            if q.ref.ident == ident:
                return q.ref
        return None

    def focus_ident(self, ident: str) -> bool:
        table = self.table
        table.focus()
        return table.select_key(ident)

    def select_group(self, name: str) -> None:
        """Select this consumer group of the focused queue; only streams have groups."""

    def set_capabilities(self, caps: Capabilities) -> None:
        """What the server can do: queue panels read it from the session when they need it."""

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.open_row(str(event.row_key.value))

    def open_row(self, ident: str) -> None:
        """enter on a row; panels with a detail view override this."""

    def inspect_value(self, title: str, value: bytes, meta: list[tuple[str, str]],
                      fields: list[tuple[bytes, bytes]] | None = None) -> None:
        """Open the inspector on one value (every panel's enter on an item)."""
        self.app.push_screen(InspectorScreen(title, value, meta=meta, fields=fields))

    # -- the actions the selected queue's layout declares ---------------------------------

    @staticmethod
    def kinds_in(tab: str) -> tuple[QueueKind, ...]:
        """The kinds whose layouts a tab lists (a panel's KINDS)."""
        return REGISTRY.kinds_in(tab)

    @staticmethod
    def layout_mutations(*kinds: QueueKind) -> dict[str, str]:
        """The actions the layouts of `kinds` declare: name -> the palette's line (the
        first kind's, where two name one action): a panel's MUTATIONS for its kinds."""
        found: dict[str, str] = {}
        for kind in kinds:
            for a in REGISTRY.layout(kind).actions:
                found.setdefault(a.name, a.does)
        return found

    def action_queue(self) -> QueueRef | None:
        """The queue the panel's actions apply to now (None: none selected)."""
        return None

    def selected_queue(self) -> QueueRef | None:
        """`action_queue()`, found once per read of the bindings (the footer asks every
        binding at once), afresh outside one (ui/bindings_read.py)."""
        return once_per_read(self, "action_queue", self.action_queue)

    def layout_library(self, ref: QueueRef) -> LibraryQueue | None:
        """The library layout whose actions a queue offers here (None: its kind's)."""
        return ref.library

    def declaration(self, action: str, ref: QueueRef | None = None) -> Action | None:
        """The selected (or `ref`'s) layout's declaration of a panel action, if it has one."""
        ref = ref or self.selected_queue()
        if ref is None:
            return None
        lib = self.layout_library(ref)
        if lib is None:
            return REGISTRY.kind_actions(ref.kind).get(action)
        name = self.LIBRARY_ACTION_OF.get(action)
        return REGISTRY.library_actions(lib).get(name) if name is not None else None

    def undeclared(self, action: str) -> str | None:
        """Why the selected queue's layout does not offer `action` (None: it does, the
        action is not a layout's, or no queue is selected)."""
        if action not in self.MUTATIONS or action in self.OWN_ACTIONS:
            return None
        ref = self.selected_queue()
        if ref is None or self.declaration(action, ref) is not None:
            return None
        lib = self.layout_library(ref)
        if lib is not None:
            name = self.LIBRARY_ACTION_OF.get(action)
            own = f"; use {lib.own_command}" if lib.own_command else ""
            return (lib.refusal(name, None) if name is not None else None) or \
                f"{lib.library} {'stream' if lib.pending.type == 'stream' else 'queue'}: " \
                f"not done here{own}"
        offered = ", ".join(a.label for a in REGISTRY.layout(ref.kind).actions)
        return (f"{ref.kind.label} {printable(ref.key, 60)}: its layout does not offer it "
                f"(it offers: {offered or 'nothing'})")

    def key_label(self, binding: Binding) -> str:
        """A key's word in the footer: the selected queue's layout's label for its action."""
        decl = self.declaration(binding.action)
        return decl.label if decl is not None and decl.label else binding.description

    # -- the action pipeline -------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """An action the selected queue's layout does not declare is off the footer and the
        palette (its key says why); read-only mode disables every mutation (None: shown
        dimmed, not hidden)."""
        if self.undeclared(action):
            return False
        if action in self.MUTATIONS and self.session.read_only:
            return None
        return True

    def on_key(self, event: events.Key) -> None:
        """A key of an action the selected queue's layout does not declare, or a disabled
        mutation's, says why nothing happens (keys the app does not already answer for)."""
        if self.refuse_undeclared(self, event):
            return
        if not self.session.read_only:
            return
        for binding in bindings_for_key(self, event.key):
            # (a binding hidden here, check_action False, is another one's key)
            if binding.action in self.MUTATIONS and \
                    self.check_action(binding.action, ()) is not False:
                event.stop()
                event.prevent_default()
                self.ferrite.say_read_only(self.MUTATIONS[binding.action])
                return

    def refuse_undeclared(self, node: DOMNode, event: events.Key) -> bool:
        """A key whose every binding on `node` is an action the selected queue's layout
        does not declare: one line saying why, and nothing sent. True: refused."""
        refused: list[tuple[str, str]] = []
        for binding in bindings_for_key(node, event.key):
            if node.check_action(binding.action, ()) is not False:
                return False  # another binding of the key is offered: it runs
            why = self.undeclared(binding.action)
            if why:
                refused.append((binding.action, why))
        if not refused:
            return False
        # A key bound for both (d: a list's delete, a library's delete): the reason of
        # the binding meant for this queue's layout (a library's, or a guide kind's).
        ref = self.selected_queue()
        library = ref is not None and self.layout_library(ref) is not None
        action, why = min(refused, key=lambda r: (r[0] in self.LIBRARY_ACTION_OF) != library)
        event.stop()
        event.prevent_default()
        self.notify(f"'{self.action_label(action)}': {why}", timeout=4)
        return True

    def run_command(self, action: str) -> None:
        """Run one of this panel's actions by name (the command palette)."""
        self.call_later(self.app.run_action, action, self)

    def action_correct_kind(self) -> None:
        """Correct the highlighted queue's kind (`o`, or the palette)."""
        if refuse_file_writes(self.notify, "correct a queue's kind"):
            return
        self.act("correct_kind", lambda: highlighted(self.ref_of(self.table.cursor_key)),
                 lambda ref: correct_kind(self, ref))

    def action_label(self, action: str) -> str:
        """The palette's line for an action: the selected queue's layout's, else the
        panel's."""
        decl = self.declaration(action)
        return (decl.does if decl is not None and decl.does else None) or \
            self.MUTATIONS.get(action) or self.COMMANDS.get(action) or action.replace("_", " ")

    def act(self, action: str, select: Callable[[], T],
            steps: Callable[[T], Awaitable[Outcome | None]]) -> None:
        """Run one action: `select()` now (raises NothingSelected with a hint), then the
        steps in a worker; their Outcome is the one result line, then `after_action`."""
        label = self.action_label(action)
        why = self.undeclared(action)  # called directly (the palette, a test): refused too
        if why:
            self.notify(f"'{label}': {why}", timeout=5)
            return
        if action in self.MUTATIONS and not self.ferrite.writable(label):
            return  # called directly (not through a binding, which check_action covers)
        try:
            target = select()
        except NothingSelected as why:
            self.notify(f"'{label}': {why}", timeout=3)
            return
        self.run_worker(self._steps(steps, target), name=label, group=ACTION_GROUP + action,
                        exit_on_error=False)

    async def _steps(self, steps: Callable[[T], Awaitable[Outcome | None]], target: T) -> None:
        outcome = await steps(target)
        if outcome is None:
            return  # cancelled at a dialog, or nothing to do (and said so)
        self.notify(outcome.line, severity=outcome.severity, timeout=outcome.timeout)
        self.after_action()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Every worker failure of this panel becomes one line, here."""
        worker = event.worker
        if event.state != WorkerState.ERROR or worker.error is None:
            return
        what = self.worker_failed(worker, worker.error)
        action = worker.group.startswith(ACTION_GROUP)
        if what and action:
            self.notify(what, severity="error", timeout=8)
        elif what:
            # Reads run again on every poll: a lasting error is one toast that counts.
            self.read_notices.show(self.ferrite, worker.group, what, timeout=8)
        if action:
            self.after_action()

    def worker_failed(self, worker: Worker[Any], error: BaseException) -> str | None:
        """The line for a failed worker (None: the panel showed it elsewhere)."""
        line = self.session.describe(error)
        return f"{worker.name}: {line}" if worker.name else line

    async def confirm(self, title: str, body: str | Text, label: str = "Yes", *,
                      typed: str | None = None) -> bool:
        """The one confirmation: yes/no, or typing `typed` for irreversible bulk work."""
        screen: ModalScreen[bool] = TypedConfirmScreen(title, body, typed) \
            if typed is not None else ConfirmScreen(title, body, label)
        answer: bool | None = await self.app.push_screen_wait(screen)
        return bool(answer)

    async def ask(self, title: str, fields: list[Field], submit_label: str = "OK",
                  body: str | Text | None = None) -> dict[str, str] | None:
        """A form in the worker; None when the operator cancels."""
        return cast("dict[str, str] | None", await self.app.push_screen_wait(
            FormScreen(title, fields, submit_label, body=body)))

    async def run_bulk(self, title: str, runner: BulkRunner[Any]) -> BulkReport:
        """A bulk run with the progress dialog (cancel with escape or c)."""
        def work(progress: Callable[[BulkReport], None], cancel: Any) -> Awaitable[BulkReport]:
            runner.progress, runner.cancel = progress, cancel
            return runner.run()

        if runner.resume is None:
            runner.resume = self.resume_hint()

        return await with_progress(self.app, title, runner.total, work)

    def resume_hint(self) -> str | None:
        """What resumes a bulk run a failed node stopped: the key of the action running it,
        again (runs act on what is still there, so what was done is skipped)."""
        try:
            action = get_current_worker().group.removeprefix(ACTION_GROUP)
        except NoActiveWorker:
            return None
        key = next((b.key for b in self.BINDINGS
                    if isinstance(b, Binding) and b.action == action), None)
        return f"{key} on this panel does the rest (what was done is skipped)" if key else None

    def after_action(self) -> None:
        """Refresh after an action: panels reload what they show; then poll now."""
        self.session.poll_now()


# -- cells shared by several panels --------------------------------------------------------

def key_cell(q: QueueStats) -> Text:
    return Text(printable(q.ref.key, 200), no_wrap=True, overflow="ellipsis")


def alert_cell(q: QueueStats) -> Text:
    if q.error:
        return Text(printable(q.error, 80), style="bold red")
    if q.alerts:
        return Text(", ".join(q.alerts), style="bold yellow")
    return Text("ok", style="green")


def mark_cell(q: QueueStats) -> Text:
    if q.error:
        return Text("✖", style="bold red")
    if q.alerts:
        return Text("▲", style="bold yellow")
    return Text("·", style="dim")


def trend_cell(q: QueueStats, history: History | None, metric: str = "depth") -> Text:
    series = history.get(q.ref.ident, metric) if history else None
    return Text(fmt.sparkline(series.values() if series else [], 12), style="cyan")


def rate_cells(q: QueueStats) -> dict[str, object]:
    """in/s and out/s: exact, "≥" a lower bound, or "?" (why: `rate_note`, in help)."""
    return {"in": fmt.flow(q.in_rate, q.in_lower), "out": fmt.flow(q.out_rate, q.out_lower)}


def open_queue(panel: Panel, ident: str) -> None:
    panel.post_message(OpenQueue(ident))
