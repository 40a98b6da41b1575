"""Celery, dramatiq, huey and taskiq as teams run them: each state's count from
`status --json` against the library's own count, on data its own producer and worker made
(the published Celery priority setup, ETA tasks, event receivers; dramatiq's namespace,
producers' heartbeats and results; huey's errors and its naive schedule times under a US
time zone; taskiq's schedule source).
"""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from helpers import REDUCED, wait_until
from test_libraries import counts, generic_keys, library_queues, status

needs_lua = pytest.mark.skipif(REDUCED, reason="the library needs Lua (reduced server)")
TESTS = Path(__file__).parent


def status_env(url: str, env: dict[str, str], *args: str) -> dict:
    import json

    out = subprocess.run([sys.executable, "-m", "ferrite_tui", "status", url, "--json", *args],
                         capture_output=True, text=True, timeout=120, env={**os.environ, **env})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


# -- huey ---------------------------------------------------------------------------------

@pytest.fixture
def new_york(monkeypatch):
    """This process (huey's producer) and the console run at UTC-5 / UTC-4."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def due_in_ms(q: dict, label: str) -> float:
    state = next(s for s in q["states"] if s["label"] == label)
    return state["next_at_ms"] - time.time() * 1000


def test_huey_schedule_times_under_a_us_time_zone(redis_url, new_york, tmp_path):
    """huey (utc=True) scores its schedule with mktime of a naive UTC time: a job due in
    2 minutes read as plain seconds showed as due in 302."""
    from huey import RedisHuey

    import libjobs

    huey = RedisHuey("ny", url=redis_url)
    huey.task()(libjobs.ok).schedule((1,), delay=120)
    huey.execute(huey.dequeue())  # the consumer's step: not due, so into the schedule
    q = library_queues(status(redis_url), "huey")["ny"]
    assert counts(q)["schedule"] == huey.scheduled_count() == 1
    assert 100_000 < due_in_ms(q, "schedule") < 130_000
    assert not any("overdue" in a for a in q["alerts"])

    # The console in UTC, told huey's hosts' time zone.
    config = tmp_path / "c.toml"
    config.write_text('[libraries]\nhuey_timezone = "America/New_York"\n')
    q = library_queues(status_env(redis_url, {"TZ": "UTC"}, "--config", str(config)),
                       "huey")["ny"]
    assert 100_000 < due_in_ms(q, "schedule") < 130_000

    # huey(utc=False): local naive times, plain unix seconds; said in the config.
    local = RedisHuey("local", url=redis_url, utc=False)
    local.task()(libjobs.ok).schedule((1,), delay=600)
    local.execute(local.dequeue())
    config.write_text("[libraries]\nhuey_utc = false\n")
    q = library_queues(status_env(redis_url, {}, "--config", str(config)), "huey")["local"]
    assert 580_000 < due_in_ms(q, "schedule") < 630_000


# -- dramatiq -------------------------------------------------------------------------------

WORKER = """
import sys, time
sys.path.insert(0, {tests!r})
import dramatiq
from dramatiq.brokers.redis import RedisBroker
import libjobs
broker = RedisBroker(url={url!r}, namespace={ns!r})
dramatiq.set_broker(broker)
dramatiq.actor(libjobs.hold, queue_name="held", broker=broker, actor_name="hold")
worker = dramatiq.Worker(broker, worker_timeout=50, worker_threads=1, queues={{"held"}})
worker.start()
time.sleep(120)
"""


def run_all(broker, conn, ns: str) -> None:
    """dramatiq's own worker (with the broker's result backend) runs what is queued."""
    import dramatiq

    worker = dramatiq.Worker(broker, worker_timeout=50, worker_threads=1)
    worker.start()
    try:
        wait_until(lambda: conn.llen(f"{ns}:mail") == 0 and not any(
            conn.scan_iter(f"{ns}:__acks__.*")), timeout=60,
            message="dramatiq's worker did not run the jobs")
    finally:
        worker.stop()


@needs_lua
@pytest.mark.libraries
def test_dramatiq_namespace_workers_and_results(redis_url, tmp_path):
    """A namespace of its own, a producer's heartbeat, a worker killed while it holds a
    message, and results with prefixed keys and in another db."""
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker
    from dramatiq.results import Results
    from dramatiq.results.backends import RedisBackend

    import libjobs

    ns = "shop"
    conn = redis.Redis.from_url(redis_url)
    other_db = redis_url.rstrip("/") + "/3" if redis_url.count("/") == 2 else \
        redis_url.rsplit("/", 1)[0] + "/3"
    broker = RedisBroker(url=redis_url, namespace=ns)
    broker.add_middleware(Results(backend=RedisBackend(url=redis_url,
                                                       use_namespace_prefix_keys=True)))
    hashed = RedisBroker(url=redis_url, namespace=ns)
    hashed.add_middleware(Results(backend=RedisBackend(url=other_db)))
    ok = dramatiq.actor(libjobs.ok, queue_name="mail", broker=broker, actor_name="ok",
                        store_results=True)
    hashed_ok = dramatiq.actor(libjobs.ok, queue_name="mail", broker=hashed, actor_name="ok",
                               store_results=True)
    for n in range(3):
        ok.send(n)
    run_all(broker, conn, ns)
    hashed_ok.send(9)
    run_all(hashed, conn, ns)
    ok.send(4)
    ok.send(5)
    # Results under "dramatiq-results:mail:ok:<id>" here, and md5 keys in db 3.
    assert any(conn.scan_iter("dramatiq-results:mail:ok:*"))
    other = redis.Redis.from_url(other_db)
    assert other.dbsize() >= 1
    # A producer beat (each enqueue dispatches), silent for two minutes: not a worker.
    for member in conn.zrange(f"{ns}:__heartbeats__", 0, -1):
        conn.zadd(f"{ns}:__heartbeats__", {member: int(time.time() * 1000) - 120_000})

    # A worker of its own process takes a message and is killed holding it.
    flag = tmp_path / "hold"
    flag.touch()
    sender = RedisBroker(url=redis_url, namespace=ns)  # (no worker of this process on it)
    held = dramatiq.actor(libjobs.hold, queue_name="held", broker=sender, actor_name="hold")
    held.send(str(flag))
    proc = subprocess.Popen([sys.executable, "-c", WORKER.format(
        tests=str(TESTS), url=redis_url, ns=ns)], stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: conn.llen(f"{ns}:held") == 0 and any(
            conn.scan_iter(f"{ns}:__acks__.*.held")), timeout=60,
            message="the worker did not take the message")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        flag.unlink()
    (acks_key,) = [k.decode() for k in conn.scan_iter(f"{ns}:__acks__.*.held")]
    worker_id = acks_key[len(f"{ns}:__acks__."):].split(".", 1)[0]
    conn.zadd(f"{ns}:__heartbeats__", {worker_id: int(time.time() * 1000) - 120_000})

    data = status(redis_url)
    queues = library_queues(data, "dramatiq")
    assert set(queues) == {"mail", "held"}
    mail, held_q = queues["mail"], queues["held"]
    # dramatiq's own counts: its queue's messages, and what the dead worker holds.
    assert mail["depth"] == conn.llen(f"{ns}:mail") == 2
    assert counts(held_q)["acks"] == conn.scard(acks_key) == 1
    assert held_q["totals"]["in_progress"] == 1
    assert "1 dead worker" in held_q["alerts"]
    assert not any("dead worker" in a for a in mail["alerts"])
    assert not any(k.startswith((f"{ns}:", "dramatiq-results:")) for k in generic_keys(data))
    other_data = status(other_db)
    assert generic_keys(other_data) == set()
    assert [k.decode() for k in other.scan_iter()] and not other_data["queues"]
    other.close()
    conn.close()
    for b in (broker, hashed, sender):
        b.close()


# -- taskiq ---------------------------------------------------------------------------------

async def test_taskiq_schedule_source_is_its_schedule(redis_url):
    """ListRedisScheduleSource's per-minute, cron and interval lists are taskiq's
    schedule (scheduled), not work queues."""
    from taskiq import ScheduledTask
    from taskiq_redis import ListRedisScheduleSource

    source = ListRedisScheduleSource(redis_url)
    await source.startup()
    now = datetime.datetime.now(datetime.UTC)
    at = (now + datetime.timedelta(minutes=30)).replace(second=0, microsecond=0)
    for n in range(3):
        await source.add_schedule(ScheduledTask(task_name="ok", labels={}, args=[n],
                                                kwargs={}, schedule_id=f"t{n}", time=at))
    await source.add_schedule(ScheduledTask(task_name="ok", labels={}, args=[], kwargs={},
                                            schedule_id="c1", cron="*/5 * * * *"))
    own = await source.get_schedules()  # its own read: what is due this minute and cron
    await source.shutdown()
    data = status(redis_url)
    q = library_queues(data, "taskiq")["schedule"]
    c = counts(q)
    label = f"at {at.strftime('%Y-%m-%dT%H:%M')} UTC"
    assert c == {"cron": 1, label: 3}
    assert q["totals"] == {"scheduled": 4}
    assert [s.schedule_id for s in own] == ["c1"]
    timed = next(s for s in q["states"] if s["label"] == label)
    assert timed["next_at_ms"] == int(at.timestamp() * 1000)
    assert not any(k.startswith("schedule:") for k in generic_keys(data))


# -- Celery ---------------------------------------------------------------------------------

CELERY_APP = """
from celery import Celery
import libjobs
app = Celery("own", broker={url!r})
app.conf.broker_transport_options = {{"sep": ":", "priority_steps": list(range(10)),
                                     "queue_order_strategy": "priority"}}
