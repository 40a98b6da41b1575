"""Snapshot tests of the main screens with frozen data and a frozen clock (tests/frozen.py)."""

from frozen import feed, frozen_app


def test_overview_snapshot(snap_compare):
    assert snap_compare(frozen_app(), terminal_size=(120, 30), run_before=feed)


def test_overview_narrow_snapshot(snap_compare):
    assert snap_compare(frozen_app(), terminal_size=(80, 24), run_before=feed)


async def open_streams(pilot) -> None:
    await feed(pilot)
    await pilot.press("5")
    await pilot.pause()


def test_streams_snapshot(snap_compare):
    """The Streams panel's ages come from the app's clock, so a frozen clock freezes them."""
    assert snap_compare(frozen_app(), terminal_size=(120, 30), run_before=open_streams)
