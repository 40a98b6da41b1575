"""An unreachable or refusing server: the header says why, and when the next try is."""

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.config import Config
from ferrite_tui.ui.app import FerriteApp
from ferrite_tui.ui.widgets.status import StatusLine
from helpers import async_wait_until


def console(url, tmp_path, **settings):
    return FerriteApp(Config(), ConnectionSettings(url=url, connect_timeout=1,
                                                   command_timeout=1, **settings),
                      refresh=0.2, audit_path=tmp_path / "audit.log")


def screen_text(app) -> str:
    """The header's lines as the terminal shows them (cut to the screen's width)."""
    status = app.query_one(StatusLine)
    return "\n".join(strip.text for strip in status.render_lines(status.region.reset_offset))


async def wait_for_reason(app, pilot, *needles, timeout=20):
    status = app.query_one(StatusLine)

    def shown():
        text = screen_text(app)
        return all(n in text for n in needles) and status.size.height >= 2

    try:
        await async_wait_until(shown, timeout=timeout)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; header: {screen_text(app)!r}") from None


async def test_refused_says_so_and_when_the_next_try_is(server_factory, tmp_path):
    server = server_factory()
    url = server.url
    server.stop()
    app = console(url, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_reason(app, pilot, "connection refused", "next try in")


async def test_panels_say_nothing_of_discovery_while_not_connected(server_factory, tmp_path):
    """Before the first answer no panel claims discovery is running or that nothing was
    found: the server has not been read at all."""
    from textual.widgets import Static

    from ferrite_tui.ui.panels.base import BEFORE_FIRST_POLL

    server = server_factory()
    url = server.url
    server.stop()
    app = console(url, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for_reason(app, pilot, "connection refused")
        for key, tab in (("1", "overview"), ("2", "queues"), ("5", "streams"),
                         ("7", "pubsub")):
            await pilot.press(key)
            panel = app.panel(tab)
            await async_wait_until(lambda panel=panel: panel.is_mounted
                                   and bool(panel.query("#note")))
            note = str(panel.query_one("#note", Static).render())
            assert note.splitlines()[0] == BEFORE_FIRST_POLL, (tab, note)


async def test_wrong_password_says_so_and_waits(server_factory, tmp_path):
    server = server_factory(password="secret")
    app = console(server.url.replace("secret", "nope"), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_reason(app, pilot, "authentication failed", "ctrl+r")
        assert "nope" not in screen_text(app)


async def test_a_password_typed_in_the_console_connects(server_factory, tmp_path):
    """A wrong password is fixed inside the console: the header says how, the palette's
    'Log in' asks for it, and the console connects with it (never saved)."""
    from textual.widgets import Input

    from ferrite_tui.ui.screens.dialogs import FormScreen

    server = server_factory(password="secret")
    app = console(server.url.replace("secret", "nope"), tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for_reason(app, pilot, "authentication failed")
        await async_wait_until(lambda: "ctrl+p 'log in' to type one" in
                               " ".join(screen_text(app).split()))
        app.action_log_in()
        await async_wait_until(lambda: isinstance(app.screen, FormScreen)
                               and app.screen.query("#field-password"))
        app.screen.query_one("#field-password", Input).value = "secret"
        await pilot.press("enter")
        await async_wait_until(lambda: app.monitor is not None
                               and app.monitor.snapshot is not None, timeout=15,
                               message=f"{app.settings} {app.screen} {screen_text(app)}")
        # The header's reason goes with the next redraw after the snapshot: wait for it.
        await async_wait_until(lambda: "authentication" not in screen_text(app))
        assert "secret" not in screen_text(app)
        assert app.settings is not None and app.settings.password == "secret"
    assert "secret" not in (tmp_path / "audit.log").read_text() \
        if (tmp_path / "audit.log").exists() else True


async def test_tls_to_a_plain_port_says_tls(redis_url, tmp_path):
    app = console(redis_url.replace("redis://", "rediss://"), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_reason(app, pilot, "TLS", "next try in")


async def test_error_toasts_stay_until_escape(redis_url, tmp_path):
    app = console(redis_url, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.notify("move failed: something to read", severity="error")
        # Long enough to be seen before it expires on a loaded machine (its time runs from
        # the notify call, not from when the app handles it), short enough to wait out.
        app.notify("just news", timeout=4)
        await async_wait_until(lambda: any(n.message == "just news"
                                           for n in app.notice_board.shown()), timeout=4)
        await async_wait_until(lambda: not any(n.message == "just news"
                                               for n in app.notice_board.shown()), timeout=30)
        assert [n.message for n in app.pinned_errors()] == ["move failed: something to read"]
        await pilot.press("escape")
        await pilot.pause()
        assert app.pinned_errors() == []
