"""Test helpers: the suite's server settings, and waiting on a condition.

Server settings (read once from the environment):
- ``SERVER_BINARY``: ``$FERRITE_TUI_TEST_SERVER`` if set, else ``find_server_binary()``.
- ``REDUCED``: ``FERRITE_TUI_TEST_REDUCED=1``, every test server gets ``reduced_args()``
  (also true under the Ferrite stand-in, which refuses those commands too).
- ``FERRITE``: ``FERRITE_TUI_TEST_FERRITE=1``, every test server sits behind the Ferrite
  stand-in proxy (tests/ferrite_proxy.py).

Never sleep a fixed time in a test; wait on the condition you need:

    from helpers import wait_until, async_wait_until

    wait_until(lambda: client.llen("q") == 3, message="queue never reached 3")
    await async_wait_until(lambda: app.screen.query_one(Table).row_count == 3)
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from ferrite_tui.backend.audit import AuditLog
from ferrite_tui.backend.client import Client
from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.backend.monitor import Monitor
from ferrite_tui.config import Config
from ferrite_tui.demo.server import find_server_binary

T = TypeVar("T")

__all__ = [
    "FERRITE",
    "REDUCED",
    "REDUCED_ENV",
    "SERVER_BINARY",
    "SERVER_ENV",
    "CommandRecorder",
    "async_wait_until",
    "client_at",
    "figure",
    "longest",
    "monitor_at",
    "mutating",
    "running",
    "slowlog_on",
    "slowlog_read",
    "wait_until",
]

def client_at(url: str, audit: AuditLog | None = None, **settings: Any) -> Client:
    """The backend's client of a test server; `settings`: any other field of
    ConnectionSettings (read_only, command_timeout, username...)."""
    return Client(ConnectionSettings(url=url, **settings), audit)


def monitor_at(url: str, config: Config | None = None, *, audit: AuditLog | None = None,
               match: tuple[str, ...] | None = None, refresh: float | None = None,
               remember_in: Path | None = None, **settings: Any) -> Monitor:
    """A Monitor of a test server (the default config unless given); `settings`: any
    other field of ConnectionSettings."""
    return Monitor(ConnectionSettings(url=url, **settings), config or Config(), audit=audit,
                   match=match, refresh=refresh, remember_in=remember_in)


SERVER_ENV = "FERRITE_TUI_TEST_SERVER"
REDUCED_ENV = "FERRITE_TUI_TEST_REDUCED"
FERRITE_ENV = "FERRITE_TUI_TEST_FERRITE"

#: The binary every test server runs (None if none was found).
SERVER_BINARY: str | None = find_server_binary(os.environ.get(SERVER_ENV) or None)
#: True when every test server sits behind the Ferrite stand-in proxy (tests/ferrite_proxy.py).
FERRITE: bool = os.environ.get(FERRITE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}
#: True when the suite runs without Lua and XAUTOCLAIM: the reduced command set (renamed
#: away), or the Ferrite stand-in, which refuses them and more.
REDUCED: bool = FERRITE or (
    os.environ.get(REDUCED_ENV, "").strip().lower() in {"1", "true", "yes", "on"})


def _failure(predicate: Callable[..., Any], timeout: float, message: str, last: Any,
             error: BaseException | None) -> AssertionError:
    name = getattr(predicate, "__qualname__", repr(predicate))
    text = message or f"condition {name} not met"
    detail = f" within {timeout:g}s (last value: {last!r})"
    if error is not None:
        detail += f" (last error: {error!r})"
    return AssertionError(text + detail)


def wait_until(
    predicate: Callable[..., T],  # `...`: a lambda may bind a loop variable as a default
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "",
    ignore_exceptions: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``predicate`` until it returns a truthy value; return that value.

    Raises AssertionError(``message``) once ``timeout`` seconds pass. Exceptions of the
    types in ``ignore_exceptions`` count as "not yet" (e.g. ConnectionError while a
    server restarts); any other exception propagates.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    error: BaseException | None = None
    while True:
        try:
            last = predicate()
            error = None
        except ignore_exceptions as exc:
            last, error = None, exc
        if last:
            return last
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _failure(predicate, timeout, message, last, error)
        time.sleep(min(interval, remaining))


async def async_wait_until(
    predicate: Callable[..., Any],  # sync, or returns an awaitable; `...` as in wait_until
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "",
    ignore_exceptions: tuple[type[BaseException], ...] = (),
) -> Any:
    """Async :func:`wait_until`: ``predicate`` may be sync or return an awaitable.

    Yields to the event loop between polls (``asyncio.sleep``), so the app under
    test (e.g. a Textual Pilot) keeps running while we wait.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    error: BaseException | None = None
    while True:
        try:
            result = predicate()
            if inspect.isawaitable(result):
                result = await result
            last, error = result, None
        except ignore_exceptions as exc:
            last, error = None, exc
        if last:
            return last
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _failure(predicate, timeout, message, last, error)
        await asyncio.sleep(min(interval, remaining))


