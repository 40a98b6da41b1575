"""`ferrite-tui serve` in a real headless Chromium (marker `browser`).

Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them when missing);
skipped with the reason when they are not there. They are left out of a plain `pytest` run
(like the benchmarks): run them with `pytest -m browser`; `.ci/run` does so once, on the
default server, after the three runs of the rest.

The page draws the console on a canvas, so there is no text in the DOM to read. A script
added before the page's own wraps the browser's WebSocket and keeps every byte the console
sent (and every resize the page asked for); the test replays them into pyte, a VT100
emulator, to read the screen the page drew. Keys go in as a person types them, through
the terminal's own input element.

FERRITE_TUI_SERVE_SCREENSHOT=PATH saves the page, as the browser shows it, to PATH (PNG):
that is how screenshots/serve-browser.png is made.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis

from helpers import wait_until
from serving import alive, serving

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1280,800",
)
SCREENSHOT_ENV = "FERRITE_TUI_SERVE_SCREENSHOT"

RECORDER = r"""
(() => {
  const Native = window.WebSocket;
  const state = { events: [] };
  const b64 = (buffer) => {
    const bytes = new Uint8Array(buffer);
    let s = "";
    for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s);
  };
  window.__ftuiRecorder = {
    take() { const events = state.events; state.events = []; return events; },
  };
  window.WebSocket = class extends Native {
    constructor(url, protocols) {
      super(url, protocols);
      const query = new URL(url, window.location.href).searchParams;
      state.events.push({ resize: [+query.get("width"), +query.get("height")] });
      this.addEventListener("message", (event) => {
        if (event.data instanceof ArrayBuffer) state.events.push({ data: b64(event.data) });
      });
    }
    send(data) {
      try {
        const message = JSON.parse(data);
        if (message[0] === "resize") {
          state.events.push({ resize: [message[1].width, message[1].height] });
        }
      } catch (error) { /* not JSON: not a resize */ }
      return super.send(data);
    }
  };
})();
"""


class PageScreen:
    """What the page's terminal shows, rebuilt from the bytes the console sent it."""

    def __init__(self, driver) -> None:
        import pyte

        self.driver = driver
        self.screen = pyte.Screen(80, 24)
        self.stream = pyte.ByteStream(self.screen)

    def text(self) -> str:
        for event in self.driver.execute_script(
                "return window.__ftuiRecorder ? window.__ftuiRecorder.take() : []"):
            if "resize" in event:
                columns, lines = event["resize"]
                self.screen.resize(lines, columns)
            else:
                self.stream.feed(base64.b64decode(event["data"]))
        return "\n".join(self.screen.display)

    def wait_for(self, needle: str, timeout: float = 60) -> str:
        try:
            return wait_until(lambda: needle in self.text() and self.text(), timeout=timeout,  # type: ignore[return-value]
                              interval=0.2)
        except AssertionError:
            raise AssertionError(f"{needle!r} never shown on the page within {timeout:g}s; "
                                 f"the page shows:\n{self.text()}") from None

    def press(self, keys: str) -> None:
        from selenium.webdriver.common.action_chains import ActionChains

        # xterm.js reads keys from its helper textarea; focusing it is what a click does.
        self.driver.execute_script(
            "document.querySelector('.xterm-helper-textarea').focus()")
        ActionChains(self.driver).send_keys(keys).perform()


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        reason = (f"no {' or '.join(missing)}: install Debian's chromium and "
                  "chromium-driver (.ci/run does)")
        if os.environ.get("FERRITE_TUI_REQUIRE_BROWSER"):  # CI: a skip would pass unseen
            pytest.fail(reason)
        pytest.skip(reason)
    webdriver = pytest.importorskip("selenium.webdriver",
                                    reason="selenium is not installed (the test extra)")
    pytest.importorskip("pyte", reason="pyte is not installed (the test extra)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    # Every request the browser makes, as DevTools sees it (read by `requests_made`).
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORDER})
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(chromium):
    chromium.delete_all_cookies()  # cookies ignore the port: no session from an earlier test
    chromium.get("about:blank")
    chromium.get_log("performance")  # the requests of earlier tests are not this test's
    return chromium


def requests_made(driver) -> list[str]:
    """The URLs of the requests the browser sent since the last call (DevTools' view:
    a request to an unreachable host counts, even though it fails)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] in ("Network.requestWillBeSent",
                                 "Network.webSocketCreated"):
            params = message["params"]
            urls.append(params["request"]["url"] if "request" in params else params["url"])
    return urls


@pytest.fixture
def demo_data(redis_url: str) -> str:
    """The demo's seed data: every queue kind, dead letters included."""
    import asyncio

    import redis.asyncio as aioredis

    from ferrite_tui.demo.seeding import seed

    async def write() -> None:
        client = aioredis.Redis.from_url(redis_url)
        try:
            await seed(client)
        finally:
            await client.aclose()

    asyncio.run(write())
    return redis_url


