"""Discovery against a real server: every kind, overrides, hostile names, wrong types."""

import json
import time

import pytest
import redis

from ferrite_tui.backend.discovery import Discovery, classify
from ferrite_tui.backend.models import QueueKind
from ferrite_tui.config import Config, DiscoveryConfig, QueueDecl
from helpers import client_at

NOW = int(time.time() * 1000)


def job(i, **extra):
    return json.dumps({"id": f"j{i}", "payload": {"n": i}, "enqueued_at": NOW, **extra})


@pytest.fixture
def r(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


async def discover(url, config=None, match=None):
    client = client_at(url)
    try:
        await client.connect()
        return await Discovery(client, config or Config(), match).run()
    finally:
        await client.aclose()


def kinds(refs):
    return {(ref.kind, ref.key) for ref in refs}


async def test_every_kind_is_classified(r, redis_url):
    r.rpush("emails", '{"to":"a"}')
    r.rpush("queue:orders", job(1))
    r.lpush("queue:orders:processing", job(2))
    r.zadd("jobs:priority", {job(3): 10})
    r.zadd("leaderboard", {"alice": 3})  # not a queue: members are not envelopes
    r.zadd("queue:reports:scheduled",
           {json.dumps({"id": "s", "payload": 1, "scheduled_at": NOW}): NOW})
    r.rpush("queue:reports:ready", "x")
    r.rpush("queue:main", job(4))
    r.rpush("queue:main:dlq", "dead")
    r.xadd("events:main", {"data": "{}"})
    r.set("plain-string", "x")
    r.hset("a-hash", "f", "v")
    refs = await discover(redis_url)
    assert kinds(refs) == {
        (QueueKind.WORK, "emails"),
        (QueueKind.RELIABLE, "queue:orders"),
        (QueueKind.PRIORITY, "jobs:priority"),
        (QueueKind.DELAYED, "queue:reports:scheduled"),
        (QueueKind.WORK, "queue:main"),
        (QueueKind.DLQ, "queue:main:dlq"),
        (QueueKind.STREAM, "events:main"),
    }
    by_key = {ref.key: ref for ref in refs}
    assert by_key["queue:orders"].processing_key == "queue:orders:processing"
    assert by_key["queue:reports:scheduled"].ready_key == "queue:reports:ready"
    assert by_key["queue:main:dlq"].target_key == "queue:main"


async def test_half_present_layouts_still_classify(r, redis_url):
    # Redis deletes empty lists: a reliable queue may have only its processing list,
    # a delayed queue only its ready list.
    r.lpush("queue:billing:processing", job(1))
    r.rpush("queue:mail:ready", job(2))
    refs = await discover(redis_url)
    assert kinds(refs) == {(QueueKind.RELIABLE, "queue:billing"),
                           (QueueKind.DELAYED, "queue:mail:scheduled")}


async def test_config_declares_overrides_and_ignores(r, redis_url):
    r.rpush("jobs:main", job(1))
    r.rpush("jobs:main:inflight", job(2))
    r.rpush("failed-jobs", "x")
    r.rpush("cache:list", "x")
    r.zadd("leaderboard", {"bob": 1})
    r.rpush("noise", "x")
    cfg = Config(
        queues=(
            QueueDecl(key="jobs:main", kind="reliable", processing_key="jobs:main:inflight"),
            QueueDecl(key="failed-jobs", kind="dlq", target_key="jobs:main"),
            QueueDecl(key="leaderboard", kind="priority"),
            QueueDecl(key="noise", kind="ignore"),
        ),
        discovery=DiscoveryConfig(ignore=("cache:*",)),
    )
    refs = await discover(redis_url, cfg)
    assert kinds(refs) == {(QueueKind.RELIABLE, "jobs:main"), (QueueKind.DLQ, "failed-jobs"),
                           (QueueKind.PRIORITY, "leaderboard")}
    by_key = {ref.key: ref for ref in refs}
    assert by_key["failed-jobs"].target_key == "jobs:main"
    assert all(ref.declared for ref in refs)


async def test_match_patterns_limit_the_scan(r, redis_url):
    r.rpush("queue:a", "1")
    r.rpush("other:b", "1")
    refs = await discover(redis_url, match=("queue:*",))
    assert kinds(refs) == {(QueueKind.WORK, "queue:a")}


async def test_hostile_and_binary_names_survive(r, redis_url):
    names = [b"\x1b[31mred\x1b[0m", b"[bold]markup[/bold]", b"ctl\x00\x07\n", b"\xff\xfebin"]
    for name in names:
        r.rpush(name, "x")
    refs = await discover(redis_url)
    assert len(refs) == len(names)
    # The str key encodes back to the exact bytes, so the poll reads the same key.
    client = client_at(redis_url)
    try:
        for ref in refs:
            assert await client.redis.llen(ref.key) == 1
    finally:
        await client.aclose()


async def test_queues_stay_known_when_drained(r, redis_url):
    r.rpush("emails", "x")
    client = client_at(redis_url)
    try:
        await client.connect()
        disc = Discovery(client, Config())
        await disc.run()
        r.delete("emails")
        r.rpush("emails:processing", "y")  # emails becomes a reliable queue
        refs = await disc.run()
    finally:
        await client.aclose()
    assert kinds(refs) == {(QueueKind.RELIABLE, "emails")}


async def test_large_keyspace_reports_progress_in_batches(r, redis_url):
    pipe = r.pipeline(transaction=False)
    for i in range(20_000):
        pipe.set(f"cache:{i}", "v")
    pipe.rpush("queue:the-one", "x")
    pipe.execute()
    client = client_at(redis_url)
    reports: list = []
    try:
        await client.connect()
        before = client.round_trips.count
        refs = await Discovery(client, Config()).run(reports.append)
        trips = client.round_trips.count - before
    finally:
        await client.aclose()
    assert kinds(refs) == {(QueueKind.WORK, "queue:the-one")}
    assert reports[-1].done and reports[-1].scanned == 20_001
    assert len(reports) >= 10  # progress arrives while scanning, not only at the end
    # One SCAN and one TYPE pipeline per batch of about 1000 keys, no more.
    assert trips <= 2 * (20_001 // 500 + 2)


def test_classify_is_pure_and_prefers_layouts():
    cfg = DiscoveryConfig()
    refs = classify({"a": "list", "a:processing": "list", "a:dlq": "list", "z": "zset"},
                    set(), cfg)
    assert kinds(refs) == {(QueueKind.RELIABLE, "a"), (QueueKind.DLQ, "a:dlq")}


async def test_a_drained_queue_stays_listed_until_gone_for_a_full_rescan(r, redis_url):
    r.rpush("emails", "x")
    client = client_at(redis_url)
    try:
        await client.connect()
        disc = Discovery(client, Config())
        await disc.run()
        r.delete("emails")  # drained: Redis deletes the empty list
        assert kinds(await disc.run()) == {(QueueKind.WORK, "emails")}  # listed, as empty
        assert kinds(await disc.run()) == set()  # absent for a whole pass: gone
        r.rpush("emails", "x")
        assert kinds(await disc.run()) == {(QueueKind.WORK, "emails")}
    finally:
        await client.aclose()


async def test_past_max_queues_known_layouts_and_alerting_queues_are_kept_first(r, redis_url):
    """600 result streams must not hide the work queues; how many were left out is said."""
    pipe = r.pipeline(transaction=False)
    for i in range(600):
        pipe.xadd(f"results:{i:04d}", {"data": "1"})
    pipe.rpush("queue:orders", job(1))
    pipe.rpush("queue:orders:processing", job(2))
    pipe.rpush("emails", "x")
    pipe.rpush("queue:main:dlq", "x")
    pipe.execute()
    cfg = Config(discovery=DiscoveryConfig(max_queues=10))
    client = client_at(redis_url)
    try:
        await client.connect()
        disc = Discovery(client, cfg)
        refs = await disc.run()
        assert {(QueueKind.RELIABLE, "queue:orders"), (QueueKind.WORK, "emails"),
                (QueueKind.DLQ, "queue:main:dlq")} <= kinds(refs)
        assert len(refs) == 10 and disc.left_out == 603 - 10
        disc.keep_first = {"stream:results:0599"}  # e.g. alerting at the last poll
        refs = await disc.run()
        assert (QueueKind.STREAM, "results:0599") in kinds(refs)
        assert (QueueKind.WORK, "emails") in kinds(refs) and disc.left_out == 593
    finally:
        await client.aclose()


def test_status_says_how_many_queues_were_left_out(r, redis_url, tmp_path, capsys):
    from ferrite_tui.cli import main

    for i in range(5):
        r.rpush(f"work{i}", "x")
    config = tmp_path / "config.toml"
    config.write_text("[discovery]\nmax_queues = 3\n")
    assert main(["status", redis_url, "--config", str(config)]) == 0
    assert "2 more queues found but not shown (max_queues = 3; raise [discovery] " \
           "max_queues" in capsys.readouterr().out
    assert main(["status", redis_url, "--config", str(config), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["left_out"], data["max_queues"], len(data["queues"])) == (2, 3, 3)


async def test_a_list_drained_as_fast_as_it_fills_stays_listed_while_it_moves(r, redis_url):
    """Mostly absent (each job is taken as soon as it lands), but the poll saw it move."""
    r.rpush("emails", "x")
    client = client_at(redis_url)
    try:
        await client.connect()
        disc = Discovery(client, Config())
        await disc.run()
        r.delete("emails")
        disc.in_use = {"work:emails"}  # the last poll measured traffic through it
        for _ in range(3):
            assert kinds(await disc.run()) == {(QueueKind.WORK, "emails")}
        disc.in_use = set()  # quiet now: gone after a full rescan, as any other
        await disc.run()
        assert kinds(await disc.run()) == set()
    finally:
        await client.aclose()
