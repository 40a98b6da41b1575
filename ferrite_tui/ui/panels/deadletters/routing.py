"""Dead letters: where a requeue sends each letter (the queue it names, else the list's
target), what the confirmation says about it, and the run that follows (see dlq_routes)."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from ferrite_tui.backend.bulk import BulkRunner, ChunkResult
from ferrite_tui.backend.dlq_routes import (
    RoutedHeadRun,
    RoutePlan,
    named_queue,
    plan_head_routes,
    plan_routes,
)
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.journal import BulkRecord
from ferrite_tui.backend.models import QueueRef
from ferrite_tui.backend.movebase import Item
from ferrite_tui.backend.requeue_plan import RequeuePlan
from ferrite_tui.ui.panels.base import Outcome

#: The Dead letters panel (not imported: it imports this module).
DeadLettersPanel = Any


def unwrapped_note(plan: RequeuePlan, dest: str) -> Text:
    """What a wrapper dead letter becomes (its inner job, as stored) and what a value that
    is not a dead-letter envelope becomes (itself, whole): the first of each exactly as it
    will be written (escaped), and where (key and end)."""
    note = Text()
    if plan.first_unwrapped is not None:
        under = " / ".join(f'"{f}"' for f in plan.job_fields)
        part = Text(f"\n\nWrapped letters: the job under {under} is pushed back exactly as it "
                    f"was stored, with RPUSH to the tail of {printable(dest)}; the reason, "
                    "time and attempts around it are dropped. The first one, as it will be "
                    "written:\n", style="bold")
        part.append(printable(plan.first_unwrapped, 600), style="")
        note.append_text(part)
    if plan.first_unchanged is not None:
        part = Text("\n\nNot a dead-letter envelope the console can unwrap: pushed whole, "
                    f"byte for byte, with RPUSH to the tail of {printable(dest)}. The first "
                    "one, as it will be written:\n", style="bold yellow")
        part.append(printable(plan.first_unchanged, 600), style="")
        note.append_text(part)
    return note


async def no_head(n: int, tail: bytes | None) -> ChunkResult:
    raise AssertionError("a routed requeue works on the letters it read, never the head")


async def routes_for(panel: DeadLettersPanel, ref: QueueRef,
                     items: list[Item]) -> RoutePlan | None:
    """Where each letter goes (the queue it names, else the list's target, asked for
    when some letter names none and the list has none)."""
    dest = panel.entries.target_of(ref)
    if dest is None and any(named_queue(it.raw) is None for it in items):
        dest = await panel._target(ref)
        if not dest:
            return None
    known = [q.ref for q in panel.snapshot.queues] if panel.snapshot is not None else []
    return await plan_routes(panel.client(), items, dest, known, ref.key)


def route_body(what: str, ref: QueueRef, routes: RoutePlan) -> Text:
    body = Text(f"Requeue {what} from {printable(ref.key)} to the tail of their queues: "
                f"{routes.describe()}. {routes.plan.describe()}?")
    body.append(unwrapped_note(routes.plan, ", ".join(routes.routes) or "(none)"))
    return body


async def run_routed(panel: DeadLettersPanel, ref: QueueRef, routes: RoutePlan,
                     record: BulkRecord | None = None) -> Outcome:
    moving = [it for items in routes.routes.values() for it in items]
    dl = panel._letters()
    where = (printable(next(iter(routes.routes)), 60) if len(routes.routes) == 1
             else f"{len(routes.routes)} queues")
    report = await panel._bulk(lambda n: f"Requeueing {n:,} to {where}", moving,
                               lambda c: dl.requeue_routed(ref.key, routes.target_of, c),
                               (len(moving), None), no_head, record)
    outcome = panel._outcome(report, "requeued")
    if routes.refused_count:
        outcome = Outcome(outcome.line + f"; {routes.refused_count:,} refused and left "
                          "in place (their queue is missing or not a list)",
                          severity="warning", timeout=10)
    return outcome



async def requeue_whole_list(panel: DeadLettersPanel, ref: QueueRef,
                             counted: tuple[int, bytes | None]) -> Outcome | None:
    """The unfiltered "requeue all", at any length: the letters are read in pages for the
    confirmation (counts per target, estimates past the plan's read bound) and again by the
    run, each page's letters to the queues they name, the refused left in place. A list
    whose letters (all read) name no queue goes to its target from the head."""
    count = counted[0]
    known = [q.ref for q in panel.snapshot.queues] if panel.snapshot is not None else []
    head = await plan_head_routes(panel.client(), ref.key, count, known)
    if not head.named and head.complete:
        return await panel._requeue_head(ref, counted, head.plan)
    dest = panel.entries.target_of(ref)
    if dest is None and head.unnamed:
        dest = await panel._target(ref)
        if not dest:
            return None
    if head.complete and not head.moving(dest):
        return Outcome(f"Nothing requeued: {head.describe(dest)}", severity="warning",
                       timeout=8)
    targets = head.counts(dest)[0]
    body = Text(f"Requeue all {count:,} entries of {printable(ref.key)} to the tail of their "
                f"queues: {head.describe(dest)}. {head.plan.describe()}? Entries that arrive "
                "after this count are left.")
    body.append(unwrapped_note(head.plan, ", ".join(targets) or "(none)"))
    label = f"Requeue {head.moving(dest):,}" if head.complete else "Requeue all"
    if not await panel.confirm("Requeue all", body, label):
        return None
    run = RoutedHeadRun(panel._letters(), ref.key, count, dest, head.resolved, known)
    record = BulkRecord("requeue dead letters", ref.key, ", ".join(targets), count)
    runner: BulkRunner[Item] = BulkRunner(
        run, run.chunk, journal=panel.session.journal(), record=record,
        resume="F on this panel resumes it (what is in flight first, then the rest)")
    report = await panel.run_bulk(f"Requeueing {count:,} to their queues", runner)
    outcome = panel._outcome(report, "requeued")
    return Outcome(f"{outcome.line}; {run.describe()}",
                   severity="warning" if run.refused else outcome.severity, timeout=10)
