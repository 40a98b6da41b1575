"""Layouts written by hand, found with no configuration: each queue's kind from what its
keys hold (names as hints), with its evidence, ages and overdue counts, in `status --json`;
the judgement pure (evidence.py) and cached per key (a rescan samples only new keys)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import cast

import handmade
from ferrite_tui.backend.discovery import Discovery
from ferrite_tui.backend.evidence import judge_list, judge_zset, score_unit
from ferrite_tui.backend.models import QueueKind
from ferrite_tui.config import Config
from ferrite_tui.ui.panels.scheduled import ScheduledPanel

NOW_MS = 1_700_000_000_000


def server_ms(sync) -> int:
    s, us = sync.time()
    return s * 1000 + us // 1000


def test_score_units_and_judgements():
    assert score_unit([NOW_MS - 5, NOW_MS + 86_400_000], NOW_MS) == "ms"
    assert score_unit([NOW_MS // 1000 + 30], NOW_MS) == "s"
    assert score_unit([1, 2, 3], NOW_MS) is None
    ev = judge_zset("retry:x", [[b"a", b"%d" % (NOW_MS // 1000 - 5)], [], 0, 1], NOW_MS)
    assert ev.kind is QueueKind.DELAYED and ev.unit == "s"
    assert ev.text == "delayed: scores are epoch s, 1 in the past"
    # Epoch scores, plain members, no name hint: a rate limiter, not a queue.
    assert judge_zset("ratelimit:ip", [[b"r1", b"%d" % NOW_MS], [], 1, 0], NOW_MS).kind is None
    assert judge_zset("game", [[b"ann", b"10"], [], 0, 0], NOW_MS).kind is None
    ev = judge_zset("x", [[b'{"id":1}', b"1", b'{"id":2}', b"5"], [], 0, 0], NOW_MS)
    assert ev.kind is QueueKind.PRIORITY
    assert ev.text == "priority: scores 1–5, members are JSON jobs"
    ev = judge_list("orders:failed", [b"plain"])
    assert ev.kind is QueueKind.DLQ and ev.target == "orders"
    assert judge_list("failed:orders", [b"x"]).target == "orders"
    assert judge_list("dead_letters", [b"x"]).target is None
    assert judge_list("orders", [b"plain"]).kind is QueueKind.WORK


def test_status_json_with_no_config_reads_the_handmade_layouts(redis_url, sync, tmp_path):
    now = server_ms(sync)
    handmade.fill(sync, now)
    cfg = tmp_path / "empty.toml"
    cfg.write_text("")
    out = subprocess.run([sys.executable, "-m", "ferrite_tui", "--config", str(cfg), "status",
                          redis_url, "--json"], capture_output=True, text=True, timeout=60)
    assert out.returncode in (0, 1, 2), out.stderr
    data = json.loads(out.stdout)
    by_key = {q["key"]: q for q in data["queues"]}

    delayed = by_key["emails:delayed"]
    assert delayed["kind"] == "delayed" and delayed["overdue"] == 5
    assert delayed["evidence"] == "delayed: scores are epoch ms, 5 in the past"
    retry = by_key["retry:webhooks"]
    assert retry["kind"] == "delayed" and retry["overdue"] == 2 and retry["score_unit"] == "s"
    assert retry["evidence"] == "delayed: scores are epoch s, 2 in the past"
    # The earliest overdue job is 180 s late (not 1,000 times that, nor 0).
    assert 170_000 <= retry["oldest_ms"] <= 200_000
    prio = by_key["jobs:by_priority"]
    assert prio["kind"] == "priority" and prio["evidence"].startswith("priority: scores 0–4")
    assert "game:scores" not in by_key

    for name in ("work:a:failed", "work:b:deadletter", "dead_letters", "work:c:dead",
                 "failed:work:d", "work:e:errors"):
        q = by_key[name]
        assert q["kind"] == "dlq", name
        assert q["evidence"].startswith("dead letters: "), q["evidence"]
        assert q["depth"] == 3
        # Age from the letters' own failure times (the oldest failed 2 minutes or more ago).
        assert q["oldest_ms"] is not None and q["oldest_ms"] >= 60_000, name
    assert by_key["work:a:failed"]["keys"]["target"] == "work:a"
    assert by_key["failed:work:d"]["keys"]["target"] == "work:d"
    assert "target" not in by_key["dead_letters"]["keys"]

    ages = {k: by_key[k]["oldest_ms"] for k in ("work:a", "work:b", "work:c")}
    assert 590_000 <= ages["work:a"] <= 700_000
    assert 110_000 <= ages["work:b"] <= 200_000
    assert ages["work:c"] > 86_400_000 * 365
    assert by_key["work:a"]["evidence"] == "work: jobs carry created_at (epoch s), read for ages"
    assert "old jobs" in by_key["work:c"]["alerts"]


async def test_a_rescan_samples_only_new_keys(client, sync):
    handmade.fill(sync, server_ms(sync))
    disc = Discovery(client, Config())
    await disc.run()
    first = client.round_trips.count
    await disc.run()
    again = client.round_trips.count - first
    sync.rpush("work:new:failed", b'{"job":{"a":1},"error":"x"}')
    before = client.round_trips.count
    refs = {r.key: r for r in await disc.run()}
    assert client.round_trips.count - before == again + 1  # one sampling pipeline, for it
    assert refs["work:new:failed"].kind is QueueKind.DLQ


async def test_a_delayed_queue_found_by_its_scores_is_read_not_moved(redis_url, sync,
                                                                     tmp_path):
    """Due times in epoch seconds: shown as times, counted in seconds; x and X send
    nothing (the team's own scheduler promotes them, to a list the console does not know)."""
    from ferrite_tui.backend.connection import ConnectionSettings
    from ferrite_tui.ui.app import FerriteApp
    from helpers import async_wait_until, running

    now_s = sync.time()[0]
    sync.zadd("retry:hooks", {"a": now_s - 120, "b": now_s + 600})
    app = FerriteApp(Config(), ConnectionSettings(url=redis_url), refresh=0.2,
                     audit_path=tmp_path / "audit.log")
    async with running(app) as pilot:
        await async_wait_until(lambda: app.monitor and app.monitor.snapshot and any(
            q.ref.key == "retry:hooks" for q in app.monitor.snapshot.queues))
        await pilot.press("4")
        panel = cast(ScheduledPanel, app.panel("scheduled"))
        await async_wait_until(lambda: panel.jobs_view is not None
                               and panel.jobs.row_count == 2)
        first = panel.jobs.row_keys[0]
        assert panel.jobs.cell_text(first, "due").startswith("overdue 2m")
        assert "1 overdue" in str(panel.title_text(panel.jobs_view))
        await pilot.press("enter")
        await async_wait_until(lambda: panel.jobs.has_focus)
        await pilot.press("x")
        await async_wait_until(lambda: any("moves none" in str(n.message)
                                           for n in app.notices))
        await pilot.press("X")
        await pilot.pause()
    assert sync.zcard("retry:hooks") == 2 and sync.dbsize() == 1
