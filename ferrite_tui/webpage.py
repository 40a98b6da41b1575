"""The pages `ferrite-tui serve` sends to a browser.

The console's page replaces textual-serve's template, which asks fonts.googleapis.com for
Roboto Mono on every load: here the font comes from serve's own /static (textual-serve
ships it), so the page makes no request to any other origin, and its Content-Security-Policy
says so to the browser too. Refusals are small HTML pages that say what to do next.
"""

from __future__ import annotations

import html

import jinja2

# The terminal asks for 'Roboto Mono' by name (textual.js): the @font-face below makes
# that name resolve to the copy served by serve itself.
CONSOLE_PAGE = """<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>{{ title }}</title>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href="/static/css/xterm.css">
    <script nonce="{{ nonce }}">{{ resumable_socket | safe }}</script>
    <script src="/static/js/textual.js"></script>
    <style>
      @font-face {
        font-family: "Roboto Mono";
        src: url("/static/fonts/RobotoMono-VariableFont_wght.ttf") format("truetype");
        font-style: normal;
        font-weight: 100 700;
      }
      @font-face {
        font-family: "Roboto Mono";
        src: url("/static/fonts/RobotoMono-Italic-VariableFont_wght.ttf") format("truetype");
        font-style: italic;
        font-weight: 100 700;
      }
      body { background: #0c181f; margin: 0; }
      .dialog-container {
        position: absolute; width: 100vw; height: 100vh; display: flex;
        align-items: center; justify-content: center; z-index: 10;
      }
      .intro {
        max-width: 640px; min-height: 160px; padding: 16px; font-size: 16px; z-index: 20;
        font-family: "Roboto Mono", ui-monospace, monospace; text-align: center;
        color: rgba(255, 255, 255, 0.95); background-color: #12232d;
        display: flex; flex-direction: column; align-items: center; justify-content: center;
      }
      body.-first-byte .intro-dialog { display: none; }
      body .textual-terminal { opacity: 0; transition: opacity 0.3s ease-out; }
      body.-first-byte .textual-terminal { opacity: 1; }
      button {
        padding: 16px 32px; background-color: #5e0ba7; color: rgba(255, 255, 255, 0.95);
        border: none; font-family: "Roboto Mono", ui-monospace, monospace; margin: 16px;
      }
      button:hover { background: #ac5af4; cursor: pointer; }
      .closed-dialog { display: none; }
      body.-closed .closed-dialog { display: flex; }
      .reconnecting {
        display: none; position: absolute; top: 0; right: 0; z-index: 30; padding: 2px 8px;
        font-family: "Roboto Mono", ui-monospace, monospace; color: #0c181f;
        background: #f0c674;
      }
      body.-reconnecting .reconnecting { display: block; }
    </style>
  </head>
  <body>
    <div class="dialog-container intro-dialog">
      <div class="intro"><div>{{ title }}</div></div>
    </div>
    <div class="dialog-container closed-dialog">
      <div class="intro">
        <div class="message">Session ended.</div>
        <button type="button" id="restart">Start a new session</button>
      </div>
    </div>
    <div class="reconnecting">connection lost: reconnecting…</div>
    <div id="terminal" class="textual-terminal"
         data-session-websocket-url="{{ websocket_url }}"
         data-font-size="{{ font_size }}"></div>
    <script nonce="{{ nonce }}">
      document.getElementById("restart").addEventListener("click", () => {
        window.location.href = "/";
      });
    </script>
  </body>
</html>
"""

