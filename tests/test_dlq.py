"""Dead letters: requeue (one, marked, all, filtered, grouped), delete, edit, export,
grouping, and the exactly-once guarantees under concurrency, cancel and kill."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
from collections import Counter

import pytest
import redis

from ferrite_tui.backend.audit import AuditLog
from ferrite_tui.backend.bulk import BulkRunner, Cancel
from ferrite_tui.backend.dlq import DeadLetters, Filter, normalise_reason
from ferrite_tui.backend.errors import BackendError
from ferrite_tui.backend.movebase import Item
from helpers import client_at, wait_until

DLQ, TARGET = "queue:main:dlq", "queue:main"
REASONS = ["timeout after {n}s calling 10.0.0.{m}:443", "payment {uuid} declined (code {n})",
           "KeyError: 'sku'"]


def dead(i: int, reason: str | None = None, dead_at: int = 1_000_000) -> bytes:
    reason = reason or REASONS[i % 3].format(n=i, m=i % 7,
                                             uuid=f"{i:08x}-1111-2222-3333-444455556666")
    return json.dumps({"job": {"id": f"job-{i}", "payload": {"n": i, "s": "x"}, "retry_count": 3,
                               "last_error": reason + "\nTraceback...", "first_attempt": 5},
                       "dead_at": dead_at + i, "reason": reason},
                      separators=(",", ":")).encode()


def job_id(raw: bytes) -> str:
    data = json.loads(raw)
    return data["job"]["id"] if "job" in data else data["id"]


def fill(sync, n: int, key: str = DLQ) -> list[bytes]:
    values = [dead(i) for i in range(n)]
    for s in range(0, n, 1000):
        sync.rpush(key, *values[s:s + 1000])
    return values


def test_reason_normalisation():
    a = normalise_reason("timeout after 30s calling 10.0.0.3:443")
    b = normalise_reason("timeout after 5s calling 10.0.0.12:443")
    assert a == b == "timeout after #s calling #:#"
    assert normalise_reason("payment 0a1b2c3d-1111-2222-3333-444455556666 declined") == \
        normalise_reason("payment ffffffff-1111-2222-3333-444455556666 declined") == \
        "payment <id> declined"
    assert normalise_reason("order deadbeef42 failed") == "order <id> failed"
    assert normalise_reason("KeyError: 'sku'") == "KeyError: 'sku'"


def test_filters():
    from ferrite_tui.backend.envelopes import decode
    env = decode(dead(0))
    assert Filter("TIMEOUT")(env) and Filter("Traceback")(env) and Filter('"s":"x"')(env)
    assert not Filter("declined")(env)
    assert Filter("/time.*443/")(env) and not Filter("/^KeyError/")(env)
    assert Filter(group="timeout after #s calling #:#")(env)
    assert not Filter(group="payment <id> declined (code #)")(env)
    assert Filter("plain")(decode(b"plain text value"))
    with pytest.raises(BackendError):
        Filter("/[unclosed/")


async def test_requeue_one_as_the_seed_does(client, sync, tmp_path):
    fill(sync, 5)
    sync.rpush(TARGET, b"already")
    clock = lambda: 1234.5  # noqa: E731
    dl = DeadLetters(client, clock=clock)
    page = await dl.page(DLQ, 0, 10)
    res = await dl.requeue(DLQ, TARGET, [page.items[2]])
    assert (res.done, res.skipped, res.unchanged) == (1, 0, 0)
    assert sync.lrange(TARGET, 0, 0) == [b"already"]
    pushed = json.loads(sync.lindex(TARGET, -1))
    assert pushed == {"id": "job-2", "payload": {"n": 2, "s": "x"}, "retry_count": 0,
                      "last_error": None, "first_attempt": 1234500}
    assert [job_id(v) for v in sync.lrange(DLQ, 0, -1)] == ["job-0", "job-1", "job-3", "job-4"]
    entry = AuditLog(tmp_path / "audit.log").read()[-1]
    assert entry["action"] == "requeue dead letters" and entry["ids"] == ["job-2"]
    assert entry["keys"] == [DLQ, TARGET] and entry["count"] == 1
    again = await dl.requeue(DLQ, TARGET, [page.items[2]])
    assert (again.done, again.skipped) == (0, 1)
    assert sync.llen(TARGET) == 2


async def test_requeue_marked_filtered_and_grouped(client, sync):
    fill(sync, 300)
    dl = DeadLetters(client)
    page = await dl.page(DLQ, 0, 50)
    marked = [page.items[i] for i in (3, 7, 40)]
    assert (await dl.requeue(DLQ, TARGET, marked)).done == 3
    state = await dl.scan(DLQ, Filter("/declined/"))
    assert state.complete and len(state.matches) == 98  # i % 3 == 1, minus job-7 and job-40
    groups = {g.key: g.count for g in state.sorted_groups()}
    assert groups == {"timeout after #s calling #:#": 99,
                      "payment <id> declined (code #)": 98, "KeyError: 'sku'": 100}
    report = await BulkRunner(state.matches, lambda c: dl.requeue(DLQ, TARGET, c),
                              chunk_size=40).run()
    assert (report.done, report.skipped) == (98, 0)
    grouped = await dl.scan(DLQ, Filter(group="KeyError: 'sku'"))
    assert len(grouped.matches) == 100
    report = await BulkRunner(grouped.matches, lambda c: dl.requeue(DLQ, TARGET, c),
                              chunk_size=64).run()
    assert report.done == 100
    remaining = {job_id(v) for v in sync.lrange(DLQ, 0, -1)}
    queued = [job_id(v) for v in sync.lrange(TARGET, 0, -1)]
    assert len(queued) == len(set(queued)) == 201
    assert remaining.isdisjoint(queued) and len(remaining) + len(queued) == 300
    assert all(int(i.split("-")[1]) % 3 == 0 for i in remaining)


async def test_requeue_all_from_the_head_stops_at_what_was_counted(client, sync):
    values = fill(sync, 1000)
    dl = DeadLetters(client)
    tail = sync.lindex(DLQ, -1)
    sync.rpush(DLQ, dead(5000))  # arrives after the operator confirmed
    done = 0
    while True:
        res = await dl.requeue_head(DLQ, TARGET, 128, stop_at=tail)
        done += res.done
        if res.done == 0 or res.reached_stop:
            break
    assert done == 1000
    assert [job_id(v) for v in sync.lrange(DLQ, 0, -1)] == ["job-5000"]
    assert [job_id(v) for v in sync.lrange(TARGET, 0, -1)] == [job_id(v) for v in values]


async def test_non_envelopes_move_unchanged_and_say_so(client, sync):
    odd = [b'{"plain": "json"}', b"just text", b"\xff\xfe\x00binary", b"[1,2]"]
    sync.rpush(DLQ, dead(1), *odd)
    dl = DeadLetters(client)
    page = await dl.page(DLQ, 0, 10)
    res = await dl.requeue(DLQ, TARGET, list(page.items))
    assert res.done == 5 and res.unchanged == 4
    assert sync.lrange(TARGET, 1, -1) == odd


async def test_delete_and_delete_head(client, sync, tmp_path):
    fill(sync, 20)
    dl = DeadLetters(client)
    page = await dl.page(DLQ, 0, 20)
    assert (await dl.delete(DLQ, [page.items[0], page.items[19]])).done == 2
    assert (await dl.delete_head(DLQ, 5)).done == 5
    assert [job_id(v) for v in sync.lrange(DLQ, 0, -1)] == [f"job-{i}" for i in range(6, 19)]
    assert AuditLog(tmp_path / "audit.log").read()[-1]["count"] == 5


async def test_edit_then_requeue(client, sync):
    sync.rpush(DLQ, dead(1), b"text value")
    dl = DeadLetters(client, clock=lambda: 2.0)
    page = await dl.page(DLQ, 0, 10)
    with pytest.raises(BackendError, match="not valid JSON"):
        await dl.edit_requeue(DLQ, TARGET, page.items[0], "{broken")
    res = await dl.edit_requeue(DLQ, TARGET, page.items[0], '{"n": 1, "s": "fixed"}')
    assert res.done == 1
    assert json.loads(sync.lindex(TARGET, 0)) == {
        "id": "job-1", "payload": {"n": 1, "s": "fixed"}, "retry_count": 0,
        "last_error": None, "first_attempt": 2000}
    await dl.edit_requeue(DLQ, TARGET, page.items[1], "edited text")
    assert sync.lindex(TARGET, 1) == b"edited text" and sync.llen(DLQ) == 0


async def test_export_ndjson(client, sync, tmp_path):
    sync.rpush(DLQ, dead(1), b"text", b"\xff\x00")
    dl = DeadLetters(client)
    path = tmp_path / "out.ndjson"
    assert await dl.export(DLQ, path) == 3
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0]["job"]["id"] == "job-1"
    assert lines[1] == {"raw": "text"} and lines[2] == {"raw_base64": "/wA="}
    page = await dl.page(DLQ, 0, 3)
    assert await dl.export(DLQ, path, items=[page.items[1]]) == 1


async def test_target_must_be_known(client, sync):
    fill(sync, 1)
    dl = DeadLetters(client)
    with pytest.raises(BackendError, match="no target"):
        await dl.requeue(DLQ, "", [Item(dead(0), 0, 1)])
    assert sync.llen(DLQ) == 1


@pytest.mark.scenario
@pytest.mark.parametrize("mode", ["explicit", "head"])
async def test_concurrent_requeue_consumers_and_second_console(redis_url, sync, tmp_path, mode):
    """Consumers pop the target while console A requeues 5,000 dead letters and console B
    requeues and deletes from the same DLQ: every job id is accounted for exactly once."""
    n = 5000
    fill(sync, n)
    a = client_at(redis_url, AuditLog(tmp_path / "a.log"))
    b = client_at(redis_url, AuditLog(tmp_path / "b.log"))
    await a.connect()
    await b.connect()
    consumed: list[str] = []
    deleted: list[str] = []
    b_requeued: list[str] = []
    a_done = asyncio.Event()
    b_go = asyncio.Event()
    b_acted = asyncio.Event()  # console A's bulk starts once B has done both kinds of act
    stop = asyncio.Event()
    state = await DeadLetters(a).scan(DLQ)  # what console A's operator saw

    async def consumer():
        r = redis.asyncio.Redis.from_url(redis_url)
        try:
            while not stop.is_set():
                got = await r.blpop([TARGET], timeout=0.05)
                if got:
                    consumed.append(job_id(got[1]))
        finally:
            await r.aclose()

    async def console_b():
        await b_go.wait()
        dl = DeadLetters(b)
        rng = random.Random(3)
        k = 0
        while not a_done.is_set():
            length = sync.llen(DLQ)
            if not length:
                break
            page = await dl.page(DLQ, rng.randrange(length), 5)
            if not page.items:
                continue
            item = rng.choice(page.items)
            k += 1
            if k % 2:
                if (await dl.delete(DLQ, [item])).done:
                    deleted.append(job_id(item.raw))
            elif (await dl.requeue(DLQ, TARGET, [item])).done:
                b_requeued.append(job_id(item.raw))
            if deleted and b_requeued:
                b_acted.set()
            await asyncio.sleep(0)

    async def console_a():
        dl = DeadLetters(a)
        try:
            if mode == "explicit":
                assert len(state.matches) == n
                b_go.set()
                await b_acted.wait()
                return await BulkRunner(state.matches, lambda c: dl.requeue(DLQ, TARGET, c),
                                        chunk_size=250).run()
            tail = sync.lindex(DLQ, -1)
            b_go.set()
            await b_acted.wait()
            done = 0
            while True:
                res = await dl.requeue_head(DLQ, TARGET, 250, stop_at=tail)
                done += res.done
                if res.done == 0 or res.reached_stop:
                    break
            return done
        finally:
            a_done.set()

    consumers = [asyncio.create_task(consumer()) for _ in range(4)]
    b_task = asyncio.create_task(console_b())
    a_result = await console_a()
    await b_task
    await asyncio.get_running_loop().run_in_executor(
        None, lambda: wait_until(lambda: sync.llen(TARGET) == 0, timeout=30))
    stop.set()
    await asyncio.gather(*consumers)
    await a.aclose()
    await b.aclose()

    remaining = [job_id(v) for v in sync.lrange(DLQ, 0, -1)]
    places = Counter(consumed) + Counter(deleted) + Counter(remaining)
    assert set(places) == {f"job-{i}" for i in range(n)}
    assert max(places.values()) == 1, [k for k, v in places.items() if v > 1][:5]
    assert sorted(consumed) == sorted(set(consumed))
    assert deleted and b_requeued, "the second console did act"
    a_count = a_result.done if mode == "explicit" else a_result
    assert a_count + len(deleted) + len(b_requeued) + len(remaining) == n
    if mode == "explicit":
        # What the other console took is skipped; a chunk that found the list emptied by
        # the others (Redis deletes an empty list) is counted gone, not skipped.
        assert a_result.skipped + a_result.gone == len(deleted) + len(b_requeued), (
            a_result.failed, a_result.errors[:3])


async def test_cancel_mid_way_loses_nothing(client, sync):
    fill(sync, 2000)
    dl = DeadLetters(client)
    state = await dl.scan(DLQ)
    cancel = Cancel()
    chunks = []

    def progress(report):
        chunks.append(report.done)
        if len(chunks) == 3:
            cancel.set()

    report = await BulkRunner(state.matches, lambda c: dl.requeue(DLQ, TARGET, c),
                              chunk_size=100, progress=progress, cancel=cancel).run()
    assert report.cancelled and report.done == 300
    in_dlq = [job_id(v) for v in sync.lrange(DLQ, 0, -1)]
    in_target = [job_id(v) for v in sync.lrange(TARGET, 0, -1)]
    assert len(in_dlq) == 1700 and len(in_target) == 300
    assert sorted(in_dlq + in_target) == sorted(f"job-{i}" for i in range(2000))


KILL_SCRIPT = """
import asyncio, sys
from ferrite_tui.backend.client import Client, ConnectionSettings
from ferrite_tui.backend.dlq import DeadLetters

