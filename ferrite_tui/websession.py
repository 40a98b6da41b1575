"""What a console started by `ferrite-tui serve` knows about its browser session.

`serve` starts one console process per browser session and describes the session in the
child's environment (never in its argv, which other users of the host can read). This
module only reads that description: it imports nothing beyond the standard library, so the
console, the header and the audit log can ask "am I serving a browser?" cheaply.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

REMOTE_ENV = "FERRITE_TUI_SERVE_REMOTE"
WRITES_ENV = "FERRITE_TUI_SERVE_WRITES"
# The console's location as a link (ui/weblocation.py): the meta packets that carry it
# between the console and serve, their longest fragment, and the web driver that takes
# the page's navigation.
LOCATION_META = "ferrite_location"
NAVIGATE_META = "ferrite_navigate"
MAX_FRAGMENT = 4096
CONSOLE_DRIVER = "ferrite_tui.ui.weblocation:LocatedWebDriver"


@dataclass(frozen=True)
class BrowserSession:
    """A console running for a browser: who connected, and whether writes are allowed."""

    remote: str
    writes: bool = False

    def environ(self) -> dict[str, str]:
        """The variables that describe this session to the console process."""
        return {REMOTE_ENV: self.remote, WRITES_ENV: "1" if self.writes else "0"}

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> BrowserSession | None:
        env = os.environ if environ is None else environ
        remote = env.get(REMOTE_ENV)
        if remote is None:
            return None
        return cls(remote=remote or "?", writes=env.get(WRITES_ENV) == "1")


def refuse_file_writes(notify: Callable[..., object], action: str) -> bool:
    """True, having said why, when this console serves a read-only browser session: a file
    would be written on the serving host, so the dialog that asks for its name does not
    even open (and its default folder is not created). Call before anything else."""
    session = BrowserSession.from_environ()
    if session is None or session.writes:
        return False
    notify(f"read-only browser session: '{action}' would write a file on the server host "
           "(serve --allow-writes allows it)", severity="warning", timeout=5)
    return True
