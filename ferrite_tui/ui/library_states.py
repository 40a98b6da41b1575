"""Library states in the UI, shared by the panels that show them: a state as an item
table's source, its rows and inspector fields, the library's own item actions (r / x / d)
behind their confirmation, and `LibraryStateRows`, the section panels 4 and 6 add for the
libraries' scheduled and failed states ("rq failed · default").

Every action goes through `plans.run_items`: only what the library's layout declares and
the console implements with the library's own operation; anything else is refused with one
line before anything is sent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.bulk import BulkReport, BulkRunner
from ferrite_tui.backend.envelopes import Envelope, printable
from ferrite_tui.backend.libraries import plans
from ferrite_tui.backend.libraries.browse import StateItem, browsable, read_state, when_text
from ferrite_tui.backend.libraries.declared import LIBRARY as DECLARED
from ferrite_tui.backend.libraries.items import next_index
from ferrite_tui.backend.libraries.model import LibraryQueue, State, StateKey
from ferrite_tui.backend.libraries.strings import capped_note
from ferrite_tui.backend.lists import Page
from ferrite_tui.backend.models import QueueKind, Snapshot
from ferrite_tui.backend.movebase import Item
from ferrite_tui.ui.library_bulk import run_state_bulk
from ferrite_tui.ui.panels.base import NothingSelected, Outcome
from ferrite_tui.ui.panels.outcome import library_outcome
from ferrite_tui.ui.textual_private import bindings_for_key
from ferrite_tui.ui.widgets.items import ItemTable, Source, mark_prefix
from ferrite_tui.ui.widgets.table import Column, KeyedTable

if TYPE_CHECKING:
    from ferrite_tui.backend.client import Client
    from ferrite_tui.ui.protocols import ConsoleApp
    from ferrite_tui.ui.session import Session

T = TypeVar("T")


@dataclass
class StateSource(Source):
    """One state of a library queue as an item table's source (item 0 is the next job)."""

    state: StateKey | None = None
    now_ms: Callable[[], int] = field(default=lambda: 0, compare=False)
    unpickle: bool = False  # [libraries] unpickle: the restricted decoder, opted in
    queue: str = ""  # the library queue's name (a state shared by its queues shows its own)
    library: LibraryQueue | None = field(default=None, compare=False)

    async def load(self, client, start: int, count: int) -> Page:
        assert self.state is not None
        return await read_state(client, self.state, start, count, self.now_ms(),
                                self.unpickle, self.queue, self.library)


def state_source(session: Session, queue: LibraryQueue, state: StateKey) -> StateSource:
    return StateSource(state.key, state=state, now_ms=session.now_ms,
                       unpickle=session.config.libraries.unpickle, queue=queue.name,
                       library=queue)


def state_columns() -> list[Column]:
    return [
        Column("mark", "", 1),
        Column("pos", "#", 6, justify="right"),
        Column("id", "id", 14, priority=2),
        Column("when", "when", 11, justify="right"),
        Column("task", "task", 18),
        Column("attempts", "att", 3, priority=3, justify="right"),
        Column("preview", "args / error", 30),
    ]


def state_row(state: StateKey | None, item: Item, env: Envelope, marked: bool,
              now_ms: int) -> dict[str, object]:
    """One item of a library state as a row of `state_columns`."""
    if not isinstance(item, StateItem) or state is None:
        return {"mark": mark_prefix(marked), "preview": env.preview(200)}
    pos = next_index(item) if state.type == "list" and state.next_end == "tail" else item.pos
    ident = item.field(("id", "message_id")) if state.body.where == "inline" else ""
    ident = ident or (printable(item.raw, 80) if state.body.where != "inline"
                      or state.type == "hash" else "")
    error = item.error
    return {"mark": mark_prefix(marked), "pos": "-" if pos is None else f"{pos:,}",
            "id": Text(ident, no_wrap=True, overflow="ellipsis"),
            "when": when_text(state, item, now_ms),
            "task": Text(item.task, no_wrap=True, overflow="ellipsis"),
            "attempts": item.attempts,
            "preview": Text(error, style="red") if error else Text(item.args or "")}


def inspect_args(queue: LibraryQueue, state: StateKey, item: StateItem,
                 now_ms: int) -> tuple[str, bytes, list[tuple[str, str]]]:
    """The inspector's title, value and fields for one item of a library state."""
    meta = [("library", queue.library), ("queue", queue.name),
            ("state", f"{state.state.value} ({state.name})"), ("key", printable(state.key)),
            ("when", when_text(state, item, now_ms))]
    if item.value is not None:
        meta.append(("key" if state.type == "strings" else "field", printable(item.raw, 200)))
    meta += list(item.fields)
    return (f"{state.key} {item.field(('id',)) or printable(item.raw, 60)}",
            item.value if item.value is not None else item.raw, meta)


