"""The bulk journal: interrupted runs belong to one server and are ordered by time."""

from __future__ import annotations

import subprocess
import sys

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.backend.journal import BulkRecord, Journal


def gone_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_server_identity_ignores_credentials_and_names_the_database():
    a = ConnectionSettings(url="redis://:S3cr3t@cache.example:6380/2").server_identity
    b = ConnectionSettings(url="redis://ops:other@cache.example:6380/2").server_identity
    assert a == b == "redis://cache.example:6380/2"
    assert ConnectionSettings(url="redis://cache.example").server_identity \
        == "redis://cache.example:6379/0"
    assert "S3cr3t" not in a


def test_a_run_recorded_on_one_server_is_not_offered_on_another(tmp_path):
    pid = gone_pid()
    on_a = Journal(tmp_path, server="redis://a:6379/0")
    on_b = Journal(tmp_path, server="redis://b:6379/0")
    on_a.save(BulkRecord("requeue dead letters", "queue:x:dlq", "queue:x", 30_000, done=5,
                         pid=pid))
    assert [r.total for r in on_a.interrupted("queue:x:dlq")] == [30_000]
    assert on_b.interrupted("queue:x:dlq") == []
    on_b.dismiss("queue:x:dlq")  # dismissing on b leaves a's run alone
    assert len(on_a.interrupted("queue:x:dlq")) == 1


def test_interrupted_runs_are_ordered_by_time_not_by_id(tmp_path):
    pid = gone_pid()
    journal = Journal(tmp_path, server="redis://a:6379/0")
    for n, (run_id, started) in enumerate([("ffff", 100.0), ("0000", 300.0), ("8888", 200.0)]):
        rec = BulkRecord("requeue dead letters", "k", "t", 10 + n, pid=pid, run_id=run_id,
                         started=started)
        journal.save(rec)
    runs = journal.interrupted("k")
    assert [r.run_id for r in runs] == ["ffff", "8888", "0000"]  # the latest last
