"""The console's start: the garbage collector waits until the first data is drawn.

From the command's start to its first data the console creates some 300,000 objects that
live as long as it does: modules, classes, styles, widgets. The collector's passes over
them, started by whatever allocated next, found next to nothing and were some 15% of the
start's CPU (0.57 s -> 0.49 s, CPU time from the command to the first data on screen).
So the command pauses the collector before its modules load, and the console resumes it
once its first data is drawn; a timer resumes it START_LIMIT_S after the start when no
data comes (a server down, the connect form). Thresholds and generations stay Python's.
"""

from __future__ import annotations

import gc
import threading

#: At the latest, the collector resumes this long after the command started.
START_LIMIT_S = 5.0

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
