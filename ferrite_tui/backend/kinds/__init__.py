"""The registry of layouts: every queue kind of the guide and every queue library's layout,
each declared in one module and registered here with one line.

A guide kind (`kinds/NAME.py`) has a `LAYOUT` (`base.KindLayout`): how it is recognised,
its reader inside the poll (commands / appliers / finish), its alerts, how its items
decode and its actions. A library layout (`libraries/NAME.py`) has `LIBRARY`,
`KEEP_PREFIXES`, `keeps`, `recognise` and `ACTIONS`; the poll reads every library's states
with one reader (`kinds/library.py`). See docs/architecture.md for the recipes.
"""

from __future__ import annotations

from ferrite_tui.backend.kinds import deadletters, delayed, priority, reliable, stream, work
from ferrite_tui.backend.kinds.registry import Registry
from ferrite_tui.backend.libraries import RECOGNISERS

REGISTRY = Registry()

# The guide's kinds, in the order discovery classifies keys (a key goes to the first).
REGISTRY.add_kind(delayed.LAYOUT)
REGISTRY.add_kind(priority.LAYOUT)
REGISTRY.add_kind(reliable.LAYOUT)
REGISTRY.add_kind(deadletters.LAYOUT)
REGISTRY.add_kind(work.LAYOUT)
REGISTRY.add_kind(stream.LAYOUT)

# The queue libraries' layouts: one line each in libraries.RECOGNISERS (recognised before
# the guide's kinds, in that order).
for _library in RECOGNISERS:
    REGISTRY.add_library(_library)

__all__ = ["REGISTRY", "Registry"]
