"""Streams backend against real servers: reads, paging, claims, acks, dead letters, admin."""

from __future__ import annotations

import json

import pytest

from ferrite_tui.backend import stream_ids
from ferrite_tui.backend import streams as st
from ferrite_tui.backend.audit import AuditLog
from ferrite_tui.backend.bulk import Cancel
from ferrite_tui.backend.envelopes import decode
from ferrite_tui.backend.errors import BackendError, ReadOnlyError
from ferrite_tui.backend.streams import PendingEntry, Streams
from helpers import REDUCED, client_at, skip_as_the_server_lacks

S = "events:test"
G = "workers"


@pytest.fixture
async def backend(redis_url, tmp_path):
    client = client_at(redis_url, AuditLog(tmp_path / "audit.log"))
    await client.connect()
    yield Streams(client)
    await client.aclose()


def fill(sync, n: int, key: str = S, data=lambda i: json.dumps({"n": i})) -> list[str]:
    pipe = sync.pipeline(transaction=False)
    for i in range(n):
        pipe.xadd(key, {"data": data(i)})
    return [i.decode() for i in pipe.execute()]


def read(sync, consumer: str, count: int, key: str = S, group: str = G) -> list[str]:
    reply = sync.xreadgroup(group, consumer, {key: ">"}, count=count)
    return [e[0].decode() for _, entries in reply for e in entries]


def make_idle(sync, ids, consumer: str, idle_ms: int, retry: int | None = None,
              key: str = S, group: str = G) -> None:
    """Set entries' idle time (and delivery count) with XCLAIM's IDLE / RETRYCOUNT options."""
    extra = ["RETRYCOUNT", retry] if retry is not None else []
    for i in range(0, len(ids), 1000):
        sync.execute_command(b"XCLAIM", key, group, consumer, 0, *ids[i:i + 1000],
                             "IDLE", idle_ms, *extra, "JUSTID")


def owners(sync, key: str = S, group: str = G) -> dict[str, str]:
    rows = sync.xpending_range(key, group, "-", "+", 100_000)
    return {r["message_id"].decode(): r["consumer"].decode() for r in rows}


def audit_lines(backend: Streams) -> list[dict]:
    return backend.client.audit_log.read()


# -- ids ---------------------------------------------------------------------------------

def test_id_arithmetic():
    assert stream_ids.next_id("5-3") == "5-4"
    assert stream_ids.next_id(f"5-{stream_ids.MAX_SEQ}") == "6-0"
    assert stream_ids.prev_id("5-0") == f"4-{stream_ids.MAX_SEQ}"
    assert stream_ids.prev_id("0-0") is None
    assert stream_ids.check_id("12-1") is None
    assert stream_ids.check_id("$", allow=("$", "0")) is None
    assert stream_ids.check_id("abc") and stream_ids.check_id("1-2-3")
    with pytest.raises(BackendError):
        stream_ids.next_id("nope")
    assert stream_ids.parse_id(b"7-2") == (7, 2) and stream_ids.parse_id("7") == (7, 0)
    assert stream_ids.parse_id("x-1") is None and stream_ids.parse_id(None) is None
    assert stream_ids.after_id((7, 2)) == "7-3"
    assert stream_ids.id_ms("1700000000000-4") == 1700000000000
    assert sorted(["9-0", "bad", "10-0"], key=stream_ids.id_order) == ["bad", "9-0", "10-0"]


# -- reads -------------------------------------------------------------------------------

async def test_overview_lengths_ids_memory(sync, backend):
    ids = fill(sync, 30)
    sync.xgroup_create(S, G, id="0")
    sync.set("plain", "x")
    out = await backend.overview([S, "missing-stream", "plain"])
    s = out[S]
    assert (s.length, s.first_id, s.last_id, s.groups) == (30, ids[0], ids[-1], 1)
    assert s.memory is None or s.memory > 0
    assert out["missing-stream"].length == 0 and out["missing-stream"].first_id is None
    assert "no longer a stream" in out["plain"].error


