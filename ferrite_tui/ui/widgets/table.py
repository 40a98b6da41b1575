"""A DataTable that takes whole row sets and applies only the difference.

Rows have stable keys (the queue's ident), so the cursor stays on the same queue while the
order changes, and unchanged cells are not touched. Columns carry a priority: on a narrow
terminal the least important ones are left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import JustifyMethod
from rich.text import Span, Text
from textual.binding import Binding
from textual.events import Resize
from textual.widgets import DataTable

from ferrite_tui.escaping import is_safe, printable, printable_lines
from ferrite_tui.ui.textual_private import set_cell_repainting_it_alone


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int
    priority: int = 0  # 0 is always shown; higher numbers go first when space runs out
    justify: JustifyMethod = "left"
    # Whether the column takes a share of the width left over; None: the columns holding
    # free text (names, reasons, payloads, alerts: TEXT_KEYS) do, figures keep their width.
    grow: bool | None = None
    # An identifying column (a name) that is at least as wide as its longest cell, up to
    # FIT_CAP, before any other column is added: names are the last to be cut.
    fit: bool = False

    @property
    def grows(self) -> bool:
        return self.key in TEXT_KEYS if self.grow is None else self.grow


#: Identifying columns: they get the room left over first, and give it up last.
NAME_KEYS = frozenset({"key", "name", "id", "consumer", "channel"})
TEXT_KEYS = frozenset({"key", "name", "id", "consumer", "channel", "reason", "error",
                       "alerts", "payload", "preview", "target"})


def escaped_text(text: Text, lines: bool = False) -> Text:
    """`text` with its characters through `printable` (`printable_lines` with `lines`: a
    dialog's body keeps its line breaks), styles kept; the same Text when there is nothing
    to escape, the common case."""
    if is_safe(text.plain.replace("\n", "") if lines else text.plain):
        return text
    escape = printable_lines if lines else printable
    cuts = sorted({span.start for span in text.spans} | {span.end for span in text.spans}
                  - {0, len(text.plain)})
    out = Text(style=text.style, justify=text.justify, overflow=text.overflow,
               no_wrap=text.no_wrap, end=text.end)
    for piece in text.divide(cuts):
        # Each piece lies inside or outside every span: its spans cover it whole.
        shown = escape(piece.plain)
        out.append_text(Text(shown, spans=[Span(0, len(shown), s.style)
                                           for s in piece.spans]))
    return out


def cell(value: object, justify: JustifyMethod = "left", style: str = "") -> Text:
    """Every cell is Text, so server strings are never read as markup, and escaped (the
    panels escape names already: this is the last gate before the table). A cell cut to
    its column ends in '…', so a cut number never reads as a smaller one."""
    if isinstance(value, Text):
        value = escaped_text(value)
        if justify != "left":
            value.justify = justify
        if value.overflow is None:
            value.overflow = "ellipsis"
        if value.no_wrap is None:
            value.no_wrap = True
        return value
    return Text(printable(str(value)), style=style, justify=justify, no_wrap=True,
                overflow="ellipsis")


def is_figure(col: Column) -> bool:
    """A right-aligned column that does not take a share of the room: a number, an age."""
    return col.justify == "right" and not col.grows and not col.fit


def _signature(text: Text | None) -> tuple | None:
    return None if text is None else (text.plain, str(text.style), tuple(text.spans))


# A text column is not shrunk below this to make the columns fit.
MIN_TEXT_WIDTH = 8
FIT_CAP = 32
# A figure column (right-aligned) widens to its longest value up to this: a lag of
# 800,000 in a column of 6 is shown whole, never as "800,00" (beyond it, cut with '…').
FIGURE_CAP = 14


class KeyedTable(DataTable):
    # No scrollbars: the columns are laid out to the width (nothing to scroll sideways),
    # and the note or title above each table says which rows are shown. A scrollbar's
    # thumb otherwise shows as stray "▇▇" / "▃▃" at the right edge.
    DEFAULT_CSS = """
    KeyedTable { height: 1fr; scrollbar-size: 0 0; overflow-x: hidden; }
    """
    # Rows, not columns: the columns fit the width, so DataTable's Home/End (to the first
    # and last column) did nothing here.
    BINDINGS = [
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]

    def __init__(self, columns: Iterable[Column], **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.all_columns = list(columns)
        self.shown: list[Column] = []
        self._rows: dict[str, dict[str, Text]] = {}
        self._order: list[str] = []
        self.hidden: frozenset[str] = frozenset()  # columns left out whatever the width
        self.labels: dict[str, str] = {}  # headers other than the columns' own
        self._col_widths: dict[str, int] | None = None  # as laid out (None: lay out again)
        self._fitted: tuple[int, ...] = ()  # what that layout fitted (names, text lengths)
        self._values: dict[str, dict[str, object]] = {}  # each row's values, as last set

    def set_hidden(self, keys: Iterable[str], labels: dict[str, str] | None = None) -> None:
        """Leave these columns out (e.g. one that repeats another), with these headers."""
        hidden, labels = frozenset(keys), dict(labels or {})
        if hidden != self.hidden or labels != self.labels:
            self.hidden, self.labels = hidden, labels
            self._col_widths = None  # lay out again
            self._layout_columns(self.size.width or 120)

    def insert_column(self, index: int, column: Column) -> None:
        """A column added at this place among `all_columns`; the columns laid out again."""
        self.all_columns.insert(index, column)
        self._layout_columns(self.size.width or 120)

    def on_mount(self) -> None:
        self._layout_columns(self.size.width or 120)

    def on_resize(self, event: Resize) -> None:
        # The content width: the event's size includes a border (a table beside another).
        self._layout_columns(self.size.width or event.size.width)
        # A notice line or the filter took rows away: keep the selected row in view.
        self.call_after_refresh(self._scroll_cursor_into_view)

    def longest(self, col: Column) -> int:
        """The width of the column's longest cell."""
        return max((cell_len(cells[col.key].plain) for cells in self._rows.values()
                    if col.key in cells), default=0)

    def base_width(self, col: Column) -> int:
        """A column's width before the room left over is shared: never less than its
        header."""
        width = max(col.width, cell_len(col.label))
        if is_figure(col):
            return max(width, min(self.longest(col), FIGURE_CAP))
        if not col.fit:
            return width
        return max(width, min(self.longest(col), FIT_CAP))

    @property
    def natural_width(self) -> int:
        """The width the columns always shown need, names whole (padding included)."""
        return sum(self.base_width(c) + 2 for c in self.all_columns if c.priority == 0)

    def _fit_widths(self) -> tuple[int, ...]:
        """What the layout depends on besides the width: names and text lengths."""
        return tuple(self.longest(c) for c in self.all_columns
                     if c.fit or c.grows or is_figure(c))

    def _layout_columns(self, width: int) -> None:
        budget = max(width, 20)
        chosen: list[Column] = []
        used = 0
        for col in sorted(self.all_columns, key=lambda c: c.priority):
            if col.key in self.hidden:
                continue
            need = self.base_width(col) + 2  # cell padding
            if col.priority == 0 or used + need <= budget:
                chosen.append(col)
                used += need
        chosen.sort(key=self.all_columns.index)
        # Text columns share what is left, so long reasons and names are cut only when
        # there is no room.
        widths = {col.key: self.base_width(col) for col in chosen}
        self._fitted = self._fit_widths()
        growers = [col for col in chosen if col.grows]
        spare = budget - used
        # First to the names and ids that are cut, then to other cut text (one column at a
        # time, in turn), then evenly.
        for first in (True, False):
            wanting = [c for c in growers if (c.key in NAME_KEYS) == first
                       and self.longest(c) > widths[c.key]]
            while spare > 0 and wanting:
                for col in wanting:
                    if spare and self.longest(col) > widths[col.key]:
                        widths[col.key] += 1
                        spare -= 1
                wanting = [c for c in wanting if self.longest(c) > widths[c.key]]
        # A cut name borrows from the other text columns (down to half their width); an id
        # does not: at 80 columns a reason says more than the tail of a uuid.
        for name in [c for c in growers if c.key in NAME_KEYS and c.key != "id"]:
            while self.longest(name) > widths[name.key]:
                lender = max((c for c in growers if c.key not in NAME_KEYS
                              and widths[c.key] > max(MIN_TEXT_WIDTH, c.width // 2)),
                             key=lambda c: widths[c.key], default=None)
                if lender is None:
                    break
                widths[lender.key] -= 1
                widths[name.key] += 1
        if growers and spare > 0:
            for i, col in enumerate(growers):
                widths[col.key] += spare // len(growers) + (1 if i < spare % len(growers) else 0)
        # The columns that must show do not fit: text columns give up room, widest first
        # and names last, rather than the table overflowing to the side.
        while spare < 0:
            can = [c for c in growers if widths[c.key] > MIN_TEXT_WIDTH]
            if not can:
                break
            widest = max(can, key=lambda c: (c.key not in NAME_KEYS, widths[c.key]))
            widths[widest.key] -= 1
            spare += 1
        if chosen == self.shown and widths == self._col_widths:
            return
        self.shown = chosen
        self._col_widths = widths
        cursor = self.cursor_key
        self.clear(columns=True)
        for col in chosen:
            self.add_column(Text(self.labels.get(col.key, col.label), justify=col.justify),
                            key=col.key,
                            width=widths[col.key])
        self._order = []
        self._apply(dict(self._rows), list(self._rows), cursor)

    @property
    def cursor_key(self) -> str | None:
        if not self._order or self.cursor_row < 0 or self.cursor_row >= len(self._order):
            return None
        return self._order[self.cursor_row]

    @property
    def row_keys(self) -> list[str]:
        """The keys of the rows shown, top to bottom."""
        return list(self._order)

    def cell_text(self, key: str, column: str) -> str:
        """The plain text of one cell (as set, whether or not its column is shown)."""
        return self._rows[key][column].plain

    def select_key(self, key: str) -> bool:
        if key in self._order:
            self.move_cursor(row=self._order.index(key))
            return True
        return False

    def set_rows(self, rows: list[tuple[str, dict[str, object]]]) -> None:
        """Show exactly these rows, in this order."""
        cells: dict[str, dict[str, Text]] = {}
        values_seen = self._values
        for key, values in rows:
            if values_seen.get(key) == values and key in self._rows:
                cells[key] = self._rows[key]  # nothing changed: no new cells to build
                continue
            cells[key] = {
                col.key: cell(values.get(col.key, ""), col.justify) for col in self.all_columns
            }
        self._values = {key: values for key, values in rows}
        self._apply(cells, [k for k, _ in rows], self.cursor_key)
        if self.shown and self._fit_widths() != self._fitted:
            self._layout_columns(self.size.width or 120)  # a name column's width changed

    def _set_cell(self, key: str, column: str, value: Text) -> None:
        """One cell changed: the cell is drawn again, not the table (DataTable's
        update_cell repaints every row: at 200x60 most of the bytes a poll wrote)."""
        set_cell_repainting_it_alone(self, key, column, value)

    def _apply(self, cells: dict[str, dict[str, Text]], order: list[str],
               cursor: str | None) -> None:
        if not self.shown:
            self._rows, self._order = cells, []
            return
        if order == self._order:
            for key in order:
                old = self._rows.get(key, {})
                for col in self.shown:
                    new = cells[key][col.key]
                    if _signature(old.get(col.key)) != _signature(new):
                        self._set_cell(key, col.key, new)
        else:
            self.clear(columns=False)
            for key in order:
                self.add_row(*(cells[key][c.key] for c in self.shown), key=key)
            if cursor in order:
                self.move_cursor(row=order.index(cursor), animate=False)
            if bool(order) != bool(self._order):
                self.refresh_bindings()  # the footer's `enter` comes and goes with rows
        self._rows = cells
        self._order = order