async def main():
    c = Client(ConnectionSettings(url=sys.argv[1]))
    await c.connect()
    dl = DeadLetters(c)
    state = await dl.scan(sys.argv[2])
    print("ready", flush=True)
    for s in range(0, len(state.matches), 20):
        await dl.requeue(sys.argv[2], sys.argv[3], state.matches[s:s + 20])

asyncio.run(main())
"""


async def test_killed_mid_way_every_item_in_one_place(redis_url, sync):
    at = 1000
    n = 3000
    fill(sync, n)
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, redis_url, DLQ, TARGET],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: wait_until(lambda: sync.llen(TARGET) >= at, timeout=30,
                                     interval=0.001))
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    in_dlq = [job_id(v) for v in sync.lrange(DLQ, 0, -1)]
    in_target = [job_id(v) for v in sync.lrange(TARGET, 0, -1)]
    assert 0 < len(in_target) < n
    assert len(set(in_dlq) | set(in_target)) == len(in_dlq) + len(in_target) == n


async def test_export_of_hostile_values_is_safe_to_cat_and_keeps_their_values(client, sync,
                                                                              tmp_path):
    """An export is read with cat and less: control and bidi characters come out as \\u
    escapes (JSON reads back the same values), and a lone surrogate escape stays one."""
    hostile = [b'{"job":{"id":"a","payload":"\\ud800"},"reason":"x"}',
               '{"note":"\u202eevil"}'.encode(), "plain \x1b]52;c;eA==\x07 \u202e".encode()]
    sync.rpush(DLQ, *hostile)
    path = tmp_path / "out.ndjson"
    assert await DeadLetters(client).export(DLQ, path) == 3
    data = path.read_bytes()
    text = data.decode("utf-8")  # strict: nothing undecodable
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["job"]["payload"] == "\ud800"
    assert lines[1] == {"note": "\u202eevil"}
    assert lines[2] == {"raw": "plain \x1b]52;c;eA==\x07 \u202e"}
