"""The header: where we are connected, what the server is, and how fresh the data is; and,
while the server is unreachable or refuses us, a second line saying why and what happens next."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.widget import Widget

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.models import (
    Capabilities,
    ConnectionState,
    DiscoveryProgress,
    Snapshot,
)
from ferrite_tui.websession import BrowserSession


class StatusLine(Widget):
    DEFAULT_CSS = """
    StatusLine {
        dock: top;
        height: 1;
        background: $panel;
        color: $text;
    }
    """

    def __init__(self, url: str, read_only: bool, clock: Callable[[], float] = time.time,
                 browser: BrowserSession | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.url = url
        self.read_only = read_only
        self.replica = False  # the server is a replica: every change is refused
        self.browser = browser
        self.clock = clock
        self.state = ConnectionState("connecting")
        self.caps: Capabilities | None = None
        self.last_data: float | None = None
        self.discovery: DiscoveryProgress | None = None
        self.stale_after = 3.0
        self._shown: Text | None = None

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        # Ages move on their own; repaint only when the words on screen change (idle cost).
        if self.line() != self._shown:
            self.refresh()

    def set_state(self, state: ConnectionState) -> None:
        self.state = state
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        """The reason line comes and goes (and wraps): the header's height follows it."""
        reason = self.reason_text()
        width = max(self.size.width, 20)
        lines = 1 if reason is None else 1 + min(2, -(-reason.cell_len // width))
        if self.styles.height is None or self.styles.height.value != lines:
            self.styles.height = lines
        self._tick()

    def set_data_time(self, snap: Snapshot, caps: Capabilities, refresh: float) -> None:
        self.last_data = snap.taken_at
        self.replica = snap.server.replication.is_replica
        self.caps = caps
        self.stale_after = max(3.0, refresh * 3)
        self._tick()

    def set_discovery(self, progress: DiscoveryProgress) -> None:
        self.discovery = progress
        self._fit()

    def status_text(self) -> Text:
        """The state part alone (also used by tests)."""
        st = self.state
        age = None if self.last_data is None else max(self.clock() - self.last_data, 0)
        if st.status == "reconnecting":
            out = Text(f"reconnecting (attempt {st.attempt})", style="bold yellow")
        elif st.status == "failed":
            out = Text("not connected", style="bold red")
        elif st.status == "connecting":
            out = Text("connecting…", style="yellow")
        elif age is not None and age > self.stale_after:
            out = Text(f"stale {fmt.duration(age * 1000)}", style="bold yellow")
        else:
            out = Text("● live", style="bold green")
        if st.status in ("reconnecting", "failed") and age is not None:
            out.append(f" · data {fmt.duration(age * 1000)} old", style="yellow")
        return out

    def reason_text(self) -> Text | None:
        """Why the server is unreachable and when the next try is; None while all is well."""
        st = self.state
        # The URL is on the line above: the reason need not repeat it.
        error = printable((st.error or "").replace(self.url, "the server"), 200)
        if st.status == "reconnecting":
            out = Text(error or "connection lost", style="bold red")
            out.append(f" · next try in {st.next_retry_s:.0f}s, ctrl+r now", style="yellow")
        elif st.status == "failed":
            out = Text(error or "connection failed", style="bold red")
            if "authentication" in (st.error or ""):  # one can be typed here
                out.append(" · ctrl+p 'log in' to type one, ctrl+r retries", style="yellow")
            else:
                out.append(" · not retrying: fix it, then ctrl+r tries again", style="yellow")
        elif st.error:
            out = Text(f"last poll failed: {error}", style="bold red")
        elif self.discovery is not None and self.discovery.error:
            out = Text(f"scan failed: {printable(self.discovery.error, 200)}", style="red")
        else:
            return None
        return Text("  ") + out

    def render(self) -> Text:
        self._shown = self.line()
        return self._shown

    def line(self) -> Text:
        """The header as it would be drawn now."""
        line = Text(" ferrite-tui ", style="bold reverse")
        if self.browser is not None:
            # A browser session always says which mode it is in: first, so it is never cut.
            line.append(" WEB READ-ONLY " if self.read_only else " WEB WRITES ON ",
                        style="bold reverse magenta" if self.read_only else "bold reverse red")
        line.append(" ")
        line.append(printable(self.url, 60))
        if self.caps and self.caps.version:
            line.append(printable(f"  {self.caps.server_kind} {self.caps.version}", 60),
                        style="dim")
        line.append("  ")
        line.append_text(self.status_text())
        if self.read_only and self.browser is None:
            line.append("  READ-ONLY", style="bold magenta")
        elif self.replica:
            line.append("  REPLICA: changes refused", style="bold magenta")
        d = self.discovery
        if d is not None and not d.done and not d.error:
            line.append(f"  scanning… {d.scanned:,} keys", style="cyan")
        if self.size.width:
            line.truncate(self.size.width, overflow="ellipsis")  # the reason line may wrap
        reason = self.reason_text()
        if reason is not None:
            line.append("\n")
            line.append_text(reason)
        return line
