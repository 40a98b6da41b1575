"""Panel 6: dead-letter lists, their entries, and the incident workflow on them.

On top every DLQ with its target queue, depth and growth. Below, the highlighted DLQ's
entries, paged in windows of the visible height (home/end/pgup/pgdn/: as on panel 2): id,
reason, first line of last_error, retry_count, time since dead_at, first_attempt.

`g` shows the group-by-reason view (reasons with numbers and ids normalised away, counted by
a background scan with progress); enter on a group filters the entries to it. `/` filters by
substring, or /regex/, over reason, error and payload (a background scan as well).

Keys: enter inspect, space mark, r requeue selected (the seed's retry_dead_letter), R requeue
everything shown (confirmation with the exact count), d delete selected, D delete everything
shown (typed confirmation), e edit the payload then requeue, x export what is shown (NDJSON),
t set the target queue.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.bulk import BulkReport, BulkRunner, Cancel, ChunkResult, HeadPlan
from ferrite_tui.backend.client import BackendError, Client
from ferrite_tui.backend.dlq import DeadLetters, Filter, ScanState, first_line
from ferrite_tui.backend.envelopes import Envelope, decode, dumps, printable
from ferrite_tui.backend.journal import BulkRecord
from ferrite_tui.backend.lists import ListItems, Page
from ferrite_tui.backend.models import QueueKind, QueueRef, QueueStats
from ferrite_tui.backend.moves import Item, PositionalPlan
from ferrite_tui.ui.panels.base import NothingSelected, Outcome, alert_cell, key_cell, trend_cell
from ferrite_tui.ui.panels.list_base import ItemPagerPanel
from ferrite_tui.ui.screens.dialogs import Field, check_output_path
from ferrite_tui.ui.widgets.items import ItemTable, Source, age_text, id_text, mark_prefix
from ferrite_tui.ui.widgets.table import Column, KeyedTable

HEAD_CHUNK = 500


class DeadLettersPanel(ItemPagerPanel):
    TITLE = "Dead letters"
    KINDS = (QueueKind.DLQ,)

    DEFAULT_CSS = """
    DeadLettersPanel #table { height: 7; }
    DeadLettersPanel #items-title { height: 1; padding: 0 1; background: $boost; }
    DeadLettersPanel #items, DeadLettersPanel #groups { height: 1fr; }
    """

    BINDINGS = [
        Binding("r", "requeue", "Requeue", id="dlq.requeue"),
        Binding("R", "requeue_all", "Requeue shown", id="dlq.requeue_all"),
        Binding("d", "delete", "Delete", id="dlq.delete"),
        Binding("D", "delete_all", "Delete shown", id="dlq.delete_all"),
        Binding("e", "edit", "Edit+requeue", id="dlq.edit"),
        Binding("x", "export", "Export", id="dlq.export"),
        Binding("g", "groups", "Group by reason", id="dlq.groups"),
        Binding("t", "set_target", "Target", id="dlq.target", show=False),
        Binding("F", "finish_interrupted", "Finish interrupted", id="dlq.finish", show=False),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.current_ref: QueueRef | None = None
        self.flt = Filter()
        self.scan_state: ScanState | None = None
        self.scan_cancel: Cancel | None = None
        self.scan_ended = asyncio.Event()  # set when the filter scan finished or stopped
        self.scan_ended.set()
        self.targets: dict[str, str] = {}  # DLQ key -> target given by the operator
        self.interrupted: list[BulkRecord] = []  # earlier runs on this DLQ that stopped early

    # -- layout -------------------------------------------------------------------------

    def columns(self) -> list[Column]:
        return [
            Column("key", "dead-letter list", 28),
            Column("target", "target queue", 22, priority=1),
            Column("depth", "dead", 8, justify="right"),
            Column("net", "growth/s", 8, priority=1, justify="right"),
            Column("trend", "trend", 12, priority=2),
            Column("oldest", "oldest", 7, priority=2, justify="right"),
            Column("alerts", "alerts", 18),
        ]

    def row(self, q: QueueStats) -> dict[str, object]:
        target = self.target_of(q.ref)
        return {
            "key": key_cell(q),
            "target": printable(target, 80) if target else Text("(unknown: t sets it)",
                                                                 style="yellow"),
            "depth": fmt.count(q.depth), "net": fmt.signed_rate(q.net_rate),
            "trend": trend_cell(q, self.history), "oldest": fmt.duration(q.oldest_ms),
            "alerts": alert_cell(q),
        }

    def item_columns(self) -> list[Column]:
        return [
            Column("mark", "", 1),
            Column("pos", "#", 7, justify="right"),
            Column("id", "id", 14, priority=2),
            Column("reason", "reason", 26),
            Column("error", "last error", 24, priority=1),
            Column("retries", "tries", 5, priority=3, justify="right"),
            Column("dead", "dead", 7, justify="right"),
            Column("first", "first try", 9, priority=4, justify="right"),
        ]

    def compose(self) -> ComposeResult:
        yield from super().compose()
        yield Static(Text("Highlight a dead-letter list to see its entries."), id="items-title")
        yield ItemTable(self.item_columns(), self._item_row, id="items")
        yield KeyedTable([Column("count", "count", 8, justify="right"),
                          Column("newest", "newest", 8, justify="right"),
                          Column("reason", "reason (numbers and ids normalised)", 60)],
                         id="groups")

    def on_mount(self) -> None:
        items = self.items_table
        items.on_leave = self.leave_items
        items.on_page = lambda where: self.page_to(items, where)
        self.groups_table.display = False

    @property
    def items_table(self) -> ItemTable:
        return self.query_one("#items", ItemTable)

    @property
    def groups_table(self) -> KeyedTable:
        return self.query_one("#groups", KeyedTable)

    def now_ms(self) -> int:
        return self.session.now_ms()

    def target_of(self, ref: QueueRef) -> str | None:
        return self.targets.get(ref.key) or ref.target_key

    def _item_row(self, item: Item, env: Envelope, marked: bool) -> dict[str, object]:
        now = self.now_ms()
        if env.kind == "dead":
            return {"mark": mark_prefix(marked), "pos": f"{item.pos:,}", "id": id_text(env),
                    "reason": printable(first_line(env.reason), 200),
                    "error": printable(first_line(env.last_error), 200),
                    "retries": "-" if env.retry_count is None else str(env.retry_count),
                    "dead": age_text(env, now, env.dead_at),
                    "first": age_text(env, now, env.first_attempt)}
        return {"mark": mark_prefix(marked), "pos": f"{item.pos:,}", "id": id_text(env),
                "reason": Text(f"({env.kind}, not an envelope)", style="yellow"),
                "error": env.preview(200), "retries": "-", "dead": "-", "first": "-"}

    # -- selection ------------------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#table")
    def _dlq_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.select_dlq(self.ref_of(str(event.row_key.value)))

    def select_dlq(self, ref: QueueRef | None) -> None:
        if ref == self.current_ref and ref is not None:
            return
        self.current_ref = ref
        self._stop_scan()
        self.flt = Filter()
        self.scan_state = None
        self.groups_table.display = False
        self.items_table.display = True
        if ref is None:
            self.items_table.set_source(None)
            return
        self.items_table.set_source(Source(ref.key))
        self.load_items(self.items_table, 0)
        self.interrupted = self.session.journal().interrupted(ref.key)
        if self.interrupted:
            self.notify(self.interrupted[-1].describe() + ". F finishes it.",
                        severity="warning", timeout=10)

    def redraw(self) -> None:
        super().redraw()
        if self.current_ref is None and self.table.cursor_key:
            self.select_dlq(self.ref_of(self.table.cursor_key))

    def update_snapshot(self, snap, history) -> None:
        super().update_snapshot(snap, history)
        table = self.items_table
        if self.active() and table.source is not None and table.source.items is None:
            self.load_items(table, None)

    def open_row(self, ident: str) -> None:
        self.select_dlq(self.ref_of(ident))
        self.items_table.focus()

    def focus_queues(self) -> None:
        self.table.focus()

    def leave_items(self) -> None:
        """escape on the entries: first drop a chosen group, then go back to the lists."""
        if self.flt.group is not None:
            self.apply_filter(Filter(self.flt.text))
            self._update_title()
        else:
            self.focus_queues()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        event.prevent_default()  # Panel's handler (open_row for every table) must not run
        table = event.data_table
        if table.id == "groups":
            self._choose_group(str(event.row_key.value))
        elif isinstance(table, ItemTable):
            self._inspect(table, str(event.row_key.value))
        else:
            self.open_row(str(event.row_key.value))

    def _inspect(self, table: ItemTable, key: str) -> None:
        item = table.by_key.get(key)
        if item is None or self.current_ref is None:
            return
        from ferrite_tui.ui.screens.inspector import InspectorScreen

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
        self.app.push_screen(InspectorScreen(f"{self.current_ref.key} #{item.pos}", item.raw,
                                             meta=meta))

    def items_loaded(self, table: ItemTable, page: Page) -> None:
        self._update_title()

    def _update_title(self) -> None:
        ref = self.current_ref
        if ref is None:
            return
        text = Text()
        text.append(printable(ref.key, 60), style="bold")
        target = self.target_of(ref)
        text.append(f" → {printable(target, 40)}" if target else " → (target unknown)")
        page = self.items_table.page
        if self.flt.active:
            text.append(f"  {self.flt.describe()}", style="cyan")
        st = self.scan_state
        if st is not None and (self.flt.active or self.groups_table.display):
            count = len(st.matches)
            done = "" if st.complete else (
                f" (scanning {st.scanned:,} of {st.length:,})" if not st.cancelled else
                " (scan stopped)")
            if self.flt.active:
                text.append(f": {count:,} match{'es' if count != 1 else ''}{done}")
                if st.truncated:
                    text.append(" (first 200,000 kept)", style="yellow")
            else:
                text.append(f"  {len(st.groups)} reason groups{done}")
        if page is not None and not self.groups_table.display:
            if page.items:
                text.append(f"  rows {page.start:,}–{page.end - 1:,} of {page.length:,}")
            else:
                text.append("  empty")
        if self.items_table.marks:
            text.append(f"  · {len(self.items_table.marks)} marked", style="magenta")
        if self.interrupted:
            rec = self.interrupted[-1]
            text.append(f"  ▲ interrupted {rec.action}: {rec.done:,}/{rec.total:,} done, "
                        "F finish", style="bold yellow")
        self.query_one("#items-title", Static).update(text)

    # -- filter and groups ------------------------------------------------------------------

    def set_filter(self, text: str) -> None:
        if self.current_ref is None:
            super().set_filter(text)
            return
        try:
            flt = Filter(text, self.flt.group)
        except BackendError as exc:
            self.query_one("#items-title", Static).update(Text(str(exc), style="red"))
            return
        self.apply_filter(flt)

    def apply_filter(self, flt: Filter) -> None:
        self.flt = flt
        self.items_table.marks.clear()
        if not flt.active:
            self._stop_scan()
            self.scan_state = None
            if self.current_ref is not None:
                self.items_table.set_source(Source(self.current_ref.key))
                self.load_items(self.items_table, 0)
            return
        self._start_scan()

    def _stop_scan(self) -> None:
        if self.scan_cancel is not None:
            self.scan_cancel.set()
            self.scan_cancel = None
        self.scan_ended.set()

    def _start_scan(self) -> None:
        self._stop_scan()
        self.scan_state = None
        if self.current_ref is None:
            return
        cancel = Cancel()
        self.scan_cancel = cancel
        self.scan_ended = asyncio.Event()
        self._scan_worker(self.current_ref, self.flt, cancel, self.scan_ended)

    @work(group="dlq-scan", name="scan", exit_on_error=False)
    async def _scan_worker(self, ref: QueueRef, flt: Filter, cancel: Cancel,
                           ended: asyncio.Event) -> None:
        try:
            await self._scan(ref, flt, cancel)
        finally:
            ended.set()

    async def _scan(self, ref: QueueRef, flt: Filter, cancel: Cancel) -> None:
        client = self.item_client()
        if client is None:
            return
        state = ScanState(ref.key)
        self.scan_state = state
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
            self.load_items(table, start)
        if self.groups_table.display:
            self._draw_groups(st)
        self._update_title()

    def _draw_groups(self, st: ScanState) -> None:
        now = self.now_ms()
        rows = []
        for g in st.sorted_groups():
            rows.append((g.key, {"count": f"{g.count:,}",
                                 "newest": "-" if g.newest_ms is None else
                                 fmt.duration(max(now - g.newest_ms, 0)),
                                 "reason": Text(printable(g.key, 300))}))
        self.groups_table.set_rows(rows)

    def action_groups(self) -> None:
        if self.current_ref is None:
            self.notify("Select a dead-letter list first", timeout=3)
            return
        groups = self.groups_table
        if groups.display:
            groups.display = False
            self.items_table.display = True
            self.items_table.focus()
            self._update_title()
            return
        groups.display = True
        self.items_table.display = False
        groups.focus()
        st = self.scan_state
        if st is None or st.cancelled or (st.complete is False and self.scan_cancel is None):
            self._start_scan()
        else:
            self._draw_groups(st)
        self._update_title()

    def _choose_group(self, key: str) -> None:
        self.groups_table.display = False
        self.items_table.display = True
        self.items_table.focus()
        self.apply_filter(Filter(self.flt.text, key))

    # -- the items an action applies to ----------------------------------------------------

    MUTATIONS = {
        "requeue": "requeue selected", "requeue_all": "requeue all shown",
        "delete": "delete selected", "delete_all": "delete all shown",
        "edit": "edit the payload, then requeue",
        "finish_interrupted": "finish the interrupted run",
    }
    COMMANDS = {"export": "export what is shown (NDJSON)", "groups": "group by reason",
                "set_target": "set the target queue"}

    def _dlq(self) -> QueueRef:
        if self.current_ref is None:
            raise NothingSelected("select a dead-letter list first")
        return self.current_ref

    def _selected(self) -> tuple[QueueRef, list[Item]]:
        ref = self._dlq()
        table = self.items_table
        if not table.display or not (table.has_focus or table.marks):
            raise NothingSelected("move into the entries first (enter on the list)")
        items = table.selected()
        if not items:
            raise NothingSelected("no entry selected")
        return ref, items

    def _shown_now(self) -> tuple[QueueRef, list[Item] | None]:
        """The list, and the filtered matches (None when unfiltered)."""
        ref = self._dlq()
        if not self.flt.active:
            return ref, None
        st = self.scan_state
        if st is None or not st.complete:
            raise NothingSelected("the filter scan is still running: wait for it to finish")
        return ref, list(st.matches)

    async def _target(self, ref: QueueRef) -> str | None:
        target = self.target_of(ref)
        if target:
            return target
        values = await self.ask(
            f"Target queue for {printable(ref.key)}",
            [Field("target", "The target cannot be derived from the name: requeue to which list?",
                   "", check=lambda v: None if v and v != ref.key else "give the queue's key")],
            submit_label="Use it")
        if not values:
            return None
        self.targets[ref.key] = values["target"]
        self.redraw()
        return values["target"]

    def _client(self) -> Client:
        client = self.session.client
        if client is None:
            raise NothingSelected("not connected yet")
        return client

    def _letters(self) -> DeadLetters:
        return DeadLetters(self._client(), clock=self.session.clock)

    def after_action(self) -> None:
        self.items_table.marks.clear()
        if self.items_table.display:
            self.call_after_refresh(self.items_table.focus)
        if self.flt.active:
            self._start_scan()
        else:
            self.load_items(self.items_table, None)
        super().after_action()

    def _outcome(self, report: BulkReport, verb: str) -> Outcome:
        if not report.cancelled:
            self._dismiss_interrupted()
        return Outcome.of(report, verb, extra=self._unchanged_note(report))

    def _dismiss_interrupted(self) -> None:
        if self.interrupted and self.current_ref is not None:
            self.session.journal().dismiss(self.current_ref.key)  # a later run did the rest
            self.interrupted = []

    @staticmethod
    def _unchanged_note(report: BulkReport) -> str:
        n = report.unchanged
        if not n:
            return ""
        return (f"; {n} {'was' if n == 1 else 'were'} not dead-letter envelopes and moved "
                "unchanged")

    async def _bulk(self, title: Callable[[int], str], items: list[Item] | None,
                    chunk: Callable[[Sequence[Item]], Awaitable[ChunkResult]],
                    counted: tuple[int, bytes | None],
                    head: Callable[[int, bytes | None], Awaitable[ChunkResult]],
                    record: BulkRecord | None) -> BulkReport:
        """The exact items shown (a filter's matches), or else the whole list as counted at
        confirmation, worked from the head until the counted last entry is done."""
        journal = self.session.journal()
        if items is not None:
            runner: BulkRunner[Item] = BulkRunner(PositionalPlan(items, max_items=200), chunk,
                                                  journal=journal, record=record)
            return await self.run_bulk(title(len(items)), runner)
        count, tail = counted
        runner = BulkRunner(HeadPlan(count, HEAD_CHUNK), lambda n: head(n, tail),
                            journal=journal, record=record)
        return await self.run_bulk(title(count), runner)

    # -- actions ----------------------------------------------------------------------------

    def action_finish_interrupted(self) -> None:
        """Show what the interrupted run was working on again, then offer R on it."""
        if not self.interrupted or self.current_ref is None:
            self.notify("No interrupted run on this list", timeout=3)
            return
        if not self.ferrite.writable(self.MUTATIONS["finish_interrupted"]):
            return
        rec = self.interrupted[-1]
        if rec.target and not self.target_of(self.current_ref):
            self.targets[self.current_ref.key] = rec.target
        self.apply_filter(Filter(rec.filter_text, rec.group))
        self.items_table.focus()
        if rec.action.startswith("requeue"):
            self.act("requeue_all", self._dlq, self._requeue_all_after_scan)

    async def _requeue_all_after_scan(self, ref: QueueRef) -> Outcome | None:
        if self.flt.active:
            await self.scan_ended.wait()  # the matches the interrupted run worked on
        try:
            _, items = self._shown_now()
        except NothingSelected as why:
            self.notify(str(why), severity="warning", timeout=4)
            return None
        return await self._requeue_all((ref, items))

    def action_set_target(self) -> None:
        self.act("set_target", self._dlq, self._set_target)

    async def _set_target(self, ref: QueueRef) -> Outcome | None:
        values = await self.ask(
            f"Target queue for {printable(ref.key)}",
            [Field("target", "Requeue to", self.target_of(ref) or "",
                   check=lambda v: None if v and v != ref.key else "give the queue's key")],
            submit_label="Use it")
        if values:
            self.targets[ref.key] = values["target"]
            self.redraw()
            self._update_title()
        return None

    def action_requeue(self) -> None:
        self.act("requeue", self._selected, self._requeue)

    async def _requeue(self, target: tuple[QueueRef, list[Item]]) -> Outcome | None:
        ref, items = target
        dest = await self._target(ref)
        if not dest:
            return None
        if len(items) > 1 and not await self.confirm(
                "Requeue marked", f"Requeue {len(items)} marked entries from "
                f"{printable(ref.key)} to the tail of {printable(dest)}?",
                f"Requeue {len(items)}"):
            return None
        dl = self._letters()
        report = await self.run_bulk(
            f"Requeueing {len(items)} to {printable(dest)}",
            BulkRunner(PositionalPlan(items, max_items=200),
                       lambda c: dl.requeue(ref.key, dest, c)))
        return self._outcome(report, "requeued")

    def action_requeue_all(self) -> None:
        self.act("requeue_all", self._shown_now, self._requeue_all)

    async def _requeue_all(self, target: tuple[QueueRef, list[Item] | None]) -> Outcome | None:
        ref, matches = target
        dest = await self._target(ref)
        if not dest:
            return None
        if matches is not None:
            if not matches:
                self.notify("Nothing shown to requeue", timeout=3)
                return None
            body = (f"Requeue {len(matches):,} entries ({self.flt.describe()}) from "
                    f"{printable(ref.key)} to {printable(dest)}?")
            label = f"Requeue {len(matches):,}"
            record = BulkRecord("requeue dead letters", ref.key, dest, len(matches),
                                self.flt.text, self.flt.group)
            counted: tuple[int, bytes | None] = (len(matches), None)
        else:
            counted = await ListItems(self._client()).count_and_tail(ref.key)
            count = counted[0]
            if not count:
                self.notify("The dead-letter list is empty", timeout=3)
                return None
            body = (f"Requeue all {count:,} entries of {printable(ref.key)} to the tail of "
                    f"{printable(dest)}? Entries that arrive after this count are left.")
            label = f"Requeue {count:,}"
            record = BulkRecord("requeue dead letters", ref.key, dest, count)
        if not await self.confirm("Requeue all shown" if matches is not None else "Requeue all",
                                  body, label):
            return None
        dl = self._letters()
        report = await self._bulk(
            lambda n: f"Requeueing {n:,} to {printable(dest)}",
            matches, lambda c: dl.requeue(ref.key, dest, c), counted,
            lambda n, tail: dl.requeue_head(ref.key, dest, n, stop_at=tail), record)
        return self._outcome(report, "requeued")

    def action_delete(self) -> None:
        self.act("delete", self._selected, self._delete)

    async def _delete(self, target: tuple[QueueRef, list[Item]]) -> Outcome | None:
        ref, items = target
        n = len(items)
        if not await self.confirm(
                "Delete dead letters", f"Delete {n} entr{'ies' if n != 1 else 'y'} from "
                f"{printable(ref.key)}? This cannot be undone.", "Delete"):
            return None
        dl = self._letters()
        report = await self.run_bulk(f"Deleting {n}", BulkRunner(
            PositionalPlan(items, max_items=200), lambda c: dl.delete(ref.key, c)))
        return self._outcome(report, "deleted")

    def action_delete_all(self) -> None:
        self.act("delete_all", self._shown_now, self._delete_all)

    async def _delete_all(self, target: tuple[QueueRef, list[Item] | None]) -> Outcome | None:
        ref, matches = target
        if matches is not None:
            title = "Delete all shown"
            body = (f"Delete {len(matches):,} entries ({self.flt.describe()}) from "
                    f"{printable(ref.key)}. This cannot be undone.")
            counted: tuple[int, bytes | None] = (len(matches), None)
        else:
            counted = await ListItems(self._client()).count_and_tail(ref.key)
            count = counted[0]
            if not count:
                return None
            title = "Delete all"
            body = f"Delete all {count:,} entries of {printable(ref.key)}. This cannot be undone."
        if not await self.confirm(title, body, typed=ref.key):
            return None
        dl = self._letters()
        report = await self._bulk(
            lambda n: f"Deleting {n:,}", matches, lambda c: dl.delete(ref.key, c), counted,
            lambda n, tail: dl.delete_head(ref.key, n, stop_at=tail), None)
        return self._outcome(report, "deleted")

    def action_edit(self) -> None:
        self.act("edit", self._selected, self._edit)

    async def _edit(self, target: tuple[QueueRef, list[Item]]) -> Outcome | None:
        ref, items = target
        item = self.items_table.current() or items[0]
        env = decode(item.raw)
        if env.kind == "dead":
            label, value = "Payload (JSON); the job is requeued with it", dumps(env.payload)
        else:
            label = "Value (not a dead-letter envelope: pushed exactly as typed)"
            value = item.raw.decode("utf-8", "surrogateescape")
        dest = await self._target(ref)
        if not dest:
            return None
        values = await self.ask(f"Edit, then requeue to {printable(dest)}",
                                [Field("value", label, value)], submit_label="Requeue")
        if values is None:
            return None
        res = await self._letters().edit_requeue(ref.key, dest, item, values["value"])
        self._dismiss_interrupted()
        if res.done:
            return Outcome(f"Requeued the edited entry to {printable(dest)}", timeout=4)
        return Outcome("The entry is no longer in the dead-letter list: nothing requeued",
                       severity="warning", timeout=6)

    def action_export(self) -> None:
        self.act("export", self._shown_now, self._export)

    async def _export(self, target: tuple[QueueRef, list[Item] | None]) -> Outcome | None:
        ref, matches = target
        what = f"{len(matches):,} entries ({self.flt.describe()})" if matches is not None \
            else "every entry"
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in ref.key)
        values = await self.ask(
            f"Export {what} as NDJSON",
            [Field("path", "File", f"{safe}.ndjson", check=check_output_path)],
            submit_label="Export")
        if not values:
            return None
        self.notify(f"Exporting {what}…", timeout=2)
        try:
            n = await DeadLetters(self._client()).export(ref.key, values["path"], items=matches)
        except OSError as exc:
            return Outcome(f"Cannot write {printable(values['path'], 120)}: "
                           f"{exc.strerror or exc}", severity="error")
        return Outcome(f"Exported {n:,} entries to {printable(values['path'], 200)}",
                       timeout=5)
