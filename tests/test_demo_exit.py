"""`ferrite-tui demo` leaves nothing behind, whichever way it ends."""

import os
import pty
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from helpers import wait_until


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def server_of(pid: int) -> tuple[int, Path] | None:
    """The demo's redis-server child and its data dir (Redis chdirs into its `dir`)."""
    for child in children(pid):
        try:
            argv0 = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[0]
            cwd = Path(os.readlink(f"/proc/{child}/cwd"))
        except OSError:
            continue
        if b"server" in argv0 and cwd.name.startswith("ferrite-tui-"):
            return child, cwd
    return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose only once reaped by its parent; check its state.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def demo_args() -> list[str]:
    return []


@pytest.fixture
def demo(demo_args):
    master, slave = pty.openpty()
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="100", LINES="30")
    proc = subprocess.Popen([sys.executable, "-m", "ferrite_tui", "demo", "--no-workload",
                             *demo_args],
                            stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True)
    os.close(slave)
    output = bytearray()

    def drain():
        import select
        while select.select([master], [], [], 0)[0]:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            output.extend(data)
        return True

    try:
        found = wait_until(lambda: drain() and server_of(proc.pid), timeout=30,
                           message="the demo never started its server")
        wait_until(lambda: drain() and b"queue" in output, timeout=30,
                   message="the demo never drew its queues")
        drain.output = output  # type: ignore[attr-defined]  # read by the tests
        yield proc, master, found, drain
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def test_q_stops_the_server_and_removes_its_dir(demo):
    proc, master, (server_pid, data_dir), drain = demo
    assert data_dir.exists()
    os.write(master, b"q")
    wait_until(lambda: drain() and proc.poll() is not None, timeout=20,
               message=f"still running; screen tail: {bytes(demo_output(demo))[-400:]!r}")
    assert proc.returncode == 0
    wait_until(lambda: not alive(server_pid), timeout=10)
    assert not data_dir.exists()


def demo_output(demo):
    return demo[3].output


def test_sigterm_stops_the_server_and_removes_its_dir(demo):
    proc, _master, (server_pid, data_dir), drain = demo
    proc.send_signal(signal.SIGTERM)
    wait_until(lambda: drain() and proc.poll() is not None, timeout=20)
    wait_until(lambda: not alive(server_pid), timeout=10)
    assert not data_dir.exists()


def test_ctrl_c_quits(demo):
    proc, master, (server_pid, data_dir), drain = demo
    os.write(master, b"\x03")
    wait_until(lambda: drain() and proc.poll() is not None, timeout=20)
    wait_until(lambda: not alive(server_pid), timeout=10)
    assert not data_dir.exists()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PORT = free_port()


@pytest.mark.parametrize("demo_args", [["--port", str(PORT)]])
def test_demo_serves_on_the_port_it_is_given(demo):
    """Where ports are assigned, `demo --port` puts its server on the one given."""
    _proc, _master, (server_pid, _data_dir), drain = demo
    client = redis.Redis(port=PORT, socket_timeout=5)
    try:
        assert client.ping()
        assert int(client.info("server")["process_id"]) == server_pid
    finally:
        client.close()
    assert f"127.0.0.1:{PORT}".encode() in drain.output


def test_demo_on_a_port_in_use_says_so_and_starts_nothing():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "ferrite_tui", "demo", "--port", str(port)],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == (f"ferrite-tui: demo: port {port} is in use on 127.0.0.1 "
                                   "(choose another --port)")
