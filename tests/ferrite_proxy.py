"""A stricter Ferrite stand-in: a small RESP proxy in front of a real redis-server.

`FERRITE_TUI_TEST_FERRITE=1` puts one in front of every test server (see conftest), so
the whole suite talks to something that refuses or strips exactly what Ferrite (0.3.0-dev,
read from its source; ../shared/design.md) does differently from Redis. Each rule, with the
Ferrite behaviour it stands for:

1. Lua is off (Ferrite's default build): EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT,
   FUNCTION, FCALL, FCALL_RO answer "ERR unknown command".
2. XAUTOCLAIM is not implemented: "ERR unknown command".
3. ZRANGE takes only `key start stop [WITHSCORES]`: BYSCORE, BYLEX, REV, LIMIT (or any
   other extra argument) answer "ERR syntax error".
4. Score bounds are inclusive only: a `(` bound in ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZCOUNT
   or ZREMRANGEBYSCORE answers "ERR min or max is not a float".
5. XINFO GROUPS has no `lag` and no `entries-read`; XINFO CONSUMERS has no `inactive`
   (the fields are removed from Redis 7's replies).
6. XINFO STREAM ... FULL is ignored: the FULL form answers as the plain XINFO STREAM.
7. INFO has only the server, stats, memory and keyspace sections, without
   `connected_clients` and `instantaneous_ops_per_sec`; INFO of any other section
   (clients, commandstats, replication, ...) is empty.
8. SUBSCRIBE / PSUBSCRIBE: design.md says they *may* answer an error. By default they
   work (the connection is passed through untouched from then on, as MONITOR is), so the
   live Pub/Sub tests run; `FerriteProxy(refuse_subscribe=True)` makes them answer
   "ERR unknown command" instead, and a test of its own checks the console degrades.

A refused command is not answered by the proxy itself: it is sent on to the server under
a name no server knows, so the server refuses it in order (inside MULTI too, where it
aborts the transaction as a refused command does) and the proxy rewrites that error to
Ferrite's wording. Replies are forwarded byte for byte unless a rule changes them.

Each proxied server gets a proxy process of its own (`ProxyProcess`), so the proxy never
competes with the tests for the GIL; `FerriteProxy` is the same proxy on an event loop in a
daemon thread of this process (used inside that process, and available to tests).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import hiredis

from ferrite_tui.demo.server import RedisServer, _pdeathsig_preexec

REFUSED = b"FERRITE-STAND-IN-REFUSED"
LUA = {b"EVAL", b"EVALSHA", b"EVAL_RO", b"EVALSHA_RO", b"SCRIPT", b"FUNCTION", b"FCALL",
       b"FCALL_RO"}
MISSING = LUA | {b"XAUTOCLAIM"}
SCORE_RANGE = {b"ZRANGEBYSCORE", b"ZREVRANGEBYSCORE", b"ZCOUNT", b"ZREMRANGEBYSCORE"}
PASS_THROUGH = {b"SUBSCRIBE", b"PSUBSCRIBE", b"MONITOR", b"SSUBSCRIBE"}
INFO_SECTIONS = {"server", "stats", "memory", "keyspace"}
INFO_DROPPED = (b"connected_clients:", b"instantaneous_ops_per_sec:")

Transform = Callable[[bytes], bytes]


# -- RESP framing ----------------------------------------------------------------------

def frame_end(buf: bytearray | bytes, pos: int) -> int | None:
    """Where the RESP2/RESP3 value starting at `pos` ends (None: not all of it is here yet).
    (The suite's own redis-py clients speak RESP3; the console speaks RESP2.)"""
    stack = 1  # values still to read
    n = len(buf)
    while stack:
        if pos >= n:
            return None
        nl = buf.find(b"\r\n", pos)
        if nl < 0:
            return None
        kind = buf[pos]
        stack -= 1
        if kind in (0x24, 0x3D, 0x21):  # $ bulk, = verbatim, ! blob error
            size = int(buf[pos + 1:nl])
            pos = nl + 2 if size < 0 else nl + 4 + size
            if pos > n:
                return None
        elif kind in (0x2A, 0x7E, 0x3E):  # * array, ~ set, > push
            size = int(buf[pos + 1:nl])
            pos = nl + 2
            if size > 0:
                stack += size
        elif kind == 0x25:  # % map: pairs
            stack += 2 * int(buf[pos + 1:nl])
            pos = nl + 2
        elif kind == 0x7C:  # | attributes: pairs, then the value they describe
            stack += 2 * int(buf[pos + 1:nl]) + 1
            pos = nl + 2
        else:  # + - : _ , # ( and inline commands: one line
            pos = nl + 2
    return pos


def children(raw: bytes) -> tuple[bytes, list[bytes]]:
    """An aggregate's type byte and its child values, each as raw bytes."""
    nl = raw.find(b"\r\n")
    count = int(raw[1:nl]) * (2 if raw[:1] == b"%" else 1)
    out, pos = [], nl + 2
    for _ in range(max(count, 0)):
        end = frame_end(raw, pos)
        assert end is not None
        out.append(raw[pos:end])
        pos = end
    return raw[:1], out


def scalar(raw: bytes) -> bytes:
    """The bytes of a simple or bulk string value."""
    nl = raw.find(b"\r\n")
    if raw[:1] in (b"$", b"="):
        return raw[nl + 2:len(raw) - 2]
    return raw[1:nl]


def command_args(raw: bytes) -> list[bytes]:
    if raw[:1] != b"*":
        return raw.strip().split()  # an inline command (MONITOR, AUTH pw)
    reader = hiredis.Reader()
    reader.feed(raw)
    args = reader.gets()
    return list(args) if isinstance(args, list) else []


def pack(args: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


# -- the rules -------------------------------------------------------------------------

def _error_as(message: bytes) -> Transform:
    def transform(raw: bytes) -> bytes:
        return b"-" + message + b"\r\n" if raw.startswith(b"-") else raw
    return transform


def _strip_fields(names: set[bytes]) -> Transform:
    """Drop fields from a list of records (RESP2 flat arrays, or RESP3 maps)."""
    def transform(raw: bytes) -> bytes:
        if raw[:1] != b"*":
            return raw
        _, rows = children(raw)
        out = []
        for row in rows:
            kind, items = children(row) if row[:1] in (b"*", b"%") else (b"", [])
            if not kind:
                out.append(row)
                continue
            kept = [x for k, v in zip(items[::2], items[1::2]) if scalar(k) not in names
                    for x in (k, v)]
            count = len(kept) // 2 if kind == b"%" else len(kept)
            out.append(kind + b"%d\r\n" % count + b"".join(kept))
        return b"*%d\r\n" % len(out) + b"".join(out)
    return transform


def _info(raw: bytes) -> bytes:
    if raw[:1] not in (b"$", b"="):
        return raw
    body = scalar(raw)
    verbatim = raw[:1] == b"="
    if verbatim:
        body = body[4:]  # "txt:"
    keep: list[bytes] = []
    section: str | None = None
    for line in body.split(b"\r\n"):
        if line.startswith(b"# "):
            section = line[2:].strip().lower().decode()
        if section in INFO_SECTIONS and not line.startswith(INFO_DROPPED):
            keep.append(line)
    text = b"\r\n".join(keep).strip(b"\r\n")
    text = text + b"\r\n" if text else b""
    if verbatim:
        text = b"txt:" + text
        return b"=%d\r\n%s\r\n" % (len(text), text)
    return b"$%d\r\n%s\r\n" % (len(text), text)


def decide(args: list[bytes], refuse_subscribe: bool) -> tuple[bytes | None, Transform | None]:
    """(the command to send instead, or None for unchanged; how to change its reply)."""
    if not args:
        return None, None
    name = args[0].upper()
    if name in MISSING or (refuse_subscribe and name in (b"SUBSCRIBE", b"PSUBSCRIBE")):
        return pack([REFUSED, *args]), _error_as(
            b"ERR unknown command '" + args[0] + b"'")
    if name == b"ZRANGE" and (len(args) > 5 or (len(args) == 5
                                                and args[4].upper() != b"WITHSCORES")):
        return pack([REFUSED, *args]), _error_as(b"ERR syntax error")
    if name in SCORE_RANGE and any(a.startswith(b"(") for a in args[2:4]):
        return pack([REFUSED, *args]), _error_as(b"ERR min or max is not a float")
    if name == b"XINFO" and len(args) >= 2:
        sub = args[1].upper()
        if sub == b"GROUPS":
            return None, _strip_fields({b"lag", b"entries-read"})
        if sub == b"CONSUMERS":
            return None, _strip_fields({b"inactive"})
        if sub == b"STREAM" and len(args) > 3:
            return pack(args[:3]), None
    if name == b"INFO":
        return None, _info
    return None, None


# -- the proxy -------------------------------------------------------------------------

class _Loop:
    """One event loop in a daemon thread for every proxy of the test session."""

    lock = threading.Lock()
    loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def get(cls) -> asyncio.AbstractEventLoop:
        with cls.lock:
            if cls.loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="ferrite-proxy",
                                 daemon=True).start()
                cls.loop = loop
            return cls.loop


class FerriteProxy:
    def __init__(self, refuse_subscribe: bool = False) -> None:
        self.refuse_subscribe = refuse_subscribe
        self.upstream: tuple[str, int] | None = None
        self.port: int | None = None
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self, upstream: tuple[str, int], port: int | None = None) -> None:
        self.upstream = upstream
        loop = _Loop.get()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", port or 0), loop).result(10)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None

        async def close() -> None:
            server.close()
            for writer in list(self._writers):
                writer.close()
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), _Loop.get()).result(10)

    async def _handle(self, c_reader: asyncio.StreamReader,
                      c_writer: asyncio.StreamWriter) -> None:
        assert self.upstream is not None
        self._writers.add(c_writer)
        try:
            u_reader, u_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            self._writers.discard(c_writer)
            c_writer.close()
            return
        self._writers.add(u_writer)
        state = _Connection(self.refuse_subscribe)
        ups = asyncio.ensure_future(state.client_to_server(c_reader, u_writer))
        downs = asyncio.ensure_future(state.server_to_client(u_reader, c_writer))
        try:
            await asyncio.wait({ups, downs}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (ups, downs):
                task.cancel()
            for writer in (c_writer, u_writer):
                self._writers.discard(writer)
                writer.close()


class _Connection:
    """One client connection: commands rewritten on the way in, replies on the way out,
    matched in order through `pending` (one entry per command sent on)."""

    def __init__(self, refuse_subscribe: bool) -> None:
        self.refuse_subscribe = refuse_subscribe
        self.pending: deque[Transform | None] = deque()
        self.raw = False  # after SUBSCRIBE / MONITOR: bytes both ways, untouched

    async def client_to_server(self, reader: asyncio.StreamReader,
                               writer: asyncio.StreamWriter) -> None:
        buf = bytearray()
        while True:
            data = await reader.read(1 << 16)
            if not data:
                return
            if self.raw:
                writer.write(data)
                await writer.drain()
                continue
            buf += data
            out = bytearray()
            pos = 0
            while not self.raw:
                end = frame_end(buf, pos)
                if end is None:
                    break
                raw = bytes(buf[pos:end])
                pos = end
                # Only a few commands need their arguments: look at the name first.
                name = _name(raw)
                if name in _INTERESTING:
                    send, transform = decide(command_args(raw), self.refuse_subscribe)
                else:
                    send, transform = None, None
                out += send if send is not None else raw
                self.pending.append(transform)
                if name in PASS_THROUGH and send is None:
                    self.raw = True
            if self.raw:
                out += buf[pos:]
                pos = len(buf)
            del buf[:pos]
            if out:
                writer.write(out)
                await writer.drain()

    async def server_to_client(self, reader: asyncio.StreamReader,
                               writer: asyncio.StreamWriter) -> None:
        buf = bytearray()
        while True:
            data = await reader.read(1 << 16)
            if not data:
                return
            buf += data
            out = bytearray()
            pos = 0
            while self.pending:
                end = frame_end(buf, pos)
                if end is None:
                    break
                transform = self.pending.popleft()
                if transform is None:
                    out += buf[pos:end]
                else:
                    out += transform(bytes(buf[pos:end]))
                pos = end
            if not self.pending and (self.raw or pos < len(buf)):
                out += buf[pos:]  # pushed messages (pub/sub, MONITOR): as they come
                pos = len(buf)
            del buf[:pos]
            if out:
                writer.write(out)
                await writer.drain()


_INTERESTING = MISSING | SCORE_RANGE | PASS_THROUGH | {b"ZRANGE", b"XINFO", b"INFO"}


def _name(raw: bytes) -> bytes:
    if raw[:1] != b"*":
        return raw.split(None, 1)[0].upper() if raw.strip() else b""
    first = raw.find(b"\r\n")
    second = raw.find(b"\r\n", first + 2)
    return raw[second + 2:raw.find(b"\r\n", second + 2)].upper()


class ProxyProcess:
    """A FerriteProxy in a process of its own: `start` launches it and reads its port."""

    def __init__(self, refuse_subscribe: bool = False) -> None:
        self.refuse_subscribe = refuse_subscribe
        self.port: int | None = None
        self._proc: subprocess.Popen[str] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, upstream: tuple[str, int], port: int | None = None) -> None:
        here = os.path.dirname(os.path.abspath(__file__))
        code = (f"import sys; sys.path[:0] = [{os.path.dirname(here)!r}, {here!r}]; "
                "import ferrite_proxy; ferrite_proxy.main()")
        args = [sys.executable, "-c", code, upstream[0], str(upstream[1]), str(port or 0)]
        if self.refuse_subscribe:
            args.append("--refuse-subscribe")
        self._proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True,
                                      stdin=subprocess.DEVNULL, start_new_session=True,
                                      preexec_fn=_pdeathsig_preexec())
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"the Ferrite stand-in proxy did not start: {line!r}")
        self.port = int(line)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def main() -> None:
    """`<host> <port> <listen port> [--refuse-subscribe]`: serve until terminated; the
    port listened on is printed first."""
    host, port, listen = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    proxy = FerriteProxy(refuse_subscribe="--refuse-subscribe" in sys.argv)

    async def serve() -> None:
        proxy.upstream = (host, port)
        server = await asyncio.start_server(proxy._handle, "127.0.0.1", listen)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


