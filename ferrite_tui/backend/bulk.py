"""Bulk work in chunks: a plan, progress, cancellation, a journal, and one report.

Each chunk is one short, atomic server operation chosen by the caller, so no single command
runs long and a console killed between chunks leaves every item in one known place. A run
with a journal record keeps it up to date after every chunk, so a console killed mid-way is
reported next time (see journal.py).

Plans say what the next chunk is:
- `ItemsPlan`: a fixed list of items in slices (the default for a plain sequence);
- `moves.PositionalPlan`: items of one list, positions shifted as earlier chunks remove items;
- `HeadPlan`: "the first N of a list", counted at confirmation, taken from the head until
  the counted last item is done.

A node failure (a cluster primary killed, one server restarting) does not end a run at
once: the runner waits it out within a bound (`failure_bound`: the cluster's node timeout
times a factor, plus a few seconds), refreshes the slot map, delivers the chunks its own run
left staged between slots (`RunState.staged`), and tries the chunk again. Items the failed
try had already finished are counted done (`RunState.settled`), not skipped when the retry
no longer finds them. Only past the bound does it stop; its report then names the node and
counts what is in flight.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from ferrite_tui.backend.connection import describe_error, is_connection_failure

if TYPE_CHECKING:
    from ferrite_tui.backend.journal import BulkRecord, Journal

T = TypeVar("T")

MAX_ERRORS = 5  # a report keeps the first few error lines, not one per failed chunk
#: A run waits out a node failure for the cluster's node timeout times this, plus
#: FAILURE_SLACK_S (a replica is promoted about one to two node timeouts after a failure).
NODE_TIMEOUT_FACTOR = 3
FAILURE_SLACK_S = 5.0
#: The bound on one server (a restart), or where the node timeout cannot be read.
DEFAULT_FAILURE_BOUND_S = 20.0
#: Server errors that mean "this node cannot serve the slot now", not "refused".
_NODE_ERRORS = ("MOVED", "ASK ", "CLUSTERDOWN", "TRYAGAIN", "LOADING", "MASTERDOWN",
                "READONLY", "unreachable", "cannot reach", "did not answer",
                "Connection closed", "Connection reset")


@dataclass
class RunState:
    """What the chunks of the running bulk run tell it (set per run in a context variable,
    so the move modules record it without a parameter through every layer)."""

    client: Any = None  # the console's client the run's moves go through
    settled: int = 0  # items the current chunk finished before it raised
    # STAGE keys of this run not yet cleaned -> items staged (None: the staging
    # transaction's answer was lost, so it may or may not have run).
    staged: dict[str, int | None] = field(default_factory=dict)
    crossslot_run: Any = None  # crossslot.CrossSlotRun of this run (its own run id)
    # Set by the module that staged (crossslot): delivers what `staged` names after a node
    # failure, returning how many items those chunks held.
    deliver_staged: Callable[[Any, RunState], Awaitable[int]] | None = None


_RUN_STATE: contextvars.ContextVar[RunState | None] = contextvars.ContextVar(
    "ferrite_bulk_run", default=None)


def run_state() -> RunState | None:
    """The running bulk run's state, or None outside a run."""
    return _RUN_STATE.get()


def note_client(client: Any) -> None:
    """A move of the running bulk run goes through `client` (the first one named wins)."""
    state = _RUN_STATE.get()
    if state is not None and state.client is None:
        state.client = client


def note_settled(n: int) -> None:
    """The running chunk has finished `n` more items (they left the source for good)."""
    state = _RUN_STATE.get()
    if state is not None:
        state.settled += n


