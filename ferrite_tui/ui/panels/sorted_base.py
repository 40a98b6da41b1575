"""The base of panels 3 and 4 (priority and delayed queues): a queue table on top, the
selected queue's jobs (a sorted set) paged below beside a plot; marks, the reload worker,
inspect, and single-or-bulk checked actions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from functools import partial
from typing import Any, ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState
from textual_plotext import PlotextPlot

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.bulk import BulkReport
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.libraries import plans
from ferrite_tui.backend.libraries.browse import StateItem
from ferrite_tui.backend.libraries.declared import LIBRARY as DECLARED
from ferrite_tui.backend.libraries.model import LibraryQueue, StateKey
from ferrite_tui.backend.models import QueueRef, QueueStats, Snapshot
from ferrite_tui.backend.priority import CheckResult, ZItem, format_score, parse_score, plausible_ms
from ferrite_tui.ui.panels.base import NothingSelected, Outcome, Panel
from ferrite_tui.ui.panels.outcome import library_outcome
from ferrite_tui.ui.screens.progress import with_progress
from ferrite_tui.ui.widgets.items import PagedTable
from ferrite_tui.ui.widgets.table import Column

#: Below this width the plot is hidden and the jobs table takes the whole row.
PLOT_MIN_WIDTH = 100


def check_score(text: str) -> str | None:
    try:
        parse_score(text)
    except ValueError as exc:
        return str(exc) or "not a number"
    return None


def check_optional_score(text: str) -> str | None:
    return None if not text.strip() else check_score(text)


def check_json_or_text(text: str) -> str | None:
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
    QUEUE_NOUN = "queue"
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
        self.loads = 0  # finished loads (tests wait on this)
        self._load_worker: Worker | None = None
        # What the title and the plot show now: each load (every poll, and a panel's key)
        # drew both again, and a title's update lays out the whole screen (60-170 ms of CPU
        # at 200x60 on a busy machine, between a panel's key and the dialog typed next).
        self._shown_title: Text | None = None
        self._plotted: Hashable = None

    # -- layout ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield from super().compose()
        yield Static(Text("Select a queue above to see its jobs."), id="jobs-title")
        with Horizontal(id="jobs-area"):
            yield PagedTable[ZItem](self.job_columns(), id="jobs")
            yield PlotextPlot(id="plot")

    @property
    def jobs(self) -> PagedTable[ZItem]:
        return cast("PagedTable[ZItem]", self.query_one("#jobs", PagedTable))

    @property
    def marks(self) -> dict[str, ZItem]:
        return self.jobs.marks

    def on_mount(self) -> None:
        self.jobs.on_page = self.page_to
        self.jobs.on_marks = self._redraw_marks

    def _redraw_marks(self) -> None:
        if self.jobs_view is not None:
            self.show(self.jobs_view)

    def page_to(self, where: str) -> None:
        """The paging keymap on the jobs (head, tail, next, prev, jump)."""
        raise NotImplementedError

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
                self._set_title(Text("No queue selected."))

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
        self.refresh_bindings()  # its layout's actions, in the footer
        self.marks.clear()
        self.reset_paging()
        self.jobs_view = None
        self.jobs.set_rows([])
        self._set_title(
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
            self.ferrite.action_step_back()

    # -- loading -----------------------------------------------------------------------

    def reset_paging(self) -> None:
        raise NotImplementedError

    async def fetch(self, ref: QueueRef) -> Any:
        raise NotImplementedError

    def reload(self, force: bool = True) -> None:
        """Load the page again. A poll tick (force=False) does not interrupt a load still
        in flight, so a slow server still gets its pages shown; a new queue, page or
        action (force) replaces it."""
        if self.selected is None or self.session.client is None:
            return
        worker = self._load_worker
        if worker is not None and worker.state in (WorkerState.PENDING, WorkerState.RUNNING):
            if not force:
                return
            worker.cancel()
        self._load_worker = self._load(self.selected)

    @work(exit_on_error=False, group="sortedset-load", name="load jobs")
    async def _load(self, ref: QueueRef) -> None:
        view = await self.fetch(ref)  # a failure is shown in the title (worker_failed)
        if self.selected is None or self.selected.ident != ref.ident:
            return
        self.jobs_view = view
        self.show(view)
        self.loads += 1

    def worker_failed(self, worker: Worker[Any], error: BaseException) -> str | None:
        if worker.group == "sortedset-load" and self.selected is not None:
            self._set_title(
                Text(f"{printable(self.selected.key, 60)}: {self.session.describe(error)}",
                     style="red"))
            return None
        return super().worker_failed(worker, error)

    def show(self, view: Any) -> None:
        now = getattr(view, "now", None) or self.session.now_ms()
        items = self.view_items(view)
        table = self.jobs
        old_key, old_row = table.cursor_key, table.cursor_row
        table.show([(it.row_key, it, self.job_row(it, now)) for it in items])
        if old_key is not None and old_key not in table.by_key and table.row_count:
            # the job under the cursor left (run, removed): stay at the same place
            table.move_cursor(row=min(old_row, table.row_count - 1), animate=False)
        self._set_title(self.title_text(view))
        plotted = self.plot_key(view)
        if plotted is None or plotted != self._plotted:
            self._plotted = plotted
            plot = self.query_one("#plot", PlotextPlot)
            plt = plot.plt
            plt.clear_data()
            plt.clear_figure()
            self.draw_plot(plt, view)
            plot.refresh()

    def _set_title(self, title: Text) -> None:
        if title != self._shown_title:
            self._shown_title = title
            self.query_one("#jobs-title", Static).update(title, layout=False)  # one line high

    def view_items(self, view: Any) -> Sequence[ZItem]:
        raise NotImplementedError

    def title_text(self, view: Any) -> Text:
        raise NotImplementedError

    def draw_plot(self, plt, view: Any) -> None:
        raise NotImplementedError

    def plot_key(self, view: Any) -> Hashable:
        """Everything `draw_plot` draws from `view` (the plot is drawn again when it
        changes); None: drawn every time."""
        return None

    def marks_text(self) -> str:
        return f" · {len(self.marks)} marked (actions apply to them)" if self.marks else ""

    # -- selection, marks, inspect -----------------------------------------------------------

    def targets(self) -> list[ZItem]:
        """The marked jobs if any, else the one under the cursor."""
        return self.jobs.selected()

    def mark_cell(self, item: ZItem) -> Text:
        return Text("●", style="bold magenta") if item.row_key in self.marks else Text(" ")

    def inspect(self, row_key: str) -> None:
        item = self.jobs.by_key.get(row_key)
        if item is None or self.selected is None:
            return
        self.inspect_value(f"{self.JOB_NOUN} in {printable(self.selected.key, 60)}",
                           item.member, self.inspect_meta(item))

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

    def queue(self) -> QueueRef:
        """Selection for actions on the queue itself (new job, run all overdue)."""
        if self.selected is None:
            raise NothingSelected(f"select a {self.QUEUE_NOUN} first")
        return self.selected

    def jobs_selected(self) -> list[ZItem]:
        """Selection for actions on jobs: the marked ones, else the one under the cursor."""
        if self.selected is None:
            raise NothingSelected("select a queue first")
        if not self.marks and not self.jobs.has_focus:
            raise NothingSelected(f"pick a {self.JOB_NOUN} first (enter on the queue, then "
                                  f"move to the {self.JOB_NOUN})")
        items = self.targets()
        if not items:
            raise NothingSelected(f"no {self.JOB_NOUN} selected")
        return items

    def target_words(self, items: Sequence[ZItem]) -> str:
        if len(items) == 1:
            return f"{self.JOB_NOUN} {items[0].label}"
        return f"{len(items)} marked {self.JOB_NOUN}s"

    async def confirm_removal(self, title: str, question: str,
                              items: Sequence[ZItem]) -> bool:
        """Confirm taking these jobs out for good; one job's payload is shown under the
        question."""
        body = Text(f"{question} This cannot be undone.")
        if len(items) == 1 and items[0].env is not None:
            body.append(f"\n\n{items[0].env.preview(200)}", style="dim")
        return await self.confirm(title, body, title)

    async def checked(self, verb: str, items: Sequence[ZItem],
                      single: Callable[[ZItem], Awaitable[CheckResult]],
                      many: Callable[..., Awaitable[BulkReport]], title: str) -> Outcome:
        """One job: the single form, reported in one line. Several: chunked with progress."""
        if len(items) == 1:
            result = await single(items[0])
            for it in result.done + result.gone:
                self.marks.pop(it.row_key, None)
            return Outcome(f"{title}: {result.message(verb)}",
                           "information" if result.done else "warning")
        report = await with_progress(self.app, title, len(items),
                                     lambda progress, cancel: many(items, progress=progress,
                                                                   cancel=cancel))
        if not report.cancelled:
            self.marks.clear()
        return Outcome(f"{title}: {report.summary(verb)}",
                       "information" if not report.skipped else "warning")

    def after_action(self) -> None:
        self.reload()
        super().after_action()

    # -- a library's key shown here: only the actions its layout declares ------------------

    # (LIBRARY_ACTION_OF, in each panel: panel action -> the layout action it is on a
    # library's key; every other mutation is not offered there)
    #: panel actions that run the library's own operation (libraries/plans.py) rather than
    #: this panel's generic one
    LIBRARY_RUNS: ClassVar[frozenset[str]] = frozenset()

    def action_queue(self) -> QueueRef | None:
        return self.selected

    def layout_library(self, ref: QueueRef) -> LibraryQueue | None:
        """A `[[queues]]` declaration is the user's own queue, moved as the guide's kind."""
        lib = ref.library
        return None if lib is None or lib.library == DECLARED else lib

    def library(self) -> LibraryQueue | None:
        """The selected key's library layout (None: the guide's kind's)."""
        return self.layout_library(self.selected) if self.selected is not None else None

    def act(self, action: str, select: Callable[[], Any],
            steps: Callable[[Any], Awaitable[Outcome | None]]) -> None:
        lib = self.library()  # (an action its layout does not declare: refused by act)
        why = plans.runtime_refusal(self.client(), lib, self.LIBRARY_ACTION_OF.get(action, "")) \
            if lib is not None and action in self.MUTATIONS and not self.undeclared(action) \
            else None
        if why:
            self.notify(f"'{self.action_label(action)}': {why}", timeout=5)
            return
        if self.library() is not None and action in self.LIBRARY_RUNS:
            steps = partial(self._library_steps, self.LIBRARY_ACTION_OF[action])
        super().act(action, select, steps)

    def library_state(self, lib: LibraryQueue, action: str, item: ZItem) -> StateKey | None:
        """The state of the selected key an item is in, among those declaring `action`."""
        key = self.selected.key if self.selected is not None else ""
        states = [s for s in lib.states if s.key == key and lib.declared(action, s.name)]
        if len(states) > 1 and states[0].window is not None:  # a due / future split (arq)
            due = item.score <= self.session.now_ms()
            states = [s for s in states if (s.window == "due") == due] or states
        return states[0] if states else None

    async def _library_steps(self, action: str, items: list[ZItem]) -> Outcome | None:
        """The library's own operation on these jobs, after a confirmation that names it."""
        lib = self.library()
        assert lib is not None
        by_state: dict[StateKey, list[StateItem]] = {}
        for it in items:
            state = self.library_state(lib, action, it)
            if state is not None:
                by_state.setdefault(state, []).append(StateItem(it.member, score=it.score))
        if not by_state:
            return Outcome(f"{lib.library}: nothing here to {action}", "warning")
        verb = plans.ITEM_ACTIONS[action]
        act = lib.declared(action, next(iter(by_state)).name)
        body = Text(f"{verb} {self.target_words(items)} of {lib.library} queue "
                    f"{printable(lib.name, 60)}, as {lib.library} does: "
                    f"{act.equivalent if act else action}. Any that changed since shown are "
                    "skipped.")
        if not await self.confirm(f"{lib.library}: {verb}", body, verb):
            return None
        res = plans.ActionResult()
        for state, its in by_state.items():
            part = await plans.run_items(self.client(), action, lib, state, its)
            res.done += part.done
            res.skipped += part.skipped
            res.errors += part.errors
        self.marks.clear()
        return library_outcome(lib, verb, res)
