"""Panel 2: work queues and reliable queues, and the selected queue's items.

The queue table is on top; below it the highlighted queue's items, paged in windows of the
visible height (home head, end tail, pagedown/] next, pageup/[ previous, : jump to a
position). A reliable queue shows its processing list beside the main list, with each job's
age and a stale mark past the visibility timeout.

Keys on items: enter inspect, space mark, d delete selected (confirm), D purge the queue
(type its name), m move selected to another queue. On the processing list: a ack, r nack
(back to the head of the queue), R recover stale (preview, then move back).

Actions name the exact values shown (see backend/moves.py); reads run in workers and only
while this tab is shown; every server error becomes one line.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Awaitable, Callable, Sequence

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Static

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.bulk import BulkReport, Cancel, ChunkResult
from ferrite_tui.backend.client import describe_error
from ferrite_tui.ui.notices import RepeatingNotices
from ferrite_tui.backend.envelopes import Envelope, decode, printable
from ferrite_tui.backend.lists import ListItems, Page
from ferrite_tui.backend.models import QueueKind, QueueRef, QueueStats
from ferrite_tui.backend.moves import Item, PositionalPlan
from ferrite_tui.backend.reliable import DEFAULT_VISIBILITY_S, ReliableQueue
from ferrite_tui.ui.panels.base import Panel, alert_cell, key_cell, rate_cells, trend_cell
from ferrite_tui.ui.widgets.table import Column, KeyedTable


def row_key(item: Item) -> str:
    return f"{item.pos}:{hashlib.sha1(item.raw).hexdigest()[:16]}"


def age_text(env: Envelope, now_ms: int, t: int | None = None) -> str:
    t = env.time_ms if t is None else t
    if t is None:
        return "-"
    return fmt.duration(max(now_ms - t, 0))


def id_text(env: Envelope) -> Text:
    if env.id is not None:
        return Text(printable(env.id, 60), no_wrap=True, overflow="ellipsis")
    return Text(f"({env.kind})", style="dim")


# -- the item pager shared by panels 2 and 6 ----------------------------------------------

@dataclass
class Source:
    """Where an ItemTable's rows come from: a list key read in windows, or a fixed list of
    items (a filter's matches) paged in memory."""

    key: str
    items: list[Item] | None = None

    async def load(self, client, start: int, count: int) -> Page:
        if self.items is None:
            return await ListItems(client).page(self.key, start, count)
        n = len(self.items)
        if start < 0:
            start = max(n + start, 0)
        start = max(0, min(start, max(n - count, 0)))
        return Page(self.key, start, n, tuple(self.items[start:start + count]))


class ItemTable(KeyedTable):
    """One window of a list's items. The panel gives it columns and a row function."""

    BINDINGS = [
        Binding("home", "page('head')", "Head", id="items.head"),
        Binding("end", "page('tail')", "Tail", id="items.tail"),
        Binding("pagedown,right_square_bracket", "page('next')", "Next page", id="items.next"),
        Binding("pageup,left_square_bracket", "page('prev')", "Prev page", id="items.prev"),
        Binding("colon", "jump", "Jump to", id="items.jump"),
        Binding("space", "mark", "Mark", id="items.mark"),
        Binding("escape", "leave", "Back", id="items.back", show=False),
    ]

    def __init__(self, columns: list[Column],
                 row: Callable[[Item, Envelope, bool], dict[str, object]], **kwargs) -> None:
        super().__init__(columns, **kwargs)
        self.row_fn = row
        self.source: Source | None = None
        self.page: Page | None = None
        self.start = 0
        self.marks: dict[str, Item] = {}
        self.by_key: dict[str, Item] = {}
        self.on_leave: Callable[[], None] | None = None
        self.on_page: Callable[[str], None] | None = None
        self.load_seq = 0
        self.want_start = 0

    @property
    def window(self) -> int:
        if not self.size.height:
            return 20  # not laid out yet; the resize that follows reloads at the right size
        return max(self.size.height - 1, 3)

    def on_resize(self, event) -> None:
        super().on_resize(event)
        if self.source is not None and self.page is not None and self.on_page is not None \
                and len(self.page.items) != min(self.window, self.page.length):
            self.on_page("reload")

    def set_source(self, source: Source | None) -> None:
        if source != self.source:
            self.marks.clear()
            self.start = self.want_start = 0
            self.page = None
            self.set_rows([])
        self.source = source

    def show_page(self, page: Page) -> None:
        self.page = page
        self.start = page.start
        rows = []
        self.by_key = {}
        for item in page.items:
            key = row_key(item)
            self.by_key[key] = item
            rows.append((key, self.row_fn(item, decode(item.raw), key in self.marks)))
        self.set_rows(rows)

    def current(self) -> Item | None:
        key = self.cursor_key
        return self.by_key.get(key) if key else None

    def selected(self) -> list[Item]:
        """Marked items, else the one under the cursor."""
        if self.marks:
            return list(self.marks.values())
        item = self.current()
        return [item] if item else []

    def action_page(self, where: str) -> None:
        if self.on_page:
            self.on_page(where)

    def action_mark(self) -> None:
        key = self.cursor_key
        if key is None:
            return
        if key in self.marks:
            del self.marks[key]
        else:
            self.marks[key] = self.by_key[key]
        if self.page is not None:
            row = self.cursor_row
            self.show_page(self.page)
            if row + 1 < self.row_count:
                self.move_cursor(row=row + 1)

    def action_jump(self) -> None:
        if self.on_page:
            self.on_page("jump")

    def action_leave(self) -> None:
        # An open `/` filter is cleared first (the app's escape), as everywhere else.
        try:
            filter_input = self.app.query_one("#filter")
        except Exception:
            filter_input = None
        if filter_input is not None and filter_input.display:
            self.app.action_back()
            self.focus()
            return
        if self.on_leave:
            self.on_leave()


def mark_prefix(marked: bool) -> Text:
    return Text("●" if marked else " ", style="bold magenta")


class ItemPagerMixin:
    """Paging for a panel holding ItemTables: loads windows in a worker, keys for paging."""

    def notify(self, message: str, *, title: str = "", severity: str = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        # Notifications carry key names and server errors: literal text, never markup.
        super().notify(message, title=title, severity=severity,  # type: ignore[misc]
                       timeout=timeout, markup=markup)

    def item_client(self):
        monitor = self.app.monitor
        return monitor.client if monitor is not None else None

    def page_to(self, table: ItemTable, where: str) -> None:
        if table.source is None:
            return
        window = table.window
        if where == "head":
            start = 0
        elif where == "tail":
            start = -window
        elif where == "next":
            start = table.start + window
            if table.page is not None and start >= table.page.length:
                start = -window
        elif where == "prev":
            start = max(table.start - window, 0)
        elif where == "jump":
            self._ask_position(table)
            return
        else:
            start = None  # reload
        self.load_items(table, start, move_cursor=where in ("head", "tail", "next", "prev"))

    def _ask_position(self, table: ItemTable) -> None:
        from ferrite_tui.ui.screens.dialogs import Field, FormScreen

        def check(value: str) -> str | None:
            return None if value.strip().lstrip("-").isdigit() else "a whole number"

        def done(values: dict[str, str] | None) -> None:
            if values:
                pos = int(values["pos"])
                self.load_items(table, pos, move_cursor=True)

        length = table.page.length if table.page else 0
        self.app.push_screen(FormScreen(
            "Jump to position", [Field("pos", f"Position (0 … {max(length - 1, 0):,}; "
                                              "negative counts from the tail)", "", check=check)],
            submit_label="Go"), done)

    def load_items(self, table: ItemTable, start: int | None,
                   move_cursor: bool = False) -> None:
        """Load the window at `start` (None: reload the window last asked for, so a refresh
        never undoes a page move still in flight)."""
        if start is None:
            start = table.want_start
        else:
            table.want_start = start
        self._load_worker(table, start, move_cursor)

    @work(group="items-load", exit_on_error=False)
    async def _load_worker(self, table: ItemTable, start: int, move_cursor: bool) -> None:
        client = self.item_client()
        source = table.source
        if client is None or source is None:
            return
        table.load_seq += 1
        seq = table.load_seq
        try:
            page = await source.load(client, start, table.window)
        except Exception as exc:
            # Reloaded on every poll: a lasting error is one toast that counts, not a stack.
            if not hasattr(self, "_load_notices"):
                self._load_notices = RepeatingNotices()
            self._load_notices.show(self.app, f"load {source.key}",
                                    describe_error(exc, client.settings))
            return
        if table.source is not source or table.load_seq != seq:
            return  # a newer load (or another list) replaced this one
        table.show_page(page)
        if move_cursor and table.row_count:
            table.move_cursor(row=0)
        self.items_loaded(table, page)

    def items_loaded(self, table: ItemTable, page: Page) -> None:
        """Hook: a window arrived."""

    # -- bulk work with a progress dialog --------------------------------------------

    def journal(self):
        from pathlib import Path

        from ferrite_tui.backend.journal import Journal

        client = self.item_client()
        server = client.settings.server_identity if client is not None else ""
        return Journal(Path(self.app.audit_path).parent / "bulk", server=server)

    async def run_bulk(self, title: str, items: Sequence[Item],
                       chunk: Callable[[Sequence[Item]], Awaitable[ChunkResult]],
                       verb: str = "done", record=None) -> BulkReport:
        """Run chunks with a progress dialog; `record` (a journal BulkRecord) is kept up to
        date so a console killed mid-way is reported next time."""
        from ferrite_tui.ui.screens.progress import ProgressScreen

        journal = self.journal() if record is not None else None
        if journal is not None:
            journal.start(record)
        cancel = Cancel()
        screen = ProgressScreen(title, len(items), cancel)
        await self.app.push_screen(screen)  # mounted before finish() can dismiss it
        extra = {"unchanged": 0}

        async def counted(chunk_items: Sequence[Item]) -> ChunkResult:
            res = await chunk(chunk_items)
            extra["unchanged"] += getattr(res, "unchanged", 0)
            return res

        plan = PositionalPlan(items, max_items=200)
        report = BulkReport(total=plan.total)
        while True:
            if cancel.requested:
                report.cancelled = True
                break
            batch = plan.next_chunk()
            if not batch:
                break
            try:
                res = await counted(batch)
            except Exception as exc:
                report.failed += len(batch)
                report.errors.append(describe_error(exc))
                break
            plan.handled(len(batch))
            report.done += res.done
            report.skipped += res.skipped
            report.failed += res.failed
            report.errors.extend(res.errors[:3])
            screen.update(report)
            if journal is not None:
                record.done, record.skipped = report.done, report.skipped + report.failed
                journal.save(record)
        screen.finish(report)
        if journal is not None:
            journal.finish(record)
        report.unchanged = extra["unchanged"]  # type: ignore[attr-defined]
        return report


# -- panel 2 ----------------------------------------------------------------------------

class QueuesPanel(ItemPagerMixin, Panel):
    TITLE = "Queues"
    KINDS = (QueueKind.WORK, QueueKind.RELIABLE)

    DEFAULT_CSS = """
    QueuesPanel #table { height: 9; }
    QueuesPanel #items-title { height: 1; padding: 0 1; background: $boost; }
    QueuesPanel #items-box { height: 1fr; }
    QueuesPanel #items-box ItemTable { height: 1fr; width: 1fr; }
    QueuesPanel #proc { border-left: vkey $accent; }
    """

    BINDINGS = [
        Binding("d", "delete", "Delete", id="queues.delete"),
        Binding("D", "purge", "Purge", id="queues.purge"),
        Binding("m", "move", "Move", id="queues.move"),
        Binding("a", "ack", "Ack", id="queues.ack"),
        Binding("r", "nack", "Nack", id="queues.nack"),
        Binding("R", "recover", "Recover stale", id="queues.recover"),
        Binding("tab", "switch_list", "Switch list", id="queues.switch", show=False),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.current_ref: QueueRef | None = None

    def columns(self) -> list[Column]:
        return [
            Column("kind", "kind", 9, priority=2),
            Column("key", "key", 30),
            Column("depth", "depth", 8, justify="right"),
            Column("processing", "processing", 10, priority=1, justify="right"),
            Column("in", "in/s", 7, priority=1, justify="right"),
            Column("out", "out/s", 7, priority=1, justify="right"),
            Column("trend", "trend", 12, priority=3),
            Column("oldest", "oldest", 7, priority=2, justify="right"),
            Column("alerts", "alerts", 20),
        ]

    def row(self, q: QueueStats) -> dict[str, object]:
        return {
            "kind": q.ref.kind.label, "key": key_cell(q), "depth": fmt.count(q.depth),
            "processing": "-" if q.processing is None else fmt.count(q.processing),
            **rate_cells(q), "trend": trend_cell(q, self.history),
            "oldest": fmt.duration(q.oldest_ms), "alerts": alert_cell(q),
        }

    def item_columns(self) -> list[Column]:
        return [
            Column("mark", "", 1),
            Column("pos", "#", 7, justify="right"),
            Column("id", "id", 14, priority=1),
            Column("age", "age", 7, justify="right"),
            Column("preview", "payload", 40),
        ]

    def proc_columns(self) -> list[Column]:
        return [
            Column("mark", "", 1),
            Column("pos", "#", 5, justify="right"),
            Column("id", "id", 12, priority=1),
            Column("age", "age", 7, justify="right"),
            Column("stale", "", 5),
            Column("preview", "payload", 20, priority=2),
        ]

    def compose(self) -> ComposeResult:
        yield from super().compose()
        yield Static(Text("Highlight a queue to see its items; enter moves into them."),
                     id="items-title")
        with Horizontal(id="items-box"):
            yield ItemTable(self.item_columns(), self._item_row, id="items")
            yield ItemTable(self.proc_columns(), self._proc_row, id="proc")

    def on_mount(self) -> None:
        for table in (self.items_table, self.proc_table):
            table.on_leave = self.focus_queues
            table.on_page = (lambda where, t=table: self.page_to(t, where))
        self.proc_table.display = False

    @property
    def items_table(self) -> ItemTable:
        return self.query_one("#items", ItemTable)

    @property
    def proc_table(self) -> ItemTable:
        return self.query_one("#proc", ItemTable)

    def now_ms(self) -> int:
        return int(self.app.clock() * 1000)

    def visibility_ms(self, ref: QueueRef) -> int:
        monitor = self.app.monitor
        timeout = None
        if monitor is not None:
            timeout = monitor.poller.visibility_timeouts.get(ref.key)
            if timeout is None:
                timeout = monitor.config.alerts.processing_stale_seconds
        return int((timeout or DEFAULT_VISIBILITY_S) * 1000)

    def _item_row(self, item: Item, env: Envelope, marked: bool) -> dict[str, object]:
        return {"mark": mark_prefix(marked), "pos": f"{item.pos:,}", "id": id_text(env),
                "age": age_text(env, self.now_ms()), "preview": env.preview(200)}

    def _proc_row(self, item: Item, env: Envelope, marked: bool) -> dict[str, object]:
        stale = False
        if env.time_ms is not None and self.current_ref is not None:
            stale = self.now_ms() - env.time_ms > self.visibility_ms(self.current_ref)
        return {"mark": mark_prefix(marked), "pos": f"{item.pos:,}", "id": id_text(env),
                "age": age_text(env, self.now_ms()),
                "stale": Text("STALE", style="bold red") if stale else "",
                "preview": env.preview(120)}

    # -- selection and refresh -------------------------------------------------------

    @on(DataTable.RowHighlighted, "#table")
    def _queue_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.select_queue(self.ref_of(str(event.row_key.value)))

    def select_queue(self, ref: QueueRef | None) -> None:
        if ref == self.current_ref and ref is not None:
            return
        self.current_ref = ref
        items, proc = self.items_table, self.proc_table
        if ref is None:
            items.set_source(None)
            proc.set_source(None)
            return
        items.set_source(Source(ref.key))
        if ref.processing_key:
            proc.display = True
            proc.set_source(Source(ref.processing_key))
            self.load_items(proc, 0)
        else:
            proc.display = False
            proc.set_source(None)
        self.load_items(items, 0)

    def open_row(self, ident: str) -> None:
        self.select_queue(self.ref_of(ident))
        self.items_table.focus()

    def focus_queues(self) -> None:
        self.table.focus()

    def redraw(self) -> None:
        super().redraw()
        if self.current_ref is None and self.table.cursor_key:
            self.select_queue(self.ref_of(self.table.cursor_key))

    def update_snapshot(self, snap, history) -> None:
        super().update_snapshot(snap, history)
        if self.active() and self.current_ref is not None:
            for table in (self.items_table, self.proc_table):
                if table.source is not None and table.display:
                    self.load_items(table, None)

    def items_loaded(self, table: ItemTable, page: Page) -> None:
        ref = self.current_ref
        if ref is None:
            return
        main = self.items_table.page
        text = Text()
        text.append(printable(ref.key, 80), style="bold")
        if main is not None:
            if main.items:
                text.append(f"  items {main.start:,}–{main.end - 1:,} of {main.length:,}")
            else:
                text.append(f"  empty ({main.length:,})")
        if ref.processing_key and self.proc_table.page is not None:
            p = self.proc_table.page
            text.append(f"  · processing {p.length:,}")
        marks = len(self.items_table.marks) + len(self.proc_table.marks)
        if marks:
            text.append(f"  · {marks} marked", style="magenta")
        text.append("   home/end pgup/pgdn : jump · space mark · enter inspect", style="dim")
        self.query_one("#items-title", Static).update(text)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        event.prevent_default()  # Panel's handler (open_row for every table) must not run
        table = event.data_table
        if not isinstance(table, ItemTable):
            self.open_row(str(event.row_key.value))
            return
        item = table.by_key.get(str(event.row_key.value))
        if item is None or table.source is None:
            return
        from ferrite_tui.ui.screens.inspector import InspectorScreen

        env = decode(item.raw)
        meta = [("list", printable(table.source.key)), ("position", f"{item.pos:,}"),
                ("kind", env.kind)]
        if env.id is not None:
            meta.append(("id", env.id))
        if env.time_ms is not None:
            meta.append(("age", age_text(env, self.now_ms())))
        if env.retry_count is not None:
            meta.append(("retry_count", str(env.retry_count)))
        if env.last_error:
            meta.append(("last_error", env.last_error))
        self.app.push_screen(InspectorScreen(f"{table.source.key} #{item.pos}", item.raw,
                                             meta=meta))

    def action_switch_list(self) -> None:
        if self.proc_table.display and self.items_table.has_focus:
            self.proc_table.focus()
        elif self.proc_table.has_focus:
            self.items_table.focus()
        else:
            self.items_table.focus()

    # -- actions ----------------------------------------------------------------------

    def _focused_items(self) -> tuple[ItemTable | None, list[Item]]:
        for table in (self.items_table, self.proc_table):
            if table.has_focus:
                return table, table.selected()
        return None, []

    def _need_items(self, action: str) -> tuple[ItemTable, list[Item]] | None:
        table, items = self._focused_items()
        if table is None or not items:
            self.notify(f"'{action}': select an item first (enter moves into the items)",
                        timeout=3)
            return None
        return table, items

    def action_delete(self) -> None:
        if not self.app.writable("delete"):
            return
        got = self._need_items("delete")
        if got:
            self._delete_worker(*got)

    @work(group="queues-delete", exit_on_error=False)
    async def _delete_worker(self, table: ItemTable, items: list[Item]) -> None:
        from ferrite_tui.ui.screens.dialogs import ConfirmScreen

        key = table.source.key
        n = len(items)
        ok = await self.app.push_screen_wait(ConfirmScreen(
            "Delete items", Text(f"Delete {n} item{'s' if n != 1 else ''} from {printable(key)}?"
                                 " The exact values shown are removed; any already gone are "
                                 "skipped."), "Delete"))
        if not ok:
            return
        client = self.item_client()
        try:
            report = await self.run_bulk(f"Deleting {n} from {printable(key)}", items,
                                         lambda c: ListItems(client).delete(key, c))
        except Exception as exc:
            self.notify(describe_error(exc), severity="error")
            return
        self._finished(table, report, "deleted")

    def _finished(self, table: ItemTable, report: BulkReport, verb: str) -> None:
        table.marks.clear()
        self.call_after_refresh(table.focus)
        severity = "warning" if report.skipped or report.failed or report.cancelled else \
            "information"
        self.notify(report.summary(verb), severity=severity, timeout=6)
        self.load_items(table, None)
        other = self.proc_table if table is self.items_table else self.items_table
        if other.source is not None and other.display:
            self.load_items(other, None)
        if self.app.monitor is not None:
            self.app.monitor.poll_now()

    def action_purge(self) -> None:
        if not self.app.writable("purge"):
            return
        ref = self.current_ref
        if ref is None:
            self.notify("'purge': select a queue first", timeout=3)
            return
        table, _ = self._focused_items()
        key = table.source.key if table is not None and table.source else ref.key
        self._purge_worker(key)

    @work(group="queues-purge", exit_on_error=False)
    async def _purge_worker(self, key: str) -> None:
        from ferrite_tui.ui.screens.dialogs import TypedConfirmScreen

        client = self.item_client()
        try:
            length = int(await client.redis.llen(key))
        except Exception as exc:
            self.notify(describe_error(exc), severity="error")
            return
        ok = await self.app.push_screen_wait(TypedConfirmScreen(
            "Purge queue", Text(f"Delete the whole list {printable(key)}: {length:,} items "
                                "now (and any pushed before the purge runs). This cannot be "
                                "undone."), key))
        if not ok:
            return
        try:
            n = await ListItems(client).purge(key)
        except Exception as exc:
            self.notify(describe_error(exc), severity="error")
            return
        self.notify(f"Purged {printable(key)} ({n:,} items)", timeout=5)
        for table in (self.items_table, self.proc_table):
            if table.source is not None:
                self.load_items(table, 0)

    def action_move(self) -> None:
        if not self.app.writable("move"):
            return
        got = self._need_items("move")
        if got:
            self._move_worker(*got)

    @work(group="queues-move", exit_on_error=False)
    async def _move_worker(self, table: ItemTable, items: list[Item]) -> None:
        from ferrite_tui.ui.screens.dialogs import Field, FormScreen

        src = table.source.key
        values = await self.app.push_screen_wait(FormScreen(
            f"Move {len(items)} item(s) from {printable(src)}",
            [Field("target", "Target list (items go to its tail, unchanged)", "",
                   check=lambda v: None if v and v != src else "give another list's key")],
            submit_label="Move"))
        if not values:
            return
        dst = values["target"]
        client = self.item_client()
        report = await self.run_bulk(f"Moving {len(items)} to {printable(dst)}", items,
                                     lambda c: ListItems(client).move(src, dst, c))
        self._finished(table, report, "moved")

    def _proc_items(self, action: str) -> list[Item] | None:
        ref = self.current_ref
        if ref is None or not ref.processing_key:
            self.notify(f"'{action}': only reliable queues have a processing list", timeout=3)
            return None
        if not self.proc_table.has_focus:
            self.notify(f"'{action}': select a job in the processing list (tab)", timeout=3)
            return None
        items = self.proc_table.selected()
        if not items:
            self.notify(f"'{action}': the processing list is empty", timeout=3)
            return None
        return items

    def action_ack(self) -> None:
        if not self.app.writable("ack"):
            return
        items = self._proc_items("ack")
        if items:
            self._ack_worker(items, nack=False)

    def action_nack(self) -> None:
        if not self.app.writable("nack"):
            return
        items = self._proc_items("nack")
        if items:
            self._ack_worker(items, nack=True)

    @work(group="queues-ack", exit_on_error=False)
    async def _ack_worker(self, items: list[Item], nack: bool) -> None:
        from ferrite_tui.ui.screens.dialogs import ConfirmScreen

        ref = self.current_ref
        n = len(items)
        what = (f"Move {n} job(s) back to the head of {printable(ref.key)} (nack)?" if nack
                else f"Acknowledge {n} job(s): remove them from {printable(ref.processing_key)}?")
        ok = await self.app.push_screen_wait(ConfirmScreen("Nack" if nack else "Ack",
                                                           Text(what), "Nack" if nack else "Ack"))
        if not ok:
            return
        rq = ReliableQueue(self.item_client())
        fn = rq.nack if nack else rq.ack
        report = await self.run_bulk(("Nacking" if nack else "Acking") + f" {n} job(s)", items,
                                     lambda c: fn(ref, c))
        self._finished(self.proc_table, report, "nacked" if nack else "acked")

    def action_recover(self) -> None:
        if not self.app.writable("recover stale"):
            return
        ref = self.current_ref
        if ref is None or not ref.processing_key:
            self.notify("'recover stale': select a reliable queue first", timeout=3)
            return
        self._recover_worker(ref)

    @work(group="queues-recover", exit_on_error=False)
    async def _recover_worker(self, ref: QueueRef) -> None:
        from ferrite_tui.ui.screens.dialogs import ConfirmScreen

        rq = ReliableQueue(self.item_client())
        max_age = self.visibility_ms(ref)
        try:
            scan = await rq.find_stale(ref, max_age, self.now_ms())
        except Exception as exc:
            self.notify(describe_error(exc), severity="error")
            return
        if not scan.items:
            self.notify(f"No job in {printable(ref.processing_key)} is older than "
                        f"{fmt.duration(max_age)} ({scan.scanned:,} checked)", timeout=4)
            return
        preview = Text(f"{len(scan.items):,} job(s) in {printable(ref.processing_key)} are older "
                       f"than {fmt.duration(max_age)}; move them back to the head of "
                       f"{printable(ref.key)}:\n")
        now = self.now_ms()
        for item in scan.items[:8]:
            env = decode(item.raw)
            preview.append(f"\n  {printable(env.id or env.preview(36), 40):<40}  "
                           f"age {age_text(env, now)}")
        if len(scan.items) > 8:
            preview.append(f"\n  … and {len(scan.items) - 8:,} more")
        ok = await self.app.push_screen_wait(ConfirmScreen(
            "Recover stale jobs", preview, f"Recover {len(scan.items):,}"))
        if not ok:
            return
        report = await self.run_bulk(f"Recovering {len(scan.items):,} stale job(s)",
                                     list(scan.items), lambda c: rq.recover(ref, c))
        self._finished(self.proc_table, report, "recovered")
