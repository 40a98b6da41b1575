"""Commands packed for the wire, and the packed bytes of recent ones kept for reuse.

The poll sends the same few thousand commands tick after tick (LLEN key, LINDEX key 0,
XINFO GROUPS key, ...). hiredis packs one in about a microsecond; looking up the bytes of
the same command packed before takes a twentieth of that, which made packing the largest
single cost of a poll's round trip. Kept in two generations: a command not sent since the
younger one filled is forgotten, so commands holding a time (ZCOUNT up to now) do not pile
up, and the memory stays about two polls' worth.
"""

from __future__ import annotations

import hiredis

#: Packed commands longer than this are not kept (an LPOS carrying a list's end item).
KEEP_BYTES = 512
#: A generation holds at least this many commands, and at least twice the largest batch.
GENERATION = 8192


def pack(command: tuple) -> bytes:
    """One command in RESP."""
    try:
        return hiredis.pack_command(command)
    except UnicodeEncodeError:
        # str keys may carry surrogateescape bytes (key_text): send the original bytes.
        # hiredis's stub declares a one-element tuple; any number of arguments is packed.
        return hiredis.pack_command(tuple(  # type: ignore[arg-type]
            a.encode("utf-8", "surrogateescape") if isinstance(a, str) else a
            for a in command))


class PackedCommands:
    """Packs batches of commands, reusing the bytes of commands sent recently."""

    def __init__(self) -> None:
        self._young: dict[tuple, bytes] = {}
        self._old: dict[tuple, bytes] = {}
        self._limit = GENERATION

    def pack(self, commands: list[tuple]) -> bytes:
        young = self._young
        packed: list[bytes | None] = list(map(young.get, commands))
        self._limit = max(self._limit, 2 * len(commands))
        try:
            return b"".join(packed)  # type: ignore[arg-type]
        except TypeError:  # some were not in the younger generation (None)
            pass
        old = self._old
        for i in [i for i, one in enumerate(packed) if one is None]:
            command = commands[i]
            one = old.get(command)
            if one is None:
                one = pack(command)
                if len(one) > KEEP_BYTES or not _keepable(command):
                    packed[i] = one
                    continue
            packed[i] = young[command] = one
        if len(young) > self._limit:
            self._old, self._young = young, {}
        return b"".join(packed)  # type: ignore[arg-type]


def _keepable(command: tuple) -> bool:
    """Only commands of str, bytes and int are kept: 1.0 equals 1 as a key and packs to
    other bytes, and Redis refuses "1.0" where it wants an integer (the other way, a float
    command sent as a kept int one's "1", is the same number to Redis)."""
    return all(type(a) is str or type(a) is bytes or type(a) is int for a in command)
