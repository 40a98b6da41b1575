"""Correcting a queue's kind: `o` on the highlighted queue saves a [[queues]] entry to the
user's config file (their other lines kept byte for byte) and discovery uses it at once."""

from __future__ import annotations

import tomllib
from typing import cast

import pytest
from textual.widgets import Input

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.backend.models import QueueKind
from ferrite_tui.config import Config, ConfigError, load, save_queue
from ferrite_tui.ui.app import FerriteApp
from ferrite_tui.ui.panels.overview import OverviewPanel
from helpers import async_wait_until, running

USER_TEXT = """\
# my settings: keep this comment
refresh = 2.0   # trailing comment

[alerts]
depth = 500

[[queues]]
key = "orders"
kind = "work"
"""


def test_save_keeps_the_users_file_and_a_later_entry_wins(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(USER_TEXT)
    cfg = load(path)
    new = save_queue(cfg, {"key": "orders", "kind": "dlq", "target_key": "orders:retry",
                           "score_unit": None})
    text = path.read_text()
    assert text.startswith(USER_TEXT)  # every byte the user wrote, comments included
    assert "score_unit" not in text
    assert tomllib.loads(text)["queues"][-1] == {"key": "orders", "kind": "dlq",
                                                 "target_key": "orders:retry"}
    again = load(path)
    assert [(d.key, d.kind) for d in again.queues] == [("orders", "dlq")]
    assert new.queues == again.queues and again.alerts.depth == 500
    save_queue(again, {"key": "retry:x", "kind": "delayed", "score_unit": "s"})
    assert [(d.key, d.kind, d.score_unit) for d in load(path).queues] == \
        [("orders", "dlq", None), ("retry:x", "delayed", "s")]


def test_no_file_yet_and_a_bad_entry_writes_nothing(tmp_path):
    path = tmp_path / "sub" / "config.toml"
    cfg = Config(path=path)
    save_queue(cfg, {"key": "a", "kind": "priority"})
    assert [d.kind for d in load(path).queues] == ["priority"]
    before = path.read_text()
    with pytest.raises(ConfigError):
        save_queue(cfg, {"key": "a", "kind": "nonsense"})
    assert path.read_text() == before


async def test_o_corrects_the_kind_and_discovery_follows(redis_url, sync, tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(USER_TEXT)
    # A leaderboard-like set of job-looking members with small scores: found as priority.
    sync.zadd("jobs:later", {'{"id":1}': 1, '{"id":2}': 2})
    app = FerriteApp(load(path), ConnectionSettings(url=redis_url), refresh=0.2,
                     audit_path=tmp_path / "audit.log")

    def kind_of(key):
        snap = app.monitor.snapshot if app.monitor is not None else None
        return next((q.ref for q in snap.queues if q.ref.key == key), None) if snap else None

    async with running(app) as pilot:
        await async_wait_until(lambda: kind_of("jobs:later") is not None)
        ref = kind_of("jobs:later")
        assert ref.kind is QueueKind.PRIORITY and ref.evidence.startswith("priority: scores")
        panel = cast(OverviewPanel, app.panel("overview"))
        panel.table.focus()
        panel.table.select_key(ref.ident)
        await pilot.pause()
        await pilot.press("o")
        await async_wait_until(lambda: app.screen.query("#field-kind"))
        app.screen.query_one("#field-kind", Input).value = "work"
        await pilot.press("enter")
        await async_wait_until(lambda: kind_of("jobs:later") is not None
                               and kind_of("jobs:later").kind is QueueKind.WORK)
        assert kind_of("jobs:later").declared
    text = path.read_text()
    assert text.startswith(USER_TEXT)
    assert tomllib.loads(text)["queues"][-1] == {"key": "jobs:later", "kind": "work"}
