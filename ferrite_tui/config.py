"""Configuration: TOML in the platform config dir, profiles, and what the app saves.

The user's config.toml is never rewritten: a queue's kind corrected from the console (`o`)
is one [[queues]] block appended at its end, every other byte kept (`save_queue`). What
else the app saves (theme, refresh interval, profiles made on the connect screen) goes to
`saved.toml` beside it and is merged over the user's file on load. No secret is ever
written: passwords come from the URL given on the command line, REDISCLI_AUTH, a profile's
password_env or its password_command.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs
import tomli_w

from ferrite_tui.urls import redact_url

APP_NAME = "ferrite-tui"
SAVED_NAME = "saved.toml"


class ConfigError(Exception):
    """A config problem, phrased as one line naming the file (and line where known)."""


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME))


def state_dir() -> Path:
    return Path(platformdirs.user_state_dir(APP_NAME))


def default_config_path() -> Path:
    return config_dir() / "config.toml"


DEFAULT_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class ServerConnection:
    """How to reach one server and how to talk to it: the part of a profile the backend
    connects with (its ConnectionSettings is this and the password found for it)."""

    url: str = DEFAULT_URL
    username: str | None = None
    read_only: bool = False
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_verify: bool = True
    connect_timeout: float = 5.0
    command_timeout: float = 5.0
    # Redis Cluster / Ferrite cluster mode: None detects it on connect (cluster_enabled:1).
    cluster: bool | None = None
    seeds: tuple[str, ...] = ()  # more cluster nodes to start from, as host:port

    def connection(self) -> dict[str, Any]:
        """This connection's own fields, by name (whatever class carries them)."""
        return {f.name: getattr(self, f.name) for f in fields(ServerConnection)}


@dataclass(frozen=True)
class Profile(ServerConnection):
    """A named [profiles.NAME] table: the connection, where its password comes from (never
    the password itself) and its own discovery patterns."""

    name: str = "default"
    password_env: str | None = None
    password_command: str | None = None
    match: tuple[str, ...] | None = None  # overrides [discovery].match for this profile


@dataclass(frozen=True)
class DiscoveryConfig:
    match: tuple[str, ...] = ("*",)
    scan_count: int = 1000
    rescan_seconds: float = 30.0
    reliable_prefix: str = "queue:"
    processing_suffix: str = ":processing"
    dlq_suffix: str = ":dlq"
    scheduled_suffix: str = ":scheduled"
    ready_suffix: str = ":ready"
    max_queues: int = 5000
    ignore: tuple[str, ...] = ()  # glob patterns of keys never treated as queues
    # Queues seen on a server are listed (depth 0, "last seen ...") this long after (0: off).
    remember_days: float = 7.0


@dataclass(frozen=True)
class AlertConfig:
    depth: int = 10_000
    oldest_age_seconds: float = 300.0
    processing_stale_seconds: float = 300.0
    dlq_nonempty: bool = True
    dlq_growing: bool = True
    overdue_seconds: float = 60.0
    stream_pending: int = 1_000
    stream_lag: int = 10_000
    stream_poison_deliveries: int = 5  # pending entries delivered this often are poison
    stream_dead_consumer_seconds: float = 300.0  # idle this long holding entries: dead?


