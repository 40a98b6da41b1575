"""Command line: the console, `demo`, `status`, `config`, and the `serve` / `exporter`
commands' entry.

`main.py` parses and dispatches, `options.py` holds what every command shares (options,
settings from a URL or profile, the one-line failure), `status.py` and `demo.py` their
commands. Every failure the user can cause (bad config, unreachable server, wrong
password, missing server binary) ends in one line on stderr and exit code 2, never a
traceback.
"""

from ferrite_tui.cli.main import main

__all__ = ["main"]
