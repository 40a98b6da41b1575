"""Bulk work in chunks: progress, cancellation, and a done/skipped/failed tally.

Each chunk is one short, atomic server operation chosen by the caller, so no single command
runs long and a console killed between chunks leaves every item in one known place.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Generic, Sequence, TypeVar

T = TypeVar("T")


@dataclass
class ChunkResult:
    done: int = 0
    skipped: int = 0  # already gone or changed since the operator saw it
    failed: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class BulkReport:
    total: int
    done: int = 0
    skipped: int = 0
    failed: int = 0
    cancelled: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def processed(self) -> int:
        return self.done + self.skipped + self.failed

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


class BulkRunner(Generic[T]):
    def __init__(self, items: Sequence[T], chunk: Callable[[Sequence[T]], Awaitable[ChunkResult]],
                 *, chunk_size: int = 200,
                 progress: Callable[[BulkReport], None] | None = None,
                 cancel: Cancel | None = None) -> None:
        self.items = items
        self.chunk = chunk
        self.chunk_size = max(1, chunk_size)
        self.progress = progress
        self.cancel = cancel or Cancel()

    async def run(self) -> BulkReport:
        report = BulkReport(total=len(self.items))
        for start in range(0, len(self.items), self.chunk_size):
            if self.cancel.requested:
                report.cancelled = True
                break
            result = await self.chunk(self.items[start:start + self.chunk_size])
            report.done += result.done
            report.skipped += result.skipped
            report.failed += result.failed
            report.errors.extend(result.errors[: max(0, 5 - len(report.errors))])
            if self.progress:
                self.progress(report)
            await asyncio.sleep(0)  # let the UI draw between chunks
        return report
