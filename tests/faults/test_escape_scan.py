"""Server text is hostile (design principle 10): key names, values, group, consumer and
channel names carrying terminal escapes (OSC 52 clipboard writes, window titles, screen
clears, DCS queries, C1 CSI), NUL, bidi overrides, newlines, invalid UTF-8 and Rich markup,
in every kind of queue. The real command runs on a pseudo-terminal; a person's walk over
every panel, the inspector and the dialogs; then every byte written to the terminal is
scanned for anything the console's own rendering does not emit. `status` (text and JSON)
is scanned the same way.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading

import pytest
import redis
from faultkit import figure

from ferrite_tui.escaping import printable
from helpers import wait_until
from ptyterm import PtyTerminal, console_env

#: One payload per attack, each ending in a marker that says which one it was.
PAYLOADS: dict[str, bytes] = {
    "osc52": b"\x1b]52;c;UFdORUQtQ0xJUA==\x07",  # writes the clipboard
    "title": b"\x1b]0;PWNED-TITLE\x07",  # sets the window title
    "clear": b"\x1b[2JCLEAR-MARK",  # clears the screen
    "sgr": b"\x1b[31mRED-MARK\x1b[0m",
    "dcs": b"\x1bP$qm\x1b\\DCS-MARK",  # a DECRQSS query: the terminal answers on stdin
    "c1": "\u009b6nC1-MARK".encode(),  # C1 CSI (one code point): a cursor report request
    "byte9b": b"\x9b6nRAW9B-MARK",  # the same as one byte: invalid UTF-8
    "nul": b"NUL\x00MARK",
    "rlo": "RLO\u202eKRAM".encode(),  # right-to-left override
    "newline": b"NL\nMARK",
    "invalid": b"BIN\xff\xfeMARK",
    "markup": b"[bold red]MARKUP-MARK[/]",
}

#: The raw forms that must never reach a terminal (a payload as written, or its start).
RAW_ATTACKS = [b"\x1b]52;", b"\x1b]0;", b"\x1b[2JCLEAR", b"\x1b[31mRED-MARK", b"\x1bP",
               "\u009b".encode(), b"\x9b", b"\x00", "\u202e".encode(), b"NL\nMARK",
               b"\xff\xfe"]

#: What the console's own rendering writes: CSI sequences of these forms (SGR, cursor
#: position and movement, erase in line, private modes, the synchronized-output query,
#: the kitty keyboard protocol) and the pointer-shape OSC 22.
OWN_SEQUENCE = re.compile(
    rb"\x1b\[(?:[0-9;:]*[mHABCDGK]|\?[0-9;]*[hl]|\?[0-9]+\$p|>[0-9]*u|<u|=[0-9;]*u)"
    rb"|\x1b\]22;[a-z-]*\x07")
#: Left once the console's own sequences are removed: nothing of these may remain.
FORBIDDEN = re.compile("[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b-\u200f"
                       "\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


def scan(raw: bytes) -> list[str]:
    """What in `raw` the console's own rendering would not have written (empty: clean)."""
    problems = [f"raw {attack!r} in the output" for attack in RAW_ATTACKS if attack in raw]
    try:
        text = OWN_SEQUENCE.sub(b"", raw).decode("utf-8")  # strict: no invalid UTF-8
    except UnicodeDecodeError as exc:
        at = exc.start
        problems.append(f"invalid UTF-8 at {at}: {raw[max(at - 40, 0):at + 20]!r}")
        text = OWN_SEQUENCE.sub(b"", raw).decode("utf-8", "replace")
    for m in list(FORBIDDEN.finditer(text))[:20]:
        problems.append(f"raw {m.group()!r} after {text[max(m.start() - 40, 0):m.start()]!r}"
                        f" before {text[m.end():m.end() + 30]!r}")
    return problems


def key(prefix: str, payload: bytes, suffix: str = "") -> bytes:
    return prefix.encode() + payload + suffix.encode()


def envelope(i: int, name: str, payload: bytes) -> bytes:
    """A job envelope whose payload and id carry the attack (as JSON text, with the raw
    bytes where JSON allows them: escapes would be decoded back anyway)."""
    text = payload.decode("utf-8", "replace")
    return json.dumps({"id": f"{name}-{i}{text}", "payload": {"note": text},
                       "enqueued_at": 1_700_000_000_000}, ensure_ascii=False).encode()


