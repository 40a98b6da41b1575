"""The fault suite: the console against servers that die, stall, race and refuse.

Every test prints its figure (recovery time, ids lost / duplicated, commands counted). Tests
marked `once` add nothing per server (the console's side of the fault is the same on every
server): they run in the default-server run only, and are skipped under
FERRITE_TUI_TEST_SERVER / _REDUCED / _FERRITE.
"""

from __future__ import annotations

import os

import pytest
from faultkit import FIGURES


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "once: run in the default-server run only")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from helpers import FERRITE, REDUCED, SERVER_ENV

    if not (os.environ.get(SERVER_ENV) or REDUCED or FERRITE):
        return
    skip = pytest.mark.skip(reason="fault test marked once: runs in the default-server run")
    for item in items:
        if item.get_closest_marker("once") is not None:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter) -> None:
    if FIGURES:
        terminalreporter.section("fault suite figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
