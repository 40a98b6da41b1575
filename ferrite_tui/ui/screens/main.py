"""The screen the panels live on: its footer puts what the operator can do first.

Textual's footer lists bindings from the focused widget outwards, so in an item view the
paging keys (home, end, pgup, pgdn, :, space) came first and at 80 columns the actions
(r R d D e x) fell off the end. Here the order is: the panel's actions, then the focused
table's own keys, then the app's. On a list of queues, where actions wait until you move
into a queue's entries, `enter` is shown first as the next step.
"""

from __future__ import annotations

from textual.binding import ActiveBinding, Binding
from textual.screen import Screen

from ferrite_tui.ui.widgets.items import PagedTable
from ferrite_tui.ui.widgets.table import KeyedTable

OPEN = Binding("enter", "select_cursor", "Open", show=True)


class MainScreen(Screen[None]):
    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        bindings = super().active_bindings
        focused = self.focused

        def rank(active: ActiveBinding) -> int:
            if active.node is self.app or active.node is self:
                return 2
            return 1 if active.node is focused else 0

        ordered = dict(sorted(bindings.items(), key=lambda kv: rank(kv[1])))
        if (isinstance(focused, KeyedTable) and not isinstance(focused, PagedTable)
                and focused.row_count):
            # The list level: the next step is into the selected queue.
            # (The table's own enter binding is hidden; this one is the same action, shown.)
            rest = {key: active for key, active in ordered.items() if key != "enter"}
            ordered = {"enter": ActiveBinding(focused, OPEN, True), **rest}
        return ordered
