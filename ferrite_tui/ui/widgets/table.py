"""A DataTable that takes whole row sets and applies only the difference.

Rows have stable keys (the queue's ident), so the cursor stays on the same queue while the
order changes, and unchanged cells are not touched. Columns carry a priority: on a narrow
terminal the least important ones are left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.console import JustifyMethod
from rich.text import Text
from textual.events import Resize
from textual.widgets import DataTable


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

    @property
    def grows(self) -> bool:
        return self.key in TEXT_KEYS if self.grow is None else self.grow


TEXT_KEYS = frozenset({"key", "name", "consumer", "channel", "reason", "error", "alerts",
                       "payload", "preview", "target"})


def cell(value: object, justify: JustifyMethod = "left", style: str = "") -> Text:
    """Every cell is Text, so server strings are never read as markup."""
    if isinstance(value, Text):
        if justify != "left":
            value.justify = justify
        return value
    return Text(str(value), style=style, justify=justify, no_wrap=True, overflow="ellipsis")


def _signature(text: Text | None) -> tuple | None:
    return None if text is None else (text.plain, str(text.style), tuple(text.spans))


class KeyedTable(DataTable):
    DEFAULT_CSS = """
    KeyedTable { height: 1fr; }
    """

    def __init__(self, columns: Iterable[Column], **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.all_columns = list(columns)
        self.shown: list[Column] = []
        self._rows: dict[str, dict[str, Text]] = {}
        self._order: list[str] = []

    def on_mount(self) -> None:
        self._layout_columns(self.size.width or 120)

    def on_resize(self, event: Resize) -> None:
        self._layout_columns(event.size.width)
        # A notice line or the filter took rows away: keep the selected row in view.
        self.call_after_refresh(self._scroll_cursor_into_view)

    def _layout_columns(self, width: int) -> None:
        budget = max(width - 2, 20)
        chosen: list[Column] = []
        used = 0
        for col in sorted(self.all_columns, key=lambda c: c.priority):
            need = col.width + 2  # cell padding
            if col.priority == 0 or used + need <= budget:
                chosen.append(col)
                used += need
        chosen.sort(key=self.all_columns.index)
        # Text columns share what is left, so long reasons and names are cut only when
        # there is no room.
        widths = {col.key: col.width for col in chosen}
        growers = [col for col in chosen if col.grows]
        spare = budget - used
        if growers and spare > 0:
            for i, col in enumerate(growers):
                widths[col.key] += spare // len(growers) + (1 if i < spare % len(growers) else 0)
        if chosen == self.shown and widths == getattr(self, "_col_widths", None):
            return
        self.shown = chosen
        self._col_widths = widths
        cursor = self.cursor_key
        self.clear(columns=True)
        for col in chosen:
            self.add_column(Text(col.label, justify=col.justify), key=col.key,
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
        values_seen = getattr(self, "_values", {})
        for key, values in rows:
            if values_seen.get(key) == values and key in self._rows:
                cells[key] = self._rows[key]  # nothing changed: no new cells to build
                continue
            cells[key] = {
                col.key: cell(values.get(col.key, ""), col.justify) for col in self.all_columns
            }
        self._values = {key: values for key, values in rows}
        self._apply(cells, [k for k, _ in rows], self.cursor_key)

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
                        self.update_cell(key, col.key, new)
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
