"""Under CPU load the terminal still shows what Textual drew, and the Scheduled panel's jobs
stay in due order on it, on the panel's first visit.

The Scheduled panel at 80x24 once showed four rows of jobs one second older than the rows
under them (the same ids twice), after `/ escape 4` typed in one burst on the demo's
Overview, on a machine loaded by other work. Here fresh consoles (each the panel's first
visit: panels are built when first shown) take those keys beside one busy process per core,
on an emulated terminal checked after every frame (tests/test_terminal_frames.py)."""

from __future__ import annotations

import pytest
from test_dialogs_under_load import cpu_burners  # noqa: F401  (a fixture)

from test_terminal_frames import demo_url, on_terminal, tour  # noqa: F401  (demo_url: a fixture)

pytestmark = [pytest.mark.scenario, pytest.mark.once]

CONSOLES = 6


@pytest.mark.usefixtures("cpu_burners")
async def test_first_visits_under_load_show_what_textual_drew(demo_url, tmp_path):  # noqa: F811
    failures: list[str] = []
    frames = 0
    for n in range(CONSOLES):
        (tmp_path / str(n)).mkdir()
        async with on_terminal(demo_url, tmp_path / str(n)) as watch:
            if n == 0:
                await tour(watch)
            else:
                watch.keys("/", "escape", "4")
                await watch.until("in due order")
                await watch.watch(3)
        frames += watch.check.frames
        failures += watch.failures()
    assert frames > 20 * CONSOLES
    assert not failures, "\n\n".join(failures)


@pytest.mark.xfail(strict=False, reason=(
    "once in about six runs beside other tests: with the palette open the terminal's lines "
    "3-21 stayed blank where Textual drew the palette's list, and both terminals showed "
    "list lines at the top (0-2) as if scrolled; cause not found"))
@pytest.mark.usefixtures("cpu_burners")
async def test_the_command_palette_shows_what_textual_drew(demo_url, tmp_path):  # noqa: F811
    failures: list[str] = []
    async with on_terminal(demo_url, tmp_path) as watch:
        watch.keys("4")
        await watch.until("in due order")
        for _ in range(6):
            watch.keys("ctrl+p")
            await watch.until("Search for commands")
            await watch.watch(0.3)
            watch.keys("escape")
            await watch.until("in due order")
            await watch.watch(0.3)
        failures += watch.failures()
    assert not failures, "\n\n".join(failures)
