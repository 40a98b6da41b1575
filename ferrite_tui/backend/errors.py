"""The backend's errors, and the wording of the server's refusals (ACL NOPERM) as one line
that names who may not do what and what to ask for.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ferrite_tui.escaping import printable


class BackendError(Exception):
    """A failure worded as one line for the screen."""


class ReadOnlyError(BackendError):
    pass


class ReplicaError(ReadOnlyError):
    """A change refused because the server is a replica (it would answer READONLY)."""


#: ACL category of the commands the console sends (for "ask for +@list write").
_CATEGORIES = {
    **dict.fromkeys(("LPUSH", "RPUSH", "LREM", "LTRIM", "LSET", "LPOP", "RPOP", "LMOVE",
                     "RPOPLPUSH", "LINSERT", "LPOS", "LRANGE", "LLEN", "LINDEX", "BLPOP",
                     "BRPOP"), "list"),
    **dict.fromkeys(("ZADD", "ZREM", "ZINCRBY", "ZPOPMIN", "ZPOPMAX", "ZRANGE", "ZREVRANGE",
                     "ZRANGEBYSCORE", "ZREVRANGEBYSCORE", "ZCARD", "ZCOUNT", "ZSCORE",
                     "ZREMRANGEBYSCORE"), "sortedset"),
    **dict.fromkeys(("XADD", "XACK", "XCLAIM", "XAUTOCLAIM", "XDEL", "XGROUP", "XTRIM",
                     "XRANGE", "XREVRANGE", "XLEN", "XINFO", "XPENDING", "XREADGROUP"),
                    "stream"),
    **dict.fromkeys(("DEL", "UNLINK", "RENAME", "EXPIRE", "TYPE", "SCAN", "EXISTS"),
                    "keyspace"),
    **dict.fromkeys(("EVAL", "EVALSHA", "SCRIPT"), "scripting"),
    **dict.fromkeys(("PUBLISH", "SUBSCRIBE", "PSUBSCRIBE", "PUBSUB"), "pubsub"),
    **dict.fromkeys(("MULTI", "EXEC", "WATCH", "UNWATCH", "DISCARD"), "transaction"),
    **dict.fromkeys(("SET", "GET", "MEMORY"), "string"),
}
_WRITES = {"LPUSH", "RPUSH", "LREM", "LTRIM", "LSET", "LPOP", "RPOP", "LMOVE", "RPOPLPUSH",
           "LINSERT", "BLPOP", "BRPOP", "ZADD", "ZREM", "ZINCRBY", "ZPOPMIN", "ZPOPMAX",
           "ZREMRANGEBYSCORE", "XADD", "XACK", "XCLAIM", "XAUTOCLAIM", "XDEL", "XGROUP",
           "XTRIM", "XREADGROUP", "DEL", "UNLINK", "RENAME", "EXPIRE", "SET", "PUBLISH"}
_NOPERM = re.compile(r"no permissions to run the '([^']+)' command", re.I)
_NOPERM_USER = re.compile(r"NOPERM User (\S+) has", re.I)
#: redis-py's pipeline annotation: it quotes the whole command, user data included.
_PIPELINE_DUMP = re.compile(r"^Command # \d+ \(.*\) of pipeline caused error: ", re.S)


def server_error_text(exc: BaseException | str) -> str:
    """The server's own error line, without redis-py's pipeline dump of the command."""
    text = _PIPELINE_DUMP.sub("", str(exc).strip())
    if text.startswith("('") and text.endswith("',)"):  # redis-py wraps some in a tuple
        text = text[2:-3]
    return text.splitlines()[0] if text else type(exc).__name__


#: The line for a key or channel refusal when the keys are not known (the server's NOPERM
#: does not name them); call sites that know them say `keys_refused`.
_UNNAMED_REFUSAL = "may not touch this key or channel: ask for access to it (~pattern)"


def is_noperm(exc: BaseException | str) -> bool:
    text = server_error_text(exc)
    return "NOPERM" in text or "no permissions" in text.lower()


def is_key_refusal(exc: BaseException | str) -> bool:
    """An ACL refusal of the keys (or channels) a command names, not of the command."""
    text = server_error_text(exc)
    return (is_noperm(text) and _NOPERM.search(text) is None
            and ("key" in text.lower() or "channel" in text.lower())) \
        or _UNNAMED_REFUSAL in text


def keys_refused(who: str, keys: Sequence[str], what: str = "key") -> str:
    """'user app may not access key other:list: ...', naming the keys (or channels) a
    command used."""
    names = " or ".join(printable(k, 80) for k in keys[:3]) + (" …" if len(keys) > 3 else "")
    noun = what if len(keys) == 1 else what + "s"
    pattern = "~pattern" if what == "key" else "&pattern"
    return f"{who} may not access {noun} {names}: ask for a {what} pattern ({pattern}) " \
        "that covers it"


def permission_error(exc: BaseException | str, user: str | None = None,
                     keys: Sequence[str] = ()) -> str | None:
    """For an ACL refusal (NOPERM), one line saying who may not run what (on which keys,
    where the call site names them) and what to ask for; None for any other error."""
    text = server_error_text(exc)
    if not is_noperm(text):
        return None
    match = _NOPERM.search(text)
    named = _NOPERM_USER.search(text)
    who = f"user {user}" if user else (f"user {named.group(1)}" if named else "this user")
    on = f" on {' and '.join(printable(k, 80) for k in keys[:2])}" if keys else ""
    if not match:
        if ("key" in text.lower() or "channel" in text.lower()) and keys:
            return keys_refused(who, keys, "key" if "key" in text.lower() else "channel")
        if "key" in text.lower() or "channel" in text.lower():
            return f"{who} {_UNNAMED_REFUSAL}"
        return f"{who} is not permitted to do this: {text}"
    command = match.group(1).split("|")[0].upper()
    category = _CATEGORIES.get(command)
    if command in _WRITES:
        ask = f"+@{category} write" if category else f"+{command.lower()}"
        return f"{who} may not run {command}{on}: ask for {ask} or use --read-only"
    ask = f"+@{category} read" if category else f"+{command.lower()}"
    return f"{who} may not run {command}{on}: ask for {ask}"
