"""Short human forms of numbers, shared by the UI and the status command."""

from __future__ import annotations

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"


def duration(ms: float | None) -> str:
    """4m10s, 2h03m, 3d04h; '-' when unknown."""
    if ms is None:
        return "-"
    s = int(ms // 1000)
    if s < 60:
        return f"{s}s" if s or ms >= 1000 else f"{int(ms)}ms"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h}h{m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d{h:02d}h"


def age(ms: float | None) -> str:
    """An age on a screen that redraws every poll: '42s' under a minute, then whole minutes
    ('4m', not '4m10s'), '2h03m', '3d04h'. Past the first minute the text changes once a
    minute, not every second (each change is bytes on an SSH link); a floor, like every
    unit it shows. Inspectors and dialogs keep `duration`'s seconds."""
    if ms is None or ms < 60_000:
        return duration(ms)
    m = int(ms // 60_000)
    return f"{m}m" if m < 60 else duration(ms)


def count(n: int | None) -> str:
    if n is None:
        return "-"
    if abs(n) < 100_000:
        return f"{n:,}"
    if abs(n) < 10_000_000:
        return f"{n / 1000:.0f}k"
    return f"{n / 1_000_000:.1f}M"


def rate(r: float | None) -> str:
    if r is None:
        return "n/a"
    if abs(r) < 0.05:
        return "0"
    if abs(r) < 10:
        return f"{r:.1f}"
    return f"{r:,.0f}"


def flow(r: float | None, lower: bool = False) -> str:
    """An in/out figure: exact, "≥" a lower bound, or "?" when unknown (never a bare 0)."""
    if r is None or (lower and abs(r) < 0.05):
        return "?"
    return ("≥" if lower else "") + rate(r)


def signed_rate(r: float | None) -> str:
    if r is None:
        return "n/a"
    return ("+" if r > 0.05 else "") + rate(r)


def size(n: int | None) -> str:
    if n is None:
        return "n/a"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def sparkline(values: list[float], width: int = 12) -> str:
    """Unicode blocks for the last `width` values, scaled to their own range."""
    if not values:
        return ""
    values = values[-width:]
    lo, hi = min(values), max(values)
    if hi == lo:
        return SPARK_BLOCKS[0 if hi == 0 else 3] * len(values)
    span = hi - lo
    return "".join(SPARK_BLOCKS[min(int((v - lo) / span * 7.999), 7)] for v in values)
