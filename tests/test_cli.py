"""The command line as scripts use it: status, exit codes, one-line errors, config init."""

import json
import subprocess
import sys

import redis

from ferrite_tui.demo.seeding import seed


def run(*args, env=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "ferrite_tui", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


async def test_status_json_lists_every_queue(redis_url):
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    await seed(client)
    await client.aclose()
    out = run("status", redis_url, "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    kinds = {q["kind"] for q in data["queues"]}
    assert kinds == {"work", "reliable", "priority", "delayed", "dlq", "stream"}
    by_key = {q["key"]: q for q in data["queues"]}
    r = redis.Redis.from_url(redis_url)
    try:
        dlq = by_key["queue:main:dlq"]
        assert dlq["keys"]["target"] == "queue:main"
        assert dlq["depth"] == r.llen("queue:main:dlq")
        orders = by_key["queue:orders"]
        assert orders["processing"] == r.llen("queue:orders:processing")
        sched = by_key["queue:reports:scheduled"]
        assert sched["depth"] == r.zcard("queue:reports:scheduled")
        assert sched["overdue"] >= 1
        stream = by_key["events:main"]
        assert {g["name"] for g in stream["groups"]} == {"workers", "analytics"}
    finally:
        r.close()
    assert data["server"]["version"]
    assert data["round_trips"] <= 3
    # Cluster fields: null on one server.
    assert data["cluster"] is None
    assert all(q["node"] is None for q in data["queues"])


def test_status_table(redis_url):
    r = redis.Redis.from_url(redis_url)
    r.rpush("queue:main:dlq", "x")
    r.close()
    out = run("status", redis_url)
    assert out.returncode == 0, out.stderr
    assert "queue:main:dlq" in out.stdout and "dead letters" in out.stdout


def test_status_escapes_hostile_names_in_every_column_and_format(redis_url):
    """A dead-letter list's name carries a newline, OSC 52, U+202E and a byte that is not
    UTF-8; its target (DETAIL, derived from the name) too. The table keeps one line per
    queue, and neither format writes anything raw."""
    name = b"q:\x1b]52;c;UFdORUQ=\x07\nx\xe2\x80\xae\xff:dlq"
    r = redis.Redis.from_url(redis_url)
    r.rpush(name, "x")
    r.rpush("queue:plain", "y")
    r.close()
    table = subprocess.run([sys.executable, "-m", "ferrite_tui", "status", redis_url],
                           capture_output=True, timeout=60)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.decode("utf-8").splitlines()  # strict: valid UTF-8
    rows = lines[next(i for i, line in enumerate(lines) if line.startswith("KIND")) + 1:]
    assert len(rows) == 2, lines
    (dlq,) = [row for row in rows if row.startswith("dead letters")]
    assert "q:\\x1b]52;c;UFdORUQ=\\x07\\nx\\u202e\\xff:dlq" in dlq
    assert "→ q:\\x1b]52;c;UFdORUQ=\\x07\\nx\\u202e\\xff" in dlq
    as_json = subprocess.run([sys.executable, "-m", "ferrite_tui", "status", redis_url,
                              "--json"], capture_output=True, timeout=60)
    assert as_json.returncode == 0, as_json.stderr
    for out in (table.stdout, as_json.stdout):
        out.decode("utf-8")  # strict: the 0xff byte is not written raw
        assert [raw for raw in (b"\x1b", b"\x07", "\u202e".encode()) if raw in out] == []
    keys = {q["key"] for q in json.loads(as_json.stdout.decode("utf-8"))["queues"]}
    assert name.decode("utf-8", "surrogateescape") in keys  # the exact name, recoverable


def test_status_unreachable_is_exit_2_and_one_line(server_factory):
    server = server_factory()
    url = server.url
    server.stop()
    out = run("status", url)
    assert out.returncode == 2
    assert out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1
    assert "connection refused" in out.stderr


def test_a_url_that_can_never_work_is_exit_2_with_one_line_in_console_and_status():
    """The console retried 'http://x:1/0' and 'localhost:7301' forever while `status`
    exited: both now stop before connecting, with the same line and the likely fix."""
    for url, line in (
        ("http://x:1/0", "unsupported URL scheme 'http': use redis://, rediss:// or unix://"),
        ("localhost:7301", "'localhost:7301' is not a URL: did you mean redis://localhost:7301?"
                           " (redis://, rediss:// or unix://)"),
        ("app:s3cret@db:6379", "'db:6379' is not a URL: did you mean redis://db:6379?"
                               " (redis://, rediss:// or unix://)"),
    ):
        for args in ((url,), ("status", url)):
            out = run(*args, timeout=30)
            assert (out.returncode, out.stdout, out.stderr) == (2, "", f"ferrite-tui: {line}\n")


def test_status_wrong_password_is_exit_2(server_factory):
    server = server_factory(password="secret")
    out = run("status", server.url.replace("secret", "nope"))
    assert out.returncode == 2
    assert "authentication failed" in out.stderr and "nope" not in out.stderr
    warning, error = out.stderr.strip().splitlines()  # the password-in-argv warning first
    assert "may not be safe" in warning and "authentication failed" in error
    out = run("status", f"redis://127.0.0.1:{server.port}/0")
    assert out.returncode == 2 and "authentication required" in out.stderr


def test_tls_failure_is_one_line(redis_url):
    # A plain server spoken to with TLS fails the handshake.
    out = run("status", redis_url.replace("redis://", "rediss://"), timeout=60)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr


def test_malformed_config_is_one_line(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text("[profiles.x]\nurl = 3\n")
    out = run("--config", str(cfg), "status")
    assert out.returncode == 2
    assert out.stderr.strip() == (
        f"ferrite-tui: {cfg}:2: 'profiles.x.url' must be a string, not 3")


def test_unknown_profile_is_one_line(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text("")
    out = run("status", "--config", str(cfg), "--profile", "nope")
    assert out.returncode == 2 and "no profile named 'nope'" in out.stderr


def test_config_init(tmp_path):
    path = tmp_path / "c" / "config.toml"
    out = run("config", "init", "--config", str(path))
    assert out.returncode == 0 and path.exists()
    again = run("config", "init", "--config", str(path))
    assert again.returncode == 2 and "already exists" in again.stderr


def test_options_before_or_after_the_command(redis_url, tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[profiles.here]\nurl = "{redis_url}"\n')
    r = redis.Redis.from_url(redis_url)
    r.rpush("queue:main:dlq", "x")
    r.close()
    for args in (("--config", str(cfg), "status", "--profile", "here", "--json"),
                 ("--config", str(cfg), "--profile", "here", "status", "--json"),
                 ("status", "--json", "--config", str(cfg), "--profile", "here"),
                 (f"--config={cfg}", "--profile=here", "status", "--json")):
        out = run(*args)
        assert out.returncode == 0, (args, out.stderr)
        assert "queue:main:dlq" in {q["key"] for q in json.loads(out.stdout)["queues"]}, args
    out = run("--config", str(tmp_path / "c2.toml"), "config", "init")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "c2.toml").exists()


def test_split_command_skips_option_values():
    from ferrite_tui.cli.command import split_command

    # A value that happens to be a command name stays the option's value.
    assert split_command(["--profile", "status", "redis://h"]) == (
        None, ["--profile", "status", "redis://h"])
    assert split_command(["--refresh", "2", "demo", "--no-workload"]) == (
        "demo", ["--refresh", "2", "--no-workload"])
    assert split_command(["redis://h", "--read-only"]) == (None, ["redis://h", "--read-only"])
