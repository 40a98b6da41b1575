"""The operator's actions on streams: claim, ack, dead-letter, publish, group and consumer
admin. Each is a `mutation` (the read-only and replica guard passes first) and acts on the
exact entries the operator saw (see each docstring for the check that holds)."""


import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from redis import exceptions as rexc

from ferrite_tui.backend.bulk import BulkReport, Cancel
from ferrite_tui.backend.client import Client, mutation
from ferrite_tui.backend.crossslot import Landing
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.errors import BackendError
from ferrite_tui.backend.movebase import (
    MAX_ATTEMPTS,
    backoff,
    exchange_replicated,
    pinned,
    replica_wait,
)
from ferrite_tui.backend.stream_model import (
    NOT_PENDING,
    ActionResult,
    ConsumerInfo,
    PendingEntry,
    PendingPage,
    PendingSummary,
    dead_letter_envelope,
    entries_of,
    friendly,
    pending_rows,
    reply_text,
)

CLAIM_CHUNK = 500
ACK_CHUNK = 500  # ids per ack call from the UI's bulk runner
DLQ_CHUNK = 100


class StreamActions:
    """The Streams panel's actions, for one Client (Streams adds the reads)."""

    client: Client

    if TYPE_CHECKING:  # the reads the actions use, in Streams
        @property
        def r(self) -> Any: ...

        async def consumers(self, key: str, group: str) -> list[ConsumerInfo]: ...

        async def pending_summary(self, key: str, group: str) -> PendingSummary: ...

        async def pending_page(self, key: str, group: str, *, start: str = "-",
                               count: int = ..., min_idle_ms: int = 0,
                               consumer: str | None = None) -> PendingPage: ...

    @mutation("stream claim")
    async def claim(self, key: str, group: str, consumer: str,
                    entries: Sequence[PendingEntry], now: float | None = None) -> ActionResult:
        """XCLAIM each entry with min-idle = the idle it must have if untouched since seen.

        An entry another worker re-took (or that was acked) after the operator saw it fails
        the check and is skipped, not stolen. JUSTID: the delivery count is not raised."""
        result = ActionResult()
        if not entries:
            return result
        now = time.monotonic() if now is None else now
        pipe = self.r.pipeline(transaction=False)
        for e in entries:
            pipe.execute_command(b"XCLAIM", key, group, consumer, e.min_idle_now(now), e.id,
                                 "JUSTID")
        replies = await pipe.execute(raise_on_error=False)
        for e, rep in zip(entries, replies):
            if isinstance(rep, Exception):
                result.skip(e.id, friendly(rep, key, group).args[0])
            elif rep:
                result.done.append(e.id)
            else:
                result.skip(e.id, "taken, acked or deleted since you looked")
        if result.done:
            self.client.audit("stream claim", [key], len(result.done), result.done)
        return result

    @mutation("stream claim idle")
    async def claim_idle(self, key: str, group: str, consumer: str, min_idle_ms: int, *,
                         chunk: int = CLAIM_CHUNK, total: int | None = None,
                         progress: Callable[[BulkReport], None] | None = None,
                         cancel: Cancel | None = None) -> BulkReport:
        """Claim every entry idle at least `min_idle_ms` to `consumer`, in chunks.

        XAUTOCLAIM ... JUSTID in a cursor loop where the server has it; else XPENDING IDLE
        + XCLAIM (same min-idle, so an entry re-taken between the two is skipped). One audit
        line per chunk."""
        cancel = cancel or Cancel()
        if total is None:
            total = (await self.pending_summary(key, group)).count
        report = BulkReport(total=total)
        if self.client.capabilities.xautoclaim:
            cursor = "0-0"
            while True:
                if cancel.requested:
                    report.cancelled = True
                    break
                try:
                    reply = await self.r.execute_command(
                        b"XAUTOCLAIM", key, group, consumer, int(min_idle_ms), cursor,
                        "COUNT", chunk, "JUSTID")
                except rexc.ResponseError as exc:
                    raise friendly(exc, key, group) from None
                cursor = reply_text(reply[0])
                ids = [reply_text(i) for i in reply[1] or ()]
                deleted = [reply_text(i) for i in reply[2] or ()] if len(reply) > 2 else []
                self._tally(report, key, ids, len(deleted))
                if progress:
                    progress(report)
                if cursor in ("0-0", "0"):
                    break
        else:
            next_start: str | None = "-"
            while next_start is not None:
                if cancel.requested:
                    report.cancelled = True
                    break
                page = await self.pending_page(key, group, start=next_start, count=chunk,
                                               min_idle_ms=min_idle_ms)
                next_start = page.next_start
                if not page.entries:
                    if progress:
                        progress(report)
                    continue
                try:
                    reply = await self.r.execute_command(
                        b"XCLAIM", key, group, consumer, int(min_idle_ms),
                        *[e.id for e in page.entries], "JUSTID")
                except rexc.ResponseError as exc:
                    raise friendly(exc, key, group) from None
                ids = [reply_text(i) for i in reply or ()]
                self._tally(report, key, ids, len(page.entries) - len(ids))
                if progress:
                    progress(report)
        report.total = max(report.total, report.processed)
        return report

    def _tally(self, report: BulkReport, key: str, ids: list[str], skipped: int) -> None:
        report.done += len(ids)
        report.skipped += skipped
        if ids:
            self.client.audit("stream claim idle", [key], len(ids), ids)

    @mutation("stream ack")
    async def ack(self, key: str, group: str, ids: Sequence[str]) -> ActionResult:
        """XACK each id (one pipeline, one round trip); ids no longer pending are skipped."""
        result = ActionResult()
        ids = list(dict.fromkeys(ids))
        if not ids:
            return result
        pipe = self.r.pipeline(transaction=False)
        for entry_id in ids:
            pipe.execute_command(b"XACK", key, group, entry_id)
        replies = await pipe.execute(raise_on_error=False)
        for entry_id, rep in zip(ids, replies):
            if isinstance(rep, Exception):
                result.skip(entry_id, friendly(rep, key, group).args[0])
            elif int(rep):
                result.done.append(entry_id)
            else:
                result.skip(entry_id, NOT_PENDING)
        if result.done:
            self.client.audit("stream ack", [key], len(result.done), result.done)
        return result

    @mutation("stream dead-letter")
    async def dead_letter(self, key: str, group: str, entries: Sequence[PendingEntry],
                          dlq_key: str, *, now_ms: int | None = None,
                          now: float | None = None) -> ActionResult:
        """Move entries to `dlq_key` as the seed's DeadLetter envelope and ack them.

        Per chunk, on a connection of its own: WATCH dlq ; TYPE dlq ; XRANGE + XPENDING per
        entry, then MULTI ; (RPUSH dlq | XADD dlq * data) + XACK per entry ; EXEC. The
        target's type is checked under WATCH, so the push cannot fail inside EXEC (a target
        that is neither a list nor a stream is refused before anything is sent), and the
        push and the ack of an entry run together or not at all. Entries re-delivered, acked
        or deleted since the operator saw them are skipped. XACK by another client does not
        touch any watched key: an entry acked in the gap before EXEC keeps its dead letter
        (reported; nothing is undone outside the transaction)."""
        result = ActionResult()
        if not entries:
            return result
        now_ms = self.client.server_now_ms() if now_ms is None else now_ms
        now = time.monotonic() if now is None else now
        for start in range(0, len(entries), DLQ_CHUNK):
            await self._dead_letter_chunk(key, group, list(entries[start:start + DLQ_CHUNK]),
                                          dlq_key, now_ms, now, result)
        if result.done:
            self.client.audit("stream dead-letter", [key, dlq_key], len(result.done),
                              result.done)
        return result

    async def _dead_letter_chunk(self, key: str, group: str, part: list[PendingEntry],
                                 dlq_key: str, now_ms: int, now: float,
                                 result: ActionResult) -> None:
        # On a cluster with the DLQ in another slot, the transaction pushes to a staging list
        # in the stream's slot, delivered after it (see crossslot). The DLQ's own type is then
        # checked on its node first: staging delivers with RPUSH, so it must be a list.
        landing = Landing(self.client, key, dlq_key)
        if landing.stage is not None:
            remote = reply_text(await self.client.for_keys(dlq_key).redis.type(dlq_key))
            if remote not in ("list", "none"):
                raise BackendError(
                    f"{printable(dlq_key, 80)} is a {remote} in another hash slot: only a list "
                    "can take dead letters across slots; nothing was dead-lettered")
        target = landing.key
        node = self.client.for_keys(key, target)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            async with pinned(node) as c:
                check: list[tuple] = [("WATCH", target), ("TYPE", target)]
                for e in part:
                    check.append(("XRANGE", key, e.id, e.id))
                    check.append(("XPENDING", key, group, e.id, e.id, 1))
                replies = await c.exchange(check)
                kind = reply_text(replies[1]) if not isinstance(replies[1], Exception) else "?"
                if kind not in ("list", "none", "stream"):
                    await c.exchange([("UNWATCH",)])
                    raise BackendError(
                        f"{printable(dlq_key, 80)} is a {kind}, not a list or a stream: "
                        "nothing was dead-lettered")
                moves: list[tuple[PendingEntry, bytes]] = []
                skips: list[tuple[str, str]] = []
                for n, e in enumerate(part):
                    body, pend = replies[2 + 2 * n], replies[3 + 2 * n]
                    for rep in (body, pend):
                        if isinstance(rep, Exception):
                            await c.exchange([("UNWATCH",)])
                            raise friendly(rep, key, group)
                    current = pending_rows(pend, now)
                    found = entries_of(body)
                    if not current:
                        skips.append((e.id, NOT_PENDING))
                    elif current[0].idle_ms < e.min_idle_now(now):
                        skips.append((e.id, "re-delivered since you looked"))
                    elif not found:
                        skips.append((e.id, "entry deleted from the stream (ack it instead)"))
                    else:
                        moves.append((current[0],
                                      dead_letter_envelope(found[0], current[0], now_ms)))
                if not moves:
                    await c.exchange([("UNWATCH",)])
                    for entry_id, why in skips:
                        result.skip(entry_id, why)
                    return
                tx: list[tuple] = [("MULTI",)]
                for e, value in moves:
                    tx.append(("XADD", target, "*", "data", value) if kind == "stream"
                              else ("RPUSH", target, value))
                    tx.append(("XACK", key, group, e.id))
                # Acknowledged by a replica where there is one (see movebase.replica_wait).
                replies = await exchange_replicated(c, [*tx, ("EXEC",)],
                                                    await replica_wait(node))
                for reply in replies[:-1]:
                    if isinstance(reply, Exception):  # refused when queued: EXEC aborted
                        raise friendly(reply, dlq_key)
                exec_reply = replies[-1]
                if exec_reply is None:  # the DLQ changed since WATCH: check everything again
                    await backoff(attempt)
                    continue
                if isinstance(exec_reply, Exception):
                    raise friendly(exec_reply, key, group)
            for entry_id, why in skips:
                result.skip(entry_id, why)
            await landing.land()
            for n, (e, _) in enumerate(moves):
                pushed, acked = exec_reply[2 * n], exec_reply[2 * n + 1]
                if isinstance(pushed, Exception):  # cannot happen with the type watched
                    result.skip(e.id, f"DLQ push failed: {printable(str(pushed), 80)}"
                                + (" (the entry was acked)" if acked == 1 else ""))
                elif isinstance(acked, Exception) or not int(acked):
                    result.skip(e.id, "acked by another client meanwhile: its dead letter "
                                f"is in {printable(dlq_key, 60)} too")
                else:
                    result.done.append(e.id)
            return
        for e in part:
            result.skip(e.id, f"{printable(dlq_key, 60)} kept changing: not dead-lettered")

    @mutation("stream delete consumer")
    async def delete_consumer(self, key: str, group: str, consumer: str, *,
                              allow_pending: int = 0) -> int:
        """XGROUP DELCONSUMER, refused when the consumer now holds more pending entries
        than the operator agreed to drop. Returns the number of pending entries dropped."""
        current = {c.name: c for c in await self.consumers(key, group)}.get(consumer)
        if current is None:
            raise BackendError(f"consumer {printable(consumer, 60)} no longer exists")
        if current.pending > allow_pending:
            raise BackendError(
                f"consumer {printable(consumer, 60)} now holds {current.pending} pending "
                f"entries (you agreed to {allow_pending}); nothing deleted")
        try:
            dropped = await self.r.execute_command(b"XGROUP", "DELCONSUMER", key, group,
                                                   consumer)
        except rexc.ResponseError as exc:
            raise friendly(exc, key, group) from None
        self.client.audit("stream delete consumer", [key], int(dropped or 0),
                          [f"{group}/{consumer}"])
        return int(dropped or 0)

    @mutation("stream create group")
    async def create_group(self, key: str, group: str, start_id: str = "$", *,
                           mkstream: bool = False) -> None:
        args = [b"XGROUP", "CREATE", key, group, start_id]
        if mkstream:
            args.append("MKSTREAM")
        try:
            await self.r.execute_command(*args)
        except rexc.ResponseError as exc:
            raise friendly(exc, key, group) from None
        self.client.audit("stream create group", [key], 1, [f"{group}@{start_id}"])

    @mutation("stream set group id")
    async def set_group_id(self, key: str, group: str, last_id: str) -> None:
        try:
            await self.r.execute_command(b"XGROUP", "SETID", key, group, last_id)
        except rexc.ResponseError as exc:
            raise friendly(exc, key, group) from None
        self.client.audit("stream set group id", [key], 1, [f"{group}@{last_id}"])

    @mutation("stream publish")
    async def publish(self, key: str, fields: Sequence[tuple[str | bytes, str | bytes]], *,
                      maxlen: int | None = None) -> str:
        """XADD (optionally MAXLEN ~ n). Returns the new entry's id."""
        if not fields:
            raise BackendError("an entry needs at least one field")
        args: list[Any] = [b"XADD", key]
        if maxlen is not None:
            args += ["MAXLEN", "~", int(maxlen)]
        args.append("*")
        for name, value in fields:
            args += [name, value]
        try:
            new_id = reply_text(await self.r.execute_command(*args))
        except rexc.ResponseError as exc:
            raise friendly(exc, key) from None
        self.client.audit("stream publish", [key], 1, [new_id])
        return new_id
