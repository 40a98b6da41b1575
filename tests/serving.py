"""Test plumbing for `ferrite-tui serve`: the real command as a subprocess, its console
processes found in /proc, and a terminal client that reads what a session draws.

- ``serving(args, tmp_path)``: starts ``python -m ferrite_tui serve ARGS --port 0`` from
  this checkout, waits for the URL it prints, and stops it at the end (SIGTERM; anything
  left, including console processes, is killed and reported by the test that cares).
- ``Terminal``: a websocket client speaking textual-serve's protocol; it feeds what the
  console draws into a pyte screen, so tests read the screen as text. Printed links open
  once: ``Served.cookies()`` opens the printed one and keeps the session cookie it gave,
  for every Terminal of the test.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Self
from urllib.parse import parse_qs, urlsplit

from helpers import wait_until

if TYPE_CHECKING:
    import aiohttp  # imported where used: only the serve tests need it

REPO_ROOT = Path(__file__).resolve().parents[1]
SESSION_COOKIE = "ferrite_tui_session"


def child_pids(parent: int) -> set[int]:
    """Live (not zombie) processes whose parent is ``parent``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == parent and state != "Z":
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


@dataclass
class Served:
    process: subprocess.Popen
    url: str  # with the token, as printed
    stderr_path: Path
    stdout_lines: list[str] = field(default_factory=list)
    seen_children: set[int] = field(default_factory=set)
    session_secret: str | None = None

    @property
    def base(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}/"

    @property
    def token(self) -> str:
        return parse_qs(urlsplit(self.url).query)["token"][0]

    @property
    def ws_url(self) -> str:
        return self.base.replace("http://", "ws://", 1) + "ws"

    def links(self) -> list[str]:
        """Every link serve printed, the first one first."""
        return [m.group(1) for line in list(self.stdout_lines)
                if (m := re.match(r"Open: (\S+)", line))]

    def cookies(self) -> dict[str, str]:
        """The session cookie the printed link gives (opened once, on the first call)."""
        if self.session_secret is None:
            self.session_secret = open_link(self.url)
        return {SESSION_COOKIE: self.session_secret}

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def consoles(self) -> set[int]:
        """The console processes running now (every child of serve is one)."""
        pids = child_pids(self.process.pid)
        self.seen_children |= pids
        return pids

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout)


@contextmanager
def serving(args: list[str], tmp_path: Path, env: dict[str, str] | None = None,
            timeout: float = 60, stdin: int | None = None) -> Iterator[Served]:
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("REDISCLI_AUTH", "FERRITE_TUI_SERVE_TOKEN")}
    environment.update({
        # Audit log, crash log and config land in this test's directory.
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "PYTHONUNBUFFERED": "1",
    })
    environment.update(env or {})
    tmp_path.mkdir(parents=True, exist_ok=True)
    stderr_path = tmp_path / "serve.stderr"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "ferrite_tui", "serve", *args, "--port", "0"],
            cwd=REPO_ROOT, env=environment, stdout=subprocess.PIPE, stderr=stderr,
            stdin=stdin, text=True,
        )
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    served: Served | None = None
    try:
        def printed_url() -> str | None:
            if process.poll() is not None:
                raise AssertionError(f"serve exited {process.returncode}: "
                                     f"{stderr_path.read_text()}")
            for line in lines:
                if m := re.match(r"Open: (\S+)", line):
                    return m.group(1)
            return None

        url = wait_until(printed_url, timeout=timeout, message="serve never printed its URL")
        served = Served(process, url, stderr_path, lines)
        try:
            yield served
        except BaseException:
            # serve's own account of the sessions (a connection it closed, and why) goes
            # with the failure: the test's directory is gone by the time anyone looks.
            print(f"--- serve's log:\n{stderr_path.read_text(errors='replace')}")
            raise
    finally:
        leftovers = (served.consoles() | served.seen_children) if served else set()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        for pid in leftovers:  # a test that failed half-way still cleans up
            if alive(pid):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
        reader.join(10)


def open_link(url: str) -> str:
    """Open a link as a browser's first page load does: the session secret it gives."""
    import http.cookies
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        response = urllib.request.build_opener(NoRedirect).open(url, timeout=30)
        status, headers = response.status, response.headers
    except urllib.error.HTTPError as exc:
        status, headers = exc.code, exc.headers
    assert status == 303, f"{url}: {status}, not the 303 that sets the session cookie"
    jar = http.cookies.SimpleCookie(headers["Set-Cookie"])
    return jar[SESSION_COOKIE].value


