"""The console (through Pilot) as a user with a common ACL, `~queue:* +@all -@dangerous`:
no INFO, no ACL, keys outside its pattern (issue 21, item 9)."""

from __future__ import annotations

import io

import redis
import redis.asyncio as aioredis
from faultkit import figure
from rich.console import Console

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.config import Config
from ferrite_tui.demo.seeding import seed
from ferrite_tui.ui.app import FerriteApp
from helpers import async_wait_until, running

OUTSIDE = ("other:list", "billing:jobs", "billing:jobs:dlq")


def static_text(widget) -> str:
    console = Console(width=160, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


async def test_a_user_without_info_or_other_keys_uses_the_console(fresh_server, tmp_path):
    r = redis.Redis.from_url(fresh_server.url)
    seeder = aioredis.Redis.from_url(fresh_server.url)
    try:
        await seed(seeder)
    finally:
        await seeder.aclose()
    # The seed's keys live under queue:, jobs: and events:; the user may read queue:* only.
    r.execute_command("ACL", "SETUSER", "app", "on", ">app-pw", "~queue:*", "&*", "+@all",
                      "-@dangerous")
    for key in OUTSIDE:
        r.rpush(key, "x")
    outside = sum(1 for k in r.scan_iter(count=1000) if not k.startswith(b"queue:"))
    url = f"redis://app:app-pw@127.0.0.1:{fresh_server.port}/0"
    app = FerriteApp(Config(), ConnectionSettings(url=url), refresh=0.5,
                     audit_path=tmp_path / "audit.log")
    async with running(app) as pilot:
        await async_wait_until(lambda: app.monitor is not None
                               and app.monitor.snapshot is not None
                               and app.monitor.snapshot.queues, timeout=30)
        snap = app.monitor.snapshot
        caps = app.monitor.client.capabilities
        overview = app.panel("overview")
        await async_wait_until(lambda: "not readable by user app" in str(
            overview.summary(list(app.monitor.snapshot.queues))))
        await pilot.press("8")
        server = app.panel("server")
        await async_wait_until(lambda: "user app may not run INFO" in static_text(
            server.query_one("#info")))
        shown = static_text(server.query_one("#info"))
    r.close()
    readable = sorted(q.ref.key for q in snap.queues)
    figure(f"ACL user ~queue:* -@dangerous: {len(readable)} queues shown, "
           f"{outside} keys outside the pattern noted ({snap.access_note}); probe key "
           f"{caps.probe_key}; unknown {list(caps.unknown)}; denied {list(caps.denied)}")
    assert readable and all(k.startswith("queue:") for k in readable)
    assert snap.access_note == f"{outside} keys not readable by user app"
    assert all(q.error is None for q in snap.queues), [q.error for q in snap.queues]
    assert "memory" in shown and "0 B" not in shown, shown
