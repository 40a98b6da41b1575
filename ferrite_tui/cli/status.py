"""`ferrite-tui status`: one discovery and one poll, printed as a table or as JSON. Every
figure is the console's own (the Monitor's poll); the table's wording is the Overview's
(presentation.py)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from ferrite_tui import formatting as fmt
from ferrite_tui.backend import crossslot
from ferrite_tui.backend.connection import ConnectionSettings, describe_error
from ferrite_tui.backend.crossslot import InFlight
from ferrite_tui.backend.errors import BackendError
from ferrite_tui.backend.libraries.model import state_totals
from ferrite_tui.backend.libraries.strings import capped_note, capped_states
from ferrite_tui.backend.models import TOTALS, AlertNote, ClusterView, QueueStats, Snapshot
from ferrite_tui.backend.monitor import Monitor
from ferrite_tui.backend.servertime import SHOWN_OFFSET_MS, offset_text
from ferrite_tui.commandline import fail, resolve_settings
from ferrite_tui.config import DEFAULT_URL, Config
from ferrite_tui.escaping import json_safe, printable
from ferrite_tui.presentation import (
    left_out_text,
    notifications_text,
    secondary,
    states_text,
    where_from,
)


def status_command(cfg: Config, args) -> int:
    # status only reads: its probe sends read commands only, whatever --read-only says.
    cfg = cfg.noted("status (it never changes anything)", "read_only")
    settings = resolve_settings(cfg, args.url, args.profile, read_only=True,
                                askpass=args.askpass)
    if settings is None:
        settings = resolve_settings(cfg, DEFAULT_URL, None, read_only=True,
                                    askpass=args.askpass)
    if settings is None:
        return fail("no server to connect to: give a URL or --profile")
    try:
        snap, caps, inflight = asyncio.run(
            _one_poll(cfg, settings, tuple(args.match or ()) or None, args.over))
    except BackendError as exc:
        return fail(str(exc))
    if args.json:
        # Control characters, bidi overrides and binary key names (str with
        # surrogateescape) as \uXXXX escapes: nothing raw on a terminal, valid UTF-8, and
        # json.loads gives the same str back.
        report = status_json(snap, caps, settings, inflight)
        report["config"] = where_from(cfg, settings, tuple(args.match or ()) or None)
        print(json_safe(json.dumps(report, indent=2, ensure_ascii=False)))
    else:
        print(status_table(snap, caps, settings, inflight))
    return 0


async def _one_poll(cfg: Config, settings: ConnectionSettings, match, over: float | None = None):
    monitor = Monitor(settings, cfg, match=match)
    try:
        await monitor.connect()
        await monitor.discover()
        snap = await monitor.poll()
        if over:
            # Rates need two polls: a few in between keep lists followed move by move.
            deadline = asyncio.get_running_loop().time() + over
            while (left := deadline - asyncio.get_running_loop().time()) > 0:
                await asyncio.sleep(min(left, cfg.refresh))
                snap = await monitor.poll()
        alerting = [q.ref for q in snap.queues if q.alerts]
        if alerting and cfg.trend_minutes > 0:
            # Rebuild the hour of the alerting queues only, so each alert can say since
            # when it holds; the second poll annotates with it (and measures rates).
            await monitor.backfill(alerting)
            snap = await monitor.poll()
        inflight = None
        if monitor.client.cluster is not None:
            # Chunks a console left between hash slots (the Server panel's "in flight").
            inflight = await crossslot.inflight(monitor.client)
        return snap, monitor.capabilities, inflight
    except BackendError:
        raise
    except Exception as exc:
        raise BackendError(describe_error(exc, settings)) from exc
    finally:
        await monitor.aclose()


def alert_json(note: AlertNote) -> dict:
    since = note.since
    return {
        "alert": note.alert,
        "since": (datetime.fromtimestamp(since, UTC).isoformat(timespec="seconds")
                  if since is not None else None),
        "since_from": note.since_from,
        "since_before_window": note.before_window,
        "next": f"{note.panel_key}, then {note.action}",
        **({"group": note.group} if note.group is not None else {}),
    }


def queue_json(q: QueueStats, notes: tuple[AlertNote, ...] = (),
               cluster: ClusterView | None = None) -> dict:
    ref = q.ref
    out: dict = {
        "kind": ref.kind.value,
        "key": ref.key,
        # The primary holding the queue's key, as the Overview's node column (null off a
        # cluster; "?" while its slot is not served).
        "node": (cluster.node_of(ref.key) or "?") if cluster is not None else None,
        "keys": {k: v for k, v in (("main", ref.key), ("processing", ref.processing_key),
                                   ("ready", ref.ready_key), ("target", ref.target_key))
                 if v is not None},
        # Why this kind (found by what the keys hold, see backend/evidence.py); null for
        # the guide's layouts found by name, the libraries' and declared queues.
        "evidence": ref.evidence,
        "depth": q.depth,
        "oldest_ms": q.oldest_ms,
        "oldest_sampled": q.oldest_sampled,
        "in_rate": _round(q.in_rate),
        "out_rate": _round(q.out_rate),
        "in_lower_bound": q.in_lower,
        "out_lower_bound": q.out_lower,
        "net_rate": _round(q.net_rate),
        "rate_note": q.rate_note,
        "alerts": list(q.alerts),
        "alert_details": [alert_json(n) for n in notes if n.ident == ref.ident],
        "error": q.error,
    }
    if ref.library is not None:
        out.update(library_json(q))
    if q.producer_end or q.consumer_end:
        out["producer_end"] = q.producer_end
        out["consumer_end"] = q.consumer_end
    if q.stale is not None:
        out["stale"] = q.stale
        out["stale_lower_bound"] = q.stale_lower
    if q.processing is not None:
        out["processing"] = q.processing
    if q.ready is not None:
        out["ready"] = q.ready
    if ref.score_unit is not None:
        out["score_unit"] = ref.score_unit
    if q.capped:
        out["capped"] = True
    if ref.last_seen is not None:  # remembered, not found now (see backend/remembered.py)
        out["last_seen"] = datetime.fromtimestamp(ref.last_seen, UTC).isoformat(
            timespec="seconds")
    if q.overdue is not None:
        out["overdue"] = q.overdue
    if ref.kind.value == "stream":
        out["pending"] = q.pending
        out["idle_pending"] = q.idle_pending
        out["last_id"] = q.last_id
        out["groups"] = [
            {"name": g.name, "consumers": g.consumers, "pending": g.pending,
             "last_delivered_id": g.last_delivered_id, "lag": g.lag,
             "entries_read": g.entries_read, "read_rate": _round(g.read_rate),
             "idle_count": g.idle_count, "oldest_idle_ms": g.oldest_idle_ms,
             "scan_complete": g.scan_complete,
             "holders": [{"name": c.name, "pending": c.pending,
                          "oldest_idle_ms": c.oldest_idle_ms,
                          "newest_idle_ms": c.newest_idle_ms, "dead": c.dead}
                         for c in g.holders],
             "dead_consumers": list(g.dead_consumers), "alerts": list(g.alerts)}
            for g in q.groups
        ]
    return out


def library_json(q: QueueStats) -> dict:
    """A library queue's name and every state's count ("?" as null), key by key."""
    lib = q.ref.library
    assert lib is not None
    # What each state's scores are times of (due, at, expires...): how to read its times.
    means = {(s.key, s.name): s.means.value for s in lib.states if s.means is not None}
    # A count over only the strings read is a lower bound, and says so.
    capped = capped_states(lib)
    at_least = {"at_least": True, "note": capped_note(lib)}
    return {
        "library": lib.library,
        "name": lib.name,
        "read_only": lib.read_only,
        "actions": [a.action for a in lib.actions],
        "states": [{"state": c.state.value, "label": c.label, "key": c.key, "count": c.size,
                    **({"next_at_ms": c.next_at_ms} if c.next_at_ms is not None else {}),
                    **({"past": c.past} if c.past is not None else {}),
                    **({"shared": True} if c.shared else {}),
                    **({"means": means[c.key, c.label]} if (c.key, c.label) in means else {}),
                    **(at_least if (c.key, c.label) in capped else {})}
                   for c in q.states],
        "totals": {state.value: n for state, n in state_totals(q.states).items()},
        "totals_at_least": sorted({c.state.value for c in q.states
                                   if (c.key, c.label) in capped}),
    }


def _round(rate: float | None) -> float | None:
    return None if rate is None else round(rate, 3)


def cluster_json(view: ClusterView, inflight: InFlight | None) -> dict:
    """The cluster as the Server panel shows it (the same ClusterView), for scripts."""
    staging = [] if inflight is None else [
        {"stage": staged.stage, "node": view.node_of(staged.stage) or "?",
         "target": staged.dst, "target_node": view.node_of(staged.dst) or "?",
         "items": length, "delivered": marked}
        for staged, length, marked in inflight.chunks]
    return {
        "state": view.state,
        **view.counts(),
        "failover": view.failover,
        "nodes": [{"id": n.node_id, "address": n.address, "role": n.role,
                   "primary_id": n.primary_id,
                   "slots": [[lo, hi] for lo, hi in n.slot_ranges()],
                   "slot_count": n.slot_count, "link": n.link, "flags": list(n.flags),
                   "state": n.state, "used_memory": n.used_memory,
                   "ops_per_sec": _round(n.ops_per_sec), "repl_offset": n.repl_offset,
                   "error": n.error}
                  for n in view.nodes],
        "sharded_channels": None if view.shard_channels is None else [
            {"name": name, "subscribers": subs, "node": node}
            for name, subs, node in view.shard_channels],
        # Moves between hash slots left half-way (items staged, not yet delivered: "in
        # flight"; a delivered chunk only waits to be cleaned). null: not looked at.
        "in_flight_items": None if inflight is None else inflight.items,
        "staging": None if inflight is None else staging,
        "events": [{"time": datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds"),
                    "event": text} for when, text in view.events],
    }


def status_json(snap: Snapshot, caps, settings: ConnectionSettings,
                inflight: InFlight | None = None) -> dict:
    return {
        "server": {"url": settings.display_url, "kind": caps.server_kind,
                   "version": caps.version,
                   "capabilities": {name: ok for name, ok in caps.as_rows()},
                   # null: the server's INFO has no replication section (Ferrite).
                   "role": snap.server.replication.role,
                   "replication": snap.server.replication.as_json(),
                   # Every due, overdue and age figure is computed on the server's clock.
                   "time_ms": snap.server_time_ms,
                   "clock_offset_ms": snap.clock_offset_ms},
        # null on one server.
        "cluster": cluster_json(snap.cluster, inflight) if snap.cluster is not None else None,
        "queues": [queue_json(q, snap.alert_notes, snap.cluster) for q in snap.queues],
        "channels": [{"name": c.name, "subscribers": c.subscribers} for c in snap.channels],
        "round_trips": snap.round_trips,
        "left_out": snap.left_out,
        "access_note": snap.access_note,
        # Probed commands the probe could not tell about (ACL): not used, not "missing".
        "capabilities_unknown": list(caps.unknown),
        "max_queues": snap.max_queues,
        "totals": snap.totals(),
        **({"notifications": snap.notifications} if snap.notifications is not None else {}),
    }


def status_table(snap: Snapshot, caps, settings: ConnectionSettings,
                 inflight: InFlight | None = None) -> str:
    lines = [f"{settings.display_url}  {caps.server_kind} {caps.version}  "
             f"{len(snap.queues)} queues"]
    totals = snap.totals()
    lines.append(" · ".join(f"{fmt.count(totals[k])} {label}" for k, label in TOTALS.items()))
    if snap.left_out:
        lines.append(left_out_text(snap))
    if snap.access_note:
        lines.append(printable(snap.access_note, 300) + " (outside its key patterns)")
    if snap.cluster is not None:
        view = snap.cluster
        line = f"cluster {view.state} · {view.summary()}"
        if inflight is not None and inflight.items:
            line += f" · {inflight.items} item(s) in flight between hash slots"
        if view.failover:
            line += " · " + view.failover
        lines.append(printable(line, 300))
    if snap.notifications is not None:
        lines.append(notifications_text(snap.notifications))
    rep = snap.server.replication
    if rep.is_replica:
        lines.append(printable(f"replica of {rep.primary or '?'}: {rep.lag_text()}", 300))
    if snap.clock_offset_ms is not None and abs(snap.clock_offset_ms) > SHOWN_OFFSET_MS:
        lines.append(f"{offset_text(snap.clock_offset_ms)}: times are the server's")
    rows = [("KIND", "KEY", "DEPTH", "IN/S", "OUT/S", "OLDEST", "DETAIL", "ALERTS")]
    for q in sorted(snap.queues, key=lambda q: (-q.severity, -q.depth, q.ref.key)):
        lib = q.ref.library
        rows.append((q.ref.kind.label if lib is None else lib.library,
                     printable(q.ref.key, 48), fmt.count(q.depth),
                     fmt.flow(q.in_rate, q.in_lower), fmt.flow(q.out_rate, q.out_lower),
                     fmt.duration(q.oldest_ms), secondary(q) if lib is None else states_text(q),
                     printable(q.error, 60) if q.error else ", ".join(q.alerts) or "ok"))
    # Every cell escaped (names are already): no cell can break its line or the terminal.
    cells = [[printable(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    for r in cells:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    # The header quotes the server (its version, a notifications error): escaped too.
    return "\n".join(printable(line) for line in lines)
