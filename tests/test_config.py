import re
import tomllib

import pytest

from ferrite_tui.config import (
    ConfigError,
    Profile,
    init_config,
    load,
    save_profile,
    save_setting,
)

EXAMPLE = __import__("pathlib").Path(__file__).parent.parent / "config.example.toml"


def text_of_queue_examples(text: str) -> str:
    """The example's [[queues]] blocks as the operator would uncomment them."""
    start = text.index("# [[queues]]")
    end = text.index("# Remap keys")
    setting = re.compile(r"# (\[\[queues\]\]|\w+ = |# )")
    return "\n".join(line[2:] if setting.match(line) else line
                     for line in text[start:end].splitlines()) + "\n"


def test_example_config_documents_and_parses(tmp_path):
    cfg = load(EXAMPLE)
    assert cfg.default_profile == "local"
    assert cfg.profiles["prod"].read_only is True
    assert cfg.profiles["prod"].password_env == "PROD_REDIS_PASSWORD"
    # The [[queues]] examples are commented out: a copy must not add queues to every server.
    assert cfg.queues == ()
    examples = tmp_path / "queues.toml"
    block = text_of_queue_examples(EXAMPLE.read_text())
    examples.write_text(block)
    declared = load(examples).queues
    assert {q.kind for q in declared} == {"reliable", "dlq", "ignore", "work"}
    assert next(q for q in declared if q.kind == "work").profile == "prod"
    assert cfg.discovery.match == ("*",)
    # Every setting the loader knows appears in the example.
    text = EXAMPLE.read_text()
    from dataclasses import fields

    from ferrite_tui.config import AlertConfig, DiscoveryConfig, LibrariesConfig
    from ferrite_tui.config import Config as TopLevel

    top = [f for f in fields(TopLevel) if f.name not in ("path", "profiles", "discovery",
                                                          "alerts", "libraries", "queues",
                                                          "keys", "origins")]
    for f in top:
        assert f"\n{f.name} = " in text, f"{f.name} not documented"
    for cls in (DiscoveryConfig, AlertConfig, LibrariesConfig, Profile):
        for f in fields(cls):
            if f.name != "name":
                assert f.name in text, f"{cls.__name__}.{f.name} not documented"


