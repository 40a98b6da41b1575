"""A real terminal for a real command: the program runs on a pseudo-terminal of a given
size; every byte it writes is kept (for scans of what reached the terminal) and fed to pyte
(a VT100 emulator), so a test reads the screen as a person would and types keys into it.

    with PtyTerminal([sys.executable, "-m", "ferrite_tui", url], env=...) as term:
        term.wait_for("Overview")
        term.press("2")
        raw = term.output()   # every byte written so far
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import termios
import threading
import time
from typing import Self

#: Keys by name, as a terminal sends them.
KEYS = {"enter": "\r", "escape": "\x1b", "tab": "\t", "down": "\x1b[B", "up": "\x1b[A",
        "ctrl+u": "\x15", "ctrl+q": "\x11"}


def console_env(tmp_path) -> dict[str, str]:
    """This environment, with the console's state, config and data under `tmp_path`."""
    env = {k: v for k, v in os.environ.items() if k != "REDISCLI_AUTH"}
    env.update({"XDG_STATE_HOME": str(tmp_path / "state"),
                "XDG_CONFIG_HOME": str(tmp_path / "config"),
                "XDG_DATA_HOME": str(tmp_path / "data"), "LANG": "C.UTF-8"})
    return env


class PtyTerminal:
    def __init__(self, argv: list[str], env: dict[str, str] | None = None,
                 width: int = 160, height: int = 44, cwd: str | None = None) -> None:
        import pyte

        self.argv, self.env, self.cwd = argv, env, cwd
        self.width, self.height = width, height
        self.screen = pyte.Screen(width, height)
        self.stream = pyte.ByteStream(self.screen)
        self._raw = bytearray()
        self._lock = threading.Lock()
        # The emulator is fed when the screen is read, and its text made again only when
        # bytes came since: tests poll it, and at 200x60 the polling and the feeding took as
        # much CPU as the program they waited for (the program's share on a loaded machine).
        self._fed = 0
        self._text = ""
        # (monotonic time, bytes received by then) for every read: when a text arrived.
        self._arrivals: list[tuple[float, int]] = []
        self._master = -1
        self._reader: threading.Thread | None = None
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Self:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ,
                    struct.pack("HHHH", self.height, self.width, 0, 0))
        environment = dict(os.environ if self.env is None else self.env)
        environment.update({"TERM": "xterm-256color", "COLUMNS": str(self.width),
                            "LINES": str(self.height)})
        self.process = subprocess.Popen(
            self.argv, stdin=slave, stdout=slave, stderr=slave, env=environment,
            cwd=self.cwd, start_new_session=True, close_fds=True)
        os.close(slave)
        self._master = master
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self._master], [], [], 0.2)
                if not ready:
                    if self.process is not None and self.process.poll() is not None:
                        return
                    continue
                data = os.read(self._master, 65536)
            except OSError:  # the program exited (EIO) or the master was closed
                return
            if not data:
                return
            with self._lock:
                self._raw += data
                self._arrivals.append((time.monotonic(), len(self._raw)))

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, timeout: float = 20) -> int | None:
        """Quit the program (ctrl+q, then SIGTERM, then SIGKILL of its process group)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.type(KEYS["ctrl+q"])
            try:
                self.process.wait(timeout / 2)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout / 2)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait(10)
        if self._reader is not None:
            self._reader.join(10)
        if self._master >= 0:
            os.close(self._master)
            self._master = -1
        return self.process.returncode

    def output(self) -> bytes:
        with self._lock:
            return bytes(self._raw)

    def text(self) -> str:
        with self._lock:
            if self._fed < len(self._raw):
                self.stream.feed(bytes(self._raw[self._fed:]))
                self._fed = len(self._raw)
                self._text = "\n".join(self.screen.display)
            return self._text

    def arrived(self, needle: bytes, start: int = 0) -> float | None:
        """When (monotonic) the read that completed `needle`'s first occurrence after byte
        `start` of the output came; None while it has not. The time the program's bytes
        reached the terminal, apart from the emulator's own work on them (pyte, in Python,
        took a few hundred ms for a whole frame on a loaded machine)."""
        with self._lock:
            at = self._raw.find(needle, start)
            if at < 0:
                return None
            end = at + len(needle)
            return next(when for when, size in self._arrivals if size >= end)

    def type(self, text: str) -> None:
        os.write(self._master, text.encode())

    def press(self, *keys: str) -> None:
        for key in keys:
            self.type(KEYS.get(key, key))

    def wait_for(self, needle: str, timeout: float = 30) -> str:
        """Wait until `needle` is on screen; the screen's text."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.text()
            if needle in screen:
                return screen
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"the program exited ({self.process.returncode}) "
                                     f"before {needle!r} appeared; screen:\n{screen}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} never appeared within {timeout:g}s; "
                                     f"screen:\n{screen}")
            time.sleep(0.05)
