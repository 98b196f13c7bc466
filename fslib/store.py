"""FeatureStore: the batch, streaming and inference paths of an online feature store on Redis hashes.

One hash per entity at ``{key_prefix}{entity_id}``, one field per feature.

==================  ===============================================  ==========================
path                Redis commands                                   method
==================  ===============================================  ==========================
batch, per cycle    ``HSET`` + ``EXPIRE`` per entity, one pipeline   :meth:`~FeatureStore.bulk_load`
                    per chunk
streaming, per      ``HSETEX key EX ttl FIELDS ...`` (Redis 8), or   :meth:`~FeatureStore.update_streaming`
event               ``HSET`` + ``HEXPIRE`` in ``MULTI`` (Redis 7.4)
inference           one ``HMGET``                                    :meth:`~FeatureStore.get_features`
batch scoring       one ``HMGET`` per entity, one pipeline           :meth:`~FeatureStore.batch_get_features`
with freshness      ``EXISTS`` + ``HMGET`` of each entity at one     :meth:`~FeatureStore.batch_get_feature_vectors`
                    moment: ``fslib/lua/read_vector.lua``
debugging           ``HGETALL``, ``TTL``, ``HTTL``                   :meth:`~FeatureStore.inspect`
housekeeping        ``SCAN`` + ``UNLINK``                            :meth:`~FeatureStore.reset`
==================  ===============================================  ==========================

Batch features share the key-level TTL (the batch cycle); streaming features
each carry their own field TTL, so a stalled pipeline shows up as missing data,
never as silently stale data.

Every method body is the redis-py calls themselves; what does not touch the
socket (checks, keys, counters, how replies become results) is in
:class:`fslib.core.StoreCore`, shared with the asyncio store. ``transport="packed"``
hands the three batch-sized paths (bulk load, batch read, single read) to
:mod:`fslib.fast`, which sends the same commands as pre-encoded buffers: same
answers, less Python per command.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any

import redis
from redis.cluster import RedisCluster

from fslib.checks import check_entity_id, check_feature_names, check_key_ttl_replies
from fslib.connection import run_ids, server_version
from fslib.core import DEFAULT_CHUNK_SIZE, StoreCore, hsetex_available
from fslib.errors import LoadInterruptedError, StoredDataError
from fslib.freshness import FeatureVector, FeatureVectors, unreadable_key
from fslib.inspection import EntityInspection, FieldState
from fslib.keys import entity_id_of, scan_pattern
from fslib.rows import EventTime, EventTimes, Rows
from fslib.schema import FeatureKind, Features, FeatureValue
from fslib.scripts import GUARDED_WRITE, READ_VECTOR
from fslib.stats import WriteResult

if TYPE_CHECKING:
    import pandas as pd

    from fslib.fast.transport import PackedTransport

__all__ = ["Client", "FeatureStore"]

Client = redis.Redis | RedisCluster
"""A redis-py client for one server or a Redis Cluster, with ``decode_responses=True``."""

_SCAN_COUNT = 1000
_UNLINK_BATCH = 500


class FeatureStore(StoreCore[Client]):
    """The read and write paths of an online feature store on Redis hashes.

    Args:
        client: A redis-py client with ``decode_responses=True`` (see :func:`fslib.connect`):
            one server, or a Redis Cluster.
        key_prefix: Every entity lives at ``key_prefix + entity_id``.
        batch_ttl_seconds: Key-level TTL of bulk loads and batch-feature refreshes (the batch cycle).
        streaming_ttl_seconds: Field TTL of streaming writes.
        schema, streaming_write, transport: See :class:`fslib.core.StoreCore`.

    Raises:
        ValueError, TypeError: A TTL is not a whole number of seconds from 1 to 365 days,
            the prefix is empty or does not end with ``:``, or a mode is unknown.
    """

    _packed: PackedTransport | None

    def _packed_transport(self) -> PackedTransport:
        from fslib.fast.transport import PackedTransport  # the opt-in speed layer; the core runs without it

        return PackedTransport(self.client)

    @property
    def cluster(self) -> bool:
        """Whether the client talks to a Redis Cluster (transactions and scripts then stay within one slot)."""
        return isinstance(self.client, RedisCluster)

    # -- batch path --------------------------------------------------------

    def bulk_load(
        self,
        rows: Rows,
        ttl_seconds: int | None = None,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        progress: bool = False,
    ) -> int:
        """Write batch features for many entities: ``HSET`` + ``EXPIRE`` each, one round trip per chunk.

        A container (mapping, list, tuple, DataFrame) is checked whole before
        the first write, so one bad row writes nothing. Any other iterable is
        read once and checked chunk by chunk: an error midway keeps its type and
        gets a note saying how many entities were written before it (the writes
        are idempotent: fix the cause and run the load again).

        Args:
            rows: id -> features, ``(id, features)`` pairs, or a DataFrame indexed by id.
            ttl_seconds: Key-level TTL; defaults to ``batch_ttl_seconds``.
            chunk_size: Entities per round trip.
            progress: Show a tqdm progress bar.

        Returns:
            The number of entities written.

        Raises:
            TypeError, ValueError: A row is malformed (the message names the entity and feature).
            InvariantError: ``EXPIRE`` did not give every entity its key TTL (deleted or evicted at once).
            LoadInterruptedError: Redis restarted during the load, losing what it had acknowledged.
        """
        ttl = self._ttl(ttl_seconds, self.batch_ttl_seconds)
        servers = run_ids(self.client)
        with self._chunks(rows, FeatureKind.BATCH, chunk_size, progress) as chunks:
            if self._packed is not None:  # the same HSET + EXPIRE pairs as pre-encoded buffers (fslib.fast)
                self._packed.bulk_load(chunks, ttl)
            else:
                for chunk in chunks:
                    pipe = self.client.pipeline(transaction=False)
                    for key, fields, _ in chunk:
                        pipe.hset(key, mapping=fields)
                        pipe.expire(key, ttl)
                    check_key_ttl_replies(chunk, pipe.execute()[1::2])
                    chunks.acknowledged(len(chunk))
        if run_ids(self.client) != servers:
            raise LoadInterruptedError(
                f"Redis restarted during the load of {chunks.written} entities: without persistence, what it "
                "acknowledged before the restart is gone. Run the load again (it writes the same values)."
            )
        return chunks.written

    def update_batch_feature(self, entity_id: str, name: str, value: FeatureValue) -> None:
        """Refresh one batch feature by hand, leaving the key-level TTL alone.

        ``HSET`` + ``EXPIRE ... NX`` in ``MULTI``: an entity without a key TTL
        (a new one) gets ``batch_ttl_seconds``, so no entity is ever left without one.

        Raises:
            TypeError, ValueError: Bad id, name or value, or ``name`` is a streaming feature.
        """
        key, fields = self._batch_field(entity_id, name, value)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(key, mapping=fields)
        pipe.expire(key, self.batch_ttl_seconds, nx=True)
        pipe.execute()
        self._counters.wrote("batch", 1)

    # -- streaming path ----------------------------------------------------

    @property
    def uses_hsetex(self) -> bool:
        """Whether streaming writes use ``HSETEX`` (Redis >= 8.0) rather than ``MULTI`` (asked once)."""
        if self._hsetex is None:
            self._hsetex = hsetex_available(server_version(self.client))
        return self._hsetex

    def update_streaming(
        self, entity_id: str, fields: Features, ttl_seconds: int | None = None, *, event_time: EventTime = None
    ) -> WriteResult:
        """Write streaming features and give each exactly ``ttl_seconds``, atomically, in one round trip.

        Without ``event_time`` the last write wins: ``HSETEX`` (or ``HSET`` + ``HEXPIRE``).
        With one, a field is written (with its event time beside it, both with the field
        TTL) only if it is newer than the event that wrote the stored value; an older
        event is late and a replay of the same one changes nothing (``fslib/lua/guarded_write.lua``).

        Args:
            entity_id: The entity.
            fields: Streaming feature name -> value; empty writes nothing.
            ttl_seconds: Field TTL; defaults to ``streaming_ttl_seconds``.
            event_time: When the event happened: epoch milliseconds, or a timezone-aware datetime.

        Returns:
            How many fields were applied, late or replayed.

        Raises:
            TypeError, ValueError: Bad id, name, value, TTL or event time, or a batch feature.
            InvariantError: Redis did not give every field its TTL.
        """
        ttl, hsetex = self._ttl(ttl_seconds, self.streaming_ttl_seconds), self.uses_hsetex
        row = key, values, event_ms = self._streaming_write(entity_id, fields, event_time)
        if not values:
            return WriteResult()
        if event_ms is not None:  # newer events only, compared and written in one script (EVALSHA)
            replies = [self._guarded_write(keys=[key], args=self._guarded_args(ttl, event_ms, values))]
        elif hsetex:  # HSETEX key EX ttl FIELDS n field value ...: set and expire in one command
            replies = [self.client.hsetex(key, mapping=values, ex=ttl)]
        else:  # Redis 7.4: HSET, then HEXPIRE on the same fields, atomic in MULTI/EXEC
            pipe = self.client.pipeline(transaction=True)
            pipe.hset(key, mapping=values)
            pipe.hexpire(key, ttl, *values)
            replies = pipe.execute()
        return self._streamed([row], replies)

    def update_streaming_many(
        self,
        rows: Rows,
        ttl_seconds: int | None = None,
        *,
        event_time: EventTimes = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        progress: bool = False,
    ) -> WriteResult:
        """:meth:`update_streaming` for many entities, one round trip per chunk.

        Per entity ``HSETEX`` (Redis >= 8.0), ``HSET`` + ``HEXPIRE`` in ``MULTI`` (Redis 7.4:
        one ``MULTI`` per chunk, per entity on a cluster, where a transaction cannot span
        slots), or with an event time one ``EVAL`` of ``fslib/lua/guarded_write.lua``.
        Every reply is checked, and rows are checked as :meth:`bulk_load` checks them.

        Args:
            rows: id -> streaming features, ``(id, features)`` pairs, or a DataFrame indexed by id
                (its ``event_time`` column, if any, gives each row's event time).
            ttl_seconds: Field TTL; defaults to ``streaming_ttl_seconds``.
            event_time: One event time for every row, or entity id -> event time.
            chunk_size: Entities per round trip.
            progress: Show a tqdm progress bar.

        Returns:
            How many entities were written, and how many fields were applied, late or replayed.

        Raises:
            TypeError, ValueError: A row is malformed, holds a batch feature, or lacks its event time.
            InvariantError: Redis did not give every field its TTL.
        """
        ttl, hsetex = self._ttl(ttl_seconds, self.streaming_ttl_seconds), self.uses_hsetex
        result = WriteResult()
        with self._chunks(rows, FeatureKind.STREAMING, chunk_size, progress, event_time) as chunks:
            for chunk in chunks:
                replies: list[Any] = []
                for part in self._transactions(chunk, self.cluster):  # the chunk, or per entity (see there)
                    pipe = self.client.pipeline(transaction=not hsetex)
                    for key, fields, event_ms in part:
                        if event_ms is not None:  # newer events only; EVAL: the cluster pipeline has no eval()
                            args = self._guarded_args(ttl, event_ms, fields)
                            pipe.execute_command("EVAL", GUARDED_WRITE, 1, key, *args)
                        elif hsetex:  # HSETEX per entity, one pipeline
                            pipe.hsetex(key, mapping=fields, ex=ttl)
                        else:  # Redis 7.4: HSET + HEXPIRE per entity inside MULTI
                            pipe.hset(key, mapping=fields)
                            pipe.hexpire(key, ttl, *fields)
                    replies += pipe.execute(raise_on_error=False)
                result += self._streamed(chunk, replies)
                chunks.acknowledged(len(chunk))
        return result

    # -- inference path ----------------------------------------------------

    def get_features(self, entity_id: str, names: Sequence[str], *, decode: bool = False) -> dict[str, Any]:
        """Read features of one entity with one ``HMGET``.

        Args:
            entity_id: The entity.
            names: The features the model needs, in any order.
            decode: Parse values into their schema types (else strings).

        Returns:
            Name -> value for every feature present, in request order; missing
            or expired features are left out. An empty ``names`` returns ``{}``
            without a round trip.

        Raises:
            StoredDataError: (``decode``) a stored value is not its feature's type.
        """
        key, wanted = self.key_for(entity_id), check_feature_names(names)
        if self._packed is not None:
            values = self._packed.hmget_one(key, wanted)
        else:
            values = self.client.hmget(key, wanted) if wanted else []  # no names, no round trip
        return self._present(entity_id, wanted, values, decode)

    def batch_get_features(
        self, entity_ids: Sequence[str], names: Sequence[str], *, decode: bool = False
    ) -> dict[str, dict[str, Any]]:
        """Read the same features of many entities: one ``HMGET`` each, all in one round trip.

        On a cluster, redis-py's cluster pipeline sends each primary its share
        at once: one round trip per shard, in parallel.

        Args:
            entity_ids: The entities (for batch scoring).
            names: The features to read.
            decode: Parse values into their schema types.

        Returns:
            Entity id -> (name -> value) for every requested entity; an entity
            that is absent maps to ``{}``.

        Raises:
            StoredDataError: An entity's key is not a hash, or (``decode``) a stored value is not its type.
        """
        read = self._read_plan(entity_ids, names)
        if self._packed is not None:  # the same HMGETs as one pre-encoded buffer (fslib.fast)
            rows = self._packed.hmget_many(read.keys, read.names)
        else:
            pipe = self.client.pipeline(transaction=False)
            for key in read.keys:
                pipe.hmget(key, read.names)
            rows = pipe.execute(raise_on_error=False)
        return self._found(read, rows, decode)

    def batch_get_frame(self, entity_ids: Sequence[str], names: Sequence[str], *, decode: bool = True) -> pd.DataFrame:
        """:meth:`batch_get_features` as a DataFrame: entities as rows, features as columns.

        Missing values are ``<NA>``. With ``decode`` the columns get nullable
        pandas dtypes from the schema (``Int64``, ``Float64``, ``boolean``, ``string``).
        """
        read = self._read_plan(entity_ids, names)
        return self._frame(read, self.batch_get_features(read.ids, read.names), decode)

    def get_feature_vector(
        self, entity_id: str, names: Sequence[str], *, max_age_seconds: float | None = None
    ) -> FeatureVector:
        """Read features with their freshness: ``EXISTS`` + ``HMGET`` at one moment, one round trip.

        Each feature comes back with a status (present, stale, expired, missing, entity
        missing, unknown feature, invalid), its typed value or schema default, and its
        event time where it was written with one: see :mod:`fslib.freshness`.

        Args:
            entity_id: The entity.
            names: The features the model needs.
            max_age_seconds: A value whose event time is older than this reads ``stale``
                (while its TTL has not run out yet); None: no age limit.
        """
        vectors = self.batch_get_feature_vectors([entity_id], names, max_age_seconds=max_age_seconds)
        return vectors[check_entity_id(entity_id)]

    def batch_get_feature_vectors(
        self, entity_ids: Sequence[str], names: Sequence[str], *, max_age_seconds: float | None = None
    ) -> FeatureVectors:
        """:meth:`get_feature_vector` for many entities in one round trip.

        Each entity's ``EXISTS`` and ``HMGET`` must see the same moment, or a
        concurrent delete would show an entity that exists with none of its
        features. ``fslib/lua/read_vector.lua`` reads them as one step: one
        ``EVAL`` per :data:`~fslib.core.READ_GROUP` entities (on a cluster, per
        hash slot), all in one pipeline. The packed transport sends the same calls.

        Returns:
            Entity id -> :class:`~fslib.freshness.FeatureVector`; ``.to_frame()`` for a DataFrame.
            A key that is not a hash gives its entity the status ``invalid``; the others are served.
        """
        ids, groups, read = self._vector_plan(entity_ids, names, max_age_seconds, self.cluster)
        if self._packed is not None:  # the same EVALs as one pre-encoded buffer (fslib.fast)
            replies = self._packed.eval_many(READ_VECTOR, groups, read.fields)
        else:
            pipe = self.client.pipeline(transaction=False)
            for keys in groups:  # EVAL script n key... field...: the cluster pipeline has no eval()
                pipe.execute_command("EVAL", READ_VECTOR, len(keys), *keys, *read.fields)
            replies = pipe.execute(raise_on_error=False)
        return self._vectors(ids, read, groups, replies)

    # -- TTLs and inspection -------------------------------------------------

    def field_ttls_seconds(self, entity_id: str, names: Sequence[str]) -> dict[str, int]:
        """Per-field TTLs (``HTTL``): seconds left, -1 no field TTL, -2 missing."""
        key, wanted = self.key_for(entity_id), check_feature_names(names)
        if not wanted:
            return {}
        return dict(zip(wanted, self.client.httl(key, *wanted)))

    def key_ttl_seconds(self, entity_id: str) -> int:
        """Key-level TTL (``TTL``): seconds left, -1 no expiry, -2 no such entity."""
        return int(self.client.ttl(self.key_for(entity_id)))

    def inspect(self, entity_id: str) -> EntityInspection:
        """The whole hash with every field's TTL and the key TTL.

        ``HGETALL`` + ``TTL``, then ``HTTL`` over the fields found: for debugging
        and feature discovery, never the request path (read what you need
        with :meth:`get_features`).

        Raises:
            StoredDataError: The entity's key is not a hash.
        """
        key = self.key_for(entity_id)
        pipe = self.client.pipeline(transaction=True)
        pipe.hgetall(key)
        pipe.ttl(key)
        values, key_ttl = pipe.execute(raise_on_error=False)
        if isinstance(values, Exception):
            raise StoredDataError(f"entity {entity_id!r}: {unreadable_key(key, values)}")
        ttls = self.client.httl(key, *values) if values else []
        fields = {
            name: FieldState(value, ttl)
            for (name, value), ttl in zip(values.items(), ttls)
            if ttl != -2  # expired between the two round trips
        }
        return EntityInspection(str(entity_id), key, int(key_ttl), fields)

    # -- housekeeping --------------------------------------------------------

    def _scan_keys(self) -> Iterator[str]:
        """Every key this store owns: ``SCAN`` (every primary on a cluster), never ``KEYS``.

        ``MATCH prefix*`` also finds the keys of stores with a longer prefix; those are skipped.
        """
        for key in self.client.scan_iter(match=scan_pattern(self.key_prefix), count=_SCAN_COUNT):
            if entity_id_of(self.key_prefix, key) is not None:
                yield key

    def count_entities(self) -> int:
        """How many entities exist under the prefix (``SCAN``)."""
        return sum(1 for _ in self._scan_keys())

    def list_entity_ids(self, limit: int | None = None) -> list[str]:
        """Entity ids under the prefix, sorted; at most ``limit`` of them (``SCAN``)."""
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        start = len(self.key_prefix)
        return sorted(key[start:] for key in islice(self._scan_keys(), limit))

    def delete_entity(self, entity_id: str) -> bool:
        """Delete one entity (``UNLINK``); True if it existed."""
        return bool(self.client.unlink(self.key_for(entity_id)))

    def reset(self) -> int:
        """Delete every entity under the prefix (``SCAN`` + ``UNLINK``), and nothing else.

        Returns:
            How many keys were deleted.
        """
        deleted = 0
        keys = self._scan_keys()
        while batch := list(islice(keys, _UNLINK_BATCH)):
            deleted += int(self.client.unlink(*batch))
        return deleted
