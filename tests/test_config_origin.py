"""Where each setting of a run came from: the config file's line, a command-line flag, an
environment variable or the default, as `status --json` reports it; and a connection's
settings built from the profile (one list of fields, in config.ServerConnection)."""

import json
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any, cast

import pytest

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.cli.command import build_parser
from ferrite_tui.commandline import resolve_settings, with_command_line
from ferrite_tui.config import Profile, ServerConnection, load
from ferrite_tui.presentation import where_from

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


def test_origin_lines_name_each_chosen_setting_once_and_never_a_credential(config_file,
                                                                           monkeypatch):
    """The console's form of the origins: a line per setting something chose (the
    defaults left out), with the URL's password masked in both its forms."""
    from ferrite_tui.presentation import origin_lines

    monkeypatch.setenv("FTUI_TEST_PW", "s3cret")
    args = build_parser(None).parse_args(
        ["--config", str(config_file), "--refresh", "0.5",
         "redis://u:inline@127.0.0.1:7000/1?password=query&db=1"])
    cfg = with_command_line(load(config_file), args)
    settings = resolve_settings(cfg, args.url, args.profile, args.read_only)
    assert settings is not None
    lines = dict(origin_lines(cfg, settings))
    assert lines["url"] == ("redis://u:***@127.0.0.1:7000/1?password=***&db=1 "
                            "← command line: the URL argument")
    assert lines["refresh"] == "0.5 ← command line: --refresh"
    assert lines["profile"] == f"local ← {config_file}:1"
    assert lines["password"] == "set ← the URL"
    assert "connect_timeout" not in lines and "match" not in lines  # defaults: no line
    assert "inline" not in str(lines) and "query" not in str(lines)


async def test_the_server_panel_says_which_server_and_profile_and_why(server_factory,
                                                                      tmp_path):
    """Panel 8 lists, one line each, the settings something chose and where: the file's
    line, the flag; the password never."""
    from textual.widgets import Static

    from ferrite_tui.ui.app import FerriteApp
    from ferrite_tui.ui.panels.server import ServerPanel
    from helpers import async_wait_until, running

    server = server_factory(password="right")
    path = tmp_path / "config.toml"
    path.write_text(f'default_profile = "here"\n\n[profiles.here]\n'
                    f'url = "redis://:right@127.0.0.1:{server.port}/0"\nread_only = true\n')
    args = build_parser(None).parse_args(["--config", str(path), "--refresh", "0.5"])
    cfg = with_command_line(load(path), args)
    settings = resolve_settings(cfg, args.url, args.profile, args.read_only)
    app = FerriteApp(cfg, settings, refresh=args.refresh, audit_path=tmp_path / "audit.log")
    async with running(app, size=(140, 40)) as pilot:
        await async_wait_until(lambda: app.monitor is not None and app.monitor.snapshot)
        await pilot.press("8")
        panel = cast(ServerPanel, app.panel("server"))
        await async_wait_until(lambda: panel._info_shown and any(
            name == "refresh" for name, _ in panel._info_shown), message="no origins shown")
        shown = dict(panel._info_shown or ())
        assert shown["profile"] == f"here ← {path}:1"
        assert shown["url"] == f"redis://:***@127.0.0.1:{server.port}/0 ← {path}:4"
        assert shown["read_only"] == f"True ← {path}:5"
        assert shown["refresh"] == "0.5 ← command line: --refresh"
        assert shown["password"] == "set ← the URL"
        assert "command_timeout" not in shown
        drawn = str(panel.query_one("#info", Static).render())
        assert "right@" not in drawn and "right" not in str(panel._info_shown)


def test_serves_consoles_name_serves_flags_not_the_command_line_serve_wrote(
        config_file, monkeypatch):
    """A console started by serve gets a command line serve wrote (URL, --profile,
    --read-only): its origins are serve's flags and the profile's lines, passed to it."""
    from ferrite_tui.commandline import serve_origins, with_serve_origins
    from ferrite_tui.servesetup import build_parser as serve_parser
    from ferrite_tui.servesetup import console_command, console_environ

    monkeypatch.setenv("FTUI_TEST_PW", "s3cret")
    served = serve_parser().parse_args(["--config", str(config_file), "--profile", "b"])
    serve_cfg = with_command_line(load(config_file), served, "serve")
    serve_settings = resolve_settings(serve_cfg, served.url, served.profile)
    assert serve_settings is not None
    environ = console_environ(serve_settings,
                              serve_origins(serve_cfg, serve_settings, allow_writes=False))
    argv = console_command(serve_settings, served, allow_writes=False)
    args = build_parser(None).parse_args(argv[3:])  # after python -m ferrite_tui
    cfg = with_serve_origins(with_command_line(load(config_file), args),
                             {k: v for k, v in environ.items() if v is not None})
    settings = resolve_settings(cfg, args.url, args.profile, args.read_only)
    assert settings is not None
    found = where_from(cfg, settings)
    assert found["profile"]["from"] == "command line: serve --profile"
    assert found["config_file"]["from"] == "command line: serve --config"
    assert found["url"]["from"] == f"{config_file}:9"  # profile b's line, not serve's argv
    assert found["read_only"] == {"value": True, "from": f"{config_file}:10"}
    assert "s3cret" not in str(environ.get("FERRITE_TUI_ORIGINS"))
    # A console of serve --allow-writes on a writable profile names that flag.
    local = resolve_settings(serve_cfg, None, "local")
    assert local is not None
    cfg = with_serve_origins(cfg, {"FERRITE_TUI_ORIGINS": serve_origins(serve_cfg, local, True)})
    assert cfg.origin("read_only") == "command line: serve --allow-writes"
    # Not serve's (unreadable): the console's own flags stand.
    assert with_serve_origins(cfg, {"FERRITE_TUI_ORIGINS": "{"}) is cfg


def test_the_exporter_notes_its_flags_and_prints_where_its_settings_came_from(
        redis_url, tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(f'[profiles.here]\nurl = "{redis_url}"\n')
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferrite_tui", "exporter", "--profile", "here", "--config",
         str(path), "--listen", "127.0.0.1:0", "--refresh", "0.3", "--notifications"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(7)]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = "".join(lines)
    assert "serving http://127.0.0.1:" in lines[0], text
    assert "  refresh: 0.3 ← command line: exporter --refresh\n" in lines, text
    assert "  exact_from_notifications: True ← command line: exporter --notifications\n" \
        in lines, text
    assert "  read_only: True ← exporter (it only reads)\n" in lines, text
    assert f"  url: {redis_url} ← {path}:2\n" in lines, text
