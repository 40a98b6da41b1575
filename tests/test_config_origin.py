"""Where each setting of a run came from: the config file's line, a command-line flag, an
environment variable or the default, as `status --json` reports it; and a connection's
settings built from the profile (one list of fields, in config.ServerConnection)."""

import json
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.cli.command import build_parser
from ferrite_tui.commandline import resolve_settings, where_from, with_command_line
from ferrite_tui.config import Profile, ServerConnection, load

CONFIG = """\
default_profile = "local"
refresh = 2.0

[profiles.local]
url = "redis://127.0.0.1:6399/0"
command_timeout = 3.0

[profiles.b]
url = "redis://127.0.0.1:6398/0"
read_only = true
password_env = "FTUI_TEST_PW"
match = ["jobs:*"]
"""


def origins(path: Path, *argv: str) -> dict[str, Any]:
    """What the console would report for these arguments (nothing connects)."""
    args = build_parser(None).parse_args(["--config", str(path), *argv])
    cfg = with_command_line(load(path), args)
    settings = resolve_settings(cfg, args.url, args.profile, args.read_only)
    assert settings is not None
    return where_from(cfg, settings, tuple(args.match) if args.match else None)


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("REDISCLI_AUTH", raising=False)
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    return path


def test_each_setting_names_its_file_line_flag_or_environment(config_file, monkeypatch):
    found = origins(config_file)
    assert found["config_file"] == {"value": str(config_file),
                                    "from": "command line: --config"}
    assert found["profile"] == {"value": "local", "from": f"{config_file}:1"}
    assert found["url"] == {"value": "redis://127.0.0.1:6399/0", "from": f"{config_file}:5"}
    assert found["command_timeout"] == {"value": 3.0, "from": f"{config_file}:6"}
    assert found["connect_timeout"] == {"value": 5.0, "from": "default"}
    assert found["refresh"] == {"value": 2.0, "from": f"{config_file}:2"}
    assert found["match"] == {"value": ["*"], "from": "default"}
    assert found["password"] == {"value": None, "from": "none given"}

    # Flags win over the file, and say so.
    found = origins(config_file, "redis://127.0.0.1:7000/1", "--read-only", "--refresh", "0.5",
                    "--match", "q:*", "--notifications")
    assert found["url"] == {"value": "redis://127.0.0.1:7000/1",
                            "from": "command line: the URL argument"}
    assert found["read_only"] == {"value": True, "from": "command line: --read-only"}
    assert found["refresh"] == {"value": 0.5, "from": "command line: --refresh"}
    assert found["match"] == {"value": ["q:*"], "from": "command line: --match"}
    assert found["exact_from_notifications"] == {"value": True,
                                                 "from": "command line: --notifications"}

    # Another profile by flag: its own lines, and its password from its environment variable
    # (never the password itself).
    monkeypatch.setenv("FTUI_TEST_PW", "s3cret")
    found = origins(config_file, "--profile", "b")
    assert found["profile"] == {"value": "b", "from": "command line: --profile"}
    assert found["url"]["from"] == f"{config_file}:9"
    assert found["read_only"] == {"value": True, "from": f"{config_file}:10"}
    assert found["match"] == {"value": ["jobs:*"], "from": f"{config_file}:12"}
    assert found["password"] == {
        "value": "set", "from": "environment: FTUI_TEST_PW (password_env of profile b)"}
    assert "s3cret" not in json.dumps(found)
    monkeypatch.setenv("REDISCLI_AUTH", "other")
    assert origins(config_file, "--profile", "b")["password"]["from"] \
        == "environment: REDISCLI_AUTH"
    assert origins(config_file, "redis://:inline@127.0.0.1:7000/0")["password"]["from"] \
        == "the URL"


def test_connection_settings_take_the_profile_connection_fields(config_file):
    """One list of connection fields: a profile's connection part is what the backend
    gets, field for field, whatever is added to it later."""
    profile = load(config_file).profile("b")
    assert profile is not None and isinstance(profile, ServerConnection)
    settings = ConnectionSettings.from_profile(Profile(**{
        **{f.name: getattr(profile, f.name) for f in fields(Profile)},
        "password_env": None, "tls_verify": False, "seeds": ("h:1",), "cluster": True}))
    for f in fields(ServerConnection):
        assert getattr(settings, f.name) == getattr(profile, f.name) \
            or f.name in ("tls_verify", "seeds", "cluster"), f.name
    assert (settings.tls_verify, settings.seeds, settings.cluster) == (False, ("h:1",), True)
    assert settings.profile == "b" and settings.password is None


def test_status_json_reports_origins_and_a_refused_password_names_its_source(
        server_factory, tmp_path, monkeypatch):
    server = server_factory(password="right")
    path = tmp_path / "config.toml"
    path.write_text(f'[profiles.p]\nurl = "redis://127.0.0.1:{server.port}/0"\n'
                    'password_env = "FTUI_TEST_PW"\n')
    env = {**_env(), "FTUI_TEST_PW": "right"}
    out = subprocess.run([sys.executable, "-m", "ferrite_tui", "--config", str(path), "status",
                          "--profile", "p", "--json"], capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    config = json.loads(out.stdout)["config"]
    assert config["url"]["from"] == f"{path}:2"
    assert config["password"]["from"] == "environment: FTUI_TEST_PW (password_env of profile p)"
    assert config["read_only"] == {"value": True, "from": "status (it never changes anything)"}

    env["REDISCLI_AUTH"] = "wrong"  # read before the profile's own variable
    out = subprocess.run([sys.executable, "-m", "ferrite_tui", "--config", str(path), "status",
                          "--profile", "p"], capture_output=True, text=True, timeout=60,
                         env=env)
    assert out.returncode == 2
    assert out.stderr.strip().endswith(
        "wrong user name or password (the password from environment: REDISCLI_AUTH)"), out.stderr


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "REDISCLI_AUTH"}
