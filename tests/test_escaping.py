"""The one escaping function (ferrite_tui/escaping.py): what it escapes and how."""

from __future__ import annotations

import json
import sys
import unicodedata

from hypothesis import given
from hypothesis import strategies as st
from rich.text import Text

from ferrite_tui.backend.envelopes import printable as reexported
from ferrite_tui.escaping import (
    is_safe,
    json_safe,
    matches_typed,
    printable,
    printable_lines,
)
from ferrite_tui.ui.widgets.table import cell, escaped_text

#: Unicode's categories of characters that are invisible or act on the terminal or text:
#: controls, format characters (bidi marks, overrides and isolates, zero-width ones,
#: tags), surrogates, line and paragraph separators.
UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def test_one_function_re_exported_for_the_backend():
    assert reexported is printable


def test_every_control_format_surrogate_and_separator_character_is_escaped():
    missed = [f"U+{cp:04X}" for cp in range(sys.maxunicode + 1)
              if unicodedata.category(chr(cp)) in UNSAFE_CATEGORIES
              and printable(chr(cp)) == chr(cp)]
    assert missed == []


def test_the_attacks_named_in_the_issue():
    assert printable("q:\x1b]52;c;cHduZWQ=\x07:dlq") == "q:\\x1b]52;c;cHduZWQ=\\x07:dlq"
    assert printable("\x1bP$qm\x1b\\") == "\\x1bP$qm\\x1b\\"
    assert printable("a\x9b2Jb\x00c\x7f") == "a\\x9b2Jb\\x00c\\x7f"
    assert printable("evil\u202etxt.exe") == "evil\\u202etxt.exe"
    assert printable("\u2066x\u2069\u061c\u200e\u200f\u2028\u2029") == \
        "\\u2066x\\u2069\\u061c\\u200e\\u200f\\u2028\\u2029"
    assert printable("a\nb\tc\r") == "a\\nb\\tc\\r"
    assert printable("tag\U000e0041") == "tag\\U000e0041"
    assert printable("[bold red]x[/]") == "[bold red]x[/]"  # shown as Text, never markup
    assert printable("ünïcödé → ok") == "ünïcödé → ok"


def test_invalid_utf8_is_shown_as_its_bytes_however_it_arrives():
    raw = b"bin\xff\xfe\xc3"
    as_key = raw.decode("utf-8", "surrogateescape")  # how the console holds key names
    assert printable(raw) == printable(as_key) == "bin\\xff\\xfe\\xc3"
    assert printable("\ud800 lone") == "\\ud800 lone"  # a lone surrogate from JSON


@given(st.one_of(st.text(), st.binary()))
def test_what_it_returns_is_safe_utf8_and_stays_as_it_is(value):
    out = printable(value)
    out.encode("utf-8")  # never "surrogates not allowed"
    assert is_safe(out)
    assert printable(out) == out


def test_a_cut_ends_in_an_ellipsis():
    assert printable("x" * 10, 5) == "xxxx…"


def test_lines_keep_newlines_and_tabs_only():
    assert printable_lines(b"a\tb\nc\x1b\r\n\xff") == "a\tb\nc\\x1b\\r\n\\xff"


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(), inner, max_size=3), max_leaves=10))
def test_json_stays_the_same_json_with_nothing_unsafe_raw(value):
    text = json_safe(json.dumps(value, indent=2, ensure_ascii=False))
    assert json.loads(text) == value
    assert is_safe(text.replace("\n", ""))


def test_binary_key_names_survive_json():
    key = b"q:\xff\x1b\xe2\x80\xae".decode("utf-8", "surrogateescape")
    text = json_safe(json.dumps({"key": key}, ensure_ascii=False))
    text.encode("utf-8")
    assert json.loads(text)["key"].encode("utf-8", "surrogateescape") == b"q:\xff\x1b\xe2\x80\xae"


def test_a_typed_name_matches_as_it_is_or_as_shown():
    name = "queue:a\nb\x1b[2J"
    assert matches_typed(name, name)
    assert matches_typed("queue:a\\nb\\x1b[2J", name)
    assert not matches_typed("queue:a b", name)


def test_table_cells_are_escaped_with_their_styles_kept():
    text = Text("key:")
    text.append("\x1b]0;x\x1b\\", style="bold")
    text.append(" \u202e")
    shown = escaped_text(text)
    assert shown.plain == "key:\\x1b]0;x\\x1b\\ \\u202e"
    (span,) = shown.spans
    assert shown.plain[span.start:span.end] == "\\x1b]0;x\\x1b\\" and span.style == "bold"
    assert cell("a\nb").plain == "a\\nb"
    safe = Text("plain")
    assert escaped_text(safe) is safe


def test_a_cut_number_cell_ends_in_an_ellipsis():
    """A Text cell with no overflow of its own (a right-aligned lag, an age) is cut with
    '…' like every other cell: 800,000 in a narrow column never reads as 800,00."""
    shown = cell(Text("800,000"), "right")
    assert shown.overflow == "ellipsis" and shown.no_wrap


async def test_every_notification_is_escaped_line_by_line(tmp_path):
    """The last gate for a toast: whatever a caller passes, each line is escaped and the
    line breaks kept (a binary key name would otherwise end a browser session)."""
    from ferrite_tui.backend.connection import ConnectionSettings
    from ferrite_tui.config import Config
    from ferrite_tui.ui.app import FerriteApp
    from helpers import running

    app = FerriteApp(Config(), ConnectionSettings(url="redis://127.0.0.1:1/0"), poll=False,
                     audit_path=tmp_path / "audit.log")
    async with running(app, size=(80, 24)):
        app.notify("moved q:\x1b]52;c;eA==\x07\nfrom bin\udcff \u202e", title="t\x1b[2J")
        assert app.notices[-1].message == \
            "moved q:\\x1b]52;c;eA==\\x07\nfrom bin\\xff \\u202e"


def test_a_recorded_message_keeps_its_value_and_writes_nothing_raw(tmp_path):
    from ferrite_tui.backend.recording import Entry, ndjson_line, read_ndjson

    body = "evil\u202e \u009b6n \x1b]0;t\x07".encode()
    line = ndjson_line(Entry(1, 0.0, "chan\u2066".encode(), None, body))
    assert is_safe(line.decode("utf-8").rstrip("\n"))
    (tmp_path / "r.ndjson").write_bytes(line)
    (read,) = read_ndjson(tmp_path / "r.ndjson")
    assert read["message"] == body and read["channel"] == "chan\u2066".encode()
