"""The Streams panel's table columns: names are fitted whole (identifying columns are the
last to go), the rest by priority."""

from __future__ import annotations

from ferrite_tui.ui.widgets.table import Column

GROUP_COLUMNS = [
    Column("name", "group", 8, fit=True),
    Column("consumers", "cons", 4, priority=2, justify="right"),
    Column("pending", "pend", 6, justify="right"),
    Column("lag", "lag", 6, justify="right"),
    Column("ldid", "last delivered", 16, priority=3),
    Column("read", "read", 7, priority=4, justify="right"),
    Column("oldest", "oldest idle", 8, priority=1, justify="right"),
    Column("alert", "alert", 10, priority=2, grow=True),
]
CONSUMER_COLUMNS = [
    Column("name", "consumer", 8, fit=True),
    Column("pending", "pend", 5, justify="right"),
    Column("idle", "idle", 6, priority=1, justify="right"),
    Column("inactive", "inactive", 8, priority=2, justify="right"),
    Column("dead", "dead?", 5, priority=1),
]
PENDING_COLUMNS = [
    Column("mark", "", 2),
    Column("id", "id", 16),
    Column("consumer", "consumer", 8, fit=True),
    Column("idle", "idle", 6, justify="right"),
    Column("deliveries", "deliv", 5, justify="right"),
    Column("age", "age", 6, priority=2, justify="right"),
    Column("preview", "data", 26),
]
BROWSER_COLUMNS = [
    Column("id", "id", 16),
    Column("age", "age", 6, justify="right"),
    Column("nfields", "fields", 6, priority=2, justify="right"),
    Column("preview", "data", 46),
]
