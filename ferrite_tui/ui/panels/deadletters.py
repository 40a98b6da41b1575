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

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.bulk import BulkReport, Cancel
from ferrite_tui.backend.client import BackendError, describe_error
from ferrite_tui.backend.dlq import DeadLetters, Filter, ScanState, first_line
from ferrite_tui.backend.envelopes import Envelope, decode, dumps, printable
from ferrite_tui.backend.journal import BulkRecord
from ferrite_tui.backend.lists import Page
from ferrite_tui.backend.models import QueueKind, QueueRef, QueueStats
from ferrite_tui.backend.moves import Item
from ferrite_tui.backend.requeue_plan import plan_head, plan_items
from ferrite_tui.ui.panels.base import Panel, alert_cell, key_cell, trend_cell
from ferrite_tui.ui.panels.queues import (
    ItemPagerMixin, ItemTable, Source, age_text, id_text, mark_prefix,
)
from ferrite_tui.ui.widgets.table import Column, KeyedTable

HEAD_CHUNK = 500


class DeadLettersPanel(ItemPagerMixin, Panel):
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
        return int(self.app.clock() * 1000)

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
        self.interrupted = self.journal().interrupted(ref.key)
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

    def _start_scan(self) -> None:
        self._stop_scan()
        self.scan_state = None
        if self.current_ref is None:
            return
        cancel = Cancel()
        self.scan_cancel = cancel
        self._scan_worker(self.current_ref, self.flt, cancel)

    @work(group="dlq-scan", exit_on_error=False)
    async def _scan_worker(self, ref: QueueRef, flt: Filter, cancel: Cancel) -> None:
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

        try:
            await DeadLetters(client).scan(ref.key, flt, state=state, cancel=cancel,
                                           progress=progress, collect=flt.active)
        except Exception as exc:
            self.notify(describe_error(exc, client.settings), severity="error")
            return
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

    def _dlq(self, action: str) -> QueueRef | None:
        if self.current_ref is None:
            self.notify(f"'{action}': select a dead-letter list first", timeout=3)
        return self.current_ref

    def _selected(self, action: str) -> list[Item] | None:
        if self._dlq(action) is None:
            return None
        table = self.items_table
        if not table.display or not (table.has_focus or table.marks):
            self.notify(f"'{action}': move into the entries first (enter on the list)",
                        timeout=3)
            return None
        items = table.selected()
        if not items:
            self.notify(f"'{action}': no entry selected", timeout=3)
            return None
        return items

    async def _target(self, ref: QueueRef) -> str | None:
        target = self.target_of(ref)
        if target:
            return target
        from ferrite_tui.ui.screens.dialogs import Field, FormScreen

        values = await self.app.push_screen_wait(FormScreen(
            f"Target queue for {printable(ref.key)}",
            [Field("target", "The target cannot be derived from the name: requeue to which list?",
                   "", check=lambda v: None if v and v != ref.key else "give the queue's key")],
            submit_label="Use it"))
        if not values:
            return None
        self.targets[ref.key] = values["target"]
        self.redraw()
        return values["target"]

    def _shown(self) -> tuple[list[Item] | None, str | None]:
        """The filtered matches (None when unfiltered), or a reason it cannot act yet."""
        if not self.flt.active:
            return None, None
        st = self.scan_state
        if st is None or not st.complete:
            return None, "the filter scan is still running: wait for it to finish"
        return list(st.matches), None

    def _finished(self, report: BulkReport, verb: str, extra: str = "") -> None:
        self.items_table.marks.clear()
        if self.interrupted and self.current_ref is not None and not report.cancelled:
            self.journal().dismiss(self.current_ref.key)  # a later run picked up the rest
            self.interrupted = []
        if self.items_table.display:
            self.call_after_refresh(self.items_table.focus)
        severity = "warning" if report.skipped or report.failed or report.cancelled else \
            "information"
        self.notify(report.summary(verb) + extra, severity=severity, timeout=8)
        if self.flt.active:
            self._start_scan()
        else:
            self.load_items(self.items_table, None)
        if self.app.monitor is not None:
            self.app.monitor.poll_now()

    @staticmethod
    def _unchanged_note(report: BulkReport) -> str:
        n = getattr(report, "unchanged", 0)
        if not n:
            return ""
        return (f"; {n} {'was' if n == 1 else 'were'} not dead-letter envelopes and moved "
                "unchanged")

    # -- actions ----------------------------------------------------------------------------

    def action_finish_interrupted(self) -> None:
        """Show what the interrupted run was working on again, then offer R on it."""
        if not self.interrupted or self.current_ref is None:
            self.notify("No interrupted run on this list", timeout=3)
            return
        if not self.app.writable("finish interrupted run"):
            return
        rec = self.interrupted[-1]
        if rec.target and not self.target_of(self.current_ref):
            self.targets[self.current_ref.key] = rec.target
        self.apply_filter(Filter(rec.filter_text, rec.group))
        self.items_table.focus()
        if rec.action.startswith("requeue"):
            self._requeue_all_worker(wait_scan=True)

    def action_set_target(self) -> None:
        ref = self._dlq("target")
        if ref is None:
            return
        from ferrite_tui.ui.screens.dialogs import Field, FormScreen

        def done(values: dict[str, str] | None) -> None:
            if values:
                self.targets[ref.key] = values["target"]
                self.redraw()
                self._update_title()

        self.app.push_screen(FormScreen(
            f"Target queue for {printable(ref.key)}",
            [Field("target", "Requeue to", self.target_of(ref) or "",
                   check=lambda v: None if v and v != ref.key else "give the queue's key")],
            submit_label="Use it"), done)

    def action_requeue(self) -> None:
        if not self.app.writable("requeue"):
            return
        items = self._selected("requeue")
        if items:
            self._requeue_worker(items)

    @work(group="dlq-requeue", exit_on_error=False)
    async def _requeue_worker(self, items: list[Item]) -> None:
        from ferrite_tui.ui.screens.dialogs import ConfirmScreen

        ref = self.current_ref
        target = await self._target(ref)
        if not target:
            return
        if len(items) > 1:
            plan = plan_items(items)
            ok = await self.app.push_screen_wait(ConfirmScreen(
                "Requeue marked", Text(f"Requeue {len(items)} marked entries from "
                                       f"{printable(ref.key)} to the tail of {printable(target)}: "
                                       f"{plan.describe()}?"),
                f"Requeue {len(items)}"))
            if not ok:
                return
        client = self.item_client()
        dl = DeadLetters(client, clock=self.app.clock)
        report = await self.run_bulk(f"Requeueing {len(items)} to {printable(target)}", items,
                                     lambda c: dl.requeue(ref.key, target, c))
        self._finished(report, "requeued", self._unchanged_note(report))

    def action_requeue_all(self) -> None:
        if not self.app.writable("requeue all shown"):
            return
        if self._dlq("requeue all shown") is not None:
            self._requeue_all_worker()

    @work(group="dlq-requeue-all", exit_on_error=False)
    async def _requeue_all_worker(self, wait_scan: bool = False) -> None:
        from ferrite_tui.ui.screens.dialogs import ConfirmScreen

        ref = self.current_ref
        if wait_scan and self.flt.active:
            deadline = time.monotonic() + 600
            while (self.scan_state is None or not (self.scan_state.complete
                                                   or self.scan_state.cancelled)) \
                    and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        matches, problem = self._shown()
        if problem:
            self.notify(problem, severity="warning", timeout=4)
            return
        target = await self._target(ref)
        if not target:
            return
        client = self.item_client()
        dl = DeadLetters(client, clock=self.app.clock)
        if matches is not None:
            if not matches:
                self.notify("Nothing shown to requeue", timeout=3)
                return
            plan = plan_items(matches)
            ok = await self.app.push_screen_wait(ConfirmScreen(
                "Requeue all shown", Text(f"Requeue {len(matches):,} entries ({self.flt.describe()}) "
                                          f"from {printable(ref.key)} to {printable(target)}: "
                                          f"{plan.describe()}?"),
                f"Requeue {len(matches):,}"))
            if not ok:
                return
            record = BulkRecord("requeue dead letters", ref.key, target, len(matches),
                                self.flt.text, self.flt.group)
            report = await self.run_bulk(f"Requeueing {len(matches):,} to {printable(target)}",
                                         matches, lambda c: dl.requeue(ref.key, target, c),
                                         record=record)
            self._finished(report, "requeued", self._unchanged_note(report))
            return
        count, tail = await self._count_and_tail(ref.key)
        if count is None:
            return
        if not count:
            self.notify("The dead-letter list is empty", timeout=3)
            return
        try:
            plan = await plan_head(client, ref.key, count)
        except Exception as exc:
            self.notify(describe_error(exc, client.settings), severity="error")
            return
        ok = await self.app.push_screen_wait(ConfirmScreen(
            "Requeue all", Text(f"Requeue all {count:,} entries of {printable(ref.key)} to the "
                                f"tail of {printable(target)}: {plan.describe()}? Entries "
                                "that arrive after this count are left."), f"Requeue {count:,}"))
        if not ok:
            return
        report = await self._head_run(
            f"Requeueing {count:,} to {printable(target)}", count,
            lambda n: dl.requeue_head(ref.key, target, n, stop_at=tail),
            BulkRecord("requeue dead letters", ref.key, target, count))
        self._finished(report, "requeued", self._unchanged_note(report))

    async def _count_and_tail(self, key: str) -> tuple[int | None, bytes | None]:
        client = self.item_client()
        try:
            async with client.redis.pipeline(transaction=True) as pipe:
                pipe.llen(key)
                pipe.lindex(key, -1)
                count, tail = await pipe.execute()
        except Exception as exc:
            self.notify(describe_error(exc, client.settings), severity="error")
            return None, None
        return int(count), tail

    async def _head_run(self, title: str, count: int, chunk,
                        record: BulkRecord | None = None) -> BulkReport:
        """Work from the head in chunks until the counted tail entry is done."""
        from ferrite_tui.ui.screens.progress import ProgressScreen

        journal = self.journal() if record is not None else None
        if journal is not None:
            journal.start(record)
        cancel = Cancel()
        screen = ProgressScreen(title, count, cancel)
        await self.app.push_screen(screen)  # mounted before finish() can dismiss it
        report = BulkReport(total=count)
        unchanged = 0
        while report.done < count:
            if cancel.requested:
                report.cancelled = True
                break
            try:
                res = await chunk(min(HEAD_CHUNK, count - report.done))
            except Exception as exc:
                report.errors.append(describe_error(exc))
                report.failed = count - report.done
                break
            report.done += res.done
            report.failed += res.failed
            report.errors.extend(res.errors[:3])
            unchanged += getattr(res, "unchanged", 0)
            screen.update(report)
            if journal is not None:
                record.done, record.skipped = report.done, report.failed
                journal.save(record)
            if res.done == 0 or getattr(res, "reached_stop", False) or res.failed:
                break
        screen.finish(report)
        if journal is not None:
            journal.finish(record)
        report.unchanged = unchanged  # type: ignore[attr-defined]
        return report

    def action_delete(self) -> None:
        if not self.app.writable("delete"):
            return
        items = self._selected("delete")
        if items:
            self._delete_worker(items)

    @work(group="dlq-delete", exit_on_error=False)
    async def _delete_worker(self, items: list[Item]) -> None:
        from ferrite_tui.ui.screens.dialogs import ConfirmScreen

        ref = self.current_ref
        n = len(items)
        ok = await self.app.push_screen_wait(ConfirmScreen(
            "Delete dead letters", Text(f"Delete {n} entr{'ies' if n != 1 else 'y'} from "
                                        f"{printable(ref.key)}? This cannot be undone."),
            "Delete"))
        if not ok:
            return
        dl = DeadLetters(self.item_client())
        report = await self.run_bulk(f"Deleting {n}", items, lambda c: dl.delete(ref.key, c))
        self._finished(report, "deleted")

    def action_delete_all(self) -> None:
        if not self.app.writable("delete all shown"):
            return
        if self._dlq("delete all shown") is not None:
            self._delete_all_worker()

    @work(group="dlq-delete-all", exit_on_error=False)
    async def _delete_all_worker(self) -> None:
        from ferrite_tui.ui.screens.dialogs import TypedConfirmScreen

        ref = self.current_ref
        matches, problem = self._shown()
        if problem:
            self.notify(problem, severity="warning", timeout=4)
            return
        dl = DeadLetters(self.item_client())
        if matches is not None:
            ok = await self.app.push_screen_wait(TypedConfirmScreen(
                "Delete all shown", Text(f"Delete {len(matches):,} entries ({self.flt.describe()}) "
                                         f"from {printable(ref.key)}. This cannot be undone."),
                ref.key))
            if not ok:
                return
            report = await self.run_bulk(f"Deleting {len(matches):,}", matches,
                                         lambda c: dl.delete(ref.key, c))
            self._finished(report, "deleted")
            return
        count, tail = await self._count_and_tail(ref.key)
        if not count:
            return
        ok = await self.app.push_screen_wait(TypedConfirmScreen(
            "Delete all", Text(f"Delete all {count:,} entries of {printable(ref.key)}. "
                               "This cannot be undone."), ref.key))
        if not ok:
            return
        report = await self._head_run(f"Deleting {count:,}", count,
                                      lambda n: dl.delete_head(ref.key, n, stop_at=tail))
        self._finished(report, "deleted")

    def action_edit(self) -> None:
        if not self.app.writable("edit"):
            return
        items = self._selected("edit")
        if items:
            self._edit_worker(self.items_table.current() or items[0])

    @work(group="dlq-edit", exit_on_error=False)
    async def _edit_worker(self, item: Item) -> None:
        from ferrite_tui.ui.screens.dialogs import Field, FormScreen

        ref = self.current_ref
        env = decode(item.raw)
        if env.kind == "dead":
            label, value = "Payload (JSON); the job is requeued with it", dumps(env.payload)
        else:
            label = "Value (not a dead-letter envelope: pushed exactly as typed)"
            value = item.raw.decode("utf-8", "surrogateescape")
        target = await self._target(ref)
        if not target:
            return
        values = await self.app.push_screen_wait(FormScreen(
            f"Edit, then requeue to {printable(target)}", [Field("value", label, value)],
            submit_label="Requeue"))
        if values is None:
            return
        dl = DeadLetters(self.item_client(), clock=self.app.clock)
        try:
            res = await dl.edit_requeue(ref.key, target, item, values["value"])
        except Exception as exc:
            self.notify(describe_error(exc), severity="error")
            return
        if res.done:
            self.notify(f"Requeued the edited entry to {printable(target)}", timeout=4)
        else:
            self.notify("The entry is no longer in the dead-letter list: nothing requeued",
                        severity="warning", timeout=6)
        self._finished(BulkReport(total=1, done=res.done, skipped=res.skipped), "requeued")

    def action_export(self) -> None:
        if self._dlq("export") is not None:
            self._export_worker()

    @work(group="dlq-export", exit_on_error=False)
    async def _export_worker(self) -> None:
        from ferrite_tui.files import EXPORTS, default_file, resolve
        from ferrite_tui.ui.screens.dialogs import Field, FormScreen, check_output_path

        ref = self.current_ref
        matches, problem = self._shown()
        if problem:
            self.notify(problem, severity="warning", timeout=4)
            return
        what = f"{len(matches):,} entries ({self.flt.describe()})" if matches is not None \
            else "every entry"
        default = default_file(EXPORTS, ref.key, ".ndjson")
        values = await self.app.push_screen_wait(FormScreen(
            f"Export {what} as NDJSON",
            [Field("path", f"File (a bare name goes to {default.parent})", str(default),
                   check=lambda v: check_output_path(str(resolve(v, EXPORTS))))],
            submit_label="Export"))
        if not values:
            return
        path = resolve(values["path"], EXPORTS)
        self.notify(f"Exporting {what}…", timeout=2)
        try:
            n = await DeadLetters(self.item_client()).export(ref.key, str(path), items=matches)
        except OSError as exc:
            self.notify(f"Cannot write {printable(str(path), 120)}: "
                        f"{exc.strerror or exc}", severity="error")
            return
        except Exception as exc:
            self.notify(describe_error(exc), severity="error")
            return
        self.notify(f"Exported {n:,} entries to {printable(str(path), 200)}", timeout=8)
