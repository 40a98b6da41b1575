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