def dead_letter(name: str, payload: bytes) -> bytes:
    text = payload.decode("utf-8", "replace")
    return json.dumps({"job": {"id": f"dead-{name}{text}", "payload": {"why": text},
                               "retry_count": 3, "last_error": f"boom {text}",
                               "first_attempt": 1_700_000_000_000},
                       "dead_at": 1_700_000_000_000, "reason": f"failed {text}"},
                      ensure_ascii=False).encode()


def fill(r: redis.Redis) -> None:
    """Every kind of queue with hostile names, values, groups, consumers and fields."""
    for name, p in PAYLOADS.items():
        r.rpush(key("list:", p), p, envelope(0, name, p), b"plain")
        r.rpush(key("dlq:", p, ":dlq"), dead_letter(name, p), p)
    few = ["osc52", "title", "rlo", "invalid", "newline", "c1"]
    for name in few:
        p = PAYLOADS[name]
        r.rpush(key("queue:rel", p), envelope(1, name, p))
        r.rpush(key("queue:rel", p, ":processing"), envelope(2, name, p))
        r.zadd(key("prio:", p), {envelope(3, name, p): 5, envelope(4, name, p): 1})
        r.zadd(key("queue:sch", p, ":scheduled"), {envelope(5, name, p): 1_900_000_000_000,
                                                   envelope(6, name, p): 1_000})
        stream = key("stream:", p)
        r.xadd(stream, {b"data": envelope(7, name, p), p: p})
        r.xgroup_create(stream, key("g", p), id="0")
        r.xreadgroup(key("g", p), key("c", p), {stream: ">"}, count=1)  # type: ignore[arg-type]


class Subscribers:
    """A client subscribed to hostile channel names, so PUBSUB CHANNELS lists them."""

    def __init__(self, url: str, channels: list[bytes]) -> None:
        self.client = redis.Redis.from_url(url)
        self.pubsub = self.client.pubsub()
        self.pubsub.subscribe(*channels)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        while not self.stop.is_set():
            self.pubsub.get_message(timeout=0.2)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        self.pubsub.close()
        self.client.close()


def shown(name: str, prefix: str, room: int = 14) -> str:
    """The start of a hostile name as the console shows it (escaped), short enough to fit
    in a narrow column."""
    return printable(key(prefix, PAYLOADS[name]))[:room]


#: Per panel: the key, a text on screen once its queues are listed, and the keys pressed
#: there (each dialog or inspector opened is closed with escape): the inspector with its
#: raw and hex views, purge / delete all (typed confirmations), recover, move, new job,
#: claim, publish (to a stream, to a channel), the DLQ's target, edit and export.
WALK = [
    ("1", shown("osc52", "dlq:"), []),
    ("2", shown("title", "list:"), ["inspect", "D", "R", "m"]),
    ("3", shown("rlo", "prio:"), ["inspect", "n"]),
    ("4", shown("invalid", "queue:sch"), ["inspect", "n"]),
    ("5", shown("osc52", "stream:"), ["open", "open", "inspect", "c", "n"]),
    ("6", shown("dcs", "dlq:"), ["inspect", "D", "R", "t", "e", "x"]),
    ("7", shown("clear", "chan:"), ["n"]),
    ("8", "Server", []),
]


