"""The library's own action on every item of a library state shown in panels 4 and 6
(R requeue / retry all, X run all now, D delete all): the items read now (at most
`plans.MAX_ITEMS`), one confirmation with the exact count and the library's operation,
then the operation per job in chunks through the panel's bulk runner, with its progress,
cancel and resume (run it again: what was done is no longer there and is skipped)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from rich.text import Text

from ferrite_tui.backend.bulk import BulkReport, BulkRunner, ChunkResult
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.libraries import plans
from ferrite_tui.backend.libraries.model import LibraryQueue, StateKey
from ferrite_tui.backend.lists import MAX_WINDOW
from ferrite_tui.backend.movebase import Item
from ferrite_tui.ui.panels.base import Outcome
from ferrite_tui.ui.widgets.items import Source

if TYPE_CHECKING:
    from ferrite_tui.backend.client import Client

#: Jobs per chunk: one library operation each, so a chunk stays short.
CHUNK = 50
WHAT = {"requeue": "back to their queue, as the library requeues (retries) them",
        "run_now": "to their queue, to run now",
        "delete": "deleted with their bodies; cannot be undone"}


class BulkHost(Protocol):
    async def confirm(self, title: str, body: str | Text, label: str = "Yes", *,
                      typed: str | None = None) -> bool: ...

    async def run_bulk(self, title: str, runner: BulkRunner[Any]) -> BulkReport: ...


async def all_items(client: Client, source: Source, limit: int = plans.MAX_ITEMS
                    ) -> tuple[list[Item], int]:
    """The state's items as read now, from its next end, at most `limit` (each once), and
    how many it holds."""
    items: list[Item] = []
    seen: set[bytes] = set()
    start, length = 0, 0
    while len(items) < limit:
        page = await source.load(client, start, min(MAX_WINDOW, limit - len(items)))
        length = page.length
        for it in page.items:
            if it.raw not in seen and len(items) < limit:
                seen.add(it.raw)
                items.append(it)
        if not page.items or page.end >= page.length or page.start < start:
            break
        start = page.end
    return items, length


def chunk_result(res: Any) -> ChunkResult:
    """A library action's result as a bulk chunk's: refusals count as failed (left where
    they were), each with the library's own reason."""
    return ChunkResult(done=len(res.done), skipped=len(res.skipped), failed=len(res.errors),
                       errors=[printable(e, 300) for e in res.errors])


async def run_state_bulk(host: BulkHost, client: Client, action: str, queue: LibraryQueue,
                         state: StateKey, source: Source, resume: str) -> Outcome | None:
    """`action` on every item of `state` read now (at most MAX_ITEMS), after one
    confirmation that counts them and names the library's operation."""
    items, length = await all_items(client, source)
    verb = plans.ITEM_ACTIONS[action]
    where = f"{queue.library} queue {printable(queue.name)} ({printable(state.name)})"
    if not items:
        return Outcome(f"{where}: nothing to {verb.lower()}", "warning")
    n = len(items)
    capped = f" (the first {n:,} of {length:,}; run it again for the rest)" \
        if length > n else ""
    declared = queue.declared(action, state.name)
    own = f" As {queue.library} does: {declared.equivalent}." if declared else ""
    if not await host.confirm(
            f"{queue.library}: {verb} all shown",
            Text(f"{verb} all {n:,} item{'s' if n != 1 else ''} of {where}{capped}: "
                 f"{WHAT[action]}.{own} Any that moved since they were read are skipped."),
            f"{verb} {n:,}"):
        return None

    async def chunk(batch: list[Item]) -> ChunkResult:
        return chunk_result(await plans.run_items(client, action, queue, state, batch))

    runner: BulkRunner[Item] = BulkRunner(items, chunk, chunk_size=CHUNK, client=client,
                                          resume=resume)
    report = await host.run_bulk(f"{verb} {n:,} of {printable(queue.name)}", runner)
    return Outcome.of(report, "done", f"{queue.library} {verb.lower()} ({state.name})")
