"""`ferrite-tui serve`, run as the real command against a real server, driven through
textual-serve's websocket protocol (the browser itself is in test_serve_browser.py).

Every test checks the console processes in /proc: none may start without the token, none
may be left after serve stops.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from urllib.parse import urlsplit

import aiohttp
import pytest
import redis

from ferrite_tui.servesetup import console_environ, is_loopback, url_without_password
from ferrite_tui.webconsole import MAX_COLUMNS, MAX_ROWS, clamp_size
from helpers import async_wait_until, running, wait_until
from serving import (
    REPO_ROOT,
    SESSION_COOKIE,
    Terminal,
    alive,
    cmdline,
    environ,
    open_link,
    serving,
)

DEAD_LETTER = json.dumps({"job": {"id": "job-1", "payload": {"n": 1}, "retry_count": 3,
                                  "last_error": "boom", "first_attempt": 1},
                          "dead_at": 1, "reason": "timeout"})


@pytest.fixture
def queues(redis_url: str) -> str:
    client = redis.Redis.from_url(redis_url)
    try:
        client.rpush("queue:orders", "a", "b", "c")
        client.rpush("queue:orders:dlq", DEAD_LETTER)
    finally:
        client.close()
    return redis_url


async def http_get(url: str, cookies: dict | None = None) -> tuple[int, str, dict]:
    async with aiohttp.ClientSession(cookies=cookies) as session, \
            session.get(url, allow_redirects=False) as response:
        return response.status, await response.text(), dict(response.headers)


async def ws_status(url: str, cookies: dict | None = None, origin: str | None = None) -> int:
    """The HTTP status a websocket handshake gets (101 when it opens)."""
    async with aiohttp.ClientSession(cookies=cookies) as session:
        try:
            ws = await session.ws_connect(url, origin=origin)
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status
        await ws.close()
        return 101


async def test_every_request_needs_the_session_cookie(queues, tmp_path):
    with serving([queues], tmp_path) as served:
        base, token = served.base, served.token
        assert (await http_get(base))[0] == 401
        status, body, _ = await http_get(base + "static/js/textual.js")
        assert status == 401 and "Open the URL printed" in body
        assert (await http_get(base + "?token=not-the-token"))[0] == 403
        assert await ws_status(served.ws_url) == 401
        assert served.consoles() == set()
        assert "session from" not in served.stderr()

        # The token is taken on the first page load only, never on the websocket or assets.
        assert await ws_status(f"{served.ws_url}?token={token}") == 401
        assert (await http_get(f"{base}static/js/textual.js?token={token}"))[0] == 401

        # The token buys a cookie holding another secret, and leaves the address bar.
        status, _, headers = await http_get(served.url)
        assert status == 303 and headers["Location"] == "/"
        cookie = headers["Set-Cookie"]
        secret = cookie.split(f"{SESSION_COOKIE}=", 1)[1].split(";", 1)[0]
        assert token not in cookie and len(secret) >= 32
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        cookies = {SESSION_COOKIE: secret}
        status, page, headers = await http_get(base, cookies=cookies)
        assert status == 200 and "/ws" in page
        assert headers["X-Frame-Options"] == "DENY"
        assert (await http_get(base + "static/js/textual.js", cookies))[0] == 200
        assert served.consoles() == set()  # a page alone starts nothing

        # A websocket from another site is refused even with the cookie.
        async with aiohttp.ClientSession(cookies=cookies) as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(served.ws_url, origin="http://evil.example")
        assert refused.value.status == 403
        assert served.consoles() == set()


async def test_a_link_opens_once_and_a_fresh_one_is_printed_on_demand(queues, tmp_path):
    with serving([queues], tmp_path) as served:
        status, _, headers = await http_get(served.url)
        assert status == 303
        # Spent: the URL left in a browser's history opens nothing, and says what to do.
        status, body, headers = await http_get(served.url)
        assert status == 403 and "Set-Cookie" not in headers
        assert "already used" in body and f"kill -USR1 {served.process.pid}" in body
        assert served.consoles() == set()

        served.process.send_signal(signal.SIGUSR1)
        fresh = wait_until(lambda: served.links()[-1] if served.links()[1:] else "",
                           message="no fresh link after SIGUSR1")
        assert fresh != served.url
        assert (await http_get(fresh))[0] == 303
        assert (await http_get(fresh))[0] == 403
        assert "link opened from 127.0.0.1" in served.stderr()


def test_enter_on_serves_terminal_prints_a_fresh_link(queues, tmp_path):
    import os
    import pty

    keyboard, terminal = pty.openpty()
    try:
        with serving([queues], tmp_path, stdin=terminal) as served:
            os.write(keyboard, b"\n")
            fresh = wait_until(lambda: served.links()[-1] if served.links()[1:] else "",
                               message="Enter printed no fresh link")
            assert fresh != served.url
            assert _status(fresh) == 303
    finally:
        os.close(keyboard)
        os.close(terminal)


async def test_an_unused_link_expires(queues, tmp_path):
    with serving([queues, "--link-minutes", "0.02"], tmp_path) as served:  # 1.2 s
        wait_until(lambda: "expired unused" in served.stderr(), timeout=30,
                   message="serve never said the link expired")
        status, body, headers = await http_get(served.url)
        assert status == 403 and "has expired" in body and "Set-Cookie" not in headers


async def test_an_old_cookie_after_a_restart_is_told_to_use_the_new_link(queues, tmp_path):
    with serving([queues], tmp_path / "first") as first:
        old = first.cookies()
        assert (await http_get(first.base, old))[0] == 200
    with serving([queues], tmp_path / "second") as second:
        status, body, _ = await http_get(second.base, old)
        assert status == 403 and "open the new link" in body and "wrong token" not in body
        assert await ws_status(second.ws_url, old) == 403
        assert second.consoles() == set()


async def test_wrong_tokens_are_slowed_then_locked_out_and_logged_once(queues, tmp_path):
    with serving([queues], tmp_path) as served:
        cookies = served.cookies()  # a session opened before the attack keeps working
        served.process.send_signal(signal.SIGUSR1)
        unused_link = wait_until(lambda: served.links()[-1] if served.links()[1:] else "")
        wrong = [http_get(f"{served.base}?token=guess-{n}") for n in range(14)]
        statuses = [status for status, _, _ in await asyncio.gather(*wrong)]
        # Five answered at once, five held and refused, the tenth locks the address out.
        assert statuses.count(403) == 10 and statuses.count(429) == 4, statuses
        status, body, headers = await http_get(unused_link)  # the right token, now...
        assert status == 429 and "Set-Cookie" not in headers  # ...is refused too
        assert "locked out" in body.lower()
        assert (await http_get(served.base, cookies))[0] == 200
        log = served.stderr()
        assert log.count("refused 127.0.0.1") == 1, log
        assert log.count("locked out 127.0.0.1") == 1, log


async def test_websocket_origin_must_match_scheme_host_and_port(queues, tmp_path):
    with serving([queues], tmp_path) as served:
        cookies = served.cookies()
        port = urlsplit(served.base).port
        own = f"http://127.0.0.1:{port}"
        for origin, expected in ((f"https://127.0.0.1:{port}", 403),
                                 (f"http://127.0.0.1:{port + 1}", 403),
                                 ("http://127.0.0.1", 403),
                                 (f"http://localhost:{port}", 403),
                                 ("null", 403)):
            assert await ws_status(served.ws_url, cookies, origin=origin) == expected, origin
        assert served.consoles() == set()
        assert await ws_status(served.ws_url, cookies, origin=own) == 101


async def test_the_terminal_size_is_clamped(queues, tmp_path):
    with serving([queues], tmp_path) as served:
        async with Terminal(served, width=500, height=200, ask=(5000, 5000)) as term:
            await term.wait_for("queue:orders")
            (console,) = served.consoles()
            assert (environ(console)["COLUMNS"], environ(console)["ROWS"]) == ("500", "200")
            # A resize asking for more gets the same bound; a malformed message is dropped
            # without ending the session.
            await term.ws.send_str("not json")
            await term.ws.send_str(json.dumps(["resize", {"width": "x", "height": None}]))
            await term.ws.send_str(json.dumps(["stdin", "\ud800"]))
            await term.ws.send_str(json.dumps(["resize", {"width": 9000, "height": 9000}]))
            await term.ws.send_str(json.dumps(["ping", "probe"]))
            await term.wait_for_message(lambda m: m == ["pong", "probe"])
            assert served.consoles() == {console}
            assert "session from 127.0.0.1 ended" not in served.stderr()


async def test_a_dropped_connection_comes_back_to_the_same_console(queues, tmp_path):
    with serving([queues], tmp_path) as served:
        async with Terminal(served) as first:
            await first.wait_for("queue:orders:dlq")
            await first.press("6")
            await first.wait_for("timeout")  # the Dead letters panel, on its dead letter
            (console,) = served.consoles()
            session_id = first.session_id
            assert session_id
            await first.drop()
            wait_until(lambda: "detached" in served.stderr(), timeout=30,
                       message="serve never saw the connection drop")
            assert served.consoles() == {console}  # waiting for its page
        async with Terminal(served, resume=session_id) as again:
            # Nothing pressed: the same console draws its Dead letters panel again.
            await again.wait_for("timeout")
            assert again.screen.cursor.hidden  # no stray block cursor on the new page
            assert served.consoles() == {console}
            assert "reattached" in served.stderr()
            # Another browser (another session cookie) cannot take that console.
            served.process.send_signal(signal.SIGUSR1)
            other_link = wait_until(lambda: served.links()[-1] if served.links()[1:] else "")
            other = {SESSION_COOKIE: open_link(other_link)}
            async with Terminal(served, resume=session_id, cookies=other) as stranger:
                await stranger.wait_for("Overview")
                assert len(served.consoles()) == 2
        # A page that closes on purpose (code 1000) ends its console at once.
        await async_wait_until(lambda: not served.consoles(), timeout=60,
                               message="consoles left after their pages closed")


async def test_a_console_whose_page_never_comes_back_ends_after_the_grace(queues, tmp_path):
    with serving([queues, "--grace-minutes", "0.02"], tmp_path) as served:  # 1.2 s
        async with Terminal(served) as term:
            await term.wait_for("queue:orders:dlq")
            (console,) = served.consoles()
            await term.drop()
            await async_wait_until(lambda: not alive(console), timeout=60,
                                   message="the detached console outlived its grace")
        assert "did not come back within" in served.stderr()
        # Its id opens a new console now, not an error.
        async with Terminal(served, resume=term.session_id) as later:
            await later.wait_for("queue:orders:dlq")
            assert served.consoles() and console not in served.consoles()


def test_page_sizes_are_clamped():
    assert clamp_size(5000, 5000) == (MAX_COLUMNS, MAX_ROWS) == (500, 200)
    assert clamp_size("120", "40") == (120, 40)
    assert clamp_size(-3, 0) == (1, 1)
    assert clamp_size(None, "x") == (80, 24)
    assert clamp_size(True, 2.5) == (80, 24)


async def test_read_only_by_default(queues, tmp_path):
    with serving([queues], tmp_path) as served:
        async with Terminal(served) as term:
            screen = await term.wait_for("queue:orders:dlq")
            assert "WEB READ-ONLY" in screen
            await term.press("6")
            await term.wait_for("timeout")  # the dead letter's reason, in the item list
            await term.press("\r")  # into the entries: their footer adds the paging keys
            await term.wait_for(" home ")
            await term.press("r")
            await term.wait_for("read-only mode: 'requeue")
            (console,) = served.consoles()
            assert "--read-only" in cmdline(console)
    client = redis.Redis.from_url(queues)
    try:
        assert client.llen("queue:orders:dlq") == 1 and client.llen("queue:orders") == 3
    finally:
        client.close()


async def test_a_read_only_session_opens_no_file_dialog_and_makes_no_folder(queues, tmp_path):
    with serving([queues], tmp_path) as served:
        async with Terminal(served) as term:
            await term.wait_for("queue:orders:dlq")
            await term.press("6")
            await term.wait_for("timeout")
            await term.press("x")  # export the dead letters
            screen = await term.wait_for("'export' would write a file on the server host")
            assert "NDJSON" not in screen  # no dialog
            await term.press("\r")  # into the entries
            await term.wait_for(" home ")
            await term.press("\r")  # the inspector, on the dead letter
            await term.wait_for("job-1")
            await term.press("s")  # save the raw value
            screen = await term.wait_for("'save' would write a file on the server host")
            assert "Save the raw value" not in screen
    data = tmp_path / "data"
    assert not [p for p in data.rglob("*") if p.name in ("exports", "saved", "recordings")]


async def test_the_mouse_wheel_pages_a_list(redis_url, tmp_path):
    client = redis.Redis.from_url(redis_url)
    try:
        client.rpush("queue:big", *[f"item-{n}" for n in range(300)])
    finally:
        client.close()
    with serving([redis_url], tmp_path) as served:
        async with Terminal(served) as term:
            await term.wait_for("queue:big")
            await term.press("2")
            await term.wait_for("item-0 ")  # the Queues panel, on the list's first page
            await term.wheel(down=True, column=60, row=20)  # over the items
            screen = await term.wait_for_screen(
                lambda text: " of 300" in text and "items 0–" not in text)
            assert "item-0 " not in screen
            await term.wheel(down=False, column=60, row=20)
            await term.wait_for_screen(lambda text: "items 0–" in text)


async def test_allow_writes_and_the_audit_log_names_the_browser(queues, tmp_path):
    client = redis.Redis.from_url(queues)
    with serving([queues, "--allow-writes"], tmp_path) as served:
        async with Terminal(served) as term:
            assert "WEB WRITES ON" in await term.wait_for("queue:orders:dlq")
            await term.press("6")
            await term.wait_for("timeout")
            await term.press("\r")  # into the entries: their footer adds the paging keys
            await term.wait_for(" home ")
            await term.press("r")
            await async_wait_until(lambda: client.llen("queue:orders:dlq") == 0, timeout=60,
                                   message="the dead letter was never requeued")
            # The audit line is written once the move's result is back: wait for it before
            # the session (and its console) is closed.
            await async_wait_until(lambda: any(log.stat().st_size for log in
                                               (tmp_path / "state").rglob("audit.log")),
                                   timeout=30, message="no audit line")
    try:
        assert client.llen("queue:orders") == 4
    finally:
        client.close()
    (log,) = (tmp_path / "state").rglob("audit.log")
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["remote"] for e in entries] == ["127.0.0.1"]
    assert entries[0]["ids"] == ["job-1"]


async def test_the_password_stays_in_the_serving_process(server_factory, tmp_path):
    password = "s3cret-Pa55"
    server = server_factory(password=password)
    client = redis.Redis(host=server.host, port=server.port, password=password)
    try:
        client.rpush("queue:billing", "x")
    finally:
        client.close()
    url = f"redis://:{password}@{server.host}:{server.port}"
    with serving([url], tmp_path) as served:
        assert password not in "".join(served.stdout_lines)
        async with Terminal(served) as term:
            screen = await term.wait_for("queue:billing")  # connected: the password worked
            assert "● live" in screen and password not in screen
            (console,) = served.consoles()
            assert not any(password in arg for arg in cmdline(console))
            assert environ(console)["REDISCLI_AUTH"] == password
            assert "FERRITE_TUI_SERVE_TOKEN" not in environ(console)
            _, page, _ = await http_get(served.base, cookies=served.cookies())
            assert password not in page and f"{server.host}:{server.port}" in page
        assert password not in served.stderr()


@pytest.mark.once
@pytest.mark.scenario
async def test_sessions_are_capped(queues, tmp_path):
    with serving([queues, "--max-sessions", "1"], tmp_path) as served:
        cookies = served.cookies()
        served.process.send_signal(signal.SIGUSR1)
        other_link = wait_until(lambda: served.links()[-1] if served.links()[1:] else "")
        other_browser = {SESSION_COOKIE: open_link(other_link)}
        async with Terminal(served) as first:
            await first.wait_for("queue:orders")
            assert len(served.consoles()) == 1
            assert await ws_status(served.ws_url, cookies) == 503
            status, body, _ = await http_get(served.base, other_browser)
            assert status == 503 and "all 1 browser sessions are in use" in body
            # The browser whose console it is gets its page (a reload comes back to it).
            assert (await http_get(served.base, cookies))[0] == 200
            assert len(served.consoles()) == 1
        # The closed session frees its place and its process (the place once serve has
        # seen the process end: its log says so).
        await async_wait_until(lambda: not served.consoles()
                               and served.stderr().count("ended (0/1)") >= 1, timeout=60,
                               message="the closed session's console is still running")
        async with Terminal(served) as second:
            await second.wait_for("queue:orders")
            await second.press("q")  # quitting the console ends the session too
            await async_wait_until(lambda: not served.consoles()
                                   and served.stderr().count("ended (0/1)") >= 2, timeout=60,
                                   message="the console that quit is still running")
        async with Terminal(served) as third:
            await third.wait_for("queue:orders")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl+c", "SIGTERM"])
async def test_stop_ends_every_console(queues, tmp_path, sig):
    with serving([queues], tmp_path) as served:
        async with Terminal(served) as one, Terminal(served) as two:
            await one.wait_for("queue:orders")
            await two.wait_for("queue:orders")
            consoles = served.consoles()
            assert len(consoles) == 2
            assert served.stop(sig) == 0
        assert not [pid for pid in consoles if alive(pid)]
        assert "stopping: ending 2 console processes" in served.stderr()


def test_token_from_a_file_is_not_printed(queues, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("a-long-enough-token-0123456789\n")
    token_file.chmod(0o600)
    with serving([queues, "--token-file", str(token_file)], tmp_path) as served:
        printed = "".join(served.stdout_lines)
        assert "a-long-enough-token" not in printed and str(token_file) in printed
        # A token the user chose stays valid: it opens a session every time.
        for _ in range(2):
            assert _status(served.base + "?token=a-long-enough-token-0123456789") == 303


def _status(url: str) -> int:
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        return urllib.request.build_opener(NoRedirect).open(url, timeout=10).status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.parametrize("args, message", [
    ([], "give the server to serve"),
    (["redis://127.0.0.1:1", "--max-sessions", "0"], "--max-sessions must be at least 1"),
    (["redis://127.0.0.1:1", "--token-file", "/nonexistent/token"], "token file"),
])
def test_bad_input_is_one_line(args, message, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "ferrite_tui", "serve", *args],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
             "XDG_CONFIG_HOME": str(tmp_path / "no-config")},
    )
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_short_token_is_refused(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("short")
    token_file.chmod(0o600)
    result = subprocess.run(
        [sys.executable, "-m", "ferrite_tui", "serve", "redis://127.0.0.1:1",
         "--token-file", str(token_file)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2 and "at least 16" in result.stderr


def test_a_wrong_password_is_reported_at_start(server_factory, tmp_path):
    server = server_factory(password="right-password")
    with serving([f"redis://:wrong-password@{server.host}:{server.port}"], tmp_path) as served:
        assert "warning: authentication failed" in served.stderr()
        assert "wrong-password" not in served.stderr() + "".join(served.stdout_lines)


@pytest.mark.parametrize("url, expected", [
    ("redis://:pw@h:6379/0", "redis://h:6379/0"),
    ("rediss://ops:pw@h:6380/1", "rediss://ops@h:6380/1"),
    ("unix:///run/redis.sock?db=2&password=pw", "unix:///run/redis.sock?db=2"),
    ("redis://h:6379/0", "redis://h:6379/0"),
])
def test_consoles_get_the_url_without_its_password(url, expected):
    from ferrite_tui.backend.connection import ConnectionSettings

    assert url_without_password(url) == expected
    password = None if url == expected else "pw"
    assert console_environ(ConnectionSettings(url=url, password=password))["REDISCLI_AUTH"] \
        == password
    if "?" in url:  # a password given as a parameter, not resolved from the user part
        assert console_environ(ConnectionSettings(url=url))["REDISCLI_AUTH"] == "pw"


def test_a_busy_port_is_one_line(queues):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "ferrite_tui", "serve", queues, "--port", str(port)],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_only_loopback_is_quiet():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")


def test_other_hosts_print_a_warning(queues, tmp_path):
    with serving([queues, "--host", "0.0.0.0"], tmp_path) as served:
        assert "warning: listening on 0.0.0.0, not loopback" in served.stderr()


def test_a_read_only_browser_session_writes_no_files(monkeypatch, tmp_path):
    from ferrite_tui.ui.screens.dialogs import check_output_path
    from ferrite_tui.websession import BrowserSession

    target = str(tmp_path / "export.ndjson")
    assert check_output_path(target) is None
    for name, value in BrowserSession("10.0.0.7").environ().items():
        monkeypatch.setenv(name, value)
    assert "read-only browser session" in (check_output_path(target) or "")
    for name, value in BrowserSession("10.0.0.7", writes=True).environ().items():
        monkeypatch.setenv(name, value)
    assert check_output_path(target) is None


def test_the_audit_log_records_the_remote_address_only_when_serving(tmp_path):
    from ferrite_tui.backend.audit import AuditLog

    for log, remote in ((AuditLog(tmp_path / "a.log"), None),
                        (AuditLog(tmp_path / "b.log", remote="192.0.2.4"), "192.0.2.4")):
        log.record(profile="p", server="redis://h", action="requeue", keys=["k"], count=1,
                   ids=["1"])
        (entry,) = log.read()
        assert entry.get("remote") == remote


@pytest.mark.parametrize("writes, label", [(False, "WEB READ-ONLY"), (True, "WEB WRITES ON")])
async def test_the_header_names_the_session_mode_even_at_80_columns(tmp_path, writes, label):
    from ferrite_tui.backend.connection import ConnectionSettings
    from ferrite_tui.backend.models import ConnectionState
    from ferrite_tui.config import Config
    from ferrite_tui.ui.app import FerriteApp
    from ferrite_tui.ui.widgets.status import StatusLine
    from ferrite_tui.websession import BrowserSession

    app = FerriteApp(Config(), ConnectionSettings(url="redis://127.0.0.1:1/0"), poll=False,
                     audit_path=tmp_path / "audit.log",
                     browser=BrowserSession("192.0.2.9", writes=writes))
    async with running(app, size=(80, 24)):
        status = app.query_one(StatusLine)
        status.set_state(ConnectionState("failed", error="a long reason " * 10))
        assert label in status.render().plain[:80]
        assert app.settings.read_only is not writes
        assert app.writable("requeue") is writes


#: A byte that is not UTF-8 in every kind of name (str with surrogateescape in the
#: console): one such key name used to end every browser session (the web driver encodes
#: strictly and raised "UnicodeEncodeError ... surrogates not allowed").
BINARY = b"\xff\xfe"


async def test_a_key_name_that_is_not_utf8_leaves_the_browser_session_up(redis_url, tmp_path):
    client = redis.Redis.from_url(redis_url)
    try:
        client.rpush(b"queue:bin" + BINARY, b"raw" + BINARY, "plain")
        client.rpush(b"queue:bin" + BINARY + b":dlq", DEAD_LETTER, b"bad" + BINARY)
        client.zadd(b"prio:" + BINARY, {json.dumps({"id": "p1", "payload": 1,
                                                    "enqueued_at": 1}): 5})
        stream = b"stream:" + BINARY
        client.xadd(stream, {b"data": b"{}", b"field" + BINARY: BINARY})
        client.xgroup_create(stream, b"group" + BINARY, id="0")
        # Binary names on purpose: redis-py's annotations say str, its commands take bytes.
        client.xreadgroup(b"group" + BINARY, b"consumer" + BINARY,  # type: ignore[arg-type]
                          {stream: ">"}, count=1)
    finally:
        client.close()
    walk = [("1", "→ queue:bin\\xff\\xfe"), ("2", "queue:bin\\xff\\xfe"),
            ("3", "prio:\\xff\\xfe"), ("5", "group\\xff\\xfe"),
            ("6", "bad\\xff\\xfe"), ("7", "(NUMPAT)"), ("8", "uptime"), ("1", "prio:\\xff")]
    # Each step waits for its panel's own text ("Pub/Sub" and "Server" are always in the tab
    # strip: waiting for those sent 7, 8 and 1 together, while panels were still building).
    with serving([redis_url], tmp_path) as served:
        async with Terminal(served, width=200, height=40) as term:  # the detail column shows
            await term.wait_for("queue:bin\\xff\\xfe:dlq")
            for key, shown in walk:
                await term.press(key)
                await term.wait_for(shown)
            await term.press("6")
            await term.wait_for("bad\\xff\\xfe")
            await term.press("\t\r")  # the inspector on the first dead letter
            await term.wait_for("dead-letter list")
            await term.press("\x1b")
            await term.press("1")
            await term.wait_for("→ queue:bin\\xff\\xfe")
            assert served.consoles(), "the console process ended"
    assert "UnicodeEncodeError" not in served.stderr()
    assert "Traceback" not in served.stderr()


def test_a_location_fragment_carries_any_key_and_nothing_else():
    """The address a console reports: any key name (hostile ones too) round-trips, the
    fragment itself is plain ASCII (percent-encoded), and what is not a panel is refused."""
    import re

    from ferrite_tui.ui.weblocation import fragment_of, parse_fragment
    from ferrite_tui.websession import MAX_FRAGMENT

    for key in ("queue:main:dlq", "a b/c#d%e?f", "\x1b[2J\u202eevil", "ключ", "x\udcff"):
        fragment = fragment_of("dlq", key)
        assert re.fullmatch(r"#/dlq/[A-Za-z0-9_.~%-]+", fragment), fragment
        assert parse_fragment(fragment) == ("dlq", key)
    assert fragment_of("server", "queue:main") == "#/server"  # no queue list there
    assert parse_fragment("#/server/anything") == ("server", None)
    assert parse_fragment("#/queues") == ("queues", None)
    for bad in ("", "#", "#/", "#/nope/x", "/dlq/x", "#/dlq/" + "a" * MAX_FRAGMENT):
        assert parse_fragment(bad) is None, bad
