"""`ferrite-tui serve`: the same console in a browser, through textual-serve.

Each browser session gets a console process of its own (the normal `ferrite-tui` command
with Textual's web driver). The server around them adds what textual-serve leaves out:

- a token for every request: `/?token=T` sets an HttpOnly, SameSite=Strict cookie and
  redirects to `/`, so the token leaves the address bar; every page, static file and
  websocket then needs that cookie. Without it: 401 (none given) or 403 (wrong), and no
  console process is started;
- a cap on concurrent sessions (503 with a reason beyond it);
- read-only consoles unless `--allow-writes`; the session (remote address, mode) reaches
  the console through its environment, for its header and the audit log;
- the server's password stays out of every console's argv and out of the page: consoles get
  the URL without it and the password in REDISCLI_AUTH;
- on ctrl+c / SIGTERM every console process is asked to quit, then terminated, then killed.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import ipaddress
import os
import secrets
import shlex
import signal
import stat
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server

from ferrite_tui.backend.client import BackendError, ConnectionSettings, redact_url
from ferrite_tui.config import ConfigError, load
from ferrite_tui.escaping import printable
from ferrite_tui.websession import REMOTE_ENV, WRITES_ENV, BrowserSession

TOKEN_ENV = "FERRITE_TUI_SERVE_TOKEN"
TOKEN_COOKIE = "ferrite_tui_token"
PASSWORD_ENV = "REDISCLI_AUTH"
MIN_TOKEN_LENGTH = 16
DEFAULT_MAX_SESSIONS = 4
# How long a console gets to quit on request before it is terminated, then killed.
QUIT_GRACE_S = 5.0
TERM_GRACE_S = 3.0

EXIT_FAIL = 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ferrite-tui serve",
        description="Serve the console in a browser (one console process per session).",
        epilog=f"The token comes from --token-file, else ${TOKEN_ENV}, else is generated "
               "and printed in the URL to open.",
    )
    p.add_argument("url", nargs="?", help="redis://, rediss:// or unix:// URL")
    p.add_argument("--config", metavar="PATH", help="config file (default: platform config dir)")
    p.add_argument("--profile", metavar="NAME", help="profile from the config")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; anything else is reachable "
                        "by others)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--allow-writes", action="store_true",
                   help="let browser sessions change data (default: read-only)")
    p.add_argument("--max-sessions", type=int, default=DEFAULT_MAX_SESSIONS, metavar="N",
                   help=f"concurrent browser sessions (default {DEFAULT_MAX_SESSIONS})")
    p.add_argument("--token-file", metavar="FILE", help="read the access token from FILE")
    return p


def fail(message: str) -> int:
    print(f"ferrite-tui serve: {message}", file=sys.stderr)
    return EXIT_FAIL


def read_token(token_file: str | None, environ=os.environ) -> tuple[str, str]:
    """(token, where it came from). Raises ConfigError for an unusable file or value."""
    if token_file:
        path = Path(token_file).expanduser()
        try:
            token = path.read_text(encoding="utf-8").strip()
            mode = path.stat().st_mode
        except OSError as exc:
            raise ConfigError(f"token file {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"token file {path}: not UTF-8 text") from None
        source = f"the file {path}"
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            print(f"ferrite-tui serve: warning: {path} is readable by other users "
                  f"(chmod 600 it)", file=sys.stderr)
    elif environ.get(TOKEN_ENV):
        token, source = environ[TOKEN_ENV].strip(), f"${TOKEN_ENV}"
    else:
        return secrets.token_urlsafe(24), ""
    if len(token) < MIN_TOKEN_LENGTH or any(c.isspace() or not c.isprintable() for c in token):
        raise ConfigError(f"the token from {source} must be at least {MIN_TOKEN_LENGTH} "
                          "printable characters without spaces")
    return token, source


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_without_password(url: str) -> str:
    """The URL with no password, neither in its user part nor as a `password=` parameter."""
    # Split by hand: urlunsplit would turn unix:///path into unix:/path.
    base, _, query = redact_url(url, mask="").partition("?")
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True)
            if k.lower() != "password"]
    return f"{base}?{urlencode(kept)}" if kept else base


def console_command(settings: ConnectionSettings, args, allow_writes: bool) -> list[str]:
    """The argv of one console process: the URL without its password, never a secret."""
    argv = [sys.executable, "-m", "ferrite_tui", url_without_password(settings.url)]
    if args.profile:
        argv += ["--profile", args.profile]
    if args.config:
        argv += ["--config", str(Path(args.config).expanduser().resolve())]
    if not allow_writes:
        argv.append("--read-only")
    return argv


def console_environ(settings: ConnectionSettings) -> dict[str, str | None]:
    """Changes to the serving process's environment for every console (None: remove)."""
    in_query = [v for k, v in parse_qsl(settings.url.partition("?")[2]) if k.lower() == "password"]
    return {
        # The URL given to the console has no password: it comes from here.
        PASSWORD_ENV: settings.password or (in_query[-1] if in_query else None),
        TOKEN_ENV: None,  # consoles never need the access token
    }


