"""The Textual application: tabs of panels over one Monitor."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, cast

from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widget import AwaitMount, Widget
from textual.widgets import Input, TabbedContent, TabPane

from ferrite_tui.backend.audit import AuditLog
from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.models import QueueKind, Snapshot
from ferrite_tui.backend.monitor import Listener, Monitor
from ferrite_tui.backend.trends import Trends
from ferrite_tui.config import Config, save_setting, state_dir
from ferrite_tui.files import SCREENSHOTS, files_dir
from ferrite_tui.startup import resume_collector
from ferrite_tui.ui.keyhold import KeyHold
from ferrite_tui.ui.messages import ConnectionChanged, DiscoveryProgressed, OpenQueue, SnapshotReady
from ferrite_tui.ui.notices import NoticesApp
from ferrite_tui.ui.protocols import PanelView
from ferrite_tui.ui.quiet import SnapshotGate
from ferrite_tui.ui.screens.connect import ConnectScreen, log_in_form, logged_in
from ferrite_tui.ui.screens.help import HelpScreen
from ferrite_tui.ui.screens.main import MainScreen
from ferrite_tui.ui.session import Session
from ferrite_tui.ui.tabs import PANEL_OF_TAB, PANELS, TAB_OF_KIND
from ferrite_tui.ui.textual_private import TerminalShadow, display_frame
from ferrite_tui.ui.weblocation import WebLocationApp
from ferrite_tui.ui.widgets.footer import KeyFooter
from ferrite_tui.ui.widgets.notices import NoticeLine
from ferrite_tui.ui.widgets.status import StatusLine
from ferrite_tui.websession import BrowserSession

if TYPE_CHECKING:
    from textual.command import Provider

# Keys that change data. Panels that implement them bind them themselves; these app-level
# fallbacks say why nothing happens (read-only, or nothing selected to act on).
MUTATING_KEYS = (("r", "requeue / retry"), ("R", "requeue all shown"), ("d", "delete"),
                 ("D", "delete all shown"), ("c", "claim"), ("a", "ack"), ("x", "run now"),
                 ("n", "new message"), ("e", "edit"))


def panel_commands() -> type[Provider]:
    from ferrite_tui.ui.commands import PanelCommands  # when the palette opens, not at start
    return PanelCommands


class FerriteApp(NoticesApp, WebLocationApp):
    CSS_PATH = "app.tcss"
    TITLE = "ferrite-tui"
    COMMANDS = App.COMMANDS | {panel_commands}

    BINDINGS = [
        *(Binding(key, f"show_panel('{tab}')", cls.TITLE, id=f"panel.{tab}", show=False)
          for tab, key, cls in PANELS),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("ctrl+r", "rescan", "Refresh", id="rescan"),
        Binding("escape", "step_back", "Back", id="back", show=False),
        # From the tab strip (Tab reaches it), Down goes back into the panel's list.
        Binding("down", "focus_panel", "Into the list", id="focus_panel", show=False),
        # Errors stay until read: escape dismisses them first, wherever focus is.
        Binding("escape", "dismiss_errors", "Dismiss errors", id="dismiss_errors",
                show=False, priority=True),
        Binding("q", "quit", "Quit", id="quit"),
        Binding("ctrl+q", "quit", "Quit", id="quit.ctrl", show=False, priority=True),
        # Over SSH, ctrl+c is how people leave a terminal program.
        Binding("ctrl+c", "quit", "Quit", id="quit.interrupt", show=False, priority=True),
        *(Binding(key, f"mutate('{label}')", label, id=f"mutate.{key}", show=False)
          for key, label in MUTATING_KEYS),
    ]

    def __init__(self, config: Config, settings: ConnectionSettings | None = None, *,
                 refresh: float | None = None, match: tuple[str, ...] | None = None,
                 clock: Callable[[], float] = time.time, poll: bool = True,
                 audit_path: Path | None = None, browser: BrowserSession | None = None) -> None:
        super().__init__(crash_log=state_dir() / "crash.log")
        self.config = config
        # Started by `serve` for a browser: read-only unless that session allows writes.
        self.browser = browser if browser is not None else BrowserSession.from_environ()
        if settings is not None:
            settings = self._session_limits(settings)
        self.refresh_s = refresh or config.refresh
        self.match = match
        self.poll_enabled = poll
        self.audit_path = audit_path or state_dir() / "audit.log"
        # What panels may use of the connection; poll=False: no Monitor, no server I/O.
        self.session = Session(config, settings, clock, self.audit_path)
        self._panels: dict[str, PanelView] = {}  # by tab, as they are built
        self._mounting: dict[str, AwaitMount] = {}
        self._last_snapshot: Snapshot | None = None
        self._status_line: StatusLine | None = None  # once mounted
        self.key_hold = KeyHold(self, lambda event: super(FerriteApp, self).on_event(event))
        self.snapshot_gate = SnapshotGate(self, self.key_hold, self._apply_snapshot)
        self.terminal_shadow = TerminalShadow()  # a partial frame writes only changed cells
        # No animations unless asked for (TEXTUAL_ANIMATIONS): over SSH every animated frame
        # is bytes on the wire, and the tab underline's slide drew ~18 frames per switch.
        if "TEXTUAL_ANIMATIONS" not in os.environ:
            self.animation_level = "none"
        if config.theme:
            self.theme = config.theme if config.theme in self.available_themes else self.theme
        if config.keys:
            self.set_keymap(dict(config.keys))

    # The session holds these; the app's names stay for the CLI and the tests.
    @property
    def settings(self) -> ConnectionSettings | None:
        return self.session.settings

    @settings.setter
    def settings(self, value: ConnectionSettings | None) -> None:
        self.session.settings = value

    @property
    def monitor(self) -> Monitor | None:
        return self.session.monitor

    @property
    def clock(self) -> Callable[[], float]:
        return self.session.server_now_s  # the server's clock, as every time in a snapshot

    @property
    def trends(self) -> Trends:
        return self.session.trends

    # -- layout -------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[None]:
        return MainScreen(id="_default")  # its footer lists the panel's actions first

    def compose(self) -> ComposeResult:
        url = self.settings.display_url if self.settings else "not connected"
        read_only = bool(self.settings and self.settings.read_only)
        yield StatusLine(url, read_only, clock=self.clock, browser=self.browser, id="status")
        # Only the first panel is built now; the others when first shown (panel()): an
        # operator looks at two or three of the eight, and each costs its widgets' styling.
        with TabbedContent(initial="overview", id="tabs"):
            for tab, key, cls in PANELS:
                with TabPane(f"{key} {cls.TITLE}", id=tab):
                    if tab == "overview":
                        panel = self._panels.setdefault(tab, cls(id=f"panel-{tab}"))
                        yield cast(Widget, panel)
        # Filter, notices and footer stack at the bottom (docked widgets would overlap).
        with Vertical(id="bottom"):
            yield Input(placeholder="filter (enter keeps it, escape clears)", id="filter")
            yield NoticeLine(id="notices")
            yield KeyFooter()

    # Short tab labels for narrow terminals, so all eight stay visible at 80 columns.
    SHORT_TITLES = {"scheduled": "Sched", "dlq": "DLQ"}

    def on_resize(self, event) -> None:
        tabs, narrow = self.query_one("#tabs", TabbedContent), event.size.width < 100
        for tab, key, cls in PANELS:
            title = self.SHORT_TITLES.get(tab, cls.TITLE) if narrow else cls.TITLE
            tabs.get_tab(tab).label = f"{key} {title}"

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self._status_line = self.query_one(StatusLine)
        self.theme_changed_signal.subscribe(self, self._remember_theme)
        self.screen_change_signal.subscribe(self, self.key_hold.screen_changed)
        self.call_after_refresh(self._focus_active_table)
        self.follow_web_location()  # served in a browser: the page's address follows
        if self.poll_enabled and self.settings is None:
            self.push_screen(ConnectScreen(self.config), self._connected)

    def on_load(self) -> None:
        # Before compose: the connection, discovery and first poll overlap it (start-up).
        if self.poll_enabled and self.settings is not None:
            self.start_monitor(self.settings)

    def _connected(self, settings: ConnectionSettings | None) -> None:
        if settings is None:
            self.exit()
            return
        self.settings = settings = self._session_limits(settings)
        status = self.query_one(StatusLine)
        status.url = settings.display_url
        status.read_only = settings.read_only
        self.refresh_bindings()  # read-only mode disables the mutating actions
        self.start_monitor(settings)

    def action_log_in(self) -> None:
        """A user name and password typed here, then connect again with them."""
        def log_in(values: dict[str, str] | None) -> None:
            if values is not None and self.settings is not None:
                self.restart_monitor(logged_in(self.settings, values))

        if self.settings is not None:
            self.push_screen(log_in_form(self.settings), log_in)

    def restart_monitor(self, settings: ConnectionSettings) -> None:
        """Drop the connection and its poll loop, and connect again with these settings."""
        if self.monitor is not None:
            self.monitor.stop()
        self.workers.cancel_group(self, "poll")
        self._connected(settings)

    def _session_limits(self, settings: ConnectionSettings) -> ConnectionSettings:
        if self.browser is None or self.browser.writes:
            return settings
        return replace(settings, read_only=True)

    def start_monitor(self, settings: ConnectionSettings) -> None:
        remote = self.browser.remote if self.browser is not None else None
        self.session.monitor = Monitor(
            settings, self.config, audit=AuditLog(self.audit_path, remote=remote),
            match=self.match, refresh=self.refresh_s,
            remember_in=Path(self.audit_path).parent,  # queues seen: beside the audit log
        )
        self._poll_worker()

    @work(group="poll", exit_on_error=False)
    async def _poll_worker(self) -> None:
        monitor = self.monitor
        assert monitor is not None
        try:
            await monitor.run(Listener(
                on_snapshot=lambda s: self.send(SnapshotReady(s)),
                on_state=lambda s: self.send(ConnectionChanged(s)),
                on_discovery=lambda p: self.send(DiscoveryProgressed(p)),
            ))
        finally:
            await monitor.aclose()

    def send(self, message: Message) -> None:
        """Post from the poll loop (its callbacks return nothing)."""
        self.post_message(message)

    # -- data in ------------------------------------------------------------------------

    def panels(self) -> list[PanelView]:
        """The panels built so far (a panel is built when its tab is first shown)."""
        return list(self._panels.values())

    def panel(self, tab: str) -> PanelView:
        """The tab's panel, built and mounted on first use. It is in the DOM at once; its
        widgets are composed by its own message loop, and it gets the last snapshot then."""
        panel = self._panels.get(tab)
        if panel is None:
            panel = self._panels[tab] = PANEL_OF_TAB[tab](id=f"panel-{tab}")
            # Hidden until composed: laid out before its widgets exist, they would miss
            # the resize that sizes their columns and pages. _catch_up shows it.
            panel.display = False
            self._mounting[tab] = self.query_one(f"#{tab}", TabPane).mount(
                cast(Widget, panel))  # every panel is a widget (PanelView types the rest)
            panel.call_after_refresh(self._catch_up, panel)
        return panel

    async def _built(self, tab: str) -> PanelView:
        """The tab's panel, composed and caught up: a key waits for it, the tab shows it whole."""
        panel = self.panel(tab)
        mounting = self._mounting.pop(tab, None)
        if mounting is not None:
            await mounting
        self._catch_up(panel)
        return panel

    def _catch_up(self, panel: PanelView) -> None:
        """A panel just built: shown, and given what the others got before it existed."""
        if panel.display:
            return  # caught up already
        panel.display = True
        panel.set_capabilities(self.session.capabilities)
        if self._last_snapshot is not None:
            panel.update_snapshot(self._last_snapshot, self.session.history)
        if panel is self.active_panel():
            self._show_active()

    def _shutting_down(self) -> bool:
        """True while the app shuts down: widgets go away, so late poll messages are dropped."""
        # Attribute checks, not DOM queries: this runs on every poll message.
        status = self._status_line
        panels = self._panels.values()
        return (not self.is_running or status is None or not status.is_attached
                or not all(p.is_attached for p in panels))

    @on(SnapshotReady)
    def _snapshot(self, message: SnapshotReady) -> None:
        self.snapshot_gate.offer(message.snapshot)  # once no key waits for its dialog

    def _apply_snapshot(self, snap: Snapshot) -> None:
        if self._shutting_down():
            return
        history = self.session.history
        caps = self.session.capabilities
        if self._last_snapshot is None:
            self.call_after_refresh(resume_collector)  # the first data drawn (startup.py)
        self._last_snapshot = snap
        with self.batch_update():
            for panel in self.panels():
                panel.set_capabilities(caps)
            self.query_one(StatusLine).set_data_time(snap, caps, self.refresh_s)
            for panel in self.panels():
                if panel.is_mounted:  # one still composing gets it in _catch_up
                    panel.update_snapshot(snap, history)

    @on(ConnectionChanged)
    def _state(self, message: ConnectionChanged) -> None:
        if self._shutting_down():
            return
        # The reason stays in the header (a line under it) while it holds; no toast.
        self.query_one(StatusLine).set_state(message.state)

    @on(DiscoveryProgressed)
    def _discovery(self, message: DiscoveryProgressed) -> None:
        if self._shutting_down():
            return
        self.query_one(StatusLine).set_discovery(message.progress)

    @on(OpenQueue)
    async def _open_queue(self, message: OpenQueue) -> None:
        kind = QueueKind(message.ident.split(":", 1)[0])
        tab = TAB_OF_KIND[kind]
        await self.action_show_panel(tab)
        panel = self.panel(tab)
        group = message.group

        def focus() -> None:
            panel.focus_ident(message.ident)
            if group is not None:
                panel.select_group(group)

        # On the panel's own queue: after it is composed and has caught up, if it is new.
        panel.call_after_refresh(focus)

    @on(TabbedContent.TabActivated)
    def _tab_changed(self, event: TabbedContent.TabActivated) -> None:
        panel = self.active_panel()  # a tab clicked with the mouse builds its panel here
        if panel.is_mounted:
            self._show_active()  # else _catch_up does, once the panel is composed

    def _show_active(self) -> None:
        panel = self.active_panel()
        panel.show_latest()
        self.call_after_refresh(self._focus_active_table)
        filter_input = self.query_one("#filter", Input)
        if filter_input.display:
            panel.set_filter(filter_input.value)

    def _focus_active_table(self, from_filter: bool = False) -> None:
        filter_input = self.query_one("#filter", Input)
        if filter_input.display and filter_input.has_focus and not from_filter:
            return  # `/` typed right after a panel key: the filter keeps the keys
        tables = self.active_panel().query("DataTable")
        if tables:
            tables.first().focus()

    def active_panel(self) -> PanelView:
        return self.panel(self.query_one("#tabs", TabbedContent).active or "overview")

    # -- actions ------------------------------------------------------------------------

    async def action_show_panel(self, tab: str) -> None:
        if self.query_one("#tabs", TabbedContent).active != tab:
            await self._built(tab)
            self._switch(tab)
        else:  # the panel shown: its number brings focus back (from the tab strip, say)
            self._focus_active_table()

    def action_focus_panel(self) -> None:
        self._focus_active_table(from_filter=True)

    def _switch(self, tab: str) -> None:
        # Drop focus first: a widget left focused inside the pane being hidden would hand
        # focus to a sibling in that pane, and TabbedContent would switch back to it.
        self.set_focus(None)
        self.query_one("#tabs", TabbedContent).active = tab

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self))

    def action_rescan(self) -> None:
        if self.monitor is not None:
            self.monitor.rescan_now()
            self.notify("Rescanning keys and polling now", timeout=2)

    def action_filter(self) -> None:
        filter_input = self.query_one("#filter", Input)
        filter_input.display = True
        filter_input.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        panel = self.active_panel()
        if panel.is_mounted:  # one still composing takes the filter in _show_active
            panel.set_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        self._focus_active_table(from_filter=True)

    def action_step_back(self) -> None:
        """escape: close the filter, else go back to the Overview."""
        filter_input = self.query_one("#filter", Input)
        if filter_input.display:
            filter_input.value = ""
            filter_input.display = False
            if self.active_panel().is_mounted:
                self.active_panel().set_filter("")
            self._focus_active_table(from_filter=True)
        elif self.query_one("#tabs", TabbedContent).active != "overview":
            self._switch("overview")  # built at start: nothing to wait for

    def writable(self, action: str) -> bool:
        """Checked by every key that changes data, before any dialog opens."""
        if self.session.read_only:
            self.say_read_only(action)
            return False
        refused = self.session.refusal(action)  # a replica (the client's guard)
        if refused:
            self.notify(refused, severity="warning", timeout=6)
        return not refused

    def say_read_only(self, action: str) -> None:
        why = ("browser session; serve --allow-writes allows changes" if self.browser
               else "started read-only")
        self.notify(f"read-only mode: '{action}' is disabled ({why})",
                    severity="warning", timeout=4)

    def action_mutate(self, label: str) -> None:
        if self.writable(label):
            self.notify(f"'{label}': nothing here to act on; open a queue's items first",
                        timeout=3)

    async def on_event(self, event) -> None:
        # Keys typed in a burst wait for the dialog (or the work) they were aimed at.
        if isinstance(event, events.Key) and self.screen_stack:  # (none: shutting down)
            if not event.is_forwarded:
                await self.key_hold.key_typed(event)
            else:
                await self.key_hold.key_bubbled(event, lambda: super(FerriteApp, self)
                                                .on_event(event))
            return
        await super().on_event(event)

    def _display(self, screen, renderable) -> None:  # Textual's hook (textual_private.HOOKS)
        # The one place a frame goes to the terminal: keys wait for the screen on top.
        whole = display_frame(self, screen, renderable, self.terminal_shadow)
        if whole is not None:
            self.key_hold.frame_shown(screen, whole)

    @on(events.Unmount)
    def _collector_back(self) -> None:  # (a name of its own: subclasses have on_unmount)
        self.snapshot_gate.collector.stop()

    def exit(self, *args, **kwargs) -> None:
        # Every way out (q, ctrl+c, SIGTERM, a crash) stops the poll loop by flag first.
        if self.monitor is not None:
            self.monitor.stop()
        super().exit(*args, **kwargs)

    def deliver_screenshot(self, filename: str | None = None, path: str | None = None,
                           time_format: str | None = None) -> str | None:
        """Screenshots go to the console's own folder, made when missing (Textual's default,
        ~/Downloads, is often absent on a server); the message names the file or why not."""
        if self.is_web:  # the browser downloads it
            return super().deliver_screenshot(filename, path, time_format)
        folder = Path(path) if path else files_dir(SCREENSHOTS)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            saved = self.save_screenshot(filename, str(folder), time_format)
        except OSError as exc:
            self.notify(f"Screenshot not saved in {printable(str(folder), 200)}: "
                        f"{printable(exc.strerror or str(exc), 100)}", severity="error")
            return None
        self.notify(f"Screenshot saved: {printable(saved, 300)}", title="Screenshot")
        return None

    def set_refresh(self, seconds: float) -> None:
        self.refresh_s = seconds
        if self.monitor is not None:
            self.monitor.refresh = seconds
            self.monitor.poll_now()
        if self.config.path is not None:
            self.config = save_setting(self.config, refresh=seconds)
        self.notify(f"Refreshing every {seconds:g} s", timeout=2)

    def _remember_theme(self, theme) -> None:
        if self.config.path is not None and theme.name != self.config.theme:
            with suppress(OSError):
                self.config = save_setting(self.config, theme=theme.name)
