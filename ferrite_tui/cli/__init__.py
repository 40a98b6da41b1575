"""Command line: the console, `demo`, `status`, `config`, and the `serve` / `exporter`
commands' entry.

`command.py` parses and dispatches, `console.py` runs the app, `status.py` and `demo.py`
are their commands; what every command shares (with `serve` and `exporter` too) is in
`ferrite_tui/commandline.py`. Every failure the user can cause (bad config, unreachable
server, wrong password, missing server binary) ends in one line on stderr and exit code 2,
never a traceback.
"""

from __future__ import annotations

from ferrite_tui.startup import defer_unused_modules, pause_collector, resume_collector


def main(argv: list[str] | None = None) -> int:
    """The `ferrite-tui` command (and `python -m ferrite_tui`)."""
    # Before the command's modules load (startup.py): the console resumes the collector
    # once its first data is drawn, the other commands as they start.
    pause_collector()
    defer_unused_modules()
    try:
        from ferrite_tui.cli.command import main as run

        return run(argv)
    finally:
        resume_collector()


__all__ = ["main"]
