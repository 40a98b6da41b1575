"""Queues seen before on this server, kept in the state directory.

A busy queue that is usually empty exists only between a push and a pop (Redis deletes an
empty list), so a rescan rarely finds it. Every queue discovery finds is remembered with the
time it was last seen, per server (`ConnectionSettings.server_identity`: address and
database; a server's run_id changes with every restart), and listed at depth 0 with "last
seen ..." for `[discovery] remember_days`, so it is on the first screen of the next console.

Only queues found by their keys are remembered: declared ones are listed anyway, and a
library's layout is found again from its own keys. The file is small JSON, rewritten
atomically when what it holds changes (at most once per discovery pass).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ferrite_tui.backend.models import QueueKind, QueueRef

log = logging.getLogger(__name__)

FILE_NAME = "queues-seen.json"
#: Last-seen times alone (no queue new or changed) are written at most this often (s).
WRITE_EVERY_S = 30
#: Queues kept per server: the most recently seen.
MAX_PER_SERVER = 5000

_FIELDS = ("processing_key", "ready_key", "target_key", "score_unit")


def _entry(ref: QueueRef, seen: float) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": ref.kind.value, "key": ref.key, "seen": round(seen, 3)}
    out.update({f: getattr(ref, f) for f in _FIELDS if getattr(ref, f) is not None})
    return out


def _ref(entry: dict[str, Any]) -> QueueRef | None:
    def text(name: str) -> str | None:
        value = entry.get(name)
        return None if value is None else str(value)

    try:
        return QueueRef(QueueKind(entry["kind"]), str(entry["key"]),
                        processing_key=text("processing_key"), ready_key=text("ready_key"),
                        target_key=text("target_key"), score_unit=text("score_unit"),
                        last_seen=float(entry["seen"]))
    except (KeyError, TypeError, ValueError):
        return None  # an entry from another version, or damaged: skipped


class Remembered:
    """The queues seen on one server (`server`), in `directory`/queues-seen.json."""

    def __init__(self, directory: Path, server: str, keep_s: float) -> None:
        self.path = Path(directory) / FILE_NAME
        self.server = server
        self.keep_s = keep_s
        self._seen: dict[str, dict[str, Any]] | None = None  # ident -> entry (this server)
        self._written = float("-inf")  # when the file was last written (server clock)

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._seen is None:
            self._seen = {}
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                mine = data.get(self.server, {}) if isinstance(data, dict) else {}
                if isinstance(mine, dict):
                    self._seen = {k: v for k, v in mine.items() if isinstance(v, dict)}
            except (OSError, ValueError):
                pass  # none yet, or unreadable: start again (never fatal)
        return self._seen

    def refs(self, now_s: float) -> list[QueueRef]:
        """The queues seen within `keep_s` of now, each with its last-seen time."""
        out = []
        for entry in self._load().values():
            ref = _ref(entry)
            if ref is not None and ref.last_seen is not None \
                    and now_s - ref.last_seen <= self.keep_s:
                out.append(ref)
        return out

    def record(self, found: Iterable[QueueRef], now_s: float) -> None:
        """Remember these queues as seen now; forget those not seen within `keep_s`."""
        seen = self._load()
        changed = now_s - self._written >= WRITE_EVERY_S
        for ref in found:
            if ref.declared or ref.library is not None:
                continue
            old = seen.get(ref.ident)
            entry = _entry(ref, now_s)
            if old is None or {k: v for k, v in old.items() if k != "seen"} != \
                    {k: v for k, v in entry.items() if k != "seen"}:
                changed = True
            seen[ref.ident] = entry
        for ident in [i for i, e in seen.items()
                      if now_s - float(e.get("seen", 0)) > self.keep_s]:
            del seen[ident]
            changed = True
        if len(seen) > MAX_PER_SERVER:
            newest = sorted(seen.items(), key=lambda kv: -float(kv[1].get("seen", 0)))
            self._seen = seen = dict(newest[:MAX_PER_SERVER])
            changed = True
        if changed:
            self._write(seen)
            self._written = now_s

    def _write(self, seen: dict[str, dict[str, Any]]) -> None:
        try:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                if not isinstance(data, dict):
                    data = {}
            except (OSError, ValueError):
                data = {}
            data[self.server] = seen
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:  # a read-only home: the console works on without it
            log.debug("cannot write %s: %s", self.path, exc)
