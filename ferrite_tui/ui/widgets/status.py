"""The header line: where we are connected, what the server is, and how fresh the data is."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.widget import Widget

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.models import Capabilities, ConnectionState, DiscoveryProgress
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
        self.browser = browser
        self.clock = clock
        self.state = ConnectionState("connecting")
        self.caps: Capabilities | None = None
        self.last_data: float | None = None
        self.discovery: DiscoveryProgress | None = None
        self.stale_after = 3.0

    def on_mount(self) -> None:
        self.set_interval(1.0, self.refresh)

    def set_state(self, state: ConnectionState) -> None:
        self.state = state
        self.refresh()

    def set_data_time(self, taken_at: float, caps: Capabilities, refresh: float) -> None:
        self.last_data = taken_at
        self.caps = caps
        self.stale_after = max(3.0, refresh * 3)
        self.refresh()

    def set_discovery(self, progress: DiscoveryProgress) -> None:
        self.discovery = progress
        self.refresh()

    def status_text(self) -> Text:
        """The state part alone (also used by tests)."""
        st = self.state
        age = None if self.last_data is None else max(self.clock() - self.last_data, 0)
        if st.status == "reconnecting":
            out = Text(f"reconnecting (attempt {st.attempt}, next in {st.next_retry_s:.0f}s)",
                       style="bold yellow")
        elif st.status == "failed":
            out = Text(f"failed: {printable(st.error or '', 80)}", style="bold red")
        elif st.status == "connecting":
            out = Text("connecting…", style="yellow")
        elif age is not None and age > self.stale_after:
            out = Text(f"stale {fmt.duration(age * 1000)}", style="bold yellow")
        else:
            out = Text("● live", style="bold green")
        if st.status in ("reconnecting", "failed") and age is not None:
            out.append(f" · data {fmt.duration(age * 1000)} old", style="yellow")
        return out

    def render(self) -> Text:
        line = Text(" ferrite-tui ", style="bold reverse")
        if self.browser is not None:
            # A browser session always says which mode it is in: first, so it is never cut.
            line.append(" WEB READ-ONLY " if self.read_only else " WEB WRITES ON ",
                        style="bold reverse magenta" if self.read_only else "bold reverse red")
        line.append(" ")
        line.append(printable(self.url, 60))
        if self.caps and self.caps.version:
            line.append(f"  {self.caps.server_kind} {self.caps.version}", style="dim")
        line.append("  ")
        line.append_text(self.status_text())
        if self.read_only and self.browser is None:
            line.append("  READ-ONLY", style="bold magenta")
        d = self.discovery
        if d is not None and d.error:
            line.append(f"  scan failed: {printable(d.error, 50)}", style="red")
        elif d is not None and not d.done:
            line.append(f"  scanning… {d.scanned:,} keys", style="cyan")
        return line
