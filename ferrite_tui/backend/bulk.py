"""Bulk work in chunks: a plan, progress, cancellation, a journal, and one report.

Each chunk is one short, atomic server operation chosen by the caller, so no single command
runs long and a console killed between chunks leaves every item in one known place. A run
with a journal record keeps it up to date after every chunk, so a console killed mid-way is
reported next time (see journal.py).

Plans say what the next chunk is:
- `ItemsPlan`: a fixed list of items in slices (the default for a plain sequence);
- `moves.PositionalPlan`: items of one list, positions shifted as earlier chunks remove items;
- `HeadPlan`: "the first N of a list", counted at confirmation, taken from the head until
  the counted last item is done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from ferrite_tui.backend.journal import BulkRecord, Journal

T = TypeVar("T")

MAX_ERRORS = 5  # a report keeps the first few error lines, not one per failed chunk


@dataclass
class ChunkResult:
    done: int = 0
    skipped: int = 0  # already gone or changed since the operator saw it
    failed: int = 0  # attempted and left where they were (refused, kept changing)
    unchanged: int = 0  # done, but moved as they were (not an envelope the move rewrites)
    reached_stop: bool = False  # head runs: the last item counted at confirmation is done
    gone: int = 0  # not there because the whole list went away (see list_gone)
    list_gone: bool = False  # the list no longer exists: emptied, renamed, deleted, flushed
    left_at_head: int = 0  # head runs: of `failed`, the values left in place at the head
    errors: list[str] = field(default_factory=list)


@dataclass
class BulkReport:
    """What a run did with each of the `total` items confirmed: done + skipped + failed +
    gone + not attempted = total, always, and the summary names every part."""

    total: int
    done: int = 0
    skipped: int = 0
    failed: int = 0
    gone: int = 0  # the list went away mid-run: these were no longer anywhere to act on
    unchanged: int = 0  # part of `done`: moved as they were
    cancelled: bool = False
    stopped: str | None = None  # why the run ended before its plan did (an error)
    errors: list[str] = field(default_factory=list)

    @property
    def processed(self) -> int:
        return self.done + self.skipped + self.failed + self.gone

    @property
    def not_attempted(self) -> int:
        return max(self.total - self.processed, 0)

    @property
    def clean(self) -> bool:
        """Everything asked for was done: nothing skipped, failed, gone or left."""
        return not (self.skipped or self.failed or self.gone or self.cancelled
                    or self.not_attempted)

    def add(self, result: ChunkResult) -> None:
        self.done += result.done
        self.skipped += result.skipped
        self.failed += result.failed
        self.gone += result.gone
        self.unchanged += result.unchanged
        for error in result.errors:
            if len(self.errors) < MAX_ERRORS and error not in self.errors:
                self.errors.append(error)

    def summary(self, verb: str = "done") -> str:
        """E.g. "33,000 requeued, 0 skipped, 0 failed, 67,000 gone, 0 not attempted (of
        100,000 confirmed); gone: the list was emptied, renamed or deleted mid-run"."""
        text = (f"{self.done:,} {verb}, {self.skipped:,} skipped, {self.failed:,} failed, "
                f"{self.gone:,} gone, {self.not_attempted:,} not attempted "
                f"(of {self.total:,} confirmed)")
        if self.gone:
            text += "; gone: the list was emptied, renamed or deleted mid-run"
        if self.cancelled:
            text += "; cancelled"
        if self.stopped is not None:
            text += f"; stopped by: {self.stopped}"
        elif self.errors:
            text += f"; first error: {self.errors[0]}"
        return text


class Cancel:
    """Set by the UI; checked between chunks."""

    def __init__(self) -> None:
        self.requested = False

    def set(self) -> None:
        self.requested = True


class Plan(Protocol):
    """What a runner asks a plan: the total, the next chunk (empty when done), and how many
    items a finished chunk handled."""

    @property
    def total(self) -> int: ...

    def next_chunk(self) -> Any: ...

    def handled(self, n: int) -> None: ...


class ItemsPlan(Generic[T]):
    """A fixed list of items, in slices of `size`."""

    def __init__(self, items: Sequence[T], size: int = 200) -> None:
        self.items = items
        self.size = max(1, size)
        self.index = 0

    @property
    def total(self) -> int:
        return len(self.items)

    def next_chunk(self) -> Sequence[T]:
        return self.items[self.index:self.index + self.size]

    def handled(self, n: int) -> None:
        self.index += n


