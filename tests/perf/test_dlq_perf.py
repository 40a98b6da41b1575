"""Dead letters at size (issue 3), each figure beside a baseline from the same run.

1. Requeue all of 100,000 dead letters: jobs/s, round trips and the longest single command
   in SLOWLOG (and the longest MULTI block: the sum of its commands), for
   - the "R, unfiltered" path (WATCH; LRANGE 0 k-1, then MULTI LTRIM + RPUSH EXEC), and
   - the "R on a filter / marks" path (WATCH; LPOS per value, then MULTI LREM.. RPUSH EXEC),
   against the seed's own retry_dead_letter loop (LINDEX, RPUSH, LREM per item) on 10,000.
2. Open a 1,000,000-entry DLQ in the real app (Pilot) and page to its end: time to the first
   page, rows fetched, and the console's RSS, against the seed's get_dead_letters
   (LRANGE 0 -1) on the same list (rows fetched; its time is measured in the same run).

Run: python -m pytest -n 0 -m perf -s tests/perf/test_dlq_perf.py
Sizes: FERRITE_TUI_PERF_DLQ (default 100,000), FERRITE_TUI_PERF_DLQ_SEED (10,000),
FERRITE_TUI_PERF_DLQ_OPEN (1,000,000). Assertions are on counts and bounds, never seconds.
"""

from __future__ import annotations

import json
import os
import time

import pytest
import redis.asyncio as aioredis

from ferrite_tui.backend.dlq import DeadLetters, ScanState
from ferrite_tui.backend.movebase import PositionalPlan
from ferrite_tui.ui.panels.deadletters.panel import HEAD_CHUNK
from helpers import client_at, longest, slowlog_on, slowlog_read

pytestmark = pytest.mark.perf

N = int(os.environ.get("FERRITE_TUI_PERF_DLQ", 100_000))
N_SEED = int(os.environ.get("FERRITE_TUI_PERF_DLQ_SEED", 10_000))
N_OPEN = int(os.environ.get("FERRITE_TUI_PERF_DLQ_OPEN", 1_000_000))
DLQ, TARGET = "queue:bench:dlq", "queue:bench"
MAX_COMMAND_US = 10_000


def dead(i: int) -> bytes:
    return (b'{"job":{"id":"job-%08d","payload":{"to":"user%d@example.com","n":%d},'
            b'"retry_count":3,"last_error":"SMTP timeout after %dms","first_attempt":%d},'
            b'"dead_at":%d,"reason":"SMTP timeout after %dms"}'
            % (i, i, i, i % 60_000, 1_700_000_000_000 + i, 1_700_000_100_000 + i, i % 60_000))


async def fill(r, key: str, n: int, batch: int = 10_000) -> None:
    for start in range(0, n, batch):
        await r.rpush(key, *[dead(i) for i in range(start, min(n, start + batch))])


def p99(entries, exclude=("SLOWLOG", "CONFIG")) -> int:
    durations = sorted(us for name, us in entries if name not in exclude)
    return durations[int(len(durations) * 0.99)] if durations else 0


def longest_block(entries) -> int:
    """The commands a MULTI runs back to back (LREM/LTRIM then RPUSH) hold the server for
    their sum: the longest such run."""
    best = cur = 0
    for name, us in entries:
        if name in ("LREM", "LTRIM", "RPUSH", "LPUSH"):
            cur += us
            best = max(best, cur)
        else:
            cur = 0
    return best


def row(label: str, *cols: object) -> str:
    return f"  {label:<44}" + "".join(f"{c!s:>16}" for c in cols)


async def seed_retry_loop(r, n: int) -> int:
    """The seed's retry_dead_letter(0) n times: LINDEX, RPUSH (new envelope), LREM."""
    done = 0
    for _ in range(n):
        raw = await r.lindex(DLQ, 0)
        if raw is None:
            break
        dead_ = json.loads(raw)
        new = json.dumps({"id": dead_["job"]["id"], "payload": dead_["job"]["payload"],
                          "retry_count": 0, "last_error": None,
                          "first_attempt": int(time.time() * 1000)}, separators=(",", ":"))
        await r.rpush(TARGET, new)
        await r.lrem(DLQ, 1, raw)
        done += 1
    return done


