"""Where a console served in a browser is, as a link the page keeps in its address.

The location is `#/<tab>/<queue key>` (`#/dlq/queue%3Amain%3Adlq`), or `#/<tab>` on a
panel without a queue list (Pub/Sub, Server) or with nothing selected. The console tells
the page where it is as the operator moves (a panel switch, a queue selected), through the
web driver's meta channel; `ferrite-tui serve` passes it on and the page makes each move
an entry of the browser's history. The other way, a link opened or the browser's Back
sends the page's fragment to the console, which goes there (`WebLocationApp`).

Only under `ferrite-tui serve` (Textual's web driver): in a terminal none of this runs.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote, unquote_to_bytes

from textual.css.query import NoMatches
from textual.drivers.web_driver import WebDriver
from textual.message import Message
from textual.widgets import TabbedContent

from ferrite_tui.escaping import printable
from ferrite_tui.ui.messages import OpenQueue
from ferrite_tui.ui.tabs import PANEL_OF_TAB, TAB_OF_KIND
from ferrite_tui.ui.textual_private import app_driver, driven_app
from ferrite_tui.websession import LOCATION_META, MAX_FRAGMENT, NAVIGATE_META

#: How often the console looks at where it is (a move shows in the address within this).
REPORT_EVERY_S = 0.25
#: How long a link waits for the first snapshot to find its queue in, then for the panel
#: to show it selected.
NAVIGATE_WAIT_S = 60.0
SELECT_WAIT_S = 5.0
#: Tabs whose rows are queues (row key: the queue's ident, "kind:key").
QUEUE_TABS = frozenset({"overview", *TAB_OF_KIND.values()})


def fragment_of(tab: str, key: str | None) -> str:
    if key is None or tab not in QUEUE_TABS:
        return f"#/{tab}"
    return f"#/{tab}/{quote(key.encode('utf-8', 'surrogateescape'), safe='')}"


def parse_fragment(fragment: str) -> tuple[str, str | None] | None:
    """(tab, queue key or None) of `#/tab[/key]`; None for anything else."""
    if not fragment.startswith("#/") or len(fragment) > MAX_FRAGMENT:
        return None
    tab, _, key = fragment[2:].partition("/")
    if tab not in PANEL_OF_TAB:
        return None
    if not key or tab not in QUEUE_TABS:
        return tab, None
    return tab, unquote_to_bytes(key).decode("utf-8", "surrogateescape")


class WebNavigate(Message):
    """The page asks the console to go to a fragment (a link opened, Back, Forward)."""

    def __init__(self, fragment: str) -> None:
        super().__init__()
        self.fragment = fragment


class LocatedWebDriver(WebDriver):
    """Textual's web driver, which also takes the page's navigation (serve's meta packet)."""

    def on_meta(self, packet_type: str, payload: dict[str, object]) -> None:
        if packet_type == NAVIGATE_META:
            fragment = payload.get("fragment")
            if isinstance(fragment, str) and len(fragment) <= MAX_FRAGMENT:
                driven_app(self).post_message(WebNavigate(fragment))  # thread-safe
            return
        super().on_meta(packet_type, payload)


class WebLocationApp:
    """The app's side: report where it is, follow where the page asks it to go. Mixed into
    FerriteApp; `follow_web_location()` starts it (it does nothing outside a browser)."""

    _web_reported: str | None = None
    # (tab, key, asked at, first tried at) of a queue a link names, until it is selected
    _web_pending: tuple[str, str, float, float | None] | None = None
    _web_deferred: str | None = None  # a navigation that waits for the main screen

    def follow_web_location(self) -> None:
        app: Any = self  # FerriteApp (ui/app.py is imported by no UI module)
        if isinstance(app_driver(app), WebDriver):
            app.set_interval(REPORT_EVERY_S, self._report_location)

    def web_location(self) -> str | None:
        """The fragment of where the console is now; None while its panel is still being
        drawn (no queue selected yet in a list that has some)."""
        app: Any = self  # FerriteApp (ui/app.py is imported by no UI module)
        tab = app.query_one("#tabs", TabbedContent).active or "overview"
        if tab not in QUEUE_TABS:
            return fragment_of(tab, None)
        panel = app._panels.get(tab)
        tables = panel.query("#table") if panel is not None and panel.is_mounted else None
        if not tables or app._last_snapshot is None:
            return None
        table = tables.first()
        ident = getattr(table, "cursor_key", None)
        if isinstance(ident, str) and ":" in ident:
            return fragment_of(tab, ident.split(":", 1)[1])
        return None if getattr(table, "row_count", 0) else fragment_of(tab, None)

    def _report_location(self) -> None:
        app: Any = self  # FerriteApp (ui/app.py is imported by no UI module)
        if self._web_deferred is not None and len(app.screen_stack) == 1:
            app.post_message(WebNavigate(self._web_deferred))
            self._web_deferred = None
            return
        if self._web_pending is not None:
            self._find_pending()
            return  # the page's own address stands until the console got there
        if len(app.screen_stack) != 1 or not app.is_running:
            return  # a dialog: the place under it is the same
        try:
            location = self.web_location()
        except NoMatches:  # composing or shutting down
            return
        if location is None or location == self._web_reported:
            return
        driver = app_driver(app)
        if isinstance(driver, WebDriver):
            self._web_reported = location
            driver.write_meta({"type": LOCATION_META, "fragment": location})

    async def on_web_navigate(self, message: WebNavigate) -> None:
        app: Any = self  # FerriteApp (ui/app.py is imported by no UI module)
        place = parse_fragment(message.fragment)
        if place is None:
            return
        tab, key = place
        try:
            here = self.web_location() if len(app.screen_stack) == 1 else None
        except NoMatches:  # still composing
            here = None
        if here is None and len(app.screen_stack) == 1 and app._last_snapshot is not None:
            here = ""  # a panel still drawing: go on
        if here is None:
            # A dialog (answered first), or not composed yet (a link opened at start):
            # go there once the main screen is back.
            self._web_deferred = message.fragment
            return
        self._web_deferred = None
        self._web_reported = None  # the page hears where the console is after any navigation
        if message.fragment == here:
            return
        self._web_pending = None
        await app.action_show_panel(tab)
        if key is not None:
            self._web_pending = (tab, key, time.monotonic(), None)
            self._find_pending()

    def _find_pending(self) -> None:
        """Select the queue a link names, once a snapshot has it (a link opened at start
        waits for the first one), again at each report tick until the console is there
        (a panel just built gets its rows a moment later) or SELECT_WAIT_S has passed."""
        app: Any = self  # FerriteApp (ui/app.py is imported by no UI module)
        assert self._web_pending is not None
        tab, key, asked_at, tried_at = self._web_pending
        now = time.monotonic()
        try:
            arrived = self.web_location() == fragment_of(tab, key)
        except NoMatches:
            arrived = False
        snapshot: Any = app._last_snapshot
        if arrived or (tried_at is not None and now - tried_at > SELECT_WAIT_S):
            self._web_pending = None
            return
        if snapshot is None:
            if now - asked_at > NAVIGATE_WAIT_S:
                self._web_pending = None
            return
        if tried_at is None:
            self._web_pending = (tab, key, asked_at, now)
        ref = next((q.ref for q in snapshot.queues
                    if q.ref.key == key and (tab == "overview"
                                             or TAB_OF_KIND.get(q.ref.kind) == tab)), None)
        if ref is None:
            self._web_pending = None
            app.notify(f"the link names {printable(key, 80)}, not a queue of this panel",
                       severity="warning", timeout=5)
        elif tab == "overview":
            panel = app._panels.get(tab)
            focus = getattr(panel, "focus_ident", None)
            if panel is not None and focus is not None:
                panel.call_after_refresh(focus, ref.ident)
        else:
            app.post_message(OpenQueue(ref.ident))
