"""Each alert's start time and next step, from data whose times are known."""

import json
import subprocess
import sys
import time
from datetime import datetime

from ferrite_tui.config import AlertConfig, Config
from helpers import monitor_at
from test_backfill import MIN, dead_letter, job, write_dead_letters

ALERTS = AlertConfig(depth=10, oldest_age_seconds=300, overdue_seconds=60, stream_pending=3)


def arrange(sync, now: int) -> None:
    """Known starts (minutes ago): DLQ non-empty 50, growing 14; orders depth >= 10 since
    8, its oldest job 20 (old since 15); overdue since 19; stream pending >= 3 since 12."""
    write_dead_letters(sync, "queue:main:dlq", now)
    sync.rpush("queue:orders", *[job(i, now - (20 if i == 0 else 8) * MIN) for i in range(12)])
    sync.zadd("queue:reports:scheduled",
              {json.dumps({"id": "s1", "scheduled_at": now - 20 * MIN}): now - 20 * MIN,
               json.dumps({"id": "s2", "scheduled_at": now + 5 * MIN}): now + 5 * MIN})
    for i in range(6):
        sync.xadd("events:main", {"data": "{}"}, id=f"{now - 30 * MIN + i}-0")
    sync.xgroup_create("events:main", "workers", "$")
    sync.xgroup_create("events:main", "analytics", "0")
    ids = [e[0] for e in sync.xreadgroup("analytics", "analytics-dead",
                                         {"events:main": ">"}, count=4)[0][1]]
    for entry_id, idle in zip(ids, (12 * MIN, 12 * MIN, 12 * MIN, 2 * MIN)):
        sync.xclaim("events:main", "analytics", "analytics-dead", 0, [entry_id], idle=idle)


EXPECTED = {  # (queue, alert) -> (minutes ago it started, source, panel key, words in action)
    ("queue:main:dlq", "47 dead"): (50, "data", "6", "R all shown"),
    ("queue:main:dlq", "growing"): (14, "data", "6", "R to requeue"),
    ("queue:orders", "depth ≥ 10"): (8, "data", "2", "enter"),
    ("queue:orders", "old jobs"): (15, "data", "2", "enter"),
    ("queue:reports:scheduled", "1 overdue"): (19, "data", "4", "X to run"),
    ("events:main", "4 pending"): (12, "data", "5", "C to hand them to a live consumer"),
}


async def test_each_alert_says_since_when_and_what_next(redis_url, sync):
    now = int(time.time() * 1000)
    arrange(sync, now)
    m = monitor_at(redis_url, Config(alerts=ALERTS))
    try:
        await m.connect()
        await m.discover()
        await m.backfill()
        await m.poll()
        sync.rpush("queue:main:dlq", *[dead_letter(900 + i, now) for i in range(3)])
        while True:  # 'growing' needs the live depth to rise over measured time
            snap = await m.poll()
            notes = {(n.key, n.alert): n for n in snap.alert_notes}
            if ("queue:main:dlq", "growing") in notes or time.time() * 1000 - now > 20_000:
                break
    finally:
        await m.aclose()
    expected = dict(EXPECTED)
    expected[("queue:main:dlq", "50 dead")] = expected.pop(("queue:main:dlq", "47 dead"))
    assert set(expected) <= set(notes), sorted(notes)
    for (key, alert), (ago, source, panel, words) in expected.items():
        note = notes[(key, alert)]
        want = (now - ago * MIN) / 1000
        assert abs(note.since - want) <= 60, (key, alert, (now / 1000 - note.since) / 60)
        assert note.since_from == source, (key, alert)
        assert note.panel_key == panel and words in note.action, (key, alert, note.action)
    assert notes[("events:main", "4 pending")].group == "analytics"


async def test_an_alert_without_data_dates_from_when_it_was_first_seen(redis_url, sync):
    """Plain values carry no time: the depth alert dates from the poll that first saw it,
    and keeps that date while it holds."""
    sync.rpush("plain", *[f"v{i}" for i in range(12)])
    m = monitor_at(redis_url, Config(alerts=ALERTS))
    try:
        await m.connect()
        await m.discover()
        await m.backfill()
        first = await m.poll()
        sync.rpush("plain", "v12")
        second = await m.poll()
    finally:
        await m.aclose()
    (a,), (b,) = first.alert_notes, second.alert_notes
    assert a.alert == "depth ≥ 10" and a.since_from in ("seen", "live")
    assert a.since == b.since <= first.taken_at


def test_status_json_gives_each_alert_since(redis_url, sync, tmp_path):
    now = int(time.time() * 1000)
    arrange(sync, now)
    cfg = tmp_path / "config.toml"
    cfg.write_text("[alerts]\ndepth = 10\nstream_pending = 3\n")
    out = subprocess.run([sys.executable, "-m", "ferrite_tui", "status", "--config", str(cfg),
                          redis_url, "--json"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    queues = {q["key"]: q for q in json.loads(out.stdout)["queues"]}
    for (key, alert), (ago, source, panel, _words) in EXPECTED.items():
        if alert == "growing":
            continue  # one poll cannot see a rise
        details = {d["alert"]: d for d in queues[key]["alert_details"]}
        d = details[alert]
        since = datetime.fromisoformat(d["since"]).timestamp()
        assert abs(since - (now - ago * MIN) / 1000) <= 60, (key, alert, d)
        assert d["since_from"] == source and d["next"].startswith(f"{panel}, then ")


def test_next_steps_for_every_wording_of_the_poll():
    """Alerts as the poll words them, old and new: each gets its panel and its key."""
    from ferrite_tui.backend.advice import Advisor
    from ferrite_tui.backend.models import (
        GroupStats,
        QueueKind,
        QueueRef,
        QueueStats,
        ServerStats,
        Snapshot,
    )
    from ferrite_tui.backend.trends import Trends

    stream = QueueStats(QueueRef(QueueKind.STREAM, "events:main"), groups=(
        GroupStats("workers", 2, 9, "1-0", None), GroupStats("analytics", 1, 3, "1-0", None)),
        alerts=("2 dead consumers", "12 idle pending", "lag 20000"))
    queue = QueueStats(QueueRef(QueueKind.RELIABLE, "queue:orders"),
                       alerts=("5 stale processing", "depth ≥ 10"))
    sched = QueueStats(QueueRef(QueueKind.DELAYED, "queue:r:scheduled"),
                       alerts=("overdue growing: scheduler stopped?", "something new"))
    snap = Snapshot(taken_at=1_800_000_000.0, queues=(stream, queue, sched), server=ServerStats())
    notes = {n.alert: n for n in Advisor(AlertConfig()).annotate(snap, Trends())}
    expect = {
        "2 dead consumers": ("5", "C to hand their entries"),
        "12 idle pending": ("5", "C to hand idle entries"),
        "lag 20000": ("5", "start more consumers"),
        "5 stale processing": ("2", "R to recover"),
        "depth ≥ 10": ("2", "enter to look"),
        "overdue growing: scheduler stopped?": ("4", "X to run all overdue"),
        "something new": ("4", "enter to look closer"),
    }
    for alert, (panel, words) in expect.items():
        assert notes[alert].panel_key == panel and words in notes[alert].action, alert
        assert notes[alert].since == snap.taken_at and notes[alert].since_from == "seen"
    assert notes["12 idle pending"].group == "workers"  # the group holding most
