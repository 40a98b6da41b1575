"""`ferrite-tui serve`: the same console in a browser, through textual-serve.

Each browser session gets a console process of its own (the normal `ferrite-tui` command
with Textual's web driver). The server around them adds what textual-serve leaves out:

- links that open once: the printed `/?token=T` is traded, on the first page load, for a
  random session secret in an HttpOnly, SameSite=Strict cookie, and the address bar loses
  the token. A used or expired link (10 minutes unused by default) opens nothing and says
  how to get a fresh one: Enter on serve's terminal, or SIGUSR1, prints one. A token from
  `--token-file` stays valid. Every page, static file and websocket needs the cookie; the
  token is accepted on the first page load only (rules in webaccess.py);
- wrong tokens slowed, then locked out, per client address; the terminal size a browser
  asks for clamped; websockets only from this server's own origin (scheme, host, port);
- a page of its own (webpage.py): no request to any other origin, a title naming the server;
- a console outlives its page's connection for a grace period (10 minutes by default): the
  page (webpage.py) reconnects with the session's id and the console draws itself again;
- a cap on concurrent sessions (503 with a reason beyond it; a console waiting for its page
  makes room);
- read-only consoles unless `--allow-writes`; the session (remote address, mode) reaches
  the console through its environment, for its header and the audit log;
- the server's password stays out of every console's argv and out of the page: consoles get
  the URL without it and the password in REDISCLI_AUTH;
- on ctrl+c / SIGTERM every console process is asked to quit, then terminated, then killed.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import re
import secrets
import shlex
import signal
import sys
import time
from urllib.parse import urlencode, urlsplit

from aiohttp import WSMsgType, web
from textual_serve.server import Server

from ferrite_tui.backend.errors import BackendError
from ferrite_tui.commandline import resolve_settings, serve_origins, with_command_line
from ferrite_tui.config import ConfigError, load
from ferrite_tui.escaping import printable
from ferrite_tui.servesetup import (
    DEFAULT_GRACE_S,
    build_parser,
    check_server,
    console_command,
    console_environ,
    fail,
    is_loopback,
    read_token,
    url_host,
)
from ferrite_tui.webaccess import Guard, Links, digest
from ferrite_tui.webconsole import ConsoleProcess, clamp_size, to_int
from ferrite_tui.webpage import console_page, content_security_policy, message_page
from ferrite_tui.websession import NAVIGATE_META, REMOTE_ENV, WRITES_ENV, BrowserSession

# The cookie holds the session secret a link was traded for, never the link's token.
SESSION_COOKIE = "ferrite_tui_session"
# A websocket message from the page: keys typed or pasted, a resize, a ping.
MAX_MESSAGE_BYTES = 1 << 20
HEARTBEAT_S = 15.0
TAKEN_OVER = 4001  # websocket close code: the same page reconnected on a new connection
_ABSENT = object()
# A Host header fit to be written into the page and its Content-Security-Policy.
_HOST_CHARS = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


class ConsoleServer(Server):
    """textual-serve's server with one-time links, a session cap and managed consoles."""

    def __init__(self, argv: list[str], environ: dict[str, str | None], *, links: Links,
                 host: str, port: int, max_sessions: int, allow_writes: bool,
                 title: str, grace_s: float = DEFAULT_GRACE_S) -> None:
        super().__init__(shlex.join(argv), host=host, port=port, title=title)
        self.argv = argv
        self.environ = environ
        self.links = links
        self.guard = Guard(self.log)
        self.max_sessions = max_sessions
        self.allow_writes = allow_writes
        self.grace_s = grace_s
        # Every console, with the websocket it draws to (None: detached, waiting for its
        # page to come back); detached consoles count toward --max-sessions.
        self.sessions: dict[ConsoleProcess, web.WebSocketResponse | None] = {}
        self.stopping = False
        self.bound_port: int | None = None
        self.link_base = ""  # the address printed links start with, once listening

    def log(self, message: str) -> None:
        # Exceptions and request data in a line: escaped (one line, valid UTF-8).
        print(f"ferrite-tui serve: {printable(message)}", file=sys.stderr, flush=True)

    # -- links ----------------------------------------------------------------------------

    def fresh_link_hint(self) -> str:
        return ("For a fresh link, press Enter in the terminal where `ferrite-tui serve` "
                f"runs, or run `kill -USR1 {os.getpid()}`.")

    def print_link(self) -> None:
        """Print a new one-time link; say on stderr when it expires unused."""
        token = self.links.new_link()
        minutes = f"{self.links.ttl_s / 60:g}"
        print(f"Open: {self.link_base}?{urlencode({'token': token})}", flush=True)
        print(f"(the link opens one browser session and expires after {minutes} min unused; "
              f"Enter here or `kill -USR1 {os.getpid()}` prints a fresh one)", flush=True)
        printed_at = time.strftime("%H:%M:%S")

        def expired() -> None:
            if self.links.state(token) == "expired":
                self.log(f"the link printed at {printed_at} expired unused; press Enter "
                         f"here or run `kill -USR1 {os.getpid()}` for a fresh one")

        # A little after the expiry, so that the clock has passed it for certain.
        asyncio.get_running_loop().call_later(self.links.ttl_s + 0.05, expired)

    # -- access ---------------------------------------------------------------------------

    def refusal(self, status: type[web.HTTPException], title: str,
                *paragraphs: str) -> web.HTTPException:
        return status(text=message_page(f"ferrite-tui serve: {title}", *paragraphs),
                      content_type="text/html")

    @web.middleware
    async def access_middleware(self, request: web.Request, handler):
        remote = request.remote or "?"
        secret = request.cookies.get(SESSION_COOKIE)
        token = request.query.get("token")
        first_load = request.method == "GET" and request.path == "/"
        if self.links.session_ok(secret):
            if first_load and token is not None:
                raise web.HTTPSeeOther(location=self.without_token(request))
            return await handler(request)
        if left := self.guard.locked(remote):
            raise self.refusal(
                web.HTTPTooManyRequests, "locked out",
                f"Too many wrong tokens came from this address: it is refused for "
                f"{left / 60:.0f} more minutes (restarting `ferrite-tui serve` lifts it).")
        if first_load and token is not None:
            exchange = self.links.exchange(token)
            if exchange.secret is not None:
                self.log(f"link opened from {remote}"
                         + ("" if self.links.long_lived == token else
                            " (each link opens once: Enter here or "
                            f"`kill -USR1 {os.getpid()}` prints another)"))
                response = web.HTTPSeeOther(location=self.without_token(request))
                response.set_cookie(SESSION_COOKIE, exchange.secret, path="/", httponly=True,
                                    samesite="Strict", secure=request.secure)
                raise response
            if exchange.refusal in ("used", "expired"):
                self.guard.refused(remote, f"a link already {exchange.refusal}", counts=False)
                what = ("was already used: each link opens one browser session"
                        if exchange.refusal == "used" else
                        f"has expired: a link must be opened within "
                        f"{self.links.ttl_s / 60:g} minutes")
                raise self.refusal(web.HTTPForbidden, "this link is spent",
                                   f"This link {what}.", self.fresh_link_hint())
            delay = self.guard.refused(remote, "wrong token")
            if delay:
                await asyncio.sleep(delay)
            raise self.refusal(web.HTTPForbidden, "wrong token",
                               "This link's token is wrong.", self.fresh_link_hint())
        if secret is not None:
            # A cookie from an earlier run of serve (secrets live as long as serve does).
            self.guard.refused(remote, "a session cookie from an earlier run", counts=False)
            raise self.refusal(
                web.HTTPForbidden, "use the new link",
                "This browser's session belongs to an earlier run of `ferrite-tui serve` "
                "(it was restarted since): open the new link it printed.",
                self.fresh_link_hint())
        self.guard.refused(remote, f"no session cookie ({printable(request.path, 80)})",
                           counts=False)
        raise self.refusal(
            web.HTTPUnauthorized, "open the link",
            "Open the URL printed by `ferrite-tui serve` (it carries ?token=...).",
            self.fresh_link_hint())

    @staticmethod
    def without_token(request: web.Request) -> str:
        rest = [(k, v) for k, v in request.query.items() if k != "token"]
        return "/" + (f"?{urlencode(rest)}" if rest else "")

    @staticmethod
    async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
        # Keys typed into a framed console would reach the server: never allow framing.
        response.headers["X-Frame-Options"] = "DENY"
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; frame-ancestors 'none'")
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"

    def full_message(self) -> str:
        return (f"ferrite-tui serve: all {self.max_sessions} browser sessions are in use; "
                "close one, or restart serve with a larger --max-sessions\n")

    # -- the web app ----------------------------------------------------------------------

    async def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self.access_middleware])
        app.add_routes([
            web.get("/", self.handle_index, name="index"),
            web.get("/ws", self.handle_websocket, name="websocket"),
            web.get("/download/{key}", self.handle_download, name="download"),
            web.static("/static", self.statics_path, name="static"),
        ])
        app.on_response_prepare.append(self.security_headers)
        return app

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        owner = digest(request.cookies.get(SESSION_COOKIE, ""))
        # Full, unless a console waits for its page (it makes room) or this browser has one
        # (a reload comes back to it; its old page is still open while this one loads).
        if len(self.sessions) >= self.max_sessions and not any(
                websocket is None or hmac.compare_digest(console.owner, owner)
                for console, websocket in self.sessions.items()):
            raise web.HTTPServiceUnavailable(text=self.full_message())
        # The websocket goes to the host the browser used, so that the cookie goes with it.
        host = request.host if _HOST_CHARS.fullmatch(request.host) else \
            f"{url_host(self.host)}:{self.bound_port}"
        websocket_url = f"{'wss' if request.secure else 'ws'}://{host}/ws"
        nonce = secrets.token_urlsafe(16)
        page = console_page(
            title=printable(self.title, 200), websocket_url=websocket_url, nonce=nonce,
            font_size=max(8, min(40, to_int(request.query.get("fontsize"), 16))))
        response = web.Response(text=page, content_type="text/html")
        response.headers["Content-Security-Policy"] = content_security_policy(
            websocket_url, nonce)
        return response

    def same_origin(self, origin: str, request: web.Request) -> bool:
        """The Origin of a websocket is this server's: scheme, host and port."""
        scheme = "https" if request.secure else "http"
        try:
            seen = urlsplit(origin)
            ours = urlsplit(f"{scheme}://{request.host}")
            default = 443 if scheme == "https" else 80
            return (seen.scheme == scheme and seen.hostname is not None
                    and seen.hostname == ours.hostname
                    and (seen.port or default) == (ours.port or default))
        except ValueError:
            return False

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:  # type: ignore[override]
        origin = request.headers.get("Origin")
        if origin is not None and not self.same_origin(origin, request):
            self.log(f"refused {request.remote}: websocket from another origin "
                     f"({printable(origin, 100)})")
            raise web.HTTPForbidden(text="ferrite-tui serve: cross-origin websocket refused\n")
        if self.stopping:
            raise web.HTTPServiceUnavailable(text="ferrite-tui serve: stopping\n")
        owner = digest(request.cookies.get(SESSION_COOKIE, ""))
        width, height = clamp_size(request.query.get("width"), request.query.get("height"))
        console = self.reattachable(request.query.get("resume"), owner)
        new = console is None
        if console is None:
            if len(self.sessions) >= self.max_sessions and not await self.evict_detached():
                self.log(f"refused {request.remote}: {self.max_sessions} sessions in use")
                raise web.HTTPServiceUnavailable(text=self.full_message())
            session = BrowserSession(remote=request.remote or "?", writes=self.allow_writes)
            console = ConsoleProcess(self.argv, {**self.environ, **session.environ()},
                                     owner=owner, remote=session.remote,
                                     download_manager=self.download_manager)
        else:
            console.detached_at = None
            if console.grace_task is not None:
                console.grace_task.cancel()
                console.grace_task = None
        websocket = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=MAX_MESSAGE_BYTES)
        previous, self.sessions[console] = self.sessions.get(console), websocket  # counted now
        started = not new
        try:
            await websocket.prepare(request)
            if previous is not None and not previous.closed:
                # The same page came back before its old connection was seen to drop.
                await previous.close(code=TAKEN_OVER, message=b"reattached elsewhere")
            console.websocket = websocket
            await websocket.send_json(["ferrite_session", {"id": console.session_id,
                                                           "grace_s": self.grace_s}])
            if new:
                await console.start(width, height)
                started = True
                self.log(f"session from {console.remote} started, pid {console.pid}, "
                         f"{'writes allowed' if self.allow_writes else 'read-only'} "
                         f"({len(self.sessions)}/{self.max_sessions})")
            else:
                self.log(f"session from {console.remote} reattached (pid {console.pid}), "
                         f"from {request.remote}")
                await console.redraw(width, height)
            await self._process_messages(websocket, console)
        except asyncio.CancelledError:
            pass
        except Exception as exc:
            self.log(f"session from {console.remote}: {type(exc).__name__}: "
                     f"{printable(str(exc), 200)}")
        finally:
            await self.after_websocket(console, websocket, started)
        return websocket

    async def after_websocket(self, console: ConsoleProcess, websocket: web.WebSocketResponse,
                              started: bool) -> None:
        """The page's connection is over: end the console if it quit, if the page closed
        on purpose (code 1000) or if serve is stopping; else let it wait for the page."""
        if console.websocket is not websocket and console.websocket is not None:
            return  # another connection took this console over
        console.websocket = None
        code = websocket.close_code
        if not websocket.closed:
            await websocket.close()
        if console.exited or self.stopping or not started or code == 1000 or not self.grace_s:
            await self.retire(console)
            return
        self.sessions[console] = None
        console.detached_at = time.monotonic()
        console.grace_task = asyncio.create_task(self.end_after_grace(console))
        self.log(f"session from {console.remote} detached (connection lost, code {code}): "
                 f"its console waits {self.grace_s / 60:g} min for the page to come back")

    def reattachable(self, session_id: str | None, owner: bytes) -> ConsoleProcess | None:
        """The console a page asks to come back to, if that page's browser owns it."""
        if not session_id:
            return None
        for console in self.sessions:
            if console.session_id == session_id and not console.exited and \
                    hmac.compare_digest(console.owner, owner):
                return console
        return None

    async def evict_detached(self) -> bool:
        """Make room by ending the console detached the longest; False when none is."""
        detached = [c for c, ws in self.sessions.items() if ws is None and c.detached_at]
        if not detached:
            return False
        oldest = min(detached, key=lambda c: c.detached_at or 0.0)
        self.log(f"session from {oldest.remote} ended to make room: its page was away")
        await self.retire(oldest)
        return True

    async def end_after_grace(self, console: ConsoleProcess) -> None:
        await asyncio.sleep(self.grace_s)
        console.grace_task = None
        self.log(f"session from {console.remote}: its page did not come back within "
                 f"{self.grace_s / 60:g} min")
        await self.retire(console)

    async def retire(self, console: ConsoleProcess) -> None:
        """End a console for good and forget its session. Idempotent."""
        if console.grace_task is not None:
            console.grace_task.cancel()
            console.grace_task = None
        await console.end()
        if self.sessions.pop(console, _ABSENT) is not _ABSENT:
            self.log(f"session from {console.remote} ended "
                     f"({len(self.sessions)}/{self.max_sessions})")

    async def _process_messages(self, websocket: web.WebSocketResponse,  # type: ignore[override]
                                app_service: ConsoleProcess) -> None:
        """The page's messages, as textual-serve reads them, but a message that is not
        what the page sends is dropped (not a session-ending exception), and a resize is
        clamped like the first size."""
        async for message in websocket:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                envelope = json.loads(message.data)
            except ValueError:
                continue
            if not isinstance(envelope, list) or not envelope:
                continue
            kind, data = envelope[0], envelope[1] if len(envelope) > 1 else None
            if kind == "stdin" and isinstance(data, str):
                await app_service.send_bytes(data.encode("utf-8", "replace"))
            elif kind == "resize" and isinstance(data, dict):
                await app_service.set_terminal_size(
                    *clamp_size(data.get("width"), data.get("height")))
            elif kind == NAVIGATE_META and isinstance(data, str):
                await app_service.navigate(data)
            elif kind == "ping" and isinstance(data, str):
                await websocket.send_json(["pong", data[:32]])
            elif kind == "blur":
                await app_service.blur()
            elif kind == "focus":
                await app_service.focus()

    async def end_sessions(self) -> None:
        self.stopping = True
        consoles = list(self.sessions)
        websockets = [ws for ws in self.sessions.values() if ws is not None]
        for console in consoles:
            if console.grace_task is not None:
                console.grace_task.cancel()
        await asyncio.gather(*(console.end() for console in consoles), return_exceptions=True)
        for websocket in websockets:
            if not websocket.closed:
                await websocket.close(message=b"server stopping")

    # -- running --------------------------------------------------------------------------

    async def run(self, on_ready=None) -> int:
        app = await self._make_app()
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=5)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            try:
                await site.start()
            except OSError as exc:
                return fail(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}")
            self.bound_port = runner.addresses[0][1]
            self.link_base = f"http://{url_host(self.host)}:{self.bound_port}/"
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            loop.add_signal_handler(signal.SIGUSR1, self.print_link)
            reading_keys = self.read_enter_for_links(loop)
            if on_ready is not None:
                on_ready(self)
            try:
                await stop.wait()
            finally:
                if reading_keys:
                    loop.remove_reader(sys.stdin.fileno())
            count = len(self.sessions)
            self.log(f"stopping: ending {count} console process{'es' if count != 1 else ''}")
            await self.end_sessions()
        finally:
            await runner.cleanup()
        self.log("stopped")
        return 0


    def read_enter_for_links(self, loop: asyncio.AbstractEventLoop) -> bool:
        """On a terminal, Enter prints a fresh link. False when stdin is no terminal."""
        try:
            fd = sys.stdin.fileno()
            if not os.isatty(fd):
                return False
        except (AttributeError, OSError, ValueError):
            return False

        def typed() -> None:
            try:
                data = os.read(fd, 1024)
            except OSError:
                data = b""
            if not data:  # the terminal is gone: stop listening
                loop.remove_reader(fd)
            elif b"\n" in data or b"\r" in data:
                self.print_link()

        loop.add_reader(fd, typed)
        return True


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.max_sessions < 1:
        return fail("--max-sessions must be at least 1")
    if not args.link_minutes > 0:
        return fail("--link-minutes must be more than 0")
    if not args.grace_minutes >= 0:
        return fail("--grace-minutes must be 0 or more")
    try:
        cfg = with_command_line(load(args.config), args, "serve")
        settings = resolve_settings(cfg, args.url, args.profile)
        token, token_source = read_token(args.token_file)
    except (ConfigError, BackendError) as exc:
        return fail(str(exc))
    if settings is None:
        return fail("give the server to serve: a URL or --profile NAME")
    # Each console reconnects on its own, so a server down now is a warning, not an error.
    problem = asyncio.run(check_server(cfg, settings))
    if problem:
        print(f"ferrite-tui serve: warning: {problem}; every console will show it and retry",
              file=sys.stderr)
    if not is_loopback(args.host):
        print(f"ferrite-tui serve: warning: listening on {args.host}, not loopback: anyone "
              "who reaches this port and has the token gets a console; the traffic is plain "
              "HTTP, so put TLS in front of it", file=sys.stderr)
    allow_writes = args.allow_writes and not settings.read_only
    server = ConsoleServer(
        console_command(settings, args, allow_writes),
        console_environ(settings, serve_origins(cfg, settings, allow_writes)),
        links=Links(long_lived=token, ttl_s=args.link_minutes * 60), host=args.host,
        port=args.port, max_sessions=args.max_sessions,
        allow_writes=allow_writes, title=f"ferrite-tui · {settings.display_url}",
        grace_s=args.grace_minutes * 60,
    )

    def announce(server: ConsoleServer) -> None:
        mode = ("writes allowed (--allow-writes)" if allow_writes
                else "read-only (serve --allow-writes to allow changes)")
        print(f"ferrite-tui serve: {settings.display_url} in the browser, {mode}, "
              f"up to {args.max_sessions} sessions; ctrl+c stops", flush=True)
        if token_source:
            print(f"Open: {server.link_base}?token=<the token from {token_source}>",
                  flush=True)
        else:
            server.print_link()

    try:
        return asyncio.run(server.run(on_ready=announce))
    except KeyboardInterrupt:
        return 130


__all__ = ["REMOTE_ENV", "WRITES_ENV", "main"]
