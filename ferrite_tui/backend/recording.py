"""The Pub/Sub tail's entries (a message, or a marker the tail wrote itself), and their
recording as NDJSON: binary-safe (bytes that are not UTF-8 as base64), escaped as every
other output, read back by `read_ndjson`.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

from ferrite_tui.backend.envelopes import key_text
from ferrite_tui.escaping import json_safe


class Entry:
    """One line of the tail: a message, or a marker (gap / note) the tail wrote itself."""

    __slots__ = ("channel", "data", "kind", "pattern", "seq", "time")

    MESSAGE = "message"
    GAP = "gap"
    NOTE = "note"
    sharded = False  # a message of a sharded channel (SSUBSCRIBE: backend/shards.py)

    def __init__(self, seq: int, t: float, channel: bytes, pattern: bytes | None,
                 data: bytes, kind: str = "message") -> None:
        self.seq = seq
        self.time = t  # wall clock (time.time()) when it was read
        self.channel = channel
        self.pattern = pattern
        self.data = data
        self.kind = kind

    @property
    def is_message(self) -> bool:
        return self.kind == Entry.MESSAGE

    @property
    def channel_text(self) -> str:
        return key_text(self.channel)

    def __repr__(self) -> str:
        return f"Entry({self.seq}, {self.kind}, {self.channel!r}, {self.data[:40]!r})"


def _json_bytes_field(obj: dict, name: str, raw: bytes) -> None:
    """UTF-8 as a string; anything else as base64 under name + '_base64' (binary safe)."""
    try:
        obj[name] = raw.decode("utf-8")
    except UnicodeDecodeError:
        obj[name + "_base64"] = base64.b64encode(raw).decode("ascii")


def ndjson_line(entry: Entry) -> bytes:
    """One NDJSON line: {"time", "channel", "message"} (or a gap/note marker)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(entry.time))
    stamp += f".{int(entry.time * 1e6) % 1_000_000:06d}Z"
    obj: dict = {"time": stamp}
    if entry.is_message:
        _json_bytes_field(obj, "channel", entry.channel)
        if entry.sharded:
            obj["sharded"] = True
        if entry.pattern is not None:
            _json_bytes_field(obj, "pattern", entry.pattern)
        _json_bytes_field(obj, "message", entry.data)
    else:
        obj["event"] = entry.kind
        obj["note"] = entry.data.decode("utf-8", "replace")
    # C1 and bidi controls as \uXXXX (json.dumps escapes C0 only): the same values for a
    # reader, nothing raw for whoever looks at the file in a terminal.
    return json_safe(json.dumps(obj, ensure_ascii=False, separators=(",", ":"))).encode() + b"\n"


def read_ndjson(path: Path | str) -> list[dict]:
    """The records of a recording, with message/channel decoded back to bytes."""
    out = []
    with open(path, "rb") as fh:
        for line in fh:
            obj = json.loads(line)
            for name in ("channel", "pattern", "message"):
                if name + "_base64" in obj:
                    obj[name] = base64.b64decode(obj.pop(name + "_base64"))
                elif isinstance(obj.get(name), str):
                    obj[name] = obj[name].encode("utf-8")
            out.append(obj)
    return out


class Recorder:
    """Writes entries to an NDJSON file, from the moment it opens."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # "x": never overwrite an earlier recording.
        self._fh = open(self.path, "xb", buffering=1 << 16)
        self.messages = 0
        self.started = time.time()

    def write(self, entry: Entry) -> None:
        self._fh.write(ndjson_line(entry))
        if entry.is_message:
            self.messages += 1

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        try:
            self._fh.flush()
        finally:
            self._fh.close()
