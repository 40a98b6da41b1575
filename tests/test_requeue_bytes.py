"""Requeue keeps the user's bytes: the fields the console resets are replaced in the raw
text; the payload (numbers, key order, duplicate keys, whitespace, escapes) is copied as
stored. An entry whose text cannot be edited is named by position and left in place."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ferrite_tui.backend.bulk import BulkRunner, HeadPlan
from ferrite_tui.backend.dlq import DeadLetters, export_line
from ferrite_tui.backend.lists import ListItems
from ferrite_tui.backend.movebase import PositionalPlan
from ferrite_tui.backend.rawjson import Unrewritable, payload_text, requeued
from ferrite_tui.backend.requeue_plan import plan_head, plan_items

NOW_S = 1_700_000_000.25
NOW_MS = 1_700_000_000_250
DLQ, MAIN = "queue:main:dlq", "queue:main"

PAYLOADS = [
    b"1e400",
    b'{"a":1,"a":2}',
    b"1e9",
    b"0.1000000000000000055511151231257827",
    b"-0.0",
    b'"\\u00e9\\ud83d\\ude00 \\u0000 caf\xc3\xa9"',
    b'"\\ud800 lone"',
    b'{"x":{"y":[1,{"z":null}],"w":"a\\"}b"},"n":12345678901234567890123}',
    b'{ "spaced" : [ 1 , 2 ] ,\n  "tab"\t: true }',
    b"[]",
]


def dead(payload: bytes, i: int = 1) -> bytes:
    return (b'{"job":{"id":"j%d","payload":%s,"retry_count":3,"last_error":"boom",'
            b'"first_attempt":5},"dead_at":9,"reason":"boom"}' % (i, payload))


def requeued_as(payload: bytes, i: int = 1) -> bytes:
    return (b'{"id":"j%d","payload":%s,"retry_count":0,"last_error":null,'
            b'"first_attempt":%d}' % (i, payload, NOW_MS))


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.decode("utf-8", "replace"))
def test_the_payload_is_copied_byte_for_byte(payload):
    assert requeued(dead(payload), NOW_MS) == requeued_as(payload)
    assert payload_text(dead(payload)) == payload


def test_other_job_fields_order_and_duplicates_are_kept():
    raw = (b'{ "reason" : "x", "job" : {"payload":[1e400], "id":7, "queue":"q", '
           b'"retry_count":1, "retry_count":2 }, "dead_at":1}')
    assert requeued(raw, 42) == (b'{"payload":[1e400], "id":7, "queue":"q", '
                                 b'"retry_count":0, "retry_count":0,"last_error":null,'
                                 b'"first_attempt":42 }')
    # A duplicated "job": the one a parser keeps (the last) is the one requeued.
    twice = b'{"job":{"id":1,"payload":1},"job":{"id":2,"payload":2},"reason":"r"}'
    assert requeued(twice, 1).startswith(b'{"id":2,"payload":2')


def test_not_standard_json_is_refused_with_its_offset():
    raw = b'{"job":{"id":1,"payload":1},"dead_at":NaN,"reason":"r"}'
    with pytest.raises(Unrewritable, match="offset 38"):
        requeued(raw, 1)


# JSON texts with odd spacing, numbers of every shape and duplicate keys.
_ws = st.sampled_from(["", " ", "\n", "\t", "  \r\n"])
_number = st.from_regex(r"-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,40})?([eE][+-]?[0-9]{1,4})?",
                        fullmatch=True)
_string = st.text(max_size=20).map(lambda s: json.dumps(s, ensure_ascii=False))
_escaped = st.sampled_from(['"\\ud800"', '"\\u00e9"', '"a\\"b\\\\"', '"\\n"', '"[{"'])
_scalar = _number | _string | _escaped | st.sampled_from(["true", "false", "null"])


def _containers(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(_ws, _string | st.sampled_from(['"a"', '"a"']), _ws, _ws, inner, _ws)
    objects = st.lists(pair, max_size=4).map(
        lambda ps: "{" + ",".join(f"{a}{k}{b}:{c}{v}{d}" for a, k, b, c, v, d in ps) + "}")
    arrays = st.lists(st.tuples(_ws, inner, _ws), max_size=4).map(
        lambda vs: "[" + ",".join(f"{a}{v}{b}" for a, v, b in vs) + "]")
    return objects | arrays


_json_text = st.recursive(_scalar, _containers, max_leaves=20)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=_json_text, space=_ws)
def test_any_payload_text_is_kept(payload, space):
    data = payload.encode("utf-8", "surrogatepass")
    raw = (b'{"job":{"id":"j1",%s"payload"%s:%s%s%s,"retry_count":3},"dead_at":9,'
           b'"reason":"r"}' % (space.encode(), space.encode(), space.encode(), data,
                               space.encode()))
    out = requeued(raw, NOW_MS)
    assert payload_text(b'{"job":' + out + b',"reason":"r"}') == data
    # Still JSON, and the reset fields read as the seed's.
    job = json.loads(out)
    assert (job["retry_count"], job["last_error"], job["first_attempt"]) == (0, None, NOW_MS)


async def test_requeue_all_keeps_every_payload_byte(client, sync):
    values = [dead(p, i) for i, p in enumerate(PAYLOADS)]
    sync.rpush(DLQ, *values)
    dl = DeadLetters(client, clock=lambda: NOW_S)
    plan = await plan_head(client, DLQ, len(values))
    assert (plan.reset, plan.unchanged, plan.kept) == (len(values), 0, 0)
    count, tail = await ListItems(client).count_and_tail(DLQ)
    report = await BulkRunner(HeadPlan(count, 3),
                              lambda n: dl.requeue_head(DLQ, MAIN, n, stop_at=tail)).run()
    assert (report.done, report.failed, report.not_attempted) == (len(values), 0, 0)
    assert sync.lrange(MAIN, 0, -1) == [requeued_as(p, i) for i, p in enumerate(PAYLOADS)]
    assert sync.llen(DLQ) == 0


async def test_marked_requeue_keeps_bytes_and_exports_keep_them(client, sync, tmp_path):
    values = [dead(p, i) for i, p in enumerate(PAYLOADS)]
    sync.rpush(DLQ, *values)
    assert [export_line(v) for v in values if b"\n" not in v] == \
        [v.decode() for v in values if b"\n" not in v]
    dl = DeadLetters(client, clock=lambda: NOW_S)
    page = await dl.page(DLQ, 0, 100)
    marked = [page.items[i] for i in (0, 1, 2, 3, 6)]
    res = await dl.requeue(DLQ, MAIN, marked)
    assert (res.done, res.failed, res.skipped) == (5, 0, 0)
    assert sync.lrange(MAIN, 0, -1) == [requeued_as(PAYLOADS[i], i) for i in (0, 1, 2, 3, 6)]


NAN_ENTRY = b'{"job":{"id":"nan","payload":1},"dead_at":NaN,"reason":"r"}'


async def test_an_entry_that_cannot_be_rewritten_is_named_and_left(client, sync):
    """Python reads NaN (so the console shows the entry as a dead letter), but it is not
    JSON: the console will not vouch for a rewrite of it. It stays, named by position; the
    entries around it move, in a head run of several chunks and in a marked requeue."""
    values = [dead(b"1", 0), NAN_ENTRY, dead(b"2", 2), dead(b"3", 3), NAN_ENTRY,
              dead(b"4", 5), dead(b"5", 6)]
    sync.rpush(DLQ, *values)
    dl = DeadLetters(client, clock=lambda: NOW_S)
    assert plan_items((await dl.page(DLQ, 0, 100)).items).kept == 2
    count, tail = await ListItems(client).count_and_tail(DLQ)
    report = await BulkRunner(HeadPlan(count, 2),
                              lambda n: dl.requeue_head(DLQ, MAIN, n, stop_at=tail)).run()
    assert (report.done, report.failed, report.skipped, report.gone,
            report.not_attempted) == (5, 2, 0, 0, 0), report.summary()
    assert any("entry 1 of queue:main:dlq cannot be rewritten" in e for e in report.errors)
    assert sync.lrange(DLQ, 0, -1) == [NAN_ENTRY, NAN_ENTRY]
    assert sync.lrange(MAIN, 0, -1) == [requeued_as(p, i) for i, p in
                                        ((0, b"1"), (2, b"2"), (3, b"3"), (5, b"4"), (6, b"5"))]
    # Marked: the same, by exact value.
    sync.delete(MAIN)
    sync.rpush(DLQ, dead(b"6", 7))
    page = await dl.page(DLQ, 0, 100)
    report = await BulkRunner(PositionalPlan(list(page.items)),
                              lambda c: dl.requeue(DLQ, MAIN, c)).run()
    assert (report.done, report.failed, report.not_attempted) == (1, 2, 0)
    assert sync.lrange(DLQ, 0, -1) == [NAN_ENTRY, NAN_ENTRY]
    assert "entry 0 of queue:main:dlq cannot be rewritten" in report.errors[0]


async def test_edit_and_requeue_keeps_the_typed_payload(client, sync):
    sync.rpush(DLQ, dead(b'{"a":1}'))
    dl = DeadLetters(client, clock=lambda: NOW_S)
    page = await dl.page(DLQ, 0, 10)
    await dl.edit_requeue(DLQ, MAIN, page.items[0], '{"a":1e400,"a":2}')
    assert sync.lrange(MAIN, 0, -1) == [requeued_as(b'{"a":1e400,"a":2}', 1)]
