"""Where files the console writes (recordings, exports, saved values) go by default: the
platform's data dir, never the current directory (over SSH that is often a repository or /).

A name typed without a directory lands in the same place; `./name` asks for the current
directory, and absolute or `~` paths are used as given. No Textual here.
"""

from __future__ import annotations

import time
from pathlib import Path

import platformdirs

from ferrite_tui.config import APP_NAME

RECORDINGS, EXPORTS, SAVED, SCREENSHOTS = "recordings", "exports", "saved", "screenshots"


def files_dir(kind: str) -> Path:
    """The directory for one kind of file (created on first use by `default_file`)."""
    return Path(platformdirs.user_data_dir(APP_NAME)) / kind


def safe_name(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)[:80] or "file"


def default_file(kind: str, stem: str, suffix: str) -> Path:
    """A new file name in the kind's directory, stamped with the local time."""
    folder = files_dir(kind)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # the dialog's check says so when the operator submits
    return folder / f"{safe_name(stem)}-{time.strftime('%Y%m%d-%H%M%S')}{suffix}"


def resolve(text: str, kind: str) -> Path:
    """The path a typed name means (see the module docstring)."""
    raw = text.strip()
    path = Path(raw).expanduser()
    if path.is_absolute() or raw.startswith(("./", "../", "~")):
        return path
    return files_dir(kind) / path