@pytest.mark.parametrize("trust_server", [True, False])
async def test_group_lag_exact_or_counted_never_false_zero(sync, backend, trust_server):
    fill(sync, 50)
    sync.xgroup_create(S, "fresh", id="0")      # read nothing: lag 50
    sync.xgroup_create(S, "half", id="0")       # read 20: lag 30
    sync.xgroup_create(S, "done", id="$")       # at the end: lag 0
    read(sync, "c1", 20, group="half")
    groups = {g.name: g for g in await backend.groups(S, trust_server_lag=trust_server)}
    assert {n: groups[n].lag for n in groups} == {"fresh": 50, "half": 30, "done": 0}
    for g in groups.values():
        if trust_server and g.lag_kind == "xinfo":
            continue
        assert g.lag_kind == "counted"
    assert groups["half"].pending == 20 and groups["half"].oldest_idle_ms is not None
    assert groups["fresh"].oldest_pending_id is None


async def test_lag_beyond_cap_is_an_estimate(sync, backend, monkeypatch):
    monkeypatch.setattr(st, "LAG_COUNT_CAP", 10)
    fill(sync, 100)
    sync.xgroup_create(S, G, id="0")
    read(sync, "c1", 10)
    (g,) = await backend.groups(S, trust_server_lag=False)
    assert g.lag_kind == "estimate" and g.lag >= 10 and g.lag_text.startswith("≈")
    assert g.lag <= 100


async def test_consumers_sorted_with_dead_mark(sync, backend):
    fill(sync, 10)
    sync.xgroup_create(S, G, id="0")
    read(sync, "zz-dead", 4)
    sync.xack(S, G, *read(sync, "aa-live", 6))
    cons = await backend.consumers(S, G)
    assert [c.name for c in cons] == ["aa-live", "zz-dead"]
    assert [c.pending for c in cons] == [0, 4]
    # Dead: idle past the threshold while holding entries (a consumer cannot be aged
    # without waiting, so the threshold moves instead).
    assert [c.dead(0) for c in cons] == [False, True]
    assert [c.dead(10**9) for c in cons] == [False, False]
    summary = await backend.pending_summary(S, G)
    assert summary.count == 4 and summary.consumers == (("zz-dead", 4),)


async def test_pending_paging_10000_each_once_with_filters(sync, backend):
    ids = fill(sync, 10_000)
    sync.xgroup_create(S, G, id="0")
    read(sync, "live", 4_000)
    dead = read(sync, "dead", 6_000)
    make_idle(sync, dead, "dead", 600_000)
    seen: list[str] = []
    start, pages = "-", 0
    rt_before = backend.client.round_trips.count
    while start is not None:
        page = await backend.pending_page(S, G, start=start, count=1000)
        seen += [e.id for e in page.entries]
        start, pages = page.next_start, pages + 1
        assert pages <= 11
    assert seen == ids  # each entry once, in id order
    assert backend.client.round_trips.count - rt_before == pages

    dead_seen, start = [], "-"
    while start is not None:
        page = await backend.pending_page(S, G, start=start, count=1500, min_idle_ms=500_000)
        assert all(e.consumer == "dead" and e.idle_ms >= 500_000 for e in page.entries)
        dead_seen += [e.id for e in page.entries]
        start = page.next_start
    assert dead_seen == dead

    page = await backend.pending_page(S, G, count=50, consumer="live")
    assert len(page.entries) == 50 and {e.consumer for e in page.entries} == {"live"}


async def test_pending_local_idle_filter_fallback(sync, backend):
    """Servers without XPENDING IDLE: filtered here, same result."""
    ids = fill(sync, 300)
    sync.xgroup_create(S, G, id="0")
    read(sync, "c", 300)
    make_idle(sync, ids[100:150], "c", 700_000)
    backend.server_idle_filter = False
    page = await backend.pending_page(S, G, count=20, min_idle_ms=600_000)
    assert [e.id for e in page.entries] == ids[100:120]
    page = await backend.pending_page(S, G, start=page.next_start, count=40,
                                      min_idle_ms=600_000)
    assert [e.id for e in page.entries] == ids[120:150]
    assert not page.server_idle_filter


async def test_browse_newest_first_pages_and_tail(sync, backend):
    ids = fill(sync, 120)
    first = await backend.browse(S, count=50)
    assert [e.id for e in first] == ids[::-1][:50]
    second = await backend.older(S, first[-1].id, count=50)
    third = await backend.older(S, second[-1].id, count=50)
    assert [e.id for e in first + second + third] == ids[::-1]
    assert await backend.older(S, ids[0]) == []
    new = fill(sync, 3)
    tail = await backend.newer(S, ids[-1])
    assert [e.id for e in tail] == new[::-1]
    at = await backend.browse(S, end=backend.time_end(stream_ids.id_ms(ids[10])), count=1)
    assert stream_ids.id_ms(at[0].id) == stream_ids.id_ms(ids[10])


