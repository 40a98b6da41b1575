"""The Queues panel's columns: the queue table, a list's items, a processing list's."""

from __future__ import annotations

from ferrite_tui.ui.widgets.table import Column


def queue_columns() -> list[Column]:
    return [
        Column("kind", "kind", 9, priority=2),
        Column("key", "key", 30),
        Column("depth", "depth", 8, justify="right"),
        Column("processing", "processing", 10, priority=1, justify="right"),
        Column("in", "in/s", 7, priority=1, justify="right"),
        Column("out", "out/s", 7, priority=1, justify="right"),
        Column("trend", "trend", 12, priority=3),
        Column("oldest", "oldest", 7, priority=2, justify="right"),
        Column("alerts", "alerts", 20),
    ]


def item_columns() -> list[Column]:
    return [
        Column("mark", "", 1),
        Column("pos", "#", 7, justify="right"),
        Column("id", "id", 14, priority=1),
        Column("age", "age", 7, justify="right"),
        Column("preview", "payload", 30),
    ]


def proc_columns() -> list[Column]:
    return [
        Column("mark", "", 1),
        Column("pos", "#", 5, justify="right"),
        Column("id", "id", 12, priority=1),
        Column("age", "age", 7, justify="right"),
        Column("stale", "", 5),
        Column("preview", "payload", 20, priority=2),
    ]
