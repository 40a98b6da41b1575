"""The console's start: the garbage collector waits until the first data is drawn, and
modules imported but not used at start load when first used.

From the command's start to its first data the console creates some 300,000 objects that
live as long as it does: modules, classes, styles, widgets. The collector's passes over
them, started by whatever allocated next, found next to nothing and were some 15% of the
start's CPU (0.57 s -> 0.49 s, CPU time from the command to the first data on screen).
So the command pauses the collector before its modules load, and the console resumes it
once its first data is drawn; a timer resumes it START_LIMIT_S after the start when no
data comes (a server down, the connect form). Thresholds and generations stay Python's.

redis-py imports `importlib.metadata` (and with it email, zipfile, csv) for a version string
that the console never sends (no CLIENT SETINFO): 12 ms of the start's CPU. Such modules
are DEFERRED: imported as Python's LazyLoader does, run on their first attribute use.
"""

from __future__ import annotations

import gc
import importlib.util
import sys
import threading

#: At the latest, the collector resumes this long after the command started.
START_LIMIT_S = 5.0

#: Imported by the console's libraries, unused until a later command (or never).
DEFERRED = ("importlib.metadata",)

_paused = False


def pause_collector() -> None:
    """At the command's start, before its modules load: no collection until resumed."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True
        limit = threading.Timer(START_LIMIT_S, resume_collector)
        limit.daemon = True
        limit.start()


def resume_collector() -> None:
    """The start is over: the collector runs again. Undoes only pause_collector()."""
    global _paused
    if _paused:
        _paused = False
        gc.enable()


def defer_unused_modules() -> None:
    """Before the command's modules load: each DEFERRED module runs on first use."""
    for name in DEFERRED:
        if name in sys.modules:
            continue
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            continue
        loader = spec.loader = importlib.util.LazyLoader(spec.loader)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        loader.exec_module(module)
        parent, _, child = name.rpartition(".")
        setattr(sys.modules[parent], child, module)  # as an import sets it on its package
