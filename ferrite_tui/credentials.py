"""Passwords kept out of the process's arguments.

`/proc/PID/cmdline` (what `ps` shows) is readable by every user of the machine, so a
password given in a URL on the command line is visible to all of them. At start the
command line is rewritten without it (setproctitle), and a warning says so, as redis-cli
warns about `-a`. The password was visible for the moment before Python ran: `--askpass`
(or REDISCLI_AUTH, or a profile's password_env / password_command) avoids even that.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Sequence
from urllib.parse import urlsplit

from ferrite_tui.urls import redact_url

WARNING = ("warning: a password on the command line may not be safe (other users can see it "
           "while the command starts); use --askpass, REDISCLI_AUTH or a profile's "
           "password_env instead")


def has_password(arg: str) -> bool:
    if "://" not in arg or "@" not in arg:
        return False
    try:
        return urlsplit(arg).password is not None
    except ValueError:
        return False


def hide_passwords(argv: Sequence[str]) -> bool:
    """Rewrite this process's command line with every URL password masked. True if one was
    found (the caller warns)."""
    if not any(has_password(a) for a in argv):
        return False
    try:
        import setproctitle
    except ImportError:  # a dependency; still warn without it
        return True
    try:
        with open("/proc/self/cmdline", "rb") as f:
            shown = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        shown = [sys.executable, *sys.argv]
    setproctitle.setproctitle(" ".join(redact_url(a) if has_password(a) else a
                                        for a in shown))
    return True


def ask_password(prompt: str) -> str:
    """The password from the terminal without echo, or one line from stdin when it is not
    a terminal (as `sudo -S` reads it)."""
    if sys.stdin is not None and sys.stdin.isatty():
        return getpass.getpass(prompt)
    line = sys.stdin.readline() if sys.stdin is not None else ""
    return line.rstrip("\r\n")