def item_refusal(client: Client, queue: LibraryQueue, state: StateKey,
                 action: str) -> str | None:
    """Why the library's `action` is not done on items of `state` (None: it is declared
    and implemented with the library's own operation)."""
    why = plans.item_refusal(queue, state, action) or plans.runtime_refusal(client, queue, action)
    if why is None and (queue.library, action) not in plans.IMPLEMENTED:
        why = f"{queue.library}: {plans.ITEM_ACTIONS[action].lower()} is not implemented here"
    return why


class Confirms(Protocol):
    async def confirm(self, title: str, body: str | Text, label: str = "Yes", *,
                      typed: str | None = None) -> bool: ...


async def run_state_items(host: Confirms, client: Client, action: str, queue: LibraryQueue,
                          state: StateKey, items: list[Item]) -> Outcome | None:
    """The library's own `action` on these items of `state`, after a confirmation that
    names the library's operation."""
    n = len(items)
    verb = plans.ITEM_ACTIONS[action]
    what = {"requeue": "back to the end of the queue, as the library requeues",
            "run_now": "to the end of the queue, to run now",
            "delete": "deleted with their bodies; cannot be undone"}[action]
    declared = queue.declared(action, state.name)
    own = f" As {queue.library} does: {declared.equivalent}." if declared else ""
    if not await host.confirm(
            f"{queue.library}: {verb}",
            Text(f"{verb} {n} item{'s' if n != 1 else ''} of {queue.library} queue "
                 f"{printable(queue.name)} ({printable(state.name)}): {what}.{own} Any "
                 "that moved since they were shown are skipped."), verb):
        return None
    res = await plans.run_items(client, action, queue, state, items)
    return library_outcome(queue, verb, res)


# -- the libraries' scheduled / failed states as rows of panels 4 and 6 ------------------


class StatesHost(Protocol):
    """What `LibraryStateRows` uses of the panel holding it."""

    MUTATIONS: ClassVar[dict[str, str]]  # the panel's own writing actions, by name

    @property
    def session(self) -> Session: ...

    @property
    def ferrite(self) -> ConsoleApp: ...

    def client(self) -> Client: ...

    def active(self) -> bool: ...

    def act(self, action: str, select: Callable[[], T],
            steps: Callable[[T], Awaitable[Outcome | None]]) -> None: ...

    async def confirm(self, title: str, body: str | Text, label: str = "Yes", *,
                      typed: str | None = None) -> bool: ...

    async def run_bulk(self, title: str, runner: BulkRunner[Any]) -> BulkReport: ...

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = False) -> None: ...

    def inspect_value(self, title: str, value: bytes, meta: list[tuple[str, str]],
                      fields: list[tuple[bytes, bytes]] | None = None) -> None: ...


@dataclass(frozen=True)
class StateRow:
    queue: LibraryQueue
    state: StateKey
    count: int | None  # the poll's count of this state ("?" when unread)

    @property
    def label(self) -> str:
        return f"{self.queue.library} {self.state.name} · {self.queue.name}"

    @property
    def count_text(self) -> str:
        """The count; "≥" when it covers only the strings read (`capped_note`)."""
        text = fmt.count(self.count)
        if self.state.type == "strings" and self.count is not None \
                and capped_note(self.queue):
            return f"≥{text}"
        return text


def state_rows(snap: Snapshot, role: State, skip: tuple[QueueKind, ...] = ()
               ) -> list[StateRow]:
    """Every library queue's browsable states of `role`, with the poll's counts; queues
    of the kinds in `skip` (already rows of the panel) left out."""
    rows = []
    for q in snap.queues:
        lib = q.ref.library
        if lib is None or lib.library == DECLARED or q.ref.kind in skip:
            continue
        for state in browsable(lib):
            if state.state is not role:
                continue
            sizes = [c.size for c in q.states
                     if (c.state, c.key, c.label) == (state.state, state.key, state.label)]
            count = None if not sizes or None in sizes else sum(s or 0 for s in sizes)
            rows.append(StateRow(lib, state, count))
    return rows