# -- claims ------------------------------------------------------------------------------

async def test_claim_with_min_idle_does_not_steal_retaken_entry(sync, backend):
    ids = fill(sync, 3)
    sync.xgroup_create(S, G, id="0")
    read(sync, "dead", 3)
    make_idle(sync, ids, "dead", 60_000)
    page = await backend.pending_page(S, G)        # the operator sees all three, idle ~60 s
    assert all(e.idle_ms >= 60_000 for e in page.entries)
    # Meanwhile another worker re-takes the first one (its idle drops to ~0) and acks the 3rd.
    sync.execute_command(b"XCLAIM", S, G, "worker-2", 0, ids[0])
    sync.xack(S, G, ids[2])
    result = await backend.claim(S, G, "rescuer", page.entries)
    assert result.done == [ids[1]]
    assert set(result.skipped) == {ids[0], ids[2]}
    assert owners(sync) == {ids[0]: "worker-2", ids[1]: "rescuer"}
    (line,) = audit_lines(backend)
    assert line["action"] == "stream claim" and line["ids"] == [ids[1]]


def test_min_idle_now_bound():
    e = PendingEntry("1-0", "c", idle_ms=10_000, deliveries=1, seen_at=100.0)
    assert e.min_idle_now(now=102.5) == 10_000 + 2_500 - 5
    fresh = PendingEntry("1-0", "c", idle_ms=0, deliveries=1, seen_at=100.0)
    assert fresh.min_idle_now(now=100.2) == 200


