"""The Queues panel's part for queue libraries (RQ, Celery, dramatiq, ...): their items'
own fields in the inspector, the guard that keeps the generic list moves off their keys,
and their own actions (libraries/plans.py), each through the action pipeline."""

from __future__ import annotations

from rich.text import Text

from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.libraries import plans
from ferrite_tui.backend.libraries.items import describe as describe_library_item
from ferrite_tui.backend.libraries.model import LibraryQueue
from ferrite_tui.backend.libraries.plans import ACTIONS as LIBRARY_ACTIONS
from ferrite_tui.backend.models import QueueRef
from ferrite_tui.ui.panels.base import NothingSelected, Outcome
from ferrite_tui.ui.panels.list_base import ItemPagerPanel


class LibraryQueueActions(ItemPagerPanel):
    """What QueuesPanel adds for a library's queue; `current_ref` is the selected queue."""

    current_ref: QueueRef | None = None

    async def _inspect_library(self, ref: QueueRef, title: str, raw: bytes,
                               meta: list[tuple[str, str]]) -> None:
        """A library's item: its own fields (task, args, error, traceback) from its body."""
        library = ref.library
        assert library is not None
        state = next(s for s in library.states if s.key == ref.key)
        try:
            meta = meta + await describe_library_item(self.client(), library, state, raw)
        except Exception as exc:
            meta = [*meta, ("library fields", self.session.describe(exc))]
        self.inspect_value(title, raw, meta)

    def _not_library(self) -> None:
        """A library's queue changes only with the library's own semantics (the library
        actions below), never with the generic list moves."""
        ref = self.current_ref
        if ref is not None and ref.library is not None:
            lib = ref.library
            why = lib.read_only or "its jobs live in more keys than this list"
            raise NothingSelected(f"{lib.library} queue, not changed here ({why})")

    # -- library actions (the library's own semantics, exact, no Lua) -----------------

    def _library_queue(self, library: str) -> LibraryQueue:
        ref = self.current_ref
        if ref is None or ref.library is None or ref.library.library != library:
            raise NothingSelected(f"select a {library} queue first")
        if ref.library.read_only:
            raise NothingSelected(ref.library.read_only)
        return ref.library

    def _library_action(self, action: str) -> None:
        library = LIBRARY_ACTIONS[action][0]
        self.act(f"lib_{action.replace('-', '_')}", lambda: self._library_queue(library),
                 lambda queue: self._run_library(action, queue))

    async def _run_library(self, action: str, queue: LibraryQueue) -> Outcome | None:
        client = self.client()
        plan = await plans.plan(client, action, queue)
        if plan.count == 0:
            self.notify(f"{queue.library} {printable(queue.name)}: nothing to do", timeout=3)
            return None
        if not await self.confirm(f"{queue.library}: {printable(queue.name)}",
                                  Text(plan.question), "Go"):
            return None
        res = await plans.run(client, plan)
        done = plan.count if plan.action == "celery-purge" and res.done else len(res.done)
        return Outcome(f"{queue.library} {printable(queue.name)}: {done:,} done, "
                       f"{len(res.skipped):,} skipped (changed since seen)",
                       "information" if not res.skipped else "warning")

    def action_lib_rq_requeue_failed(self) -> None:
        self._library_action("rq-requeue-failed")

    def action_lib_rq_run_scheduled(self) -> None:
        self._library_action("rq-run-scheduled")

    def action_lib_dramatiq_requeue_dead(self) -> None:
        self._library_action("dramatiq-requeue-dead")

    def action_lib_celery_purge(self) -> None:
        self._library_action("celery-purge")

    def action_lib_celery_requeue_unacked(self) -> None:
        self._library_action("celery-requeue-unacked")
