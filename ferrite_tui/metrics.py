"""The exporter's metric families and how one queue's figures become samples.

Every family is declared here with its type, help and label names; `queue_samples` and
`alert_samples` turn the snapshot's figures (the console's own) into (metric, labels, value)
samples. A figure the console does not know (None) gives no sample, never 0. Server text in
label values passes through `printable`.
"""

from __future__ import annotations

from ferrite_tui.backend.libraries.model import state_totals
from ferrite_tui.backend.models import AlertNote, QueueKind, QueueStats
from ferrite_tui.escaping import printable

MAX_CONSUMERS = 10  # per group: the consumers holding most entries (dead ones first)
LABEL_LIMIT = 200  # characters of a server string in a label value

QUEUE_LABELS = ("queue", "kind", "library", "node")
GROUP_LABELS = (*QUEUE_LABELS, "group")
ALERT_LABELS = ("alert", "queue", "kind", "group", "panel")

# name: (type, help, label names). Every family is declared on every scrape (samples only
# where the figure is known), so a dashboard's names can be checked against the output.
METRICS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # -- the exporter and its poll
    "ferrite_exporter_build_info": ("gauge", "Exporter version (value 1).", ("version",)),
    "ferrite_up": ("gauge", "1 when the last poll succeeded within three refresh intervals.",
                   ()),
    "ferrite_server_info": ("gauge", "The server polled (value 1).",
                            ("server_kind", "version")),
    "ferrite_polls": ("counter", "Polls attempted by the exporter's poller.", ()),
    "ferrite_poll_errors": ("counter", "Polls that failed (connection or reply errors).", ()),
    "ferrite_connect_errors": ("counter", "Connects and reconnects that failed.", ()),
    "ferrite_poll_duration_seconds": ("gauge", "Duration of the last successful poll.", ()),
    "ferrite_poll_round_trips": ("gauge", "Round trips to the server of the last poll.", ()),
    "ferrite_last_poll_timestamp_seconds": ("gauge", "When the last successful poll ended "
                                            "(the exporter's clock).", ()),
    "ferrite_server_clock_offset_seconds": ("gauge", "The server's clock minus the "
                                            "exporter's: every due, overdue, age and since "
                                            "figure is on the server's clock, as in the "
                                            "console.", ()),
    "ferrite_queues": ("gauge", "Queues polled.", ()),
    "ferrite_queues_left_out": ("gauge", "Queues found but not polled ([discovery] "
                                "max_queues).", ()),
    "ferrite_exporter_series_limit": ("gauge", "The --max-series limit on per-queue series.",
                                      ()),
    "ferrite_exporter_series_dropped": ("gauge", "Per-queue series left out of this scrape "
                                        "by the --max-series limit.", ()),
    "ferrite_exporter_queues_dropped": ("gauge", "Queues left out of this scrape (wholly or "
                                        "in part) by the --max-series limit.", ()),
    "ferrite_items": ("gauge", "Items over all queues by what they are (status --json "
                      "totals).", ("category",)),
    # -- every queue
    "ferrite_queue_depth": ("gauge", "The queue's depth as the console shows it.",
                            QUEUE_LABELS),
    "ferrite_queue_items": ("gauge", "Items per state (pending, in_progress, scheduled, "
                            "failed, done).", (*QUEUE_LABELS, "state")),
    "ferrite_queue_in_per_second": ("gauge", "Items in per second; exact=\"false\": a lower "
                                    "bound.", (*QUEUE_LABELS, "exact")),
    "ferrite_queue_out_per_second": ("gauge", "Items out per second; exact=\"false\": a "
                                     "lower bound.", (*QUEUE_LABELS, "exact")),
    "ferrite_queue_net_per_second": ("gauge", "Depth change per second.", QUEUE_LABELS),
    "ferrite_queue_oldest_age_seconds": ("gauge", "Age of the oldest item; exact=\"false\": "
                                         "from a bounded sample.", (*QUEUE_LABELS, "exact")),
    "ferrite_queue_processing_items": ("gauge", "Items taken by a worker, not finished "
                                       "(processing list).", QUEUE_LABELS),
    "ferrite_queue_stale_processing_items": ("gauge", "Processing items older than the "
                                             "visibility timeout; exact=\"false\": a lower "
                                             "bound.", (*QUEUE_LABELS, "exact")),
    "ferrite_queue_ready_items": ("gauge", "Delayed queue: items in its ready list.",
                                  QUEUE_LABELS),
    "ferrite_queue_overdue_items": ("gauge", "Delayed queue: scheduled items already due.",
                                    QUEUE_LABELS),
    "ferrite_queue_next_due_timestamp_seconds": ("gauge", "Due time of a state's earliest "
                                                 "item (library scheduled states).",
                                                 (*QUEUE_LABELS, "state")),
    "ferrite_queue_poll_error": ("gauge", "1 when the last poll could not read the queue.",
                                 QUEUE_LABELS),
    # -- dead letters
    "ferrite_dead_letters": ("gauge", "Items in a dead-letter queue.", QUEUE_LABELS),
    "ferrite_dead_letters_growth_per_second": ("gauge", "Dead letters added per second "
                                               "(net).", QUEUE_LABELS),
    # -- streams
    "ferrite_stream_length": ("gauge", "Entries in the stream (XLEN).", QUEUE_LABELS),
    "ferrite_stream_pending_entries": ("gauge", "Entries delivered, not acknowledged.",
                                       GROUP_LABELS),
    "ferrite_stream_lag_entries": ("gauge", "Entries not yet delivered to the group "
                                   "(absent where the server does not report lag).",
                                   GROUP_LABELS),
    "ferrite_stream_consumers": ("gauge", "Consumers of the group.", GROUP_LABELS),
    "ferrite_stream_idle_pending_entries": ("gauge", "Pending entries idle past the alert "
                                            "threshold; exact=\"false\": a lower bound.",
                                            (*GROUP_LABELS, "exact")),
    "ferrite_stream_oldest_idle_seconds": ("gauge", "Idle time of the longest-idle pending "
                                           "entry.", GROUP_LABELS),
    "ferrite_stream_dead_consumers": ("gauge", "Consumers holding entries none of which "
                                      "moved for the dead-consumer threshold.", GROUP_LABELS),
    "ferrite_stream_read_per_second": ("gauge", "Entries delivered to the group per second.",
                                       GROUP_LABELS),
    "ferrite_stream_consumer_pending_entries": ("gauge", "Entries a consumer holds (the "
                                                f"{MAX_CONSUMERS} holding most per group).",
                                                (*GROUP_LABELS, "consumer")),
    "ferrite_stream_consumer_idle_seconds": ("gauge", "Since a consumer last touched an "
                                             "entry it holds.", (*GROUP_LABELS, "consumer")),
    # -- alerts
    "ferrite_alert_active": ("gauge", "1 for each alert the console shows.", ALERT_LABELS),
    "ferrite_alert_since_timestamp_seconds": ("gauge", "Since when the alert's condition "
                                              "holds.", ALERT_LABELS),
}