@pytest.mark.parametrize("autoclaim", [True, False])
async def test_claim_all_idle(sync, backend, autoclaim):
    if autoclaim and not backend.client.capabilities.xautoclaim:
        assert REDUCED, "XAUTOCLAIM is missing on a full server"
        skip_as_the_server_lacks(backend.client.settings.url, "xautoclaim",
                                 "XAUTOCLAIM renamed away (the fallback case covers it)")
    if REDUCED:
        assert not backend.client.capabilities.xautoclaim
    from dataclasses import replace
    backend.client.capabilities = replace(backend.client.capabilities, xautoclaim=autoclaim)
    ids = fill(sync, 2_000)
    sync.xgroup_create(S, G, id="0")
    old = read(sync, "dead", 1_200)
    read(sync, "live", 800)
    make_idle(sync, old, "dead", 900_000)
    reports = []
    rt_before = backend.client.round_trips.count
    report = await backend.claim_idle(S, G, "rescuer", 600_000, chunk=250,
                                      progress=lambda r: reports.append(r.done))
    trips = backend.client.round_trips.count - rt_before
    assert report.done == 1_200 and not report.cancelled
    own = owners(sync)
    assert sorted((i for i, c in own.items() if c == "rescuer"), key=stream_ids.parse_id) == old
    assert sum(1 for c in own.values() if c == "live") == 800
    assert reports and reports[-1] == 1_200
    assert trips <= 2 * (len(ids) // 250 + 2) + 1
    logged = [i for line in audit_lines(backend) for i in line["ids"]]
    assert sorted(logged, key=stream_ids.parse_id) == old


async def test_claim_all_idle_cancel(sync, backend):
    fill(sync, 500)
    sync.xgroup_create(S, G, id="0")
    ids = read(sync, "dead", 500)
    make_idle(sync, ids, "dead", 900_000)
    cancel = Cancel()
    report = await backend.claim_idle(S, G, "rescuer", 1, chunk=100,
                                      progress=lambda r: cancel.set(), cancel=cancel)
    assert report.cancelled and 0 < report.done < 500
    assert sum(1 for c in owners(sync).values() if c == "rescuer") == report.done


# -- ack ---------------------------------------------------------------------------------

async def test_ack_reports_already_acked(sync, backend):
    ids = fill(sync, 5)
    sync.xgroup_create(S, G, id="0")
    read(sync, "c", 5)
    sync.xack(S, G, ids[1])
    result = await backend.ack(S, G, ids[:3])
    assert result.done == [ids[0], ids[2]] and result.skipped == [ids[1]]
    assert set(owners(sync)) == set(ids[3:])
    assert audit_lines(backend)[0]["count"] == 2


# -- dead letters ------------------------------------------------------------------------

async def test_poison_to_dlq_envelope_and_never_both(sync, backend):
    values = [json.dumps({"order": 1}), "not json", b"\xff\xfe binary"]
    ids = [sync.xadd(S, {"data": v}).decode() for v in values]
    ids.append(sync.xadd(S, {"kind": "odd", "n": "7"}).decode())     # no data field
    ids.append(sync.xadd(S, {"data": "{}"}).decode())                # will be deleted
    ids.append(sync.xadd(S, {"data": "{}"}).decode())                # will be re-taken
    ids.append(sync.xadd(S, {"data": "{}"}).decode())                # will be acked
    sync.xgroup_create(S, G, id="0")
    read(sync, "dead", len(ids))
    make_idle(sync, ids, "dead", 120_000, retry=7)
    page = await backend.pending_page(S, G)
    assert all(e.is_poison(5) for e in page.entries)
    sync.xdel(S, ids[4])
    sync.execute_command(b"XCLAIM", S, G, "worker-2", 0, ids[5])
    sync.xack(S, G, ids[6])
    result = await backend.dead_letter(S, G, page.entries, "events:test:dlq", now_ms=1234)
    assert result.done == ids[:4]
    assert set(result.skipped) == set(ids[4:])
    dlq = sync.lrange("events:test:dlq", 0, 100)
    assert len(dlq) == 4
    envs = [decode(v) for v in dlq]
    assert all(e.kind == "dead" and e.reason == "max deliveries exceeded" for e in envs)
    assert [e.id for e in envs] == ids[:4]
    assert envs[0].payload == {"order": 1} and envs[1].payload == "not json"
    assert envs[2].payload == {"base64": "//4gYmluYXJ5"}
    assert envs[3].payload == {"stream_fields": [["kind", "odd"], ["n", 7]]}
    assert envs[0].retry_count == 7 and envs[0].data["dead_at"] == 1234
    assert envs[0].first_attempt == stream_ids.id_ms(ids[0])
    # Never both: every entry is pending xor dead-lettered.
    pending = set(owners(sync))
    dead_ids = {e.id for e in envs}
    for entry_id in ids:
        assert not (entry_id in pending and entry_id in dead_ids)
    assert pending == {ids[4], ids[5]}
    (line,) = audit_lines(backend)
    assert line["keys"] == [S, "events:test:dlq"] and line["count"] == 4


# -- admin -------------------------------------------------------------------------------

async def test_delete_consumer_refused_while_holding(sync, backend):
    fill(sync, 4)
    sync.xgroup_create(S, G, id="0")
    read(sync, "holder", 3)
    sync.xgroup_createconsumer(S, G, "idle-one")
    with pytest.raises(BackendError, match="holds 3 pending"):
        await backend.delete_consumer(S, G, "holder")
    assert await backend.delete_consumer(S, G, "idle-one") == 0
    assert await backend.delete_consumer(S, G, "holder", allow_pending=3) == 3
    assert [c.name for c in await backend.consumers(S, G)] == []
    with pytest.raises(BackendError, match="no longer exists"):
        await backend.delete_consumer(S, G, "holder")


async def test_create_group_and_set_id(sync, backend):
    ids = fill(sync, 5)
    await backend.create_group(S, "from-start", "0")
    await backend.create_group(S, "from-end", "$")
    await backend.create_group(S, "from-id", ids[2])
    await backend.create_group("brand-new", "g", "$", mkstream=True)
    with pytest.raises(BackendError, match="already exists"):
        await backend.create_group(S, "from-end", "$")
    groups = {g.name: g for g in await backend.groups(S)}
    assert groups["from-start"].lag == 5 and groups["from-end"].lag == 0
    assert groups["from-id"].lag == 2
    await backend.set_group_id(S, "from-end", "0")
    groups = {g.name: g for g in await backend.groups(S)}
    assert groups["from-end"].last_delivered_id == "0-0" and groups["from-end"].lag == 5
    assert sync.exists("brand-new")
    assert [line["action"] for line in audit_lines(backend)] == [
        "stream create group"] * 4 + ["stream set group id"]


async def test_publish_with_maxlen(sync, backend):
    fill(sync, 1_000)
    new_id = await backend.publish(S, [("data", '{"a":1}'), ("extra", b"\x00raw")], maxlen=10)
    last = sync.xrevrange(S, count=1)[0]
    assert last[0].decode() == new_id
    assert last[1] == {b"data": b'{"a":1}', b"extra": b"\x00raw"}
    assert sync.xlen(S) < 1_000
    with pytest.raises(BackendError):
        await backend.publish(S, [])
    assert st.validate_json('{"a": 1}') is None and st.validate_json("{oops")


async def test_every_mutation_refused_read_only(redis_url, sync):
    fill(sync, 2)
    sync.xgroup_create(S, G, id="0")
    client = client_at(redis_url, read_only=True)
    await client.connect()
    backend = Streams(client)
    names = [n for n in dir(Streams) if getattr(getattr(Streams, n), "mutation", None)]
    assert set(names) >= {"claim", "claim_idle", "ack", "dead_letter", "delete_consumer",
                          "create_group", "set_group_id", "publish"}
    before = client.round_trips.count
    for name in names:
        with pytest.raises(ReadOnlyError):
            await getattr(backend, name)(S, G, "x", "y")
    assert client.round_trips.count == before
    await client.aclose()


# -- bad input ---------------------------------------------------------------------------

async def test_bad_input_shown_plainly(sync, backend):
    sync.xadd(S, {"data": b"\xff\x00"})
    sync.xadd(S, {"other": "x"})
    sync.xgroup_create(S, G, id="0")
    evil = "\x1b[31mred\n\x07"
    read(sync, evil, 2)
    (cons,) = await backend.consumers(S, G)
    assert cons.name == evil  # round-trips to the server as the same bytes
    page = await backend.pending_page(S, G)
    assert page.entries[0].consumer == evil
    bodies = await backend.entries(S, [e.id for e in page.entries])
    previews = [bodies[e.id].preview() for e in page.entries]
    assert "\\x" in previews[0] and "other=x" in previews[1]
    assert all("\x1b" not in p for p in previews)
    result = await backend.claim(S, G, evil + "2", page.entries)
    assert len(result.done) == 2
    sync.xgroup_destroy(S, G)
    with pytest.raises(BackendError, match="no longer exists"):
        await backend.pending_page(S, G)
    with pytest.raises(BackendError, match="no longer exists"):
        await backend.consumers(S, G)
    sync.delete(S)
    with pytest.raises(BackendError, match="no longer exists"):
        await backend.groups(S)
    assert await backend.browse(S) == []
    assert (await backend.entries(S, ["1-0"])) == {"1-0": None}


# -- dead-lettering: push and ack together, or neither -----------------------------------

def poison(sync, n: int = 3) -> list[str]:
    ids = fill(sync, n)
    sync.xgroup_create(S, G, id="0")
    read(sync, "dead", n)
    make_idle(sync, ids, "dead", 120_000, retry=7)
    return ids


async def test_poison_to_dlq_keeps_the_field_text_through_requeue(sync, backend):
    """The data field's JSON goes into the dead letter as its own text, and a requeue
    copies it again: the job in the main queue carries the field's exact bytes."""
    from ferrite_tui.backend.dlq import DeadLetters
    from ferrite_tui.backend.rawjson import payload_text

    data = b'{"a":1e400,"a":2,"n":1e9,"x":0.1000000000000000055511151231257827}'
    odd = b'{"v":NaN}'  # Python reads it, JSON does not have it: stored as a string
    ids = [sync.xadd(S, {"data": v}).decode() for v in (data, odd)]
    sync.xgroup_create(S, G, id="0")
    read(sync, "dead", 2)
    make_idle(sync, ids, "dead", 120_000, retry=7)
    page = await backend.pending_page(S, G)
    result = await backend.dead_letter(S, G, page.entries, "events:test:dlq", now_ms=1234)
    assert result.done == ids
    stored = sync.lrange("events:test:dlq", 0, -1)
    assert payload_text(stored[0]) == data
    assert json.loads(stored[1])["job"]["payload"] == odd.decode()
    dl = DeadLetters(backend.client)
    dlq_page = await dl.page("events:test:dlq", 0, 10)
    await dl.requeue("events:test:dlq", "events:test:main", [dlq_page.items[0]])
    (job,) = sync.lrange("events:test:main", 0, -1)
    assert job.startswith(b'{"id":"%s","payload":%s,' % (ids[0].encode(), data))



@pytest.mark.parametrize("kind", ["string", "hash", "zset"])
async def test_dead_letter_to_a_target_of_another_type_sends_nothing(sync, backend, kind):
    ids = poison(sync)
    {"string": lambda: sync.set("bad:dlq", "x"), "hash": lambda: sync.hset("bad:dlq", "f", "v"),
     "zset": lambda: sync.zadd("bad:dlq", {"m": 1})}[kind]()
    page = await backend.pending_page(S, G)
    with pytest.raises(BackendError, match=f"bad:dlq is a {kind}"):
        await backend.dead_letter(S, G, page.entries, "bad:dlq")
    assert set(owners(sync)) == set(ids), "entries were acked without being dead-lettered"


async def test_dead_letter_to_a_stream_dlq_uses_xadd(sync, backend):
    ids = poison(sync)
    sync.xadd("events:test:dlq", {"data": "an earlier dead letter"})
    page = await backend.pending_page(S, G)
    result = await backend.dead_letter(S, G, page.entries, "events:test:dlq", now_ms=99)
    assert result.done == ids and not owners(sync)
    entries = sync.xrange("events:test:dlq")[1:]
    envs = [decode(fields[b"data"]) for _, fields in entries]
    assert [e.id for e in envs] == ids and all(e.kind == "dead" for e in envs)


async def test_dead_letter_target_changing_type_before_exec_acks_nothing(sync, backend,
                                                                         after_check):
    ids = poison(sync)
    page = await backend.pending_page(S, G)
    after_check(lambda: sync.set("events:test:dlq", "now a string"))
    with pytest.raises(BackendError, match="is a string"):
        await backend.dead_letter(S, G, page.entries, "events:test:dlq")
    assert set(owners(sync)) == set(ids)


async def test_dead_letter_acked_meanwhile_keeps_its_copy_in_the_transaction(sync, backend,
                                                                             after_check):
    """Another worker acks one entry between the check and EXEC: the push and the ack ran
    together; nothing is undone outside the transaction, and the report says so."""
    ids = poison(sync)
    page = await backend.pending_page(S, G)
    after_check(lambda: sync.xack(S, G, ids[1]))
    result = await backend.dead_letter(S, G, page.entries, "events:test:dlq")
    assert result.done == [ids[0], ids[2]]
    assert "acked by another client" in result.reasons[ids[1]]
    assert [decode(v).id for v in sync.lrange("events:test:dlq", 0, -1)] == ids
    assert not owners(sync)


async def test_big_end_entries_are_not_read_again_while_the_stream_stands(backend, sync):
    """The overview and the group table want the first and last ids; with a big entry at
    an end they ask XLEN and whether anything came after the last id, until it changes."""
    big = sync.xadd(S, {"data": "x" * (8 * st.BIG_ITEM)})
    sync.xgroup_create(S, G, "0")
    sent = lambda: int(sync.info("stats")["total_net_output_bytes"])  # noqa: E731
    first = (await backend.overview([S]))[S]
    await backend.groups(S)
    before = sent()
    again = (await backend.overview([S]))[S]
    groups = await backend.groups(S)
    assert sent() - before < st.BIG_ITEM
    assert (again.length, again.first_id, again.last_id) == (1, first.first_id, first.last_id)
    assert groups[0].lag == 1
    new = sync.xadd(S, {"data": "small"})
    assert (await backend.groups(S))[0].lag == 2  # changed: read again
    await backend.overview([S])  # (the changed ends are read whole at the next refresh)
    now = (await backend.overview([S]))[S]
    assert (now.length, now.first_id, now.last_id) == (2, big.decode(), new.decode())


async def test_a_counted_lag_is_not_counted_again_while_the_stream_stands(backend, sync):
    """Without XINFO's lag (Redis < 7, Ferrite) a group's lag is counted with XRANGE, which
    returns whole entries: counted once, it stands while the group's position, the length
    and the end ids do."""
    for _ in range(200):
        sync.xadd(S, {"data": "x" * 1024})
    sync.xgroup_create(S, G, "0")
    sync.xreadgroup(G, "c1", {S: ">"}, count=1)
    sent = lambda: int(sync.info("stats")["total_net_output_bytes"])  # noqa: E731
    first = await backend.groups(S, trust_server_lag=False)
    before = sent()
    again = await backend.groups(S, trust_server_lag=False)
    assert sent() - before < st.BIG_ITEM
    assert first[0].lag == again[0].lag == 199
    sync.xreadgroup(G, "c1", {S: ">"}, count=10)  # the group moved: counted again
    assert (await backend.groups(S, trust_server_lag=False))[0].lag == 189
    sync.xadd(S, {"data": "new"})
    assert (await backend.groups(S, trust_server_lag=False))[0].lag == 190
