"""The line above a dead-letter list's entries: the list and its target, the filter or the
reason groups with the scan's progress, the window shown, marks, an interrupted run.

Every part is a reactive bound to the panel's view state (`data_bind`), so the line redraws
itself whenever one changes; no code calls a redraw by hand."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from ferrite_tui.backend.dlq import Filter, ScanState
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.journal import BulkRecord
from ferrite_tui.backend.lists import Page
from ferrite_tui.backend.models import QueueRef


@dataclass(frozen=True)
class ScanFigures:
    """What the background scan has found so far, frozen (a ScanState changes in place)."""

    matches: int
    scanned: int
    length: int
    groups: int
    complete: bool
    cancelled: bool
    truncated: bool

    @classmethod
    def of(cls, st: ScanState) -> ScanFigures:
        return cls(len(st.matches), st.scanned, st.length, len(st.groups), st.complete,
                   st.cancelled, st.truncated)


class DeadLetterTitle(Static):
    ref: reactive[QueueRef | None] = reactive(None)
    target: reactive[str | None] = reactive(None)
    flt: reactive[Filter] = reactive(Filter)
    scan: reactive[ScanFigures | None] = reactive(None)
    groups_shown: reactive[bool] = reactive(False)
    page: reactive[Page | None] = reactive(None)
    marked: reactive[int] = reactive(0)
    interrupted: reactive[list[BulkRecord]] = reactive(list)
    error: reactive[str | None] = reactive(None)  # a bad filter, until the next window

    def render(self) -> Text:
        ref = self.ref
        if self.error is not None:
            return Text(printable(self.error, 300), style="red")
        if ref is None:
            return Text("Highlight a dead-letter list to see its entries.")
        text = Text()
        text.append(printable(ref.key, 60), style="bold")
        text.append(f" → {printable(self.target, 40)}" if self.target
                    else " → (target unknown)")
        flt = self.flt
        if flt.active:
            text.append(f"  {flt.describe()}", style="cyan")
        st = self.scan
        if st is not None and (flt.active or self.groups_shown):
            done = "" if st.complete else (
                f" (scanning {st.scanned:,} of {st.length:,})" if not st.cancelled else
                " (scan stopped)")
            if flt.active:
                text.append(f": {st.matches:,} match{'es' if st.matches != 1 else ''}{done}")
                if st.truncated:
                    text.append(" (first 200,000 kept)", style="yellow")
            else:
                text.append(f"  {st.groups} reason groups{done}")
        page = self.page
        if page is not None and not self.groups_shown:
            if page.items:
                text.append(f"  rows {page.start:,}–{page.end - 1:,} of {page.length:,}")
            else:
                text.append("  empty")
        if self.marked:
            text.append(f"  · {self.marked} marked", style="magenta")
        if self.interrupted:
            rec = self.interrupted[-1]
            text.append(f"  ▲ interrupted {rec.action}: {rec.done:,}/{rec.total:,} done, "
                        "F finish", style="bold yellow")
        return text
