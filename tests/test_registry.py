"""The registry of layouts: a new library layout is one module (tests/toy_layout.py) and
one registry line, and is then discovered, polled and browsable like the libraries'."""

import time
from typing import cast

import pytest
import redis

import toy_layout
from ferrite_tui.backend.kinds import REGISTRY
from ferrite_tui.backend.libraries.browse import StateItem, browsable, read_state
from ferrite_tui.backend.models import QueueKind
from helpers import monitor_at


@pytest.fixture
def toy_registered():
    REGISTRY.add_library(toy_layout)  # the one registry line
    yield
    REGISTRY.remove_library(toy_layout)


@pytest.mark.usefixtures("toy_registered")
async def test_a_toy_library_layout_is_discovered_polled_and_browsable(redis_url):
    r = redis.Redis.from_url(redis_url)
    now = int(time.time() * 1000)
    for i in range(3):
        toy_layout.enqueue(r, "mail", f"m{i}", now - 60_000)
    toy_layout.fail(r, "mail", "m9", now - 5_000)
    r.rpush("plain:list", "x")  # the guide's kinds still take what the toy does not
    r.close()

    m = monitor_at(redis_url)
    await m.connect()
    try:
        refs = await m.discover()
        toy = [ref for ref in refs if ref.library is not None
               and ref.library.library == "toyq"]
        assert [ref.library.name for ref in toy] == ["mail"]
        assert toy[0].kind is QueueKind.WORK  # listed in panel 2 by its pending list
        assert not any(ref.key.startswith("toyq:") for ref in refs if ref.library is None)
        assert any(ref.key == "plain:list" and ref.kind is QueueKind.WORK for ref in refs)

        snap = await m.poll()
        stats = next(q for q in snap.queues if q.ref.ident == toy[0].ident)
        assert stats.depth == 3
        assert {s.label: s.size for s in stats.states} == {"waiting": 3, "failed": 1}
        assert stats.error is None

        waiting, failed = browsable(toy[0].library)
        page = await read_state(m.client, waiting, 0, 10, now)
        assert page.length == 3
        assert [cast(StateItem, item).task for item in page.items] == ["toy.add"] * 3
        page = await read_state(m.client, failed, 0, 10, now)
        assert [cast(StateItem, item).error for item in page.items] == ["boom"]
    finally:
        await m.aclose()


def test_every_guide_kind_is_registered_once_with_its_reader_and_alerts():
    kinds = [layout.kind for layout in REGISTRY.kinds]
    assert sorted(kinds) == sorted(QueueKind)
    assert len(set(kinds)) == len(kinds)
    assert all(layout.recognised_by and callable(layout.reader) and layout.alerts
               for layout in REGISTRY.kinds)