@dataclass(frozen=True)
class LibrariesConfig:
    """[libraries]: settings of the queue libraries' layouts."""

    celery_visibility_timeout: float = 3600.0  # seconds; kombu's default
    # huey's `utc` option (its default, True): schedule times are naive UTC datetimes;
    # False: naive local times. The keys do not say which.
    huey_utc: bool = True
    # The time zone huey's hosts run in (an IANA name such as "America/New_York"; "": the
    # console's own): huey scores its schedule with time.mktime of a naive datetime.
    huey_timezone: str = ""
    # Show pickled bodies (RQ, arq, huey) decoded by a restricted unpickler that builds
    # only builtin values and containers; anything else is summarised, never loaded.
    unpickle: bool = False
    # Layout options the keys may not reveal (each is also detected where they do):
    # RQ's RQ_KEY_PREFIX values (detected from a set P:queues naming P:queue:... keys),
    rq_key_prefixes: tuple[str, ...] = ()
    # arq's queue_name values other than arq:queue (detected from a sorted set whose next
    # job has its arq:job:ID body),
    arq_queue_names: tuple[str, ...] = ()
    # BullMQ's prefix option values other than bull (detected from P:Q:meta hashes with
    # BullMQ's fields; "{bull}" for clusters is detected too).
    bullmq_prefixes: tuple[str, ...] = ()
    # kombu's global_keyprefix values for Celery (detected from P_kombu.binding.* sets).
    celery_global_keyprefixes: tuple[str, ...] = ()


@dataclass(frozen=True)
class QueueDecl:
    key: str
    kind: str  # work / reliable / priority / delayed / dlq / stream / ignore
    processing_key: str | None = None
    ready_key: str | None = None
    target_key: str | None = None
    visibility_timeout: float | None = None
    # Scope: only on connections with this profile (None: every connection).
    profile: str | None = None
    # The state model (see backend/libraries/model.py). `key` and the other keys may hold
    # `{name}` (one queue per name found) or be a glob; `{id}` in body_key is a member.
    order: str | None = None  # head / tail: which end of the pending list is next
    score_unit: str | None = None  # ms / s / ms4096 / priority (scheduled, failed sets)
    body_key: str | None = None  # e.g. "job:{id}" when the queue holds ids
    body_type: str = "string"  # string / hash
    scheduled_key: str | None = None  # zset of items by due time
    failed_key: str | None = None  # list or zset of failed items
    done_key: str | None = None
    recover_to: str | None = None  # reliable: "head" / "tail", where nack and recovery push


_ORDERS = {"head", "tail"}
_UNITS = {"ms", "s", "ms4096", "priority"}


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    default_profile: str | None = None
    refresh: float = 1.0
    history_minutes: float = 10.0
    trend_minutes: int = 60  # per-minute trends, rebuilt from the data at open (0: off)
    pubsub_buffer: int = 10_000  # messages the Pub/Sub tail keeps (what falls off is counted)
    # Count list / sorted-set moves from keyspace notifications where the server publishes
    # them (exact in/out for drained lists, stacks, priority sets). Never configures it.
    exact_from_notifications: bool = False
    theme: str = "textual-dark"
    profiles: dict[str, Profile] = field(default_factory=dict)
    discovery: DiscoveryConfig = DiscoveryConfig()
    alerts: AlertConfig = AlertConfig()
    libraries: LibrariesConfig = LibrariesConfig()
    queues: tuple[QueueDecl, ...] = ()
    keys: dict[str, str] = field(default_factory=dict)  # binding id -> key(s)
    # Where each value came from, by setting ("refresh", "profiles.b.url"): "path:line" of
    # the file that set it last, or what overrode it ("command line: --notifications").
    origins: dict[str, str] = field(default_factory=dict, compare=False)

    def origin(self, setting: str) -> str:
        """Where `setting`'s value came from: a file and line, the command line, or the
        default."""
        return self.origins.get(setting, "default")

    def overridden(self, origin: str, **values: Any) -> Config:
        """The config with these top-level settings replaced, noting where they came from."""
        return replace(self.noted(origin, *values), **values)

    def noted(self, origin: str, *settings: str) -> Config:
        """The config noting where settings it does not hold came from (the command
        line's URL, --profile, --read-only, --match: "url", "profile", ...)."""
        return replace(self, origins={**self.origins, **dict.fromkeys(settings, origin)})

    @property
    def saved_path(self) -> Path | None:
        return self.path.with_name(SAVED_NAME) if self.path else None

    def profile(self, name: str | None) -> Profile | None:
        name = name or self.default_profile
        if name is None:
            return None
        return self.profiles.get(name)


