"""AsyncFeatureStore: the request-path reads and streaming writes over ``redis.asyncio``.

For a model server on an event loop (FastAPI, aiohttp): the same commands,
keys, checks, results and counters as :class:`fslib.FeatureStore`, awaited,
with the same two transports. Bulk loads, inspection and housekeeping stay on
the sync store: they are batch jobs, not requests.

One Redis server only: a ``redis.asyncio.cluster.RedisCluster`` is refused
(use the sync store on a cluster).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import redis.asyncio
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.asyncio.retry import Retry as AsyncRetry

from fslib.checks import check_feature_names, check_field_ttl_codes, check_ttl
from fslib.connection import (
    _client_options,
    _cluster_wanted,
    _single_server_options,
    _version_in_info,
    check_url,
    parse_version,
    require_version,
    resolve_url,
)
from fslib.fast.packed import execute_packed_async, pack_hmgets
from fslib.freshness import FeatureVector, FeatureVectors
from fslib.keys import check_entity_id, check_entity_ids, check_prefix
from fslib.rows import found_features, present, rows_frame
from fslib.schema import DEFAULT_SCHEMA, FeatureKind, FeatureValue, Schema
from fslib.stats import Counters, StoreStats
from fslib.store import Transport

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
        ValueError: The URL is malformed (see :func:`fslib.connection.check_url`), or
            ``REDIS_CLUSTER`` asks for a cluster (the asyncio API serves one server).
        RedisVersionError: The server is older than 7.4.
        redis.ConnectionError: The server cannot be reached.
    """
    if _cluster_wanted(None):
        raise ValueError("REDIS_CLUSTER is set, but fslib's asyncio API serves one Redis server; use fslib.connect()")
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
            require_version(_version_in_info(await client.info("server")), url)
        except BaseException:
            await client.aclose()
            raise
    return client


