"""Snapshot tests of every panel's item view and of the main dialogs, at 80x24 and 160x50,
from the demo's deterministic seed (tests/seeded.py: a real server holding the seed, read
by the frozen app: fixed snapshot, frozen clock, no polling).

Besides the picture, each test reads the screen: at 80x24 the footer shows the view's
action keys; identifying columns (ids, names) are not cut; at 160x50 nothing but payloads
is cut; no stray scrollbar glyphs."""

from __future__ import annotations

import pytest

from ferrite_tui.ui.widgets.footer import KeyFooter
from seeded import connect, picture, pin_stream_idle, seeded_app, settle, write_seed

SIZES = [(80, 24), (160, 50)]
size_ids = pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")

# Scrollbar thumbs and their eighth-blocks: none should be drawn in these views.
SCROLL_GLYPHS = "▇▃▁▂▄▅▆█"


def screen_lines(app) -> list[str]:
    update = app.screen._compositor.render_full_update()
    return ["".join(strip.text for strip in line) for line in update.strips]


def visible_footer_keys(app) -> list[str]:
    """The footer's keys drawn whole (a key cut at the right edge does not count)."""
    return app.screen.query_one(KeyFooter).shown_keys()


def cut_cells(table) -> list[tuple[str, str]]:
    """(column, text) of every cell shown shorter than its text."""
    from rich.cells import cell_len

    widths = table._col_widths
    return [(col.key, table.cell_text(key, col.key)) for key in table.row_keys
            for col in table.shown if cell_len(table.cell_text(key, col.key)) > widths[col.key]]


def check_tables(app, size) -> None:
    """Names are whole, and at 160x50 ids too in a table of the full width (a uuid may lose
    its tail at 80 columns or in a half-width table: its head still tells the rows apart);
    other text is cut only when the table has no room left."""
    for table in app.screen.query("KeyedTable"):
        if not table.display or not table.region.width:
            continue
        wide = size[0] >= 160 and table.size.width >= 100  # not a table beside another
        identifying = ("name", "key", "group", "consumer") + (("id",) if wide else ())
        room = table.size.width - sum(table._col_widths[c.key] + 2 for c in table.shown)
        for column, text in cut_cells(table):
            assert column not in identifying, f"{table.id}: {column} {text!r} cut at {size}"
            assert room <= 1, f"{table.id}: {column} {text!r} cut with {room} columns free"


def scrollbar_glyphs(app) -> list[str]:
    """Block glyphs in the two columns at the right edge of a table or a scrolling
    container (where a scrollbar's thumb would be drawn), read from the rendered screen."""
    lines = screen_lines(app)
    found = []
    for widget in app.screen.query("KeyedTable, LogView, VerticalScroll"):
        region = widget.region
        if not widget.display or region.width < 3:
            continue
        for y in range(region.y, region.bottom):
            edge = lines[y][region.right - 2:region.right] if y < len(lines) else ""
            if any(ch in SCROLL_GLYPHS for ch in edge):
                found.append(f"{widget.id or type(widget).__name__} line {y}: {lines[y]!r}")
    return found


def check_screen(app, size, actions: tuple[str, ...]) -> None:
    focused = app.focused
    assert focused is not None and focused.region.height >= 4, \
        f"the items in focus get {focused.region if focused else None} at {size}"
    stray = scrollbar_glyphs(app)
    assert not stray, f"scrollbar glyphs: {stray}"
    check_tables(app, size)
    if size == (80, 24):
        keys = visible_footer_keys(app)
        missing = [k for k in actions if k not in keys]
        assert not missing, f"footer at 80x24 lacks {missing}: shows {keys}"


# -- item views -----------------------------------------------------------------------

async def queues_items(pilot) -> None:
    panel = pilot.app.panel("queues")
    await pilot.press("2")
    await settle(pilot, lambda: panel.items_table.row_count and panel.proc_table.row_count,
                 "queue items never loaded")
    await pilot.press("enter")
    await settle(pilot, lambda: panel.items_table.has_focus)


async def sorted_items(pilot, key: str, tab: str) -> None:
    panel = pilot.app.panel(tab)
    await pilot.press(key)
    await settle(pilot, lambda: panel.jobs.row_count, f"{tab} jobs never loaded")
    await pilot.press("enter")
    await settle(pilot, lambda: panel.jobs.has_focus)


async def streams_pending(pilot) -> None:
    panel = pilot.app.panel("streams")
    await pilot.press("5")
    await settle(pilot, lambda: panel.groups_table.row_count and panel.consumers_table.row_count
                 and panel.pending_table.row_count, "stream pending never loaded")
    panel.groups_table.focus()
    await pilot.press("enter")
    await settle(pilot, lambda: panel.pending_table.has_focus and panel.pending_table.row_count)
    await pin_idle(pilot)


async def pin_idle(pilot) -> None:
    """Once the panel's reads are done, the idle times as the seed wrote them."""
    panel = pilot.app.panel("streams")
    await settle(pilot, lambda: not panel._refreshing, "the streams panel kept reading")
    pin_stream_idle(panel)
    await pilot.pause()