# -- figures: what a fault or scenario test measured, listed at the end of the run ------

#: Figures recorded by the test running now; conftest moves them onto its report.
FIGURES: list[str] = []


def figure(text: str) -> None:
    """Record one figure: listed in the run's "fault suite figures" section (also under
    pytest-xdist, where it travels on the test's report), and printed at once with -s."""
    FIGURES.append(text)
    print(f"\nFIGURE {text}")


# -- benchmarks: the server's own timing of every command (SLOWLOG) ---------------------

async def slowlog_on(r: Any, max_len: int = 200_000) -> None:
    """Log every command with its duration, from now on (async redis client)."""
    await r.config_set("slowlog-log-slower-than", 0)
    await r.config_set("slowlog-max-len", max_len)
    await r.slowlog_reset()


async def slowlog_read(r: Any, max_len: int = 200_000) -> list[tuple[str, int]]:
    """(command name, microseconds) for every entry since the reset, oldest first."""
    entries = await r.slowlog_get(max_len)
    out = []
    for e in reversed(entries):
        cmd = e["command"]
        name = (cmd.split()[0] if cmd else b"?").decode(errors="replace").upper()
        out.append((name, int(e["duration"])))
    return out


def longest(entries: list[tuple[str, int]],
            exclude: tuple[str, ...] = ("SLOWLOG", "CONFIG")) -> tuple[int, str]:
    """The slowest entry's (microseconds, command name), leaving out the benchmark's own."""
    best = (0, "-")
    for name, us in entries:
        if name not in exclude and us > best[0]:
            best = (us, name)
    return best


# -- Pilot: run the app against a real server ---------------------------------------------

@asynccontextmanager
async def running(app: Any, size: tuple[int, int] = (120, 36)) -> AsyncIterator[Any]:
    """app.run_test that stops the poll worker first on the way out, so no poll message
    in flight reaches a screen being torn down."""
    async with app.run_test(size=size) as pilot:
        try:
            yield pilot
        finally:
            app.workers.cancel_group(app, "poll")
            await pilot.pause()


# -- what a client sends: the server's MONITOR feed ---------------------------------------

