"""Job functions the queue libraries' workers import by name in the library tests.

`flaky(path)` fails while the file `path` exists: a test fails a job, requeues it with the
console, removes the file, and the library's own worker then runs it successfully.
"""

import os


def ok(x=0):
    return x


def flaky(path):
    if os.path.exists(path):
        raise ValueError(f"flaky: {path} exists")
    return "ok"


def add(x, y):
    return x + y


def boom(x=0):
    raise ValueError(f"boom {x}")


def hold(path, limit=60.0):
    """Runs while the file `path` exists (a test holds a job in progress), at most `limit` s."""
    import time

    deadline = time.monotonic() + limit
    while os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.02)
    return "released"


def own_copy(fn):
    """A copy of one of these functions for a library that changes what it registers
    (taskiq renames its task's function to NAME__taskiq_original, which then made RQ, in the
    same test process, enqueue `libjobs.ok__taskiq_original`: a job no worker could find)."""
    import types

    return types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__,
                              fn.__closure__)