def test_the_page_shows_the_console_and_takes_keys(browser, demo_data, tmp_path):
    with serving([demo_data], tmp_path) as served:
        browser.get(served.url)
        page = PageScreen(browser)
        screen = page.wait_for("queue:orders")
        assert "emails" in screen and "jobs:priority" in screen and "WEB READ-ONLY" in screen
        # The token was traded for a cookie and is gone from the address bar.
        assert "token" not in browser.current_url
        wait_until(lambda: browser.execute_script(
            "return document.body.classList.contains('-first-byte')"),
            message="the page never drew the console")
        if os.environ.get(SCREENSHOT_ENV):
            # After a few polls, so that rates and trends have values (only for the picture).
            wait_until(lambda: "n/a" not in page.text(), timeout=60, interval=0.5)
            Path(os.environ[SCREENSHOT_ENV]).write_bytes(browser.get_screenshot_as_png())
        assert len(served.consoles()) == 1

        page.press("8")
        page.wait_for("peak memory")  # the Server panel
        page.press("2")
        page.wait_for("queue:orders  items 0")  # the Queues panel, on its first queue
    assert not [pid for pid in served.seen_children if alive(pid)]


def test_the_page_without_the_token_is_refused(browser, demo_data, tmp_path):
    with serving([demo_data], tmp_path) as served:
        browser.get(served.base)
        assert "Open the URL printed by `ferrite-tui serve`" in browser.page_source
        browser.get(served.base + "?token=guessed-token")
        assert "wrong token" in browser.page_source
        assert served.consoles() == set()
        assert "session from" not in served.stderr()


def test_requeue_is_refused_in_the_default_mode(browser, demo_data, tmp_path):
    client = redis.Redis.from_url(demo_data)
    try:
        dead = client.llen("queue:main:dlq")
        assert dead > 0
        with serving([demo_data], tmp_path) as served:
            browser.get(served.url)
            page = PageScreen(browser)
            page.wait_for("queue:main:dlq")
            page.press("6")
            page.wait_for("target queue")  # the Dead letters panel
            page.press("\n")  # into the entries of the first dead-letter list
            page.wait_for("Requeue shown")  # the entries' action keys lead the footer
            page.press("r")
            page.wait_for("read-only mode: 'requeue")
        assert client.llen("queue:main:dlq") == dead
    finally:
        client.close()


def test_the_page_asks_nothing_of_any_other_origin(browser, demo_data, tmp_path):
    with serving([demo_data], tmp_path) as served:
        browser.get(served.url)
        page = PageScreen(browser)
        page.wait_for("queue:orders")
        wait_until(lambda: browser.execute_script(
            "return document.fonts.status === 'loaded'"), message="fonts never loaded")
        urls = requests_made(browser)
        own = urlsplit(served.base).netloc
        assert any(url.endswith("/static/js/textual.js") for url in urls), urls
        assert any("/static/fonts/RobotoMono" in url for url in urls), urls  # the font: ours
        elsewhere = [url for url in urls
                     if not url.startswith(("data:", "about:")) and urlsplit(url).netloc != own]
        assert elsewhere == []
        # The font the terminal asks for by name is the one served by serve itself.
        assert browser.execute_script("return document.fonts.check('16px \"Roboto Mono\"')")
        assert browser.title.startswith("ferrite-tui · ")
        assert urlsplit(demo_data).netloc in browser.title  # the server it shows


def test_a_link_opens_once_and_a_restart_asks_for_the_new_one(browser, demo_data, tmp_path):
    with serving([demo_data], tmp_path / "first") as first:
        browser.get(first.url)
        PageScreen(browser).wait_for("queue:orders")
        # The address in the browser's history, opened again from another browser: spent.
        other = served_elsewhere(browser, first.url)
        assert "already used" in other and "kill -USR1" in other
        # The session cookie holds no token.
        (cookie,) = browser.get_cookies()
        assert cookie["name"] == "ferrite_tui_session" and first.token not in cookie["value"]
        assert cookie["httpOnly"] is True
    with serving([demo_data], tmp_path / "second") as second:
        browser.get(second.base)  # the old cookie, sent to the restarted serve
        assert "open the new link it printed" in browser.page_source
        assert "wrong token" not in browser.page_source
        assert second.consoles() == set()
        browser.get(second.url)  # the new link works in the same browser
        PageScreen(browser).wait_for("queue:orders")


