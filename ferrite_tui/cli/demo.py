"""`ferrite-tui demo`: the console on a private server (or a local cluster) with the
guide's layouts as live traffic."""

from __future__ import annotations

from dataclasses import replace

from ferrite_tui.backend.connection import ConnectionSettings
from ferrite_tui.cli.console import run_console
from ferrite_tui.commandline import fail
from ferrite_tui.config import Config
from ferrite_tui.demo.cluster import LocalCluster, cluster_support
from ferrite_tui.demo.server import RedisServer, ServerNotFound, find_server_binary, port_is_free
from ferrite_tui.demo.traffic import DemoTraffic, demo_config


def demo_command(cfg: Config, args) -> int:
    binary = find_server_binary(args.server)
    if binary is None:
        return fail(str(ServerNotFound()))
    if getattr(args, "cluster", False):
        return demo_cluster(cfg, args, binary)
    if args.port_base is not None:
        return fail("demo: --port-base is for --cluster (one server takes --port)")
    if args.port is not None and not port_is_free(args.port):
        return fail(f"demo: port {args.port} is in use on 127.0.0.1 (choose another --port)")
    server = RedisServer(binary, port=args.port)
    try:
        try:
            server.start()
        except (RuntimeError, OSError) as exc:
            return fail(f"demo server did not start: {str(exc).splitlines()[0]}")
        traffic = DemoTraffic(server.url, live=not args.no_workload)
        try:
            traffic.start()
        except Exception as exc:
            return fail(f"demo data could not be written: {exc}")
        cfg = demo_config(cfg)
        settings = ConnectionSettings(url=server.url, read_only=args.read_only, profile="demo")
        try:
            return run_console(cfg, settings, args)
        finally:
            traffic.stop()
    finally:
        server.stop()


def demo_cluster(cfg: Config, args, binary: str) -> int:
    """`demo --cluster`: three primaries on loopback from the same binary, the usual
    workload (some queues hash-tagged into one slot, some spread over two)."""
    reason = cluster_support(binary)
    if reason is not None:
        return fail(f"demo --cluster: {reason} (give --server with a Redis 6+ binary)")
    if args.port is not None:
        return fail("demo --cluster: give --port-base (the nodes take consecutive ports)")
    cluster = LocalCluster(binary, primaries=3, replicas=getattr(args, "replicas", 0),
                           port_base=args.port_base)
    try:
        try:
            cluster.start()
        except (RuntimeError, OSError) as exc:
            return fail(f"demo cluster did not start: {str(exc).splitlines()[0]}")
        traffic = DemoTraffic(cluster.url, live=not args.no_workload, cluster=True)
        try:
            traffic.start()
        except Exception as exc:
            return fail(f"demo data could not be written: {exc}")
        cfg = replace(cfg, discovery=replace(cfg.discovery, rescan_seconds=10.0))
        settings = ConnectionSettings(url=cluster.url, read_only=args.read_only,
                                      profile="demo", cluster=True)
        try:
            return run_console(cfg, settings, args)
        finally:
            traffic.stop()
    finally:
        cluster.stop()
