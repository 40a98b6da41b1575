"""Bounded metric history and rates from measured elapsed time."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Sample:
    t: float  # monotonic seconds
    value: float


class Series:
    """A ring buffer of samples covering at most `window_s` seconds."""

    def __init__(self, window_s: float, max_points: int = 2000) -> None:
        self.window_s = window_s
        self.samples: deque[Sample] = deque(maxlen=max_points)

    def add(self, t: float, value: float) -> None:
        self.samples.append(Sample(t, value))
        while self.samples and t - self.samples[0].t > self.window_s:
            self.samples.popleft()

    def values(self) -> list[float]:
        return [s.value for s in self.samples]

    def last(self) -> Sample | None:
        return self.samples[-1] if self.samples else None

    def rate(self, span_s: float = 10.0) -> float | None:
        """Average change per second over about the last `span_s` seconds."""
        if len(self.samples) < 2:
            return None
        newest = self.samples[-1]
        oldest = newest
        for sample in reversed(self.samples):
            oldest = sample
            if newest.t - sample.t >= span_s:
                break
        elapsed = newest.t - oldest.t
        if elapsed <= 0:
            return None
        return (newest.value - oldest.value) / elapsed


class History:
    """Named series, created on first use. Keys are (queue ident, metric)."""

    def __init__(self, window_s: float = 600.0) -> None:
        self.window_s = window_s
        self._series: dict[tuple[str, str], Series] = {}

    def series(self, name: str, metric: str) -> Series:
        key = (name, metric)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = Series(self.window_s)
        return series

    def get(self, name: str, metric: str) -> Series | None:
        return self._series.get((name, metric))

    def forget(self, keep: set[str]) -> None:
        """Drop series of names no longer polled, so memory stays bounded."""
        for key in [k for k in self._series if k[0] not in keep and not k[0].startswith("@")]:
            del self._series[key]

    def reset(self) -> None:
        """Start every series again (the server restarted or was flushed)."""
        self._series.clear()
