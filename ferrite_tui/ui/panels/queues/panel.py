"""Panel 2: work queues and reliable queues, and the selected queue's items.

The queue table is on top; below it the highlighted queue's items, paged in windows of the
visible height (home head, end tail, pagedown/] next, pageup/[ previous, : jump to a
position). A reliable queue shows its processing list beside the main list, with each job's
age and a stale mark past the visibility timeout.

Keys on items (the work / reliable layouts' actions): enter inspect, space mark, d delete,
D purge (type its name), m move; on the processing list a ack, r nack, R recover stale.

Actions name the exact values shown (see backend/moves.py); reads run in workers and only
while this tab is shown; every server error becomes one line.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Static

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.bulk import BulkRunner, ChunkResult
from ferrite_tui.backend.envelopes import Envelope, decode, printable
from ferrite_tui.backend.libraries.browse import StateItem
from ferrite_tui.backend.libraries.plans import ACTIONS as LIBRARY_ACTIONS
from ferrite_tui.backend.lists import ListItems, Page
from ferrite_tui.backend.models import QueueRef, QueueStats
from ferrite_tui.backend.movebase import Item, PositionalPlan
from ferrite_tui.backend.reliable import ReliableQueue, return_end
from ferrite_tui.ui.panels.base import (
    NothingSelected,
    Outcome,
    alert_cell,
    key_cell,
    rate_cells,
    trend_cell,
)
from ferrite_tui.ui.panels.list_base import ItemPagerPanel
from ferrite_tui.ui.panels.queues.columns import item_columns, proc_columns, queue_columns
from ferrite_tui.ui.panels.queues.library import LibraryStates, state_columns
from ferrite_tui.ui.screens.dialogs import Field
from ferrite_tui.ui.widgets.items import ItemTable, Source, age_text, id_text, mark_prefix
from ferrite_tui.ui.widgets.table import Column


class QueuesPanel(ItemPagerPanel):
    TITLE = "Queues"
    KINDS = ItemPagerPanel.kinds_in("queues")  # work and reliable queues

    DEFAULT_CSS = """
    QueuesPanel #table { height: auto; max-height: 9; }  /* a short list takes only its rows */
    QueuesPanel #items-title { height: 1; padding: 0 1; background: $boost; }
    QueuesPanel #items-box { height: 1fr; }
    QueuesPanel #items-box ItemTable { height: 1fr; width: 1fr; }
    QueuesPanel #proc { border-left: vkey $accent; }
    """

    BINDINGS = [
        Binding("d", "delete", "Delete", id="queues.delete"),
        Binding("D", "purge", "Purge", id="queues.purge"),
        Binding("m", "move", "Move", id="queues.move"),
        Binding("a", "ack", "Ack", id="queues.ack"),
        Binding("r", "nack", "Nack", id="queues.nack"),
        Binding("R", "recover", "Recover stale", id="queues.recover"),
        Binding("tab", "switch_list", "Switch list", id="queues.switch", show=False),
        # A library's queue (check_action shows these instead of the list moves above).
        Binding("r", "lib_requeue", "Requeue", id="queues.lib_requeue"),
        Binding("x", "lib_run_now", "Run now", id="queues.lib_run_now"),
        Binding("d", "lib_delete", "Delete", id="queues.lib_delete"),
        Binding("s", "next_state", "State", id="queues.next_state"),
        Binding("S", "prev_state", "Prev state", id="queues.prev_state", show=False),
    ]
    #: keys shown only on a library's queue (its states)
    LIBRARY_ONLY = frozenset({"next_state", "prev_state"})
    #: panel action -> its library layout's action (r / x / d on a state's items, and the
    #: queue-wide actions in the command palette: libraries/plans.py)
    LIBRARY_ACTION_OF = {"lib_requeue": "requeue", "lib_run_now": "run_now",
                         "lib_delete": "delete",
                         **{f"lib_{a.replace('-', '_')}": a for a in LIBRARY_ACTIONS}}

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.current_ref: QueueRef | None = None
        self.library = LibraryStates(self)  # a library's queue: its states and actions

    def columns(self) -> list[Column]:
        return queue_columns()

    def row(self, q: QueueStats) -> dict[str, object]:
        return {
            "kind": q.ref.kind.label, "key": key_cell(q), "depth": fmt.count(q.depth),
            "processing": "-" if q.processing is None else fmt.count(q.processing),
            **rate_cells(q), "trend": trend_cell(q, self.history),
            "oldest": fmt.duration(q.oldest_ms), "alerts": alert_cell(q),
        }

    def compose(self) -> ComposeResult:
        yield from super().compose()
        yield Static(Text("Highlight a queue to see its items; enter moves into them."),
                     id="items-title")
        with Horizontal(id="items-box"):
            yield ItemTable(item_columns(), self._item_row, id="items")
            yield ItemTable(proc_columns(), self._proc_row, id="proc")
            yield ItemTable(state_columns(), self.library.state_row, id="lib")

    def on_mount(self) -> None:
        for table in (self.items_table, self.proc_table, self.state_table):
            table.on_leave = self.focus_queues
            table.on_page = (lambda where, t=table: self.page_to(t, where))
        self.proc_table.display = False
        self.state_table.display = False

    def items(self, snap) -> list[QueueStats]:
        """Work and reliable queues, and every library queue (each state is browsable
        here, whatever panel its pending key also shows in)."""
        return [q for q in snap.queues if q.ref.kind in self.KINDS or (
            q.ref.library is not None and q.ref.library.pending.type != "stream")]

    def action_queue(self) -> QueueRef | None:
        return self.current_ref

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.LIBRARY_ONLY and (self.current_ref is None
                                            or self.current_ref.library is None):
            return False
        return super().check_action(action, parameters)

    def undeclared(self, action: str) -> str | None:
        """A library's queue-wide actions also wait for the queue to be writable."""
        lib = self.current_ref.library if self.current_ref is not None else None
        if lib and lib.read_only and self.LIBRARY_ACTION_OF.get(action) in LIBRARY_ACTIONS:
            return lib.read_only
        return super().undeclared(action)

    # -- a library's queue: Textual's entry points; the work is in library.py --------------

    def action_next_state(self) -> None:
        self.library.switch_state(1)

    def action_prev_state(self) -> None:
        self.library.switch_state(-1)

    def action_lib_requeue(self) -> None:
        self.library.item_action("requeue")

    def action_lib_run_now(self) -> None:
        self.library.item_action("run_now")

    def action_lib_delete(self) -> None:
        self.library.item_action("delete")

    def action_lib_rq_requeue_failed(self) -> None:
        self.library.library_action("rq-requeue-failed")

    def action_lib_rq_run_scheduled(self) -> None:
        self.library.library_action("rq-run-scheduled")

    def action_lib_dramatiq_requeue_dead(self) -> None:
        self.library.library_action("dramatiq-requeue-dead")

    def action_lib_celery_purge(self) -> None:
        self.library.library_action("celery-purge")

    def action_lib_celery_requeue_unacked(self) -> None:
        self.library.library_action("celery-requeue-unacked")

    @property
    def items_table(self) -> ItemTable:
        return self.query_one("#items", ItemTable)

    @property
    def proc_table(self) -> ItemTable:
        return self.query_one("#proc", ItemTable)

    @property
    def state_table(self) -> ItemTable:
        return self.query_one("#lib", ItemTable)

    def now_ms(self) -> int:
        return self.session.now_ms()

    def return_end(self, ref: QueueRef) -> tuple[str, str]:
        """Where nack / recover push ([[queues]] recover_to, else the head) and whether
        that is served next or last, from the consumer end the poll detected."""
        decl = next((d for d in self.session.config.queues if d.key == ref.key), None)
        stats = next((q for q in (self.snapshot.queues if self.snapshot else ())
                      if q.ref.ident == ref.ident), None)
        return return_end(decl.recover_to if decl else None,
                          stats.consumer_end if stats else None)

    def visibility_ms(self, ref: QueueRef) -> int:
        return int(self.session.visibility_s(ref.key) * 1000)

    def _item_row(self, item: Item, env: Envelope, marked: bool) -> dict[str, object]:
        return {"mark": mark_prefix(marked), "pos": f"{item.pos:,}", "id": id_text(env),
                "age": age_text(env, self.now_ms()), "preview": env.preview(200)}

    def _proc_row(self, item: Item, env: Envelope, marked: bool) -> dict[str, object]:
        stale = False
        if env.time_ms is not None and self.current_ref is not None:
            stale = self.now_ms() - env.time_ms > self.visibility_ms(self.current_ref)
        return {"mark": mark_prefix(marked), "pos": f"{item.pos:,}", "id": id_text(env),
                "age": age_text(env, self.now_ms()),
                "stale": Text("STALE", style="bold red") if stale else "",
                "preview": env.preview(120)}

    # -- selection and refresh -------------------------------------------------------

    @on(DataTable.RowHighlighted, "#table")
    def _queue_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.select_queue(self.ref_of(str(event.row_key.value)))

    def select_queue(self, ref: QueueRef | None) -> None:
        if ref == self.current_ref and ref is not None:
            return
        self.current_ref = ref
        items, proc, states = self.items_table, self.proc_table, self.state_table
        self.refresh_bindings()
        library = ref is not None and ref.library is not None
        items.display, states.display = not library, library
        if ref is None or library:
            items.set_source(None)
            proc.set_source(None)
            proc.display = False
            if library:
                self.library.show_library_state()
            else:
                states.set_source(None)
            return
        states.set_source(None)
        items.set_source(Source(ref.key))
        if ref.processing_key:
            proc.display = True
            proc.set_source(Source(ref.processing_key))
            self.load_items(proc, 0)
        else:
            proc.display = False
            proc.set_source(None)
        self.load_items(items, 0)

    def open_row(self, ident: str) -> None:
        self.select_queue(self.ref_of(ident))
        (self.state_table if self.state_table.display else self.items_table).focus()

    def focus_queues(self) -> None:
        self.table.focus()

    def redraw(self) -> None:
        super().redraw()
        if self.current_ref is None and self.table.cursor_key:
            self.select_queue(self.ref_of(self.table.cursor_key))

    def update_snapshot(self, snap, history) -> None:
        super().update_snapshot(snap, history)
        if self.active() and self.current_ref is not None:
            for table in (self.items_table, self.proc_table, self.state_table):
                if table.source is not None and table.display:
                    self.refresh_items(table)

    def items_loaded(self, table: ItemTable, page: Page) -> None:
        ref = self.current_ref
        if ref is None:
            return
        if ref.library is not None:
            self.query_one("#items-title", Static).update(
                self.library.state_title(self.state_table.page))
            return
        main = self.items_table.page
        text = Text()
        text.append(printable(ref.key, 80), style="bold")
        if main is not None:
            if main.items:
                text.append(f"  items {main.start:,}–{main.end - 1:,} of {main.length:,}")
            else:
                text.append(f"  empty ({main.length:,})")
        if ref.processing_key and self.proc_table.page is not None:
            p = self.proc_table.page
            text.append(f"  · processing {p.length:,}")
        marks = len(self.items_table.marks) + len(self.proc_table.marks)
        text.append(f"  · {marks} marked" if marks else "", style="magenta")
        text.append(f"  · {printable(ref.evidence, 80)} (o corrects)" if ref.evidence else "")
        text.append("   home/end pgup/pgdn : jump · space mark · enter inspect", style="dim")
        self.query_one("#items-title", Static).update(text)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        event.prevent_default()  # Panel's handler (open_row for every table) must not run
        table = event.data_table
        if not isinstance(table, ItemTable):
            self.open_row(str(event.row_key.value))
            return
        item = table.by_key.get(str(event.row_key.value))
        if item is None or table.source is None:
            return
        if isinstance(item, StateItem):
            self.library.inspect_state_item(item)
            return

        env = decode(item.raw)
        pos = item.pos
        meta = [("list", printable(table.source.key)), ("position", f"{pos:,}"),
                ("kind", env.kind)]
        if env.id is not None:
            meta.append(("id", env.id))
        if env.time_ms is not None:
            meta.append(("age", age_text(env, self.now_ms())))
        if env.retry_count is not None:
            meta.append(("retry_count", str(env.retry_count)))
        if env.last_error:
            meta.append(("last_error", env.last_error))
        self.inspect_value(f"{table.source.key} #{pos}", item.raw, meta)

    def action_switch_list(self) -> None:
        if self.proc_table.display and self.items_table.has_focus:
            self.proc_table.focus()
        elif self.proc_table.has_focus:
            self.items_table.focus()
        else:
            self.items_table.focus()

    # -- actions ----------------------------------------------------------------------

    MUTATIONS = {
        **ItemPagerPanel.layout_mutations(*KINDS),  # delete, purge, move, ack, nack, recover
        # A library queue's items, with the library's semantics (r / x / d).
        "lib_requeue": "requeue selected (library)", "lib_run_now": "run selected now (library)",
        "lib_delete": "delete selected with their bodies (library)",
        # The selected library queue's own bulk actions (palette; libraries/plans.py).
        **{f"lib_{a.replace('-', '_')}": f"{lib} queue: {label}"
           for a, (lib, label) in LIBRARY_ACTIONS.items()},
    }
    COMMANDS = {"switch_list": "switch between the queue and its processing list",
                "next_state": "library queue: show its next state (pending, failed, ...)",
                "prev_state": "library queue: show its previous state"}

    def _focused_items(self) -> tuple[ItemTable | None, list[Item]]:
        for table in (self.items_table, self.proc_table):
            if table.has_focus:
                return table, table.selected()
        return None, []

    def _items(self) -> tuple[ItemTable, list[Item]]:
        """The marked items of the focused list, else the one under its cursor."""
        self.library.refuse_list_moves()
        table, items = self._focused_items()
        if table is None or table.source is None or not items:
            raise NothingSelected("select an item first (enter moves into the items)")
        return table, items

    def _proc_items(self) -> tuple[QueueRef, list[Item]]:
        self.library.refuse_list_moves()
        ref = self.current_ref
        if ref is None or not ref.processing_key:
            raise NothingSelected("only reliable queues have a processing list")
        if not self.proc_table.has_focus:
            raise NothingSelected("select a job in the processing list (tab)")
        items = self.proc_table.selected()
        if not items:
            raise NothingSelected("the processing list is empty")
        return ref, items

    def _reliable(self) -> QueueRef:
        self.library.refuse_list_moves()
        ref = self.current_ref
        if ref is None or not ref.processing_key:
            raise NothingSelected("select a reliable queue first")
        return ref

    def _list_key(self) -> str:
        """The focused list's key, else the selected queue's."""
        if self.current_ref is None:
            raise NothingSelected("select a queue first")
        self.library.refuse_list_moves()
        table, _ = self._focused_items()
        return table.source.key if table is not None and table.source else self.current_ref.key

    def after_action(self) -> None:
        for table in (self.items_table, self.proc_table, self.state_table):
            table.marks.clear()
            if table.source is not None and table.display:
                self.load_items(table, None)
        super().after_action()

    def _moves(self, items: list[Item], chunk: Callable[[Sequence[Item]], Awaitable[ChunkResult]]
               ) -> BulkRunner[Item]:
        """A chunked run over values of one list (positions shift as chunks remove items)."""
        return BulkRunner(PositionalPlan(items, max_items=200), chunk)

    def action_delete(self) -> None:
        self.act("delete", self._items, self._delete)

    async def _delete(self, target: tuple[ItemTable, list[Item]]) -> Outcome | None:
        table, items = target
        key = table.source.key if table.source else ""
        n = len(items)
        if not await self.confirm(
                "Delete items", f"Delete {n} item{'s' if n != 1 else ''} from {printable(key)}? "
                "The exact values shown are removed; any already gone are skipped.", "Delete"):
            return None
        lists = ListItems(self.client())
        report = await self.run_bulk(f"Deleting {n} from {printable(key)}",
                                     self._moves(items, lambda c: lists.delete(key, c)))
        self.call_after_refresh(table.focus)
        return Outcome.of(report, "deleted")

    def action_purge(self) -> None:
        self.act("purge", self._list_key, self._purge)

    async def _purge(self, key: str) -> Outcome | None:
        lists = ListItems(self.client())
        length, _ = await lists.count_and_tail(key)
        if not await self.confirm(
                "Purge queue", f"Delete the whole list {printable(key)}: {length:,} items now "
                "(and any pushed before the purge runs). This cannot be undone.", typed=key):
            return None
        n = await lists.purge(key)
        for table in (self.items_table, self.proc_table):
            table.want_start = 0
        return Outcome(f"Purged {printable(key)} ({n:,} items)", timeout=5)

    def action_move(self) -> None:
        self.act("move", self._items, self._move)

    async def _move(self, target: tuple[ItemTable, list[Item]]) -> Outcome | None:
        table, items = target
        src = table.source.key if table.source else ""
        values = await self.ask(
            f"Move {len(items)} item(s) from {printable(src)}",
            [Field("target", "Target list (items go to its tail, unchanged)", "",
                   check=lambda v: None if v and v != src else "give another list's key")],
            submit_label="Move")
        if not values:
            return None
        dst = values["target"]
        lists = ListItems(self.client())
        report = await self.run_bulk(f"Moving {len(items)} to {printable(dst)}",
                                     self._moves(items, lambda c: lists.move(src, dst, c)))
        self.call_after_refresh(table.focus)
        return Outcome.of(report, "moved")

    def action_ack(self) -> None:
        self.act("ack", self._proc_items, lambda t: self._ack(t, nack=False))

    def action_nack(self) -> None:
        self.act("nack", self._proc_items, lambda t: self._ack(t, nack=True))

    async def _ack(self, target: tuple[QueueRef, list[Item]], nack: bool) -> Outcome | None:
        ref, items = target
        n = len(items)
        end, served = self.return_end(ref)
        what = (f"Move {n} job(s) back to the {end} of {printable(ref.key)} (nack): "
                f"{served}?" if nack
                else f"Acknowledge {n} job(s): remove them from "
                     f"{printable(ref.processing_key or '')}?")
        verb = "Nack" if nack else "Ack"
        if not await self.confirm(verb, what, verb):
            return None
        rq = ReliableQueue(self.client())
        fn = (lambda r, c: rq.nack(r, c, end=end)) if nack else rq.ack
        report = await self.run_bulk(("Nacking" if nack else "Acking") + f" {n} job(s)",
                                     self._moves(items, lambda c: fn(ref, c)))
        self.call_after_refresh(self.proc_table.focus)
        return Outcome.of(report, "nacked" if nack else "acked")

    def action_recover(self) -> None:
        self.act("recover", self._reliable, self._recover)

    async def _recover(self, ref: QueueRef) -> Outcome | None:
        rq = ReliableQueue(self.client())
        max_age = self.visibility_ms(ref)
        end, served = self.return_end(ref)
        scan = await rq.find_stale(ref, max_age, self.now_ms())
        proc_key = printable(ref.processing_key or "")
        if not scan.items:
            self.notify(f"No job in {proc_key} is older than {fmt.duration(max_age)} "
                        f"({scan.scanned:,} checked)", timeout=4)
            return None
        preview = Text(f"{len(scan.items):,} job(s) in {proc_key} are older than "
                       f"{fmt.duration(max_age)}; move them back to the {end} of "
                       f"{printable(ref.key)}, {served}:\n")
        now = self.now_ms()
        for item in scan.items[:8]:
            env = decode(item.raw)
            preview.append(f"\n  {printable(env.id or env.preview(36), 40):<40}  "
                           f"age {age_text(env, now)}")
        if len(scan.items) > 8:
            preview.append(f"\n  … and {len(scan.items) - 8:,} more")
        if not await self.confirm("Recover stale jobs", preview,
                                  f"Recover {len(scan.items):,}"):
            return None
        report = await self.run_bulk(f"Recovering {len(scan.items):,} stale job(s)",
                                     self._moves(list(scan.items),
                                                 lambda c: rq.recover(ref, c, end=end)))
        self.call_after_refresh(self.proc_table.focus)
        return Outcome.of(report, "recovered")
