"""Panel 3: priority queues (sorted sets of job envelopes, score = priority, higher first).

The queue table is on top; the selected queue's jobs, highest priority first and paged,
below it, beside a histogram of priorities. What it shares with panel 4 (delayed queues) is
in ui/panels/sorted_base.py.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from rich.text import Text
from textual.binding import Binding

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.envelopes import decode, printable
from ferrite_tui.backend.models import QueueRef, QueueStats
from ferrite_tui.backend.priority import (
    PAGE_SIZE,
    PriorityQueue,
    PriorityView,
    ZItem,
    format_score,
    parse_payload,
    parse_score,
)
from ferrite_tui.ui.panels.base import Outcome, alert_cell, key_cell, trend_cell
from ferrite_tui.ui.panels.sorted_base import (
    SortedSetPanel,
    age_text,
    check_json_or_text,
    check_optional_score,
    check_score,
    id_cell,
    preview_cell,
)
from ferrite_tui.ui.screens.dialogs import Field
from ferrite_tui.ui.widgets.table import Column


class PriorityPanel(SortedSetPanel):
    TITLE = "Priority"
    KINDS = SortedSetPanel.kinds_in("priority")
    JOB_NOUN = "job"
    QUEUE_NOUN = "priority queue"

    BINDINGS = [
        Binding("e", "change_priority", "Priority", id="priority.edit"),
        Binding("d", "remove", "Remove", id="priority.remove"),
        Binding("n", "new_job", "New job", id="priority.new"),
        Binding("f", "range_filter", "Range", id="priority.range"),
        Binding("right_square_bracket", "page('next')", "Next page", key_display="]",
                id="priority.next"),
        Binding("left_square_bracket", "page('prev')", "Prev page", key_display="[",
                id="priority.prev"),
        Binding("D", "bulk_hint", "Bulk", show=False, id="priority.bulk"),
        Binding("escape", "back", "Back", show=False, id="priority.back"),
    ]

    # On a library's key (huey's priority queue): the priority as the library stores it
    # (the layout's sign) and its delete; nothing else.
    LIBRARY_ACTION_OF = {"change_priority": "set_priority", "remove": "delete"}

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
            "mark": self.mark_cell(item), "priority": format_score(self.priority_of(item)),
            "id": id_cell(item), "age": age_text(item, now), "payload": preview_cell(item),
        }

    def score_meta(self, item: ZItem) -> list[tuple[str, str]]:
        return [("priority", format_score(self.priority_of(item)))]

    def sign(self, ref: QueueRef | None = None) -> int:
        """+1: score = priority; -1: score = -priority (the layout says so: huey)."""
        ref = ref or self.selected
        return ref.library.priority_sign if ref is not None and ref.library is not None else 1

    def priority_of(self, item: ZItem) -> float:
        return self.sign() * item.score

    # -- loading ---------------------------------------------------------------------------

    def reset_paging(self) -> None:
        self.page_offset = 0
        self.lo = self.hi = None

    async def fetch(self, ref: QueueRef) -> PriorityView:
        pq = self._pq(ref)
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

    def plot_key(self, view) -> Hashable:
        return tuple(view.histogram.labels), tuple(view.histogram.counts)

    def draw_plot(self, plt, view) -> None:
        hist = view.histogram
        plt.title("jobs by priority")
        if hist.counts:
            plt.bar(list(hist.labels), list(hist.counts), orientation="horizontal",
                    width=0.6)
        plt.xlabel("jobs")

    def action_page(self, where: str) -> None:
        self.page_to(where)

    def page_to(self, where: str) -> None:
        if self.jobs_view is None:
            return
        page = self.jobs_view.page
        last = max(page.total - 1, 0) // PAGE_SIZE * PAGE_SIZE
        offsets = {"head": 0, "tail": last,
                   "next": page.offset + PAGE_SIZE if page.has_next else None,
                   "prev": max(page.offset - PAGE_SIZE, 0) if page.offset > 0 else None}
        if where == "jump":
            self.act("jump", lambda: page.total, self._jump)
            return
        offset = offsets.get(where)
        if offset is None or offset == page.offset:
            return
        self.page_offset = offset
        self.reload()

    async def _jump(self, total: int) -> Outcome | None:
        def check(value: str) -> str | None:
            return None if value.strip().isdigit() else "a whole number"

        values = await self.ask("Jump to position", [Field(
            "pos", f"Position, highest priority first (0 … {max(total - 1, 0):,})", "",
            check=check)], submit_label="Go")
        if values:
            self.page_offset = min(int(values["pos"]), max(total - 1, 0))
            self.reload()
        return None

    # -- actions -----------------------------------------------------------------------------

    MUTATIONS = SortedSetPanel.layout_mutations(*KINDS)  # change_priority, remove, new_job
    COMMANDS = {"range_filter": "show only a priority range", "jump": "jump to a position"}

    def _pq(self, ref: QueueRef | None = None) -> PriorityQueue:
        ref = ref or self.queue()
        return PriorityQueue(self.client(), ref.key, self.sign(ref))

    def action_change_priority(self) -> None:
        self.act("change_priority", self.jobs_selected, self._change_priority)

    async def _change_priority(self, items: list[ZItem]) -> Outcome | None:
        current = format_score(self.priority_of(items[0])) if len(items) == 1 else ""
        values = await self.ask(
            f"Change the priority of {self.target_words(items)}",
            [Field("priority", "new priority (higher runs first)", current, "e.g. 100",
                   check=check_score)],
            submit_label="Change",
            body=Text("Applies only while each job still has the priority shown; jobs the "
                      "application changed or took meanwhile are reported and left alone."))
        if values is None:
            return None
        priority = parse_score(values["priority"])
        pq = self._pq()
        return await self.checked(
            "changed", items, lambda it: pq.set_priority(it, priority),
            lambda its, **kw: pq.set_priority_many(its, priority, **kw),
            f"priority → {format_score(priority)}")

    def action_remove(self) -> None:
        self.act("remove", self.jobs_selected, self._remove)

    async def _remove(self, items: list[ZItem]) -> Outcome | None:
        pq = self._pq()
        if not await self.confirm_removal(
                "Remove", f"Remove {self.target_words(items)} from {printable(pq.key, 80)}?",
                items):
            return None
        return await self.checked("removed", items, pq.remove,
                                  lambda its, **kw: pq.remove_many(its, **kw), "remove")

    def action_new_job(self) -> None:
        self.act("new_job", self.queue, self._new_job)

    async def _new_job(self, ref: QueueRef) -> Outcome | None:
        values = await self.ask(
            f"New job in {printable(ref.key, 60)}",
            [Field("payload", "payload (JSON; anything else is sent as a string)", "",
                   '{"task_type":"cleanup","data":{}}', check=check_json_or_text),
             Field("priority", "priority (higher runs first)", "50", check=check_score)],
            submit_label="Enqueue",
            body=Text('Added as the seed does: {"id": <uuid>, "payload": …, '
                      '"enqueued_at": <now ms>}'))
        if values is None:
            return None
        priority = parse_score(values["priority"])
        member = await self._pq(ref).enqueue(parse_payload(values["payload"]), priority,
                                             at_ms=self.session.now_ms())
        return Outcome(f"enqueued job {printable(decode(member).id or '', 60)} at priority "
                       f"{format_score(priority)}")

    def action_range_filter(self) -> None:
        self.act("range_filter", self.queue, self._range_filter)

    async def _range_filter(self, ref: QueueRef) -> Outcome | None:
        values = await self.ask(
            "Show only priorities in a range (inclusive; empty = no bound)",
            [Field("lo", "lowest priority", "" if self.lo is None else format_score(self.lo),
                   "no bound", check=check_optional_score),
             Field("hi", "highest priority", "" if self.hi is None else format_score(self.hi),
                   "no bound", check=check_optional_score)],
            submit_label="Apply")
        if values is None:
            return None
        lo = parse_score(values["lo"]) if values["lo"].strip() else None
        hi = parse_score(values["hi"]) if values["hi"].strip() else None
        if lo is not None and hi is not None and lo > hi:
            lo, hi = hi, lo
        self.lo, self.hi, self.page_offset = lo, hi, 0
        self.reload()
        return None
