import json

from hypothesis import given
from hypothesis import strategies as st

from ferrite_tui.backend.envelopes import (
    decode,
    dumps,
    is_job_envelope,
    key_text,
    printable,
    requeued_job,
)


def test_decode_each_seed_envelope():
    job = decode(dumps({"id": "a", "payload": {"x": 1}, "enqueued_at": 1000}))
    assert (job.kind, job.id, job.time_ms, job.payload) == ("job", "a", 1000, {"x": 1})
    retry = decode(dumps({"id": "b", "payload": 2, "retry_count": 1, "last_error": "e",
                          "first_attempt": 5}))
    assert (retry.kind, retry.retry_count, retry.last_error, retry.time_ms) == ("retry", 1, "e", 5)
    sched = decode(dumps({"id": "c", "payload": None, "scheduled_at": 7}))
    assert (sched.kind, sched.time_ms) == ("scheduled", 7)
    dead = decode(dumps({"job": {"id": "d", "payload": [1], "retry_count": 3, "last_error": "boom",
                                 "first_attempt": 9}, "dead_at": 11, "reason": "boom"}))
    assert (dead.kind, dead.id, dead.reason, dead.dead_at, dead.retry_count) == (
        "dead", "d", "boom", 11, 3)


def test_non_envelopes_are_kept_as_they_are():
    assert decode(b'{"to": "x"}').kind == "json"
    assert decode(b"[1, 2]").kind == "json"
    assert decode(b"plain text").kind == "text"
    binary = decode(b"\xff\xfe\x00\x01")
    assert binary.kind == "binary" and binary.raw == b"\xff\xfe\x00\x01"
    assert "binary 4 B" in binary.preview()


def test_requeued_job_follows_the_seed():
    dead = decode(dumps({"job": {"id": "d", "payload": {"k": "v"}, "retry_count": 3,
                                 "last_error": "boom", "first_attempt": 9},
                         "dead_at": 11, "reason": "boom"}))
    raw = requeued_job(dead, 12345)
    assert raw is not None
    new = json.loads(raw)
    assert new == {"id": "d", "payload": {"k": "v"}, "retry_count": 0, "last_error": None,
                   "first_attempt": 12345}
    assert requeued_job(decode(b"text"), 1) is None


def test_job_envelope_detection_for_priority_discovery():
    assert is_job_envelope(dumps({"id": 1, "payload": {}, "enqueued_at": 1}))
    assert not is_job_envelope(b"alice")
    assert not is_job_envelope(b'{"score": 1}')


def test_printable_shows_escapes_and_markup_literally():
    hostile = "\x1b[31mred\x1b[0m [bold]x[/bold]\n\x07"
    out = printable(hostile)
    assert "\x1b" not in out and "\x07" not in out and "\n" not in out
    assert "\\x1b[31mred" in out and "[bold]x[/bold]" in out
    assert printable(b"\xff") == "\\xff"


@given(st.binary(max_size=64))
def test_any_key_bytes_round_trip_and_print_safely(raw):
    text = key_text(raw)
    assert text.encode("utf-8", "surrogateescape") == raw
    shown = printable(text)
    assert not any(ord(c) < 32 or 0x7f <= ord(c) <= 0x9f for c in shown)


@given(st.text(max_size=200), st.integers(min_value=1, max_value=50))
def test_printable_limit_is_respected(text, limit):
    assert len(printable(text, limit)) <= limit
