"""The registry itself: the layouts in the order they claim keys (see kinds/__init__.py)."""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

from ferrite_tui.backend import libraries
from ferrite_tui.backend.kinds.base import Action, KindLayout
from ferrite_tui.backend.libraries.model import Act, LibraryQueue

if TYPE_CHECKING:
    from ferrite_tui.backend.models import QueueKind


def library_action(act: Act) -> Action:
    """A library layout's declaration as an action (its label may be empty: the panel's
    word for it)."""
    return Action(act.action, act.label, act.label, act.equivalent, act.needs_lua)


class Registry:
    """The guide's kinds (`KindLayout`s) and the queue libraries' modules.

    The modules of `libraries.RECOGNISERS` are recognised by `libraries.recognise` and kept
    by `libraries.keeps` (their options, prefixes and suffixes live there); a module
    registered apart (a new layout under test) is asked the same way after them."""

    def __init__(self) -> None:
        self.kinds: list[KindLayout] = []
        self.libraries: list[ModuleType] = []
        self._by_kind: dict[QueueKind, KindLayout] = {}
        self._apart: list[ModuleType] = []  # registered, not in libraries.RECOGNISERS

    def add_kind(self, layout: KindLayout) -> None:
        """A kind's layout; one registered again replaces it, keeping its place in the
        order (a deployment's own layout of a guide kind, a test's)."""
        old = self._by_kind.get(layout.kind)
        if old is None:
            self.kinds.append(layout)
        else:
            self.kinds[self.kinds.index(old)] = layout
        self._by_kind[layout.kind] = layout

    def add_library(self, module: ModuleType) -> None:
        """A library layout: a module with LIBRARY, KEEP_PREFIXES, keeps, recognise and
        ACTIONS (see libraries/__init__.py)."""
        self.libraries.append(module)
        if module not in libraries.RECOGNISERS:
            self._apart.append(module)

    def remove_library(self, module: ModuleType) -> None:
        self.libraries.remove(module)
        if module in self._apart:
            self._apart.remove(module)

    def layout(self, kind: QueueKind) -> KindLayout:
        return self._by_kind[kind]

    def kinds_in(self, panel: str) -> tuple[QueueKind, ...]:
        """The kinds a tab of the console lists (its panel's KINDS)."""
        return tuple(layout.kind for layout in self.kinds if layout.panel == panel)

    def kind_actions(self, kind: QueueKind) -> dict[str, Action]:
        """The actions a guide kind's layout declares, by name."""
        return {a.name: a for a in self._by_kind[kind].actions}

    @staticmethod
    def library_actions(lib: LibraryQueue) -> dict[str, Action]:
        """The actions a library queue's layout declares, by name."""
        return {a.action: library_action(a) for a in lib.actions}

    def keeps(self, name: str, type_: str) -> bool:
        """Whether discovery keeps a key that is not itself a queue (a set or hash
        signature of a library)."""
        return libraries.keeps(name, type_) or any(
            name.startswith(tuple(m.KEEP_PREFIXES)) and m.keeps(name, type_)
            for m in self._apart if m.KEEP_PREFIXES)

    def recognise_libraries(self, types: dict[str, str], members: dict[str, list[str]],
                            options: object = None) -> tuple[list[LibraryQueue], set[str]]:
        """Every library queue in `types` ({key: type}) and the keys they claim (each
        library's keys live under its own prefix or names: they never compete)."""
        queues, claimed = libraries.recognise(types, members, options)
        for module in self._apart:
            found = module.recognise(types, members)
            queues.extend(found.queues)
            claimed |= found.claimed
        return queues, claimed
