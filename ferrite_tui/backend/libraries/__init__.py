"""The layouts of the popular queue libraries, in one queue model (see `model`).

Each library module has `keeps(name, type)` (which non-queue keys discovery must keep as
signatures: `rq:queues`, `_kombu.binding.*`, `bull:Q:meta`, ...) and
`recognise(types, members) -> Recognised`. Recognisers run before the generic
classification and claim every key of their layout, so results, events and job bodies never
show as queues; keys no recogniser claims are classified as the seed's patterns.
"""

from __future__ import annotations

import inspect
from dataclasses import replace
from zoneinfo import ZoneInfo

from ferrite_tui.backend.libraries import (
    arq,
    bullmq,
    celery,
    dramatiq,
    huey,
    model,
    rq,
    saq,
    taskiq,
)
from ferrite_tui.backend.libraries.model import LibraryQueue, Recognised
from ferrite_tui.config import LibrariesConfig

RECOGNISERS = (rq, celery, dramatiq, bullmq, arq, huey, saq, taskiq)
_TAKE_OPTIONS = frozenset(m for m in RECOGNISERS
                          if "options" in inspect.signature(m.recognise).parameters)
LIBRARIES = tuple(m.LIBRARY for m in RECOGNISERS)


_KEEP_PREFIXES = tuple(p for m in RECOGNISERS for p in m.KEEP_PREFIXES)
# A library whose prefix is an option (RQ_KEY_PREFIX) keeps its signature by suffix.
_KEEP_SUFFIXES = tuple(p for m in RECOGNISERS for p in getattr(m, "KEEP_SUFFIXES", ()))
_KEEPERS = tuple(m.keeps for m in RECOGNISERS
                 if m.KEEP_PREFIXES or getattr(m, "KEEP_SUFFIXES", ()))
#: Keepers for keys under a prefix the keys reveal only later (dramatiq's namespace).
_KEEPERS_ANYWHERE = tuple(m.keeps_anywhere for m in RECOGNISERS
                          if hasattr(m, "keeps_anywhere"))


def keeps(name: str, type_: str) -> bool:
    """Whether discovery keeps a key that is not itself a queue (a set or hash signature).
    Discovery asks this of every set and hash (job bodies among them): most fail the
    prefix (and suffix) pre-check."""
    return ((name.startswith(_KEEP_PREFIXES) or name.endswith(_KEEP_SUFFIXES))
            and any(k(name, type_) for k in _KEEPERS)) \
        or any(k(name, type_) for k in _KEEPERS_ANYWHERE)


def recognise(types: dict[str, str], members: dict[str, list[str]] | None = None,
              options: object = None) -> tuple[list[LibraryQueue], set[str]]:
    """Every library queue in `types` ({key: type}) and the keys they claim.

    `members` holds the members of the signature sets discovery read (`rq:queues`,
    `_kombu.binding.*`). Each library's keys live under its own prefix or names, so the
    recognisers never compete for a key.
    """
    members = members or {}
    queues: list[LibraryQueue] = []
    claimed: set[str] = set()
    for module in RECOGNISERS:
        # `options` ([libraries]) reaches the recognisers that take it (their prefixes,
        # queue names: where the keys do not reveal them).
        found = module.recognise(types, members, options) if module in _TAKE_OPTIONS \
            else module.recognise(types, members)
        queues.extend(found.queues)
        claimed |= found.claimed
    return queues, claimed


def by_top_member(key: str, top: str, types: dict[str, str]) -> LibraryQueue | None:
    """A sorted set no recogniser claimed by name, recognised by its top member's body
    (arq's queues named otherwise)."""
    if not types.get(arq.JOB_PREFIX + top):  # the one library known this way, so far
        return None
    return arq.by_top_member(key, top, types)


#: A "strings" state's reading of one value (body encoding -> is it in the state?).
STRING_MATCHERS = {"saq-job": saq.failed_job, "arq-result": arq.failed_result}

def apply_settings(queues: list[LibraryQueue], settings: LibrariesConfig,
                   ) -> list[LibraryQueue]:
    """The queues as the config's [libraries] settings read them (options the keys do not
    reveal): huey's utc option and time zone."""
    model.NAIVE_ZONE = ZoneInfo(settings.huey_timezone) if settings.huey_timezone else None
    if settings.huey_utc:
        return queues
    return [replace(q, states=tuple(huey.local_time(s) for s in q.states))
            if q.library == huey.LIBRARY else q for q in queues]


__all__ = ["LIBRARIES", "LibraryQueue", "Recognised", "apply_settings", "keeps",
           "recognise"]
