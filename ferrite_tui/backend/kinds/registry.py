"""The registry itself: the layouts in the order they claim keys (see kinds/__init__.py)."""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

from ferrite_tui.backend.kinds.base import KindLayout
from ferrite_tui.backend.libraries.model import LibraryQueue

if TYPE_CHECKING:
    from ferrite_tui.backend.models import QueueKind


class Registry:
    """The guide's kinds (`KindLayout`s) and the queue libraries' modules."""

    def __init__(self) -> None:
        self.kinds: list[KindLayout] = []
        self.libraries: list[ModuleType] = []
        self._by_kind: dict[QueueKind, KindLayout] = {}
        self._keep_prefixes: tuple[str, ...] = ()
        # Libraries keeping keys under a prefix the keys reveal only later (dramatiq's
        # namespace): their `keeps_anywhere` is asked of every set and hash.
        self._anywhere: list[ModuleType] = []

    def add_kind(self, layout: KindLayout) -> None:
        self.kinds.append(layout)
        self._by_kind[layout.kind] = layout

    def add_library(self, module: ModuleType) -> None:
        """A library layout: a module with LIBRARY, KEEP_PREFIXES, keeps, recognise and
        ACTIONS, and optionally keeps_anywhere (see libraries/__init__.py)."""
        self.libraries.append(module)
        self._keep_prefixes += tuple(module.KEEP_PREFIXES)
        if hasattr(module, "keeps_anywhere"):
            self._anywhere.append(module)

    def remove_library(self, module: ModuleType) -> None:
        self.libraries.remove(module)
        self._keep_prefixes = tuple(p for m in self.libraries for p in m.KEEP_PREFIXES)
        if module in self._anywhere:
            self._anywhere.remove(module)

    def layout(self, kind: QueueKind) -> KindLayout:
        return self._by_kind[kind]

    def keeps(self, name: str, type_: str) -> bool:
        """Whether discovery keeps a key that is not itself a queue (a set or hash
        signature of a library). Asked of every set and hash: most fail the prefix
        pre-check."""
        return (name.startswith(self._keep_prefixes) and any(
            m.keeps(name, type_) for m in self.libraries if m.KEEP_PREFIXES)) or any(
            m.keeps_anywhere(name, type_) for m in self._anywhere)

    def recognise_libraries(self, types: dict[str, str], members: dict[str, list[str]],
                            ) -> tuple[list[LibraryQueue], set[str]]:
        """Every library queue in `types` ({key: type}) and the keys they claim (each
        library's keys live under its own prefix or names: they never compete)."""
        queues: list[LibraryQueue] = []
        claimed: set[str] = set()
        for module in self.libraries:
            found = module.recognise(types, members)
            queues.extend(found.queues)
            claimed |= found.claimed
        return queues, claimed
