"""Pickled library bodies: never loaded by default; opted in, a restricted unpickler builds
only builtin values and containers and refuses anything else (no code of the pickle's
choosing runs). And the [libraries] settings."""

from __future__ import annotations

import pickle

import pytest

from ferrite_tui.backend.libraries.items import fields_of, pickle_fields, restricted_loads
from ferrite_tui.config import ConfigError, load


class Trap:
    """Unpickling this would create a file: proof that no reducer ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_plain_values_decode_when_opted_in():
    job = {"t": 2, "f": "send_mail", "a": ("ann@example.com", [1, 2]), "k": {"urgent": True},
           "et": 1700000000000}
    raw = pickle.dumps(job)
    assert restricted_loads(raw) == job
    fields = dict(pickle_fields(raw, unpickle=True))
    assert (fields["function"], fields["attempts"]) == ("send_mail", "2")
    assert fields["args"] == "('ann@example.com', [1, 2])"
    # Not opted in: the opcode summary only (and arq's function name read from it), never
    # the value.
    function, summary = pickle_fields(raw, unpickle=False)
    assert function == ("function", "send_mail")
    assert summary[0] == "body" and summary[1].startswith("pickle, ")


def test_anything_but_plain_values_is_refused_and_nothing_runs(tmp_path):
    target = tmp_path / "created-by-unpickling"
    raw = pickle.dumps({"job": Trap(str(target))})
    with pytest.raises(pickle.UnpicklingError, match=r"io\.open is not a plain value"):
        restricted_loads(raw)
    fields = dict(fields_of("pickle", raw, unpickle=True))
    assert fields["body"].startswith("pickle, ")
    assert fields["decoded"].startswith("not decoded: io.open is not a plain value")
    assert not target.exists()


def test_rq_job_data_decodes_its_function_and_arguments(redis_url):
    """RQ's own job hash: `data` is zlib(pickle((function name, instance, args, kwargs)))."""
    import redis
    from rq import Queue

    import libjobs

    conn = redis.Redis.from_url(redis_url)
    job = Queue("default", connection=conn).enqueue(libjobs.add, 2, y=3)
    body = conn.hgetall(f"rq:job:{job.id}")
    conn.close()
    fields = dict(fields_of("rq", body, unpickle=True))
    assert (fields["function"], fields["args"], fields["kwargs"]) == (
        "libjobs.add", "(2,)", "{'y': 3}")
    assert dict(fields_of("rq", body))["data"].startswith("pickle, ")


def test_libraries_settings(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[libraries]\ncelery_visibility_timeout = 120\nunpickle = true\n")
    cfg = load(path)
    assert (cfg.libraries.celery_visibility_timeout, cfg.libraries.unpickle) == (120.0, True)
    from ferrite_tui.config import Config

    assert Config().libraries.unpickle is False  # never unpickled by default
    path.write_text("[libraries]\nunpickle = \"yes\"\n")
    with pytest.raises(ConfigError, match=r"config.toml:2: 'libraries.unpickle' must be true "
                                          "or false"):
        load(path)
    path.write_text("[libraries]\ncelery_visibility_timeout = 0\n")
    with pytest.raises(ConfigError,
                       match=r"'libraries\.celery_visibility_timeout' must be a number from"):
        load(path)
