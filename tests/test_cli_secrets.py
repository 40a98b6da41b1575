"""No secret in the process's arguments: a password given in the URL is hidden from
/proc/PID/cmdline (what `ps` shows every user) and warned about; `--askpass` asks instead."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading

SECRET = "S3cr3t-pw"


def silent_server() -> tuple[socket.socket, int]:
    """A listening socket that accepts and never answers: the CLI waits on it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(sock.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return sock, sock.getsockname()[1]


def test_password_in_the_url_is_hidden_from_the_process_arguments():
    sock, port = silent_server()
    url = f"redis://ops:{SECRET}@127.0.0.1:{port}/0"
    proc = subprocess.Popen([sys.executable, "-m", "ferrite_tui", "status", url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    try:
        warning = proc.stderr.readline()
        assert "password" in warning and "--askpass" in warning, warning
        cmdline = open(f"/proc/{proc.pid}/cmdline", "rb").read()
        assert proc.poll() is None, "the CLI must still be running (waiting on the server)"
        assert SECRET.encode() not in cmdline, cmdline
        assert b"127.0.0.1" in cmdline and b"status" in cmdline  # still says what it is
    finally:
        proc.kill()
        proc.wait(timeout=10)
        sock.close()
    assert SECRET not in warning


def test_askpass_reads_the_password_instead_of_the_arguments(server_factory):
    server = server_factory(password=SECRET)
    url = f"redis://127.0.0.1:{server.port}/0"
    env = {k: v for k, v in os.environ.items() if k != "REDISCLI_AUTH"}
    proc = subprocess.run([sys.executable, "-m", "ferrite_tui", "status", url, "--askpass",
                           "--json"], input=SECRET + "\n", capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["server"]["url"] == url
    assert "password" not in proc.stderr  # nothing to warn about
    without = subprocess.run([sys.executable, "-m", "ferrite_tui", "status", url],
                             capture_output=True, text=True, timeout=60, env=env)
    assert without.returncode == 2 and "authentication required" in without.stderr


def test_no_warning_without_a_password(redis_url):
    proc = subprocess.run([sys.executable, "-m", "ferrite_tui", "status", redis_url],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "password" not in proc.stderr


# -- password_command: bounded output, a visible wait ---------------------------------------

def _profile_config(tmp_path, command: str, url: str = "redis://127.0.0.1:1/0"):
    path = tmp_path / "config.toml"
    path.write_text(f'[profiles.vault]\nurl = "{url}"\npassword_command = {json.dumps(command)}\n')
    return path


def _status(config, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ferrite_tui", "status", "--config",
                           str(config), "--profile", "vault"],
                          capture_output=True, text=True, timeout=timeout)


def test_password_command_output_is_bounded(tmp_path):
    """A command that writes far more than a password is stopped with one line, instead of
    being read whole (`yes` reached 9.6 GB before the timeout)."""
    for command in (f"{sys.executable} -c \"print('a' * 100_000)\"", "yes"):
        out = _status(_profile_config(tmp_path, command), timeout=10)
        assert out.returncode == 2, out
        lines = out.stderr.strip().splitlines()
        assert lines == ["ferrite-tui: profile vault: password_command wrote more than "
                         "4,096 bytes (stopped): a password is one line"], out.stderr


def test_password_command_output_is_the_password(server_factory, tmp_path):
    server = server_factory(password=SECRET)
    out = _status(_profile_config(tmp_path, f"echo {SECRET}", server.url))
    assert out.returncode == 0, out.stderr
    assert "waiting for password_command" not in out.stderr  # a quick command shows nothing


def test_a_hanging_password_command_is_shown_on_the_terminal(tmp_path):
    """The console has not started yet: the terminal says what it waits for, and for how
    long, instead of staying blank."""
    import pty

    config = _profile_config(tmp_path, "sleep 20")
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "ferrite_tui", "--config", str(config),
                             "--profile", "vault"],
                            stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    seen = b""
    try:
        import select
        import time

        deadline = time.monotonic() + 10
        while b"waiting for password_command of profile vault (2 s" not in seen:
            left = deadline - time.monotonic()
            assert left > 0, f"the screen never said what it waits for: {seen!r}"
            if select.select([master], [], [], left)[0]:
                try:
                    seen += os.read(master, 4096)
                except OSError:
                    break
        assert b"ctrl+c stops" in seen
        # ctrl+c ends the wait with one line (the command stopped with it), no traceback.
        import signal

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 2
        while select.select([master], [], [], 0.5)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        tail = seen.rsplit(b"\x1b[K", 1)[-1]
        assert b"password_command interrupted (nothing was started)" in tail
        assert b"Traceback" not in seen
    finally:
        proc.kill()
        proc.wait()
        os.close(master)