class HeadPlan:
    """The first `count` items of a list, `size` at a time from the head. A chunk is a
    number of items; the run ends when the chunk function reports `reached_stop`, when a
    chunk does nothing (the list ran dry), or when `count` items were handled.

    Items a chunk could not act on stay at the head of the list (`left`); every later
    chunk reads past them again, so it asks for that many more, and the runner counts
    each of them failed once (`newly_left`)."""

    def __init__(self, count: int, size: int = 500) -> None:
        self.count = max(count, 0)
        self.size = max(1, size)
        self.done = 0
        self.left = 0

    @property
    def total(self) -> int:
        return self.count

    def next_chunk(self) -> int:
        rest = min(self.size, self.count - self.done - self.left)
        return self.left + rest if rest > 0 else 0

    def handled(self, n: int) -> None:
        self.done += n

    def newly_left(self, left_at_head: int) -> int:
        """A chunk left `left_at_head` items at the head: how many of them are new."""
        new = max(left_at_head - self.left, 0)
        self.left = max(self.left, left_at_head)
        return new


def _size(batch: Any) -> int:
    return batch if isinstance(batch, int) else len(batch)


def _describe(exc: BaseException) -> str:
    from ferrite_tui.backend.client import describe_error

    return describe_error(exc)


class BulkRunner(Generic[T]):
    """Runs a plan's chunks through `chunk`, reporting after each one.

    A chunk that raises counts as failed (with its error line) and stops the run: the items
    after it were not attempted, and the report says so. A chunk that finds its list gone
    (emptied, renamed, deleted, flushed) stops the run too, and every item not yet handled
    is counted gone. `progress` is called after every chunk; `cancel` is checked before
    every chunk.
    """

    def __init__(self, items: Sequence[T] | Plan, chunk: Callable[[Any], Awaitable[ChunkResult]],
                 *, chunk_size: int = 200,
                 progress: Callable[[BulkReport], None] | None = None,
                 cancel: Cancel | None = None,
                 journal: Journal | None = None, record: BulkRecord | None = None) -> None:
        self.plan: Plan = ItemsPlan(items, chunk_size) if isinstance(items, Sequence) \
            else items
        self.chunk = chunk
        self.progress = progress
        self.cancel = cancel or Cancel()
        self.journal = journal if record is not None else None
        self.record = record

    @property
    def total(self) -> int:
        return self.plan.total

    async def run(self) -> BulkReport:
        report = BulkReport(total=self.plan.total)
        head = isinstance(self.plan, HeadPlan)
        if self.journal is not None and self.record is not None:
            self.journal.start(self.record)
        while True:
            if self.cancel.requested:
                report.cancelled = True
                break
            batch = self.plan.next_chunk()
            if not batch:
                break
            try:
                result = await self.chunk(batch)
            except Exception as exc:  # this chunk failed; the ones after it never ran
                in_flight = _size(batch)
                if isinstance(self.plan, HeadPlan):
                    in_flight -= self.plan.left  # already counted failed
                report.failed += min(max(in_flight, 0), report.not_attempted)
                report.stopped = _describe(exc)
                if len(report.errors) < MAX_ERRORS:
                    report.errors.append(report.stopped)
                break
            other_failures = result.failed - result.left_at_head
            if isinstance(self.plan, HeadPlan):
                # Values left at the head are read again by every later chunk: each is
                # counted failed once.
                new_left = self.plan.newly_left(result.left_at_head)
                result = replace(result, failed=other_failures + new_left)
            report.add(result)
            self.plan.handled(result.done if head else _size(batch))
            if result.list_gone:
                report.gone += report.not_attempted  # nothing is left to act on
            self._save(report)
            if self.progress:
                self.progress(report)
            if result.list_gone:
                break
            if head and (result.done == 0 or result.reached_stop or other_failures):
                break
            await asyncio.sleep(0)  # let the UI draw between chunks
        # Only a run that ended here is finished in the journal: a console killed mid-way
        # (the task cancelled) leaves its record, reported as interrupted next time.
        if self.journal is not None and self.record is not None:
            self.journal.finish(self.record)
        return report

    def _save(self, report: BulkReport) -> None:
        if self.journal is not None and self.record is not None:
            self.record.done = report.done
            self.record.skipped = report.skipped + report.failed + report.gone
            self.journal.save(self.record)
