"""A small journal of bulk runs in progress, so an interrupted one is shown next time.

Every chunk of a bulk run is atomic (see `moves`), so a console killed mid-way leaves each
item either still in the source or already in the target: nothing to repair. What the
operator needs to know is that a run stopped early: how far it got and what is left. The
journal is one JSON file per run, written at the start, updated after each chunk and
removed at the end; a file whose process is gone is an interrupted run.

A run belongs to the server it ran on (`ConnectionSettings.server_identity`: address and
database, without credentials), so a list of the same name elsewhere is never offered to
finish it; runs are listed oldest first by the time they started.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class BulkRecord:
    action: str  # e.g. "requeue dead letters"
    key: str  # the source list
    target: str | None
    total: int
    filter_text: str = ""
    group: str | None = None
    done: int = 0
    skipped: int = 0
    started: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    pid: int = field(default_factory=os.getpid)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    server: str = ""  # the server identity it ran on ("" in records from older versions)
    stopped: str | None = None  # why a run stopped early in a console still open (F resumes)

    @property
    def remaining(self) -> int:
        return max(self.total - self.done - self.skipped, 0)

    def describe(self) -> str:
        when = time.strftime("%H:%M:%S", time.localtime(self.updated))
        shown = "everything"
        if self.group is not None or self.filter_text:
            shown = " and ".join(
                p for p in ((f"group “{self.group}”" if self.group is not None else ""),
                            (f"filter “{self.filter_text}”" if self.filter_text else "")) if p)
        to = f" to {self.target}" if self.target else ""
        return (f"an earlier '{self.action}'{to} ({shown}) stopped at {when} after "
                f"{self.done:,} of {self.total:,}; the other {self.remaining:,} were not "
                "touched and are still here")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Journal:
    """The runs of one server (`server`: its identity) in a directory shared by all."""

    def __init__(self, directory: Path | str, server: str = "") -> None:
        self.dir = Path(directory)
        self.server = server

    def _path(self, rec: BulkRecord) -> Path:
        return self.dir / f"bulk-{rec.run_id}.json"

    def start(self, rec: BulkRecord) -> BulkRecord:
        self.save(rec)
        return rec

    def save(self, rec: BulkRecord) -> None:
        rec.server = rec.server or self.server
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            rec.updated = time.time()
            tmp = self._path(rec).with_suffix(".tmp")
            tmp.write_text(json.dumps(asdict(rec)))
            os.replace(tmp, self._path(rec))
        except OSError:
            pass  # the journal is a convenience; never fail the work over it

    def finish(self, rec: BulkRecord) -> None:
        try:
            self._path(rec).unlink()
        except OSError:
            pass

    def interrupted(self, key: str) -> list[BulkRecord]:
        """Runs on `key` of this server whose console is gone, or that stopped on a node
        that failed and did not come back in time, oldest first."""
        out: list[BulkRecord] = []
        if not self.dir.is_dir():
            return out
        for path in sorted(self.dir.glob("bulk-*.json")):
            try:
                rec = BulkRecord(**json.loads(path.read_text()))
            except (OSError, ValueError, TypeError):
                continue
            if rec.key == key and rec.server == self.server and (
                    rec.stopped or not _alive(rec.pid)):
                out.append(rec)
        return sorted(out, key=lambda r: (r.started, r.updated))

    def dismiss(self, key: str) -> None:
        for rec in self.interrupted(key):
            self.finish(rec)
