"""What the UI's parts see of each other, as protocols.

- `ConsoleApp`: the app as panels, screens and widgets use it (the session, the read-only
  guard, the notice board, "back"). They depend on this, never on `ui/app.py`, so the UI
  has no import cycle through the app (`tests/test_ui_layout.py` checks that no module
  under `ui/` imports it; cli and the demo's screenshots start it).
- `PanelView`: what every panel gives the app (the Server panel too): a snapshot in, the
  filter, catching up when shown, and selecting a queue (and a stream's group).

Typing only: nothing here imports Textual's app or any panel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from textual.binding import Binding
    from textual.css.query import DOMQuery
    from textual.widget import Widget

    from ferrite_tui.backend.history import History
    from ferrite_tui.backend.models import Capabilities, Snapshot
    from ferrite_tui.config import Config
    from ferrite_tui.ui.noticeboard import NoticeBoard, ShownNotice
    from ferrite_tui.ui.session import Session


class PanelView(Protocol):
    """A tab's panel, as the app drives it."""

    TITLE: str

    # The widget side the app uses (a panel is a Textual widget).
    display: bool

    @property
    def is_mounted(self) -> bool: ...

    @property
    def is_attached(self) -> bool: ...

    def query(self, selector: str) -> DOMQuery[Widget]: ...

    def call_after_refresh(self, callback: Callable[..., Any], *args: Any,
                           **kwargs: Any) -> bool: ...

    # The data side.
    def update_snapshot(self, snap: Snapshot, history: History | None) -> None:
        """A new poll: drawn now if shown, else kept for `show_latest`."""

    def show_latest(self) -> None:
        """The tab was just shown: catch up with the snapshots skipped while hidden."""

    def set_capabilities(self, caps: Capabilities) -> None:
        """What the server can do, as probed (before each snapshot)."""

    def set_filter(self, text: str) -> None:
        """The `/` filter's text ("" clears it)."""

    def focus_ident(self, ident: str) -> bool:
        """Select this queue (a row key); False when it is not shown."""

    def select_group(self, name: str) -> None:
        """Select this consumer group of the selected queue (streams only)."""


@runtime_checkable
class LabelsKeys(Protocol):
    """A node whose keys' words depend on what is selected (a panel: the selected queue's
    layout's label for each action); the footer asks it."""

    def key_label(self, binding: Binding) -> str: ...


class PanelClass(Protocol):
    """A panel's class, as `ui/tabs.py` lists it: its title, and built with its widget id."""

    TITLE: str

    def __call__(self, **kwargs: Any) -> PanelView: ...


class ConsoleApp(Protocol):
    """The app, as the UI's parts use it."""

    config: Config
    match: tuple[str, ...] | None  # the command line's --match (None: the config's)

    @property
    def session(self) -> Session: ...

    # The notices (ui/notices.py): RepeatingNotices counts a repeating subject here.
    notice_board: NoticeBoard

    @property
    def NOTIFICATION_TIMEOUT(self) -> float: ...  # Textual's name

    def show_notice(self, notice: ShownNotice) -> None: ...

    def refresh_notices(self) -> None: ...

    def writable(self, action: str) -> bool:
        """Checked by every key that changes data, before any dialog (says why not)."""

    def say_read_only(self, action: str) -> None: ...

    def active_panel(self) -> PanelView: ...

    def action_step_back(self) -> None:
        """escape: close the filter, else go back to the Overview."""
