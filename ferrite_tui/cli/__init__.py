"""Command line: the console, `demo`, `status`, `config`, and the `serve` / `exporter`
commands' entry.

`main.py` parses and dispatches, `console.py` runs the app, `status.py` and `demo.py` are
their commands; what every command shares (with `serve` and `exporter` too) is in
`ferrite_tui/commandline.py`. Every failure the user can cause (bad config, unreachable
server, wrong password, missing server binary) ends in one line on stderr and exit code 2,
never a traceback.
"""

from ferrite_tui.cli.main import main

__all__ = ["main"]
