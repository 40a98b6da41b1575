"""One deeply nested JSON value (1,000 levels, 2 KB) in a sorted set, a dead-letter list and
a stream field: parsing is bounded, so it is shown raw and marked, and no discovery pass,
`status`, page, requeue, delete or backfill fails because of it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import cast

import pytest
from faultkit import dead, figure

from ferrite_tui.backend import boundedjson
from ferrite_tui.backend.backfill import Backfill
from ferrite_tui.backend.discovery import Discovery
from ferrite_tui.backend.dlq import DeadLetters, Filter
from ferrite_tui.backend.envelopes import decode
from ferrite_tui.backend.itemtimes import item_time
from ferrite_tui.backend.models import QueueKind, QueueRef
from ferrite_tui.backend.streams import json_payload
from ferrite_tui.backend.trends import Trends
from ferrite_tui.config import Config

NESTED = b"[" * 1000 + b"]" * 1000
NESTED_OBJECTS = b'{"a":' * 1000 + b"1" + b"}" * 1000
# A dead letter whose payload is the nested value: the envelope is fine, its payload is not.
NESTED_DEAD = (b'{"job":{"id":"deep","payload":' + NESTED
               + b',"retry_count":3,"last_error":"x","first_attempt":5},"dead_at":7,'
               b'"reason":"deep"}')
NOW = int(time.time() * 1000)


def job(i: int) -> str:
    return json.dumps({"id": f"j{i}", "payload": {"n": i}, "enqueued_at": NOW})


def hostile_keys(sync) -> None:
    sync.zadd("jobs:priority", {job(1): 5, NESTED: 1})
    sync.zadd("jobs:deep", {NESTED: 9})  # the nested value is the top member
    sync.rpush("queue:main", job(2))
    sync.rpush("queue:main:dlq", dead(1), NESTED, NESTED_DEAD, NESTED_OBJECTS, dead(2))
    sync.xadd("events:main", {"data": NESTED})
    sync.xadd("events:main", {"data": "{}"})


@pytest.mark.parametrize("value", [NESTED, NESTED_OBJECTS, NESTED_DEAD],
                         ids=["arrays", "objects", "dead-letter payload"])
def test_decoding_is_bounded_and_marked(value):
    env = decode(value)
    assert env.kind == "text" and env.raw == value
    assert env.note == f"nested deeper than {boundedjson.MAX_DEPTH}: shown raw"
    assert env.preview(60).startswith("(nested deeper than")
    assert item_time(value) is None
    with pytest.raises(ValueError):
        boundedjson.loads(value)


def test_the_bound_counts_brackets_outside_strings_only():
    inside = json.dumps({"s": "[" * 5000, "t": "{" * 5000, "e": '\\"[[[' * 100}).encode()
    assert boundedjson.depth(inside) == 1 and decode(inside).kind == "json"
    at_limit = b"[" * boundedjson.MAX_DEPTH + b"]" * boundedjson.MAX_DEPTH
    assert decode(at_limit).kind == "json"
    over = b"[" * (boundedjson.MAX_DEPTH + 1) + b"]" * (boundedjson.MAX_DEPTH + 1)
    assert decode(over).note is not None


def test_a_stream_field_too_deep_is_kept_as_its_text():
    assert json_payload(NESTED) == NESTED.decode()


async def test_discovery_and_status_with_nested_values(client, sync, redis_url):
    hostile_keys(sync)
    refs = await Discovery(client, Config()).run()
    kinds = {(r.kind, r.key) for r in refs}
    assert {(QueueKind.PRIORITY, "jobs:priority"), (QueueKind.DLQ, "queue:main:dlq"),
            (QueueKind.STREAM, "events:main")} <= kinds
    out = subprocess.run([sys.executable, "-m", "ferrite_tui", "status", redis_url, "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    keys = {q["key"] for q in json.loads(out.stdout)["queues"]}
    assert {"jobs:priority", "queue:main:dlq", "events:main"} <= keys
    figure(f"nested JSON (1,000 levels): discovery found {len(refs)} queues, status exit 0")


async def test_dead_letters_browse_requeue_and_delete_past_nested_values(client, sync):
    hostile_keys(sync)
    dl = DeadLetters(client)
    page = await dl.page("queue:main:dlq", 0, 100)
    notes = [decode(item.raw).note for item in page.items]
    assert notes.count(f"nested deeper than {boundedjson.MAX_DEPTH}: shown raw") == 3
    state = await dl.scan("queue:main:dlq", Filter("deep"))
    assert state.complete and state.scanned == 5
    # Requeue everything from the head: the nested values are not envelopes the console
    # can read, so they move unchanged; the two dead letters are reset.
    result = await dl.requeue_head("queue:main:dlq", "queue:main", 100)
    assert (result.done, result.failed, result.skipped) == (5, 0, 0)
    main = sync.lrange("queue:main", 0, -1)
    assert NESTED in main and NESTED_DEAD in main and NESTED_OBJECTS in main
    assert [json.loads(v)["retry_count"] for v in main if v.startswith(b'{"id":"job-')] \
        == [0, 0]
    # Delete exact values, the nested one among them.
    sync.rpush("queue:other:dlq", dead(3), NESTED, dead(4))
    page = await dl.page("queue:other:dlq", 0, 100)
    gone = await dl.delete("queue:other:dlq", [page.items[1]])
    assert gone.done == 1 and sync.lrange("queue:other:dlq", 0, -1) == [dead(3), dead(4)]


async def test_the_backfill_completes_and_names_the_nested_value(client, sync):
    hostile_keys(sync)
    refs = [QueueRef(QueueKind.DLQ, "queue:main:dlq", target_key="queue:main"),
            QueueRef(QueueKind.PRIORITY, "jobs:priority"),
            QueueRef(QueueKind.STREAM, "events:main")]
    report = await Backfill(client, Trends(60), minutes=60).run(refs, now_ms=NOW)
    deep = [n for n in report.notes if "nested deeper than" in n]
    assert any(n.startswith("dlq:queue:main:dlq: item 1 ") for n in deep), report.notes
    assert report.items_read >= 5


async def test_the_console_shows_and_requeues_a_list_holding_nested_values(redis_url, sync,
                                                                           tmp_path):
    """Through the app: discovery lists the queues, panel 6 shows every entry (the nested
    ones marked), and R requeues the whole list."""
    from ferrite_tui.backend.connection import ConnectionSettings
    from ferrite_tui.ui.app import FerriteApp
    from ferrite_tui.ui.panels.deadletters import DeadLettersPanel
    from helpers import async_wait_until, running

    hostile_keys(sync)
    app = FerriteApp(Config(), ConnectionSettings(url=redis_url), refresh=0.2,
                     audit_path=tmp_path / "audit.log")
    async with running(app) as pilot:
        await async_wait_until(lambda: app.monitor is not None
                               and app.monitor.snapshot is not None
                               and app.monitor.snapshot.by_kind(*DeadLettersPanel.KINDS))
        assert app.monitor is not None and app.monitor.snapshot is not None
        assert {"jobs:priority", "events:main"} <= {
            q.ref.key for q in app.monitor.snapshot.queues}
        await pilot.press("6")
        panel = cast(DeadLettersPanel, app.panel("dlq"))
        await async_wait_until(lambda: panel.items_table.page is not None
                               and panel.items_table.row_count == 5)
        panel.items_table.focus()
        await pilot.pause()
        await pilot.press("R")
        await async_wait_until(lambda: app.screen.__class__.__name__ == "ConfirmScreen")
        await pilot.press("y")
        await async_wait_until(lambda: sync.llen("queue:main:dlq") == 0)
    assert sync.llen("queue:main") == 1 + 5