class ConsoleProcess(AppService):
    """One browser session's console: started without a shell, in a process group of its
    own (so that terminating it reaches everything it started), with the session in its
    environment."""

    def __init__(self, argv: list[str], environ: dict[str, str | None], **kwargs) -> None:
        super().__init__(shlex.join(argv), **kwargs)
        self.argv = argv
        self.environ_changes = environ
        self._ended = False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        environment = super()._build_environment(width=width, height=height)
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


class ConsoleServer(Server):
    """textual-serve's server with token access, a session cap and managed consoles."""

    def __init__(self, argv: list[str], environ: dict[str, str | None], *, token: str,
                 host: str, port: int, max_sessions: int, allow_writes: bool,
                 title: str) -> None:
        super().__init__(shlex.join(argv), host=host, port=port, title=title)
        self.argv = argv
        self.environ = environ
        self.token = token
        self.max_sessions = max_sessions
        self.allow_writes = allow_writes
        self.sessions: dict[ConsoleProcess, web.WebSocketResponse | None] = {}
        self.stopping = False
        self.bound_port: int | None = None

    # -- access ---------------------------------------------------------------------------

    def token_ok(self, supplied: str | None) -> bool:
        return supplied is not None and hmac.compare_digest(supplied.encode(), self.token.encode())

    def log(self, message: str) -> None:
        # Exceptions and request data in a line: escaped (one line, valid UTF-8).
        print(f"ferrite-tui serve: {printable(message)}", file=sys.stderr, flush=True)

    @web.middleware
    async def access_middleware(self, request: web.Request, handler):
        supplied = request.query.get("token")
        if supplied is not None:
            if not self.token_ok(supplied):
                self.log(f"refused {request.remote}: wrong token")
                raise web.HTTPForbidden(text="ferrite-tui serve: wrong token\n")
            if request.method == "GET" and request.path == "/":
                # Trade the token in the address bar for a cookie, then drop it from the URL.
                rest = [(k, v) for k, v in request.query.items() if k != "token"]
                location = "/" + (f"?{urlencode(rest)}" if rest else "")
                response = web.HTTPSeeOther(location=location)
                response.set_cookie(TOKEN_COOKIE, self.token, path="/", httponly=True,
                                    samesite="Strict", secure=request.secure)
                raise response
        elif not self.token_ok(request.cookies.get(TOKEN_COOKIE)):
            given = TOKEN_COOKIE in request.cookies
            self.log(f"refused {request.remote}: {'wrong' if given else 'no'} token")
            if given:
                raise web.HTTPForbidden(text="ferrite-tui serve: wrong token\n")
            raise web.HTTPUnauthorized(
                text="ferrite-tui serve: open the URL printed by `ferrite-tui serve` "
                     "(it carries ?token=...)\n")
        response = await handler(request)
        return response

    @staticmethod
    async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
        # Keys typed into a framed console would reach the server: never allow framing.
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"

    def full_message(self) -> str:
        return (f"ferrite-tui serve: all {self.max_sessions} browser sessions are in use; "
                "close one, or restart serve with a larger --max-sessions\n")

    # -- the web app ----------------------------------------------------------------------

    async def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self.access_middleware])
        aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(self.templates_path))
        app.add_routes([
            web.get("/", self.handle_index, name="index"),
            web.get("/ws", self.handle_websocket, name="websocket"),
            web.get("/download/{key}", self.handle_download, name="download"),
            web.static("/static", self.statics_path, name="static"),
        ])
        app.on_response_prepare.append(self.security_headers)
        return app

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        if len(self.sessions) >= self.max_sessions:
            raise web.HTTPServiceUnavailable(text=self.full_message())
        # The websocket goes to the host the browser used, so that the cookie goes with it.
        scheme = "wss" if request.secure else "ws"
        context = {
            "font_size": max(8, min(40, _to_int(request.query.get("fontsize"), 16))),
            "app_websocket_url": f"{scheme}://{request.host}/ws",
            "config": {"static": {"url": "/static/"}},
            "application": {"name": self.title},
        }
        return aiohttp_jinja2.render_template("app_index.html", request, context)

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:  # type: ignore[override]
        origin = request.headers.get("Origin")
        if origin is not None and origin.split("://", 1)[-1] != request.host:
            self.log(f"refused {request.remote}: websocket from another origin ({origin})")
            raise web.HTTPForbidden(text="ferrite-tui serve: cross-origin websocket refused\n")
        if self.stopping:
            raise web.HTTPServiceUnavailable(text="ferrite-tui serve: stopping\n")
        if len(self.sessions) >= self.max_sessions:
            self.log(f"refused {request.remote}: {self.max_sessions} sessions in use")
            raise web.HTTPServiceUnavailable(text=self.full_message())
        session = BrowserSession(remote=request.remote or "?", writes=self.allow_writes)
        websocket = web.WebSocketResponse(heartbeat=15)
        console = ConsoleProcess(
            self.argv, {**self.environ, **session.environ()},
            write_bytes=websocket.send_bytes, write_str=websocket.send_str,
            close=websocket.close, download_manager=self.download_manager,
        )
        self.sessions[console] = websocket  # counted from here, before any await
        try:
            await websocket.prepare(request)
            width = _to_int(request.query.get("width"), 80)
            height = _to_int(request.query.get("height"), 24)
            await console.start(width, height)
            self.log(f"session from {session.remote} started, pid {console.pid}, "
                     f"{'writes allowed' if session.writes else 'read-only'} "
                     f"({len(self.sessions)}/{self.max_sessions})")
            await self._process_messages(websocket, console)
        except asyncio.CancelledError:
            pass
        except Exception as exc:
            self.log(f"session from {session.remote}: {type(exc).__name__}: {exc}")
        finally:
            await console.end()
            del self.sessions[console]
            if not websocket.closed:
                await websocket.close()
            self.log(f"session from {session.remote} ended "
                     f"({len(self.sessions)}/{self.max_sessions})")
        return websocket

    async def end_sessions(self) -> None:
        self.stopping = True
        consoles = list(self.sessions)
        await asyncio.gather(*(console.end() for console in consoles), return_exceptions=True)
        for websocket in list(self.sessions.values()):
            if websocket is not None and not websocket.closed:
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
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            if on_ready is not None:
                on_ready(self)
            await stop.wait()
            count = len(self.sessions)
            self.log(f"stopping: ending {count} console process{'es' if count != 1 else ''}")
            await self.end_sessions()
        finally:
            await runner.cleanup()
        self.log("stopped")
        return 0