app.conf.worker_prefetch_multiplier = 1
app.conf.task_acks_late = False  # (the default, said)
add = app.task(name="jobs.add")(libjobs.add)
hold = app.task(name="jobs.hold")(libjobs.hold)
"""


@needs_lua  # kombu's Redis transport restores unacked messages with a Lua script
@pytest.mark.libraries
def test_celery_published_priority_setup_eta_and_events(redis_url, tmp_path):
    """The published priority setup (sep ':'), a worker holding one task and three ETA
    tasks, more queued at three priorities: one Celery queue; reserved, ETA (scheduled)
    and queued as Celery's own inspect and kombu's own size say; its event receivers'
    queues hidden."""
    (tmp_path / "ownapp.py").write_text(CELERY_APP.format(url=redis_url))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(TESTS)])}
    sys.path[:0] = [str(tmp_path)]
    try:
        import ownapp
    finally:
        sys.path.remove(str(tmp_path))
    app = ownapp.app
    flag = tmp_path / "hold"
    flag.touch()
    ownapp.hold.apply_async((str(flag),))
    for n in range(3):
        ownapp.add.apply_async((n, n), countdown=3600)
    conn = redis.Redis.from_url(redis_url)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "ownapp", "worker", "-P", "threads", "-c", "1",
         "--loglevel=WARNING", "-n", "own@%h"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # The held task runs (acked as it starts: Celery's default), the ETA ones wait.
        wait_until(lambda: conn.hlen("unacked") == 3 and conn.llen("celery") == 0,
                   timeout=90, message="the Celery worker did not take its tasks")
        for priority in (0, 3, 3, 9, 9):
            ownapp.add.apply_async((1, priority), priority=priority)
        # It prefetches one more (its one slot is free once the running task is acked).
        wait_until(lambda: conn.hlen("unacked") == 4, timeout=60,
                   message="the Celery worker did not prefetch a task")
        inspect = app.control.inspect(timeout=5)
        reserved = inspect.reserved() or {}
        scheduled = inspect.scheduled() or {}
        active = inspect.active() or {}
        with app.connection_for_write() as c:
            own_size = c.default_channel._size("celery")
        data = status(redis_url)
    finally:
        flag.unlink()
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
    queues = library_queues(data, "celery")
    assert set(queues) == {"celery"}, sorted(queues)
    q = queues["celery"]
    c = counts(q)
    held = sum(len(v) for v in reserved.values())
    etas = sum(len(v) for v in scheduled.values())
    assert sum(len(v) for v in active.values()) == 1  # acked when it started: not unacked
    assert (q["depth"], c["reserved"], c["eta"]) == (own_size, held, etas) == (4, 1, 3)
    assert sum(n or 0 for label, n in c.items() if label.startswith(("queued", "priority"))) == 4
    assert {"priority 3", "priority 9"} <= set(c)
    assert q["totals"]["in_progress"] == 1 and q["totals"]["scheduled"] == 3
    eta = next(s for s in q["states"] if s["label"] == "eta")
    assert 3_400_000 < eta["next_at_ms"] - time.time() * 1000 < 3_700_000
    assert not any("unacked" in a or "overdue" in a for a in q["alerts"])
    # Every key of the layout is Celery's: the sublists, the event receivers' queues.
    assert not generic_keys(data), generic_keys(data)
    conn.close()


async def test_celery_eta_state_reads_celerys_own_unacked_entries(redis_url):
    """kombu's own consumer takes an ETA message and a plain one (both unacked): one is
    scheduled with its ETA, the other reserved, each on its own queue only."""
    from kombu import Connection, Exchange, Queue

    conn = Connection(redis_url)
    exchange = Exchange("celery", type="direct")
    eta = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=10)).isoformat()
    with conn.Producer() as producer:
        for name, headers in (("a", {"eta": eta, "task": "t"}), ("b", {"task": "t"})):
            queue = Queue(name, exchange, routing_key=name)
            producer.publish({"n": name}, exchange=exchange, routing_key=name,
                             declare=[queue], headers=headers)
    taken = [conn.SimpleQueue(Queue(n, exchange, routing_key=n)).get(timeout=10)
             for n in ("a", "b")]
    data = status(redis_url)
    queues = library_queues(data, "celery")
    a, b = counts(queues["a"]), counts(queues["b"])
    assert (a["eta"], a["reserved"], b["eta"], b["reserved"]) == (1, 0, 0, 1)
    assert 500_000 < due_in_ms(queues["a"], "eta") < 700_000
    for message in taken:
        message.ack()
    conn.release()


def test_huey_timezone_must_name_a_time_zone(tmp_path):
    from ferrite_tui.config import ConfigError, load

    path = tmp_path / "c.toml"
    path.write_text('[libraries]\nhuey_timezone = "Mars/Olympus"\n')
    with pytest.raises(ConfigError) as err:
        load(path)
    assert str(err.value) == (f"{path}:2: [libraries] huey_timezone 'Mars/Olympus' is not a "
                              'time zone name (e.g. "America/New_York")')


@needs_lua
def test_dramatiq_namespace_from_its_messages_once_the_beats_are_gone(redis_url):
    """dramatiq's maintenance removes a process's heartbeat once it is silent and holds
    nothing: the namespace is then read from the message hashes."""
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    import libjobs

    broker = RedisBroker(url=redis_url, namespace="billing")
    ok = dramatiq.actor(libjobs.ok, queue_name="invoices", broker=broker, actor_name="ok")
    for n in range(3):
        ok.send(n)
    ok.send_with_options(args=(9,), delay=3_600_000)
    conn = redis.Redis.from_url(redis_url)
    conn.zrem("billing:__heartbeats__", broker.broker_id)  # as its maintenance does
    assert not conn.exists("billing:__heartbeats__")
    data = status(redis_url)
    q = library_queues(data, "dramatiq")["invoices"]
    c = counts(q)
    assert (q["depth"], c["delayed"]) == (conn.llen("billing:invoices"),
                                          conn.llen("billing:invoices.DQ")) == (3, 1)
    assert not generic_keys(data)
    conn.close()
    broker.close()


@needs_lua  # Celery's event Receiver binds its queue with EVALSHA
def test_celery_event_receivers_queues_are_not_queues(redis_url):
    """A worker's gossip or a monitor (Celery's own event Receiver) binds a queue
    `celeryev.<uuid>` to the `celeryev` exchange, one per start (a killed worker's stays):
    not a work queue."""
    from celery import Celery

    import libjobs

    app = Celery("ev", broker=redis_url)
    app.task(name="jobs.add")(libjobs.add).delay(1, 2)
    r = redis.Redis.from_url(redis_url)
    with app.connection_for_read() as conn:
        receiver = app.events.Receiver(conn, handlers={})
        receiver.queue(conn.default_channel).declare()  # as its consumer declares it
        (binding,) = r.smembers("_kombu.binding.celeryev")
        assert binding.decode().endswith("\x06\x16" + receiver.queue.name)
        data = status(redis_url)
    r.close()
    assert set(library_queues(data, "celery")) == {"celery"}
    assert not generic_keys(data), generic_keys(data)
