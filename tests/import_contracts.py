"""An import-linter contract of our own, and the cycle finder it shares with
tests/test_imports.py.

import-linter's `acyclic_siblings` treats a sub-package as one unit: backend/libraries/
holds both the queue model (imported by backend/models.py) and the libraries' actions
(which import backend/client.py), so at that grain backend/ is one knot, though no module
reaches itself. `acyclic_modules` looks at modules: inside the packages named, no module
may reach itself through imports that run (inside functions too; `if TYPE_CHECKING:`
imports left out, as Python never runs them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import grimp
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


def find_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


class AcyclicModulesContract(Contract):
    """No module under `packages` reaches itself through its imports.

    Configuration options:
        - packages: the packages whose modules (at every depth) are checked.
    """

    type_name = "acyclic_modules"

    packages = fields.ListField(subfield=fields.StringField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        packages: list[str] = list(self.packages)  # type: ignore[call-overload]
        # The graph given is built with the TYPE_CHECKING imports (the layers count them);
        # cycles count the imports that run only.
        running = grimp.build_graph(*sorted({p.split(".")[0] for p in packages}),
                                    exclude_type_checking_imports=True)
        inside = {m for m in running.modules
                  if any(m == p or m.startswith(p + ".") for p in packages)}
        edges = {m: {t for t in running.find_modules_directly_imported_by(m)
                     if t in inside and not m.startswith(t + ".")}  # a package's own __init__
                 for m in inside}
        cycles = find_cycles(edges)
        return ContractCheck(kept=not cycles, metadata={"cycles": cycles})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for cycle in check.metadata["cycles"]:
            output.print_error(f"Modules importing each other: {', '.join(cycle)}")
            output.new_line()
