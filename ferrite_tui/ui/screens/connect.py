"""Shown when there is no URL and no default profile: try a server, save it as a profile."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Checkbox, Input, Label, Static

from ferrite_tui.backend.client import Client
from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.backend.errors import BackendError
from ferrite_tui.config import DEFAULT_URL, Config, ConfigError, Profile, save_profile
from ferrite_tui.escaping import printable
from ferrite_tui.ui.screens.dialogs import DialogBody, Field, FormScreen
from ferrite_tui.urls import redact_url

if TYPE_CHECKING:
    from ferrite_tui.ui.protocols import ConsoleApp


class ConnectScreen(Screen):
    BINDINGS = [Binding("escape", "cancel", "Quit"), Binding("ctrl+q", "cancel", "Quit")]
    DEFAULT_CSS = """
    ConnectScreen { align: center middle; }
    ConnectScreen > Vertical {
        width: 80; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; padding: 0 1; background: $surface;
    }
    ConnectScreen DialogBody { height: auto; }
    ConnectScreen Input { margin-bottom: 1; }
    ConnectScreen #connect-error { color: $error; height: auto; }
    ConnectScreen Horizontal { height: auto; }
    ConnectScreen .dialog-buttons { dock: bottom; height: auto; }
    """

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config

    def compose(self) -> ComposeResult:
        profiles = ", ".join(sorted(self.config.profiles)) or "none yet"
        with Vertical():
            # The form scrolls at 80x24; the error line and the buttons stay in view.
            with DialogBody():
                yield Static(Text("Connect to a server", style="bold"))
                yield Static(Text(f"Saved profiles: {profiles} (start with --profile NAME)",
                                  style="dim"))
                yield Label("URL (redis://, rediss:// or unix://)")
                yield Input(DEFAULT_URL, id="url")
                yield Label("User name (optional)")
                yield Input(id="username")
                yield Label("Password (used now, never saved)")
                yield Input(password=True, id="password")
                yield Label("Password environment variable for the saved profile (optional)")
                yield Input(id="password_env")
                yield Label("TLS CA file (optional)")
                yield Input(id="tls_ca_file")
                with Horizontal():
                    yield Checkbox("Verify TLS certificates", True, id="tls_verify")
                    yield Checkbox("Read-only", False, id="read_only")
                yield Label("Save as profile (name; empty: don't save)")
                yield Input(id="profile")
            with Vertical(classes="dialog-buttons"):
                yield Static(id="connect-error")
                with Horizontal():
                    yield Button("Connect", variant="primary", id="connect")
                    yield Button("Quit", id="quit")

    def on_mount(self) -> None:
        self.query_one("#url", Input).focus()

    def _value(self, ident: str) -> str | None:
        return self.query_one(f"#{ident}", Input).value.strip() or None

    def profile(self) -> Profile:
        return Profile(
            name=self._value("profile") or "default",
            url=self._value("url") or DEFAULT_URL,
            username=self._value("username"),
            password_env=self._value("password_env"),
            tls_ca_file=self._value("tls_ca_file"),
            tls_verify=self.query_one("#tls_verify", Checkbox).value,
            read_only=self.query_one("#read_only", Checkbox).value,
        )

    @on(Button.Pressed, "#connect")
    @on(Input.Submitted)
    def _try(self) -> None:
        self.query_one("#connect-error", Static).update(Text("connecting…"))
        self._attempt(self.profile(), self.query_one("#password", Input).value or None)

    @on(Button.Pressed, "#quit")
    def action_cancel(self) -> None:
        self.dismiss(None)

    @work(exclusive=True, group="connect", exit_on_error=False)
    async def _attempt(self, profile: Profile, password: str | None) -> None:
        error = self.query_one("#connect-error", Static)
        try:
            settings = ConnectionSettings.from_profile(profile)
            if password:
                settings = replace(settings, password=password,
                                   password_from="typed on the connect screen")
            client = Client(settings)
            try:
                await client.connect()
            finally:
                await client.aclose()
        except BackendError as exc:
            error.update(Text(printable(str(exc))))
            return
        if self._value("profile"):
            try:
                self.config = save_profile(self.config, profile, make_default=True)
                cast("ConsoleApp", self.app).config = self.config
            except (ConfigError, OSError) as exc:
                self.app.notify(f"profile not saved: {printable(str(exc))}",
                                severity="warning")
        self.dismiss(settings)


def log_in_form(settings: ConnectionSettings) -> FormScreen:
    """A user name and password for the server the console is on (a wrong one said only
    "fix it, then ctrl+r", with no way to give one inside the console)."""
    return FormScreen(
        f"Log in to {printable(settings.display_url, 100)}",
        [Field("username", "User name (empty: the default user)", settings.username or ""),
         Field("password", "Password (used now, never saved)", password=True)],
        submit_label="Connect")


def logged_in(settings: ConnectionSettings, values: dict[str, str]) -> ConnectionSettings:
    """The settings with the typed credentials (this session only, never saved); the URL's
    own credentials would win over them, so they leave the URL."""
    return replace(settings, url=redact_url(settings.url, keep_user=False, mask=""),
                   username=values["username"] or None, password=values["password"])