# Alert labels: the console's wording without its figures, as a stable name.
ALERT_NAMES = (
    ("dead_letters_growing", lambda a: a == "growing"),
    ("failed_growing", lambda a: a == "failed growing"),
    ("overdue_growing", lambda a: a.startswith("overdue growing")),
    ("dead_consumers", lambda a: "dead consumer" in a),
    ("dead_letters", lambda a: a.endswith(" dead")),
    ("failed", lambda a: a.endswith(" failed")),
    ("overdue", lambda a: a.endswith(" overdue")),
    ("old_jobs", lambda a: a == "old jobs"),
    ("stale_processing", lambda a: a.endswith("stale processing")),
    ("depth", lambda a: a.startswith("depth ≥")),
    ("idle_pending", lambda a: "idle pending" in a or "idle ≥" in a),
    ("stream_pending", lambda a: a.endswith(" pending")),
    ("stream_lag", lambda a: a.startswith("lag ")),
    ("poison", lambda a: "poison" in a),
)


def alert_name(alert: str) -> str:
    """A stable label for one of the console's alerts ('123 dead' -> dead_letters)."""
    for name, matches in ALERT_NAMES:
        if matches(alert):
            return name
    words = "".join(c if c.isalnum() else "_" for c in alert.lower() if not c.isdigit())
    return "_".join(w for w in words.split("_") if w)[:60] or "other"


def label(value: str | bytes) -> str:
    return printable(value, LABEL_LIMIT)


def _exact(lower: bool) -> str:
    return "false" if lower else "true"


