"""Files the console writes go to the platform's data dir by default, and say where."""

from __future__ import annotations

import json
import os

import pytest
import redis
from textual.widgets import Input

from ferrite_tui.files import EXPORTS, RECORDINGS, files_dir, resolve
from ferrite_tui.ui.screens.dialogs import FormScreen
from helpers import async_wait_until, running


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    home = tmp_path / "data-home"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    return home


def test_bare_names_go_to_the_data_dir(data_home, tmp_path):
    assert files_dir(EXPORTS) == data_home / "ferrite-tui" / "exports"
    assert resolve("x.ndjson", EXPORTS) == files_dir(EXPORTS) / "x.ndjson"
    assert resolve("sub/x.ndjson", RECORDINGS) == files_dir(RECORDINGS) / "sub" / "x.ndjson"
    assert resolve("./x.ndjson", EXPORTS) == tmp_path.joinpath("x.ndjson").relative_to(
        tmp_path)  # asked for the current directory
    assert resolve(str(tmp_path / "abs.ndjson"), EXPORTS) == tmp_path / "abs.ndjson"
    assert resolve("~/x", EXPORTS) == resolve("~/x", EXPORTS).expanduser()


async def test_dlq_export_defaults_to_the_data_dir_and_says_where(redis_url, data_home,
                                                                  tmp_path):
    from test_deadletters_ui import DLQ, dead, make_app, open_dlq

    r = redis.Redis.from_url(redis_url)
    r.rpush(DLQ, *[dead(i, "boom") for i in range(3)])
    r.close()
    app = make_app(redis_url, tmp_path)
    async with running(app, size=(80, 24)) as pilot:
        await open_dlq(app, pilot)
        await pilot.press("x")
        await async_wait_until(lambda: isinstance(app.screen, FormScreen))
        await pilot.pause()
        field = app.screen.query_one("#field-path", Input)
        folder = files_dir(EXPORTS)
        assert field.value.startswith(str(folder) + os.sep)
        labels = " ".join(str(lbl.render()) for lbl in app.screen.query("Label"))
        assert str(folder) in labels
        await pilot.press("enter")
        await async_wait_until(lambda: any(n.message.startswith("Exported 3 entries to ")
                                           for n in app.notice_board.shown()))
        (note,) = [n.message for n in app.notice_board.shown() if n.message.startswith("Exported")]
        written = list(folder.glob("*.ndjson"))
        assert len(written) == 1 and str(written[0]) in note
        assert len(written[0].read_text().splitlines()) == 3
        assert not list(tmp_path.glob("*.ndjson"))  # nothing in the current directory


async def test_recording_defaults_to_the_data_dir(redis_url, data_home, tmp_path):
    from test_pubsub_ui import make_app, open_panel

    app = make_app(redis_url, tmp_path)
    async with running(app, size=(80, 24)) as pilot:
        panel = await open_panel(app, pilot)
        await pilot.press("w")
        await async_wait_until(lambda: isinstance(app.screen, FormScreen))
        await pilot.pause()
        field = app.screen.query_one("#field-path", Input)
        field.value = "incident.ndjson"  # a bare name
        await pilot.press("enter")
        await async_wait_until(lambda: panel.tail is not None and panel.tail.recorder is not None)
        target = files_dir(RECORDINGS) / "incident.ndjson"
        await async_wait_until(lambda: any(str(target) in n.message
                                           for n in app.notice_board.shown()))
        r = redis.Redis.from_url(redis_url)
        r.publish("c", json.dumps({"n": 1}))
        r.close()
        await pilot.press("w")
        await async_wait_until(lambda: panel.tail is not None and panel.tail.recorder is None)
    assert target.exists()


async def test_palette_screenshot_goes_to_a_folder_made_for_it_and_names_the_file(
        data_home, monkeypatch):
    """Textual saves screenshots in ~/Downloads, often missing on a server: it said only
    "Failed to save screenshot". The console's own folder is made when missing, and the
    message names the file written."""
    from ferrite_tui.files import SCREENSHOTS
    from frozen import feed, frozen_app

    monkeypatch.setenv("HOME", str(data_home / "no-downloads-here"))
    app = frozen_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await feed(pilot)
        app.deliver_screenshot()  # what the palette's Screenshot runs
        await async_wait_until(lambda: any("Screenshot saved" in str(n.message)
                                           for n in app.notices))
    saved = list(files_dir(SCREENSHOTS).glob("*.svg"))
    assert len(saved) == 1 and saved[0].read_text().startswith("<svg")
    message = next(str(n.message) for n in app.notices if "Screenshot saved" in str(n.message))
    assert message == f"Screenshot saved: {saved[0]}"
