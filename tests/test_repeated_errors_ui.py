"""A key whose type keeps changing: its error is one toast that updates, not one per poll."""

from __future__ import annotations

import json

import redis

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.config import Config
from ferrite_tui.ui.app import FerriteApp
from helpers import async_wait_until, running

Q = "queue:orders"


def error_toasts(app) -> list[str]:
    return [n.message for n in app.notice_board.shown() if n.severity == "error"]


async def test_repeated_error_on_one_key_is_one_updating_toast(redis_url, tmp_path):
    sync = redis.Redis.from_url(redis_url)
    sync.rpush(Q, *[json.dumps({"id": i, "payload": i, "enqueued_at": 1}) for i in range(5)])
    app = FerriteApp(Config(), ConnectionSettings(url=redis_url), refresh=0.2,
                     audit_path=tmp_path / "audit.log")
    try:
        async with running(app) as pilot:
            await async_wait_until(lambda: app.monitor is not None
                                   and app.monitor.snapshot is not None
                                   and any(q.ref.key == Q for q in app.monitor.snapshot.queues))
            await pilot.press("2")
            panel = app.panel("queues")
            await async_wait_until(lambda: panel.items_table.row_count == 5, timeout=15)
            sync.delete(Q)
            sync.hset(Q, "now", "a hash")
            await async_wait_until(lambda: any("(×3)" in m for m in error_toasts(app)),
                                   timeout=30, message=f"toasts: {error_toasts(app)}")
            toasts = error_toasts(app)
            assert len(toasts) == 1, toasts
            assert "\n" not in toasts[0] and "wrong type" in toasts[0]
    finally:
        sync.close()