# textual.js opens one WebSocket and, when it closes, shows "Session ended". This stands in
# for WebSocket so that a dropped connection (a closed laptop, a network change, a reload)
# comes back to the same console: serve names the session in its first message
# ["ferrite_session", {id, grace_s}], kept in sessionStorage (per tab, so a reload finds
# it), and a reconnection asks for it with ?resume=ID. Closes that serve makes on purpose
# (1000: the console quit or serve stops; 4001: the page came back on another connection)
# end the session as before; any other close is retried until the grace period is over.
#
# It also keeps the page's address where the console is: serve passes the console's
# location (["ferrite_location", "#/dlq/KEY"]) and each new one becomes a history entry;
# a link opened with a fragment, and Back or Forward, send ["ferrite_navigate", hash] and
# the console goes there. Reports of another panel are ignored for a while after asking
# (the console may not have got there yet), so that Back does not push a new entry.
RESUMABLE_SOCKET = r"""
(() => {
  const Native = window.WebSocket;
  const KEY = "ferrite-tui-session";
  const FINAL = [1000, 4001];
  const NAVIGATE_WAIT_MS = 5000;
  const tabOf = (fragment) => fragment.split("/")[1];
  class ResumableSocket {
    constructor(url) {
      this.url = url;
      this.listeners = {};
      this.opened = false;
      this.lastResize = null;
      this.graceMs = 0;
      this.lostAt = null;
      this.attempt = 0;
      this.expected = null;
      this.expectedUntil = 0;
      window.addEventListener("popstate", () => this.navigate());
      this.connect(this.withResume(url));
    }
    navigate(again = 0) {
      const hash = window.location.hash;
      if (!hash.startsWith("#/") || this.socket.readyState !== Native.OPEN) return;
      if (!again) {
        this.expected = tabOf(hash);
        this.expectedUntil = Date.now() + NAVIGATE_WAIT_MS;
      }
      this.socket.send(JSON.stringify(["ferrite_navigate", hash]));
      // Asked again while the console has not said it is there (it may have been busy);
      // going where it already is does nothing.
      setTimeout(() => {
        if (this.expected !== null && window.location.hash === hash && again < 3) {
          this.navigate(again + 1);
        }
      }, 1500);
    }
    located(fragment) {
      if (typeof fragment !== "string" || !fragment.startsWith("#/")) return;
      if (this.expected !== null) {
        if (tabOf(fragment) !== this.expected && Date.now() < this.expectedUntil) return;
        this.expected = null;
      }
      const current = window.location.hash;
      if (fragment === current) return;
      // The first address, or the same panel now with its queue: no entry of its own.
      if (!current || fragment.startsWith(current + "/")) {
        history.replaceState(null, "", fragment);
      } else {
        history.pushState(null, "", fragment);
      }
    }
    withResume(url) {
      const id = sessionStorage.getItem(KEY);
      const u = new URL(url, window.location.href);
      if (id) u.searchParams.set("resume", id);
      if (this.lastResize) {
        u.searchParams.set("width", this.lastResize.width);
        u.searchParams.set("height", this.lastResize.height);
      }
      return u.toString();
    }
    addEventListener(type, listener) {
      (this.listeners[type] = this.listeners[type] || []).push(listener);
    }
    removeEventListener(type, listener) {
      this.listeners[type] = (this.listeners[type] || []).filter((l) => l !== listener);
    }
    emit(type, event) {
      for (const listener of this.listeners[type] || []) listener(event);
    }
    get readyState() { return this.socket.readyState; }
    set binaryType(value) { /* always arraybuffer, as textual.js asks */ }
    get binaryType() { return "arraybuffer"; }
    send(data) {
      try {
        const message = JSON.parse(data);
        if (message[0] === "resize") this.lastResize = message[1];
      } catch (error) { /* not JSON: keys */ }
      if (this.socket.readyState === Native.OPEN) this.socket.send(data);
    }
    close(code, reason) { this.final = true; this.socket.close(code, reason); }
    connect(url) {
      const socket = this.socket = new Native(url);
      socket.binaryType = "arraybuffer";
      socket.addEventListener("open", (event) => {
        this.attempt = 0;
        this.lostAt = null;
        document.body.classList.remove("-reconnecting");
        if (!this.opened) {
          this.opened = true;
          this.emit("open", event);
          this.navigate();  // a link to a panel, or a reloaded page: go where it says
        } else if (this.lastResize) {
          socket.send(JSON.stringify(["resize", this.lastResize]));
        }
      });
      socket.addEventListener("message", (event) => {
        if (typeof event.data === "string") {
          try {
            const message = JSON.parse(event.data);
            if (message[0] === "ferrite_session") {
              sessionStorage.setItem(KEY, message[1].id);
              this.graceMs = message[1].grace_s * 1000;
              return;
            }
            if (message[0] === "ferrite_location") {
              this.located(message[1]);
              return;
            }
          } catch (error) { /* not ours */ }
        }
        this.emit("message", event);
      });
      socket.addEventListener("close", (event) => {
        if (socket !== this.socket) return;
        const now = Date.now();
        if (this.lostAt === null) this.lostAt = now;
        const retry = this.opened && !this.final && !FINAL.includes(event.code)
          && now - this.lostAt < this.graceMs;
        if (!retry) {
          document.body.classList.remove("-reconnecting");
          if (FINAL.includes(event.code) || this.final) sessionStorage.removeItem(KEY);
          this.emit("close", event);
          return;
        }
        document.body.classList.add("-reconnecting");
        const delay = Math.min(10000, 250 * 2 ** this.attempt++);
        setTimeout(() => this.connect(this.withResume(this.url)), delay);
      });
    }
  }
  window.WebSocket = ResumableSocket;
})();
"""

_environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
_console_page = _environment.from_string(CONSOLE_PAGE)


def console_page(*, title: str, websocket_url: str, font_size: int, nonce: str) -> str:
    return _console_page.render(title=title, websocket_url=websocket_url,
                                font_size=font_size, nonce=nonce,
                                resumable_socket=RESUMABLE_SOCKET)


def content_security_policy(websocket_url: str, nonce: str) -> str:
    """Only serve itself: scripts, styles, fonts and images from this origin, the
    websocket to this server (a `?ping=` URL in the address cannot make the page fetch
    another site), no framing, no forms, no <base>."""
    return "; ".join([
        "default-src 'none'",
        f"script-src 'self' 'nonce-{nonce}'",
        # xterm.js adds <style> elements and style attributes as it draws.
        "style-src 'self' 'unsafe-inline'",
        "font-src 'self'",
        "img-src 'self' data:",
        f"connect-src 'self' {websocket_url}",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ])


def message_page(title: str, *paragraphs: str) -> str:
    """A small page that explains a refusal; every argument is escaped."""
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><link rel=\"icon\" href=\"data:,\">"
            "<style>body{font-family:ui-monospace,monospace;background:#0c181f;"
            "color:#eee;max-width:60em;margin:3em auto;padding:0 1em}</style></head>"
            f"<body><h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n")
