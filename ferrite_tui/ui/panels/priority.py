"""Panel 3: priority queues (sorted sets of job envelopes, score = priority, higher first).

The queue table is on top; the selected queue's jobs, highest priority first and paged,
below it, beside a histogram of priorities. `SortedSetPanel` holds what panel 4 (delayed
queues, ui/panels/scheduled.py) shares: the two tables, marks, paging, the reload worker,
inspect, and the dialogs around single and bulk actions.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Sequence

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState
from textual_plotext import PlotextPlot

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.bulk import BulkReport, Cancel
from ferrite_tui.backend.client import describe_error
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.models import QueueKind, QueueRef, QueueStats, Snapshot
from ferrite_tui.backend.priority import (
    PAGE_SIZE, CheckResult, PriorityQueue, PriorityView, ZItem, format_score, now_ms,
    parse_payload, parse_score, plausible_ms,
)
from ferrite_tui.ui.panels.base import Panel, alert_cell, key_cell, trend_cell
from ferrite_tui.ui.widgets.table import Column, KeyedTable

#: Below this width the plot is hidden and the jobs table takes the whole row.
PLOT_MIN_WIDTH = 100


def _check_score(text: str) -> str | None:
    try:
        parse_score(text)
    except ValueError as exc:
        return str(exc) or "not a number"
    return None


def _check_optional_score(text: str) -> str | None:
    return None if not text.strip() else _check_score(text)


def _check_json_or_text(text: str) -> str | None:
    return None if text.strip() else "a payload is needed (JSON, or text sent as a string)"


def age_text(item: ZItem, now: int) -> str:
    t = item.env.time_ms if item.env is not None else None
    if t is None or not plausible_ms(t):
        return "-"
    return fmt.duration(max(now - t, 0))


def id_cell(item: ZItem) -> Text:
    env = item.env
    if env is not None and env.id is not None:
        return Text(printable(env.id, 60), no_wrap=True, overflow="ellipsis")
    return Text(f"({env.kind if env else 'raw'})", style="dim italic")


def preview_cell(item: ZItem) -> Text:
    return Text(item.env.preview(120) if item.env else printable(item.member, 120),
                no_wrap=True, overflow="ellipsis")


class SortedSetPanel(Panel):
    """A queue table on top, the selected queue's items (a sorted set) paged below."""

    JOB_NOUN = "job"
    PLOT_TITLE = ""

    DEFAULT_CSS = """
    SortedSetPanel #table { height: auto; max-height: 8; }
    SortedSetPanel #jobs-title { height: 1; padding: 0 1; background: $boost; }
    SortedSetPanel #jobs-area { height: 1fr; }
    SortedSetPanel #jobs { width: 1fr; height: 1fr; }
    SortedSetPanel #plot { width: 36; height: 1fr; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.selected: QueueRef | None = None
        self.jobs_view: Any = None
        self.items_by_key: dict[str, ZItem] = {}
        self.marks: dict[str, ZItem] = {}
        self.loads = 0  # finished loads (tests wait on this)
        self._load_worker: Worker | None = None

    # -- layout ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield from super().compose()
        yield Static(Text("Select a queue above to see its jobs."), id="jobs-title")
        with Horizontal(id="jobs-area"):
            yield KeyedTable(self.job_columns(), id="jobs")
            yield PlotextPlot(id="plot")

    @property
    def jobs(self) -> KeyedTable:
        return self.query_one("#jobs", KeyedTable)

    def on_resize(self, event) -> None:
        self.query_one("#plot").display = event.size.width >= PLOT_MIN_WIDTH

    def job_columns(self) -> list[Column]:
        raise NotImplementedError

    def job_row(self, item: ZItem, now: int) -> dict[str, object]:
        raise NotImplementedError

    # -- queue selection -----------------------------------------------------------------

    def redraw(self) -> None:
        super().redraw()
        if self.snapshot is None:
            return
        refs = {q.ref.ident: q.ref for q in self.items(self.snapshot)}
        if self.selected is None or self.selected.ident not in refs:
            key = self.table.cursor_key
            if key in refs:
                self._select(refs[key])
            elif self.selected is not None:
                self.selected = None
                self.jobs_view = None
                self.jobs.set_rows([])
                self.query_one("#jobs-title", Static).update(Text("No queue selected."))

    def update_snapshot(self, snap: Snapshot, history) -> None:
        super().update_snapshot(snap, history)
        if self.selected is not None and self.active():
            self.reload(force=False)

    def stats(self) -> QueueStats | None:
        if self.snapshot is None or self.selected is None:
            return None
        for q in self.snapshot.queues:
            if q.ref.ident == self.selected.ident:
                return q
        return None

    @on(DataTable.RowHighlighted, "#table")
    def _queue_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        ident = str(event.row_key.value)
        if self.snapshot is None or (self.selected and self.selected.ident == ident):
            return
        for q in self.items(self.snapshot):
            if q.ref.ident == ident:
                self._select(q.ref)
                break

    @on(DataTable.RowHighlighted, "#jobs")
    def _job_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()

    def _select(self, ref: QueueRef) -> None:
        self.selected = ref
        self.marks.clear()
        self.reset_paging()
        self.jobs_view = None
        self.jobs.set_rows([])
        self.query_one("#jobs-title", Static).update(
            Text(f"{printable(ref.key, 60)}: loading…"))
        if self.active():  # a hidden panel loads when it is shown (on_show)
            self.reload()

    def on_show(self) -> None:
        if self.selected is not None:
            self.reload()

    def focus_ident(self, ident: str) -> bool:
        found = super().focus_ident(ident)
        if found and self.snapshot is not None:
            for q in self.items(self.snapshot):
                if q.ref.ident == ident and (self.selected is None
                                             or self.selected.ident != ident):
                    self._select(q.ref)
        return found

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.data_table.id == "jobs":
            self.inspect(str(event.row_key.value))
        else:
            self.open_row(str(event.row_key.value))

    def open_row(self, ident: str) -> None:
        """enter on a queue: its jobs get the focus."""
        if self.snapshot is not None:
            for q in self.items(self.snapshot):
                if q.ref.ident == ident and (self.selected is None
                                             or self.selected.ident != ident):
                    self._select(q.ref)
        self.jobs.focus()

    def action_bulk_hint(self) -> None:
        self.notify(f"Mark {self.JOB_NOUN}s with space; the keys then act on every marked "
                    f"{self.JOB_NOUN} (after a confirmation with the count)", timeout=4)

    def action_back(self) -> None:
        if self.jobs.has_focus:
            self.table.focus()
        else:
            self.app.action_back()

    # -- loading -----------------------------------------------------------------------

    def reset_paging(self) -> None:
        raise NotImplementedError

    async def fetch(self, ref: QueueRef) -> Any:
        raise NotImplementedError

    def reload(self, force: bool = True) -> None:
        """Load the page again. A poll tick (force=False) does not interrupt a load still
        in flight, so a slow server still gets its pages shown; a new queue, page or
        action (force) replaces it."""
        if self.selected is None or self.app.monitor is None:
            return
        worker = self._load_worker
        if worker is not None and worker.state in (WorkerState.PENDING, WorkerState.RUNNING):
            if not force:
                return
            worker.cancel()
        self._load_worker = self._load(self.selected)

    @work(exit_on_error=False, group="sortedset-load")
    async def _load(self, ref: QueueRef) -> None:
        try:
            view = await self.fetch(ref)
        except Exception as exc:  # one line, never a traceback
            self.query_one("#jobs-title", Static).update(
                Text(f"{printable(ref.key, 60)}: {describe_error(exc, self.app.settings)}",
                     style="red"))
            return
        if self.selected is None or self.selected.ident != ref.ident:
            return
        self.jobs_view = view
        self.show(view)
        self.loads += 1

    def show(self, view: Any) -> None:
        now = getattr(view, "now", None) or now_ms()
        items = self.view_items(view)
        self.items_by_key = {it.row_key: it for it in items}
        table = self.jobs
        old_key, old_row = table.cursor_key, table.cursor_row
        table.set_rows([(it.row_key, self.job_row(it, now)) for it in items])
        if old_key is not None and old_key not in self.items_by_key and table.row_count:
            # the job under the cursor left (run, removed): stay at the same place
            table.move_cursor(row=min(old_row, table.row_count - 1), animate=False)
        self.query_one("#jobs-title", Static).update(self.title_text(view))
        plot = self.query_one("#plot", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        self.draw_plot(plt, view)
        plot.refresh()

    def view_items(self, view: Any) -> Sequence[ZItem]:
        raise NotImplementedError

    def title_text(self, view: Any) -> Text:
        raise NotImplementedError

    def draw_plot(self, plt, view: Any) -> None:
        raise NotImplementedError

    def marks_text(self) -> str:
        return f" · {len(self.marks)} marked (actions apply to them)" if self.marks else ""

    # -- selection, marks, inspect -----------------------------------------------------------

    def current(self) -> ZItem | None:
        key = self.jobs.cursor_key
        return self.items_by_key.get(key) if key else None

    def targets(self) -> list[ZItem]:
        """The marked jobs if any, else the one under the cursor."""
        if self.marks:
            return list(self.marks.values())
        item = self.current()
        return [item] if item is not None else []

    def action_mark(self) -> None:
        item = self.current()
        if item is None or not self.jobs.has_focus:
            return
        if item.row_key in self.marks:
            del self.marks[item.row_key]
        else:
            self.marks[item.row_key] = item
        if self.jobs_view is not None:
            self.show(self.jobs_view)
        row = self.jobs.cursor_row
        if row + 1 < self.jobs.row_count:
            self.jobs.move_cursor(row=row + 1)

    def mark_cell(self, item: ZItem) -> Text:
        return Text("●", style="bold magenta") if item.row_key in self.marks else Text(" ")

    def inspect(self, row_key: str) -> None:
        item = self.items_by_key.get(row_key)
        if item is None or self.selected is None:
            return
        try:
            from ferrite_tui.ui.screens.inspector import InspectorScreen
        except ImportError:
            self.notify("The inspector is not available in this build", severity="warning")
            return
        self.app.push_screen(InspectorScreen(
            f"{self.JOB_NOUN} in {printable(self.selected.key, 60)}", item.member,
            meta=self.inspect_meta(item)))

    def inspect_meta(self, item: ZItem) -> list[tuple[str, str]]:
        env = item.env
        meta = [("key", printable(self.selected.key if self.selected else "", 200))]
        meta += self.score_meta(item)
        if env is not None:
            meta.append(("format", env.kind))
            if env.id is not None:
                meta.append(("id", printable(env.id, 200)))
        meta.append(("size", fmt.size(len(item.member))))
        return meta

    def score_meta(self, item: ZItem) -> list[tuple[str, str]]:
        return [("score", format_score(item.score))]

    # -- running actions -----------------------------------------------------------------------

    def need_targets(self, action: str) -> list[ZItem] | None:
        if not self.app.writable(action):
            return None
        if self.selected is None:
            self.notify(f"'{action}': select a queue first", timeout=3)
            return None
        if not self.marks and not self.jobs.has_focus:
            self.notify(f"'{action}': pick a {self.JOB_NOUN} first (enter on the queue, then "
                        f"move to the {self.JOB_NOUN})", timeout=4)
            return None
        items = self.targets()
        if not items:
            self.notify(f"'{action}': no {self.JOB_NOUN} selected", timeout=3)
            return None
        return items

    def target_words(self, items: Sequence[ZItem]) -> str:
        if len(items) == 1:
            return f"{self.JOB_NOUN} {items[0].label}"
        return f"{len(items)} marked {self.JOB_NOUN}s"

    async def run_checked(self, verb: str, items: Sequence[ZItem],
                          single: Callable[[ZItem], Awaitable[CheckResult]],
                          many: Callable[..., Awaitable[BulkReport]], title: str) -> None:
        """One job: the single form, reported in one line. Several: chunked with progress."""
        from ferrite_tui.ui.screens.progress import ProgressScreen

        try:
            if len(items) == 1:
                result = await single(items[0])
                severity = "information" if result.done else "warning"
                self.notify(f"{title}: {result.message(verb)}", severity=severity)
                for it in result.done + result.gone:
                    self.marks.pop(it.row_key, None)
            else:
                cancel = Cancel()
                screen = ProgressScreen(title, len(items), cancel)
                await self.app.push_screen(screen)
                try:
                    report = await many(items, progress=screen.update, cancel=cancel)
                finally:
                    screen.finish(None)
                self.notify(f"{title}: {report.summary(verb)}",
                            severity="information" if not report.skipped else "warning")
                if not report.cancelled:
                    self.marks.clear()
        except Exception as exc:
            self.notify(f"{title}: {describe_error(exc, self.app.settings)}", severity="error")
        self.after_change()

    def after_change(self) -> None:
        self.reload()
        if self.app.monitor is not None:
            self.app.monitor.poll_now()

    def fail(self, title: str, exc: Exception) -> None:
        self.notify(f"{title}: {describe_error(exc, self.app.settings)}", severity="error")


class PriorityPanel(SortedSetPanel):
    TITLE = "Priority"
    KINDS = (QueueKind.PRIORITY,)
    JOB_NOUN = "job"

    BINDINGS = [
        Binding("e", "change_priority", "Priority", id="priority.edit"),
        Binding("d", "remove", "Remove", id="priority.remove"),
        Binding("n", "new_job", "New job", id="priority.new"),
        Binding("space", "mark", "Mark", id="priority.mark"),
        Binding("f", "range_filter", "Range", id="priority.range"),
        Binding("right_square_bracket", "page(1)", "Next page", key_display="]",
                id="priority.next"),
        Binding("left_square_bracket", "page(-1)", "Prev page", key_display="[",
                id="priority.prev"),
        Binding("D", "bulk_hint", "Bulk", show=False, id="priority.bulk"),
        Binding("escape", "back", "Back", show=False, id="priority.back"),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.page_offset = 0
        self.lo: float | None = None
        self.hi: float | None = None

    def columns(self) -> list[Column]:
        return [
            Column("key", "key", 30),
            Column("depth", "jobs", 8, justify="right"),
            Column("net", "Δ/s", 7, priority=1, justify="right"),
            Column("trend", "trend", 12, priority=2),
            Column("oldest", "top job age", 11, priority=1, justify="right"),
            Column("alerts", "alerts", 20),
        ]

    def row(self, q: QueueStats) -> dict[str, object]:
        return {
            "key": key_cell(q), "depth": fmt.count(q.depth), "net": fmt.signed_rate(q.net_rate),
            "trend": trend_cell(q, self.history), "oldest": fmt.duration(q.oldest_ms),
            "alerts": alert_cell(q),
        }

    def job_columns(self) -> list[Column]:
        return [
            Column("mark", "", 1),
            Column("priority", "priority", 9, justify="right"),
            Column("id", "id", 24),
            Column("age", "age", 7, priority=1, justify="right"),
            Column("payload", "payload", 30, priority=2),
        ]

    def job_row(self, item: ZItem, now: int) -> dict[str, object]:
        return {
            "mark": self.mark_cell(item), "priority": format_score(item.score),
            "id": id_cell(item), "age": age_text(item, now), "payload": preview_cell(item),
        }

    def score_meta(self, item: ZItem) -> list[tuple[str, str]]:
        return [("priority", format_score(item.score))]

    # -- loading ---------------------------------------------------------------------------

    def reset_paging(self) -> None:
        self.page_offset = 0
        self.lo = self.hi = None

    async def fetch(self, ref: QueueRef) -> PriorityView:
        pq = PriorityQueue(self.app.monitor.client, ref.key)
        return await pq.view(self.page_offset, PAGE_SIZE, self.lo, self.hi, bins=12)

    def view_items(self, view: PriorityView) -> Sequence[ZItem]:
        return view.page.items

    def title_text(self, view) -> Text:
        page = view.page
        key = printable(self.selected.key if self.selected else "", 50)
        if not page.total:
            where = "no jobs" if not self.range_text() else "no jobs in this range"
            text = f"{key}: {where}"
        else:
            first = page.offset + 1
            last = page.offset + len(page.items)
            text = (f"{key}: {first:,}–{last:,} of {page.total:,}, highest priority first"
                    f"  ([ ] page)")
        if self.range_text():
            text += f" · priority {self.range_text()} (f to change)"
        return Text(text + self.marks_text())

    def range_text(self) -> str:
        if self.lo is None and self.hi is None:
            return ""
        lo = "-inf" if self.lo is None else format_score(self.lo)
        hi = "+inf" if self.hi is None else format_score(self.hi)
        return f"{lo}..{hi}"

    def draw_plot(self, plt, view) -> None:
        hist = view.histogram
        plt.title("jobs by priority")
        if hist.counts:
            plt.bar(list(hist.labels), list(hist.counts), orientation="horizontal",
                    width=0.6)
        plt.xlabel("jobs")

    def action_page(self, step: int) -> None:
        if self.jobs_view is None:
            return
        page = self.jobs_view.page
        if step > 0 and page.has_next:
            self.page_offset = page.offset + PAGE_SIZE
        elif step < 0 and page.offset > 0:
            self.page_offset = max(page.offset - PAGE_SIZE, 0)
        else:
            return
        self.reload()

    # -- actions -----------------------------------------------------------------------------

    def _pq(self) -> PriorityQueue:
        return PriorityQueue(self.app.monitor.client, self.selected.key)

    def action_change_priority(self) -> None:
        items = self.need_targets("change priority")
        if items:
            self._change_priority(items)

    @work(group="priority-action", exit_on_error=False)
    async def _change_priority(self, items: list[ZItem]) -> None:
        from ferrite_tui.ui.screens.dialogs import Field, FormScreen

        current = format_score(items[0].score) if len(items) == 1 else ""
        values = await self.app.push_screen_wait(FormScreen(
            f"Change the priority of {self.target_words(items)}",
            [Field("priority", "new priority (higher runs first)", current, "e.g. 100",
                   check=_check_score)],
            submit_label="Change",
            body=Text("Applies only while each job still has the priority shown; jobs the "
                      "application changed or took meanwhile are reported and left alone.")))
        if values is None:
            return
        priority = parse_score(values["priority"])
        pq = self._pq()
        await self.run_checked(
            "changed", items, lambda it: pq.set_priority(it, priority),
            lambda its, **kw: pq.set_priority_many(its, priority, **kw),
            f"priority → {format_score(priority)}")

    def action_remove(self) -> None:
        items = self.need_targets("remove job")
        if items:
            self._remove(items)

    @work(group="priority-action", exit_on_error=False)
    async def _remove(self, items: list[ZItem]) -> None:
        from ferrite_tui.ui.screens.dialogs import ConfirmScreen

        body = Text(f"Remove {self.target_words(items)} from "
                    f"{printable(self.selected.key, 80)}? This cannot be undone.")
        if len(items) == 1:
            body.append(f"\n\n{items[0].env.preview(200)}", style="dim")
        if not await self.app.push_screen_wait(ConfirmScreen("Remove", body, "Remove")):
            return
        pq = self._pq()
        await self.run_checked("removed", items, pq.remove,
                               lambda its, **kw: pq.remove_many(its, **kw), "remove")

    def action_new_job(self) -> None:
        if not self.app.writable("enqueue job"):
            return
        if self.selected is None:
            self.notify("'new job': select a priority queue first", timeout=3)
            return
        self._new_job(self.selected)

    @work(group="priority-action", exit_on_error=False)
    async def _new_job(self, ref: QueueRef) -> None:
        from ferrite_tui.ui.screens.dialogs import Field, FormScreen

        values = await self.app.push_screen_wait(FormScreen(
            f"New job in {printable(ref.key, 60)}",
            [Field("payload", "payload (JSON; anything else is sent as a string)", "",
                   '{"task_type":"cleanup","data":{}}', check=_check_json_or_text),
             Field("priority", "priority (higher runs first)", "50", check=_check_score)],
            submit_label="Enqueue",
            body=Text('Added as the seed does: {"id": <uuid>, "payload": …, '
                      '"enqueued_at": <now ms>}')))
        if values is None:
            return
        try:
            member = await PriorityQueue(self.app.monitor.client, ref.key).enqueue(
                parse_payload(values["payload"]), parse_score(values["priority"]))
        except Exception as exc:
            self.fail("enqueue", exc)
            return
        from ferrite_tui.backend.envelopes import decode

        self.notify(f"enqueued job {printable(decode(member).id or '', 60)} at priority "
                    f"{format_score(parse_score(values['priority']))}")
        self.after_change()

    def action_range_filter(self) -> None:
        if self.selected is None:
            return
        self._range_filter()

    @work(group="priority-action", exit_on_error=False)
    async def _range_filter(self) -> None:
        from ferrite_tui.ui.screens.dialogs import Field, FormScreen

        values = await self.app.push_screen_wait(FormScreen(
            "Show only priorities in a range (inclusive; empty = no bound)",
            [Field("lo", "lowest priority", "" if self.lo is None else format_score(self.lo),
                   "no bound", check=_check_optional_score),
             Field("hi", "highest priority", "" if self.hi is None else format_score(self.hi),
                   "no bound", check=_check_optional_score)],
            submit_label="Apply"))
        if values is None:
            return
        lo = parse_score(values["lo"]) if values["lo"].strip() else None
        hi = parse_score(values["hi"]) if values["hi"].strip() else None
        if lo is not None and hi is not None and lo > hi:
            lo, hi = hi, lo
        self.lo, self.hi, self.page_offset = lo, hi, 0
        self.reload()
