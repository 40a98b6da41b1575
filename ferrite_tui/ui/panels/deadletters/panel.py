"""Panel 6: dead-letter lists, their entries, and the incident workflow on them.

On top every DLQ with its target queue, depth and growth. Below, the highlighted DLQ's
entries, paged as on panel 2: id, reason, last_error, retry_count, dead_at, first_attempt.

`g` shows the group-by-reason view (reasons with numbers and ids normalised away, counted by
a background scan with progress); enter on a group filters the entries to it. `/` filters by
substring, or /regex/, over reason, error and payload (a background scan as well).

Keys (the dead-letter layout's actions, kinds/deadletters.py): enter inspect, space mark, r
requeue selected, R requeue everything shown (the exact count confirmed), d / D delete
selected / everything shown (typed), e edit then requeue, x export (NDJSON), t target.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.bulk import BulkReport, BulkRunner, ChunkResult, HeadPlan
from ferrite_tui.backend.crossslot import finish_inflight
from ferrite_tui.backend.dlq import DeadLetters, Filter, edit_text
from ferrite_tui.backend.envelopes import decode, printable
from ferrite_tui.backend.history import History
from ferrite_tui.backend.journal import BulkRecord
from ferrite_tui.backend.libraries.model import State
from ferrite_tui.backend.lists import ListItems, Page
from ferrite_tui.backend.models import QueueRef, QueueStats, Snapshot
from ferrite_tui.backend.movebase import Item, PositionalPlan
from ferrite_tui.backend.requeue_plan import RequeuePlan, plan_head
from ferrite_tui.files import EXPORTS, default_file, resolve
from ferrite_tui.ui.library_states import LibraryStateRows
from ferrite_tui.ui.panels.base import NothingSelected, Outcome, alert_cell, key_cell, trend_cell
from ferrite_tui.ui.panels.deadletters.entries import DeadLetterEntries
from ferrite_tui.ui.panels.deadletters.routing import (
    requeue_whole_list,
    route_body,
    routes_for,
    run_routed,
    unwrapped_note,
)
from ferrite_tui.ui.panels.list_base import ItemPagerPanel
from ferrite_tui.ui.screens.dialogs import Field, check_output_path
from ferrite_tui.ui.widgets.items import ItemTable
from ferrite_tui.ui.widgets.table import Column, KeyedTable
from ferrite_tui.websession import refuse_file_writes

HEAD_CHUNK = 500  # entries per chunk when working "the first N" from the head


class DeadLettersPanel(ItemPagerPanel):
    TITLE = "Dead letters"
    KINDS = ItemPagerPanel.kinds_in("dlq")

    DEFAULT_CSS = """
    DeadLettersPanel #table { height: auto; max-height: 7; }  /* a short list takes only its rows */
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

    # -- the items an action applies to ----------------------------------------------------

    MUTATIONS = {
        **ItemPagerPanel.layout_mutations(*KINDS),  # requeue(_all), delete(_all), edit
        "finish_interrupted": "finish the interrupted run",
    }
    OWN_ACTIONS = frozenset({"finish_interrupted"})  # the journal's, whatever is selected
    COMMANDS = {"export": "export what is shown (NDJSON)", "groups": "group by reason",
                "set_target": "set the target queue"}

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.entries = DeadLetterEntries(self, id="entries")
        # The libraries' failed jobs (RQ, dramatiq, BullMQ, ...): their own rows and actions.
        self.library_rows = LibraryStateRows(self, State.FAILED, self.KINDS)

    # -- the lists --------------------------------------------------------------------------

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
        target = self.entries.target_of(q.ref)
        return {
            "key": key_cell(q),
            "target": printable(target, 80) if target else Text("(unknown: t sets it)",
                                                                 style="yellow"),
            "depth": fmt.count(q.depth), "net": fmt.signed_rate(q.net_rate),
            "trend": trend_cell(q, self.history), "oldest": fmt.duration(q.oldest_ms),
            "alerts": alert_cell(q),
        }

    def compose(self) -> ComposeResult:
        yield from super().compose()
        yield self.library_rows
        yield self.entries

    def action_queue(self) -> QueueRef | None:
        return self.entries.current_ref

    @property
    def items_table(self) -> ItemTable:
        return self.entries.items_table

    @property
    def groups_table(self) -> KeyedTable:
        return self.entries.groups_table

    @on(DataTable.RowHighlighted, "#table")
    def _dlq_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.entries.select_dlq(self.ref_of(str(event.row_key.value)))

    def redraw(self) -> None:
        super().redraw()
        if self.entries.current_ref is None and self.table.cursor_key:
            self.entries.select_dlq(self.ref_of(self.table.cursor_key))

    def update_snapshot(self, snap: Snapshot, history: History | None) -> None:
        self.library_rows.update_snapshot(snap)  # first: the note says whether it has rows
        super().update_snapshot(snap, history)
        table = self.items_table
        if self.active() and table.source is not None and table.source.items is None:
            self.refresh_items(table)

    def empty_note(self) -> Text:
        return self.library_rows.note_when_alone("dead-letter lists") or super().empty_note()

    def open_row(self, ident: str) -> None:
        self.entries.select_dlq(self.ref_of(ident))
        self.items_table.focus()

    def set_filter(self, text: str) -> None:
        if self.entries.current_ref is None:
            super().set_filter(text)  # the lists, until one is selected
        else:
            self.entries.set_filter(text)

    def items_loaded(self, table: ItemTable, page: Page) -> None:
        self.entries.items_loaded(table, page)

    def action_groups(self) -> None:
        self.entries.toggle_groups()

    def _dlq(self) -> QueueRef:
        if self.entries.current_ref is None:
            raise NothingSelected("select a dead-letter list first")
        return self.entries.current_ref

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
        if not self.entries.flt.active:
            return ref, None
        st = self.entries.scan_state
        if st is None or not st.complete:
            raise NothingSelected("the filter scan is still running: wait for it to finish")
        return ref, list(st.matches)

    async def _target(self, ref: QueueRef) -> str | None:
        target = self.entries.target_of(ref)
        if target:
            return target
        values = await self.ask(
            f"Target queue for {printable(ref.key)}",
            [Field("target", "The target cannot be derived from the name: requeue to which list?",
                   "", check=lambda v: None if v and v != ref.key else "give the queue's key")],
            submit_label="Use it")
        if not values:
            return None
        self.entries.set_target(ref.key, values["target"])
        self.redraw()
        return values["target"]

    def _letters(self) -> DeadLetters:
        return DeadLetters(self.client(), clock=self.session.server_now_s)

    def after_action(self) -> None:
        self.items_table.marks.clear()
        if self.items_table.display:
            self.call_after_refresh(self.items_table.focus)
        if self.entries.flt.active:
            self.entries.start_scan()
        else:
            self.load_items(self.items_table, None)
        super().after_action()

    def _outcome(self, report: BulkReport, verb: str) -> Outcome:
        if not report.cancelled and report.resume is None:
            self._dismiss_interrupted()
        elif report.resume is not None and (ref := self.entries.current_ref) is not None:
            # Stopped by a node that did not come back: its record stays, and F offers it.
            self.entries.interrupted = self.session.journal().interrupted(ref.key)
        return Outcome.of(report, verb, extra=self._unchanged_note(report))

    def _dismiss_interrupted(self) -> None:
        if self.entries.interrupted and (ref := self.entries.current_ref) is not None:
            self.session.journal().dismiss(ref.key)  # a later run did the rest
            self.entries.interrupted = []

    @staticmethod
    def _unchanged_note(report: BulkReport) -> str:
        n = report.unchanged
        if not n:
            return ""
        if n == 1:
            return "; 1 was not a dead-letter envelope and moved unchanged"
        return f"; {n:,} were not dead-letter envelopes and moved unchanged"

    async def _bulk(self, title: Callable[[int], str], items: list[Item] | None,
                    chunk: Callable[[Sequence[Item]], Awaitable[ChunkResult]],
                    counted: tuple[int, bytes | None],
                    head: Callable[[int, bytes | None], Awaitable[ChunkResult]],
                    record: BulkRecord | None) -> BulkReport:
        """The exact items shown (a filter's matches), or else the whole list as counted at
        confirmation, worked from the head until the counted last entry is done."""
        journal = self.session.journal()
        # A run the journal follows is resumed by F (in flight first, then the rest).
        resume = ("F on this panel resumes it (what is in flight first, then the rest)"
                  if record is not None else None)
        if items is not None:
            runner: BulkRunner[Item] = BulkRunner(PositionalPlan(items, max_items=200), chunk,
                                                  journal=journal, record=record,
                                                  resume=resume)
            return await self.run_bulk(title(len(items)), runner)
        count, tail = counted
        runner = BulkRunner(HeadPlan(count, HEAD_CHUNK), lambda n: head(n, tail),
                            journal=journal, record=record, resume=resume)
        return await self.run_bulk(title(count), runner)

    # -- actions ----------------------------------------------------------------------------

    def action_finish_interrupted(self) -> None:
        """Show what the interrupted run was working on again, then offer R on it."""
        if not self.entries.interrupted or self.entries.current_ref is None:
            self.notify("No interrupted run on this list", timeout=3)
            return
        if not self.ferrite.writable(self.MUTATIONS["finish_interrupted"]):
            return
        rec = self.entries.interrupted[-1]
        ref = self.entries.current_ref
        if rec.target and not self.entries.target_of(ref):
            self.entries.set_target(ref.key, rec.target)
        self.entries.apply_filter(Filter(rec.filter_text, rec.group))
        self.items_table.focus()
        if rec.action.startswith("requeue"):
            self.act("requeue_all", self._dlq, self._requeue_all_after_scan)

    async def _requeue_all_after_scan(self, ref: QueueRef) -> Outcome | None:
        if any(rec.stopped for rec in self.entries.interrupted) and \
                self.client().cluster is not None:
            # A run stopped by a failed node may have left a chunk staged between slots:
            # delivered first, so the rest of the run does not count it missing.

            finished = await finish_inflight(self.client())
            if finished.delivered or finished.errors:
                self.notify(finished.summary(), timeout=6,
                            severity="warning" if finished.errors else "information")
        if self.entries.flt.active:
            await self.entries.scan_ended.wait()  # the matches the interrupted run worked on
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
            [Field("target", "Requeue to", self.entries.target_of(ref) or "",
                   check=lambda v: None if v and v != ref.key else "give the queue's key")],
            submit_label="Use it")
        if values:
            self.entries.set_target(ref.key, values["target"])
            self.redraw()
        return None

    def action_requeue(self) -> None:
        self.act("requeue", self._selected, self._requeue)

    async def _requeue(self, target: tuple[QueueRef, list[Item]]) -> Outcome | None:
        ref, items = target
        routes = await routes_for(self, ref, items)
        if routes is None:
            return None
        if not routes.moving:
            return Outcome(f"Nothing requeued: {routes.describe()}", severity="warning",
                           timeout=8)
        plan = routes.plan
        # One dead-letter envelope goes back as the seed does, without asking; anything
        # else (a record that is not a job, a wrapper, another queue) is pushed only once
        # the operator has seen it.
        if len(items) > 1 or plan.unchanged or plan.unwrapped or routes.named \
                or routes.refused:
            what = (f"{len(items)} marked entries" if len(items) > 1 else "1 entry")
            if not await self.confirm("Requeue marked" if len(items) > 1 else "Requeue",
                                      route_body(what, ref, routes),
                                      f"Requeue {routes.moving}"):
                return None
        return await run_routed(self, ref, routes)

    def action_requeue_all(self) -> None:
        self.act("requeue_all", self._shown_now, self._requeue_all)

    async def _requeue_all(self, target: tuple[QueueRef, list[Item] | None]) -> Outcome | None:
        ref, matches = target
        if matches is None:
            counted = await ListItems(self.client()).count_and_tail(ref.key)
            if not counted[0]:
                self.notify("The dead-letter list is empty", timeout=3)
                return None
            # Each letter to the queue it names, else the list's target: read in pages.
            return await requeue_whole_list(self, ref, counted)
        if not matches:
            self.notify("Nothing shown to requeue", timeout=3)
            return None
        routes = await routes_for(self, ref, matches)
        if routes is None:
            return None
        if not routes.moving:
            return Outcome(f"Nothing requeued: {routes.describe()}", severity="warning",
                           timeout=8)
        shown = f" ({self.entries.flt.describe()})" if self.entries.flt.active else ""
        if not await self.confirm("Requeue all shown" if self.entries.flt.active else "Requeue all",
                                  route_body(f"{len(matches):,} entries{shown}", ref,
                                                   routes), f"Requeue {routes.moving:,}"):
            return None
        target_text = ", ".join(routes.routes)
        record = BulkRecord("requeue dead letters", ref.key, target_text, routes.moving,
                            self.entries.flt.text, self.entries.flt.group)
        return await run_routed(self, ref, routes, record)

    async def _requeue_head(self, ref: QueueRef, counted: tuple[int, bytes | None],
                            plan: RequeuePlan | None = None) -> Outcome | None:
        """The whole list to its target, from the head (no letter names a queue)."""
        dest = await self._target(ref)
        if not dest:
            return None
        count = counted[0]
        plan = plan or await plan_head(self.client(), ref.key, count)
        body = Text(f"Requeue all {count:,} entries of {printable(ref.key)} to the tail "
                    f"of {printable(dest)}: {plan.describe()}? Entries that arrive after "
                    "this count are left.")
        body.append(unwrapped_note(plan, dest))
        record = BulkRecord("requeue dead letters", ref.key, dest, count)
        if not await self.confirm("Requeue all", body, f"Requeue {count:,}"):
            return None
        dl = self._letters()
        report = await self._bulk(
            lambda n: f"Requeueing {n:,} to {printable(dest)}",
            None, lambda c: dl.requeue(ref.key, dest, c), counted,
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
            body = (f"Delete {len(matches):,} entries ({self.entries.flt.describe()}) "
                    f"from "
                    f"{printable(ref.key)}. This cannot be undone.")
            counted: tuple[int, bytes | None] = (len(matches), None)
        else:
            counted = await ListItems(self.client()).count_and_tail(ref.key)
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
            label, value = "Payload (JSON); the job is requeued with it", edit_text(env)
        elif env.kind == "wrapped":
            label = (f"The job (under \"{env.job_field}\"), pushed exactly as typed; the "
                     "reason and time around it are dropped")
            value = edit_text(env)
        else:
            label = "Value (not a dead-letter envelope: pushed exactly as typed)"
            value = item.raw.decode("utf-8", "surrogateescape")
        routes = await routes_for(self, ref, [item])  # the queue it names, else the target
        if routes is None:
            return None
        if not routes.moving:
            return Outcome(f"Not requeued: {routes.describe()}", severity="warning", timeout=8)
        dest = next(iter(routes.routes))
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
        if refuse_file_writes(self.notify, "export"):
            return
        self.act("export", self._shown_now, self._export)

    async def _export(self, target: tuple[QueueRef, list[Item] | None]) -> Outcome | None:
        ref, matches = target
        what = f"{len(matches):,} entries ({self.entries.flt.describe()})" \
            if matches is not None else "every entry"
        default = default_file(EXPORTS, ref.key, ".ndjson")
        values = await self.ask(
            f"Export {what} as NDJSON",
            [Field("path", f"File (a bare name goes to {default.parent})", str(default),
                   check=lambda v: check_output_path(str(resolve(v, EXPORTS))))],
            submit_label="Export")
        if not values:
            return None
        path = resolve(values["path"], EXPORTS)
        self.notify(f"Exporting {what}…", timeout=2)
        try:
            n = await DeadLetters(self.client()).export(ref.key, str(path), items=matches)
        except OSError as exc:
            return Outcome(f"Cannot write {printable(str(path), 120)}: "
                           f"{exc.strerror or exc}", severity="error")
        return Outcome(f"Exported {n:,} entries to {printable(str(path), 200)}", timeout=8)

