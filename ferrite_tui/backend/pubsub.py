"""Pub/Sub: a live tail on a dedicated connection, recording to NDJSON, and PUBLISH.

Plain asyncio + redis.asyncio; nothing here imports Textual.

The tail reads the subscription connection itself (``Connection.read_response``), not through
redis-py's ``PubSub`` object: that costs about 2 µs per message instead of about 13 µs, which
is what lets the console absorb tens of thousands of messages per second and still answer
keys. The reader yields to the event loop every few milliseconds, so a flood never starves
the UI.

Semantics:
- Every message that arrives is counted exactly (``received``, per channel), whatever the
  view does with it; paused or not, recording or not.
- The buffer keeps the newest ``buffer`` messages (and at most ``max_bytes`` of bodies);
  what falls off is counted in ``dropped``.
- Entries carry a sequence number, so a reader (the UI) asks for what is new since the last
  entry it saw and learns how many fell off before it looked (``skipped``).
- When the connection drops, the tail reconnects with backoff, subscribes again and puts a
  gap marker in the log (messages published in the gap were never delivered to anyone
  who was not subscribed, so they are lost to the tail). Where the server closed the
  subscription, the marker says why when it can: a tail that falls behind passes the
  server's pub/sub output buffer limit and is dropped (counted in INFO stats'
  client_output_buffer_limit_disconnections on Redis 7+; elsewhere named as the likely
  cause, with the limit from CONFIG GET where the server answers it).
- A server that refuses SUBSCRIBE/PSUBSCRIBE (Ferrite may) puts the tail in state
  ``refused`` with one line saying so; it does not retry until asked to.
"""

from __future__ import annotations

import asyncio
import fnmatch
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from redis import exceptions as rexc
from redis.asyncio import Redis

from ferrite_tui import formatting as fmt
from ferrite_tui.backend.client import Client, mutation
from ferrite_tui.backend.connection import describe_error, is_connection_failure
from ferrite_tui.backend.envelopes import key_text, printable
from ferrite_tui.backend.errors import is_noperm
from ferrite_tui.backend.recording import Entry, Recorder

DEFAULT_BUFFER = 10_000
DEFAULT_MAX_BYTES = 64 << 20  # message bodies kept in the buffer, all together
MAX_TRACKED_CHANNELS = 5_000  # per-channel counts; further channels count as "other"
# Channels the server publishes keyspace notifications on.
NOTIFICATION_PREFIXES = (b"__keyspace@", b"__keyevent@")
BACKOFF_S = (0.5, 1, 2, 4, 5)
YIELD_EVERY_S = 0.003  # the reader gives the event loop a turn at least this often
IDLE_PING_S = 15.0  # no data for this long: PING the subscription connection
PING_DEADLINE_S = 10.0  # and give up on it when nothing arrives for this long after

GLOB_CHARS = frozenset("*?[")


def is_pattern(text: str) -> bool:
    """A pattern subscribes with PSUBSCRIBE; a plain channel name with SUBSCRIBE."""
    return any(ch in GLOB_CHARS for ch in text)


def glob_match(pattern: str, channel: str) -> bool:
    """Redis-style glob (close enough: fnmatch without case folding)."""
    return fnmatch.fnmatchcase(channel, pattern) if is_pattern(pattern) else pattern == channel


class SilentConnection(rexc.TimeoutError):
    """The subscription connection did not answer a PING in time."""


@dataclass(frozen=True, slots=True)
class TailState:
    status: str  # stopped / connecting / live / reconnecting / refused
    error: str | None = None
    attempt: int = 0


