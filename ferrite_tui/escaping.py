"""The one escaping function between server text and every output.

Key names, values, field, group, consumer and channel names and server errors may carry
terminal escapes, bidi overrides, invisible format characters and invalid UTF-8 (key
names arrive as str decoded with surrogateescape). `printable` turns all of them into
visible escapes, so what it returns can neither drive a terminal nor fail to encode as
UTF-8. The screen, the inspector, dialogs, notifications, `status` (text and JSON), the
browser under `serve` and the log all show server text through it (JSON through
`json_safe`, which escapes the same characters the JSON way).

Imports nothing from the UI: the backend and the UI both use it.
"""

from __future__ import annotations

import re

#: Characters never written as they are: C0 controls, DEL and C1 (U+0080-U+009F: 0x9b is
#: a one-byte CSI to some terminals); soft hyphen; Arabic and Syriac format marks; the
#: Mongolian vowel separator; zero-width space, joiners and the LRM/RLM marks; line and
#: paragraph separators (U+2028/9: new lines to some renderers); bidi embeddings and
#: overrides (U+202A-U+202E) and isolates (U+2066-U+2069) with the other invisible
#: operators; every surrogate (lone ones cannot be encoded; U+DC80-U+DCFF are bytes of
#: invalid UTF-8 under surrogateescape); BOM; interlinear annotation; Hangul fillers (blank
#: letters used to hide text); the other format controls (Kaithi, Egyptian, shorthand,
#: musical); tag characters (invisible text). In short: Unicode's Cc, Cf, Cs, Zl and Zp.
UNSAFE_CLASS = (
    "\x00-\x1f\x7f-\x9f\xad"
    "\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2"
    "\u115f\u1160\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164"
    "\ud800-\udfff\ufeff\uffa0\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0000-\U000e007f"
)
UNSAFE = re.compile(f"[{UNSAFE_CLASS}]")

_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def escape_char(ch: str) -> str:
    """The visible form of one unsafe character: \\n, \\xNN (a byte of invalid UTF-8 too),
    \\uNNNN or \\UNNNNNNNN."""
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the original byte
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(value: str | bytes, limit: int | None = None) -> str:
    """A single-line, literal form of any server string, cut to `limit` characters with "…".

    Rich markup needs no escaping here: the UI renders these strings as Text, never as
    markup (notifications pass markup=False).
    """
    if isinstance(value, bytes):
        value = value.decode("utf-8", "surrogateescape")
    elif not isinstance(value, str):
        value = str(value)
    if UNSAFE.search(value) is not None:
        value = UNSAFE.sub(lambda m: escape_char(m.group()), value)
    if limit is not None and len(value) > limit:
        value = value[: max(limit - 1, 0)] + "…"
    return value


def printable_lines(value: str | bytes) -> str:
    """`printable` for text shown on several lines (a value in the inspector, a crash
    log): newlines and tabs kept, everything else unsafe escaped (\\r included)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "surrogateescape")
    return "\n".join("\t".join(printable(part) for part in line.split("\t"))
                     for line in value.split("\n"))


def is_safe(value: str) -> bool:
    """True when `value` holds nothing `printable` would escape."""
    return UNSAFE.search(value) is None


def matches_typed(typed: str, expected: str) -> bool:
    """A typed confirmation of a server name: the name itself, or its printable form as
    the dialog shows it (a name with a newline, ESC or a bidi override cannot be typed)."""
    return typed == expected or typed == printable(expected)


def _json_escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # a UTF-16 surrogate pair, as JSON spells characters beyond the BMP
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def json_safe(text: str) -> str:
    """JSON text (from json.dumps with ensure_ascii=False) with every unsafe character as a
    \\uXXXX escape: the same values for json.loads, nothing raw on a terminal. Binary key
    names (surrogateescape) come back from json.loads as the same str. Newlines and tabs
    are left: json.dumps escapes them inside strings, so raw ones are its indentation."""
    return UNSAFE.sub(lambda m: m.group() if m.group() in "\n\r\t"
                      else _json_escape(m.group()), text)