async def streams_entries(pilot) -> None:
    panel = pilot.app.panel("streams")
    await streams_pending(pilot)
    await pilot.press("b")
    await settle(pilot, lambda: panel.browser_table.display and panel.browser_table.row_count,
                 "stream entries never loaded")
    panel.browser_table.focus()
    await pin_idle(pilot)


async def dlq_items(pilot) -> None:
    panel = pilot.app.panel("dlq")
    await pilot.press("6")
    await settle(pilot, lambda: panel.items_table.row_count, "dead letters never loaded")
    await pilot.press("enter")
    await settle(pilot, lambda: panel.items_table.has_focus)


ITEM_VIEWS = {
    "queues": (queues_items, ("d", "D", "m", "a", "r", "R")),
    "priority": (lambda p: sorted_items(p, "3", "priority"), ("e", "d", "n")),
    "scheduled": (lambda p: sorted_items(p, "4", "scheduled"), ("x", "X", "e", "d", "n")),
    "streams-pending": (streams_pending, ("c", "C", "a", "A", "k")),
    "streams-entries": (streams_entries, ("n",)),
    "dlq": (dlq_items, ("r", "R", "d", "D", "e")),
}


@size_ids
@pytest.mark.parametrize("view", list(ITEM_VIEWS))
def test_item_view_snapshot(snap_compare, redis_url, tmp_path, view, size):
    """A panel's items, the focus in them, from the seed."""
    write_seed(redis_url)
    open_view, actions = ITEM_VIEWS[view]

    async def run_before(pilot) -> None:
        await connect(pilot)
        await open_view(pilot)
        check_screen(pilot.app, size, actions)

    picture(snap_compare, seeded_app(redis_url, tmp_path), size, run_before)


# -- dialogs --------------------------------------------------------------------------

def opens_dialog(open_view, *keys: str):
    async def run(pilot) -> None:
        await open_view(pilot)
        before = len(pilot.app.screen_stack)
        for key in keys:
            await pilot.press(key)
        await settle(pilot, lambda: len(pilot.app.screen_stack) > before,
                     f"{keys} opened no dialog")
        if open_view is streams_pending:
            await pin_idle(pilot)  # the table under the dialog
    return run


async def pubsub_panel(pilot) -> None:
    """The panel once its tail is live and its rate measured, as drawn: the picture no longer
    depends on how long the machine took to subscribe (a pause was enough only when idle;
    on a busy machine the rate, measured from two samples 0.25 s apart, was there or not)."""
    panel = pilot.app.panel("pubsub")
    await pilot.press("7")

    def settled() -> bool:
        tail = panel.tail
        return tail is not None and tail.state.status == "live" \
            and panel._seen_state == (tail.state, tail.gaps) and panel.rates[0] is not None
    await settle(pilot, settled, "the Pub/Sub tail never went live with a rate")


async def dlq_filter(pilot) -> None:
    await dlq_items(pilot)
    await pilot.press("slash", *"SMTP")
    panel = pilot.app.panel("dlq")
    await settle(pilot, lambda: pilot.app.query_one("#filter").value == "SMTP"
                 and panel.entries.scan_state is not None and panel.entries.scan_state.complete
                 and panel.items_table.row_count, "the filter's scan never finished")
    await pilot.pause()


DIALOGS = {
    "publish": opens_dialog(pubsub_panel, "n"),
    "claim": opens_dialog(streams_pending, "c"),
    "claim-idle": opens_dialog(streams_pending, "C"),
    "edit": opens_dialog(dlq_items, "e"),
    "schedule": opens_dialog(lambda p: sorted_items(p, "4", "scheduled"), "n"),
    "requeue-all": opens_dialog(dlq_items, "R"),
    "help": opens_dialog(dlq_items, "question_mark"),
}


@size_ids
@pytest.mark.parametrize("dialog", list(DIALOGS))
def test_dialog_snapshot(snap_compare, redis_url, tmp_path, dialog, size):
    """A dialog as it opens over the seed's data: its buttons in view at 80x24."""
    write_seed(redis_url)

    async def run_before(pilot) -> None:
        await connect(pilot)
        await DIALOGS[dialog](pilot)
        buttons = pilot.app.screen.query("Button")
        height = pilot.app.size.height
        assert all(0 <= b.region.y and b.region.bottom <= height for b in buttons
                   if b.display), f"{dialog}: a button is off-screen at {size}"

    picture(snap_compare, seeded_app(redis_url, tmp_path), size, run_before)


@size_ids
def test_filter_snapshot(snap_compare, redis_url, tmp_path, size):
    """`/` on the dead letters: the filter line and what it matched."""
    write_seed(redis_url)

    async def run_before(pilot) -> None:
        await connect(pilot)
        await dlq_filter(pilot)
        assert not scrollbar_glyphs(pilot.app)

    picture(snap_compare, seeded_app(redis_url, tmp_path), size, run_before)