def is_node_failure(exc: BaseException) -> bool:
    """A node that cannot be reached or cannot serve the slot now (failing over, loading,
    demoted), as opposed to a refusal that retrying will not change."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if is_connection_failure(current):
            return True
        text = str(current)
        if any(marker in text for marker in _NODE_ERRORS):
            return True
        current = current.__cause__ or current.__context__
    return False


@dataclass
class ChunkResult:
    done: int = 0
    skipped: int = 0  # already gone or changed since the operator saw it
    failed: int = 0  # attempted and left where they were (refused, kept changing)
    unchanged: int = 0  # done, but moved as they were (not an envelope the move rewrites)
    reached_stop: bool = False  # head runs: the last item counted at confirmation is done
    gone: int = 0  # not there because the whole list went away (see list_gone)
    list_gone: bool = False  # the list no longer exists: emptied, renamed, deleted, flushed
    left_at_head: int = 0  # head runs: of `failed`, the values left in place at the head
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # how it was done, when not as usual


@dataclass
class BulkReport:
    """What a run did with each of the `total` items confirmed: done + skipped + failed +
    gone + not attempted = total, always, and the summary names every part."""

    total: int
    done: int = 0
    skipped: int = 0
    failed: int = 0
    gone: int = 0  # the list went away mid-run: these were no longer anywhere to act on
    in_flight: int = 0  # staged between two slots, not yet delivered (not lost)
    unchanged: int = 0  # part of `done`: moved as they were
    cancelled: bool = False
    stopped: str | None = None  # why the run ended before its plan did (an error)
    resume: str | None = None  # the key that resumes a stopped run
    waited: float = 0.0  # seconds spent waiting out node failures
    failovers: int = 0  # node failures the run waited out and went on after
    waiting: str | None = None  # while it waits for a failed node: for which, how long
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # how chunks were done, once each

    @property
    def processed(self) -> int:
        return self.done + self.skipped + self.failed + self.gone + self.in_flight

    @property
    def not_attempted(self) -> int:
        return max(self.total - self.processed, 0)

    @property
    def clean(self) -> bool:
        """Everything asked for was done: nothing skipped, failed, gone or left."""
        return not (self.skipped or self.failed or self.gone or self.cancelled
                    or self.in_flight or self.not_attempted)

    def add(self, result: ChunkResult) -> None:
        self.done += result.done
        self.skipped += result.skipped
        self.failed += result.failed
        self.gone += result.gone
        self.unchanged += result.unchanged
        for error in result.errors:
            if len(self.errors) < MAX_ERRORS and error not in self.errors:
                self.errors.append(error)
        self.notes += [note for note in result.notes if note not in self.notes]

    def summary(self, verb: str = "done") -> str:
        """E.g. "33,000 requeued, 0 skipped, 0 failed, 67,000 gone, 0 not attempted (of
        100,000 confirmed); gone: the list was emptied, renamed or deleted mid-run"."""
        in_flight = f"{self.in_flight:,} in flight, " if self.in_flight else ""
        text = (f"{self.done:,} {verb}, {self.skipped:,} skipped, {self.failed:,} failed, "
                f"{self.gone:,} gone, {in_flight}{self.not_attempted:,} not attempted "
                f"(of {self.total:,} confirmed)")
        if self.gone:
            text += "; gone: the list was emptied, renamed or deleted mid-run"
        if self.in_flight:
            text += "; in flight: staged between slots, not lost"
        if self.cancelled:
            text += "; cancelled"
        for note in self.notes:
            text += f"; {note}"
        if self.waiting:
            text += f"; {self.waiting}"
        if self.failovers and self.stopped is None:
            text += (f"; waited {self.waited:.1f} s for {self.failovers} node failure(s), "
                     "then went on")
        if self.stopped is not None:
            text += f"; stopped by: {self.stopped}"
            if self.resume:
                text += f"; {self.resume}"
        elif self.errors:
            text += f"; first error: {self.errors[0]}"
        return text


class Cancel:
    """Set by the UI; checked between chunks."""

    def __init__(self) -> None:
        self.requested = False

    def set(self) -> None:
        self.requested = True


class Plan(Protocol):
    """What a runner asks a plan: the total, the next chunk (empty when done), and how many
    items a finished chunk handled."""

    @property
    def total(self) -> int: ...

    def next_chunk(self) -> Any: ...

    def handled(self, n: int) -> None: ...


class ItemsPlan(Generic[T]):
    """A fixed list of items, in slices of `size`."""

    def __init__(self, items: Sequence[T], size: int = 200) -> None:
        self.items = items
        self.size = max(1, size)
        self.index = 0

    @property
    def total(self) -> int:
        return len(self.items)

    def next_chunk(self) -> Sequence[T]:
        return self.items[self.index:self.index + self.size]

    def handled(self, n: int) -> None:
        self.index += n


class HeadPlan:
    """The first `count` items of a list, `size` at a time from the head. A chunk is a
    number of items; the run ends when the chunk function reports `reached_stop`, when a
    chunk does nothing (the list ran dry), or when `count` items were handled.

    Items a chunk could not act on stay at the head of the list (`left`); every later
    chunk reads past them again, so it asks for that many more, and the runner counts
    each of them failed once (`newly_left`)."""

    def __init__(self, count: int, size: int = 500) -> None:
        self.count = max(count, 0)
        self.size = max(1, size)
        self.done = 0
        self.left = 0

    @property
    def total(self) -> int:
        return self.count

    def next_chunk(self) -> int:
        rest = min(self.size, self.count - self.done - self.left)
        return self.left + rest if rest > 0 else 0

    def handled(self, n: int) -> None:
        self.done += n

    def newly_left(self, left_at_head: int) -> int:
        """A chunk left `left_at_head` items at the head: how many of them are new."""
        new = max(left_at_head - self.left, 0)
        self.left = max(self.left, left_at_head)
        return new


def _size(batch: Any) -> int:
    return batch if isinstance(batch, int) else len(batch)


