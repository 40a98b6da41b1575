"""Panel 4: delayed queues (scheduled sorted set, score = due ms, + ready list).

The queue table is on top (scheduled, overdue, oldest overdue, ready, overdue trend); the
selected queue's jobs in due order below ("in 4m10s", "overdue 2m05s"), beside a timeline
of due times over the coming hour. A scheduler that stopped shows as a growing overdue count
with an alert.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.delayed import (
    HOUR_MS,
    NO_READY_LIST,
    Cursor,
    DelayedQueue,
    DelayedView,
    clock_text,
    due_text,
    parse_due,
    parse_duration,
)
from ferrite_tui.backend.envelopes import decode, printable
from ferrite_tui.backend.history import History
from ferrite_tui.backend.libraries.model import State
from ferrite_tui.backend.models import QueueRef, QueueStats, Snapshot
from ferrite_tui.backend.priority import (
    PAGE_SIZE,
    ZItem,
    format_score,
    parse_payload,
    plausible_ms,
)
from ferrite_tui.ui.library_states import LibraryStateRows
from ferrite_tui.ui.panels.base import Outcome, alert_cell, key_cell, trend_cell
from ferrite_tui.ui.panels.sorted_base import (
    SortedSetPanel,
    check_json_or_text,
    id_cell,
    preview_cell,
)
from ferrite_tui.ui.screens.dialogs import Field
from ferrite_tui.ui.screens.progress import with_progress
from ferrite_tui.ui.widgets.table import Column

TIMELINE_BUCKETS = 30  # two minutes each over the coming hour


def _check_duration(text: str) -> str | None:
    try:
        if parse_duration(text) <= 0:
            return "must be more than zero"
    except ValueError as exc:
        return str(exc)
    return None


def _check_due(text: str) -> str | None:
    try:
        parse_due(text, 0)  # only whether it parses
    except ValueError as exc:
        return str(exc)
    return None


# What resumes a run a failed node stopped (the runs act on what is still there).
RESUME_RUN_NOW = "x on the marked jobs runs the rest (those moved already are skipped)"
RESUME_OVERDUE = "X on this panel runs the rest of the overdue jobs"


class ScheduledPanel(SortedSetPanel):
    TITLE = "Scheduled"
    KINDS = SortedSetPanel.kinds_in("scheduled")
    JOB_NOUN = "job"
    QUEUE_NOUN = "delayed queue"

    BINDINGS = [
        Binding("x", "run_now", "Run now", id="scheduled.run"),
        Binding("X", "run_overdue", "Run overdue", id="scheduled.run_all"),
        Binding("plus", "postpone", "Postpone", key_display="+", id="scheduled.postpone"),
        Binding("e", "set_due", "Due time", id="scheduled.edit"),
        Binding("d", "cancel_job", "Cancel job", id="scheduled.cancel"),
        Binding("n", "new_job", "New job", id="scheduled.new"),
        Binding("right_square_bracket", "page('next')", "Next page", key_display="]",
                id="scheduled.next"),
        Binding("left_square_bracket", "page('prev')", "Prev page", key_display="[",
                id="scheduled.prev"),
        Binding("D", "bulk_hint", "Bulk", show=False, id="scheduled.bulk"),
        Binding("escape", "back", "Back", show=False, id="scheduled.back"),
    ]

    # On a library's key (arq's queue): its own "run now" (due now in its zset) and delete.
    LIBRARY_ACTION_OF = {"run_now": "run_now", "cancel_job": "delete"}
    LIBRARY_RUNS = frozenset(LIBRARY_ACTION_OF)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.cursors: list[Cursor | None] = [None]
        self.to_last = self.at_last = False  # End pressed; the last page shown
        self.last_card = 0
        # The libraries' scheduled states (RQ, BullMQ delayed, saq, ...) not listed above.
        self.library_rows = LibraryStateRows(self, State.SCHEDULED, self.KINDS)

    def compose(self) -> ComposeResult:
        yield from super().compose()
        yield self.library_rows

    def update_snapshot(self, snap: Snapshot, history: History | None) -> None:
        self.library_rows.update_snapshot(snap)  # first: the note says whether it has rows
        super().update_snapshot(snap, history)

    def empty_note(self) -> Text:
        return self.library_rows.note_when_alone("delayed queues") or super().empty_note()

    # -- queue table -----------------------------------------------------------------------

    def columns(self) -> list[Column]:
        return [
            Column("key", "scheduled set", 30),
            Column("depth", "scheduled", 9, justify="right"),
            Column("overdue", "overdue", 8, justify="right"),
            Column("oldest", "oldest overdue", 14, priority=1, justify="right"),
            Column("ready", "ready", 7, priority=1, justify="right"),
            Column("trend", "overdue trend", 13, priority=2),
            Column("alerts", "alerts", 24),
        ]

    def row(self, q: QueueStats) -> dict[str, object]:
        alerts = alert_cell(q)  # "overdue growing" is one of the poll's alerts
        return {
            "key": key_cell(q), "depth": fmt.count(q.depth), "overdue": fmt.count(q.overdue),
            "oldest": fmt.duration(q.oldest_ms),
            # No ready list known (found by its scores): its size is unknown, not 0.
            "ready": fmt.count(q.ready) if q.ref.ready_key or q.ref.library else "?",
            "trend": trend_cell(q, self.history, "overdue"), "alerts": alerts,
        }

    # -- jobs table ---------------------------------------------------------------------------

    def job_columns(self) -> list[Column]:
        return [
            Column("mark", "", 1),
            Column("due", "due", 15, justify="right"),
            Column("at", "due at", 19, priority=2),
            Column("id", "id", 24),
            Column("payload", "payload", 30, priority=1),
        ]

    def job_row(self, item: ZItem, now: int) -> dict[str, object]:
        # Due times in epoch seconds (`now` is then in seconds too, see fetch): shown as ms.
        per_s = 1000 if self.selected is not None and self.selected.score_unit == "s" else 1
        score, now = item.score * per_s, now * per_s
        due = due_text(score, now)
        style = "bold red" if plausible_ms(score) and score <= now else ""
        return {
            "mark": self.mark_cell(item), "due": Text(due, style=style),
            "at": clock_text(score), "id": id_cell(item), "payload": preview_cell(item),
        }

    def score_meta(self, item: ZItem) -> list[tuple[str, str]]:
        now = self.session.now_ms()
        return [("due", f"{clock_text(item.score)} ({due_text(item.score, now)})"),
                ("score", format_score(item.score))]

    # -- loading ---------------------------------------------------------------------------------

    def reset_paging(self) -> None:
        self.cursors = [None]
        self.to_last = self.at_last = False

    def _dq(self, ref: QueueRef | None = None) -> DelayedQueue:
        ref = ref or self.queue()
        return DelayedQueue(self.client(), ref.key, ref.ready_key)

    async def fetch(self, ref: QueueRef) -> DelayedView:
        ending = self.to_last
        if ending:  # End: the cursor of the last page first
            last = await self._dq(ref).last_page(PAGE_SIZE)
            self.cursors = [None] if last is None else [None, last]
            self.to_last, self.at_last = False, last is not None
        # The session's clock, as every other age on screen (one clock for the UI). Due
        # times in epoch seconds are counted in seconds (their figures shown as stored).
        per_s = 1000 if ref.score_unit == "s" else 1
        view = await self._dq(ref).view(self.cursors[-1], PAGE_SIZE,
                                        now=self.session.now_ms() // per_s,
                                        buckets=TIMELINE_BUCKETS, horizon_ms=HOUR_MS // per_s)
        if ending:
            self.last_card = view.card  # the page ends the set while it keeps this size
        return view

    def act(self, action, select, steps) -> None:
        """A delayed queue found by its scores alone is promoted by the team's own code
        (no ready list known, or due times in seconds the console's moves do not write):
        its jobs are read here, never moved."""
        ref = self.selected
        if action in self.MUTATIONS and ref is not None and ref.library is None \
                and (ref.ready_key is None or ref.score_unit == "s"):
            why = NO_READY_LIST if ref.ready_key is None else (
                "its due times are epoch seconds, and its own scheduler moves its jobs: "
                "the console reads them and moves none")
            self.notify(f"{printable(ref.key, 60)}: {why}", severity="warning", timeout=8)
            return
        super().act(action, select, steps)

    def view_items(self, view: DelayedView) -> Sequence[ZItem]:
        return view.items

    def title_text(self, view: DelayedView) -> Text:
        key = printable(self.selected.key if self.selected else "", 50)
        first = (len(self.cursors) - 1) * PAGE_SIZE + 1
        if self.at_last and view.card == self.last_card:
            first = max(view.card - len(view.items) + 1, 1)
        elif self.at_last:  # jobs came or went since End: the ranks are not known
            text = Text(f"{key}: {len(view.items)} jobs from the end as it was, of "
                        f"{view.card:,} in due order (home, end, [ ] page)")
            text.append(self.marks_text())
            return text
        if not view.items:
            text = Text(f"{key}: no scheduled jobs" if len(self.cursors) == 1
                        else f"{key}: no more jobs")
        else:
            last = first + len(view.items) - 1
            text = Text(f"{key}: {first:,}–{last:,} of {view.card:,} in due order ([ ] page)")
        if self.selected is not None and self.selected.ready_key is None:
            text.append(" · ready list unknown")
        else:
            text.append(f" · ready {'n/a' if view.ready is None else f'{view.ready:,}'}")
        if view.overdue:
            oldest = view.oldest_overdue_ms
            limit = self.session.config.alerts.overdue_seconds * 1000
            style = "bold red" if oldest is not None and oldest >= limit else "yellow"
            text.append(f" · {view.overdue:,} overdue", style=style)
            if oldest is not None:
                text.append(f", oldest {fmt.duration(oldest)}", style=style)
        text.append(self.marks_text())
        return text

    def plot_key(self, view: DelayedView) -> Hashable:
        tl = view.timeline
        if tl is None:
            return ()
        return tl.overdue, tuple(tl.counts), tl.width_ms, self._per_s()

    def _per_s(self) -> int:
        return 1000 if self.selected is not None and self.selected.score_unit == "s" else 1

    def draw_plot(self, plt, view: DelayedView) -> None:
        tl = view.timeline
        if tl is None:
            return
        per_s = self._per_s()
        minutes = tl.width_ms * per_s / 60_000
        plt.title(f"next hour · {tl.overdue:,} overdue")
        span = round(len(tl.counts) * minutes)
        plt.bar([round((i + 1) * minutes, 1) for i in range(len(tl.counts))], list(tl.counts),
                width=0.8)
        # Ticks of our own: the plotting library's choice varies from run to run.
        plt.xticks([round(span * q / 4) for q in range(5)])
        plt.xlabel("minutes from now")

    def action_page(self, where: str) -> None:
        self.page_to(where)

    def page_to(self, where: str) -> None:
        """Due-order pages follow a cursor (score, member): head, tail (the last page; `[`
        from there goes back to the head) and next/prev."""
        if self.jobs_view is None:
            return
        if where == "head" and len(self.cursors) > 1:
            self.cursors = [None]
        elif where == "next" and self.jobs_view.next_cursor is not None:
            self.cursors.append(self.jobs_view.next_cursor)
        elif where == "prev" and len(self.cursors) > 1:
            self.cursors.pop()
        elif where == "tail" and self.jobs_view.next_cursor is not None:
            self.to_last = True
        elif where == "jump":
            self.notify("Scheduled jobs page in due order: home, end, ] and [", timeout=3)
            return
        else:
            return
        self.at_last = False
        self.reload()

    # -- actions ------------------------------------------------------------------------------

    # run_now, run_overdue, postpone, set_due, cancel_job, new_job
    MUTATIONS = SortedSetPanel.layout_mutations(*KINDS)

    def action_run_now(self) -> None:
        self.act("run_now", self.jobs_selected, self._run_now)

    async def _run_now(self, items: list[ZItem]) -> Outcome | None:
        dq = self._dq()
        if len(items) > 1 and not await self.confirm(
                "Run now", f"Move {len(items)} marked jobs from {printable(dq.key, 60)} to "
                f"{printable(dq.ready_key or '', 60)} now, unchanged?", "Run"):
            return None
        return await self.checked("moved to the ready list", items, dq.run_now,
                                  lambda its, **kw: dq.run_now_many(
                                      its, resume=RESUME_RUN_NOW, **kw), "run now")

    def action_run_overdue(self) -> None:
        self.act("run_overdue", self.queue, self._run_overdue)

    async def _run_overdue(self, ref: QueueRef) -> Outcome | None:
        dq = self._dq(ref)
        cutoff = self.session.now_ms()
        count = await dq.overdue_count(cutoff)
        if not count:
            self.notify("Nothing is overdue", timeout=3)
            return None
        body = (f"Move {count:,} overdue job{'s' if count != 1 else ''} (due at or before "
                f"{clock_text(cutoff)}) from {printable(dq.key, 60)} to "
                f"{printable(dq.ready_key or '', 60)}, in due order, unchanged?\n"
                "Works in chunks; you can cancel between them.")
        if not await self.confirm(f"Run all {count:,} overdue jobs", body, f"Run {count:,}"):
            return None
        report = await with_progress(
            self.app, f"Running {count:,} overdue jobs", count,
            lambda progress, cancel: dq.run_overdue(cutoff, count, progress=progress,
                                                    cancel=cancel, resume=RESUME_OVERDUE))
        self.marks.clear()
        note = " (skipped: taken by the application's scheduler first)" if report.skipped else ""
        return Outcome(f"run all overdue: {report.summary('moved')}{note}")

    def action_postpone(self) -> None:
        self.act("postpone", self.jobs_selected, self._postpone)

    async def _postpone(self, items: list[ZItem]) -> Outcome | None:
        values = await self.ask(
            f"Postpone {self.target_words(items)}",
            [Field("by", "by (e.g. 5m, 1h30m, 90s)", "5m", check=_check_duration)],
            submit_label="Postpone",
            body=Text("From the due time; an overdue job from now. Only jobs still due when "
                      "shown are changed."))
        if values is None:
            return None
        delta = parse_duration(values["by"])
        dq = self._dq()
        now = self.session.now_ms()
        return await self.checked(
            "postponed", items, lambda it: dq.postpone(it, delta, now=now),
            lambda its, **kw: dq.postpone_many(its, delta, now=now, **kw),
            f"postpone by {fmt.duration(delta)}")

    def action_set_due(self) -> None:
        self.act("set_due", self.jobs_selected, self._set_due)

    async def _set_due(self, items: list[ZItem]) -> Outcome | None:
        current = clock_text(items[0].score) if len(items) == 1 and plausible_ms(
            items[0].score) else "+10m"
        values = await self.ask(
            f"Set the due time of {self.target_words(items)}",
            [Field("due", "due (now, +10m, 14:30, 2026-01-31 14:30, epoch ms)", current,
                   check=_check_due)],
            submit_label="Set")
        if values is None:
            return None
        due = parse_due(values["due"], self.session.now_ms())
        dq = self._dq()
        return await self.checked(
            "rescheduled", items, lambda it: dq.set_due(it, due),
            lambda its, **kw: dq.set_due_many(its, due, **kw), f"due {clock_text(due)}")

    def action_cancel_job(self) -> None:
        self.act("cancel_job", self.jobs_selected, self._cancel)

    async def _cancel(self, items: list[ZItem]) -> Outcome | None:
        dq = self._dq()
        if not await self.confirm_removal(
                "Cancel job", f"Cancel {self.target_words(items)}: remove from "
                f"{printable(dq.key, 80)}? It will not run.", items):
            return None
        return await self.checked("cancelled", items, dq.cancel,
                                  lambda its, **kw: dq.cancel_many(its, **kw), "cancel")

    def action_new_job(self) -> None:
        self.act("new_job", self.queue, self._new_job)

    async def _new_job(self, ref: QueueRef) -> Outcome | None:
        values = await self.ask(
            f"Schedule a job in {printable(ref.key, 60)}",
            [Field("payload", "payload (JSON; anything else is sent as a string)", "",
                   '{"report":"daily"}', check=check_json_or_text),
             Field("due", "when (+10m, 14:30, 2026-01-31 14:30, now)", "+10m",
                   check=_check_due)],
            submit_label="Schedule",
            body=Text('Added as the seed does: {"id": <uuid>, "payload": …, '
                      '"scheduled_at": <due ms>}, score = due ms'))
        if values is None:
            return None
        now = self.session.now_ms()
        due = parse_due(values["due"], now)
        member = await self._dq(ref).schedule(parse_payload(values["payload"]), due)
        return Outcome(f"scheduled job {printable(decode(member).id or '', 60)} "
                       f"{due_text(due, now)} ({clock_text(due)})")
