"""The Dead letters panel's entries: the highlighted list's entries (paged), the title
line, the groups by reason, and the filter / group-by-reason scan.

A widget inside DeadLettersPanel (which holds the list table, the keys and the actions):
the panel tells it which list is highlighted (`select_dlq`) and reads what it shows
(`current_ref`, `flt`, `scan_state`, the item table). It loads windows and runs its scan
through the panel (`ItemPagerPanel`), so a failure is the panel's one line."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from functools import partial

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import DataTable

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.bulk import Cancel
from ferrite_tui.backend.dlq import DeadLetters, Filter, ScanState, first_line
from ferrite_tui.backend.envelopes import Envelope, decode, printable
from ferrite_tui.backend.errors import BackendError
from ferrite_tui.backend.journal import BulkRecord
from ferrite_tui.backend.lists import Page
from ferrite_tui.backend.models import QueueRef
from ferrite_tui.backend.movebase import Item
from ferrite_tui.ui.panels.deadletters.title import DeadLetterTitle, ScanFigures
from ferrite_tui.ui.panels.list_base import ItemPagerPanel
from ferrite_tui.ui.widgets.items import ItemTable, Source, age_text, id_text, mark_prefix
from ferrite_tui.ui.widgets.table import Column, KeyedTable

#: A last error that repeats the reason, in the last-error column.
REPEATED = "= reason"


class DeadLetterEntries(Vertical):
    """The entries of the list highlighted in the panel, their filter and their groups."""

    DEFAULT_CSS = """
    DeadLetterEntries { height: 1fr; }
    DeadLetterEntries #items-title { height: 1; padding: 0 1; background: $boost; }
    DeadLetterEntries #items, DeadLetterEntries #groups { height: 1fr; }
    """

    # View state; the title line (DeadLetterTitle) is bound to it and redraws itself.
    current_ref: reactive[QueueRef | None] = reactive(None, init=False)
    flt: reactive[Filter] = reactive(Filter, init=False)
    scan_figures: reactive[ScanFigures | None] = reactive(None, init=False)
    groups_shown: reactive[bool] = reactive(False, init=False)  # reason groups, not entries
    shown_page: reactive[Page | None] = reactive(None, init=False)
    marked: reactive[int] = reactive(0, init=False)
    targets: reactive[dict[str, str]] = reactive(dict, init=False)  # DLQ key -> given target
    current_target: reactive[str | None] = reactive(None)
    interrupted: reactive[list[BulkRecord]] = reactive(list, init=False)  # runs that stopped
    filter_error: reactive[str | None] = reactive(None, init=False)

    def __init__(self, pager: ItemPagerPanel, **kwargs) -> None:
        super().__init__(**kwargs)
        self.pager = pager  # the panel: loads windows, runs workers, inspects values
        self.scan_state: ScanState | None = None
        self.scan_cancel: Cancel | None = None
        self.scan_ended = asyncio.Event()  # set when the filter scan finished or stopped
        self.scan_ended.set()

    # -- layout -------------------------------------------------------------------------

    def item_columns(self) -> list[Column]:
        return [
            Column("mark", "", 1),
            Column("pos", "#", 7, justify="right"),
            Column("id", "id", 14, priority=1),  # identifies the entry: the last to go
            Column("reason", "reason", 26),
            Column("error", "last error", 24, priority=2),
            Column("retries", "tries", 5, priority=3, justify="right"),
            Column("dead", "dead", 7, justify="right"),
            Column("first", "first try", 9, priority=4, justify="right"),
        ]

    def compose(self) -> ComposeResult:
        yield DeadLetterTitle(id="items-title").data_bind(
            ref=DeadLetterEntries.current_ref, target=DeadLetterEntries.current_target,
            flt=DeadLetterEntries.flt, scan=DeadLetterEntries.scan_figures,
            groups_shown=DeadLetterEntries.groups_shown, page=DeadLetterEntries.shown_page,
            marked=DeadLetterEntries.marked, interrupted=DeadLetterEntries.interrupted,
            error=DeadLetterEntries.filter_error)
        yield ItemTable(self.item_columns(), self._item_row, id="items")
        yield KeyedTable([Column("count", "count", 8, justify="right"),
                          Column("newest", "newest", 8, justify="right"),
                          Column("reason", "reason (numbers and ids normalised)", 60)],
                         id="groups")

    def on_mount(self) -> None:
        items = self.items_table
        items.on_leave = self.leave_items
        items.on_page = lambda where: self.pager.page_to(items, where)
        redraw_marks = items.on_marks

        def marks_changed() -> None:
            if redraw_marks is not None:
                redraw_marks()
            self.marked = len(items.marks)

        items.on_marks = marks_changed
        self.groups_table.display = False  # entries first (groups_shown is False)

    def compute_current_target(self) -> str | None:
        return None if self.current_ref is None else self.target_of(self.current_ref)

    def watch_groups_shown(self, shown: bool) -> None:
        self.groups_table.display = shown
        self.items_table.display = not shown

    @property
    def items_table(self) -> ItemTable:
        return self.query_one("#items", ItemTable)

    @property
    def groups_table(self) -> KeyedTable:
        return self.query_one("#groups", KeyedTable)

    def now_ms(self) -> int:
        return self.pager.session.now_ms()

    def target_of(self, ref: QueueRef) -> str | None:
        return self.targets.get(ref.key) or ref.target_key

    def set_target(self, dlq_key: str, target: str) -> None:
        """The target queue given for this list (t, or asked on requeue)."""
        self.targets = {**self.targets, dlq_key: target}

    def _item_row(self, item: Item, env: Envelope, marked: bool) -> dict[str, object]:
        now = self.now_ms()
        if env.kind == "dead":
            reason, error = first_line(env.reason), first_line(env.last_error)
            return {"mark": mark_prefix(marked), "pos": f"{item.pos:,}", "id": id_text(env),
                    "reason": printable(reason, 200),
                    # Usually the same text: said once (the column goes when all repeat).
                    "error": (Text(REPEATED, style="dim") if error == reason and error
                              else printable(error, 200)),
                    "retries": "-" if env.retry_count is None else str(env.retry_count),
                    "dead": age_text(env, now, env.dead_at),
                    "first": age_text(env, now, env.first_attempt)}
        return {"mark": mark_prefix(marked), "pos": f"{item.pos:,}", "id": id_text(env),
                "reason": Text(f"({env.kind}, not an envelope)", style="yellow"),
                "error": env.preview(200), "retries": "-", "dead": "-", "first": "-"}

    # -- selection ------------------------------------------------------------------------

    def select_dlq(self, ref: QueueRef | None) -> None:
        if ref == self.current_ref and ref is not None:
            return
        self.current_ref = ref
        self._stop_scan()
        self.flt = Filter()
        self.set_scan(None)
        self.filter_error = None
        if self.groups_shown:
            self.groups_shown = False
        if ref is None:
            self.items_table.set_source(None)
            return
        self.items_table.set_source(Source(ref.key))
        self.pager.load_items(self.items_table, 0)
        self.interrupted = self.pager.session.journal().interrupted(ref.key)
        if self.interrupted:
            self.pager.notify(self.interrupted[-1].describe() + ". F finishes it.",
                        severity="warning", timeout=10)

    def leave_items(self) -> None:
        """escape on the entries: first drop a chosen group, then go back to the lists."""
        if self.flt.group is not None:
            self.apply_filter(Filter(self.flt.text))
        else:
            self.pager.table.focus()  # back to the lists

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        # (enter on the panel's list table does not pass here: the panel opens the list)
        event.stop()
        table = event.data_table
        if table.id == "groups":
            self._choose_group(str(event.row_key.value))
        elif isinstance(table, ItemTable):
            self._inspect(table, str(event.row_key.value))

    def _inspect(self, table: ItemTable, key: str) -> None:
        item = table.by_key.get(key)
        if item is None or self.current_ref is None:
            return

        env = decode(item.raw)
        now = self.now_ms()
        meta = [("dead-letter list", printable(self.current_ref.key)),
                ("position", f"{item.pos:,}"), ("kind", env.kind)]
        if env.kind == "dead":
            meta += [("id", env.id or ""), ("reason", env.reason or ""),
                     ("last_error", env.last_error or ""),
                     ("retry_count", "-" if env.retry_count is None else str(env.retry_count)),
                     ("dead", f"{age_text(env, now, env.dead_at)} ago"),
                     ("first_attempt", f"{age_text(env, now, env.first_attempt)} ago")]
        target = self.target_of(self.current_ref)
        meta.append(("target", target or "(unknown)"))
        self.pager.inspect_value(f"{self.current_ref.key} #{item.pos}", item.raw, meta)

    def items_loaded(self, table: ItemTable, page: Page) -> None:
        self.shown_page = page
        self.marked = len(table.marks)
        self.filter_error = None
        self._merge_repeated_errors(table)

    def _merge_repeated_errors(self, table: ItemTable) -> None:
        """When every last error shown repeats its reason, one column says both."""
        errors = [table.cell_text(key, "error") for key in table.row_keys]
        repeated = bool(errors) and all(e in ("", REPEATED) for e in errors)
        table.set_hidden({"error"} if repeated else (),
                         {"reason": "reason = last error"} if repeated else None)

    def set_scan(self, state: ScanState | None) -> None:
        """The scan whose figures are shown (None: no scan)."""
        self.scan_state = state
        self.scan_figures = None if state is None else ScanFigures.of(state)

    # -- filter and groups ------------------------------------------------------------------

    def set_filter(self, text: str) -> None:
        """The `/` filter on the entries of the list selected."""
        try:
            flt = Filter(text, self.flt.group)
        except BackendError as exc:
            self.filter_error = str(exc)
            return
        self.apply_filter(flt)

    def apply_filter(self, flt: Filter) -> None:
        self.flt = flt
        self.filter_error = None
        self.items_table.marks.clear()
        self.marked = 0
        if not flt.active:
            self._stop_scan()
            self.set_scan(None)
            if self.current_ref is not None:
                self.items_table.set_source(Source(self.current_ref.key))
                self.pager.load_items(self.items_table, 0)
            return
        self.start_scan()

    def _stop_scan(self) -> None:
        if self.scan_cancel is not None:
            self.scan_cancel.set()
            self.scan_cancel = None
        self.scan_ended.set()

    def start_scan(self) -> None:
        self._stop_scan()
        self.set_scan(None)
        if self.current_ref is None:
            return
        cancel = Cancel()
        self.scan_cancel = cancel
        self.scan_ended = asyncio.Event()
        # On the panel: a failed scan is its one line (a worker's state goes to its node).
        # A partial of the coroutine function, as @work passes (Textual runs it as async).
        scan: Callable[[], Awaitable[None]] = partial(
            self._scan_worker, self.current_ref, self.flt, cancel, self.scan_ended)
        self.pager.run_worker(scan, name="scan", group="dlq-scan", exit_on_error=False)

    async def _scan_worker(self, ref: QueueRef, flt: Filter, cancel: Cancel,
                           ended: asyncio.Event) -> None:
        try:
            await self._scan(ref, flt, cancel)
        finally:
            ended.set()

    async def _scan(self, ref: QueueRef, flt: Filter, cancel: Cancel) -> None:
        client = self.pager.item_client()
        if client is None:
            return
        state = ScanState(ref.key)
        self.set_scan(state)
        source = Source(ref.key, items=state.matches) if flt.active else None
        if source is not None:
            self.items_table.set_source(source)
        last = [0.0]

        def progress(st: ScanState) -> None:
            if cancel.requested or self.scan_state is not st:
                return
            now = time.monotonic()
            if now - last[0] > 0.25 or st.complete:
                last[0] = now
                self._scan_progress(st, source)

        await DeadLetters(client).scan(ref.key, flt, state=state, cancel=cancel,
                                       progress=progress, collect=flt.active)
        if self.scan_state is state and not cancel.requested:
            self._scan_progress(state, source)

    def _scan_progress(self, st: ScanState, source: Source | None) -> None:
        if source is not None and self.items_table.source is source:
            table = self.items_table
            start = table.start if table.page is not None and len(table.page.items) >= \
                table.window else 0
            self.pager.load_items(table, start)
        if self.groups_shown:
            self._draw_groups(st)
        self.scan_figures = ScanFigures.of(st)

    def _draw_groups(self, st: ScanState) -> None:
        now = self.now_ms()
        rows = []
        for g in st.sorted_groups():
            rows.append((g.key, {"count": f"{g.count:,}",
                                 "newest": "-" if g.newest_ms is None else
                                 fmt.duration(max(now - g.newest_ms, 0)),
                                 "reason": Text(printable(g.key, 300))}))
        self.groups_table.set_rows(rows)

    def toggle_groups(self) -> None:
        """g: the groups by reason (counted by a scan), or back to the entries."""
        if self.current_ref is None:
            self.pager.notify("Select a dead-letter list first", timeout=3)
            return
        self.groups_shown = not self.groups_shown
        if not self.groups_shown:
            self.items_table.focus()
            return
        self.groups_table.focus()
        st = self.scan_state
        if st is None or st.cancelled or (st.complete is False and self.scan_cancel is None):
            self.start_scan()
        else:
            self._draw_groups(st)

    def _choose_group(self, key: str) -> None:
        self.groups_shown = False
        self.items_table.focus()
        self.apply_filter(Filter(self.flt.text, key))