def _describe(exc: BaseException) -> str:
    return describe_error(exc)


async def failure_bound(client: Any) -> float:
    """Seconds a run waits for a failed node: the cluster's node timeout (CONFIG GET
    cluster-node-timeout) times NODE_TIMEOUT_FACTOR plus FAILURE_SLACK_S; on one server, or
    when the setting cannot be read, DEFAULT_FAILURE_BOUND_S."""
    if client is None or getattr(client, "cluster", None) is None:
        return DEFAULT_FAILURE_BOUND_S
    try:
        (reply,) = await client.raw_pipeline([("CONFIG", "GET", "cluster-node-timeout")])
        timeout_ms = int(reply[1])
    except Exception:  # refused, unsupported, or no node answers: the default stands
        return DEFAULT_FAILURE_BOUND_S
    return timeout_ms / 1000 * NODE_TIMEOUT_FACTOR + FAILURE_SLACK_S


async def failed_node(client: Any, exc: BaseException) -> str:
    """The node that failed: on a cluster, the primaries that do not answer a PING now
    (asked at once, before a replica takes their place); else the address the error names;
    on one server, its own address."""
    router = getattr(client, "cluster", None)
    if router is not None:
        try:
            await client.raw_pipeline([("PING",)])
        except Exception:  # every primary failed: `unreachable` names them all
            pass
        # The primaries of the map that failed this PING (an older entry may be a node that
        # failed long ago and is no primary now).
        down = [n for n in router.primaries() if n in router.unreachable]
        if down:
            return ", ".join(down)

        current: BaseException | None = exc
        while current is not None:
            found = re.search(r"(\d{1,3}(?:\.\d{1,3}){3}|localhost)[:,] ?(\d{2,5})", str(current))
            if found:
                return f"{found.group(1)}:{found.group(2)}"
            current = current.__cause__
        return "a cluster node"
    settings = getattr(client, "settings", None)
    return settings.display_url if settings is not None else "the server"