class LibraryStateRows(Vertical):
    """The libraries' states of one role (failed, scheduled) as rows; the highlighted
    one's items below, with the library's own r / x / d."""

    DEFAULT_CSS = """
    LibraryStateRows { height: auto; max-height: 16; }
    LibraryStateRows #lib-states-title { height: 1; padding: 0 1; background: $boost; }
    LibraryStateRows #lib-states { height: auto; max-height: 5; }
    LibraryStateRows #lib-state-items { height: 9; }
    """

    BINDINGS = [
        Binding("r", "lib_item('requeue')", "Requeue (library)", id="libstates.requeue"),
        Binding("x", "lib_item('run_now')", "Run now (library)", id="libstates.run_now"),
        Binding("d", "lib_item('delete')", "Delete (library)", id="libstates.delete"),
        Binding("R", "lib_all('requeue')", "Requeue all (library)",
                id="libstates.requeue_all"),
        Binding("X", "lib_all('run_now')", "Run all now (library)", id="libstates.run_all"),
        Binding("D", "lib_all('delete')", "Delete all (library)", id="libstates.delete_all"),
    ]
    ACTION_KEYS = {"r": "requeue", "x": "run_now", "d": "delete",
                   "R": "requeue", "X": "run_now", "D": "delete"}

    def __init__(self, host: StatesHost, role: State, skip: tuple[QueueKind, ...] = (),
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.host = host
        self.role = role
        self.skip = skip
        self.rows: dict[str, StateRow] = {}
        self.current: StateRow | None = None
        self.loads = 0  # finished loads (tests wait on this)

    def compose(self) -> ComposeResult:
        yield Static(Text(), id="lib-states-title")
        yield KeyedTable([Column("state", f"library {self.role.value} states", 36),
                          Column("count", "count", 9, justify="right")], id="lib-states")
        yield ItemTable(state_columns(), self._row, id="lib-state-items")

    @property
    def states_table(self) -> KeyedTable:
        return self.query_one("#lib-states", KeyedTable)

    @property
    def items_table(self) -> ItemTable:
        return self.query_one("#lib-state-items", ItemTable)

    def on_mount(self) -> None:
        self.display = False
        self.items_table.on_page = self._page
        self.items_table.on_leave = self._leave_items

    def _leave_items(self) -> None:
        self.states_table.focus()  # escape on the items: back to the rows

    def _page(self, where: str) -> None:
        """The paging keymap on the items (head, tail, next, prev; reload on resize)."""
        table = self.items_table
        starts = {"head": 0, "tail": -1, "reload": None,
                  "next": table.start + table.window,
                  "prev": max(table.start - table.window, 0)}
        if where in starts:
            self.load(starts[where])

    def _row(self, item: Item, env: Envelope, marked: bool) -> dict[str, object]:
        state = self.current.state if self.current is not None else None
        return state_row(state, item, env, marked, self.host.session.now_ms())

    @staticmethod
    def row_key(row: StateRow) -> str:
        return f"{row.queue.library}\x1f{row.queue.name}\x1f{row.state.key}\x1f" \
               f"{row.state.name}\x1f{row.state.window or ''}"

    def note_when_alone(self, panel_lists: str) -> Text | None:
        """The panel's note when these rows are all it has (None: there are none): not
        "nothing found" above rows that were found."""
        if not self.rows:
            return None
        n = len(self.rows)
        return Text(f"No {panel_lists} of the guide's layouts (yet); below, {n} "
                    f"{self.role.value} state{'s' if n != 1 else ''} of queue libraries.")

    def update_snapshot(self, snap: Snapshot) -> None:
        rows = state_rows(snap, self.role, self.skip)
        self.rows = {self.row_key(r): r for r in rows}
        self.display = bool(rows)
        self.states_table.set_rows([
            (k, {"state": printable(r.label, 120), "count": r.count_text})
            for k, r in self.rows.items()])
        key = self.states_table.cursor_key
        if key is not None and key in self.rows:
            changed = self.current is None or self.row_key(self.current) != key
            self.current = self.rows[key]
            if changed:
                self.refresh_bindings()
            if changed or not self.host.active():
                self.items_table.set_source(state_source(self.host.session,
                                                         self.current.queue,
                                                         self.current.state))
            elif isinstance(self.items_table.source, StateSource):
                # The latest scan's layout (a "strings" state's strings move with it).
                self.items_table.source.library = self.current.queue
            if self.host.active():  # a hidden panel's items wait for it to be shown
                self.load(0 if changed else None)
        self._title()

    @on(DataTable.RowHighlighted, "#lib-states")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        row = self.rows.get(str(event.row_key.value))
        if row is None or (self.current is not None
                           and self.row_key(self.current) == self.row_key(row)):
            return
        self.current = row
        self.items_table.set_source(state_source(self.host.session, row.queue, row.state))
        self.load(0)
        self.refresh_bindings()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.data_table.id == "lib-states":
            self.items_table.focus()
            return
        item = self.items_table.by_key.get(str(event.row_key.value))
        if isinstance(item, StateItem) and self.current is not None:
            self.host.inspect_value(*inspect_args(self.current.queue, self.current.state,
                                                  item, self.host.session.now_ms()))

    def load(self, start: int | None) -> None:
        table = self.items_table
        if start is None:
            start = table.want_start
        table.want_start = start
        self._load(start)

    @work(group="lib-states-load", exclusive=True, exit_on_error=False)
    async def _load(self, start: int) -> None:
        table, source = self.items_table, self.items_table.source
        client = self.host.session.client
        if client is None or source is None:
            return
        try:
            page = await source.load(client, start, table.window)
        except Exception as exc:  # one line in the title, never a traceback
            self._title(self.host.session.describe(exc))
            return
        if table.source is not source:
            return
        table.show_page(page)
        self.loads += 1
        self._title()

    def _title(self, error: str = "") -> None:
        text = Text(f"library {self.role.value} states", style="bold")
        row, page = self.current, self.items_table.page
        if row is not None:
            text.append(f"  {printable(row.label, 80)}", style="bold cyan")
            if page is not None:
                text.append(f"  {page.start:,}–{page.end - 1:,} of {page.length:,}"
                            if page.items else f"  empty ({page.length:,})")
            if row.state.type == "strings" and capped_note(row.queue):
                text.append(f" ({capped_note(row.queue)})", style="yellow")
        if error:
            text.append(f"  {error}", style="red")
        text.append("   enter items · r/x/d, R/X/D (all) the library's own actions",
                    style="dim")
        self.query_one("#lib-states-title", Static).update(text)

    # -- the library's own actions ------------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        """r / x / d that the selected state's library does not implement: one line
        saying why, and nothing sent (the panel's own key of that letter is not run)."""
        action = self.ACTION_KEYS.get(event.key)
        if action is None:
            self._refuse_host_mutation(event)
            return
        if not any(True for _ in bindings_for_key(self, event.key)):
            return
        why = self.refusal(action)
        if why:
            event.stop()
            event.prevent_default()
            self.host.notify(f"'{plans.ITEM_ACTIONS[action]}': {why}", timeout=4)

    def _refuse_host_mutation(self, event: events.Key) -> None:
        """The panel's own writing keys (R, D, t, ...) act on its lists, not on the library
        job the operator is looking at here: refused while the focus is in these rows."""
        if self.screen.focused is None or self not in self.screen.focused.ancestors_with_self:
            return
        for binding in bindings_for_key(self.host, event.key):  # type: ignore[arg-type]
            label = self.host.MUTATIONS.get(binding.action)
            if label:
                event.stop()
                event.prevent_default()
                self.host.notify(f"'{label}' acts on the panel's own queues, not on these "
                                 "library jobs: here only r / x / d (the library's own)",
                                 timeout=5)
                return

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Shown dimmed where the selected state's library does not do it (pressed: why)."""
        if action in ("lib_item", "lib_all") and parameters:
            if self.refusal(str(parameters[0])):
                return None
        return True

    def refusal(self, action: str) -> str | None:
        """Why the selected state's library does not do `action` here (None: it does)."""
        row = self.current
        if row is None:
            return "select a library state first"
        try:
            return item_refusal(self.host.client(), row.queue, row.state, action)
        except NothingSelected as why:  # not connected yet
            return str(why)

    def action_lib_item(self, action: str) -> None:
        label = f"{plans.ITEM_ACTIONS[action].lower()} (library)"
        if not self.host.ferrite.writable(label):
            return
        self.host.act(f"lib_{action}", lambda: self._selected(action),
                      lambda target: self._run(action, *target))

    def action_lib_all(self, action: str) -> None:
        label = f"{plans.ITEM_ACTIONS[action].lower()} all shown (library)"
        if not self.host.ferrite.writable(label):
            return
        self.host.act(f"lib_all_{action}", lambda: self._state(action),
                      lambda row: self._run_all(action, row))

    def _state(self, action: str) -> StateRow:
        row, why = self.current, self.refusal(action)
        if row is None or why:
            raise NothingSelected(why or "select a library state first")
        return row

    async def _run_all(self, action: str, row: StateRow) -> Outcome | None:
        key = next(k for k, a in self.ACTION_KEYS.items() if a == action and k.isupper())
        source = self.items_table.source or state_source(self.host.session, row.queue,
                                                         row.state)
        outcome = await run_state_bulk(
            self.host, self.host.client(), action, row.queue, row.state, source,
            f"{key} on these rows does the rest (what was done is skipped)")
        self.items_table.marks.clear()
        self.load(None)
        return outcome

    def _selected(self, action: str) -> tuple[StateRow, list[Item]]:
        row, why = self.current, self.refusal(action)
        if row is None or why:
            raise NothingSelected(why or "select a library state first")
        table = self.items_table
        items = table.selected() if table.has_focus or table.marks else []
        if not items:
            raise NothingSelected("select an item first (enter moves into the items)")
        return row, items

    async def _run(self, action: str, row: StateRow, items: list[Item]) -> Outcome | None:
        outcome = await run_state_items(self.host, self.host.client(), action, row.queue,
                                        row.state, items)
        self.items_table.marks.clear()
        self.load(None)
        return outcome
