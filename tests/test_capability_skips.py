"""A test that skips for a missing capability proves the server lacks it first: a broken
probe then fails the test instead of skipping it."""

import pytest

import helpers
from helpers import skip_as_the_server_lacks


def test_a_capability_the_server_has_fails_instead_of_skipping(redis_url):
    # LPOS exists on every server the suite runs against (Redis 6.2, 7.0, the stand-in).
    with pytest.raises(pytest.fail.Exception, match="the probe is wrong"):
        skip_as_the_server_lacks(redis_url, "lpos", "no LPOS")


def test_a_missing_command_skips_with_the_server_s_answer(redis_url, monkeypatch):
    monkeypatch.setitem(helpers.CAPABILITY_COMMANDS, "nosuch", ("NOSUCHCOMMAND",))
    with pytest.raises(pytest.skip.Exception, match="unknown command"):
        skip_as_the_server_lacks(redis_url, "nosuch", "no such command")
