"""A partial frame writes only the cells that differ from what the terminal shows
(ui/textual_private.py's ChangedCellsUpdate over a TerminalShadow), not each changed line
from the widget's left edge, and the terminal ends up showing what Textual's own partial
frame would have left on it."""

from __future__ import annotations

import pyte
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual._compositor import ChopsUpdate, LayoutUpdate
from textual.geometry import Region
from textual.strip import Strip

from ferrite_tui.ui.textual_private import ChangedCellsUpdate, TerminalShadow

WIDTH = 40
BLUE, RED = Style(color="blue"), Style(color="red", bold=True)


def row(*cells: str) -> Strip:
    """One table line: a segment per cell, alternating styles, padded to WIDTH."""
    segments = [Segment(text, BLUE if i % 2 else RED) for i, text in enumerate(cells)]
    used = sum(s.cell_length for s in segments)
    return Strip([*segments, Segment(" " * (WIDTH - used))])


def console() -> Console:
    return Console(width=WIDTH, force_terminal=True, color_system="truecolor")


def shown_after(lines: list[Strip], *updates: str) -> list[str]:
    """The terminal's text after a whole frame of `lines`, then these writes."""
    screen = pyte.Screen(WIDTH, len(lines))
    stream = pyte.Stream(screen)
    stream.feed(LayoutUpdate([[line] for line in lines],
                             Region(0, 0, WIDTH, len(lines))).render_segments(console()))
    for update in updates:
        stream.feed(update)
    return list(screen.display)


def partial(lines: list[Strip], spans: list[tuple[int, int, int]]) -> ChopsUpdate:
    """Textual's partial frame of `lines` over `spans` (one chop per line: the table)."""
    return ChopsUpdate([{0: line} for line in lines], spans, [[WIDTH]] * len(lines))


BEFORE = [row(" ▲ ", " queue:a ", "   1 ", "  59s "), row(" · ", " 宽字符 ", "  12 ", "   3s "),
          row(" · ", " queue:c ", "   7 ", "   9s ")]
AGE = sum(s.cell_length for s in list(BEFORE[0])[:3])  # the age cell's column


def test_a_changed_cell_is_written_alone_and_the_screen_is_the_same():
    after = [row(" ▲ ", " queue:a ", "   1 ", "1m00s "), row(" · ", " 宽字符 ", "  12 ", "   4s "),
             BEFORE[2]]
    spans = [(0, AGE, AGE + 6), (1, AGE - 1, AGE + 6)]
    shadow = TerminalShadow()
    shadow.whole_frame(LayoutUpdate([[line] for line in BEFORE], Region(0, 0, WIDTH, 3)))

    theirs = partial(after, spans).render_segments(console())
    ours = ChangedCellsUpdate(partial(after, spans), shadow).render_segments(console())

    assert shown_after(BEFORE, ours) == shown_after(BEFORE, theirs)
    assert "1m00s" in shown_after(BEFORE, ours)[0]
    # Only what changed went out: no name, no depth, not the unchanged "s".
    assert "queue:a" not in ours and "宽字符" not in ours and "12" not in ours
    assert "queue:a" in theirs  # Textual's own wrote each line from its left edge
    assert len(ours) * 3 < len(theirs)
    # The shadow follows: the same frame again writes nothing.
    assert ChangedCellsUpdate(partial(after, spans), shadow).render_segments(console()) == ""


def test_a_wide_character_is_rewritten_whole_and_unknown_lines_are_written():
    after = [BEFORE[0], row(" · ", " 宽字节 ", "  12 ", "   3s "), BEFORE[2]]
    spans = [(1, 0, WIDTH)]
    shadow = TerminalShadow()
    shadow.whole_frame(LayoutUpdate([[line] for line in BEFORE], Region(0, 0, WIDTH, 3)))
    ours = ChangedCellsUpdate(partial(after, spans), shadow).render_segments(console())
    assert "节" in ours and "宽" not in ours
    assert shown_after(BEFORE, ours)[1] == shown_after(after)[1]
    # Nothing known of the terminal (no whole frame yet): the span is written.
    fresh = ChangedCellsUpdate(partial(after, spans), TerminalShadow()).render_segments(
        console())
    assert "宽字节" in fresh
