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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from ferrite_tui.backend.journal import BulkRecord, Journal

T = TypeVar("T")

MAX_ERRORS = 5  # a report keeps the first few error lines, not one per failed chunk


@dataclass
class ChunkResult:
    done: int = 0
    skipped: int = 0  # already gone or changed since the operator saw it
    failed: int = 0
    unchanged: int = 0  # done, but moved as they were (not an envelope the move rewrites)
    reached_stop: bool = False  # head runs: the last item counted at confirmation is done
    errors: list[str] = field(default_factory=list)


@dataclass
class BulkReport:
    total: int
    done: int = 0
    skipped: int = 0
    failed: int = 0
    unchanged: int = 0  # part of `done`: moved as they were
    cancelled: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def processed(self) -> int:
        return self.done + self.skipped + self.failed

    @property
    def clean(self) -> bool:
        """Everything asked for was done: nothing skipped, failed or left by a cancel."""
        return not (self.skipped or self.failed or self.cancelled)

    def add(self, result: ChunkResult) -> None:
        self.done += result.done
        self.skipped += result.skipped
        self.failed += result.failed
        self.unchanged += result.unchanged
        self.errors.extend(result.errors[: max(0, MAX_ERRORS - len(self.errors))])

    def summary(self, verb: str = "done") -> str:
        text = f"{self.done} {verb}, {self.skipped} skipped, {self.failed} failed"
        if self.cancelled:
            text += f" (cancelled; {self.total - self.processed} not touched)"
        if self.errors:
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
    chunk does nothing (the list ran dry), or when `count` items were handled."""

    def __init__(self, count: int, size: int = 500) -> None:
        self.count = max(count, 0)
        self.size = max(1, size)
        self.done = 0

    @property
    def total(self) -> int:
        return self.count

    def next_chunk(self) -> int:
        return min(self.size, self.count - self.done)

    def handled(self, n: int) -> None:
        self.done += n


def _size(batch: Any) -> int:
    return batch if isinstance(batch, int) else len(batch)


def _describe(exc: BaseException) -> str:
    from ferrite_tui.backend.client import describe_error

    return describe_error(exc)


class BulkRunner(Generic[T]):
    """Runs a plan's chunks through `chunk`, reporting after each one.

    A chunk that raises counts as failed (with its error line) and stops the run: the items
    after it were not touched, and the report says so. `progress` is called after every
    chunk; `cancel` is checked before every chunk.
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
            except Exception as exc:  # counted and reported; the rest is not touched
                report.failed += (self.plan.total - report.processed) if head else _size(batch)
                if len(report.errors) < MAX_ERRORS:
                    report.errors.append(_describe(exc))
                break
            report.add(result)
            self.plan.handled(result.done if head else _size(batch))
            self._save(report)
            if self.progress:
                self.progress(report)
            if head and (result.done == 0 or result.reached_stop or result.failed):
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
            self.record.skipped = report.skipped + report.failed
            self.journal.save(self.record)
