"""What an action's steps end with: one result line (`Outcome`), or a selection that is
empty (`NothingSelected`, its message saying what to select first)."""

from __future__ import annotations

from dataclasses import dataclass

from ferrite_tui.backend.bulk import BulkReport


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
