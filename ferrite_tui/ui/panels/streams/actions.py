"""The Streams panel's actions: what each key selects (at once, on the key press) and the
steps that run in the panel's action pipeline (dialogs, then one backend call or a bulk
run); also the view dialogs (min idle, go to). The panel's `action_*` methods are the
entry points (`panel.act(name, actions.<selection>, actions.<steps>)`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from ferrite_tui import formatting as fmt
from ferrite_tui.backend import stream_ids
from ferrite_tui.backend import streams as st
from ferrite_tui.backend.bulk import BulkRunner
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.streambulk import IdlePages, PendingRun
from ferrite_tui.backend.streams import ConsumerInfo, PendingEntry
from ferrite_tui.ui.panels.base import NothingSelected, Outcome
from ferrite_tui.ui.panels.streams.paging import parse_when
from ferrite_tui.ui.screens.dialogs import ChoiceScreen, Field
from ferrite_tui.ui.screens.publish import PublishScreen

if TYPE_CHECKING:
    from ferrite_tui.ui.panels.streams.detail import StreamDetail
    from ferrite_tui.ui.panels.streams.tables import StreamTables
    from ferrite_tui.ui.panels.streams.view import StreamsView


class StreamActions:
    """The selections and steps of the Streams panel's actions (no state of its own: it
    reads the selection from the tables and the detail)."""

    def __init__(self, view: StreamsView, tables: StreamTables, detail: StreamDetail) -> None:
        self.view = view
        self.tables = tables
        self.detail = detail

    def dlq_key(self) -> str:
        suffix = self.view.session.config.discovery.dlq_suffix or ":dlq"
        return f"{self.tables.stream}{suffix}"

    # -- selections: raise NothingSelected with a hint ---------------------------------

    def stream_selected(self) -> str:
        if self.tables.stream is None:
            raise NothingSelected("select a stream first")
        return self.tables.stream

    def publish_target(self) -> str:
        """The stream the publish dialog starts with (any: the dialog names it)."""
        return self.tables.stream or ""

    def group_selected(self) -> tuple[str, str]:
        stream, group = self.tables.stream, self.tables.group
        if stream is None or group is None:
            raise NothingSelected("select a stream and a consumer group first")
        return stream, group

    def entry_selected(self) -> tuple[str, str, PendingEntry]:
        stream, group = self.group_selected()
        if self.view.mode != "pending":
            raise NothingSelected("these keys act on pending entries: p shows them")
        entry = self.detail.selected_entry()
        if entry is None:
            raise NothingSelected("no pending entry selected")
        return stream, group, entry

    def shown_selected(self) -> tuple[str, str, list[PendingEntry]]:
        """The pending entries shown (A)."""
        stream, group = self.group_selected()
        entries = self.detail.shown_entries() if self.view.mode == "pending" else []
        if not entries:
            raise NothingSelected("no pending entries shown")
        return stream, group, entries

    def poison_selected(self) -> tuple[str, str, list[PendingEntry]]:
        """The entry selected, if poison (k)."""
        stream, group, entry = self.entry_selected()
        poison_at = self.tables.poison_at
        if not entry.is_poison(poison_at):
            raise NothingSelected(
                f"entry {entry.id} has {entry.deliveries} deliveries, under the poison "
                f"threshold {poison_at}: not moved")
        return stream, group, [entry]

    def poison_shown(self) -> tuple[str, str, list[PendingEntry]]:
        """The poison entries shown (K)."""
        stream, group = self.group_selected()
        poison_at = self.tables.poison_at
        entries = [e for e in self.detail.shown_entries() if e.is_poison(poison_at)]
        if not entries:
            raise NothingSelected(f"no poison entries shown (≥{poison_at} deliveries)")
        return stream, group, entries

    def consumer_selected(self) -> tuple[str, str, ConsumerInfo]:
        stream, group = self.group_selected()
        selected = self.tables.selected_consumer()
        if selected is None or self.view.app.focused is not self.view.consumers_table:
            raise NothingSelected("select a consumer in the consumers table (tab to it), "
                                  "then d")
        return stream, group, selected

    # -- claim targets -----------------------------------------------------------------

    def default_consumer(self, holders: tuple[str, ...] = ()) -> str | None:
        """A consumer seen reading recently (not a holder, not dead), or None: no default."""
        return st.claim_target(self.tables.consumer_rows, holders,
                               self.tables.dead_consumers(), self.tables.dead_ms)

    def idle_holders(self, min_idle_ms: int) -> tuple[str, ...]:
        polled = self.tables.polled_group(self.tables.group)
        return tuple(c.name for c in polled.holders
                     if (c.oldest_idle_ms or 0) >= min_idle_ms) if polled else ()

    async def target_confirmed(self, consumer: str, holders: tuple[str, ...]) -> bool:
        """Claiming to a dead consumer, to the holder itself, or to a name not seen reading
        recently (maybe no process runs it) needs an explicit yes."""
        dead_ms, dead = self.tables.dead_ms, self.tables.dead_consumers()
        reading = any(c.name == consumer and c.reading(dead_ms)
                      for c in self.tables.consumer_rows)
        if consumer not in dead and consumer not in holders and reading:
            return True
        why = "holds these entries already" if consumer in holders else \
            "is dead (none of its entries moved)" if consumer in dead else \
            (f"has not read from this group in the last {fmt.duration(dead_ms)} (no "
             "process may run under that name)")
        return await self.view.confirm(
            "Claim to this consumer?",
            Text(f"{printable(consumer, 60)} {why}: entries claimed to it are not "
                 "processed, and its idle time resets, hiding that it is stuck."),
            "Claim anyway")

    # -- actions: claim ----------------------------------------------------------------

    async def claim(self, target: tuple[str, str, PendingEntry]) -> Outcome | None:
        stream, group, entry = target
        body = Text()
        body.append(f"Entry {entry.id}, held by ")
        body.append(printable(entry.consumer, 60), style="bold")
        body.append(f", idle {fmt.duration(entry.idle_ms)}, {entry.deliveries} deliveries.\n")
        body.append("It is claimed only if nobody took it since you saw it (min-idle).\n",
                    style="dim")
        body.append_text(self.tables.consumer_list())
        default = self.default_consumer((entry.consumer,))
        if default is None:
            choice = await self.without_reader(group, 1)
            if choice == "dlq":
                return await self.dead_letter((stream, group, [entry]))
            if choice != "name":
                return Outcome(f"entry {entry.id} left with {printable(entry.consumer, 40)}")
        values = await self.view.ask(
            "Claim pending entry", [Field("consumer", "to consumer (pick one or a new name)",
                                          default or "",
                                          check=lambda v: None if v else "give a name")],
            submit_label="Claim", body=body)
        if not values:
            return None
        consumer = values["consumer"]
        if not await self.target_confirmed(consumer, (entry.consumer,)):
            return None
        result = await self.view.streams().claim(stream, group, consumer, [entry])
        return Outcome(f"claim to {printable(consumer, 40)}: {result.summary('claimed')}",
                       "information" if result.done else "warning", 5)

    async def claim_idle(self, target: tuple[str, str]) -> Outcome | None:
        stream, group = target
        g = self.tables.selected_group()
        default_s = max(self.view.min_idle_ms, self.tables.dead_ms) // 1000
        holders = self.idle_holders(default_s * 1000)
        body = Text(f"Claims every pending entry of this group idle at least T seconds "
                    f"({g.pending if g else '?'} pending now), in chunks, with progress.\n")
        body.append("Idle entries held by: ")
        body.append(", ".join(printable(h, 30) for h in holders) or "none seen by the poll",
                    style="bold")
        body.append("\n")
        body.append_text(self.tables.consumer_list())

        def check_s(v: str) -> str | None:
            try:
                return None if float(v) >= 0 else "must be ≥ 0"
            except ValueError:
                return "a number of seconds"

        default = self.default_consumer(holders)
        if default is None:
            idle = [e for e in self.detail.shown_entries()
                    if (e.idle_ms or 0) >= default_s * 1000] \
                if self.view.mode == "pending" else []
            choice = await self.without_reader(group, len(idle), shown=True)
            if choice == "dlq":
                if not idle:
                    return Outcome("no idle pending entries shown to move", "warning")
                return await self.dead_letter((stream, group, idle))
            if choice != "name":
                return Outcome(f"idle entries of {printable(group, 40)} left where they are")
        values = await self.view.ask(
            "Claim all idle entries", [
                Field("consumer", "to consumer", default or "",
                      check=lambda v: None if v else "give a name"),
                Field("idle", "idle at least (seconds)", str(default_s), check=check_s),
            ], submit_label="Claim", body=body)
        if not values:
            return None
        consumer, min_idle_ms = values["consumer"], int(float(values["idle"]) * 1000)
        if not await self.target_confirmed(consumer, holders):
            return None
        streams = self.view.streams()
        total = g.pending if g else (await streams.pending_summary(stream, group)).count
        run = PendingRun(streams, stream, group)
        plan = IdlePages(total, st.CLAIM_CHUNK)
        report = await self.view.run_bulk(
            f"Claiming entries idle ≥ {fmt.duration(min_idle_ms)}", BulkRunner(
                plan, lambda n: run.claim_idle(plan, consumer, min_idle_ms, n),
                client=self.view.client(), resume="C on this panel claims the rest"))
        if plan.exhausted:  # entries not idle were never candidates
            report.total = report.processed
        return Outcome(f"claim idle to {printable(consumer, 40)}: {report.summary('claimed')}",
                       timeout=5)

    async def without_reader(self, group: str, n: int, shown: bool = False) -> str | None:
        """No consumer of the group read recently: claiming to a made-up name would hide
        the entries under it. The operator picks: name a consumer, leave them, or send them
        to the dead-letter list (no default but leaving them)."""
        what = f"the {n} idle entr{'y' if n == 1 else 'ies'} shown" if shown else "this entry"
        body = Text(f"No consumer of group {printable(group, 40)} but the holder has read "
                    f"in the last {fmt.duration(self.tables.dead_ms)}: nobody would process {what} "
                    "if claimed.\n", style="bold")
        body.append_text(self.tables.consumer_list())
        body.append("\n\nName a consumer a process runs, leave the entries where they are "
                    "(the alert stays until a live consumer acks them), or send them to the "
                    f"dead-letter list {printable(self.dlq_key(), 60)}.")
        choice: str | None = await self.view.app.push_screen_wait(ChoiceScreen(
            "No consumer is reading", body,
            [("name", "Name a consumer", "c"), ("leave", "Leave them", "l"),
             ("dlq", "To dead letters", "k")], safe="leave"))
        return choice

    # -- actions: ack ------------------------------------------------------------------

    async def ack(self, stream: str, group: str, ids: list[str],
                   confirm: bool = True) -> Outcome | None:
        if confirm:
            body = Text(f"Acknowledge the {len(ids)} pending entries shown (this page"
                        f"{', one consumer' if self.view.consumer else ''}"
                        f"{', idle filter' if self.view.min_idle_ms else ''}) in group ")
            body.append(printable(group, 40), style="bold")
            body.append(". They leave the pending list and are never redelivered.")
            if not await self.view.confirm(f"Ack {len(ids)} entries?", body, f"Ack {len(ids)}"):
                return None
        # A node failure is waited out (the run goes on); past the bound, A again acks
        # what is still pending of them.
        run = PendingRun(self.view.streams(), stream, group)
        runner = BulkRunner(ids, run.ack, chunk_size=st.ACK_CHUNK, client=self.view.client(),
                            resume="A on this panel acks the rest (what was acked is skipped)")
        report = await (self.view.run_bulk(f"Acking {len(ids):,} entries", runner) if confirm
                        else runner.run())
        return Outcome(f"ack: {report.summary('acked')}",
                       "information" if report.done else "warning", 5)

    # -- actions: dead letters ---------------------------------------------------------

    async def dead_letter(self, target: tuple[str, str, list[PendingEntry]]) -> Outcome | None:
        stream, group, entries = target
        n = len(entries)
        body = Text(f"Move {n} poison entr{'y' if n == 1 else 'ies'} to a dead-letter list "
                    "(the seed's DeadLetter envelope, reason \"max deliveries exceeded\") and "
                    "ack each in the same MULTI/EXEC.")
        values = await self.view.ask(
            f"Move {n} to DLQ", [Field("dlq", "dead-letter list key", self.dlq_key(),
                                       check=lambda v: None if v else "required")],
            submit_label=f"Move {n}", body=body)
        if not values:
            return None
        dlq, now_ms = values["dlq"], self.view.session.now_ms()
        run = PendingRun(self.view.streams(), stream, group)
        runner = BulkRunner(list(entries), lambda part: run.dead_letter(dlq, now_ms, part),
                            chunk_size=st.DLQ_CHUNK, client=self.view.client(),
                            resume="K on this panel moves the rest (poison entries shown)")
        report = await (self.view.run_bulk(f"Moving {n:,} to {printable(dlq, 40)}", runner)
                        if n > 1 else runner.run())
        return Outcome(f"to {printable(dlq, 40)}: {report.summary('moved')}",
                       "information" if report.done else "warning", 5)

    # -- actions: publish --------------------------------------------------------------

    async def publish(self, stream: str) -> Outcome | None:
        result = await self.view.app.push_screen_wait(PublishScreen(stream))
        if not result:
            return None
        stream, fields, maxlen = result
        snapshot = self.view.snapshot
        owner = next((q.ref.library for q in (snapshot.queues if snapshot else ())
                      if q.ref.key == stream and q.ref.library is not None), None)
        if owner is not None:  # a message the library did not make is not one of its jobs
            return Outcome(f"{owner.library} stream {printable(stream, 40)}: not published "
                           f"here; use {owner.own_command or 'the library'}", "warning")
        new_id = await self.view.streams().publish(stream, fields, maxlen=maxlen)
        return Outcome(f"published {new_id} to {printable(stream, 60)}", timeout=5)

    # -- actions: groups and consumers -------------------------------------------------

    async def delete_consumer(self, target: tuple[str, str, ConsumerInfo]) -> Outcome | None:
        stream, group, consumer = target
        body = Text("Delete consumer ")
        body.append(printable(consumer.name, 60), style="bold")
        body.append(" from group ")
        body.append(printable(group, 40), style="bold")
        if consumer.pending:
            body.append(f".\nIt holds {consumer.pending} pending entries: deleting drops them "
                        "from the group's pending list; they will not be redelivered. Claim "
                        "them first (C) to keep them.", style="bold red")
        else:
            body.append(". It holds no pending entries.")
        if not await self.view.confirm(
                "Delete consumer?", body,
                f"Delete, dropping {consumer.pending}" if consumer.pending else "Delete"):
            return None
        dropped = await self.view.streams().delete_consumer(stream, group, consumer.name,
                                                       allow_pending=consumer.pending)
        return Outcome(f"consumer {printable(consumer.name, 40)} deleted "
                       f"({dropped} pending dropped)", timeout=5)

    async def create_group(self, stream: str) -> Outcome | None:
        values = await self.view.ask("Create consumer group", [
            Field("name", "group name", "", check=lambda v: None if v else "required"),
            Field("start", "start at: $ (new entries only), 0 (everything) or an id", "$",
                  check=lambda v: stream_ids.check_id(v, allow=("$", "0"))),
        ], submit_label="Create")
        if not values:
            return None
        group, start = values["name"], values["start"].strip()
        await self.view.streams().create_group(stream, group, start)
        return Outcome(f"group {printable(group, 40)} created at {start}", timeout=5)

    async def set_group_id(self, target: tuple[str, str]) -> Outcome | None:
        stream, group = target
        g = self.tables.selected_group()
        body = Text("Entries after this id are delivered next (XGROUP SETID). Pending "
                    "entries are unchanged.")
        values = await self.view.ask(f"Set last id of {printable(group, 40)}", [
            Field("id", "last delivered id: $, 0 or an id",
                  g.last_delivered_id if g else "$",
                  check=lambda v: stream_ids.check_id(v, allow=("$", "0"))),
        ], submit_label="Set", body=body)
        if not values:
            return None
        start = values["id"].strip()
        await self.view.streams().set_group_id(stream, group, start)
        return Outcome(f"group {printable(group, 40)} now at {start}", timeout=5)

    # -- view dialogs ------------------------------------------------------------------

    async def min_idle(self, _: None) -> Outcome | None:
        def check(v: str) -> str | None:
            try:
                return None if float(v or 0) >= 0 else "must be ≥ 0"
            except ValueError:
                return "a number of seconds"

        values = await self.view.ask("Show pending entries idle at least", [
            Field("idle", "seconds (0: all)", str(self.view.min_idle_ms // 1000),
                  check=check)])
        if values is not None:
            self.view.min_idle_ms = int(float(values["idle"] or 0) * 1000)
        return None

    async def goto(self, _: str) -> Outcome | None:
        view = self.view

        def check(v: str) -> str | None:
            return None if parse_when(v, view.session.now_ms()) else \
                "an id, epoch ms, ISO time (2026-01-31T10:00) or -5m / -2h"

        values = await view.ask("Go to an id or a time", [
            Field("when", "entries at or before", "-5m", check=check)])
        if values:
            view.mode = "browser"
            view.tail = False
            self.detail.paging.browser_stack = []
            view.browser_end = parse_when(values["when"], view.session.now_ms()) or "+"
            view.browser_table.focus()
        return None
