"""AsyncFeatureStore: the request path of :class:`fslib.FeatureStore`, awaited on ``redis.asyncio``.

For a model server on an event loop (FastAPI, aiohttp). It inherits
:class:`fslib.core.StoreCore` with the sync store, so the keys, checks,
counters, results and errors are the same code; only the redis-py calls below
differ, by an ``await``. Bulk loads, inspection and housekeeping stay on the
sync store: they are batch jobs, not requests.

One Redis server only: a ``redis.asyncio.cluster.RedisCluster`` is refused
(use the sync store on a cluster).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import redis.asyncio
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

from fslib.checks import check_entity_id, check_feature_names
from fslib.connection import version_in_info
from fslib.core import StoreCore, hsetex_available
from fslib.fast.transport import AsyncPackedTransport
from fslib.freshness import FeatureVector, FeatureVectors
from fslib.rows import EventTime
from fslib.schema import Features, FeatureValue
from fslib.scripts import READ_VECTOR
from fslib.stats import WriteResult

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["AsyncFeatureStore"]


class AsyncFeatureStore(StoreCore[redis.asyncio.Redis]):
    """:class:`fslib.FeatureStore`'s request path, awaited: reads, batch reads, freshness reads, writes, TTLs.

    Args:
        client: A ``redis.asyncio.Redis`` with ``decode_responses=True`` (see :func:`fslib.connect_async`).
        key_prefix, batch_ttl_seconds, streaming_ttl_seconds, schema, streaming_write, transport:
            As for :class:`fslib.FeatureStore` (:class:`fslib.core.StoreCore` checks them).

    Raises:
        TypeError: ``client`` is not a ``redis.asyncio.Redis`` (a sync or cluster client).
        ValueError, TypeError: A setting is out of range (as for the sync store).
    """

    _packed: AsyncPackedTransport | None

    def _check_client(self, client: redis.asyncio.Redis) -> None:
        if isinstance(client, AsyncRedisCluster):
            raise TypeError("AsyncFeatureStore serves one Redis server, not a cluster: use fslib.FeatureStore there")
        if not isinstance(client, redis.asyncio.Redis):
            raise TypeError(
                f"AsyncFeatureStore needs a redis.asyncio.Redis client (see connect_async), got {type(client).__name__}"
            )

    def _packed_transport(self) -> AsyncPackedTransport:
        return AsyncPackedTransport(self.client)

    # -- writes ----------------------------------------------------------------

    async def update_batch_feature(self, entity_id: str, name: str, value: FeatureValue) -> None:
        """See :meth:`fslib.FeatureStore.update_batch_feature` (``HSET`` + ``EXPIRE ... NX`` in ``MULTI``)."""
        key, fields = self._batch_field(entity_id, name, value)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)
            pipe.expire(key, self.batch_ttl_seconds, nx=True)
            await pipe.execute()
        self._counters.wrote("batch", 1)

    async def uses_hsetex(self) -> bool:
        """Whether streaming writes use ``HSETEX`` (Redis >= 8.0) rather than ``MULTI`` (asked once)."""
        if self._hsetex is None:
            self._hsetex = hsetex_available(version_in_info(await self.client.info("server")))
        return self._hsetex

    async def update_streaming(
        self, entity_id: str, fields: Features, ttl_seconds: int | None = None, *, event_time: EventTime = None
    ) -> WriteResult:
        """See :meth:`fslib.FeatureStore.update_streaming` (same checks, commands, script and result)."""
        row = key, values, event_ms = self._streaming_write(entity_id, fields, event_time)
        ttl, hsetex = self._ttl(ttl_seconds, self.streaming_ttl_seconds), await self.uses_hsetex()
        if not values:
            return WriteResult()
        if event_ms is not None:
            replies = [await self._guarded_write(keys=[key], args=self._guarded_args(ttl, event_ms, values))]
        elif hsetex:
            replies = [await self.client.hsetex(key, mapping=values, ex=ttl)]
        else:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping=values)
                pipe.hexpire(key, ttl, *values)
                replies = await pipe.execute()
        return self._streamed([row], replies)

    # -- reads ---------------------------------------------------------------------

    async def get_features(self, entity_id: str, names: Sequence[str], *, decode: bool = False) -> dict[str, Any]:
        """See :meth:`fslib.FeatureStore.get_features` (one ``HMGET``)."""
        key, wanted = self.key_for(entity_id), check_feature_names(names)
        if self._packed is not None:
            values = await self._packed.hmget_one(key, wanted)
        else:
            values = await self.client.hmget(key, wanted) if wanted else []
        return self._present(entity_id, wanted, values, decode)

    async def batch_get_features(
        self, entity_ids: Sequence[str], names: Sequence[str], *, decode: bool = False
    ) -> dict[str, dict[str, Any]]:
        """See :meth:`fslib.FeatureStore.batch_get_features` (one ``HMGET`` per entity, one round trip)."""
        read = self._read_plan(entity_ids, names)
        if self._packed is not None:
            rows = await self._packed.hmget_many(read.keys, read.names)
        else:
            async with self.client.pipeline(transaction=False) as pipe:
                for key in read.keys:
                    pipe.hmget(key, read.names)
                rows = await pipe.execute(raise_on_error=False)
        return self._found(read, rows, decode)

    async def batch_get_frame(
        self, entity_ids: Sequence[str], names: Sequence[str], *, decode: bool = True
    ) -> pd.DataFrame:
        """See :meth:`fslib.FeatureStore.batch_get_frame`."""
        read = self._read_plan(entity_ids, names)
        return self._frame(read, await self.batch_get_features(read.ids, read.names), decode)

    async def get_feature_vector(
        self, entity_id: str, names: Sequence[str], *, max_age_seconds: float | None = None
    ) -> FeatureVector:
        """See :meth:`fslib.FeatureStore.get_feature_vector`."""
        vectors = await self.batch_get_feature_vectors([entity_id], names, max_age_seconds=max_age_seconds)
        return vectors[check_entity_id(entity_id)]

    async def batch_get_feature_vectors(
        self, entity_ids: Sequence[str], names: Sequence[str], *, max_age_seconds: float | None = None
    ) -> FeatureVectors:
        """See :meth:`fslib.FeatureStore.batch_get_feature_vectors` (``fslib/lua/read_vector.lua``)."""
        ids, groups, read = self._vector_plan(entity_ids, names, max_age_seconds, cluster=False)
        if self._packed is not None:
            replies = await self._packed.eval_many(READ_VECTOR, groups, read.fields)
        else:
            async with self.client.pipeline(transaction=False) as pipe:
                for keys in groups:
                    pipe.eval(READ_VECTOR, len(keys), *keys, *read.fields)
                replies = await pipe.execute(raise_on_error=False)
        return self._vectors(ids, read, groups, replies)

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
