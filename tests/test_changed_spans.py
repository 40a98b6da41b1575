"""A partial frame is written from where each line changed (ui/textual_private.py's
ChangedSpansUpdate), not from the widget's left edge, and a terminal shows the same screen
as after Textual's own partial frame."""

from __future__ import annotations

import pyte
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual._compositor import ChopsUpdate
from textual.strip import Strip

from ferrite_tui.ui.textual_private import ChangedSpansUpdate

WIDTH = 40
BLUE, RED = Style(color="blue"), Style(color="red", bold=True)


def row(*cells: str) -> Strip:
    """One table line: a segment per cell, alternating styles, padded to WIDTH."""
    segments = [Segment(text, BLUE if i % 2 else RED) for i, text in enumerate(cells)]
    used = sum(s.cell_length for s in segments)
    return Strip([*segments, Segment(" " * (WIDTH - used))])


def terminal(lines: list[Strip], console: Console) -> pyte.Screen:
    screen = pyte.Screen(WIDTH, len(lines))
    stream = pyte.Stream(screen)
    for y, line in enumerate(lines):
        stream.feed(f"\x1b[{y + 1};1H" + line.render(console))
    return screen


def test_a_changed_cell_is_written_alone_and_the_screen_is_the_same():
    console = Console(width=WIDTH, force_terminal=True, color_system="truecolor")
    before = [row(" ▲ ", " queue:a ", "   1 ", "  59s "), row(" · ", " 宽字符 ", "  12 ", "   3s "),
              row(" · ", " queue:c ", "   7 ", "   9s ")]
    after = [row(" ▲ ", " queue:a ", "   1 ", "1m00s "), row(" · ", " 宽字符 ", "  12 ", "   4s "),
             before[2]]
    start = sum(s.cell_length for s in list(before[0])[:3])  # the 4th cell's column
    spans = [(0, start, start + 6), (1, start, start + 6)]
    chops = [{0: line} for line in after]
    ends = [[WIDTH]] * len(after)  # each line's chop ends (one chop: the table)

    theirs = ChopsUpdate(chops, spans, ends).render_segments(console)
    ours = ChangedSpansUpdate(ChopsUpdate(chops, spans, ends)).render_segments(console)

    shown_theirs, shown_ours = terminal(before, console), terminal(before, console)
    pyte.Stream(shown_theirs).feed(theirs)
    pyte.Stream(shown_ours).feed(ours)
    assert shown_ours.display == shown_theirs.display
    assert "1m00s" in shown_ours.display[0] and "宽字符" in shown_ours.display[1]
    # Only the changed cells went out: no name, no depth.
    assert "queue:a" not in ours and "宽字符" not in ours and "12" not in ours
    assert "queue:a" in theirs  # Textual's own wrote each line from its left edge
    assert len(ours) * 2 < len(theirs)
