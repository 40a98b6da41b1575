"""Panel 5: streams, their consumer groups and consumers, pending entries, a stream browser.

Three linked tables on top (streams -> groups of the highlighted stream -> consumers of the
highlighted group); below, the pending entries of the group (or of one consumer: enter on
it) or the stream browser (`b`), beside a plot of the group's pending and lag history.
The tables are in tables.py, the lower half in detail.py; this module holds the keys and
the actions (each through the panel base's action pipeline).
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding

from ferrite_tui import formatting as fmt
from ferrite_tui.backend import stream_ids
from ferrite_tui.backend import streams as st
from ferrite_tui.backend.bulk import BulkRunner
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.models import QueueRef
from ferrite_tui.backend.streambulk import IdlePages, PendingRun
from ferrite_tui.backend.streams import ConsumerInfo, PendingEntry
from ferrite_tui.ui.panels.base import NothingSelected, Outcome
from ferrite_tui.ui.panels.streams.detail import StreamDetail
from ferrite_tui.ui.screens.dialogs import ChoiceScreen, Field
from ferrite_tui.ui.screens.publish import PublishScreen


class StreamsPanel(StreamDetail):
    TITLE = "Streams"
    KINDS = StreamDetail.kinds_in("streams")
    EMPTY = "No streams found (yet). Discovery rescans every 30 s; ctrl+r now. n publishes."

    DEFAULT_CSS = """
    /* short tables take only their rows; the pending entries get the rest */
    StreamsPanel #streams-top { height: auto; max-height: 12; }
    StreamsPanel #streams-top > KeyedTable { height: auto; min-height: 2; max-height: 12; }
    StreamsPanel #detail-head { height: 1; padding: 0 1; background: $boost; }
    StreamsPanel #streams-bottom { height: 1fr; }
    StreamsPanel #streams-bottom > KeyedTable { width: 1fr; height: 100%; }
    StreamsPanel #plot { width: 34; height: 100%; }
    StreamsPanel #plot.-narrow { display: none; }
    """

    BINDINGS = [
        Binding("c", "claim", "Claim", id="streams.claim"),
        Binding("C", "claim_idle", "Claim idle", id="streams.claim_idle"),
        Binding("a", "ack", "Ack", id="streams.ack"),
        Binding("A", "ack_all", "Ack shown", id="streams.ack_all"),
        Binding("k", "dead_letter", "To DLQ", id="streams.dlq"),
        Binding("K", "dead_letter_all", "Poison to DLQ", id="streams.dlq_all", show=False),
        Binding("n", "publish", "Publish", id="streams.publish"),
        Binding("d", "delete_consumer", "Del consumer", id="streams.delete_consumer",
                show=False),
        Binding("G", "create_group", "New group", id="streams.create_group", show=False),
        Binding("L", "set_group_id", "Set group id", id="streams.set_group_id", show=False),
        Binding("i", "min_idle", "Min idle", id="streams.min_idle", show=False),
        Binding("s", "sort", "Sort", id="streams.sort", show=False),
        Binding("p", "show_pending", "Pending", id="streams.pending", show=False),
        Binding("b", "show_browser", "Browse", id="streams.browse"),
        Binding("t", "tail", "Tail", id="streams.tail", show=False),
        Binding("g", "goto", "Go to", id="streams.goto", show=False),
        Binding("right_square_bracket", "next_page", "Next page", id="streams.next",
                show=False),
        Binding("left_square_bracket", "prev_page", "Prev page", id="streams.prev",
                show=False),
        Binding("escape", "back", "Back", id="streams.back", show=False),
    ]

    MUTATIONS = {
        # claim, claim_idle, ack, ack_all, dead_letter(_all), delete_consumer, create_group,
        # set_group_id: the stream layout's (backend/kinds/stream.py)
        **StreamDetail.layout_mutations(*KINDS),
        "publish": "publish to a stream",
    }
    # publish names its stream in its own dialog (checked there)
    OWN_ACTIONS = frozenset({"publish"})
    COMMANDS = {
        "min_idle": "show pending entries idle at least…", "sort": "sort pending entries",
        "show_pending": "show pending entries", "show_browser": "browse the stream",
        "tail": "live tail on/off", "goto": "go to an id or a time",
    }

    # -- a library's stream (taskiq): only what its layout declares ------------------------

    #: panel action -> the layout action it is on a library's stream
    LIBRARY_ACTION_OF = {"claim": "claim", "claim_idle": "claim", "ack": "ack",
                         "ack_all": "ack"}

    def action_next_page(self) -> None:
        self.paging.next_page()

    def action_prev_page(self) -> None:
        self.paging.prev_page()

    def action_queue(self) -> QueueRef | None:
        """The stream highlighted (its library's layout, if a library's: taskiq)."""
        return self.stream_ref()

    # -- actions: claim ----------------------------------------------------------------

    def action_claim(self) -> None:
        self.act("claim", self.entry_selected, self._claim)

    async def _claim(self, target: tuple[str, str, PendingEntry]) -> Outcome | None:
        stream, group, entry = target
        body = Text()
        body.append(f"Entry {entry.id}, held by ")
        body.append(printable(entry.consumer, 60), style="bold")
        body.append(f", idle {fmt.duration(entry.idle_ms)}, {entry.deliveries} deliveries.\n")
        body.append("It is claimed only if nobody took it since you saw it (min-idle).\n",
                    style="dim")
        body.append_text(self._consumer_list())
        default = self._default_consumer((entry.consumer,))
        if default is None:
            choice = await self._without_reader(group, 1)
            if choice == "dlq":
                return await self._dead_letter((stream, group, [entry]))
            if choice != "name":
                return Outcome(f"entry {entry.id} left with {printable(entry.consumer, 40)}")
        values = await self.ask(
            "Claim pending entry", [Field("consumer", "to consumer (pick one or a new name)",
                                          default or "",
                                          check=lambda v: None if v else "give a name")],
            submit_label="Claim", body=body)
        if not values:
            return None
        consumer = values["consumer"]
        if not await self._target_confirmed(consumer, (entry.consumer,)):
            return None
        result = await self.streams().claim(stream, group, consumer, [entry])
        return Outcome(f"claim to {printable(consumer, 40)}: {result.summary('claimed')}",
                       "information" if result.done else "warning", 5)

    def action_claim_idle(self) -> None:
        self.act("claim_idle", self.group_selected, self._claim_idle)

    async def _claim_idle(self, target: tuple[str, str]) -> Outcome | None:
        stream, group = target
        g = self.selected_group()
        default_s = max(self.min_idle_ms, self.dead_ms) // 1000
        holders = self._idle_holders(default_s * 1000)
        body = Text(f"Claims every pending entry of this group idle at least T seconds "
                    f"({g.pending if g else '?'} pending now), in chunks, with progress.\n")
        body.append("Idle entries held by: ")
        body.append(", ".join(printable(h, 30) for h in holders) or "none seen by the poll",
                    style="bold")
        body.append("\n")
        body.append_text(self._consumer_list())

        def check_s(v: str) -> str | None:
            try:
                return None if float(v) >= 0 else "must be ≥ 0"
            except ValueError:
                return "a number of seconds"

        default = self._default_consumer(holders)
        if default is None:
            idle = [e for e in self.shown_entries() if (e.idle_ms or 0) >= default_s * 1000] \
                if self.mode == "pending" else []
            choice = await self._without_reader(group, len(idle), shown=True)
            if choice == "dlq":
                if not idle:
                    return Outcome("no idle pending entries shown to move", "warning")
                return await self._dead_letter((stream, group, idle))
            if choice != "name":
                return Outcome(f"idle entries of {printable(group, 40)} left where they are")
        values = await self.ask(
            "Claim all idle entries", [
                Field("consumer", "to consumer", default or "",
                      check=lambda v: None if v else "give a name"),
                Field("idle", "idle at least (seconds)", str(default_s), check=check_s),
            ], submit_label="Claim", body=body)
        if not values:
            return None
        consumer, min_idle_ms = values["consumer"], int(float(values["idle"]) * 1000)
        if not await self._target_confirmed(consumer, holders):
            return None
        streams = self.streams()
        total = g.pending if g else (await streams.pending_summary(stream, group)).count
        run = PendingRun(streams, stream, group)
        plan = IdlePages(total, st.CLAIM_CHUNK)
        report = await self.run_bulk(
            f"Claiming entries idle ≥ {fmt.duration(min_idle_ms)}", BulkRunner(
                plan, lambda n: run.claim_idle(plan, consumer, min_idle_ms, n),
                client=self.client(), resume="C on this panel claims the rest"))
        if plan.exhausted:  # entries not idle were never candidates
            report.total = report.processed
        return Outcome(f"claim idle to {printable(consumer, 40)}: {report.summary('claimed')}",
                       timeout=5)

    async def _without_reader(self, group: str, n: int, shown: bool = False) -> str | None:
        """No consumer of the group read recently: claiming to a made-up name would hide
        the entries under it. The operator picks: name a consumer, leave them, or send them
        to the dead-letter list (no default but leaving them)."""
        what = f"the {n} idle entr{'y' if n == 1 else 'ies'} shown" if shown else "this entry"
        body = Text(f"No consumer of group {printable(group, 40)} but the holder has read "
                    f"in the last {fmt.duration(self.dead_ms)}: nobody would process {what} "
                    "if claimed.\n", style="bold")
        body.append_text(self._consumer_list())
        body.append("\n\nName a consumer a process runs, leave the entries where they are "
                    "(the alert stays until a live consumer acks them), or send them to the "
                    f"dead-letter list {printable(self.dlq_key(), 60)}.")
        choice: str | None = await self.app.push_screen_wait(ChoiceScreen(
            "No consumer is reading", body,
            [("name", "Name a consumer", "c"), ("leave", "Leave them", "l"),
             ("dlq", "To dead letters", "k")], safe="leave"))
        return choice

    # -- actions: ack ------------------------------------------------------------------

    def action_ack(self) -> None:
        self.act("ack", self.entry_selected,
                 lambda t: self._ack(t[0], t[1], [t[2].id], confirm=False))

    def action_ack_all(self) -> None:
        def shown() -> tuple[str, str, list[PendingEntry]]:
            stream, group = self.group_selected()
            entries = self.shown_entries() if self.mode == "pending" else []
            if not entries:
                raise NothingSelected("no pending entries shown")
            return stream, group, entries

        self.act("ack_all", shown, lambda t: self._ack(t[0], t[1], [e.id for e in t[2]]))

    async def _ack(self, stream: str, group: str, ids: list[str],
                   confirm: bool = True) -> Outcome | None:
        if confirm:
            body = Text(f"Acknowledge the {len(ids)} pending entries shown (this page"
                        f"{', one consumer' if self.consumer else ''}"
                        f"{', idle filter' if self.min_idle_ms else ''}) in group ")
            body.append(printable(group, 40), style="bold")
            body.append(". They leave the pending list and are never redelivered.")
            if not await self.confirm(f"Ack {len(ids)} entries?", body, f"Ack {len(ids)}"):
                return None
        # A node failure is waited out (the run goes on); past the bound, A again acks
        # what is still pending of them.
        run = PendingRun(self.streams(), stream, group)
        runner = BulkRunner(ids, run.ack, chunk_size=st.ACK_CHUNK, client=self.client(),
                            resume="A on this panel acks the rest (what was acked is skipped)")
        report = await (self.run_bulk(f"Acking {len(ids):,} entries", runner) if confirm
                        else runner.run())
        return Outcome(f"ack: {report.summary('acked')}",
                       "information" if report.done else "warning", 5)

    # -- actions: dead letters ---------------------------------------------------------

    def action_dead_letter(self) -> None:
        def poison() -> tuple[str, str, list[PendingEntry]]:
            stream, group, entry = self.entry_selected()
            if not entry.is_poison(self.poison_at):
                raise NothingSelected(
                    f"entry {entry.id} has {entry.deliveries} deliveries, under the poison "
                    f"threshold {self.poison_at}: not moved")
            return stream, group, [entry]

        self.act("dead_letter", poison, self._dead_letter)

    def action_dead_letter_all(self) -> None:
        def poison() -> tuple[str, str, list[PendingEntry]]:
            stream, group = self.group_selected()
            entries = [e for e in self.shown_entries() if e.is_poison(self.poison_at)]
            if not entries:
                raise NothingSelected(f"no poison entries shown (≥{self.poison_at} deliveries)")
            return stream, group, entries

        self.act("dead_letter_all", poison, self._dead_letter)

    async def _dead_letter(self, target: tuple[str, str, list[PendingEntry]]) -> Outcome | None:
        stream, group, entries = target
        n = len(entries)
        body = Text(f"Move {n} poison entr{'y' if n == 1 else 'ies'} to a dead-letter list "
                    "(the seed's DeadLetter envelope, reason \"max deliveries exceeded\") and "
                    "ack each in the same MULTI/EXEC.")
        values = await self.ask(
            f"Move {n} to DLQ", [Field("dlq", "dead-letter list key", self.dlq_key(),
                                       check=lambda v: None if v else "required")],
            submit_label=f"Move {n}", body=body)
        if not values:
            return None
        dlq, now_ms = values["dlq"], self.session.now_ms()
        run = PendingRun(self.streams(), stream, group)
        runner = BulkRunner(list(entries), lambda part: run.dead_letter(dlq, now_ms, part),
                            chunk_size=st.DLQ_CHUNK, client=self.client(),
                            resume="K on this panel moves the rest (poison entries shown)")
        report = await (self.run_bulk(f"Moving {n:,} to {printable(dlq, 40)}", runner)
                        if n > 1 else runner.run())
        return Outcome(f"to {printable(dlq, 40)}: {report.summary('moved')}",
                       "information" if report.done else "warning", 5)

    # -- actions: publish --------------------------------------------------------------

    def action_publish(self) -> None:
        self.act("publish", lambda: self.stream or "", self._publish)

    async def _publish(self, stream: str) -> Outcome | None:
        result = await self.app.push_screen_wait(PublishScreen(stream))
        if not result:
            return None
        stream, fields, maxlen = result
        owner = next((q.ref.library for q in (self.snapshot.queues if self.snapshot else ())
                      if q.ref.key == stream and q.ref.library is not None), None)
        if owner is not None:  # a message the library did not make is not one of its jobs
            return Outcome(f"{owner.library} stream {printable(stream, 40)}: not published "
                           f"here; use {owner.own_command or 'the library'}", "warning")
        new_id = await self.streams().publish(stream, fields, maxlen=maxlen)
        return Outcome(f"published {new_id} to {printable(stream, 60)}", timeout=5)

    # -- actions: groups and consumers -------------------------------------------------

    def action_delete_consumer(self) -> None:
        def consumer() -> tuple[str, str, ConsumerInfo]:
            stream, group = self.group_selected()
            selected = self.selected_consumer()
            if selected is None or self.app.focused is not self.consumers_table:
                raise NothingSelected("select a consumer in the consumers table (tab to it), "
                                      "then d")
            return stream, group, selected

        self.act("delete_consumer", consumer, self._delete_consumer)

    async def _delete_consumer(self, target: tuple[str, str, ConsumerInfo]) -> Outcome | None:
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
        if not await self.confirm(
                "Delete consumer?", body,
                f"Delete, dropping {consumer.pending}" if consumer.pending else "Delete"):
            return None
        dropped = await self.streams().delete_consumer(stream, group, consumer.name,
                                                       allow_pending=consumer.pending)
        return Outcome(f"consumer {printable(consumer.name, 40)} deleted "
                       f"({dropped} pending dropped)", timeout=5)

    def action_create_group(self) -> None:
        self.act("create_group", self.stream_selected, self._create_group)

    async def _create_group(self, stream: str) -> Outcome | None:
        values = await self.ask("Create consumer group", [
            Field("name", "group name", "", check=lambda v: None if v else "required"),
            Field("start", "start at: $ (new entries only), 0 (everything) or an id", "$",
                  check=lambda v: stream_ids.check_id(v, allow=("$", "0"))),
        ], submit_label="Create")
        if not values:
            return None
        group, start = values["name"], values["start"].strip()
        await self.streams().create_group(stream, group, start)
        return Outcome(f"group {printable(group, 40)} created at {start}", timeout=5)

    def action_set_group_id(self) -> None:
        self.act("set_group_id", self.group_selected, self._set_group_id)

    async def _set_group_id(self, target: tuple[str, str]) -> Outcome | None:
        stream, group = target
        g = self.selected_group()
        body = Text("Entries after this id are delivered next (XGROUP SETID). Pending "
                    "entries are unchanged.")
        values = await self.ask(f"Set last id of {printable(group, 40)}", [
            Field("id", "last delivered id: $, 0 or an id",
                  g.last_delivered_id if g else "$",
                  check=lambda v: stream_ids.check_id(v, allow=("$", "0"))),
        ], submit_label="Set", body=body)
        if not values:
            return None
        start = values["id"].strip()
        await self.streams().set_group_id(stream, group, start)
        return Outcome(f"group {printable(group, 40)} now at {start}", timeout=5)