def walk(term: PtyTerminal, r: redis.Redis, channels: list[bytes],
         screens: list[str]) -> None:
    """Every panel, and on each the inspector and the dialogs of WALK; each screen seen is
    kept in `screens`."""
    screens.append(term.wait_for(WALK[0][1], timeout=60))
    for panel, ready, actions in WALK:
        term.press(panel)
        screens.append(term.wait_for(ready, timeout=30))
        if panel == "7":  # messages on hostile channels, shown as they arrive
            for channel in channels:
                r.publish(channel, PAYLOADS["osc52"] + PAYLOADS["rlo"])
            screens.append(term.wait_for("UFdORUQtQ0xJUA", timeout=30))
        if actions:
            term.press("tab")
        for action in actions:
            term.press("enter" if action in ("inspect", "open") else action)
            if action == "open":  # into the stream's groups, then a group's pending entries
                continue
            # The inspector or a dialog: read it, close it, wait until it is gone.
            try:
                modal = wait_until(lambda: open_modal(term), timeout=15)
                assert modal is not None
                screens.append(modal)
                if action == "inspect":  # every view: raw, hex, then pretty again
                    term.press("w", "h")
                    screens.append(term.wait_for("00000000  ", timeout=15))
                    term.press("p")
                term.press("escape")
                wait_until(lambda: not open_modal(term), timeout=15)
            except AssertionError as exc:
                raise AssertionError(f"panel {panel}, {action}: {exc}; screen:\n"
                                     f"{term.text()}") from None


#: On screen while the inspector (its key line) or a dialog (its cancel button, or the safe
#: choice of the claim's choice dialog) is open; "Cancel job" is a key in the Scheduled
#: panel's footer.
MODAL_MARKS = ("escape close", "Cancel", "Leave them (l)")


def open_modal(term: PtyTerminal) -> str | None:
    screen = term.text()
    return screen if any(mark in screen.replace("Cancel job", "")
                         for mark in MODAL_MARKS) else None


@pytest.mark.once
@pytest.mark.scenario
def test_hostile_server_text_never_reaches_the_terminal_raw(redis_url, tmp_path):
    r = redis.Redis.from_url(redis_url)
    fill(r)
    channels = [key("chan:", p) for p in PAYLOADS.values()]
    subscribers = Subscribers(redis_url, channels)
    screens: list[str] = []
    argv = [sys.executable, "-m", "ferrite_tui", redis_url, "--refresh", "1"]
    walk_error: AssertionError | None = None
    try:
        with PtyTerminal(argv, env=console_env(tmp_path), width=160, height=48) as term:
            try:
                walk(term, r, channels, screens)
            except AssertionError as exc:  # scanned all the same: the scan says why
                walk_error = exc
            code = term.stop()
            raw = term.output()  # all of it: the program has exited
    finally:
        subscribers.close()
    status_text = subprocess.run(
        [sys.executable, "-m", "ferrite_tui", "status", redis_url], capture_output=True,
        env=console_env(tmp_path), timeout=120)
    status_json = subprocess.run(
        [sys.executable, "-m", "ferrite_tui", "status", redis_url, "--json"],
        capture_output=True, env=console_env(tmp_path), timeout=120)
    r.close()

    problems = {"console": scan(raw), "status": scan(status_text.stdout),
                "status --json": scan(status_json.stdout)}
    # A str holding a byte that is not UTF-8 (surrogateescape) reached the terminal driver,
    # which wrote it as Python's \udcXX escape: on the web driver it ends the session.
    if b"\\udc" in raw:
        at = raw.index(b"\\udc")
        problems["console"].append(f"a surrogate reached the driver: {raw[at - 40:at + 10]!r}")
    # Nothing but newlines in `status`: no escape sequence at all.
    for name, out in (("status", status_text.stdout), ("status --json", status_json.stdout)):
        if b"\x1b" in out:
            problems[name].append("ESC in the output")
    lines = status_text.stdout.decode(errors="replace").splitlines()
    table = lines[next(i for i, line in enumerate(lines) if line.startswith("KIND")):]
    figure(f"escape scan: {len(PAYLOADS)} attacks in names and values of every kind, "
           f"{len(raw):,} bytes written to the terminal over {len(WALK)} panels, "
           f"{sum(len(p) for p in problems.values())} problems; status: {len(table) - 1} "
           "queue lines")
    assert not any(problems.values()), json.dumps(problems, indent=1)
    if walk_error is not None:
        raise walk_error
    assert code == 0, term.text()
    assert status_text.returncode == 0 and status_json.returncode == 0, \
        status_text.stderr + status_json.stderr
    # The names were on screen, escaped (the scan looked at something).
    seen = "\n".join(screens)
    for fragment in ("\\x1b]52;c;", "\\u202e", "\\xff\\xfe", "\\x00", "NL\\nMARK",
                     "[bold red]MARKUP-MARK[/]", "\\x9b6n"):
        assert fragment in seen, fragment
    # Every queue is one line of the status table, the newline in a name included.
    data = json.loads(status_json.stdout)
    assert len(table) - 1 == len(data["queues"]), "\n".join(table)
    assert {q["key"] for q in data["queues"]} >= {
        key("list:", p).decode("utf-8", "surrogateescape") for p in PAYLOADS.values()}