async def check_server(cfg, settings: ConnectionSettings) -> str | None:
    """One connection, as a console will make it: the reason it fails, or None."""
    from ferrite_tui.backend.client import describe_error
    from ferrite_tui.backend.monitor import Monitor

    monitor = Monitor(settings, cfg)
    try:
        await monitor.connect()
    except BackendError as exc:
        return str(exc)
    except Exception as exc:
        return describe_error(exc, settings)
    finally:
        await monitor.aclose()
    return None


def _to_int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def main(argv: list[str]) -> int:
    from ferrite_tui.cli import resolve_settings

    args = build_parser().parse_args(argv)
    if args.max_sessions < 1:
        return fail("--max-sessions must be at least 1")
    try:
        cfg = load(args.config)
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
        console_command(settings, args, allow_writes), console_environ(settings),
        token=token, host=args.host, port=args.port, max_sessions=args.max_sessions,
        allow_writes=allow_writes, title=f"ferrite-tui · {settings.display_url}",
    )

    def announce(server: ConsoleServer) -> None:
        base = f"http://{url_host(args.host)}:{server.bound_port}/"
        shown = f"{base}?token=<the token from {token_source}>" if token_source else \
            f"{base}?{urlencode({'token': token})}"
        mode = ("writes allowed (--allow-writes)" if allow_writes
                else "read-only (serve --allow-writes to allow changes)")
        print(f"ferrite-tui serve: {settings.display_url} in the browser, {mode}, "
              f"up to {args.max_sessions} sessions; ctrl+c stops", flush=True)
        print(f"Open: {shown}", flush=True)

    try:
        return asyncio.run(server.run(on_ready=announce))
    except KeyboardInterrupt:
        return 130


__all__ = ["REMOTE_ENV", "WRITES_ENV", "main"]