class FerriteStandIn(RedisServer):
    """A RedisServer seen through the Ferrite stand-in proxy: `port` and `url` are the
    proxy's (every client of the suite goes through it). kill() closes the proxy's port with
    the server and start()/restart() reopen it at the same address, so clients see what a
    Ferrite crash and restart would show them."""

    def __init__(self, *args: Any, refuse_subscribe: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.proxy = ProxyProcess(refuse_subscribe=refuse_subscribe)
        self._proxy_port: int | None = None

    @property
    def server_port(self) -> int | None:
        """The real server's port, behind the proxy."""
        return self._port

    @property
    def port(self) -> int | None:
        return self._proxy_port if self._proxy_port is not None else self._port

    @property
    def url(self) -> str:
        return super().url.replace(f":{self._port}/", f":{self.port}/")

    def start(self, timeout: float = 10.0) -> FerriteStandIn:
        super().start(timeout=timeout)
        if not self.proxy.running:
            assert self._port is not None  # set by the server's start
            self.proxy.start(("127.0.0.1", self._port), port=self._proxy_port)
            self._proxy_port = self.proxy.port
        return self

    def kill(self) -> None:
        self.proxy.stop()
        super().kill()

    def restart(self, timeout: float = 10.0) -> FerriteStandIn:
        self.kill()
        return self.start(timeout=timeout)

    def stop(self) -> None:
        self.proxy.stop()
        self._proxy_port = None
        super().stop()