class Tail:
    """PSUBSCRIBE/SUBSCRIBE on a dedicated connection, with a bounded buffer and counts."""

    def __init__(self, client: Client, patterns: Iterable[str] = ("*",), *,
                 buffer: int = DEFAULT_BUFFER, max_bytes: int = DEFAULT_MAX_BYTES,
                 clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.patterns: tuple[str, ...] = tuple(patterns) or ("*",)
        self.buffer_size = max(1, int(buffer))
        self.max_bytes = max(1, int(max_bytes))
        self.clock = clock
        self.monotonic = monotonic
        self._buffer: deque[Entry] = deque()
        self._bytes = 0
        self.seq = 0  # last entry's sequence number
        self.received = 0  # messages read, exactly
        self.notifications_skipped = 0  # keyspace notifications a broad pattern swept in
        self.dropped = 0  # messages that fell off the buffer
        self.by_channel: dict[bytes, int] = {}
        self.paused = False
        self._paused_at = 0
        self.state = TailState("stopped")
        self.recorder: Recorder | None = None
        self.record_error: str | None = None
        self.gaps = 0
        self._task: asyncio.Task | None = None
        self._redis: Redis | None = None
        self._conn = None
        self._samples: deque[tuple[float, int, dict[bytes, int]]] = deque()
        self._last_rx = 0.0
        self._ping_sent: float | None = None
        self._can_ping = True
        self.idle_ping_s = IDLE_PING_S
        self.ping_deadline_s = PING_DEADLINE_S
        self.pongs = 0
        # INFO stats' client_output_buffer_limit_disconnections when subscribed (Redis 7+).
        self._limit_drops: int | None = None

    # -- control ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self.running:
            return
        self.state = TailState("connecting")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="pubsub-tail")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except BaseException:
                pass
        await self._close_connection()
        if self._redis is not None:
            try:
                await self._redis.aclose()
            except Exception:
                pass
            self._redis = None
        self.state = TailState("stopped")

    async def aclose(self) -> None:
        await self.stop()
        self.stop_recording()

    async def set_patterns(self, patterns: Iterable[str]) -> None:
        """Subscribe to these instead (a new session; the log notes the change)."""
        patterns = tuple(p for p in patterns if p) or ("*",)
        was_running = self.running or self.state.status == "refused"
        await self.stop()
        self.patterns = patterns
        self._add_marker(Entry.NOTE, "now tailing " + " ".join(patterns))
        if was_running:
            self.start()

    def pause(self) -> None:
        if not self.paused:
            self.paused = True
            self._paused_at = self.received

    def resume(self) -> None:
        self.paused = False

    @property
    def since_pause(self) -> int:
        """Messages that arrived since pause() (0 when not paused)."""
        return self.received - self._paused_at if self.paused else 0

    # -- recording ----------------------------------------------------------------------

    def start_recording(self, path: Path | str) -> Recorder:
        if self.recorder is not None:
            raise RuntimeError(f"already recording to {self.recorder.path}")
        self.record_error = None
        self.recorder = Recorder(path)
        return self.recorder

    def stop_recording(self) -> Recorder | None:
        recorder, self.recorder = self.recorder, None
        if recorder is not None:
            try:
                recorder.close()
            except OSError as exc:
                self.record_error = f"recording to {recorder.path} failed: {exc.strerror or exc}"
        return recorder

    def _record(self, entry: Entry) -> None:
        recorder = self.recorder
        if recorder is None:
            return
        try:
            recorder.write(entry)
        except OSError as exc:
            self.recorder = None
            self.record_error = (f"recording to {recorder.path} stopped after "
                                 f"{recorder.messages} messages: {exc.strerror or exc}")
            try:
                recorder.close()
            except OSError:
                pass

    # -- reading the buffer -------------------------------------------------------------

    def entries(self) -> list[Entry]:
        return list(self._buffer)

    def since(self, seq: int) -> tuple[list[Entry], int]:
        """Entries newer than `seq` still buffered, and how many newer ones fell off already."""
        buf = self._buffer
        out: list[Entry] = []
        for entry in reversed(buf):
            if entry.seq <= seq:
                break
            out.append(entry)
        out.reverse()
        first = out[0].seq if out else self.seq + 1
        return out, max(0, first - 1 - seq)

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def rates(self, window_s: float = 5.0) -> tuple[float | None, dict[bytes, float]]:
        """Messages per second, total and per channel, over about the last `window_s`.

        Rates divide by measured elapsed time between two samples of the exact counts.
        """
        now = self.monotonic()
        samples = self._samples
        if not samples or now - samples[-1][0] >= 0.25:
            samples.append((now, self.received, dict(self.by_channel)))
        while len(samples) > 2 and now - samples[1][0] >= window_s:
            samples.popleft()
        if len(samples) < 2:
            return None, {}
        t0, total0, chans0 = samples[0]
        t1, total1, chans1 = samples[-1]
        elapsed = t1 - t0
        if elapsed <= 0:
            return None, {}
        per = {ch: (n - chans0.get(ch, 0)) / elapsed for ch, n in chans1.items()}
        return (total1 - total0) / elapsed, per

    # -- writing the buffer -------------------------------------------------------------

    def _append(self, entry: Entry) -> None:
        buf = self._buffer
        buf.append(entry)
        self._bytes += len(entry.data)
        while len(buf) > self.buffer_size or (self._bytes > self.max_bytes and len(buf) > 1):
            old = buf.popleft()
            self._bytes -= len(old.data)
            if old.kind == Entry.MESSAGE:
                self.dropped += 1
        if self.recorder is not None:
            self._record(entry)

    def _add_marker(self, kind: str, text: str) -> Entry:
        self.seq += 1
        entry = Entry(self.seq, self.clock(), b"", None, text.encode("utf-8", "replace"), kind)
        self._append(entry)
        if self.recorder is not None:
            self.recorder.flush()
        return entry

    def _message(self, channel: bytes, pattern: bytes | None, data: bytes) -> None:
        if (pattern is not None and channel.startswith(NOTIFICATION_PREFIXES)
                and not pattern.startswith(b"__key")):
            # The server's keyspace notifications (on wherever exact in/out is used, as in
            # the demo) are its bookkeeping, not messages: a tail gets them only when one of
            # its patterns names them (e.g. `__keyevent@0__:*`).
            self.notifications_skipped += 1
            return
        self._append(Entry(self._count(self.by_channel, channel), self.clock(), channel,
                           pattern, data))

    def _count(self, counts: dict[bytes, int], channel: bytes) -> int:
        """Count one message of `channel` in `counts` (at most MAX_TRACKED_CHANNELS names;
        messages of further channels are counted in `received` only); its sequence
        number."""
        self.received += 1
        n = counts.get(channel)
        if n is not None:
            counts[channel] = n + 1
        elif len(counts) < MAX_TRACKED_CHANNELS:
            counts[channel] = 1
        self.seq += 1
        return self.seq

    # -- the connection -----------------------------------------------------------------

    async def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.disconnect(nowait=True)
            except Exception:
                pass
            if self._redis is not None:
                try:
                    await self._redis.connection_pool.release(conn)
                except Exception:
                    pass

    def _publish_note(self, refusal: Exception) -> str:
        """What the probe found about publishing: said only as far as it could tell (an
        ACL that refuses subscribing may refuse publishing; a server without SUBSCRIBE
        still publishes)."""
        publish = self.client.capabilities.publish
        if publish is False:
            return f"user {self.client.username} may not publish either"
        if publish is None and is_noperm(refusal):
            return (f"whether user {self.client.username} may publish could not be told "
                    "(a refusal will say so)")
        return "publish still works"

    def _verb(self) -> str:
        return "PSUBSCRIBE" if any(is_pattern(p) for p in self.patterns) else "SUBSCRIBE"

    async def _subscribe(self):
        """Open the connection and subscribe; answers come back before this returns."""
        if self._redis is None:
            self._redis = self.client.pubsub_connection()
        conn = await self._redis.connection_pool.get_connection()
        self._conn = conn
        plain = [p for p in self.patterns if not is_pattern(p)]
        globs = [p for p in self.patterns if is_pattern(p)]
        expected = 0
        if globs:
            await conn.send_command("PSUBSCRIBE", *globs, check_health=False)
            expected += len(globs)
        if plain:
            await conn.send_command("SUBSCRIBE", *plain, check_health=False)
            expected += len(plain)
        confirmed = 0
        deadline = self.client.settings.command_timeout
        while confirmed < expected:
            reply = await conn.read_response(timeout=deadline, disable_decoding=True)
            if reply is None:
                raise rexc.TimeoutError("no answer to SUBSCRIBE")
            kind = reply[0] if isinstance(reply, list) and reply else b""
            if kind in (b"psubscribe", b"subscribe"):
                confirmed += 1
            else:
                self._handle(reply)
        return conn

    def _handle(self, reply) -> None:
        if type(reply) is list:
            kind = reply[0]
            if kind == b"pmessage" and len(reply) == 4:
                self._message(reply[2], reply[1], reply[3])
                return
            if kind == b"message" and len(reply) == 3:
                self._message(reply[1], None, reply[2])
                return
            if kind == b"pong":
                self._ping_sent = None
                self.pongs += 1
                self._last_rx = self.monotonic()

    async def _read(self, conn) -> None:
        loop_time = time.perf_counter
        last_yield = loop_time()
        read = conn.read_response
        handle = self._handle
        while True:
            try:
                reply = await read(timeout=math.inf, disable_decoding=True)
            except rexc.ResponseError:
                if self._ping_sent is None:
                    raise
                # PING refused while subscribed (a partial server may): the connection is
                # alive, but do not ask again; a dead peer is left to TCP to notice.
                self._ping_sent = None
                self._can_ping = False
                continue
            handle(reply)
            now = loop_time()
            if now - last_yield >= YIELD_EVERY_S:
                self._last_rx = self.monotonic()
                if self.recorder is not None:
                    try:
                        self.recorder.flush()
                    except OSError as exc:
                        self.record_error = f"recording failed: {exc.strerror or exc}"
                        self.stop_recording()
                await asyncio.sleep(0)
                last_yield = loop_time()

    async def _watchdog(self, conn) -> None:
        """PING an idle subscription; a connection that stays silent after is dead."""
        while True:
            await asyncio.sleep(min(1.0, self.idle_ping_s / 2, self.ping_deadline_s / 2))
            now = self.monotonic()
            if self.recorder is not None:
                try:
                    self.recorder.flush()
                except OSError:
                    pass
            if self._ping_sent is not None:
                if now - self._ping_sent > self.ping_deadline_s:
                    raise SilentConnection(f"no answer to PING within "
                                           f"{self.ping_deadline_s:g} s (connection silent)")
            elif self._can_ping and now - self._last_rx > self.idle_ping_s:
                self._ping_sent = now
                await conn.send_command("PING", check_health=False)

    async def _run(self) -> None:
        attempt = 0
        lost_at: float | None = None
        lost_reason = ""
        why_lost = ""  # why the server closed the subscription, when that is known
        while True:
            self.state = TailState("connecting" if lost_at is None else "reconnecting",
                                   attempt=attempt, error=lost_reason or None)
            try:
                conn = await self._subscribe()
            except rexc.ResponseError as exc:
                await self._close_connection()
                what = self._verb()
                reason = printable(str(exc).splitlines()[0] if str(exc) else "refused", 60)
                self.state = TailState(
                    "refused",
                    error=f"the server refused {what} ({reason}): no live tail; "
                          f"the channel table still works; {self._publish_note(exc)}")
                self._add_marker(Entry.NOTE, f"{what} refused: {reason}")
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._close_connection()
                if not is_connection_failure(exc):
                    self.state = TailState("refused", error="tail failed: "
                                           + describe_error(exc, self.client.settings))
                    return
                attempt += 1
                if lost_at is None:
                    lost_at = self.clock()
                    lost_reason = describe_error(exc, self.client.settings)
                    self._add_marker(Entry.NOTE, f"cannot subscribe: {lost_reason}; retrying")
                self.state = TailState("reconnecting", attempt=attempt,
                                       error=describe_error(exc, self.client.settings))
                await asyncio.sleep(BACKOFF_S[min(attempt - 1, len(BACKOFF_S) - 1)])
                continue
            if lost_at is not None:
                self.gaps += 1
                self._add_marker(
                    Entry.GAP,
                    f"gap of {max(self.clock() - lost_at, 0):.1f} s: resubscribed to "
                    f"{printable(' '.join(self.patterns), 100)}; messages published "
                    f"meanwhile were not received" + (f" ({why_lost})" if why_lost else ""))
            why_lost = ""
            self._limit_drops = await self._buffer_limit_drops()
            attempt = 0
            lost_at = None
            lost_reason = ""
            self.state = TailState("live")
            self._last_rx = self.monotonic()
            self._ping_sent = None
            watchdog = asyncio.get_running_loop().create_task(self._watchdog(conn))
            reader = asyncio.get_running_loop().create_task(self._read(conn))
            try:
                done, _ = await asyncio.wait({watchdog, reader},
                                             return_when=asyncio.FIRST_COMPLETED)
                failure = next(iter(done)).exception()
            except asyncio.CancelledError:
                raise
            finally:
                for task in (watchdog, reader):
                    task.cancel()
                for task in (watchdog, reader):
                    try:
                        await task
                    except BaseException:
                        pass
                await self._close_connection()
            if failure is None:
                failure = rexc.ConnectionError("subscription ended")
            if not is_connection_failure(failure) and not isinstance(failure, rexc.ResponseError):
                self.state = TailState("refused", error="tail failed: "
                                       + describe_error(failure, self.client.settings))
                self._add_marker(Entry.NOTE, self.state.error or "tail failed")
                return
            lost_at = self.clock()
            if isinstance(failure, SilentConnection):
                lost_reason = str(failure)
                lost_at -= max(self.monotonic() - self._last_rx, 0)  # silent since then
            else:
                lost_reason = describe_error(failure, self.client.settings)
                if is_closed_by_server(failure):
                    why_lost = await self._why_closed()
            self._add_marker(Entry.NOTE, f"connection lost: {lost_reason}; resubscribing"
                             + (f" ({why_lost})" if why_lost else ""))
            attempt = 1
            self.state = TailState("reconnecting", attempt=attempt, error=lost_reason)
            await asyncio.sleep(BACKOFF_S[0])


    async def _buffer_limit_drops(self) -> int | None:
        """How many clients the server has closed for passing their output buffer limit
        (Redis 7+); None where INFO does not say (Redis 6, Ferrite) or cannot be read."""
        try:
            info = await self.client.redis.info("stats")
        except Exception:
            return None
        value = info.get("client_output_buffer_limit_disconnections") \
            if isinstance(info, dict) else None
        return int(value) if isinstance(value, int | str) and str(value).isdigit() else None

    async def _pubsub_limit(self) -> str | None:
        """The server's pub/sub output buffer limit ("pubsub 32mb 8mb 60"), if it says."""
        try:
            reply = await self.client.redis.config_get("client-output-buffer-limit")
        except Exception:
            return None
        value = reply.get("client-output-buffer-limit") if isinstance(reply, dict) else None
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        words = str(value or "").split()
        if "pubsub" not in words or len(words) < words.index("pubsub") + 4:
            return None
        at = words.index("pubsub")
        hard, soft, seconds = words[at + 1:at + 4]
        def size(word: str) -> str:
            return fmt.size(int(word)) if word.isdigit() else printable(word, 20)

        return (f"client-output-buffer-limit pubsub: {size(hard)} at once, or {size(soft)} "
                f"for {printable(seconds, 10)} s")

    async def _why_closed(self) -> str:
        """Why the server closed the subscription: its output buffer limit when INFO's
        counter says so; else that limit named as the likely cause of a server-side close
        (a CLIENT KILL or a restart closes it the same way)."""
        now = await self._buffer_limit_drops()
        limit = await self._pubsub_limit()
        where = f": {limit}" if limit else ""
        if now is not None and self._limit_drops is not None:
            if now > self._limit_drops:
                return ("the server dropped the tail: it fell behind and passed the server's "
                        f"pub/sub output buffer limit{where}")
            return "closed by the server (not for its output buffer limit)"
        return ("closed by the server: most likely the tail fell behind and passed the "
                f"server's pub/sub output buffer limit{where}; or CLIENT KILL, a restart")


def is_closed_by_server(exc: BaseException) -> bool:
    """The server ended the connection (EOF), rather than the network or a timeout."""
    return isinstance(exc, rexc.ConnectionError) and "closed by server" in str(exc).lower()


class PubSub:
    """The mutations of the Pub/Sub panel (one: PUBLISH)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    @mutation("publish")
    async def publish(self, channel: str | bytes, message: str | bytes) -> int:
        """PUBLISH; returns how many subscribers received it (audit-logged)."""
        if isinstance(channel, str):
            channel = channel.encode("utf-8", "surrogateescape")
        if isinstance(message, str):
            message = message.encode("utf-8", "surrogateescape")
        receivers = int(await self.client.redis.publish(channel, message))
        self.client.audit("publish", [key_text(channel)], 1)
        return receivers


def tail_matches(patterns: Iterable[str], channel: str) -> bool:
    """Would a tail on these patterns receive a message on `channel`?"""
    return any(glob_match(p, channel) for p in patterns)
