"""Bytes written to the terminal by the demo's Overview under its own traffic, beside
`top -d 1` on the same machine in the same run, at 200x60 and 80x24 (over SSH these bytes are
the link's load).

Run: python -m pytest -n 0 -m perf -s tests/perf/test_screen_bytes_perf.py
Budgets (issue 25): at most 8 KB/s at 200x60 and 2 KB/s at 80x24 (measured 20-31 KB/s and
5.6 KB/s before the charts were drawn only when they change and a table's changed cells
alone were repainted). Each console figure is printed beside top's; the asserts are on the
console's bytes per second and its ratio to top's, after a warm-up (start, the trends
rebuilt from the data, the first alerts)."""

from __future__ import annotations

import shutil
import sys
import time

import pytest

from ptyterm import PtyTerminal, console_env

pytestmark = pytest.mark.perf

WARM_S = 20.0
WINDOW_S = 30.0
BUDGET_BPS = {(200, 60): 8_000, (80, 24): 2_000}


def bytes_per_second(argv: list[str], size: tuple[int, int], ready: str, env=None) -> float:
    width, height = size
    with PtyTerminal(argv, env=env, width=width, height=height) as term:
        term.wait_for(ready, timeout=120)
        time.sleep(WARM_S)  # part of the measure, not a wait for a condition
        start, written = time.monotonic(), len(term.output())
        time.sleep(WINDOW_S)
        rate = (len(term.output()) - written) / (time.monotonic() - start)
        assert term.process is not None and term.process.poll() is None, f"{argv} exited"
    return rate


@pytest.mark.parametrize("size", list(BUDGET_BPS))
def test_demo_overview_bytes_per_second_beside_top(size, tmp_path):
    top = shutil.which("top")
    assert top is not None, "top (procps) is the anchor of this benchmark"
    anchor = bytes_per_second([top, "-d", "1"], size, "load average")
    console = bytes_per_second([sys.executable, "-m", "ferrite_tui", "demo"], size,
                               "need attention", env=console_env(tmp_path))
    width, height = size
    print(f"\nbytes/s at {width}x{height} over {WINDOW_S:.0f} s after {WARM_S:.0f} s:")
    print(f"  top -d 1                      {anchor:8.0f} B/s")
    print(f"  ferrite-tui demo, Overview    {console:8.0f} B/s  ({console / anchor:.2f}x top)")
    assert console <= BUDGET_BPS[size]
