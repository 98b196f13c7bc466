"""AsyncFeatureStore: the request-path reads and streaming writes over ``redis.asyncio``.

For a model server on an event loop (FastAPI, aiohttp): the same keys,
checks, encoding, results, counters and pre-encoded batch reads as
:class:`fslib.FeatureStore`, whose I/O-free half it shares; only the round
trips are awaited. Bulk loads, inspection and housekeeping stay on the sync
store: they are batch jobs, not requests.

One Redis server only: a ``redis.asyncio.cluster.RedisCluster`` is refused
(use the sync store on a cluster).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import redis.asyncio
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.asyncio.retry import Retry as AsyncRetry

from fslib.packed import execute_packed_async, pack_hmgets
from fslib.schema import FeatureValue
from fslib.server import (
    _client_options,
    _cluster_wanted,
    _single_server_options,
    _version_in_info,
    require_version,
    resolve_url,
)
from fslib.store import _StoreCore

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["AsyncFeatureStore", "connect_async"]


async def connect_async(
    url: str | None = None,
    *,
    retry_attempts: int = 5,
    socket_timeout: float = 5.0,
    max_connections: int = 50,
    check_version: bool = True,
) -> redis.asyncio.Redis:
    """Return a ``redis.asyncio`` client for a Redis >= 7.4, set up as :func:`fslib.connect` does.

    Call it once at start-up (without ``url`` or ``REDIS_URL`` it may start
    the embedded server, which blocks briefly) and ``await client.aclose()``
    at shutdown.

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
        ValueError: ``REDIS_CLUSTER`` asks for a cluster (the asyncio API serves one server).
        RedisVersionError: The server is older than 7.4.
        redis.ConnectionError: The server cannot be reached.
    """
    if _cluster_wanted(None):
        raise ValueError("REDIS_CLUSTER is set, but fslib's asyncio API serves one Redis server; use fslib.connect()")
    url = resolve_url(url)
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
            require_version(_version_in_info(await client.info("server")), url)
        except BaseException:
            await client.aclose()
            raise
    return client


class AsyncFeatureStore(_StoreCore):
    """:class:`fslib.FeatureStore`'s request path, awaited: reads, batch reads, streaming writes, TTLs.

    Args:
        client: A ``redis.asyncio.Redis`` with ``decode_responses=True`` (see :func:`connect_async`).
        key_prefix, batch_ttl_seconds, streaming_ttl_seconds, schema, streaming_write:
            As for :class:`fslib.FeatureStore`.

    Raises:
        TypeError: ``client`` is not a ``redis.asyncio.Redis`` (a sync or cluster client).
        ValueError, TypeError: A TTL is not a positive integer or the prefix is empty.
    """

    _hsetex: bool | None = None
    """Set by :meth:`uses_hsetex` on first use."""

    @staticmethod
    def _on_cluster(client: Any) -> bool:
        if isinstance(client, AsyncRedisCluster):
            raise TypeError("AsyncFeatureStore serves one Redis server, not a cluster: use fslib.FeatureStore there")
        if not isinstance(client, redis.asyncio.Redis):
            raise TypeError(
                f"AsyncFeatureStore needs a redis.asyncio.Redis client (see fslib.connect_async), got {type(client).__name__}"
            )
        return False

    # -- streaming path ----------------------------------------------------

    async def uses_hsetex(self) -> bool:
        """Whether streaming writes use ``HSETEX`` (Redis >= 8.0) rather than ``MULTI`` (asked once)."""
        if self._hsetex is None:
            version = _version_in_info(await self.client.info("server")) if self._streaming_write == "auto" else None
            self._hsetex = self._choose_hsetex(version)
        return self._hsetex

    async def update_streaming(
        self, entity_id: str, fields: Mapping[str, FeatureValue], ttl_seconds: int | None = None
    ) -> None:
        """Write streaming features, each with exactly ``ttl_seconds``, in one atomic round trip.

        See :meth:`fslib.FeatureStore.update_streaming` (same checks, errors and commands).
        """
        key, ttl, encoded = self._streaming_request(entity_id, fields, ttl_seconds)
        if not encoded:
            return
        hsetex = await self.uses_hsetex()
        if hsetex:
            reply = await self.client.hsetex(key, mapping=encoded, ex=ttl)
        else:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping=encoded)
                pipe.hexpire(key, ttl, *encoded)
                reply = await pipe.execute()
        self._streaming_written(key, encoded, hsetex, reply)

    # -- inference path ----------------------------------------------------

    async def get_features(self, entity_id: str, names: Sequence[str], *, decode: bool = False) -> dict[str, Any]:
        """Read features of one entity with one ``HMGET``; see :meth:`fslib.FeatureStore.get_features`."""
        key, wanted = self._read_request(entity_id, names)
        if not wanted:
            return {}
        return self._read_result(wanted, (await self._hmget([key], wanted))[0], decode)

    async def _hmget(self, keys: list[str], wanted: list[str]) -> list[list[str | None]]:
        """One ``HMGET`` of ``wanted`` per key, all in one round trip."""
        return await execute_packed_async(self.client, pack_hmgets(keys, wanted, self.client.get_encoder()), len(keys))

    async def _batch_hmget(
        self, entity_ids: Sequence[str], names: Sequence[str]
    ) -> tuple[list[str], list[str], list[list[str | None]]]:
        ids, wanted, keys = self._batch_request(entity_ids, names)
        return ids, wanted, await self._hmget(keys, wanted) if keys else self._missing_rows(ids, wanted)

    async def batch_get_features(
        self, entity_ids: Sequence[str], names: Sequence[str], *, decode: bool = False
    ) -> dict[str, dict[str, Any]]:
        """Read the same features of many entities in one round trip; see :meth:`fslib.FeatureStore.batch_get_features`."""
        ids, wanted, rows = await self._batch_hmget(entity_ids, names)
        return self._results(wanted, ids, rows, decode)

    async def batch_get_frame(
        self, entity_ids: Sequence[str], names: Sequence[str], *, decode: bool = True
    ) -> pd.DataFrame:
        """:meth:`batch_get_features` as a DataFrame; see :meth:`fslib.FeatureStore.batch_get_frame`."""
        ids, wanted, rows = await self._batch_hmget(entity_ids, names)
        return self._frame(ids, wanted, rows, decode)

    # -- TTLs ----------------------------------------------------------------

    async def field_ttls_seconds(self, entity_id: str, names: Sequence[str]) -> dict[str, int]:
        """Per-field TTLs (``HTTL``): seconds left, -1 no field TTL, -2 missing."""
        key, wanted = self._read_request(entity_id, names)
        if not wanted:
            return {}
        return dict(zip(wanted, await self.client.httl(key, *wanted)))

    async def key_ttl_seconds(self, entity_id: str) -> int:
        """Key-level TTL (``TTL``): seconds left, -1 no expiry, -2 no such entity."""
        return int(await self.client.ttl(self.key_for(entity_id)))
