"""Who may open a console through `ferrite-tui serve`: links, session secrets, lockouts.

- A **link token** is what serve prints in `?token=`. A printed one opens one browser
  session and is spent on use; unused, it expires (10 minutes by default). A token the
  user chose (`--token-file`, the environment) stays valid for as long as serve runs.
- Opening a link trades its token for a **session secret**, a separate random value that
  the cookie holds: the token itself is never stored in the browser, so the URL left in the
  browser's history opens nothing.
- **Wrong tokens** are counted per client address: past a few they are answered slowly,
  then the address is locked out for a while; each burst is logged once, not per request.

Plain standard library: no aiohttp here, so the rules can be read on their own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_LINK_TTL_S = 600.0
# Session secrets kept at most (a browser that opened a link and never came back ages out).
MAX_SESSION_SECRETS = 1000
# Spent or expired tokens remembered, to tell "used" from "wrong" in the refusal.
MAX_SPENT = 1000


def digest(token: str) -> bytes:  # what is kept of a token or secret: never the value
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


@dataclass(frozen=True)
class Exchange:
    """The outcome of presenting a link token: a session secret, or why not."""

    secret: str | None = None
    refusal: str | None = None  # "used", "expired" or "wrong"


class Links:
    """Link tokens and the session secrets they were traded for."""

    def __init__(self, *, long_lived: str | None = None, ttl_s: float = DEFAULT_LINK_TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.long_lived = long_lived
        self.ttl_s = ttl_s
        self.clock = clock
        self._pending: dict[bytes, float] = {}  # digest of a printed token -> its expiry
        self._spent: OrderedDict[bytes, str] = OrderedDict()  # digest -> "used" or "expired"
        self._secrets: OrderedDict[bytes, None] = OrderedDict()

    def new_link(self) -> str:
        """A fresh one-time token (the previous ones stay valid until used or expired)."""
        self._expire()
        token = secrets.token_urlsafe(24)
        self._pending[digest(token)] = self.clock() + self.ttl_s
        return token

    def state(self, token: str) -> str | None:
        """"pending", "used" or "expired" for a printed token; None for any other."""
        self._expire()
        key = digest(token)
        return "pending" if key in self._pending else self._spent.get(key)

    def exchange(self, token: str) -> Exchange:
        self._expire()
        key = digest(token)
        if self._pending.pop(key, None) is not None:
            self._remember_spent(key, "used")
            return Exchange(secret=self._new_secret())
        if self.long_lived is not None and hmac.compare_digest(
                key, digest(self.long_lived)):
            return Exchange(secret=self._new_secret())
        if key in self._spent:
            return Exchange(refusal=self._spent[key])
        return Exchange(refusal="wrong")

    def session_ok(self, secret: str | None) -> bool:
        if not secret:
            return False
        key = digest(secret)
        if key in self._secrets:
            self._secrets.move_to_end(key)  # in use: the last to age out
            return True
        return False

    def _new_secret(self) -> str:
        secret = secrets.token_urlsafe(32)
        self._secrets[digest(secret)] = None
        while len(self._secrets) > MAX_SESSION_SECRETS:
            self._secrets.popitem(last=False)
        return secret

    def _remember_spent(self, key: bytes, how: str) -> None:
        self._spent[key] = how
        while len(self._spent) > MAX_SPENT:
            self._spent.popitem(last=False)

    def _expire(self) -> None:
        now = self.clock()
        for key in [d for d, expiry in self._pending.items() if expiry <= now]:
            del self._pending[key]
            self._remember_spent(key, "expired")


@dataclass
class _Address:
    failures: int = 0  # within the current window
    window_start: float = 0.0
    last_failure: float = float("-inf")
    locked_until: float = float("-inf")
    unlogged: int = 0  # refusals not logged since the burst's first line


class Guard:
    """Wrong tokens per client address: free, then slowed, then locked out.

    ``refused`` returns how long to hold the answer (0 for the first few); ``locked``
    tells whether the address is refused outright. ``log`` gets one line per burst.
    """

    FREE = 5  # wrong tokens answered at once (typos, an old link pasted twice)
    LOCK_AFTER = 10  # then the address is locked out
    WINDOW_S = 600.0  # failures are counted over this long
    SLOW_S = 1.0  # how long each answer past FREE is held
    LOCK_S = 900.0
    BURST_GAP_S = 60.0  # a quiet minute ends a burst: the next refusal is logged again
    MAX_ADDRESSES = 10_000

    def __init__(self, log: Callable[[str], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.log = log
        self.clock = clock
        self._addresses: dict[str, _Address] = {}

    def locked(self, remote: str) -> float:
        """Seconds left of ``remote``'s lockout (0: not locked)."""
        entry = self._addresses.get(remote)
        if entry is None:
            return 0.0
        return max(0.0, entry.locked_until - self.clock())

    def refused(self, remote: str, reason: str, *, counts: bool = True) -> float:
        """Record one refusal of ``remote``; the delay to hold its answer, in seconds."""
        now = self.clock()
        entry = self._entry(remote, now)
        new_burst = now - entry.last_failure > self.BURST_GAP_S
        entry.last_failure = now
        if new_burst:
            earlier = f" ({entry.unlogged} more refused in its last burst)" if entry.unlogged \
                else ""
            entry.unlogged = 0
            self.log(f"refused {remote}: {reason}{earlier} (its next refusals are "
                     "counted, not logged, until a quiet minute)")
        else:
            entry.unlogged += 1
        if not counts:
            return 0.0
        if now - entry.window_start > self.WINDOW_S:
            entry.window_start, entry.failures = now, 0
        entry.failures += 1
        if entry.failures >= self.LOCK_AFTER and entry.locked_until <= now:
            entry.locked_until = now + self.LOCK_S
            self.log(f"locked out {remote} for {self.LOCK_S / 60:g} minutes after "
                     f"{entry.failures} wrong tokens (restart serve to lift it)")
        return self.SLOW_S if entry.failures > self.FREE else 0.0

    def _entry(self, remote: str, now: float) -> _Address:
        entry = self._addresses.get(remote)
        if entry is None:
            if len(self._addresses) >= self.MAX_ADDRESSES:
                self._forget_quiet(now)
            entry = self._addresses[remote] = _Address(window_start=now)
        return entry

    def _forget_quiet(self, now: float) -> None:
        for remote, entry in list(self._addresses.items()):
            if entry.locked_until <= now and now - entry.last_failure > self.WINDOW_S:
                del self._addresses[remote]
        if len(self._addresses) >= self.MAX_ADDRESSES:  # a flood from many addresses
            oldest = min(self._addresses, key=lambda r: self._addresses[r].last_failure)
            del self._addresses[oldest]