def served_elsewhere(browser, url: str) -> str:
    """The page ``url`` gives a browser without this one's cookie (a new window's would
    share it, so the cookie is set aside and put back)."""
    cookies = browser.get_cookies()
    browser.delete_all_cookies()
    try:
        browser.get(url)
        return browser.page_source
    finally:
        browser.get(url.split("?", 1)[0])
        for cookie in cookies:
            browser.add_cookie(cookie)


def test_a_reload_comes_back_to_the_same_console(browser, demo_data, tmp_path):
    # One session allowed: the reloading page still gets in, to its own console.
    with serving([demo_data, "--max-sessions", "1"], tmp_path) as served:
        browser.get(served.url)
        page = PageScreen(browser)
        page.wait_for("queue:orders")
        page.press("6")
        page.wait_for("target queue")  # the Dead letters panel
        (console,) = served.consoles()
        browser.refresh()  # the connection drops; the tab keeps the session's id
        again = PageScreen(browser)
        again.wait_for("target queue")  # nothing pressed: the same panel
        assert again.screen.cursor.hidden  # no stray block cursor on the new page
        assert served.consoles() == {console}
        # Back and Forward move within the same console (the page stays).
        browser.back()
        again.wait_for("alert — next step")  # the Overview
        browser.forward()
        again.wait_for("target queue")
        assert served.consoles() == {console}
        assert "reattached" in served.stderr()


def test_a_suspended_browser_finds_its_session_back(browser, demo_data, tmp_path):
    """The browser stopped (as a closed laptop is) until serve gives its connection up,
    then resumed: the page reconnects to the same console."""
    import signal

    with serving([demo_data], tmp_path) as served:
        browser.get(served.url)
        page = PageScreen(browser)
        page.wait_for("queue:orders")
        page.press("6")
        page.wait_for("target queue")
        (console,) = served.consoles()
        chromium = descendants(browser.service.process.pid)
        for pid in chromium:
            os.kill(pid, signal.SIGSTOP)
        try:
            # serve's heartbeat gets no answer: it sees the connection drop.
            wait_until(lambda: "detached" in served.stderr(), timeout=90, interval=0.5,
                       message="serve never saw the suspended browser's connection drop")
        finally:
            for pid in chromium:
                os.kill(pid, signal.SIGCONT)
        wait_until(lambda: "reattached" in served.stderr(), timeout=60, interval=0.2,
                   message="the page never came back to its console")
        PageScreen(browser).wait_for("target queue")
        assert served.consoles() == {console}


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (chromedriver's browser and its renderers)."""
    from serving import child_pids

    found, todo = [], [pid]
    while todo:
        for child in child_pids(todo.pop()):
            found.append(child)
            todo.append(child)
    return found



def fragment(tab: str, key: str | None = None) -> str:
    from urllib.parse import quote

    return f"#/{tab}" + (f"/{quote(key, safe='')}" if key is not None else "")


def address_fragment(browser) -> str:
    return "#" + urlsplit(browser.current_url).fragment


def test_a_link_opens_its_panel_and_queue(browser, demo_data, tmp_path):
    """A link to a queue of the Queues panel (not its first row) opens the panel with that
    queue's items, through the one-time token's redirect."""
    with serving([demo_data], tmp_path) as served:
        browser.get(served.url + fragment("queues", "queue:main"))
        PageScreen(browser).wait_for("queue:main  items")
        assert address_fragment(browser) == fragment("queues", "queue:main")


def test_moves_update_the_address_and_back_moves_within_the_console(browser, demo_data,
                                                                    tmp_path):
    with serving([demo_data], tmp_path) as served:
        browser.get(served.url)
        page = PageScreen(browser)
        page.wait_for("queue:orders")
        page.press("2")
        page.wait_for("queue:orders  items")
        wait_until(lambda: address_fragment(browser) == fragment("queues", "queue:orders"),
                   timeout=30, interval=0.2, message="the Queues panel never in the address")
        page.press("6")  # another panel, another queue: a new history entry
        page.wait_for("target queue")
        wait_until(lambda: address_fragment(browser) == fragment("dlq", "queue:main:dlq"),
                   timeout=30, interval=0.2, message="the Dead letters panel never in the "
                   f"address (it is {address_fragment(browser)})")
        (console,) = served.consoles()
        browser.back()  # within the console: the Queues panel again, the same console
        wait_until(lambda: address_fragment(browser) == fragment("queues", "queue:orders"),
                   timeout=30, interval=0.2, message="Back did not go to the Queues entry "
                   f"(the address is {address_fragment(browser)})")
        page.wait_for("queue:orders  items")
        assert address_fragment(browser) == fragment("queues", "queue:orders")
        browser.forward()
        page.wait_for("target queue")
        assert served.consoles() == {console}
        assert "reattached" not in served.stderr()  # the page never left
