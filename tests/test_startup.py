"""Start-up (issue 25, start to first data): the garbage collector waits while the console
starts, and runs again once its first data is drawn; the other commands keep it."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ferrite_tui import startup
from ferrite_tui.backend.client import Client
from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.config import Config
from ferrite_tui.ui.app import FerriteApp
from helpers import async_wait_until

# Collections from the start until the command parses its arguments (its modules loaded:
# redis-py, the backend): 70 before the pause, now 1 (the package's own import, before the
# pause); and whether the collector runs once the command is done.
COUNTED = """
import argparse, gc
started = []
gc.callbacks.append(lambda phase, info: started.append(info) if phase == "start" else None)
parse_args = argparse.ArgumentParser.parse_args
at_parse = []  # the collections so far when the command parses its arguments

def counted(self, *args, **kwargs):
    at_parse.append(len(started))
    return parse_args(self, *args, **kwargs)

argparse.ArgumentParser.parse_args = counted
import ferrite_tui.cli as cli
try:
    cli.main(["--version"])
except SystemExit:
    pass
print(at_parse[0], gc.isenabled())
"""


def test_the_command_loads_its_modules_without_a_collection() -> None:
    out = subprocess.run([sys.executable, "-c", COUNTED], capture_output=True, text=True,
                         check=True).stdout.split()
    collections, enabled = out[-2:]
    assert int(collections) <= 2 and enabled == "True", out


def test_other_commands_run_with_the_collector(redis_url: str) -> None:
    code = ("import gc, ferrite_tui.cli as cli\n"
            "import ferrite_tui.cli.status as st\n"
            "seen = []\n"
            "real = st.status_command\n"
            "def watched(*a, **k):\n"
            "    seen.append(gc.isenabled())\n"
            "    return real(*a, **k)\n"
            "st.status_command = watched\n"
            f"cli.main(['status', {redis_url!r}])\n"
            "print('collector during status:', seen)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "collector during status: [True]" in out.stdout, out.stdout + out.stderr


@pytest.fixture
def paused(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(startup, "START_LIMIT_S", 60.0)  # the first data, not the limit
    was = gc.isenabled()
    gc.enable()
    startup.pause_collector()
    yield
    startup.resume_collector()
    if was:
        gc.enable()
    else:
        gc.disable()


async def test_the_console_resumes_the_collector_once_its_first_data_is_drawn(
        paused: None, redis_url: str, tmp_path: Path) -> None:
    app = FerriteApp(Config(), ConnectionSettings(url=redis_url), refresh=5.0,
                     audit_path=tmp_path / "audit.log")
    async with app.run_test(size=(100, 30)) as pilot:
        await async_wait_until(lambda: app.monitor is not None
                               and app.monitor.snapshot is not None, timeout=15)
        await async_wait_until(gc.isenabled, timeout=2)
        await pilot.pause()


def test_modules_the_start_does_not_use_load_when_first_used() -> None:
    """redis-py imports importlib.metadata (with email, zipfile) for a version string the
    console never sends: it runs at its first use, and works then."""
    code = ("import sys, ferrite_tui.cli as cli\n"
            "try:\n"
            "    cli.main(['--version'])\n"
            "except SystemExit:\n"
            "    pass\n"
            "print('redis' in sys.modules, 'email' in sys.modules)\n"
            "from importlib.metadata import version\n"
            "print(version('redis') and 'email' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[-3:] == ["True", "False", "True"], out


async def test_connecting_probes_the_server_in_few_round_trips(redis_url: str) -> None:
    """The first data waits for the connection's probe: the commands it tries go in one
    pipeline (13 round trips to connect before, each one a turn of a busy event loop)."""
    client = Client(ConnectionSettings(url=redis_url))
    try:
        capabilities = await client.connect()
        assert client.round_trips.count <= 8, client.round_trips.count
        assert capabilities.scan_type and capabilities.xpending_idle  # Redis 6.2+
    finally:
        await client.aclose()
