"""Redis URLs carry passwords: :func:`mask_url` shows one safely, :func:`check_url` refuses a malformed one.

Every message, log line and page fslib shows names a Redis by its masked URL.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus, urlsplit

from redis.connection import parse_url

__all__ = ["check_url", "mask_url", "url_secrets"]

_MASK = "***"

_PLAIN_QUERY_KEYS = frozenset(
    {
        "db",
        "username",
        "client_name",
        "protocol",
        "socket_timeout",
        "socket_connect_timeout",
        "socket_keepalive",
        "retry_on_timeout",
        "health_check_interval",
        "max_connections",
        "timeout",
        "ssl_cert_reqs",
        "ssl_check_hostname",
    }
)
"""Query keys whose values :func:`mask_url` shows: plain options, no secrets.

redis-py hands every other query key to the connection as it is (``password``,
``ssl_password``, ...), so the value of any key not listed here is masked.
"""


def mask_url(url: str) -> str:
    """Return ``url`` with every part that may hold a secret replaced by ``***``.

    Masked: the password of ``user:password@`` (``redis://``, ``rediss://``,
    ``unix://``), and the value of every query key but a few plain options
    (``db``, timeouts, ``username``, ...): ``?password=``, ``?ssl_password=``,
    and keys spelt with ``%``-escapes, which redis-py decodes. Also masked,
    because a password with an unescaped ``/``, ``?`` or ``#`` spills into
    them: a port that is not a number, a ``redis://`` path that is not a
    database number, and any ``#`` fragment.
    User names, hosts, ports and database numbers stay readable.

    Args:
        url: A Redis URL such as ``redis://user:secret@host:6379/0``, or any
            malformed text that was meant to be one (this never raises).

    Returns:
        The URL, safe to print or log.
    """
    url = re.sub(r"^[\x00-\x20]+|[\t\r\n]", "", url)  # what urlsplit() drops, so the slices below agree
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed "[" of an IPv6 host: nothing in it is safe to show
        return _MASK
    path = parts.path
    if parts.scheme in ("redis", "rediss") and not re.fullmatch(r"/?\d*", path):
        path = "/" + _MASK
    # Joined by hand: urlunsplit() would drop the "//" of "unix:///path".
    before_fragment = url.partition("#")[0]
    masked = f"{parts.scheme}:" if parts.scheme else ""
    if before_fragment[len(masked) :].startswith("//"):
        masked += "//" + _mask_netloc(parts.netloc)
    masked += path
    if "?" in before_fragment:
        masked += "?" + "&".join(_mask_query_pair(pair) for pair in parts.query.split("&"))
    if "#" in url:
        masked += "#" + _MASK
    return masked


def _mask_netloc(netloc: str) -> str:
    """``user:password@host:port`` with the password (and a port that is not a number) masked."""
    userinfo, at, hostport = netloc.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    if colon:
        userinfo = f"{user}:{_MASK}"
    host, colon, port = hostport.rpartition(":")
    if colon and port and not port.isdigit() and not hostport.endswith("]"):
        hostport = f"{host}:{_MASK}"
    return f"{userinfo}{at}{hostport}"


def _mask_query_pair(pair: str) -> str:
    """``name=value`` as it is for a plain option, else ``name=***``; redis-py decodes the name first."""
    name, equals, _value = pair.partition("=")
    if not pair or unquote_plus(name) in _PLAIN_QUERY_KEYS:
        return pair
    return f"{name}={_MASK}" if equals else _MASK


def check_url(url: str) -> str:
    """Return ``url`` if redis-py can read it, so a typo fails with a message instead of a traceback.

    Raises:
        ValueError: Not a ``redis://``, ``rediss://`` or ``unix://`` URL, a port
            that is not a number up to 65535, or an option redis-py cannot read
            (e.g. ``?db=x``). The message shows the URL masked.
    """
    problem = _url_problem(url)
    if problem is not None:
        raise ValueError(f"{mask_url(url)!r} is not a Redis URL: {problem}")
    return url


def _url_problem(url: str) -> str | None:
    """What makes ``url`` unreadable for redis-py, in words; None when it is fine."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises for a port that is not a number up to 65535
    except ValueError:
        return "its host:port cannot be read (the port must be a number up to 65535)"
    if parts.scheme not in ("redis", "rediss", "unix"):
        return "it must start with redis://, rediss:// or unix://, e.g. redis://localhost:6379/0"
    try:
        parse_url(url)
    except ValueError as exc:  # redis-py's own words, e.g. "Invalid value for 'db' in connection URL."
        return str(exc)
    return None


def url_secrets(url: str) -> bool:
    """Whether ``url`` holds a secret (a password, or a query value :func:`mask_url` would hide).

    A command-line option is readable by every local user (``ps``, ``/proc/PID/cmdline``):
    the CLIs refuse such a URL there and ask for ``REDIS_URL`` instead.
    """
    return mask_url(url) != url