class AsyncFeatureStore:
    """:class:`fslib.FeatureStore`'s request path, awaited: reads, batch reads, streaming writes, TTLs.

    Args:
        client: A ``redis.asyncio.Redis`` with ``decode_responses=True`` (see :func:`connect_async`).
        key_prefix, batch_ttl_seconds, streaming_ttl_seconds, schema, streaming_write, transport:
            As for :class:`fslib.FeatureStore`.

    Raises:
        TypeError: ``client`` is not a ``redis.asyncio.Redis`` (a sync or cluster client).
        ValueError, TypeError: A TTL is not a positive integer, the prefix is empty, or a mode is unknown.
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        key_prefix: str = "fs:user:",
        batch_ttl_seconds: int = 24 * 60 * 60,
        streaming_ttl_seconds: int = 5 * 60,
        *,
        schema: Schema = DEFAULT_SCHEMA,
        streaming_write: Literal["auto", "hsetex", "multi"] = "auto",
        transport: Transport = "pipeline",
    ) -> None:
        if isinstance(client, AsyncRedisCluster):
            raise TypeError("AsyncFeatureStore serves one Redis server, not a cluster: use fslib.FeatureStore there")
        if not isinstance(client, redis.asyncio.Redis):
            raise TypeError(
                f"AsyncFeatureStore needs a redis.asyncio.Redis client (see connect_async), got {type(client).__name__}"
            )
        if streaming_write not in ("auto", "hsetex", "multi"):
            raise ValueError(f"streaming_write must be 'auto', 'hsetex' or 'multi', got {streaming_write!r}")
        if transport not in ("pipeline", "packed"):
            raise ValueError(f"transport must be 'pipeline' or 'packed', got {transport!r}")
        self.client = client
        self.key_prefix = check_prefix(key_prefix)
        self.batch_ttl_seconds = check_ttl(batch_ttl_seconds, "batch_ttl_seconds")
        self.streaming_ttl_seconds = check_ttl(streaming_ttl_seconds, "streaming_ttl_seconds")
        self.schema = schema
        self.streaming_write = streaming_write
        self.transport = transport
        self._hsetex: bool | None = None
        self._counters = Counters()

    def __repr__(self) -> str:
        return f"AsyncFeatureStore(key_prefix={self.key_prefix!r}, transport={self.transport!r})"

    def key_for(self, entity_id: str) -> str:
        """The Redis key of one entity (see :meth:`fslib.FeatureStore.key_for`)."""
        return self.key_prefix + check_entity_id(entity_id)

    def stats(self) -> StoreStats:
        """A snapshot of the cumulative read/write counters."""
        return self._counters.snapshot()

    # -- streaming path ----------------------------------------------------

    async def uses_hsetex(self) -> bool:
        """Whether streaming writes use ``HSETEX`` (Redis >= 8.0) rather than ``MULTI`` (asked once)."""
        if self._hsetex is None:
            if self.streaming_write == "auto":
                version = _version_in_info(await self.client.info("server"))
                self._hsetex = parse_version(version)[:1] >= (8,)
            else:
                self._hsetex = self.streaming_write == "hsetex"
        return self._hsetex

    async def update_streaming(
        self, entity_id: str, fields: Mapping[str, FeatureValue], ttl_seconds: int | None = None
    ) -> None:
        """Write streaming features, each with exactly ``ttl_seconds``, in one atomic round trip.

        See :meth:`fslib.FeatureStore.update_streaming` (same checks, errors and commands).
        """
        key = self.key_for(entity_id)
        ttl = self.streaming_ttl_seconds if ttl_seconds is None else check_ttl(ttl_seconds)
        values = self.schema.encode(fields, FeatureKind.STREAMING, entity_id)
        if not values:
            return
        hsetex = await self.uses_hsetex()
        if hsetex:
            codes = [await self.client.hsetex(key, mapping=values, ex=ttl)]
        else:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping=values)
                pipe.hexpire(key, ttl, *values)
                codes = (await pipe.execute())[1]
        check_field_ttl_codes("HSETEX" if hsetex else "HEXPIRE", key, list(values), codes)
        self._counters.wrote("streaming", 1)

    # -- inference path ----------------------------------------------------

    async def get_features(self, entity_id: str, names: Sequence[str], *, decode: bool = False) -> dict[str, Any]:
        """Read features of one entity with one ``HMGET``; see :meth:`fslib.FeatureStore.get_features`."""
        key, wanted = self.key_for(entity_id), check_feature_names(names)
        if not wanted:
            return {}
        if self.transport == "packed":
            values = (
                await execute_packed_async(self.client, pack_hmgets([key], wanted, self.client.get_encoder()), 1)
            )[0]
        else:
            values = await self.client.hmget(key, wanted)
        found: dict[str, Any] = present(wanted, values)
        if decode:
            found = self.schema.decode(found)
        self._counters.read(1, len(found))
        return found

    async def batch_get_features(
        self, entity_ids: Sequence[str], names: Sequence[str], *, decode: bool = False
    ) -> dict[str, dict[str, Any]]:
        """Read the same features of many entities in one round trip; see ``FeatureStore.batch_get_features``."""
        ids, wanted, rows = await self._hmget_many(entity_ids, names)
        results = dict(zip(ids, found_features(wanted, rows, self.schema, decode)))
        self._counters.read(len(ids) if wanted else 0, sum(map(len, results.values())))
        return results

    async def batch_get_frame(
        self, entity_ids: Sequence[str], names: Sequence[str], *, decode: bool = True
    ) -> pd.DataFrame:
        """:meth:`batch_get_features` as a DataFrame; see :meth:`fslib.FeatureStore.batch_get_frame`."""
        ids, wanted, rows = await self._hmget_many(entity_ids, names)
        found = sum(len(row) - row.count(None) for row in rows)
        self._counters.read(len(ids) if wanted else 0, found)
        return rows_frame(ids, wanted, rows, self.schema, decode)

    async def get_feature_vector(self, entity_id: str, names: Sequence[str]) -> FeatureVector:
        """Features with their freshness; see ``FeatureStore.get_feature_vector`` (``EXISTS`` + ``HMGET``)."""
        return (await self.batch_get_feature_vectors([entity_id], names))[check_entity_id(entity_id)]

    async def batch_get_feature_vectors(self, entity_ids: Sequence[str], names: Sequence[str]) -> FeatureVectors:
        """Many entities' features with their freshness, in one round trip (``EXISTS`` + ``HMGET`` each)."""
        ids, wanted = check_entity_ids(entity_ids), check_feature_names(names)
        known = [name for name in wanted if name in self.schema]
        replies: list[Any] = []
        if ids:
            async with self.client.pipeline(transaction=False) as pipe:
                for entity_id in ids:
                    pipe.exists(self.key_prefix + entity_id)
                    if known:
                        pipe.hmget(self.key_prefix + entity_id, known)
                replies = await pipe.execute()
        vectors = FeatureVectors.from_replies(self.schema, ids, wanted, replies)
        self._counters.read(len(ids), vectors.present_count())
        return vectors

    async def _hmget_many(
        self, entity_ids: Sequence[str], names: Sequence[str]
    ) -> tuple[list[str], list[str], list[list[str | None]]]:
        ids, wanted = check_entity_ids(entity_ids), check_feature_names(names)
        if not ids or not wanted:
            return ids, wanted, [[None] * len(wanted) for _ in ids]
        keys = [self.key_prefix + entity_id for entity_id in ids]
        if self.transport == "packed":
            payload = pack_hmgets(keys, wanted, self.client.get_encoder())
            return ids, wanted, await execute_packed_async(self.client, payload, len(keys))
        async with self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hmget(key, wanted)
            return ids, wanted, await pipe.execute()

    # -- TTLs ----------------------------------------------------------------

    async def field_ttls_seconds(self, entity_id: str, names: Sequence[str]) -> dict[str, int]:
        """Per-field TTLs (``HTTL``): seconds left, -1 no field TTL, -2 missing."""
        key, wanted = self.key_for(entity_id), check_feature_names(names)
        if not wanted:
            return {}
        return dict(zip(wanted, await self.client.httl(key, *wanted)))

    async def key_ttl_seconds(self, entity_id: str) -> int:
        """Key-level TTL (``TTL``): seconds left, -1 no expiry, -2 no such entity."""
        return int(await self.client.ttl(self.key_for(entity_id)))
