"""The shared message inspector: views, literal rendering, truncation, copy and save."""

from __future__ import annotations

import json

from textual.app import App
from textual.widgets import Input, Static, TextArea

from ferrite_tui import formatting as fmt
from ferrite_tui.ui.screens.inspector import (
    COPY_LIMIT,
    SHOW_LIMIT,
    InspectorScreen,
    hex_dump,
    pretty_json,
)
from helpers import async_wait_until


class Host(App):
    def __init__(self, screen: InspectorScreen) -> None:
        super().__init__()
        self.inspector = screen
        self.copied: list[str] = []

    def on_mount(self) -> None:
        self.push_screen(self.inspector)

    def copy_to_clipboard(self, text: str) -> None:  # records what OSC 52 would send
        self.copied.append(text)
        super().copy_to_clipboard(text)


def body(screen: InspectorScreen) -> str:
    return screen.query_one(TextArea).text


def static_text(screen: InspectorScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def test_json_envelope_pretty_raw_hex_copy_and_save(tmp_path):
    value = json.dumps({"job": {"id": "j-1", "payload": {"to": "a@b"}, "retry_count": 3,
                                "last_error": "boom", "first_attempt": 1},
                        "dead_at": 2, "reason": "boom"}).encode()
    screen = InspectorScreen("queue:main:dlq #0", value, meta=[("id", "j-1"), ("reason", "boom")])
    app = Host(screen)
    async with app.run_test(size=(100, 34)) as pilot:
        await async_wait_until(lambda: screen.is_mounted and screen.rendered == "pretty")
        assert screen.mode == "pretty"
        assert '"payload": {' in body(screen) and "\n" in body(screen)
        assert "dead letter" in static_text(screen, "#insp-info")
        assert f"{len(value):,} bytes" in static_text(screen, "#insp-info")
        assert "reason" in static_text(screen, "#insp-meta")
        await pilot.press("w")
        await async_wait_until(lambda: screen.rendered == "raw")
        assert screen.mode == "raw" and body(screen) == value.decode()
        await pilot.press("h")
        await async_wait_until(lambda: screen.rendered == "hex")
        assert screen.mode == "hex" and body(screen).startswith("00000000  7b 22")
        await pilot.press("c")
        assert app.copied == [value.decode()]
        await pilot.press("s")
        await async_wait_until(lambda: isinstance(app.screen, type(app.screen)) and
                               app.screen.query("#field-path"))
        target = tmp_path / "out.json"
        app.screen.query_one("#field-path", Input).value = str(target)
        await pilot.press("enter")
        await async_wait_until(lambda: target.exists())
        assert target.read_bytes() == value
        await pilot.press("escape")
        await async_wait_until(lambda: app.screen is not screen)


async def test_hostile_values_render_literally():
    hostile = ('{"payload": "\x1b[31mred\x1b[0m \x9b2J [bold]x[/bold] \u202eevil"}').encode()
    screen = InspectorScreen("t\x1b]0;pwn\x07", hostile, meta=[("reason", "[b]\x1b[2Jx")])
    app = Host(screen)
    async with app.run_test(size=(100, 34)) as pilot:
        await async_wait_until(lambda: screen.is_mounted and body(screen))
        for key, mode in (("p", "pretty"), ("w", "raw"), ("h", "hex")):
            await pilot.press(key)
            await async_wait_until(lambda mode=mode: screen.rendered == mode)
            text = body(screen)
            assert "\x1b" not in text and "\x9b" not in text and "\u202e" not in text
        assert "[bold]x[/bold]" in (pretty_json(hostile) or "")
        meta = static_text(screen, "#insp-meta")
        assert "\x1b" not in meta and "[b]" in meta
        assert "\x1b" not in static_text(screen, ".insp-title")


async def test_binary_opens_in_hex_and_refuses_json_view():
    value = bytes(range(256))
    screen = InspectorScreen("bin", value)
    app = Host(screen)
    async with app.run_test(size=(100, 34)) as pilot:
        await async_wait_until(lambda: screen.is_mounted and screen.rendered == "hex")
        assert screen.mode == "hex"
        assert body(screen) == hex_dump(value)
        await pilot.press("p")
        assert screen.mode == "hex"


async def test_large_value_is_truncated_with_a_note():
    value = b'"' + b"x" * (SHOW_LIMIT + 10) + b'"'
    screen = InspectorScreen("big", value)
    app = Host(screen)
    async with app.run_test(size=(100, 34)) as pilot:
        await async_wait_until(lambda: screen.is_mounted and body(screen))
        assert len(body(screen)) <= SHOW_LIMIT
        assert "only the first" in static_text(screen, "#insp-note")
        await pilot.press("c")  # over COPY_LIMIT: refused, the file offered instead
        await async_wait_until(lambda: app.screen.__class__.__name__ == "FormScreen")
        assert app.copied == []
        assert any(f"Not copied: the value is {fmt.size(len(value))}" in str(n.message)
                   for n in app._notifications)


async def test_a_value_up_to_the_copy_limit_is_copied_whole():
    value = b'"' + b"x" * (COPY_LIMIT - 2) + b'"'
    screen = InspectorScreen("copy", value)
    app = Host(screen)
    async with app.run_test(size=(100, 34)) as pilot:
        await async_wait_until(lambda: screen.is_mounted and body(screen))
        await pilot.press("c")
        assert len(app.copied[0]) == len(value)


async def test_stream_fields_view():
    fields = [(b"data", b'{"a": 1}'), (b"\x1bkind", b"created")]
    screen = InspectorScreen("events 1-0", b"", fields=fields)
    app = Host(screen)
    async with app.run_test(size=(100, 34)) as pilot:
        await async_wait_until(lambda: screen.is_mounted and body(screen))
        assert screen.mode == "fields"
        text = body(screen)
        assert '"a": 1' in text and "\\x1bkind = created" in text
        await pilot.press("escape")
        await async_wait_until(lambda: app.screen is not screen)


async def test_huge_value_never_blocks_the_event_loop():
    """A 10 MB value: opening it and switching views (hex, raw, hex, raw) keep the event
    loop answering; what the text area holds stays bounded whatever the value's size."""
    import asyncio
    import time

    from ferrite_tui.ui.screens import inspector

    value = (b"line of text 0123456789 abcdefghij " * 3 + b"\n") * (10_000_000 // 106)
    screen = InspectorScreen("big", value)
    # A stall is CPU the event loop's thread spent between two ticks: its thread time, so
    # that a busy machine descheduling the process (wall time) is not counted as a stall.
    gaps: list[float] = []
    wall_gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last, last_wall = time.thread_time(), time.monotonic()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now, now_wall = time.thread_time(), time.monotonic()
            gaps.append(now - last)
            wall_gaps.append(now_wall - last_wall)
            last, last_wall = now, now_wall

    async with Host(screen).run_test(size=(120, 36)) as pilot:
        tick = asyncio.create_task(ticker())
        await async_wait_until(lambda: screen.is_mounted and body(screen), timeout=30)
        for key, mode in (("h", "hex"), ("w", "raw"), ("h", "hex"), ("w", "raw")):
            await pilot.press(key)
            await async_wait_until(lambda mode=mode: screen.rendered == mode, timeout=30)
            assert len(body(screen)) <= inspector.VIEW_LIMIT
        done.set()
        await tick
    worst = max(gaps)
    print(f"\nlongest event-loop stall over open + 4 view switches of 10 MB: {worst * 1000:.0f} ms"
          f" of the loop thread's CPU ({max(wall_gaps) * 1000:.0f} ms wall)")
    assert worst < 0.75, f"the event loop stalled {worst:.2f} s (CPU of its thread)"