class BulkRunner(Generic[T]):
    """Runs a plan's chunks through `chunk`, reporting after each one.

    A chunk that raises a node failure (see `is_node_failure`) is tried again once the node
    is back or replaced, within `failure_bound`; past it, or on any other error, the run
    stops: the chunk's items are counted failed (other errors) or left untouched (a node
    that did not come back: not attempted), and the report says why and what resumes it.
    A chunk that finds its list gone (emptied, renamed, deleted, flushed) stops the run
    too, and every item not yet handled is counted gone. `progress` is called after every
    chunk; `cancel` is checked before every chunk.
    """

    def __init__(self, items: Sequence[T] | Plan, chunk: Callable[[Any], Awaitable[ChunkResult]],
                 *, chunk_size: int = 200,
                 progress: Callable[[BulkReport], None] | None = None,
                 cancel: Cancel | None = None,
                 journal: Journal | None = None, record: BulkRecord | None = None,
                 client: Any = None, resume: str | None = None) -> None:
        self.plan: Plan = ItemsPlan(items, chunk_size) if isinstance(items, Sequence) \
            else items
        self.chunk = chunk
        self.progress = progress
        self.cancel = cancel or Cancel()
        self.journal = journal if record is not None else None
        self.record = record
        self.client = client  # else the first client a chunk's move names (note_client)
        self.resume = resume  # the key that resumes this run when it stops

    @property
    def total(self) -> int:
        return self.plan.total

    async def run(self) -> BulkReport:
        state = RunState(client=self.client)
        token = _RUN_STATE.set(state)
        try:
            return await self._run(state)
        finally:
            _RUN_STATE.reset(token)

    async def _run(self, state: RunState) -> BulkReport:
        report = BulkReport(total=self.plan.total)
        head = isinstance(self.plan, HeadPlan)
        keep_record = False
        if self.journal is not None and self.record is not None:
            self.journal.start(self.record)
        while True:
            if self.cancel.requested:
                report.cancelled = True
                break
            batch = self.plan.next_chunk()
            if not batch:
                break
            state.settled = 0
            try:
                result = await self.chunk(batch)
            except Exception as exc:
                outcome = None
                if is_node_failure(exc) and state.client is not None:
                    outcome = await self._wait_out(exc, batch, report, state)
                    keep_record = outcome is None and report.stopped is not None
                else:
                    self._stop(exc, batch, report, state)
                if outcome is None:
                    self._save(report)
                    break
                batch, result = outcome
            other_failures = result.failed - result.left_at_head
            if isinstance(self.plan, HeadPlan):
                # Values left at the head are read again by every later chunk: each is
                # counted failed once.
                new_left = self.plan.newly_left(result.left_at_head)
                result = replace(result, failed=other_failures + new_left)
            report.add(result)
            self.plan.handled(result.done if head else _size(batch))
            if result.list_gone:
                report.gone += report.not_attempted  # nothing is left to act on
            self._save(report)
            if self.progress:
                self.progress(report)
            if result.list_gone:
                break
            if head and (result.done == 0 or result.reached_stop or other_failures):
                break
            await asyncio.sleep(0)  # let the UI draw between chunks
        # Only a run that ended here is finished in the journal: a console killed mid-way
        # (the task cancelled) leaves its record, reported as interrupted next time; so does
        # a run a failed node stopped, which F resumes.
        if self.journal is not None and self.record is not None:
            if keep_record:
                self.record.stopped = report.stopped or "stopped"
                self.journal.save(self.record)
            else:
                self.journal.finish(self.record)
        return report

    def _stop(self, exc: BaseException, batch: Any, report: BulkReport,
              state: RunState, recovered: int = 0) -> None:
        """A chunk failed for good (not a node failure): its items are counted failed."""
        report.waiting = None
        report.done += recovered
        report.in_flight += _in_flight(state)
        in_flight = _size(batch) - recovered
        if isinstance(self.plan, HeadPlan):
            in_flight -= self.plan.left  # already counted failed
        report.failed += min(max(in_flight, 0), report.not_attempted)
        report.stopped = _describe(exc)
        if len(report.errors) < MAX_ERRORS:
            report.errors.append(report.stopped)

    async def _wait_out(self, exc: BaseException, batch: Any, report: BulkReport,
                        state: RunState) -> tuple[Any, ChunkResult] | None:
        """Wait for a failed node within the bound, then try the chunk again. Returns the
        chunk (for a head run, the next one) and its result; None when the run stops (the
        report says why)."""
        client = state.client
        started = time.monotonic()
        node = await failed_node(client, exc)
        bound = await failure_bound(client)
        recovered = state.settled  # finished by the failed try before it raised
        last: BaseException = exc
        pause = 0.05
        head = isinstance(self.plan, HeadPlan)
        # A plan over a range counts items it does not name (e.g. "the next 100 due"):
        # what the failed try finished is taken off the retry.
        counted = isinstance(self.plan, ItemsPlan) and isinstance(self.plan.items, range)
        while True:
            if self.cancel.requested or time.monotonic() - started >= bound:
                break
            report.waiting = (f"waiting for node {node} to come back or be replaced "
                              f"({time.monotonic() - started:.0f} of {bound:.0f} s)")
            if self.progress:
                self.progress(report)  # the dialog says why the count stands still
            # Not a busy loop: a failover takes about a node timeout; look a few times a s.
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)
            state.settled = 0
            retry = batch
            try:
                if client.cluster is not None:
                    await client.cluster.refresh()
                if state.staged and state.deliver_staged is not None:
                    recovered += await state.deliver_staged(client, state)
                if head and recovered:
                    # Head runs count by what they took: these are taken, the next chunk
                    # is the rest.
                    self.plan.handled(recovered)
                    report.done += recovered
                    recovered = 0
                    batch = retry = self.plan.next_chunk()
                elif counted:
                    retry = batch[recovered:]  # a count, not items: the rest of it
                result = await self.chunk(retry) if retry else ChunkResult()
            except Exception as again:
                recovered += state.settled
                if not is_node_failure(again):
                    self._stop(again, batch, report, state, recovered)
                    return None
                last = again
                continue
            report.waited += time.monotonic() - started
            report.waiting = None
            report.failovers += 1
            if counted:
                result = replace(result, done=result.done + recovered)
            elif recovered:
                # The failed try had finished these: the retry finds them no longer in the
                # list and would call them skipped (or gone); they are done.
                from_gone = min(recovered, result.gone)
                from_skipped = min(recovered - from_gone, result.skipped)
                result = replace(result, gone=result.gone - from_gone,
                                 skipped=result.skipped - from_skipped,
                                 done=result.done + from_gone + from_skipped)
            return batch, result
        report.waited += time.monotonic() - started
        report.waiting = None
        report.done += recovered
        report.in_flight += _in_flight(state)
        if self.cancel.requested:
            report.cancelled = True
            return None
        report.stopped = (f"node {node} failed and was not back or replaced within "
                          f"{bound:.0f} s ({_describe(last)})")
        report.resume = self.resume or (
            "f on the Server panel delivers what is in flight; run it again for the rest"
            if report.in_flight else "run it again for the rest (it acts on what is there)")
        if len(report.errors) < MAX_ERRORS:
            report.errors.append(report.stopped)
        return None

    def _save(self, report: BulkReport) -> None:
        if self.journal is not None and self.record is not None:
            self.record.done = report.done
            self.record.skipped = report.skipped + report.failed + report.gone
            self.journal.save(self.record)


def _in_flight(state: RunState) -> int:
    """Items of this run staged between slots and not delivered."""
    return sum(n for n in state.staged.values() if n)