_KIND_NAMES = {"work", "reliable", "priority", "delayed", "dlq", "stream", "ignore"}

_YEAR_S = 365 * 86400
_SECONDS = (0, _YEAR_S, "seconds")
#: The allowed range of every number, by (table, key): (lowest, highest, unit). A NaN or an
#: infinity passes a plain `< 0` check and stops the poll without a word (`refresh = nan`).
RANGES: dict[tuple[str, str], tuple[float, float, str]] = {
    ("", "refresh"): (0.1, 3600, "seconds"),
    ("", "history_minutes"): (0.1, 1440, "minutes"),
    ("", "trend_minutes"): (0, 1440, "minutes"),
    ("", "pubsub_buffer"): (1, 10_000_000, "messages"),
    ("profiles", "connect_timeout"): (0.1, 600, "seconds"),
    ("profiles", "command_timeout"): (0.1, 600, "seconds"),
    ("discovery", "scan_count"): (1, 1_000_000, "keys"),
    ("discovery", "rescan_seconds"): (0, 86400, "seconds (0: only on ctrl+r)"),
    ("discovery", "max_queues"): (1, 1_000_000, "queues"),
    ("discovery", "remember_days"): (0, 3650, "days (0: off)"),
    ("alerts", "depth"): (0, 10**12, "items"),
    ("alerts", "oldest_age_seconds"): _SECONDS,
    ("alerts", "processing_stale_seconds"): _SECONDS,
    ("alerts", "overdue_seconds"): _SECONDS,
    ("alerts", "stream_pending"): (0, 10**12, "entries"),
    ("alerts", "stream_lag"): (0, 10**12, "entries"),
    ("alerts", "stream_poison_deliveries"): (0, 10**9, "deliveries"),
    ("alerts", "stream_dead_consumer_seconds"): _SECONDS,
    ("libraries", "celery_visibility_timeout"): (0.001, _YEAR_S, "seconds"),
    ("queues", "visibility_timeout"): (0.001, _YEAR_S, "seconds"),
}


def range_error(name: str, value: Any, table: str = "") -> str | None:
    """Why a number is not allowed for this setting (None: it is): finite, within range."""
    lo, hi, unit = RANGES.get((table, name), (0, math.inf, ""))
    if isinstance(value, (int, float)) and not isinstance(value, bool) \
            and math.isfinite(value) and lo <= value <= hi:
        return None
    upper = f"to {_number(hi)}" if math.isfinite(hi) else "or more"
    return (f"must be a number from {_number(lo)} {upper}{' ' + unit if unit else ''}, "
            f"not {value!r}")


def _number(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


def _table_of(where: str) -> str:
    """The RANGES table of a setting's place ("profiles.x.key" -> "profiles")."""
    head = where.split(".", 1)[0] if "." in where else ""
    return head.split("[", 1)[0]


def _coerce(cls: type, table: Any, where: str, text: str, path: Path, **extra: Any) -> Any:
    """Build dataclass `cls` from a TOML table, checking every key and type."""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{where}] must be a table")
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = dict(extra)
    for key, value in table.items():
        spec = known.get(key)
        if spec is None or key in extra:
            raise ConfigError(f"{_at(path, text, f'{where}.{key}', key)}: unknown setting "
                              f"'{key}' in [{where}]")
        values[key] = _check_type(value, spec.type, f"{where}.{key}", text, path, key)
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"{path}: [{where}] {exc}") from None


