"""One browser session's console process, as `ferrite-tui serve` runs it.

It outlives its page's websocket for a grace period (serve reattaches the page), draws its
whole screen again for a page that comes back, and passes the console's location (panel and
queue, see ui/weblocation.py) to the page, and the page's navigation (a link, Back) to the
console.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shlex
import signal

from aiohttp import web
from textual_serve.app_service import AppService

from ferrite_tui.websession import CONSOLE_DRIVER, LOCATION_META, MAX_FRAGMENT, NAVIGATE_META

# The largest terminal a browser may ask for: a console's memory grows with its cells
# (5000x5000 reached 2 GB).
MAX_COLUMNS = 500
MAX_ROWS = 200
# Redrawing a reattached page: how long to wait for the console's first drawing, then
# how long Textual's resize merging lasts (1/120 s) with a margin.
REDRAW_WAIT_S = 2.0
RESIZE_SETTLE_S = 0.05
HIDE_CURSOR = b"\x1b[?25l"
# How long a console gets to quit on request before it is terminated, then killed.
QUIT_GRACE_S = 5.0
TERM_GRACE_S = 3.0


class ConsoleProcess(AppService):
    """One browser session's console: started without a shell, in a process group of its
    own (so that terminating it reaches everything it started), with the session in its
    environment.

    It outlives its websocket: when the page's connection drops, the console runs on
    detached (its output dropped) until the page comes back with the session's id, or the
    grace period ends it."""

    def __init__(self, argv: list[str], environ: dict[str, str | None], *, owner: bytes,
                 remote: str, **kwargs) -> None:
        super().__init__(shlex.join(argv), write_bytes=self._to_page_bytes,
                         write_str=self._to_page_str, close=self._close_page, **kwargs)
        self.argv = argv
        self.environ_changes = environ
        self.session_id = secrets.token_urlsafe(18)
        self.owner = owner  # the digest of the session secret that may reattach
        self.remote = remote
        self.websocket: web.WebSocketResponse | None = None
        self.exited = False  # the console process is gone
        self.detached_at: float | None = None
        self.grace_task: asyncio.Task[None] | None = None
        self._drawn = asyncio.Event()  # set by output: the console drew something
        self._ended = False

    async def redraw(self, width: int, height: int) -> None:
        """Make the console draw its whole screen again, for a page that came back blank
        (reloaded) or showing what it drew before the drop. Only a change of size does
        that; Textual merges resizes that come within a frame (the last one wins, and the
        same size is no change), so the second waits for the first one's drawing."""
        # A new page's terminal shows its cursor; the console hid it once, at its start.
        await self._to_page_bytes(HIDE_CURSOR)
        self._drawn.clear()
        await self.set_terminal_size(width, height + 1 if height == 1 else height - 1)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drawn.wait(), REDRAW_WAIT_S)
        await asyncio.sleep(RESIZE_SETTLE_S)
        await self.set_terminal_size(width, height)

    async def on_meta(self, data: bytes) -> None:
        """The console's location goes to the page; anything else is textual-serve's."""
        try:
            meta = json.loads(data)
        except ValueError:
            return
        if isinstance(meta, dict) and meta.get("type") == LOCATION_META:
            fragment = meta.get("fragment")
            if isinstance(fragment, str) and len(fragment) <= MAX_FRAGMENT:
                await self._to_page_str(json.dumps([LOCATION_META, fragment]))
            return
        await super().on_meta(data)

    async def navigate(self, fragment: str) -> None:
        """The page asks the console to go to `fragment` (a link opened, Back, Forward)."""
        if fragment.startswith("#/") and len(fragment) <= MAX_FRAGMENT:
            await self.send_meta({"type": NAVIGATE_META, "fragment": fragment})

    async def _to_page_bytes(self, data: bytes) -> None:
        self._drawn.set()
        websocket = self.websocket
        if websocket is not None and not websocket.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await websocket.send_bytes(data)

    async def _to_page_str(self, data: str) -> None:
        websocket = self.websocket
        if websocket is not None and not websocket.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await websocket.send_str(data)

    async def _close_page(self) -> None:
        websocket = self.websocket
        if websocket is not None and not websocket.closed:
            await websocket.close()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        environment = super()._build_environment(width=width, height=height)
        environment["TEXTUAL_DRIVER"] = CONSOLE_DRIVER  # Textual's, plus navigation
        for name, value in self.environ_changes.items():
            if value is None:
                environment.pop(name, None)
            else:
                environment[name] = value
        return environment

    async def _open_app_process(self, width: int = 80, height: int = 24):
        self._process = process = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self._build_environment(width=width, height=height),
            start_new_session=True,
        )
        assert process.stdin is not None
        self._stdin = process.stdin
        return process

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            # The console is gone (quit, or failed to start): so is its browser session.
            self.exited = True
            try:
                await self.remote_close()
            except Exception:
                pass

    async def end(self) -> None:
        """Ask the console to quit; terminate, then kill, what does not. Idempotent."""
        if self._ended:
            return
        self._ended = True
        process = self._process
        if process is None:
            return
        try:
            await asyncio.wait_for(self.stop(), QUIT_GRACE_S)
        except (TimeoutError, ConnectionError, RuntimeError):
            pass
        for sig, grace in ((None, TERM_GRACE_S), (signal.SIGTERM, TERM_GRACE_S),
                           (signal.SIGKILL, None)):
            if sig is not None:
                try:
                    os.killpg(process.pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
            try:
                await asyncio.wait_for(process.wait(), grace)
                break
            except TimeoutError:
                continue


def to_int(value: object, default: int) -> int:
    if isinstance(value, bool):
        return default
    try:
        return int(value) if isinstance(value, (int, str)) else default
    except ValueError:
        return default


def clamp_size(width: object, height: object) -> tuple[int, int]:
    """The terminal size a browser asked for, within 1..MAX_COLUMNS x 1..MAX_ROWS."""
    return (max(1, min(MAX_COLUMNS, to_int(width, 80))),
            max(1, min(MAX_ROWS, to_int(height, 24))))