class CommandRecorder:
    """Every command the server runs from now on (MONITOR on a socket of its own), as
    (client address, COMMAND NAME, args). Use as a context manager; `commands` fills in
    while it runs."""

    def __init__(self, host: str, port: int, password: str | None = None) -> None:
        import socket
        import threading

        self.commands: list[tuple[str, str, list[str]]] = []
        self._sock = socket.create_connection((host, port), timeout=10)
        if password is not None:
            self._sock.sendall(f"AUTH {password}\r\n".encode())
            self._readline(self._sock.makefile("rb"))
        self._sock.sendall(b"MONITOR\r\n")
        self._file = self._sock.makefile("rb")
        assert self._readline(self._file).startswith(b"+OK")
        self._sock.settimeout(None)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def _readline(f: Any) -> bytes:
        return f.readline()

    def _run(self) -> None:
        import re
        import shlex

        line_re = re.compile(rb'^\+[\d.]+ \[\d+ ([^\]]+)\] (.*)$')
        while True:
            try:
                line = self._file.readline()
            except (OSError, ValueError):
                return
            if not line:
                return
            m = line_re.match(line.rstrip(b"\r\n"))
            if not m:
                continue
            try:
                parts = shlex.split(m.group(2).decode("utf-8", "replace"))
            except ValueError:
                parts = m.group(2).decode("utf-8", "replace").split()
            if parts:
                self.commands.append((m.group(1).decode(), parts[0].upper(), parts[1:]))

    def names(self) -> list[str]:
        return [name for _, name, _ in self.commands]

    def close(self) -> None:
        import socket
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> CommandRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def mutating(r: Any, names: list[str]) -> list[str]:
    """The names among `names` that the server flags as writes (COMMAND INFO), plus the
    script commands (they may write whatever the script says)."""
    out = []
    for name in sorted(set(names)):
        if name in ("EVAL", "EVALSHA", "FCALL", "SCRIPT", "FUNCTION"):
            out.append(name)
            continue
        info = r.execute_command("COMMAND", "INFO", name)  # redis-py: {name: {"flags": ...}}
        entry = info.get(name.lower()) if isinstance(info, dict) else None
        flags = (entry or {}).get("flags", [])
        if any((f.decode() if isinstance(f, bytes) else f) == "write" for f in flags):
            out.append(name)
    return out


def dramatiq_worker_runs(broker: Any, message_id: str) -> None:
    """Start dramatiq's own worker on `broker` and wait until it ran `message_id` without
    an exception: proof that what the console wrote is what dramatiq expects."""
    import dramatiq
    from dramatiq.middleware import Middleware

    done: list[str] = []

    class Seen(Middleware):
        def after_process_message(self, broker, message, *, result=None, exception=None):
            if exception is None:
                done.append(message.message_id)

    broker.add_middleware(Seen())
    worker = dramatiq.Worker(broker, worker_timeout=50, worker_threads=1)
    worker.start()
    try:
        wait_until(lambda: message_id in done, timeout=60,
                   message="dramatiq's worker did not run the requeued message")
    finally:
        worker.stop()


#: A server's answers that mean "no such command (or form)": renamed away, too old, or
#: refused by the Ferrite stand-in.
MISSING = ("unknown command", "unknown subcommand", "syntax error", "invalid stream id")

#: The commands that prove a capability, sent as any client would (keys no test uses:
#: a missing key's nil or NOGROUP proves the command parses).
CAPABILITY_COMMANDS: dict[str, tuple] = {
    "lua": ("EVAL", "return 1", 0),
    "lpos": ("LPOS", "__capability_probe__", "x"),
    "xautoclaim": ("XAUTOCLAIM", "__capability_probe__", "g", "c", 0, "0-0"),
    "xpending_idle": ("XPENDING", "__capability_probe__", "g", "IDLE", 0, "-", "+", 1),
}


def skip_as_the_server_lacks(url: str, capability: str, reason: str) -> None:
    """Skip a test for a capability the console's probe found missing, after proving the
    server lacks it with the command itself on a plain client of its own: a probe that is
    wrong fails the test instead of skipping it."""
    import pytest
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.execute_command(*CAPABILITY_COMMANDS[capability])
    except redis.ResponseError as exc:
        if any(m in str(exc).lower() for m in MISSING):
            pytest.skip(f"{reason} (the server answers: {exc})")
        # NOGROUP, WRONGTYPE ...: the command exists
    finally:
        client.close()
    pytest.fail(f"the console found {capability} missing, but the server runs "
                f"{CAPABILITY_COMMANDS[capability][0]}: the probe is wrong")


def skip_unless_redis_7(url: str, reason: str) -> None:
    """Skip a Redis 7 feature, after reading the server's version itself (INFO server)."""
    import pytest
    import redis

    client = redis.Redis.from_url(url)
    try:
        version = str(client.info("server").get("redis_version", "0"))
    finally:
        client.close()
    if int(version.split(".")[0]) < 7:
        pytest.skip(f"{reason} (redis_version {version})")
