"""Textual's private names go through one module (ui/textual_private.py), each listed with
why; this fails naming the attribute when a Textual (or textual-serve) release removes one,
and when a module elsewhere reaches for one of them directly."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from textual.app import App
from textual.dom import DOMNode
from textual.driver import Driver
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget

import ferrite_tui
from ferrite_tui.ui import textual_private
from ferrite_tui.ui.textual_private import HOOKS, REPLACED, SERVE_USED, USED

ROOT = Path(ferrite_tui.__file__).parent
ADAPTER = ROOT / "ui" / "textual_private.py"
# Private names of Textual's that the console used to reach directly and must not again
# (public ways exist, or the console's own notices replace them).
RETIRED = {"_screen_stack", "_running", "_notifications", "_unnotify",
           "_refresh_notifications", "_exit_renderables", "_close_messages_no_wait"}


def instance_of(cls: type) -> object:
    """An instance on which attributes set in __init__ exist too."""
    if issubclass(cls, App):
        return App()
    if issubclass(cls, Screen):
        return Screen()
    if cls is DOMNode:
        return Widget()
    if issubclass(cls, Widget):
        return cls()
    if issubclass(cls, Message):
        return Message()
    if issubclass(cls, Driver):  # made inside an event loop, as Textual makes it
        import asyncio

        from textual.drivers.headless_driver import HeadlessDriver

        async def make() -> Driver:
            return HeadlessDriver(App())

        return asyncio.run(make())
    return None


def test_every_private_textual_name_the_console_uses_still_exists():
    missing = []
    for cls, name, why in USED:
        instance = instance_of(cls)
        if not hasattr(cls, name) and (instance is None or not hasattr(instance, name)):
            missing.append(f"textual {cls.__module__}.{cls.__qualname__}.{name} is gone "
                           f"(the console uses it: {why}); see ferrite_tui/ui/textual_private.py")
    assert not missing, "\n".join(missing)
    assert {name for _, name, _ in USED} >= set(HOOKS)
    gone = [f"textual {cls.__qualname__}.{name} is gone (the console replaces it: {why})"
            for cls, name, why in REPLACED if not hasattr(cls, name)]
    assert not gone, "\n".join(gone)


def test_every_private_textual_serve_name_the_console_uses_still_exists():
    missing = []
    for where, name, why in SERVE_USED:
        module, _, qualname = where.partition(":")
        cls = getattr(importlib.import_module(module), qualname)
        if not hasattr(cls, name):
            missing.append(f"{where}.{name} is gone (ferrite_tui/serve.py uses it: {why})")
    assert not missing, "\n".join(missing)


def test_the_adapter_works_on_live_objects():
    message = Message()
    assert textual_private.propagation_stopped(message) is False
    message.stop()
    assert textual_private.propagation_stopped(message) is True
    widget = Widget()
    assert textual_private.queued_messages(widget) == ()
    textual_private.bind_key(widget, "z", "choose('z')")
    assert [b.action for b in textual_private.bindings_for_key(widget, "z")] == ["choose('z')"]
    assert textual_private.screen_callbacks_pending(Screen()) is False
    app: App[None] = App()
    textual_private.disable_toasts(app)
    assert app._disable_notifications is True


def private_textual_uses(path: Path) -> list[str]:
    """`x._name` for the names in USED / RETIRED, outside the adapter (a hook's own
    definition is an override, not a use)."""
    names = {name for _, name, _ in USED} | RETIRED
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr in names:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} uses {node.attr}")
    return found


def test_no_module_but_the_adapter_reaches_textual_privates():
    modules = [p for p in (ROOT / "ui").rglob("*.py") if p != ADAPTER]
    modules.append(ROOT / "websession.py")
    assert len(modules) > 30
    found = [use for path in modules for use in private_textual_uses(path)]
    assert not found, "\n".join(found)


CRASHING_APP = """
import sys
from pathlib import Path
from ferrite_tui.ui.notices import NoticesApp

class Crashing(NoticesApp):
    def on_mount(self):
        raise RuntimeError("boom on key \\x1b[31mred")

app = Crashing(Path(sys.argv[1]))
app.run(headless=True)
sys.exit(app.return_code)
"""


def test_an_internal_error_exits_with_one_line_and_the_traceback_in_a_file(tmp_path):
    """Through Textual's crash hook (`_fatal_error`, listed in the adapter): one line out,
    the traceback (escaped) in the crash log, never on the screen."""
    import subprocess
    import sys

    crash_log = tmp_path / "crash.log"
    out = subprocess.run([sys.executable, "-c", CRASHING_APP, str(crash_log)],
                         capture_output=True, text=True, timeout=60)
    shown = "".join((out.stdout + out.stderr).split())  # (wrapped at the terminal's width)
    assert out.returncode == 1
    assert "".join(f"ferrite-tui stopped on an internal error; details in {crash_log}"
                   .split()) in shown
    assert "Traceback" not in shown and "boom" not in shown
    logged = crash_log.read_text()
    assert "Traceback" in logged and "RuntimeError: boom on key" in logged
    assert "\x1b" not in logged


def test_a_frame_s_strips_are_freed_without_the_garbage_collector():
    """A strip divided at its own length (every line of a full-width widget, each frame)
    kept [itself] in its own cache: a reference cycle of some 35 objects per line, a third
    of what the collector's full passes found."""
    import gc

    from rich.segment import Segment
    from textual.strip import Strip

    textual_private.free_strips_without_collector()
    gc.collect()
    gc.disable()
    try:
        for _ in range(100):
            strip = Strip([Segment("queue:orders  12 jobs")])
            assert strip.divide([strip.cell_length]) == [strip]
            assert [s.text for s in strip.divide([5, strip.cell_length])] == [
                "queue", ":orders  12 jobs"]
            del strip
        assert gc.collect() == 0
    finally:
        gc.enable()