def _check_type(value, type_text, where, text, path, key):
    def fail(expected: str) -> None:
        raise ConfigError(f"{_at(path, text, where, key)}: '{where}' must be {expected}, "
                          f"not {value!r}")

    type_text = str(type_text)
    if "tuple" in type_text:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            fail("a list of strings")
        return tuple(value)
    if type_text.startswith("bool"):
        if not isinstance(value, bool):
            fail("true or false")
        return value
    if type_text.startswith("float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail("a number")
        _check_range(value, where, text, path, key)
        return float(value)
    if type_text.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            fail("an integer")
        _check_range(value, where, text, path, key)
        return value
    if "str" in type_text:
        if not isinstance(value, str):
            fail("a string")
        return value
    return value


def _line_of(text: str, where: str, key: str) -> int | None:
    """The line of `key` inside its own table: "profiles.b.read_only" under [profiles.b]
    (not the same key of [profiles.a]), "queues[2].kind" in the second [[queues]], a
    top-level key before any table; None where the file does not spell it plainly."""
    table = where.rsplit(".", 1)[0] if "." in where else ""
    key_re = re.compile(rf"^\s*{re.escape(key)}\s*=")
    current, arrays = "", dict[str, int]()
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("[["):
            name = stripped[2:stripped.find("]]")].strip()
            arrays[name] = arrays.get(name, 0) + 1
            current = f"{name}[{arrays[name]}]"
        elif stripped.startswith("["):
            current = stripped[1:stripped.find("]")].strip().replace('"', "")
        elif current == table and key_re.match(line):
            return number
    return None


def _at(path: Path, text: str, where: str, key: str) -> str:
    """'path:line' of a setting (just the path where the line is not found)."""
    line = _line_of(text, where, key)
    return f"{path}:{line}" if line else str(path)


def _check_range(value: float, where: str, text: str, path: Path, key: str) -> None:
    why = range_error(key, value, _table_of(where))
    if why is not None:
        raise ConfigError(f"{_at(path, text, where, key)}: '{where}' {why}")


def _parse(text: str, path: Path, base: Config | None = None) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    cfg = base or Config(path=path)
    updates: dict[str, Any] = {}
    top = {"default_profile": str, "refresh": float, "history_minutes": float, "theme": str,
           "pubsub_buffer": int, "trend_minutes": int, "exact_from_notifications": bool}
    for key, value in data.items():
        if key in top:
            updates[key] = _check_type(value, top[key].__name__, key, text, path, key)
        elif key == "profiles":
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: [profiles] must be a table of tables")
            profiles = dict(cfg.profiles)
            for name, table in value.items():
                profiles[name] = _coerce(
                    Profile, table, f"profiles.{name}", text, path, name=name
                )
            updates["profiles"] = profiles
        elif key == "discovery":
            updates["discovery"] = _coerce(DiscoveryConfig, value, "discovery", text, path)
        elif key == "alerts":
            updates["alerts"] = _coerce(AlertConfig, value, "alerts", text, path)
        elif key == "libraries":
            libs = _coerce(LibrariesConfig, value, "libraries", text, path)
            if libs.huey_timezone:
                try:
                    zoneinfo.ZoneInfo(libs.huey_timezone)
                except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                    raise ConfigError(
                        f"{_at(path, text, 'libraries.huey_timezone', 'huey_timezone')}: "
                        "[libraries] huey_timezone "
                        f"{libs.huey_timezone!r} is not a time zone name (e.g. "
                        f"\"America/New_York\")") from None
            updates["libraries"] = libs
        elif key == "queues":
            if not isinstance(value, list):
                raise ConfigError(f"{path}: 'queues' must be an array of tables ([[queues]])")
            decls = []
            for i, table in enumerate(value):
                if not isinstance(table, dict) or "key" not in table or "kind" not in table:
                    raise ConfigError(f"{path}: [[queues]] entry {i + 1} needs 'key' and 'kind'")
                decl = _coerce(QueueDecl, table, f"queues[{i + 1}]", text, path)
                entry = f"queues[{i + 1}]"
                if decl.kind not in _KIND_NAMES:
                    raise ConfigError(
                        f"{_at(path, text, f'{entry}.kind', 'kind')}: [[queues]] kind "
                        f"'{decl.kind}' is not one of {', '.join(sorted(_KIND_NAMES))}"
                    )
                for name, allowed, value in (("order", _ORDERS, decl.order),
                                             ("score_unit", _UNITS, decl.score_unit),
                                             ("body_type", {"string", "hash"}, decl.body_type)):
                    if value is not None and value not in allowed:
                        raise ConfigError(
                            f"{_at(path, text, f'{entry}.{name}', name)}: [[queues]] {name} "
                            f"'{value}' is not one of {', '.join(sorted(allowed))}")
                if decl.recover_to not in (None, "head", "tail"):
                    raise ConfigError(
                        f"{_at(path, text, f'{entry}.recover_to', 'recover_to')}: [[queues]] "
                        "recover_to "
                        f"'{decl.recover_to}' must be \"head\" or \"tail\"")
                decls.append(decl)
            updates["queues"] = _latest(decls)
        elif key == "keys":
            if not isinstance(value, dict) or not all(
                isinstance(v, str) for v in value.values()
            ):
                raise ConfigError(f"{path}: [keys] maps binding ids to key names (strings)")
            updates["keys"] = {**cfg.keys, **value}
        else:
            raise ConfigError(f"{_at(path, text, key, key)}: unknown setting '{key}'")
    return replace(cfg, **updates, origins={**cfg.origins, **_origins(data, text, path)})


def _origins(data: dict[str, Any], text: str, path: Path) -> dict[str, str]:
    """'path:line' of every value a file set, by setting ("refresh", "profiles.b.url",
    "queues[2].kind")."""
    out: dict[str, str] = {}

    def walk(table: dict[str, Any], prefix: str) -> None:
        for key, value in table.items():
            where = f"{prefix}{key}"
            if isinstance(value, dict):
                walk(value, where + ".")
            elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                for i, entry in enumerate(value):
                    walk(entry, f"{where}[{i + 1}].")
            else:
                out[where] = _at(path, text, where, key)

    walk(data, "")
    return out


def _latest(decls: list[QueueDecl]) -> tuple[QueueDecl, ...]:
    """One entry per key and profile: a later [[queues]] entry (a correction saved from the
    console, appended at the end of the file) replaces an earlier one, in its place."""
    last = {(d.key, d.profile): i for i, d in enumerate(decls)}
    firsts: dict[tuple[str, str | None], int] = {}
    for i, d in enumerate(decls):
        firsts.setdefault((d.key, d.profile), i)
    return tuple(decls[last[k]] for k, _ in sorted(firsts.items(), key=lambda kv: kv[1]))


def save_queue(cfg: Config, entry: dict[str, Any]) -> Config:
    """Add a [[queues]] entry to the user's config file (config.toml, created if absent):
    the entry is written by tomli-w and appended, so every other line of the file (comments
    included) stays as the user wrote it; a later entry for the same key replaces an
    earlier one when loaded. The new text is checked by loading it before it replaces the
    file (atomically). Returns the config with the entry in effect."""
    path = cfg.path or default_config_path()
    try:
        old = path.read_text(encoding="utf-8") if path.exists() else ""
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    # The header by hand: tomli-w writes a one-table array inline (`queues = [...]`), which
    # after the user's own [[queues]] would land inside their last entry.
    block = "[[queues]]\n" + tomli_w.dumps({k: v for k, v in entry.items() if v is not None})
    sep = "" if not old or old.endswith("\n\n") else "\n" if old.endswith("\n") else "\n\n"
    text = f"{old}{sep}# Corrected from the console.\n{block}"
    parsed = _parse(text, path, Config(path=path))  # raises ConfigError: nothing written
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return replace(cfg, path=path, queues=parsed.queues)


def load(path: Path | str | None = None) -> Config:
    """Load config.toml (if present) and the app's saved.toml beside it."""
    explicit = path is not None
    path = Path(path) if path is not None else default_config_path()
    cfg = Config(path=path)
    if path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
        cfg = _parse(text, path, cfg)
    elif explicit:
        raise ConfigError(f"{path}: no such file")
    saved = cfg.saved_path
    if saved is not None and saved.exists():
        try:
            cfg = _parse(saved.read_text(encoding="utf-8"), saved, cfg)
        except (ConfigError, OSError):
            pass  # a damaged saved.toml must not keep the console from starting
    return cfg


def _saved_data(cfg: Config) -> dict[str, Any]:
    saved = cfg.saved_path
    if saved is None or not saved.exists():
        return {}
    try:
        return tomllib.loads(saved.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, OSError):
        return {}


def save_setting(cfg: Config, **values: Any) -> Config:
    """Persist top-level settings (theme, refresh) to saved.toml; returns the new config."""
    data = _saved_data(cfg)
    data.update(values)
    return replace(cfg, **values, origins=_write_saved(cfg, data, cfg.origins, values))


_SECRET_FIELDS = {"password"}


def save_profile(cfg: Config, profile: Profile, make_default: bool = False) -> Config:
    """Persist a profile made on the connect screen. The URL is stored without password."""
    data = _saved_data(cfg)
    table = {
        f.name: getattr(profile, f.name)
        for f in fields(Profile)
        if f.name != "name" and getattr(profile, f.name) is not None
        and getattr(profile, f.name) != getattr(Profile(), f.name)
    }
    table["url"] = redact_url(profile.url, keep_user=True, mask="")
    for secret in _SECRET_FIELDS:
        table.pop(secret, None)
    if "match" in table:
        table["match"] = list(table["match"])
    data.setdefault("profiles", {})[profile.name] = table
    if make_default:
        data["default_profile"] = profile.name
    prefix = f"profiles.{profile.name}."  # its settings now: an older one's lines go
    noted = _write_saved(cfg, data, {k: v for k, v in cfg.origins.items()
                                     if not k.startswith(prefix)},
                         [f"{prefix}{k}" for k in table]
                         + (["default_profile"] if make_default else []))
    profiles = {**cfg.profiles, profile.name: replace(profile, url=table["url"])}
    return replace(cfg, profiles=profiles, origins=noted,
                   default_profile=profile.name if make_default else cfg.default_profile)


NOT_SAVED = "the console (not saved: no config file)"  # an unsaved setting's origin
SAVED_HEADER = "# Written by ferrite-tui; your own settings belong in config.toml."


def _write_saved(cfg: Config, data: dict[str, Any], origins: dict[str, str],
                 now: Iterable[str]) -> dict[str, str]:
    """Write saved.toml; returns `origins` with the settings saved `now` and those read
    from it before at their lines in it (as a load notes them)."""
    saved = cfg.saved_path
    if saved is None:
        return {**origins, **dict.fromkeys(now, NOT_SAVED)}
    saved.parent.mkdir(parents=True, exist_ok=True)
    tmp = saved.with_suffix(".tmp")
    text = f"{SAVED_HEADER}\n{tomli_w.dumps(data)}"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, saved)
    lines = _origins(data, text, saved)
    moved = {k for k, v in origins.items() if v.startswith(f"{saved}:")}
    return {**origins, **{k: lines.get(k, NOT_SAVED) for k in {*now, *moved}}}


STARTER = """\
# ferrite-tui configuration. See config.example.toml in the project for every key.
default_profile = "local"
refresh = 1.0

[profiles.local]
url = "redis://127.0.0.1:6379/0"
read_only = false
# password_env = "REDIS_PASSWORD"      # the password never goes in this file
# password_command = "pass show redis"

[discovery]
match = ["*"]
rescan_seconds = 30.0

[alerts]
depth = 10000
oldest_age_seconds = 300.0
"""


def init_config(path: Path | None = None) -> Path:
    """Write a starter config.toml; refuses to overwrite an existing one."""
    path = path or default_config_path()
    if path.exists():
        raise ConfigError(f"{path}: already exists; not overwriting it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(STARTER, encoding="utf-8")
    return path