#: Per panel, the keys pressed after opening its first queue (each followed by escape):
#: every action, the mutating ones included (dialogs open and are cancelled; the ones that
#: act at once act on the hostile items).
EVERY_KEY = {"1": "", "2": "dDmaRr", "3": "dnpe", "4": "xX+edn", "5": "cCaAkKnid",
             "6": "rRdDegxt", "7": "nsr", "8": "f"}


@pytest.mark.once
@pytest.mark.scenario
async def test_every_frame_of_every_panel_and_key_is_safe_to_write(redis_url, tmp_path,
                                                                     monkeypatch):
    """Headless, every frame rendered as the terminal (and the web driver) would get it:
    each must encode as strict UTF-8 (the web driver's encode) and hold nothing unsafe
    outside the console's own escape sequences, over every key of every panel, the
    inspector's views, help, the palette and the filter."""
    from textual._compositor import CompositorUpdate
    from textual.app import App

    from ferrite_tui.backend.connection import ConnectionSettings
    from ferrite_tui.config import Config
    from ferrite_tui.escaping import UNSAFE
    from ferrite_tui.ui.app import FerriteApp
    from helpers import async_wait_until

    own = re.compile(OWN_SEQUENCE.pattern.decode())
    problems: dict[tuple[str, str], str] = {}
    frames: list[str] = []
    where = ["start"]
    display = App._display

    def check(self, screen, renderable):
        if isinstance(renderable, CompositorUpdate):
            text = renderable.render_segments(self.console)
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                problems.setdefault(("not UTF-8", where[0]), text[exc.start - 40:exc.start])
            plain = own.sub("", text)
            frames.append(plain)
            for m in UNSAFE.finditer(plain):
                if m.group() not in "\r\n":
                    problems.setdefault((repr(m.group()), where[0]),
                                        plain[max(m.start() - 40, 0):m.start() + 20])
        return display(self, screen, renderable)

    monkeypatch.setattr(App, "_display", check)
    monkeypatch.setattr(App, "is_headless", property(lambda self: False))
    r = redis.Redis.from_url(redis_url)
    fill(r)
    r.close()
    app = FerriteApp(Config(), ConnectionSettings(url=redis_url), refresh=1.0,
                     audit_path=tmp_path / "audit.log")
    async with app.run_test(size=(160, 48)) as pilot:
        await async_wait_until(lambda: app.monitor and app.monitor.snapshot
                               and len(app.monitor.snapshot.queues) > 20, timeout=30)
        for panel, keys in EVERY_KEY.items():
            where[0] = panel
            await pilot.press(panel, "tab", "down", "enter", "w", "h", "f", "p", "escape")
            await pilot.pause()
            for key_name in keys:
                where[0] = f"{panel} {key_name}"
                await pilot.press(key_name, "escape")
                await pilot.pause()
            await pilot.press("enter", "enter", "escape", "escape", "escape")
            await pilot.pause()
        for where[0], key_name in (("help", "question_mark"), ("palette", "ctrl+p"),
                                   ("filter", "slash")):
            await pilot.press(key_name)
            await pilot.pause()
            await pilot.press("escape")
        app.workers.cancel_group(app, "poll")
        await pilot.pause()
    seen = "".join(frames)
    figure(f"every frame: {len(frames):,} frames over {sum(map(len, EVERY_KEY.values()))} "
           f"keys on {len(EVERY_KEY)} panels, {len(problems)} problems")
    assert not problems, json.dumps({f"{k[0]} at {k[1]}": v for k, v in problems.items()},
                                    indent=1)
    for fragment in ("\\x1b]52;c;", "\\u202e", "\\xff\\xfe", "\\x9b6n"):
        assert fragment in seen, fragment
