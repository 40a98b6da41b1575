"""Panels take their actions from the layouts: for the selected queue they offer (footer,
command palette, keys) exactly what its layout declares, with the layout's words, and a
key for anything else is refused with one line before a command is sent."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

import toy_layout
from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.backend.kinds import REGISTRY
from ferrite_tui.backend.models import QueueKind
from ferrite_tui.config import Config
from ferrite_tui.ui.app import FerriteApp
from ferrite_tui.ui.commands import panel_commands
from ferrite_tui.ui.panels.queues import QueuesPanel
from ferrite_tui.ui.widgets.footer import KeyFooter
from helpers import CommandRecorder, async_wait_until, running

#: What panel 2 offers on the queues of other layouts (none of it the toy's, or the
#: narrowed work list's).
OTHERS = {"Purge", "Move", "Ack", "Nack", "Recover stale", "Requeue", "Run now"}


@pytest.fixture
def sync(redis_url: str) -> Iterator[redis.Redis]:
    r = redis.Redis.from_url(redis_url)
    yield r
    r.close()


@pytest.fixture
def toy_registered() -> Iterator[None]:
    REGISTRY.add_library(toy_layout)  # the one registry line
    yield
    REGISTRY.remove_library(toy_layout)


@pytest.fixture
def work_delete_only() -> Iterator[None]:
    guide = REGISTRY.layout(QueueKind.WORK)
    REGISTRY.add_kind(toy_layout.WORK_DELETE_ONLY)  # replaces the guide's, in its place
    yield
    REGISTRY.add_kind(guide)


def make_app(redis_url: str, tmp_path) -> FerriteApp:
    # a long refresh: no poll under the test's feet while it records what is sent
    return FerriteApp(Config(), ConnectionSettings(url=redis_url), refresh=60,
                      audit_path=tmp_path / "audit.log")


async def open_queue(app: FerriteApp, pilot, key: str) -> QueuesPanel:
    await async_wait_until(lambda: app.monitor is not None and app.monitor.snapshot is not None
                           and any(q.ref.key == key for q in app.monitor.snapshot.queues))
    await pilot.press("2")
    panel = app.panel("queues")
    assert isinstance(panel, QueuesPanel)
    await async_wait_until(lambda: panel.table.row_count > 0)
    snapshot = app.monitor.snapshot if app.monitor is not None else None
    assert snapshot is not None
    ident = next(q.ref.ident for q in snapshot.queues if q.ref.key == key)
    panel.table.focus()
    panel.table.select_key(ident)
    await pilot.pause()
    await pilot.press("enter")
    await async_wait_until(lambda: panel.current_ref is not None
                           and panel.current_ref.key == key)
    return panel


def footer_words(app: FerriteApp) -> set[str]:
    return {entry.description for entry in app.screen.query_one(KeyFooter).entries()}


def offered(panel: QueuesPanel) -> set[str]:
    """The panel's writing actions offered for the selected queue."""
    return {a for a in panel.MUTATIONS if panel.check_action(a, ()) is not False}


@pytest.mark.usefixtures("toy_registered")
async def test_a_toy_layouts_declared_action_is_offered_with_its_words_and_nothing_else(
        redis_url, sync, tmp_path):
    now = int(time.time() * 1000)
    toy_layout.enqueue(sync, "mail", "m1", now - 60_000)
    toy_layout.fail(sync, "mail", "m9", now - 5_000)
    app = make_app(redis_url, tmp_path)
    async with running(app) as pilot:
        panel = await open_queue(app, pilot, "toyq:mail:waiting")
        await pilot.pause()
        assert offered(panel) == {"lib_delete"}
        words = footer_words(app)
        assert "Drop" in words  # the layout's label, not the panel's "Delete"
        assert not words & (OTHERS | {"Delete"})
        commands = {name: help_text for name, _, help_text in panel_commands(panel)}
        # the palette names what it sends, as the layout declares it
        assert commands["Queues: Drop (d)"] == "sends LREM / ZREM of the exact job"
        lines = list(commands)
        assert not any(other.lower() in line.lower() for other in OTHERS for line in lines
                       if line.startswith("Queues: ") and "state" not in line)


@pytest.mark.usefixtures("work_delete_only")
async def test_a_key_its_layout_does_not_declare_is_refused_and_sends_nothing(
        redis_url, sync, tmp_path):
    sync.rpush("emails", b"a", b"b", b"c")
    app = make_app(redis_url, tmp_path)
    port = sync.connection_pool.connection_kwargs["port"]
    async with running(app) as pilot:
        panel = await open_queue(app, pilot, "emails")
        await pilot.pause()
        assert offered(panel) == {"delete"}
        words = footer_words(app)
        assert "Delete" in words and not words & OTHERS
        panel.items_table.focus()
        await pilot.pause()
        with CommandRecorder("127.0.0.1", port) as rec:
            await pilot.press("D")  # purge: the guide's work list has it, this layout not
            await async_wait_until(lambda: any("does not offer" in n.message
                                               for n in app.notices))
            await pilot.pause()
            sync.echo("end of the key's commands")
            await async_wait_until(lambda: "ECHO" in rec.names())
        assert app.screen is app.screen_stack[0]  # no confirmation either
        sent = [(name, args) for _, name, args in rec.commands
                if "emails" in args or name in ("MULTI", "EXEC", "UNLINK", "LTRIM")]
        assert sent == []
        assert sync.llen("emails") == 3