async def test_requeue_all_dead_letters(fresh_server):
    r = aioredis.Redis.from_url(fresh_server.url)
    client = client_at(fresh_server.url)
    await client.connect()
    dl = DeadLetters(client)
    results = {}
    try:
        # -- the seed's loop on N_SEED ---------------------------------------------------
        await fill(r, DLQ, N_SEED)
        await slowlog_on(r)
        t = time.perf_counter()
        seed_done = await seed_retry_loop(r, N_SEED)
        seed_s = time.perf_counter() - t
        log = await slowlog_read(r)
        assert seed_done == N_SEED and await r.llen(TARGET) == N_SEED
        results["seed"] = (N_SEED, seed_s, 3 * N_SEED, longest(log), longest_block(log), p99(log))
        await r.delete(DLQ, TARGET)

        # -- ours, unfiltered (head chunks) ------------------------------------------------
        await fill(r, DLQ, N)
        tail = await r.lindex(DLQ, -1)
        await slowlog_on(r)
        rt = client.round_trips.count
        t = time.perf_counter()
        done = 0
        while True:
            res = await dl.requeue_head(DLQ, TARGET, HEAD_CHUNK, stop_at=tail)
            done += res.done
            if res.done == 0 or res.reached_stop:
                break
        head_s = time.perf_counter() - t
        head_rt = client.round_trips.count - rt
        log = await slowlog_read(r)
        assert done == N and await r.llen(TARGET) == N and await r.llen(DLQ) == 0
        results["head"] = (N, head_s, head_rt, longest(log), longest_block(log), p99(log))
        await r.delete(DLQ, TARGET)

        # -- ours, explicit values (a filter's matches, marks) ----------------------------
        await fill(r, DLQ, N)
        state = await dl.scan(DLQ, state=ScanState(DLQ))
        assert len(state.matches) == N
        await slowlog_on(r)
        rt = client.round_trips.count
        t = time.perf_counter()
        done = 0
        plan = PositionalPlan(state.matches, max_items=200)
        while chunk := plan.next_chunk():
            res = await dl.requeue(DLQ, TARGET, chunk)
            plan.handled(len(chunk))
            done += res.done
        explicit_s = time.perf_counter() - t
        explicit_rt = client.round_trips.count - rt
        log = await slowlog_read(r)
        assert done == N and await r.llen(TARGET) == N and await r.llen(DLQ) == 0
        results["explicit"] = (N, explicit_s, explicit_rt, longest(log), longest_block(log),
                               p99(log))
    finally:
        await client.aclose()
        await r.aclose()

    print()
    print(row("requeue dead letters", "jobs", "jobs/s", "round trips", "longest cmd",
              "p99 cmd", "longest MULTI"))
    labels = {"seed": "seed loop (LINDEX, RPUSH, LREM per job)",
              "head": "ours: R unfiltered (LRANGE/LTRIM chunks)",
              "explicit": "ours: R on marks/filter (LPOS/LREM)"}
    for key, (n, secs, rts, (us, name), block, p) in results.items():
        print(row(labels[key], f"{n:,}", f"{n / secs:,.0f}", f"{rts:,}", f"{us} µs {name}",
                  f"{p} µs", f"{block} µs"))
    for key in ("head", "explicit"):
        n, secs, rts, (us, _), block, _p = results[key]
        assert us <= MAX_COMMAND_US, f"{key}: a command ran {us} µs"
        assert block <= MAX_COMMAND_US, f"{key}: a MULTI block ran {block} µs"
        assert rts <= 3 * (n // 100 + 10), f"{key}: {rts} round trips for {n} jobs"
    assert results["seed"][2] >= 3 * N_SEED  # the baseline pays three round trips per job


CONSOLE_SCRIPT = r"""
import asyncio, json, resource, sys, tempfile, time
from pathlib import Path
from ferrite_tui.backend.client import ConnectionSettings
from ferrite_tui.config import Config
from ferrite_tui.ui.app import FerriteApp
from ferrite_tui.ui.panels.deadletters import DeadLettersPanel
sys.path.insert(0, sys.argv[3])
from helpers import async_wait_until

async def main(url, n):
    tmp = Path(tempfile.mkdtemp())
    app = FerriteApp(Config(), ConnectionSettings(url=url), refresh=1.0,
                     audit_path=tmp / "audit.log")
    out = {}
    async with app.run_test(size=(120, 36)) as pilot:
        t0 = time.perf_counter()
        await async_wait_until(lambda: app.monitor is not None and app.monitor.snapshot
                               is not None and app.monitor.snapshot.by_kind(
                                   *DeadLettersPanel.KINDS), timeout=60)
        await pilot.press("6")
        panel = app.panel("dlq")
        items = panel.items_table
        await async_wait_until(lambda: items.page is not None and items.row_count > 0,
                               timeout=60)
        out["first_page_s"] = time.perf_counter() - t0
        out["rows"] = items.row_count
        items.focus()
        rt = app.monitor.client.round_trips.count
        t1 = time.perf_counter()
        await pilot.press("end")
        await async_wait_until(lambda: items.page is not None and items.page.items
                               and items.page.items[-1].pos == n - 1, timeout=60)
        out["tail_s"] = time.perf_counter() - t1
        await pilot.press("pageup")
        await async_wait_until(lambda: items.page.items[-1].pos == n - 1 - items.window)
        out["round_trips"] = app.monitor.client.round_trips.count - rt
        out["length_shown"] = items.page.length
        app.workers.cancel_group(app, "poll")
        await pilot.pause()
    # VmHWM: this process's peak RSS (ru_maxrss would carry over the parent's across exec)
    hwm = [line for line in Path("/proc/self/status").read_text().splitlines()
           if line.startswith("VmHWM:")]
    out["rss_mb"] = (int(hwm[0].split()[1]) / 1024 if hwm else
                     resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(out))

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


async def test_open_a_million_entry_dlq_and_page_to_the_end(fresh_server, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    r = aioredis.Redis.from_url(fresh_server.url)
    t = time.perf_counter()
    await fill(r, DLQ, N_OPEN)
    fill_s = time.perf_counter() - t
    # the console runs in a process of its own, so its RSS is the console's alone
    tests_dir = str(Path(__file__).resolve().parents[1])
    proc = subprocess.run([sys.executable, "-c", CONSOLE_SCRIPT, fresh_server.url,
                           str(N_OPEN), tests_dir], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ours = json.loads(proc.stdout.strip().splitlines()[-1])

    # the seed's get_dead_letters: LRANGE 0 -1 (the whole list), same run
    t = time.perf_counter()
    everything = await r.lrange(DLQ, 0, -1)
    seed_s = time.perf_counter() - t
    seed_rows = len(everything)
    seed_mb = sum(len(v) for v in everything) // (1 << 20)
    del everything
    await r.aclose()

    print()
    print(f"  DLQ of {N_OPEN:,} entries (filled in {fill_s:.1f} s)")
    print(row("", "first page", "page to end", "rows per read", "console RSS"))
    print(row("ours: panel 6 (LRANGE windows)", f"{ours['first_page_s'] * 1000:.0f} ms",
              f"{ours['tail_s'] * 1000:.0f} ms", f"{ours['rows']:,}",
              f"{ours['rss_mb']:.0f} MB"))
    print(row("seed get_dead_letters (LRANGE 0 -1)", f"{seed_s * 1000:.0f} ms", "-",
              f"{seed_rows:,}", f"+{seed_mb} MB values"))
    assert seed_rows == N_OPEN and ours["length_shown"] == N_OPEN
    assert ours["rss_mb"] < 150, f"console RSS {ours['rss_mb']:.0f} MB"
    assert ours["rows"] <= 40
    assert ours["round_trips"] <= 20  # end + pageup: a few windows and polls, never the list
