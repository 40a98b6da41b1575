"""[[queues]] for the long tail: `{name}` templates, globs, profile scope, and the state
model's fields (order, score unit, body key, scheduled/failed keys), against a real server."""

from __future__ import annotations

import json
import time

import pytest

from ferrite_tui.backend.discovery import Discovery
from ferrite_tui.backend.libraries.items import describe
from ferrite_tui.backend.models import QueueKind
from ferrite_tui.config import Config, ConfigError, QueueDecl, _parse
from helpers import client_at, monitor_at


async def discover(url: str, decls, profile: str = "default"):
    client = client_at(url, profile=profile)
    await client.connect()
    try:
        return await Discovery(client, Config(queues=tuple(decls))).run()
    finally:
        await client.aclose()


async def test_template_declares_one_model_queue_per_name(redis_url, sync):
    now_s = time.time()
    for name in ("mail", "sms"):
        sync.lpush(f"app:{name}:pending", "id-1", "id-2")  # LPUSH producer: tail is next
        sync.zadd(f"app:{name}:later", {"id-3": now_s + 3600})  # due in an hour, seconds
        sync.rpush(f"app:{name}:failed", "id-4")
        sync.set("job:id-1", json.dumps({"function": "send", "attempts": 2, "error": "x"}))
    sync.rpush("unrelated", "x")
    decl = QueueDecl(key="app:{name}:pending", kind="work", order="tail", score_unit="s",
                     body_key="job:{id}", scheduled_key="app:{name}:later",
                     failed_key="app:{name}:failed")
    refs = await discover(redis_url, [decl])
    model = {r.library.name: r for r in refs if r.library is not None}
    assert set(model) == {"app:mail:pending", "app:sms:pending"}
    # The scheduled and failed keys belong to their queue, not to generic rows.
    assert {(r.kind, r.key) for r in refs if r.library is None} == {(QueueKind.WORK,
                                                                     "unrelated")}
    m = monitor_at(redis_url, Config(queues=(decl,)))
    await m.connect()
    try:
        await m.discover()
        snap = await m.poll()
        mail = next(q for q in snap.queues if q.ref.key == "app:mail:pending")
        counts = {c.label: c.size for c in mail.states}
        assert counts == {"pending": 2, "scheduled": 1, "failed": 1}
        sched = next(c for c in mail.states if c.label == "scheduled")
        assert 3_000_000 < sched.next_at_ms - time.time() * 1000 < 3_700_000  # seconds read as s
        assert not any("overdue" in a for a in mail.alerts)
        fields = dict(await describe(m.client, mail.ref.library, mail.ref.library.pending,
                                     b"id-1"))
        assert (fields["function"], fields["attempts"]) == ("send", "2")
    finally:
        await m.aclose()


async def test_glob_and_profile_scope(redis_url, sync):
    sync.zadd("prio:a", {"x": 1})
    sync.zadd("prio:b", {"y": 2})
    glob = QueueDecl(key="prio:*", kind="priority", profile="prod")
    on_prod = await discover(redis_url, [glob], profile="prod")
    elsewhere = await discover(redis_url, [glob], profile="staging")
    assert {(r.kind, r.key) for r in on_prod} == {(QueueKind.PRIORITY, "prio:a"),
                                                  (QueueKind.PRIORITY, "prio:b")}
    assert all(r.declared for r in on_prod)
    # Out of scope: not declared (plain members are no priority envelopes: no rows at all).
    assert elsewhere == []


@pytest.mark.parametrize("line", ['order = "middle"', 'score_unit = "hours"'])
def test_bad_model_fields_are_one_line_errors(tmp_path, line):
    text = f'[[queues]]\nkey = "x"\nkind = "work"\n{line}\n'
    with pytest.raises(ConfigError) as err:
        _parse(text, tmp_path / "config.toml")
    assert ":4: [[queues]]" in str(err.value) and "\n" not in str(err.value)


async def test_the_seed_layouts_in_the_state_model(redis_url):
    """Every seed kind, as discovery finds it, has its states in the model: the key of
    each, its type and which end is next."""
    import redis.asyncio as aioredis

    from ferrite_tui.backend.libraries.model import State
    from ferrite_tui.backend.libraries.seed import model_of
    from ferrite_tui.demo.seeding import seed

    client = aioredis.Redis.from_url(redis_url)
    await seed(client)
    await client.aclose()
    refs = await discover(redis_url, [])
    models = {r.kind: model_of(r) for r in refs}
    assert set(models) == set(QueueKind)
    reliable = models[QueueKind.RELIABLE]
    assert [(s.state, s.type, s.next_end) for s in reliable.states] == [
        (State.PENDING, "list", "tail"), (State.ACTIVE, "list", "tail")]
    delayed = models[QueueKind.DELAYED]
    assert {s.state for s in delayed.states} == {State.PENDING, State.SCHEDULED}
    assert models[QueueKind.DLQ].states[0].state is State.FAILED
    for ref in refs:  # the model names exactly the keys discovery found for the queue
        assert set(model_of(ref).keys) == set(ref.keys)
