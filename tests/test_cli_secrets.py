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
