"""The Streams panel's lower half: the pending entries of the selected group (or of one
consumer) or the stream browser, read by one refresh worker at a time (armed by the poll,
only while the tab is shown); its head line, and inspect."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text

from ferrite_tui import formatting as fmt
from ferrite_tui.backend import stream_ids
from ferrite_tui.backend import streams as st
from ferrite_tui.backend.envelopes import decode, printable
from ferrite_tui.backend.streams import GroupInfo, PendingEntry, PendingPage, StreamEntry, Streams
from ferrite_tui.ui.panels.streams.paging import BROWSE_PAGE

if TYPE_CHECKING:
    from ferrite_tui.ui.panels.streams.paging import StreamPaging
    from ferrite_tui.ui.panels.streams.tables import StreamTables
    from ferrite_tui.ui.panels.streams.view import StreamsView

OVERVIEW_EVERY_S = 5.0
TAIL_KEEP = 500
SORTS = ("id", "idle", "deliveries", "consumer")


class StreamDetail:
    """What the lower half shows (the page of pending entries, their bodies, the browser's
    rows) and the one refresh worker that reads them."""

    def __init__(self, view: StreamsView, tables: StreamTables, paging: StreamPaging) -> None:
        self.view = view
        self.tables = tables
        self.paging = paging
        self.page: PendingPage | None = None  # the pending entries shown
        self.bodies: dict[str, StreamEntry | None] = {}  # their entries (None: deleted)
        self.browser_rows: list[StreamEntry] = []
        self.error: str | None = None  # the last read's failure, one line
        self.refreshing = False  # a refresh worker runs
        self.again = False  # ... and reads once more when done
        self.alerted: set[tuple[str, str, str]] = set()  # (stream, group, "alert") toasted

    # -- reading -----------------------------------------------------------------------

    def refresh(self) -> None:
        if self.refreshing:
            self.again = True
            return
        self.refreshing = True
        self.view.run_worker(self._refresh_loop(), name="stream reads",
                             group="streams-refresh", exit_on_error=False)

    async def _refresh_loop(self) -> None:
        try:
            while True:
                self.again = False
                try:
                    await self._refresh_once()
                    self.error = None
                except Exception as exc:  # one line, never a traceback
                    self.error = self.view.session.describe(exc)
                self.draw_head()
                if not self.again:
                    break
        finally:
            self.refreshing = False

    async def _refresh_once(self) -> None:
        view, tables = self.view, self.tables
        backend = view.backend()
        if backend is None or view.snapshot is None:
            return
        keys = [q.ref.key for q in view.items(view.snapshot)]
        if keys and time.monotonic() - tables.summaries_at >= OVERVIEW_EVERY_S:
            tables.summaries_at = time.monotonic()
            tables.summaries = await backend.overview(keys[:500])
            view.redraw()
        stream = tables.stream
        if stream is None:
            return
        groups = await backend.groups(stream)
        if stream != tables.stream:
            return
        tables.group_rows = groups
        self._record_lag(stream, groups)
        tables.draw_groups()
        names = [g.name for g in groups]
        if tables.group not in names:
            cursor = view.groups_table.cursor_key
            view.set_group(cursor if cursor in names else (names[0] if names else None))
        group = tables.group
        if view.mode == "browser":
            await self._refresh_browser(backend, stream)
        if group is None:
            return
        consumers = await backend.consumers(stream, group)
        if (stream, group) != (tables.stream, tables.group):
            return
        tables.consumer_rows = consumers
        tables.draw_consumers()
        if view.mode == "pending":
            page = await backend.pending_page(
                stream, group, start=view.page_start, count=st.PAGE_SIZE,
                min_idle_ms=view.min_idle_ms, consumer=view.consumer)
            # Entries trimmed away since their body was cached show as deleted.
            first = tables.summaries.get(stream)
            floor = stream_ids.parse_id(first.first_id) if first and first.first_id else None
            if floor is not None or (first and first.length == 0):
                for e in page.entries:
                    if self.bodies.get(e.id) is not None and (
                            floor is None or stream_ids.id_order(e.id) < floor):
                        self.bodies[e.id] = None
            missing = [e.id for e in page.entries if e.id not in self.bodies]
            if missing:
                self.bodies.update(await backend.entries(stream, missing))
            if (stream, group) != (tables.stream, tables.group):
                return
            if len(self.bodies) > 5_000:
                keep = {e.id for e in page.entries}
                self.bodies = {k: v for k, v in self.bodies.items() if k in keep}
            self.page = page
            self.draw_pending()

    async def _refresh_browser(self, backend: Streams, stream: str) -> None:
        if self.view.tail and self.view.browser_end == "+" and self.browser_rows:
            new = await backend.newer(stream, self.browser_rows[0].id, count=TAIL_KEEP)
            rows = (new + self.browser_rows)[:TAIL_KEEP]
            # A trimmed or deleted stream: drop rows the server no longer has.
            first = self.tables.summaries.get(stream)
            if first and first.first_id:
                floor = stream_ids.parse_id(first.first_id)
                rows = [r for r in rows if floor is None or stream_ids.id_order(r.id) >= floor]
        else:
            rows = await backend.browse(stream, end=self.view.browser_end, count=BROWSE_PAGE)
        if stream == self.tables.stream:
            self.browser_rows = rows
            self.draw_browser()

    def _record_lag(self, stream: str, groups: list[GroupInfo]) -> None:
        """Where the poll has no lag (Ferrite, Redis 6), keep the computed one for the plot."""
        history = self.view.history
        if history is None or self.view.snapshot is None:
            return
        stats = self.tables.polled_stream(stream)
        if stats is None:
            return
        ident = stats.ref.ident
        polled = {g.name: g.lag for g in stats.groups}
        now = time.monotonic()
        for g in groups:
            if polled.get(g.name) is None and g.lag is not None:
                history.series(ident, f"lag:{g.name}").add(now, g.lag)
            self._check_alerts(stream, g)

    def _check_alerts(self, stream: str, g: GroupInfo) -> None:
        """A toast when the poll's group alert turns on (the poll computes it)."""
        polled = self.tables.polled_group(g.name)
        key = (stream, g.name, "alert")
        if polled is not None and polled.alerts and key not in self.alerted:
            self.alerted.add(key)
            self.view.notify(f"{printable(stream, 40)} / {printable(g.name, 30)}: "
                             f"{', '.join(polled.alerts)}", severity="warning", timeout=6)
        elif polled is None or not polled.alerts:
            self.alerted.discard(key)

    def reset_pages(self) -> None:
        """Back to the first page of pending entries (a new stream, group or filter)."""
        self.page = None
        self.paging.page_stack = []
        self.view.pending_table.set_rows([])
        self.view.page_start = "-"

    def show(self, mode: str) -> None:
        """p / b: the pending entries or the browser, focused and read now."""
        view = self.view
        view.mode = mode
        (view.pending_table if mode == "pending" else view.browser_table).focus()
        self.draw_head()
        self.refresh()

    # -- drawing -----------------------------------------------------------------------

    def shown_entries(self) -> list[PendingEntry]:
        if self.page is None:
            return []
        entries = list(self.page.entries)
        sort = self.view.sort
        if sort == "idle":
            entries.sort(key=lambda e: -e.idle_ms)
        elif sort == "deliveries":
            entries.sort(key=lambda e: -e.deliveries)
        elif sort == "consumer":
            entries.sort(key=lambda e: e.consumer)
        return entries

    def selected_entry(self) -> PendingEntry | None:
        return self.view.pending_table.current()

    def draw_pending(self) -> None:
        now_ms = self.view.session.now_ms()
        poison_at = self.tables.poison_at
        rows: list[tuple[str, PendingEntry, dict[str, object]]] = []
        for e in self.shown_entries():
            if e.id not in self.bodies:
                preview = Text("…", style="dim")
            elif (body := self.bodies[e.id]) is None:
                preview = Text("(deleted from the stream)", style="italic red")
            else:
                preview = Text(body.preview(120), no_wrap=True, overflow="ellipsis")
            poison = e.is_poison(poison_at)
            t = stream_ids.id_ms(e.id)
            rows.append((e.id, e, {
                "mark": Text("P!", style="bold red") if poison else Text(""),
                "id": e.id,
                "consumer": Text(printable(e.consumer, 60), no_wrap=True, overflow="ellipsis"),
                "idle": fmt.duration(e.idle_ms),
                "deliveries": Text(str(e.deliveries), style="bold red" if poison else ""),
                "age": "-" if t is None else fmt.duration(max(now_ms - t, 0)),
                "preview": preview,
            }))
        table = self.view.pending_table
        table.show(rows)
        self.paging.place_cursor(table)

    def draw_browser(self) -> None:
        now_ms = self.view.session.now_ms()
        rows: list[tuple[str, StreamEntry, dict[str, object]]] = []
        for e in self.browser_rows:
            t = stream_ids.id_ms(e.id)
            rows.append((e.id, e, {
                "id": e.id,
                "age": "-" if t is None else fmt.duration(max(now_ms - t, 0)),
                "nfields": len(e.fields),
                "preview": Text(e.preview(160), no_wrap=True, overflow="ellipsis"),
            }))
        table = self.view.browser_table
        table.show(rows)
        self.paging.place_cursor(table)

    def draw_now(self) -> None:
        """The list shown drawn again as it is (after home or end on the same page)."""
        if self.view.mode == "browser":
            self.draw_browser()
        else:
            self.draw_pending()

    def draw_head(self) -> None:
        view, tables = self.view, self.tables
        stream, group, consumer = tables.stream, tables.group, view.consumer
        head = Text()
        if self.error:
            head.append(printable(self.error, 200), style="bold red")
        elif stream is None:
            head.append("select a stream", style="dim")
        elif view.mode == "browser":
            head.append("entries of ", style="dim")
            head.append(printable(stream, 50), style="bold")
            head.append(" newest first" if view.browser_end == "+" else
                        f" at or before {view.browser_end}")
            head.append(f" · {len(self.browser_rows)} shown")
            head.append(" · LIVE TAIL" if view.tail else "", style="bold green")
            head.append("  ] older · [ newest · t tail · g go to · p pending", style="dim")
        elif group is None:
            head.append("no consumer groups on this stream: G creates one", style="dim")
        else:
            head.append("pending of ", style="dim")
            head.append(printable(group, 40), style="bold")
            if consumer is not None:
                head.append(" held by ", style="dim")
                head.append(printable(consumer, 40), style="bold")
            if view.min_idle_ms:
                head.append(f" · idle ≥ {fmt.duration(view.min_idle_ms)}")
            page_no = len(self.paging.page_stack) + 1
            shown = len(self.page.entries) if self.page else 0
            head.append(f" · page {page_no}, {shown} shown")
            if self.page is not None and self.page.next_start:
                head.append(" (more: ])")
            head.append(f" · sort {view.sort}")
            poison_at = self.tables.poison_at
            poison = sum(1 for e in self.shown_entries() if e.is_poison(poison_at))
            if poison:
                head.append(f" · {poison} poison (≥{poison_at} deliveries)",
                            style="bold red")
            head.append("  c/C claim a/A ack k/K DLQ i idle s sort", style="dim")
        view.detail_head.update(head)

    # -- inspect -----------------------------------------------------------------------

    def inspect(self, entry_id: str) -> None:
        if self.tables.stream is not None:
            self.view.run_worker(self._inspect(self.tables.stream, entry_id), name="inspect",
                                 group="streams-inspect", exit_on_error=False)

    async def _inspect(self, stream: str, entry_id: str) -> None:
        view = self.view
        backend = view.backend()
        if backend is None:
            return
        entry = (await backend.entries(stream, [entry_id]))[entry_id]
        meta = [("stream", printable(stream, 200)), ("id", entry_id)]
        t = stream_ids.id_ms(entry_id)
        if t is not None:
            meta.append(("added", datetime.fromtimestamp(t / 1000).isoformat(
                sep=" ", timespec="seconds")))
        pending = next((e for e in (self.page.entries if self.page else ())
                        if e.id == entry_id), None)
        if pending is not None and view.mode == "pending":
            meta += [("group", printable(self.tables.group or "", 100)),
                     ("consumer", printable(pending.consumer, 100)),
                     ("idle", fmt.duration(pending.idle_ms)),
                     ("deliveries", str(pending.deliveries)
                      + ("  (poison)" if pending.is_poison(self.tables.poison_at) else ""))]
        if entry is None:
            meta.append(("note", "this entry is no longer in the stream (deleted or trimmed)"))
            view.inspect_value(f"{stream} {entry_id}", b"", meta, fields=[])
            return
        data = entry.data
        if data is None:
            meta.append(("note", "no `data` field: all fields are shown"))
        else:
            meta.append(("data", decode(data).kind))
        view.inspect_value(f"{stream} {entry_id}", data if data is not None else b"", meta,
                           fields=list(entry.fields))
