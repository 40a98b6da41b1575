"""Connection URLs: checked before anything connects, shown without their password.

Plain functions with no dependency on the backend: the config, the console, `status`,
`serve` and the backend all use them.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ferrite_tui.escaping import printable


def url_problem(url: str) -> str | None:
    """Why a URL cannot name a server (one line, with the likely fix), or None.

    Checked before anything connects, by the console and `status` alike: a URL that can
    never work is an exit with this line, not a reconnect loop."""
    parts = urlsplit(url)
    if parts.scheme in ("redis", "rediss", "unix"):
        return None
    if "://" not in url:  # "localhost:7301" parses as scheme "localhost"
        where = printable(url.rpartition("@")[2], 80)  # never echo a password
        return (f"'{where}' is not a URL: did you mean redis://{where}? "
                "(redis://, rediss:// or unix://)")
    return (f"unsupported URL scheme '{printable(parts.scheme, 20)}': "
            "use redis://, rediss:// or unix://")


def redact_url(url: str, keep_user: bool = True, mask: str = "***") -> str:
    """The URL with its password replaced (or removed when mask is empty), in its user
    part and as a `password=` parameter (redis-py takes both)."""
    base, sep, query = url.partition("?")
    pairs = parse_qsl(query, keep_blank_values=True) if sep else []
    if any(k.lower() == "password" for k, _ in pairs):
        kept = [(k, mask if k.lower() == "password" else v) for k, v in pairs
                if mask or k.lower() != "password"]
        url = f"{base}?{urlencode(kept, safe='*')}" if kept else base
    parts = urlsplit(url)
    if parts.password is None and not (parts.username and not keep_user):
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    user = parts.username if keep_user and parts.username else ""
    cred = user
    if parts.password is not None and mask:
        cred = f"{user}:{mask}"
    netloc = f"{cred}@{host}" if cred else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


_CLUSTER_OPTIONS = ("cluster",)


def cluster_url_option(url: str) -> bool | None:
    """`?cluster=yes|no` in the URL (None when absent)."""
    for key, value in parse_qsl(urlsplit(url).query):
        if key == "cluster":
            return value.strip().lower() in ("1", "yes", "true", "on")
    return None


def strip_cluster_options(url: str) -> str:
    """The URL without the console's own query options (redis-py would refuse them)."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in _CLUSTER_OPTIONS]
    return urlunsplit(parts._replace(query=urlencode(query)))