Sample = tuple[str, tuple[str, ...], float]


def queue_samples(q: QueueStats, node: str) -> list[Sample]:
    """Every per-queue series of one queue, as (metric, label values, value)."""
    ref = q.ref
    base = (label(ref.key), ref.kind.value,
            ref.library.library if ref.library is not None else "", node)
    out: list[Sample] = [("ferrite_queue_depth", base, q.depth)]

    def add(name: str, value: float | None, *extra: str) -> None:
        if value is not None:  # unknown stays absent, never 0
            out.append((name, (*base, *extra), value))

    if ref.library is not None:
        for state, n in state_totals(q.states).items():
            add("ferrite_queue_items", n, state.value)
        next_due: dict[str, int] = {}
        for c in q.states:
            if c.next_at_ms is not None:
                due = next_due.get(c.state.value)
                next_due[c.state.value] = c.next_at_ms if due is None else min(due, c.next_at_ms)
        for state_name, due_ms in next_due.items():
            add("ferrite_queue_next_due_timestamp_seconds", due_ms / 1000, state_name)
    else:
        for state_name, n in seed_states(q):
            add("ferrite_queue_items", n, state_name)
    add("ferrite_queue_in_per_second", q.in_rate, _exact(q.in_lower))
    add("ferrite_queue_out_per_second", q.out_rate, _exact(q.out_lower))
    add("ferrite_queue_net_per_second", q.net_rate)
    add("ferrite_queue_oldest_age_seconds",
        None if q.oldest_ms is None else q.oldest_ms / 1000, _exact(q.oldest_sampled))
    add("ferrite_queue_processing_items", q.processing)
    add("ferrite_queue_stale_processing_items", q.stale, _exact(q.stale_lower))
    add("ferrite_queue_ready_items", q.ready)
    add("ferrite_queue_overdue_items", q.overdue)
    if q.error:
        add("ferrite_queue_poll_error", 1)
    if ref.kind is QueueKind.DLQ:
        add("ferrite_dead_letters", q.depth)
        add("ferrite_dead_letters_growth_per_second", q.net_rate)
    if ref.kind is QueueKind.STREAM:
        add("ferrite_stream_length", q.depth)
        for g in q.groups:
            name = label(g.name)
            add("ferrite_stream_pending_entries", g.pending, name)
            add("ferrite_stream_lag_entries", g.lag, name)
            add("ferrite_stream_consumers", g.consumers, name)
            add("ferrite_stream_idle_pending_entries", g.idle_count, name,
                _exact(not g.scan_complete))
            add("ferrite_stream_oldest_idle_seconds",
                None if g.oldest_idle_ms is None else g.oldest_idle_ms / 1000, name)
            add("ferrite_stream_dead_consumers", len(g.dead_consumers), name)
            add("ferrite_stream_read_per_second", g.read_rate, name)
            holders = sorted(g.holders, key=lambda c: (not c.dead, -c.pending, c.name))
            for holder in holders[:MAX_CONSUMERS]:
                consumer = label(holder.name)
                add("ferrite_stream_consumer_pending_entries", holder.pending, name, consumer)
                add("ferrite_stream_consumer_idle_seconds",
                    None if holder.newest_idle_ms is None else holder.newest_idle_ms / 1000,
                    name, consumer)
    return out


def seed_states(q: QueueStats) -> list[tuple[str, int | None]]:
    """A seed layout's items per state, in the library model's state names."""
    kind = q.ref.kind
    if kind in (QueueKind.WORK, QueueKind.PRIORITY):
        return [("pending", q.depth)]
    if kind is QueueKind.RELIABLE:
        return [("pending", q.depth), ("in_progress", q.processing)]
    if kind is QueueKind.DELAYED:
        return [("scheduled", q.depth), ("pending", q.ready)]
    if kind is QueueKind.DLQ:
        return [("failed", q.depth)]
    return [("in_progress", q.pending)]  # a stream: delivered, not acknowledged


def alert_samples(note: AlertNote, kind: str) -> list[Sample]:
    labels = (alert_name(note.alert), label(note.key), kind,
              label(note.group) if note.group is not None else "", note.panel_key)
    out: list[Sample] = [("ferrite_alert_active", labels, 1)]
    if note.since is not None:
        out.append(("ferrite_alert_since_timestamp_seconds", labels, note.since))
    return out
