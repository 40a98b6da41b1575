"""The Queues panel's part for queue libraries (RQ, Celery, dramatiq, ...): their states
(s / S), their items' own fields in the inspector, the guard that keeps the generic list
moves off their keys, and their own actions (libraries/plans.py), each through the panel's
action pipeline.

`LibraryStates` is held by the panel (`panel.library`), which keeps the keys' entry points;
it sees the panel through `QueuesView`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from rich.text import Text

from ferrite_tui.backend.envelopes import Envelope, printable
from ferrite_tui.backend.libraries import plans
from ferrite_tui.backend.libraries.browse import StateItem, browsable, unit_text
from ferrite_tui.backend.libraries.model import LibraryQueue, StateKey
from ferrite_tui.backend.libraries.plans import ACTIONS as LIBRARY_ACTIONS
from ferrite_tui.backend.lists import Page
from ferrite_tui.backend.models import QueueRef
from ferrite_tui.backend.movebase import Item
from ferrite_tui.ui.library_states import (
    StateSource,
    inspect_args,
    run_state_items,
    state_row,
    state_source,
)
from ferrite_tui.ui.library_states import (
    state_columns as state_columns,  # the panel builds its table with it
)
from ferrite_tui.ui.panels.base import NothingSelected, Outcome
from ferrite_tui.ui.widgets.items import ItemTable

if TYPE_CHECKING:

    from ferrite_tui.backend.client import Client
    from ferrite_tui.ui.session import Session

T = TypeVar("T")


class QueuesView(Protocol):
    """What the library part uses of the Queues panel."""

    current_ref: QueueRef | None  # the queue selected

    @property
    def session(self) -> Session: ...

    @property
    def state_table(self) -> ItemTable: ...

    def client(self) -> Client: ...

    def load_items(self, table: ItemTable, start: int | None,
                   move_cursor: bool = False) -> None: ...

    def act(self, action: str, select: Callable[[], T],
            steps: Callable[[T], Awaitable[Outcome | None]]) -> None: ...

    def action_label(self, action: str) -> str: ...

    async def confirm(self, title: str, body: str | Text, label: str = "Yes", *,
                      typed: str | None = None) -> bool: ...

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = False) -> None: ...

    def inspect_value(self, title: str, value: bytes, meta: list[tuple[str, str]],
                      fields: list[tuple[bytes, bytes]] | None = None) -> None: ...

    def call_after_refresh(self, callback: Callable[..., Any], *args: Any,
                           **kwargs: Any) -> bool: ...

    def refresh_bindings(self) -> None: ...


class LibraryStates:
    """A library queue's states and actions, for the Queues panel."""

    def __init__(self, panel: QueuesView) -> None:
        self.panel = panel
        #: the state shown per library queue (its ident -> index in `browsable`)
        self.state_index: dict[str, int] = {}

    @property
    def current_ref(self) -> QueueRef | None:
        return self.panel.current_ref

    @property
    def session(self) -> Session:
        return self.panel.session

    # -- browsing a library queue's states (s / S) -------------------------------------

    def library_states(self) -> tuple[StateKey, ...]:
        ref = self.current_ref
        return browsable(ref.library) if ref is not None and ref.library is not None else ()

    def current_state(self) -> StateKey | None:
        states = self.library_states()
        if not states or self.current_ref is None:
            return None
        return states[self.state_index.get(self.current_ref.ident, 0) % len(states)]

    def state_source(self) -> StateSource | None:
        state = self.current_state()
        lib = self.current_ref.library if self.current_ref is not None else None
        return None if state is None or lib is None else state_source(self.session, lib, state)

    def state_row(self, item: Item, env: Envelope, marked: bool) -> dict[str, object]:
        return state_row(self.current_state(), item, env, marked, self.session.now_ms())

    def switch_state(self, step: int) -> None:
        ref, states = self.current_ref, self.library_states()
        if ref is None or not states:
            self.panel.notify("states: select a library's queue first", timeout=3)
            return
        self.state_index[ref.ident] = (self.state_index.get(ref.ident, 0) + step) % len(states)
        self.show_library_state()
        self.panel.refresh_bindings()

    def show_library_state(self) -> None:
        """Point the state table at the current state and load its first window."""
        table = self.panel.state_table
        table.set_source(self.state_source())
        self.panel.load_items(table, 0)

    def state_title(self, page: Page | None) -> Text:
        ref, state, states = self.current_ref, self.current_state(), self.library_states()
        text = Text()
        if ref is None or ref.library is None or state is None:
            return text
        lib = ref.library
        text.append(f"{lib.library} {printable(lib.name, 40)}", style="bold")
        text.append(f"  {state.state.value}: {printable(state.name, 60)}", style="bold cyan")
        text.append(f" ({states.index(state) + 1}/{len(states)}, {unit_text(state)})")
        if page is not None:
            text.append(f"  {page.start:,}–{page.end - 1:,} of {page.length:,}" if page.items
                        else f"  empty ({page.length:,})")
        if self.panel.state_table.marks:
            text.append(f"  · {len(self.panel.state_table.marks)} marked", style="magenta")
        text.append("   s/S state · space mark · enter inspect", style="dim")
        return text

    def inspect_state_item(self, item: StateItem) -> None:
        ref, state = self.current_ref, self.current_state()
        if ref is None or ref.library is None or state is None:
            return
        self.panel.inspect_value(*inspect_args(ref.library, state, item,
                                               self.session.now_ms()))

    # -- single-item library actions (r / x / d on a state's items) -----------------------

    def _state_items(self, action: str) -> tuple[LibraryQueue, StateKey, list[Item]]:
        ref, state = self.current_ref, self.current_state()
        if ref is None or ref.library is None or state is None:
            raise NothingSelected("select a library's queue first")
        why = (plans.item_refusal(ref.library, state, action)
               or plans.runtime_refusal(self.panel.client(), ref.library, action))
        if why:
            raise NothingSelected(why)
        table = self.panel.state_table
        items = table.selected() if table.has_focus else []
        if not items:
            raise NothingSelected("select an item first (enter moves into the items)")
        return ref.library, state, items

    def item_action(self, action: str) -> None:
        """r / x / d on a state's items: the layout's own requeue, run now, delete."""
        self.panel.act(f"lib_{action}", lambda: self._state_items(action),
                 lambda target: self._run_item_action(action, *target))

    async def _run_item_action(self, action: str, queue: LibraryQueue, state: StateKey,
                               items: list[Item]) -> Outcome | None:
        outcome = await run_state_items(self.panel, self.panel.client(), action, queue,
                                        state, items)
        self.panel.call_after_refresh(self.panel.state_table.focus)
        return outcome

    def refuse_list_moves(self) -> None:
        """A library's queue changes only with the library's own semantics (the library
        actions below), never with the generic list moves."""
        ref = self.current_ref
        if ref is not None and ref.library is not None:
            lib = ref.library
            why = lib.read_only or "its jobs live in more keys than this list"
            raise NothingSelected(f"{lib.library} queue, not changed here ({why})")

    # -- library actions (the library's own semantics, exact, no Lua) -----------------

    def _library_queue(self, library: str, action: str) -> LibraryQueue:
        ref = self.current_ref
        if ref is None or ref.library is None or ref.library.library != library:
            raise NothingSelected(f"select a {library} queue first")
        if ref.library.read_only:
            raise NothingSelected(ref.library.read_only)
        if action not in (a for a, _ in plans.actions_for(ref.library)):
            raise NothingSelected(ref.library.refusal(action) or "not declared")
        return ref.library

    def library_action(self, action: str) -> None:
        """One of the selected library queue's own bulk actions (libraries/plans.py)."""
        library = LIBRARY_ACTIONS[action][0]
        self.panel.act(f"lib_{action.replace('-', '_')}",
                       lambda: self._library_queue(library, action),
                       lambda queue: self._run_library(action, queue))

    async def _run_library(self, action: str, queue: LibraryQueue) -> Outcome | None:
        client = self.panel.client()
        plan = await plans.plan(client, action, queue)
        if plan.count == 0:
            self.panel.notify(f"{queue.library} {printable(queue.name)}: nothing to do",
                              timeout=3)
            return None
        if not await self.panel.confirm(f"{queue.library}: {printable(queue.name)}",
                                  Text(plan.question), "Go"):
            return None
        res = await plans.run(client, plan)
        done = plan.count if plan.action == "celery-purge" and res.done else len(res.done)
        return Outcome(f"{queue.library} {printable(queue.name)}: {done:,} done, "
                       f"{len(res.skipped):,} skipped (changed since seen)",
                       "information" if not res.skipped else "warning")
