"""Append-only audit log of every mutation: one JSON object per line."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path


class AuditLog:
    def __init__(self, path: Path | str, remote: str | None = None) -> None:
        self.path = Path(path)
        # The browser's address when the console serves a browser session (`serve`).
        self.remote = remote

    def record(self, *, profile: str, server: str, action: str, keys: list[str],
               count: int, ids: list[str]) -> None:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "profile": profile,
            "server": server,
            "action": action,
            "keys": keys,
            "count": count,
            "ids": ids,
        }
        if self.remote is not None:
            entry["remote"] = self.remote
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(entry, ensure_ascii=True) + "\n"
        # O_APPEND keeps lines whole when two consoles write the same log.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]
