"""Find the queues: SCAN (never KEYS) and classify keys into the seed's layouts.

Cost: one SCAN and one pipelined TYPE per batch of `scan_count` keys, plus, for lists and
sorted sets not judged before, one pipeline of a few sample reads per batch (evidence.py).
Only keys that can be queues are kept in memory, so a keyspace of a million unrelated keys
costs time in the background, not memory.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

from ferrite_tui.backend import evidence as evidence_of
from ferrite_tui.backend import libraries
from ferrite_tui.backend.client import Client
from ferrite_tui.backend.envelopes import is_job_envelope, key_text
from ferrite_tui.backend.errors import is_noperm
from ferrite_tui.backend.evidence import Evidence
from ferrite_tui.backend.kinds import REGISTRY
from ferrite_tui.backend.kinds.base import Candidates
from ferrite_tui.backend.libraries import declared
from ferrite_tui.backend.models import DiscoveryProgress, QueueKind, QueueRef, library_ref
from ferrite_tui.backend.probe import PROBE_KEY
from ferrite_tui.backend.remembered import Remembered
from ferrite_tui.config import Config, DiscoveryConfig, QueueDecl

#: The console's own keys (cross-slot staging, see crossslot): never shown as queues.
INTERNAL_PREFIX = "ferrite-tui:"
_QUEUE_TYPES = {"list", "zset", "stream"}
#: Keys one `notice` types and classifies (the rest wait for the next rescan).
NOTICE_MAX = 1000


def classify(types: dict[str, str], priority_zsets: set[str], cfg: DiscoveryConfig,
             decls: Iterable[QueueDecl] = (),
             evidence: Mapping[str, Evidence] | None = None) -> list[QueueRef]:
    """Turn {key: type} into queues. Pure: the tests drive it directly too.

    Declared queues first; then each kind of the registry, in its order, takes the keys of
    its layout (see kinds/). `priority_zsets` are the sorted sets whose top member is a
    job envelope; other sorted sets are left out unless declared or judged by `evidence`
    (see evidence.py), which also makes lists dead letters and carries each judgement's
    text onto its queue.
    """
    decls = list(decls)
    claimed: set[str] = set()  # keys that belong to a declared queue
    refs: dict[str, QueueRef] = {}
    for d in decls:
        if d.kind == "ignore":
            claimed.add(d.key)
            continue
        ref = REGISTRY.layout(QueueKind(d.kind)).declare(d, cfg)
        refs[ref.ident] = ref
        claimed.update(ref.keys)

    def of_type(type_: str) -> set[str]:
        return {k for k, t in types.items() if t == type_ and k not in claimed}

    found = Candidates(types, priority_zsets, cfg, {d.key for d in decls}, claimed,
                       of_type("list"), of_type("zset"), of_type("stream"), refs,
                       evidence=evidence or {})
    for layout in REGISTRY.kinds:
        layout.recognise(found)
    return sorted(found.refs.values(), key=lambda r: (r.kind.value, r.key))


# Which queues are kept first when there are more than max_queues: layouts recognised by
# their companion keys or envelopes, then plain lists, then streams (a busy job library
# keeps thousands of result streams, which must not hide the work queues).
# (Each kind's `rank` in its layout.)


class Discovery:
    """Runs SCAN passes and remembers what it found.

    A queue whose keys vanish (Redis deletes empty lists) stays listed, as empty, until its
    keys have been absent for one full rescan, so a queue drained to zero shows depth 0
    instead of disappearing, and a deleted one goes away in time.

    More candidates than `max_queues`: declared queues, queues the last poll found alerting
    (`keep_first`), then known layouts are kept; `left_out` says how many were not.
    """

    def __init__(self, client: Client, config: Config, match: tuple[str, ...] | None = None):
        self.client = client
        self.config = config
        self.match = match or config.discovery.match
        self.refs: list[QueueRef] = []
        self.scanned = 0
        self.left_out = 0
        # Keys SCAN returned that this ACL user may not read (outside its key patterns):
        # counted and said, never dropped silently.
        self.unreadable = 0
        self.keep_first: set[str] = set()  # idents to keep first (alerting, streams in use)
        self._absent: set[str] = set()  # idents not found by the last pass
        # Idents the last poll saw moving: a list drained as fast as it fills is mostly
        # absent (Redis deletes empty lists) but stays listed while it has traffic.
        self.in_use: set[str] = set()
        self._evidence: dict[tuple[str, str], Evidence] = {}  # (key, type) -> judgement
        self.remembered: Remembered | None = None  # queues seen before (console only)
        self._types: dict[str, str] = {}  # the last pass's keys that can be queues, typed
        self.busy = False  # a pass is running (`notice` waits for it to end)

    def _ignored(self, key: str) -> bool:
        return key == PROBE_KEY or key.startswith(INTERNAL_PREFIX) or any(
            fnmatch.fnmatchcase(key, pat) for pat in self.config.discovery.ignore
        )

    async def run(
        self, progress: Callable[[DiscoveryProgress], None] | None = None,
    ) -> list[QueueRef]:
        self.busy = True
        try:
            return await self._run(progress)
        finally:
            self.busy = False

    async def _run(self, progress: Callable[[DiscoveryProgress], None] | None,
                   ) -> list[QueueRef]:
        cfg = self.config.discovery
        types: dict[str, str] = {}
        scanned = 0
        unreadable = 0
        seen: set[bytes] = set() if len(self.match) > 1 else None  # type: ignore[assignment]
        for pattern in self.match:
            cursor = b"0"
            while True:
                (reply,) = await self.client.raw_pipeline(
                    [("SCAN", cursor, "MATCH", pattern, "COUNT", cfg.scan_count)])
                if isinstance(reply, Exception):
                    raise reply
                cursor, batch = reply
                if seen is not None:
                    batch = [k for k in batch if k not in seen]
                    seen.update(batch)
                if batch:
                    scanned += len(batch)
                    unreadable += await self._types_of(batch, types)
                if progress:
                    progress(DiscoveryProgress(scanned=scanned, found=len(types), done=False))
                if cursor in (b"0", 0):
                    break
        self._types = dict(types)
        self.scanned = scanned
        self.unreadable = unreadable
        return await self._settle(types, progress)

    async def notice(self, keys: Iterable[str]) -> list[QueueRef]:
        """Keys just created (from keyspace notifications): typed and classified with what
        the last pass found, without a rescan (at most NOTICE_MAX keys per call)."""
        known = {k for ref in self.refs for k in ref.keys} | set(self._types)
        new = [k for k in dict.fromkeys(keys) if k not in known][:NOTICE_MAX]
        if not new:
            return self.refs
        types = dict(self._types)
        await self._types_of([k.encode("utf-8", "surrogateescape") for k in new], types)
        if len(types) == len(self._types):
            return self.refs  # gone again, or not a queue's type
        self._types = dict(types)
        return await self._settle(types, None, full=False)

    async def _types_of(self, batch: list[bytes], types: dict[str, str]) -> int:
        """TYPE for a batch (one pipeline); the keys that can be queues (or a library's
        signature sets) go into `types`. Returns how many this user may not read."""
        unreadable = 0
        kinds = await self.client.raw_pipeline([("TYPE", key) for key in batch])
        for key, kind in zip(batch, kinds):
            if isinstance(kind, Exception) and is_noperm(kind):
                unreadable += 1
                continue
            if isinstance(kind, bytes):
                kind = kind.decode()
            if kind in _QUEUE_TYPES:
                name = key_text(key)
                if not self._ignored(name):
                    types[name] = kind
            elif kind in ("set", "hash", "string"):  # a library's signature
                name = key_text(key)
                if REGISTRY.keeps(name, kind) and not self._ignored(name):
                    types[name] = kind
        return unreadable

    async def _settle(self, types: dict[str, str],
                      progress: Callable[[DiscoveryProgress], None] | None,
                      full: bool = True) -> list[QueueRef]:
        """Classify what a pass found and merge it with what was listed before (`full`:
        after a whole SCAN, which alone may drop a queue absent since the last one)."""
        cfg = self.config.discovery
        decls, model_refs = self._declarations(types)
        scanned_types = types  # with the signatures (job strings) recognisers read
        library_refs, types = await self._recognise(types, decls)
        if model_refs:
            model_keys = {k for ref in model_refs for k in ref.keys}
            types = {k: t for k, t in types.items() if k not in model_keys}
            library_refs += model_refs
        candidates = [k for k, t in types.items()
                      if t == "zset" and not k.endswith(cfg.scheduled_suffix)]
        enveloped: set[str] = set()  # the top member is one of the guide's job envelopes
        by_member: list[QueueRef] = []
        for start in range(0, len(candidates), cfg.scan_count):
            chunk = candidates[start:start + cfg.scan_count]
            tops = await self.client.raw_pipeline([("ZREVRANGE", key, 0, 0) for key in chunk])
            for key, top in zip(chunk, tops):
                if not isinstance(top, list) or not top:
                    continue
                # A library queue known by its member's body (arq's queue_name=...).
                lib = libraries.by_top_member(key, key_text(top[0]), scanned_types)
                if lib is not None:
                    by_member.append(library_ref(lib))
                elif is_job_envelope(top[0]):
                    enveloped.add(key)
        if by_member:
            library_refs += by_member
            types = {k: t for k, t in types.items()
                     if k not in {ref.key for ref in by_member}}
        evidence = await self._judge({k: t for k, t in types.items()
                                      if k not in {d.key for d in decls}})
        priority = {k for k, ev in evidence.items() if ev.kind is QueueKind.PRIORITY}
        # A set of job envelopes is a priority queue unless its scores are due times.
        priority |= {k for k in enveloped if k not in evidence
                     or evidence[k].kind is not QueueKind.DELAYED}

        # A priority queue seen before keeps its kind while it is momentarily empty.
        for ref in self.refs:
            if ref.kind is QueueKind.PRIORITY and ref.key not in types:
                priority.add(ref.key)
        found = classify(types, priority, cfg, decls, evidence) + library_refs
        owners = _owners(found)
        found_idents = {ref.ident for ref in found}
        merged: dict[str, QueueRef] = {}
        absent: set[str] = set()
        for ref in self.refs:
            if ref.ident in found_idents or _superseded(ref, owners) \
                    or (full and ref.ident in self._absent and ref.ident not in self.in_use):
                continue  # found again, changed kind, or gone (and quiet) for a full rescan
            merged[ref.ident] = ref
            absent.add(ref.ident)
        merged.update({ref.ident: ref for ref in found})
        now_s = self.client.server_clock.now_s()
        if self.remembered is not None:
            # Seen before on this server, absent now (a busy queue is mostly empty):
            # listed, marked with when it was last seen.
            for ref in self.remembered.refs(now_s):
                if ref.ident not in merged and not _superseded(ref, owners) \
                        and not self._ignored(ref.key):
                    merged[ref.ident] = ref
        ranked = sorted(merged.values(), key=lambda r: (
            not r.declared, r.ident not in self.keep_first, REGISTRY.layout(r.kind).rank, r.key))
        kept = ranked[: cfg.max_queues]
        self.left_out = len(ranked) - len(kept)
        self._absent = (absent if full else self._absent) & {ref.ident for ref in kept}
        self.refs = sorted(kept, key=lambda r: (r.kind.value, r.key))
        if self.remembered is not None:
            self.remembered.record(found, now_s)
        if progress:
            progress(DiscoveryProgress(scanned=self.scanned, found=len(self.refs), done=True))
        return self.refs


    async def _judge(self, types: dict[str, str]) -> dict[str, Evidence]:
        """Evidence for every list and sorted set not judged before: a few members of
        each, in one pipeline per `scan_count` keys (see evidence.py); kept per key while
        the key is there, so a rescan samples only the keys that are new."""
        cfg = self.config.discovery
        skip = (cfg.processing_suffix, cfg.ready_suffix, cfg.dlq_suffix)
        todo = [(k, t) for k, t in types.items()
                if (t == "zset" or (t == "list" and not k.endswith(skip)))
                and (k, t) not in self._evidence]
        now_ms = self.client.server_now_ms()
        for start in range(0, len(todo), cfg.scan_count):
            chunk = todo[start:start + cfg.scan_count]
            commands: list[tuple] = []
            for key, kind in chunk:
                commands += evidence_of.sample_commands(key, kind, now_ms)
            replies = iter(await self.client.raw_pipeline(commands))
            for key, kind in chunk:
                n = 1 if kind == "list" else 4
                got = [next(replies) for _ in range(n)]
                if any(isinstance(r, Exception) for r in got):
                    continue  # unreadable now: the guide's names only; sampled again next pass
                self._evidence[(key, kind)] = evidence_of.judge(key, kind, got, now_ms)
        self._evidence = {kt: ev for kt, ev in self._evidence.items()
                          if types.get(kt[0]) == kt[1]}
        return {k: ev for (k, t), ev in self._evidence.items() if types.get(k) == t}

    def _declarations(self, types: dict[str, str]) -> tuple[list[QueueDecl], list[QueueRef]]:
        """This profile's [[queues]], templates and globs expanded against the keys found:
        (the seed-kind declarations, the queues declared with state-model fields)."""
        scoped = declared.in_scope(self.config.queues, self.client.settings.profile)
        decls = declared.expand(scoped, types)
        model = [d for d in decls if d.kind != "ignore" and declared.uses_model(d)]
        refs = [library_ref(declared.queue(d, types)) for d in model]
        return [d for d in decls if d not in model], refs

    async def _recognise(self, types: dict[str, str], decls: list[QueueDecl],
                         ) -> tuple[list[QueueRef], dict[str, str]]:
        """Queue libraries first: their queues, and the queue-typed keys nobody claimed.
        One pipelined SMEMBERS reads the signature sets that name queues (small sets)."""
        sets = [k for k, t in types.items() if t == "set"]
        members: dict[str, list[str]] = {}
        if sets:
            replies = await self.client.raw_pipeline([("SMEMBERS", k) for k in sets])
            members = {k: [key_text(m) for m in reply] for k, reply in zip(sets, replies)
                       if isinstance(reply, list)}
        queues, claimed = REGISTRY.recognise_libraries(types, members,
                                                       self.config.libraries)
        vt = self.config.libraries.celery_visibility_timeout  # only Celery's queues have one
        queues = [replace(q, visibility_timeout_s=vt) if q.visibility_timeout_s else q
                  for q in queues]
        queues = libraries.apply_settings(queues, self.config.libraries)
        keys = {d.key for d in decls}
        if keys:  # a declaration wins over a guess
            queues = [q for q in queues if keys.isdisjoint(q.keys)]
        refs = [library_ref(q) for q in queues]
        rest = {k: t for k, t in types.items() if t in _QUEUE_TYPES and k not in claimed}
        return refs, rest


def _owners(found: list[QueueRef]) -> dict[str, set[str]]:
    """key -> idents of the found queues made of it (one pass, not one per old queue)."""
    owners: dict[str, set[str]] = {}
    for ref in found:
        for key in ref.keys:
            owners.setdefault(key, set()).add(ref.ident)
    return owners


def _superseded(old: QueueRef, owners: dict[str, set[str]]) -> bool:
    """An old ref whose key now belongs to a different queue (a work list that gained a
    processing list becomes a reliable queue, RQ's list once `rq:queues` appears) is
    dropped."""
    return any(ident != old.ident for ident in owners.get(old.key, ()))
