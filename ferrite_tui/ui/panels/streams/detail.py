"""The Streams panel's lower half: the pending entries of the selected group (or of one
consumer) or the stream browser, read by one refresh worker at a time (armed by the poll,
only while the tab is shown); view controls, paging, tail, and inspect."""

from __future__ import annotations

import time
from datetime import datetime

from rich.text import Text
from textual import work
from textual.widgets import Static

from ferrite_tui import formatting as fmt
from ferrite_tui.backend import stream_ids
from ferrite_tui.backend import streams as st
from ferrite_tui.backend.envelopes import decode, printable
from ferrite_tui.backend.streams import (
    ConsumerInfo,
    GroupInfo,
    PendingEntry,
    StreamEntry,
    Streams,
)
from ferrite_tui.ui.panels.base import NothingSelected, Outcome
from ferrite_tui.ui.panels.streams.paging import BROWSE_PAGE, parse_when
from ferrite_tui.ui.panels.streams.tables import (
    OVERVIEW_EVERY_S,
    SORTS,
    TAIL_KEEP,
    StreamTables,
)
from ferrite_tui.ui.screens.dialogs import Field


class StreamDetail(StreamTables):
    # -- reading -----------------------------------------------------------------------

    def refresh_detail(self) -> None:
        if self._refreshing:
            self._again = True
            return
        self._refreshing = True
        self._refresh_worker()

    @work(group="streams-refresh", exit_on_error=False)
    async def _refresh_worker(self) -> None:
        try:
            while True:
                self._again = False
                try:
                    await self._refresh_once()
                    self.detail_error = None
                except Exception as exc:  # one line, never a traceback
                    self.detail_error = self.session.describe(exc)
                self.draw_detail()
                if not self._again:
                    break
        finally:
            self._refreshing = False

    async def _refresh_once(self) -> None:
        backend = self.backend()
        if backend is None or self.snapshot is None:
            return
        keys = [q.ref.key for q in self.items(self.snapshot)]
        if keys and time.monotonic() - self._summaries_at >= OVERVIEW_EVERY_S:
            self._summaries_at = time.monotonic()
            self.summaries = await backend.overview(keys[:500])
            self.redraw()
        stream = self.stream
        if stream is None:
            return
        groups = await backend.groups(stream)
        if stream != self.stream:
            return
        self.group_rows = groups
        self._record_lag(stream, groups)
        self._draw_groups()
        names = [g.name for g in groups]
        if self.group not in names:
            self._select_group(self.groups_table.cursor_key if self.groups_table.cursor_key
                               in names else (names[0] if names else None))
        group = self.group
        if self.mode == "browser":
            await self._refresh_browser(backend, stream)
        if group is None:
            return
        consumers = await backend.consumers(stream, group)
        if (stream, group) != (self.stream, self.group):
            return
        self.consumer_rows = consumers
        self._draw_consumers()
        if self.mode == "pending":
            page = await backend.pending_page(
                stream, group, start=self.page_start, count=st.PAGE_SIZE,
                min_idle_ms=self.min_idle_ms, consumer=self.consumer)
            # Entries trimmed away since their body was cached show as deleted.
            first = self.summaries.get(stream)
            floor = stream_ids.parse_id(first.first_id) if first and first.first_id else None
            if floor is not None or (first and first.length == 0):
                for e in page.entries:
                    if self.bodies.get(e.id) is not None and (
                            floor is None or stream_ids.id_order(e.id) < floor):
                        self.bodies[e.id] = None
            missing = [e.id for e in page.entries if e.id not in self.bodies]
            if missing:
                self.bodies.update(await backend.entries(stream, missing))
            if (stream, group) != (self.stream, self.group):
                return
            if len(self.bodies) > 5_000:
                keep = {e.id for e in page.entries}
                self.bodies = {k: v for k, v in self.bodies.items() if k in keep}
            self.page = page
            self._draw_pending()

    async def _refresh_browser(self, backend: Streams, stream: str) -> None:
        if self.tail and self.browser_end == "+" and self.browser_rows:
            new = await backend.newer(stream, self.browser_rows[0].id, count=TAIL_KEEP)
            rows = (new + self.browser_rows)[:TAIL_KEEP]
            # A trimmed or deleted stream: drop rows the server no longer has.
            first = self.summaries.get(stream)
            if first and first.first_id:
                floor = stream_ids.parse_id(first.first_id)
                rows = [r for r in rows if floor is None or stream_ids.id_order(r.id) >= floor]
        else:
            rows = await backend.browse(stream, end=self.browser_end, count=BROWSE_PAGE)
        if stream == self.stream:
            self.browser_rows = rows
            self._draw_browser()

    def _record_lag(self, stream: str, groups: list[GroupInfo]) -> None:
        """Where the poll has no lag (Ferrite, Redis 6), keep the computed one for the plot."""
        history = self.history
        if history is None or self.snapshot is None:
            return
        stats = self.polled_stream(stream)
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
        polled = self._polled_group(g.name)
        key = (stream, g.name, "alert")
        if polled is not None and polled.alerts and key not in self._alerted:
            self._alerted.add(key)
            self.notify(f"{printable(stream, 40)} / {printable(g.name, 30)}: "
                        f"{', '.join(polled.alerts)}", severity="warning", timeout=6)
        elif polled is None or not polled.alerts:
            self._alerted.discard(key)


    def shown_entries(self) -> list[PendingEntry]:
        if self.page is None:
            return []
        entries = list(self.page.entries)
        if self.sort == "idle":
            entries.sort(key=lambda e: -e.idle_ms)
        elif self.sort == "deliveries":
            entries.sort(key=lambda e: -e.deliveries)
        elif self.sort == "consumer":
            entries.sort(key=lambda e: e.consumer)
        return entries

    def _draw_pending(self) -> None:
        now_ms = self.session.now_ms()
        rows: list[tuple[str, PendingEntry, dict[str, object]]] = []
        for e in self.shown_entries():
            if e.id not in self.bodies:
                preview = Text("…", style="dim")
            elif (body := self.bodies[e.id]) is None:
                preview = Text("(deleted from the stream)", style="italic red")
            else:
                preview = Text(body.preview(120), no_wrap=True, overflow="ellipsis")
            poison = e.is_poison(self.poison_at)
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
        self.pending_table.show(rows)
        self.paging.place_cursor(self.pending_table)

    def _draw_browser(self) -> None:
        now_ms = self.session.now_ms()
        rows: list[tuple[str, StreamEntry, dict[str, object]]] = []
        for e in self.browser_rows:
            t = stream_ids.id_ms(e.id)
            rows.append((e.id, e, {
                "id": e.id,
                "age": "-" if t is None else fmt.duration(max(now_ms - t, 0)),
                "nfields": len(e.fields),
                "preview": Text(e.preview(160), no_wrap=True, overflow="ellipsis"),
            }))
        self.browser_table.show(rows)
        self.paging.place_cursor(self.browser_table)

    def draw_now(self) -> None:
        """The list shown drawn again as it is (after home or end on the same page)."""
        if self.mode == "browser":
            self._draw_browser()
        else:
            self._draw_pending()

    def draw_detail(self) -> None:
        head = Text()
        if self.detail_error:
            head.append(printable(self.detail_error, 200), style="bold red")
        elif self.stream is None:
            head.append("select a stream", style="dim")
        elif self.mode == "browser":
            head.append("entries of ", style="dim")
            head.append(printable(self.stream, 50), style="bold")
            head.append(" newest first" if self.browser_end == "+" else
                        f" at or before {self.browser_end}")
            head.append(f" · {len(self.browser_rows)} shown")
            head.append(" · LIVE TAIL" if self.tail else "", style="bold green")
            head.append("  ] older · [ newest · t tail · g go to · p pending", style="dim")
        elif self.group is None:
            head.append("no consumer groups on this stream: G creates one", style="dim")
        else:
            head.append("pending of ", style="dim")
            head.append(printable(self.group, 40), style="bold")
            if self.consumer is not None:
                head.append(" held by ", style="dim")
                head.append(printable(self.consumer, 40), style="bold")
            if self.min_idle_ms:
                head.append(f" · idle ≥ {fmt.duration(self.min_idle_ms)}")
            page_no = len(self.page_stack) + 1
            shown = len(self.page.entries) if self.page else 0
            head.append(f" · page {page_no}, {shown} shown")
            if self.page is not None and self.page.next_start:
                head.append(" (more: ])")
            head.append(f" · sort {self.sort}")
            poison = sum(1 for e in self.shown_entries() if e.is_poison(self.poison_at))
            if poison:
                head.append(f" · {poison} poison (≥{self.poison_at} deliveries)",
                            style="bold red")
            head.append("  c/C claim a/A ack k/K DLQ i idle s sort", style="dim")
        self.query_one("#detail-head", Static).update(head)


    # -- selected things ---------------------------------------------------------------

    def selected_entry(self) -> PendingEntry | None:
        return self.pending_table.current()

    def selected_consumer(self) -> ConsumerInfo | None:
        key = self.consumers_table.cursor_key
        return next((c for c in self.consumer_rows if c.name == key), None)

    def selected_group(self) -> GroupInfo | None:
        return next((g for g in self.group_rows if g.name == self.group), None)

    def stream_selected(self) -> str:
        if self.stream is None:
            raise NothingSelected("select a stream first")
        return self.stream

    def group_selected(self) -> tuple[str, str]:
        if self.stream is None or self.group is None:
            raise NothingSelected("select a stream and a consumer group first")
        return self.stream, self.group

    def entry_selected(self) -> tuple[str, str, PendingEntry]:
        stream, group = self.group_selected()
        if self.mode != "pending":
            raise NothingSelected("these keys act on pending entries: p shows them")
        entry = self.selected_entry()
        if entry is None:
            raise NothingSelected("no pending entry selected")
        return stream, group, entry

    def _default_consumer(self, holders: tuple[str, ...] = ()) -> str | None:
        """A consumer seen reading recently (not a holder, not dead), or None: no default."""
        return st.claim_target(self.consumer_rows, holders, self._dead_consumers(), self.dead_ms)

    def _idle_holders(self, min_idle_ms: int) -> tuple[str, ...]:
        polled = self._polled_group(self.group)
        return tuple(c.name for c in polled.holders
                     if (c.oldest_idle_ms or 0) >= min_idle_ms) if polled else ()

    async def _target_confirmed(self, consumer: str, holders: tuple[str, ...]) -> bool:
        """Claiming to a dead consumer, to the holder itself, or to a name not seen reading
        recently (maybe no process runs it) needs an explicit yes."""
        reading = any(c.name == consumer and c.reading(self.dead_ms) for c in self.consumer_rows)
        if consumer not in self._dead_consumers() and consumer not in holders and reading:
            return True
        why = "holds these entries already" if consumer in holders else \
            "is dead (none of its entries moved)" if consumer in self._dead_consumers() else \
            (f"has not read from this group in the last {fmt.duration(self.dead_ms)} (no "
             "process may run under that name)")
        return await self.confirm(
            "Claim to this consumer?",
            Text(f"{printable(consumer, 60)} {why}: entries claimed to it are not "
                 "processed, and its idle time resets, hiding that it is stuck."),
            "Claim anyway")

    def _consumer_list(self) -> Text:
        out = Text("Consumers of this group: ")
        if not self.consumer_rows:
            out.append("none yet", style="dim")
        for i, c in enumerate(self.consumer_rows):
            if i:
                out.append(", ")
            out.append(printable(c.name, 40), style="bold")
            state = ("dead" if c.name in self._dead_consumers() else
                     "live" if c.reading(self.dead_ms) else "not reading")
            out.append(f" ({c.pending} pending, idle {fmt.duration(c.idle_ms)}, {state})")
        return out

    def after_action(self) -> None:
        self.bodies.clear()
        self.refresh_detail()
        super().after_action()

    # -- inspect -----------------------------------------------------------------------

    def inspect(self, entry_id: str) -> None:
        if self.stream is not None:
            self._inspect_worker(self.stream, entry_id)

    @work(group="streams-inspect", name="inspect", exit_on_error=False)
    async def _inspect_worker(self, stream: str, entry_id: str) -> None:

        backend = self.backend()
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
        if pending is not None and self.mode == "pending":
            meta += [("group", printable(self.group or "", 100)),
                     ("consumer", printable(pending.consumer, 100)),
                     ("idle", fmt.duration(pending.idle_ms)),
                     ("deliveries", str(pending.deliveries)
                      + ("  (poison)" if pending.is_poison(self.poison_at) else ""))]
        if entry is None:
            meta.append(("note", "this entry is no longer in the stream (deleted or trimmed)"))
            self.inspect_value(f"{stream} {entry_id}", b"", meta, fields=[])
            return
        data = entry.data
        if data is None:
            meta.append(("note", "no `data` field: all fields are shown"))
        else:
            meta.append(("data", decode(data).kind))
        self.inspect_value(f"{stream} {entry_id}", data if data is not None else b"", meta,
                           fields=list(entry.fields))


    # -- view controls -----------------------------------------------------------------

    def action_min_idle(self) -> None:
        self.act("min_idle", lambda: None, self._min_idle)

    async def _min_idle(self, _: None) -> Outcome | None:
        def check(v: str) -> str | None:
            try:
                return None if float(v or 0) >= 0 else "must be ≥ 0"
            except ValueError:
                return "a number of seconds"

        values = await self.ask("Show pending entries idle at least", [
            Field("idle", "seconds (0: all)", str(self.min_idle_ms // 1000), check=check)])
        if values is not None:
            self.min_idle_ms = int(float(values["idle"] or 0) * 1000)
        return None

    # -- view state: each change redraws what shows it -------------------------------

    def watch_mode(self, mode: str) -> None:
        self.pending_table.display = mode == "pending"
        self.browser_table.display = mode == "browser"
        self.draw_detail()

    def watch_min_idle_ms(self) -> None:
        self._reset_pages()
        self.draw_detail()
        self.refresh_detail()

    def watch_tail(self, tail: bool) -> None:
        if tail:
            self.browser_stack = []
            self.browser_end = "+"
        self.draw_detail()
        self.refresh_detail()

    def watch_consumer(self) -> None:
        self._reset_pages()
        self._draw_consumers()
        self.draw_detail()
        self.refresh_detail()

    def watch_page_start(self) -> None:
        self.draw_detail()
        self.refresh_detail()

    def watch_browser_end(self) -> None:
        self.draw_detail()
        self.refresh_detail()

    def watch_sort(self) -> None:
        self._draw_pending()
        self.draw_detail()

    def action_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]

    def action_show_pending(self) -> None:
        self._show_mode("pending")
        self.pending_table.focus()
        self.draw_detail()
        self.refresh_detail()

    def action_show_browser(self) -> None:
        if self.stream is None:
            self.notify("select a stream first", timeout=3)
            return
        self._show_mode("browser")
        self.browser_table.focus()
        self.draw_detail()
        self.refresh_detail()

    def action_tail(self) -> None:
        if self.mode != "browser":
            self.action_show_browser()
        self.tail = not self.tail

    def action_goto(self) -> None:
        self.act("goto", self.stream_selected, self._goto)

    async def _goto(self, _: str) -> Outcome | None:
        def check(v: str) -> str | None:
            return None if parse_when(v, self.session.now_ms()) else \
                "an id, epoch ms, ISO time (2026-01-31T10:00) or -5m / -2h"

        values = await self.ask("Go to an id or a time", [
            Field("when", "entries at or before", "-5m", check=check)])
        if values:
            self._show_mode("browser")
            self.tail = False
            self.browser_stack = []
            self.browser_end = parse_when(values["when"], self.session.now_ms()) or "+"
            self.browser_table.focus()
        return None
