"""RQ's own SimpleWorker for the tests, without its command channel.

RQ's worker subscribes to a pub/sub channel for stop commands in a thread that reads with a
60 s timeout; on its way out the worker closes that connection, which waits for the read:
every burst run ended up to a minute late (a library test took 122 s, and under load its
timing checks failed). Jobs run exactly as RQ runs them; only the command channel is off."""

from __future__ import annotations

from rq.worker import SimpleWorker


class QuietWorker(SimpleWorker):
    def subscribe(self) -> None:
        pass

    def unsubscribe(self) -> None:
        pass
