"""What an action's steps end with: one result line (`Outcome`), or a selection that is
empty (`NothingSelected`, its message saying what to select first)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ferrite_tui.backend.bulk import BulkReport
from ferrite_tui.escaping import printable

if TYPE_CHECKING:
    from ferrite_tui.backend.libraries.model import LibraryQueue


class NothingSelected(Exception):
    """An action's selection is empty; the message says what to select first."""


@dataclass(frozen=True)
class Outcome:
    """The one line an action ends with."""

    line: str
    severity: str = "information"
    timeout: float = 6

    @classmethod
    def of(cls, report: BulkReport, verb: str, title: str = "", extra: str = "") -> Outcome:
        line = (f"{title}: " if title else "") + report.summary(verb) + extra
        return cls(line, "information" if report.clean else "warning", 8)


def library_outcome(queue: LibraryQueue, verb: str, res) -> Outcome:
    """One result line: done, skipped (moved since seen) and refused with the library's own
    reason (the first one named)."""
    line = (f"{queue.library} {printable(queue.name)}: {verb.lower()} {len(res.done):,} done, "
            f"{len(res.skipped):,} skipped (changed since seen)")
    if res.errors:
        line += f", {len(res.errors):,} refused: {printable(res.errors[0], 300)}"
    return Outcome(line, "information" if not (res.skipped or res.errors) else "warning",
                   timeout=8 if res.errors else 5)
