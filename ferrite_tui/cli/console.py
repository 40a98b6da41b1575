"""Run the console (the Textual app) until it exits."""

from __future__ import annotations

import signal

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.config import Config


def run_console(cfg: Config, settings: ConnectionSettings | None, args) -> int:
    # Textual is loaded only to run the console: `status`, `config` and `--help` start
    # without it.
    from ferrite_tui.ui.app import FerriteApp

    app = FerriteApp(cfg, settings, refresh=args.refresh,
                     match=tuple(args.match) if args.match else None)
    previous = signal.getsignal(signal.SIGTERM)
    # SIGTERM leaves through the normal exit path, so the terminal and any demo server are
    # restored and cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: app.exit())
    try:
        app.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    return app.return_code or 0