class Terminal:
    """One browser session without the browser: textual-serve's websocket protocol, with
    the console's output rendered by pyte (a VT100 emulator) for the tests to read."""

    def __init__(self, served: Served, width: int = 120, height: int = 36,
                 ask: tuple[int, int] | None = None, resume: str | None = None,
                 cookies: dict[str, str] | None = None) -> None:
        """A ``width`` x ``height`` screen; ``ask`` is the size the page asks for, when a
        test wants it to differ (a hostile size, which serve clamps); ``resume`` the
        session to come back to, as the page asks after a dropped connection."""
        import pyte

        self.served = served
        self.width, self.height = width, height
        self.ask = ask or (width, height)
        self.resume = resume
        self.cookies = cookies
        self.session_id: str | None = None  # from serve's first message
        self.screen = pyte.Screen(width, height)
        self.stream = pyte.ByteStream(self.screen)
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        # Every message as it arrives, read by a task of its own: the page's PONG to serve's
        # heartbeat PING goes out as a browser's does, at once, however long the test takes
        # over the output before it (feeding a 500x200 redraw to pyte on a busy machine took
        # longer than serve's 7.5 s wait for a PONG, and serve dropped the connection).
        self.inbox: asyncio.Queue[aiohttp.WSMessage] = asyncio.Queue()
        self.reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        import aiohttp

        # Bounded: a handshake or a close that never completes fails the test, not hangs it.
        self.session = aiohttp.ClientSession(cookies=self.cookies or self.served.cookies(),
                                             timeout=aiohttp.ClientTimeout(total=60))
        resume = f"&resume={self.resume}" if self.resume else ""
        self.ws = await self.session.ws_connect(
            f"{self.served.ws_url}?width={self.ask[0]}&height={self.ask[1]}{resume}")
        self.reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        """Receive (answering PINGs) until the connection ends; the last message put is
        the one that says how it ended."""
        import aiohttp

        assert self.ws is not None
        while True:
            message = await self.ws.receive()
            self.inbox.put_nowait(message)
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
                return

    async def drop(self) -> None:
        """Lose the connection as a sleeping laptop does: no close frame, no goodbye."""
        assert self.session is not None
        await self.session.close()  # closes the connection under the websocket

    async def __aexit__(self, *exc) -> None:
        if self.ws is not None and not self.session.closed:
            await self.ws.close()  # (ends the reader's receive too)
        if self.reader is not None:
            self.reader.cancel()
            await asyncio.gather(self.reader, return_exceptions=True)
        if self.session is not None:
            await self.session.close()

    def text(self) -> str:
        return "\n".join(self.screen.display)

    async def wait_for(self, needle: str, timeout: float = 60) -> str:
        """Read output until ``needle`` is on screen; the screen's text."""
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            await self._receive(deadline, f"{needle!r}")
        return self.text()

    async def wait_for_screen(self, matches, timeout: float = 60) -> str:
        """Read output until the screen's text ``matches``; that text."""
        deadline = time.monotonic() + timeout
        while not matches(self.text()):
            await self._receive(deadline, "the screen looked for")
        return self.text()

    async def wheel(self, down: bool, column: int, row: int) -> None:
        """One notch of the mouse wheel over a cell (1-based), as xterm.js reports it."""
        await self.press(f"\x1b[<{65 if down else 64};{column};{row}M")

    async def wait_for_message(self, matches, timeout: float = 60) -> list:
        """Read until a text message (JSON) that ``matches``; the console's output still
        goes to the screen."""
        deadline = time.monotonic() + timeout
        while True:
            text = await self._receive(deadline, "the message")
            if text is not None and matches(message := json.loads(text)):
                return message

    async def _receive(self, deadline: float, waiting_for: str) -> str | None:
        """One message: binary output is fed to the screen, a text message returned."""
        import aiohttp

        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{waiting_for} never came; screen:\n{self.text()}")
        try:
            message = await asyncio.wait_for(self.inbox.get(), timeout=left)
        except TimeoutError:
            return None
        if message.type == aiohttp.WSMsgType.BINARY:
            self.stream.feed(message.data)
        elif message.type == aiohttp.WSMsgType.TEXT:
            parsed = json.loads(message.data)
            if parsed[0] == "ferrite_session":
                self.session_id = parsed[1]["id"]
            return message.data
        elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                              aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
            self.inbox.put_nowait(message)  # still closed for the next read
            raise AssertionError(f"session closed before {waiting_for}; "
                                 f"screen:\n{self.text()}")
        return None

    async def press(self, keys: str) -> None:
        await self.ws.send_str(json.dumps(["stdin", keys]))