@pytest.mark.parametrize("body,fragment", [
    ('refresh = "fast"\n', ":1: 'refresh' must be a number"),
    ("[alerts]\ndepth = 10\nbogus = 1\n", ":3: unknown setting 'bogus' in [alerts]"),
    ("[profiles.a]\nurl = 5\n", ":2: 'profiles.a.url' must be a string"),
    ("refresh = 1.0\n[discovery\n", "line 2"),
    ('[[queues]]\nkey = "x"\nkind = "weird"\n', ":3: [[queues]] kind 'weird'"),
])
def test_malformed_config_is_one_line_with_file_and_line(tmp_path, body, fragment):
    path = tmp_path / "config.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as info:
        load(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert fragment in message


@pytest.mark.parametrize("body,fragment", [
    # NaN and infinities pass a `< 0` check, and `refresh = nan` stopped every poll under
    # a "● live" header.
    ("refresh = nan\n", ":1: 'refresh' must be a number from 0.1 to 3,600 seconds, not nan"),
    ("refresh = 1.0\nhistory_minutes = inf\n",
     ":2: 'history_minutes' must be a number from 0.1 to 1,440 minutes, not inf"),
    ("refresh = -inf\n", ":1: 'refresh' must be a number from 0.1"),
    ("pubsub_buffer = 0\n", ":1: 'pubsub_buffer' must be a number from 1 to 10,000,000"),
    ("[discovery]\nscan_count = 0\n", ":2: 'discovery.scan_count' must be a number from 1 "),
    ("[discovery]\nrescan_seconds = nan\n", ":2: 'discovery.rescan_seconds' must be"),
    ("[profiles.a]\nurl = \"redis://x\"\n[profiles.b]\ncommand_timeout = inf\n",
     ":4: 'profiles.b.command_timeout' must be a number from 0.1 to 600 seconds, not inf"),
    ("[alerts]\ndepth = 10\noverdue_seconds = nan\n", ":3: 'alerts.overdue_seconds' must be"),
    ("[libraries]\ncelery_visibility_timeout = 0\n",
     ":2: 'libraries.celery_visibility_timeout' must be a number from 0.001"),
    ('[[queues]]\nkey = "a"\nkind = "work"\n[[queues]]\nkey = "b"\nkind = "reliable"\n'
     "visibility_timeout = nan\n", ":7: 'queues[2].visibility_timeout' must be a number"),
])
def test_numbers_must_be_finite_and_in_range(tmp_path, body, fragment):
    path = tmp_path / "config.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as info:
        load(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert fragment in message


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0"])
def test_refresh_flag_must_be_finite_and_in_range(value):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "ferrite_tui", "--refresh", value,
                          "redis://127.0.0.1:1/0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "argument --refresh: must be a number from 0.1 to 3,600 seconds" in out.stderr


def test_saved_settings_go_beside_and_merge_over(tmp_path):
    path = tmp_path / "config.toml"
    user_text = 'refresh = 2.0\ntheme = "nord"\n'
    path.write_text(user_text)
    cfg = load(path)
    cfg = save_setting(cfg, theme="gruvbox")
    assert path.read_text() == user_text  # the hand-edited file is never rewritten
    again = load(path)
    assert again.theme == "gruvbox" and again.refresh == 2.0


def test_saved_profile_holds_no_secret(tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    path.write_text("# empty\n")
    cfg = load(path)
    profile = Profile(name="staging", url="redis://ops:s3cret@db:6379/1", password_env="PW")
    cfg = save_profile(cfg, profile, make_default=True)
    saved = (tmp_path / "saved.toml").read_text()
    assert "s3cret" not in saved
    data = tomllib.loads(saved)
    assert data["profiles"]["staging"]["url"] == "redis://ops@db:6379/1"
    assert data["default_profile"] == "staging"
    loaded = load(path)
    saved = loaded.profile(None)
    assert saved is not None and saved.password_env == "PW"


def test_init_writes_a_starter_and_never_overwrites(tmp_path):
    path = tmp_path / "sub" / "config.toml"
    init_config(path)
    assert load(path).default_profile == "local"
    with pytest.raises(ConfigError):
        init_config(path)


def test_missing_explicit_config_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load(tmp_path / "nope.toml")



def test_recover_to_is_head_or_tail(tmp_path):
    from ferrite_tui.config import ConfigError, load

    path = tmp_path / "config.toml"
    path.write_text('[[queues]]\nkey = "q"\nkind = "reliable"\nrecover_to = "tail"\n')
    assert load(path).queues[0].recover_to == "tail"
    path.write_text('[[queues]]\nkey = "q"\nkind = "reliable"\nrecover_to = "middle"\n')
    with pytest.raises(ConfigError, match="recover_to 'middle' must be"):
        load(path)


def test_every_number_in_the_config_has_a_range():
    """A new numeric setting without a range would accept NaN and infinities again."""
    from dataclasses import fields

    from ferrite_tui.config import (
        RANGES,
        AlertConfig,
        Config,
        DiscoveryConfig,
        LibrariesConfig,
        QueueDecl,
    )

    tables = {"": Config, "profiles": Profile, "discovery": DiscoveryConfig,
              "alerts": AlertConfig, "libraries": LibrariesConfig, "queues": QueueDecl}
    missing = [f"{table}.{f.name}" for table, cls in tables.items() for f in fields(cls)
               if str(f.type).split(" ")[0] in ("int", "float") and (table, f.name) not in RANGES]
    assert missing == []


TWO_PROFILES = """\
refresh = 2.0

[profiles.a]
url = "redis://a:6379"
read_only = true

[profiles.b]
url = "redis://b:6379"
read_only = "yes"
"""


@pytest.mark.parametrize("body, line", [
    # A bad value in the second profile is reported at its own line, not at the first
    # profile's line of the same key.
    (TWO_PROFILES, 9),
    ('[profiles.a]\nurl = "redis://a"\n[profiles.b]\nurl = "redis://b"\nbogus = 1\n', 5),
    ('[[queues]]\nkey = "a"\nkind = "work"\n[[queues]]\nkey = "b"\nkind = "nope"\n', 6),
    ('[[queues]]\nkey = "a"\nkind = "work"\norder = "head"\n'
     '[[queues]]\nkey = "b"\nkind = "work"\norder = "middle"\n', 8),
])
def test_a_bad_value_is_reported_at_its_own_line(tmp_path, body, line):
    path = tmp_path / "config.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as failure:
        load(path)
    assert str(failure.value).startswith(f"{path}:{line}: "), failure.value


def test_every_value_knows_where_it_came_from(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(TWO_PROFILES.replace('"yes"', "false")
                    + '\n[[queues]]\nkey = "a"\nkind = "work"\n')
    cfg = load(path)
    assert cfg.origin("refresh") == f"{path}:1"
    assert cfg.origin("profiles.b.read_only") == f"{path}:9"
    assert cfg.origin("profiles.a.read_only") == f"{path}:5"
    assert cfg.origin("queues[1].kind") == f"{path}:13"
    assert cfg.origin("theme") == "default"
    # saved.toml (beside it) is read after, and wins: the origin says so.
    cfg = save_setting(cfg, refresh=3.0)
    again = load(path)
    assert re.fullmatch(rf"{re.escape(str(tmp_path / 'saved.toml'))}:\d+",
                        again.origin("refresh"))
    # A command-line override names itself.
    flagged = again.overridden("command line: --notifications", exact_from_notifications=True)
    assert flagged.exact_from_notifications
    assert flagged.origin("exact_from_notifications") == "command line: --notifications"


def test_a_saved_setting_is_noted_at_its_line_in_the_config_returned(tmp_path):
    """save_setting / save_profile return the config in effect: its origins say where
    each value now comes from (saved.toml's line, as the next load would say), and the
    values saved before keep theirs when the file is rewritten."""
    from ferrite_tui.config import Config, Profile, save_profile

    path = tmp_path / "config.toml"
    path.write_text('refresh = 2.0\ntheme = "nord"\n')
    cfg = load(path)
    assert cfg.origin("theme") == f"{path}:2"
    cfg = save_setting(cfg, theme="gruvbox")
    cfg = save_setting(cfg, refresh=3.0)
    cfg = save_profile(cfg, Profile(name="lab", url="redis://:pw@127.0.0.1:6390/0",
                                    read_only=True), make_default=True)
    again = load(path)
    for setting in ("theme", "refresh", "default_profile", "profiles.lab.url",
                    "profiles.lab.read_only"):
        assert cfg.origin(setting).startswith(f"{tmp_path / 'saved.toml'}:"), setting
        assert cfg.origin(setting) == again.origin(setting), setting
    # With no file to save to, the value is in effect and says it was not saved.
    unsaved = save_setting(Config(), refresh=4.0)
    assert unsaved.refresh == 4.0 and unsaved.origin("refresh").startswith("the console")
