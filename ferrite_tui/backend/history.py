"""Bounded metric history and rates from measured elapsed time."""

from __future__ import annotations

from collections import deque

# (monotonic seconds, value). A plain tuple of floats, not a class: the garbage collector
# stops tracking such tuples, and a poll of thousands of queues adds thousands of samples.
Sample = tuple[float, float]


class Series:
    """A ring buffer of samples covering at most `window_s` seconds."""

    def __init__(self, window_s: float, max_points: int = 2000) -> None:
        self.window_s = window_s
        self.samples: deque[Sample] = deque(maxlen=max_points)
        # Where the last rate started (an index into samples): the next rate starts
        # there or later, so a poll of thousands of series does not search each again.
        self._rate_from = 0

    def add(self, t: float, value: float) -> None:
        samples = self.samples
        if len(samples) == samples.maxlen:
            self._rate_from -= 1  # the oldest is dropped by the append
        samples.append((t, value))
        while t - samples[0][0] > self.window_s:
            samples.popleft()
            self._rate_from -= 1

    def values(self, last: int | None = None) -> list[float]:
        """Every value, oldest first, or only the `last` few (without copying the rest)."""
        samples = self.samples
        if last is None:
            return [v for _, v in samples]
        # By index from the end: a deque reaches its last few items directly.
        return [samples[i][1] for i in range(-min(last, len(samples)), 0)]

    def last(self) -> Sample | None:
        return self.samples[-1] if self.samples else None

    def rate(self, span_s: float = 10.0) -> float | None:
        """Average change per second over about the last `span_s` seconds."""
        if len(self.samples) < 2:
            return None
        samples = self.samples
        newest_t, newest_v = samples[-1]
        # The newest sample at least span_s older than the newest (else the oldest).
        last = len(samples) - 1
        lo = self._rate_from
        if newest_t - samples[0][0] < span_s:  # none that old yet: from the oldest
            lo = 0
        elif 0 <= lo < last and newest_t - samples[lo][0] >= span_s:
            # From where the last rate started (samples only come later): a step or two.
            while lo < last and newest_t - samples[lo + 1][0] >= span_s:
                lo += 1
        else:  # by halving, as samples are in time order (hundreds may be in a span)
            lo, hi = 0, last
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if newest_t - samples[mid][0] >= span_s:
                    lo = mid
                else:
                    hi = mid - 1
        self._rate_from = lo
        oldest_t, oldest_v = samples[lo]
        elapsed = newest_t - oldest_t
        if elapsed <= 0:
            return None
        return (newest_v - oldest_v) / elapsed


class Flow:
    """A running count of moves (arrivals, departures) and its rate over elapsed time.

    Each poll adds the moves it saw since the last one, marked exact or lower bound (some
    moves could not be seen). A rate is a lower bound while a lower-bound interval is inside
    its span. A poll that could not measure at all (None) restarts the count, so a rate
    never spans a gap it knows nothing about. Only the samples of one span are kept, so a
    rate costs the same whatever the poll interval.
    """

    def __init__(self, span_s: float) -> None:
        self.span_s = span_s
        self.total = 0
        self._samples: deque[Sample] = deque()  # the span, plus the last sample before it
        self._lower: deque[float] = deque()  # ends of lower-bound intervals in the span

    def add(self, t: float, moved: int | None, exact: bool = True,
            since: float | None = None) -> None:
        samples = self._samples
        if moved is None:
            samples.clear()
            self._lower.clear()
            return
        if not samples and since is not None and since < t:
            samples.append((since, self.total))  # the moves cover the time since then
        self.total += moved
        samples.append((t, self.total))
        if not exact:
            self._lower.append(t)
        # Keep the latest sample at least a span old as the start, drop what is older.
        while len(samples) > 2 and t - samples[1][0] >= self.span_s:
            samples.popleft()
        lower = self._lower
        while lower and lower[0] <= samples[0][0]:
            lower.popleft()

    def rate(self) -> tuple[float | None, bool]:
        """(moves per second, exact?) over about the last span."""
        samples = self._samples
        if len(samples) < 2:
            return None, True
        (oldest_t, oldest_v), (newest_t, newest_v) = samples[0], samples[-1]
        elapsed = newest_t - oldest_t
        if elapsed <= 0:
            return None, True
        return (newest_v - oldest_v) / elapsed, not self._lower


class QueueSeries:
    """The depth series and in/out flows every queue has, fetched once: the poll records
    them for every queue at every poll (three lookups by (ident, metric) each time)."""

    __slots__ = ("depth", "flow_in", "flow_out")

    def __init__(self, depth: Series, flow_in: Flow, flow_out: Flow) -> None:
        self.depth, self.flow_in, self.flow_out = depth, flow_in, flow_out


class History:
    """Named series, created on first use. Keys are (queue ident, metric)."""

    def __init__(self, window_s: float = 600.0, flow_span_s: float = 10.0) -> None:
        self.window_s = window_s
        self.flow_span_s = flow_span_s
        self._series: dict[tuple[str, str], Series] = {}
        self._flows: dict[tuple[str, str], Flow] = {}
        # The same objects as series(name, "depth"), flow(name, "in"), flow(name, "out"),
        # by name: dropped whenever those are.
        self._queues: dict[str, QueueSeries] = {}

    def series(self, name: str, metric: str) -> Series:
        key = (name, metric)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = Series(self.window_s)
        return series

    def queue(self, name: str) -> QueueSeries:
        """A queue's depth series and in/out flows (created on first use)."""
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = QueueSeries(
                self.series(name, "depth"), self.flow(name, "in"), self.flow(name, "out"))
        return queue

    def get(self, name: str, metric: str) -> Series | None:
        return self._series.get((name, metric))

    def flow(self, name: str, metric: str) -> Flow:
        key = (name, metric)
        flow = self._flows.get(key)
        if flow is None:
            flow = self._flows[key] = Flow(self.flow_span_s)
        return flow

    def forget(self, keep: set[str]) -> None:
        """Drop series of names no longer polled, so memory stays bounded."""
        for store in (self._series, self._flows):
            for key in [k for k in store if k[0] not in keep and not k[0].startswith("@")]:
                del store[key]
        for name in [n for n in self._queues if n not in keep and not n.startswith("@")]:
            del self._queues[name]

    def forget_name(self, name: str) -> None:
        """Start one name's series again (its queue moved to another node, or was not read)."""
        for store in (self._series, self._flows):
            for key in [k for k in store if k[0] == name]:
                del store[key]
        self._queues.pop(name, None)

    def reset(self) -> None:
        """Start every series again (the server restarted or was flushed)."""
        self._series.clear()
        self._flows.clear()
        self._queues.clear()
