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
debugging           ``HGETALL``, ``TTL``, ``HTTL``                   :meth:`~FeatureStore.inspect`
housekeeping        ``SCAN`` + ``UNLINK``                            :meth:`~FeatureStore.reset`
==================  ===============================================  ==========================

Batch features share the key-level TTL (the batch cycle); streaming features
each carry their own field TTL, so a stalled pipeline shows up as missing data,
never as silently stale data.

Every method body is the redis-py calls themselves. ``transport="packed"``
hands the three batch-sized paths (bulk load, batch read, single read) to
:mod:`fslib.fast.packed`, which sends the same commands as pre-encoded buffers:
same answers, less Python per command.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cached_property
from itertools import islice
from typing import TYPE_CHECKING, Any, Literal

import redis
from redis.cluster import RedisCluster

from fslib.checks import check_feature_names, check_field_ttl_codes, check_ttl
from fslib.connection import parse_version, run_ids, server_version
from fslib.errors import InvariantError, LoadInterruptedError
from fslib.freshness import FeatureVector, FeatureVectors
from fslib.inspection import EntityInspection, FieldState
from fslib.keys import check_entity_id, check_entity_ids, check_prefix, entity_id_of, scan_pattern
from fslib.rows import Rows, found_features, present, rows_frame, write_in_chunks
from fslib.schema import DEFAULT_SCHEMA, EncodedFields, FeatureKind, FeatureValue, Schema
from fslib.stats import Counters, StoreStats

if TYPE_CHECKING:
    import pandas as pd

    from fslib.fast.packed import PackedTransport

__all__ = ["DEFAULT_CHUNK_SIZE", "Client", "EntityInspection", "FeatureStore", "FieldState", "StoreStats", "Transport"]

Client = redis.Redis | RedisCluster
"""A redis-py client for one server or a Redis Cluster, with ``decode_responses=True``."""
Transport = Literal["pipeline", "packed"]
"""How batches travel: redis-py pipelines, or :mod:`fslib.fast.packed` buffers."""
EncodedRow = tuple[str, EncodedFields]
"""A checked row on its way to Redis: the key and its fields."""

DEFAULT_CHUNK_SIZE = 200
"""Entities per round trip in :meth:`FeatureStore.bulk_load`.

Larger chunks barely raise throughput (the client's Python work is the limit)
and only grow the buffers; Redis serves other clients between the pieces of a
chunk it reads off the socket (16 KB at a time) either way (``make bench``,
"bulk load" and "reader during bulk load").
"""
_SCAN_COUNT = 1000
_UNLINK_BATCH = 500


class FeatureStore:
    """The read and write paths of an online feature store on Redis hashes.

    Args:
        client: A redis-py client with ``decode_responses=True`` (see :func:`fslib.connect`):
            one server, or a Redis Cluster.
        key_prefix: Every entity lives at ``key_prefix + entity_id``.
        batch_ttl_seconds: Key-level TTL given by :meth:`bulk_load` (the batch cycle).
        streaming_ttl_seconds: Field TTL given by :meth:`update_streaming`.
        schema: Feature types and kinds, for checks and typed reads.
        streaming_write: ``"hsetex"`` (one atomic ``HSETEX``, Redis >= 8.0),
            ``"multi"`` (``HSET`` + ``HEXPIRE`` in ``MULTI/EXEC``, Redis 7.4), or
            ``"auto"`` to pick by server version.
        transport: ``"pipeline"`` (redis-py pipelines) or ``"packed"``
            (pre-encoded buffers from :mod:`fslib.fast.packed`; same answers, faster).

    Raises:
        ValueError, TypeError: A TTL is not a whole number of seconds from 1 to 365 days,
            the prefix is empty or does not end with ``:``, or a mode is unknown.
    """

    def __init__(
        self,
        client: Client,
        key_prefix: str = "fs:user:",
        batch_ttl_seconds: int = 24 * 60 * 60,
        streaming_ttl_seconds: int = 5 * 60,
        *,
        schema: Schema = DEFAULT_SCHEMA,
        streaming_write: Literal["auto", "hsetex", "multi"] = "auto",
        transport: Transport = "pipeline",
    ) -> None:
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
        self._packed: PackedTransport | None = None
        if transport == "packed":
            from fslib.fast.packed import PackedTransport  # the opt-in speed layer; the core runs without it

            self._packed = PackedTransport(client)
        self._counters = Counters()

    def __repr__(self) -> str:
        return (
            f"FeatureStore(key_prefix={self.key_prefix!r}, batch_ttl_seconds={self.batch_ttl_seconds}, "
            f"streaming_ttl_seconds={self.streaming_ttl_seconds}, transport={self.transport!r})"
        )

    def key_for(self, entity_id: str) -> str:
        """The Redis key of one entity.

        Raises:
            TypeError, ValueError: ``entity_id`` is not a non-empty string (or integer).
        """
        return self.key_prefix + check_entity_id(entity_id)

    def stats(self) -> StoreStats:
        """A snapshot of the cumulative read/write counters (thread-safe)."""
        return self._counters.snapshot()

    def reset_stats(self) -> None:
        """Set every counter back to zero."""
        self._counters.reset()

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
        read once and checked chunk by chunk: a bad row stops the load and its
        error says how many entities were written before it (the writes are
        idempotent: fix the row and run the load again).

        Args:
            rows: id -> features, ``(id, features)`` pairs, or a DataFrame indexed by id.
            ttl_seconds: Key-level TTL; defaults to ``batch_ttl_seconds``.
            chunk_size: Entities per round trip.
            progress: Show a tqdm progress bar.

        Returns:
            The number of entities written.

        Raises:
            TypeError, ValueError: A row is malformed (the message names the entity and feature).
            InvariantError: ``EXPIRE`` did not give every entity its key TTL.
            LoadInterruptedError: Redis restarted during the load, losing what it had acknowledged.
        """
        ttl = self.batch_ttl_seconds if ttl_seconds is None else check_ttl(ttl_seconds)
        servers = run_ids(self.client)

        def write(chunks: Iterator[list[EncodedRow]]) -> Iterator[int]:
            if self._packed is not None:
                return self._packed.bulk_load(chunks, ttl)
            return (self._bulk_load_chunk(chunk, ttl) for chunk in chunks)

        written = self._write_checked(rows, FeatureKind.BATCH, write, chunk_size, progress)
        if run_ids(self.client) != servers:
            raise LoadInterruptedError(
                f"Redis restarted during the load of {written} entities: without persistence, what it "
                "acknowledged before the restart is gone. Run the load again (it writes the same values)."
            )
        return written

    def _bulk_load_chunk(self, chunk: list[EncodedRow], ttl: int) -> int:
        """One chunk as one pipeline: ``HSET key field value ...`` and ``EXPIRE key ttl`` per entity."""
        pipe = self.client.pipeline(transaction=False)
        for key, fields in chunk:
            pipe.hset(key, mapping=fields)
            pipe.expire(key, ttl)
        replies = pipe.execute()
        if not all(replies[1::2]):  # EXPIRE answers 0 only for a missing key, which HSET just wrote
            raise InvariantError(f"EXPIRE did not give every entity of a chunk its key TTL: {replies[1::2]}")
        return len(chunk)

    def _write_checked(
        self,
        rows: Rows,
        kind: FeatureKind,
        write: Callable[[Iterator[list[EncodedRow]]], Iterator[int]],
        chunk_size: int,
        progress: bool,
    ) -> int:
        """:func:`~fslib.rows.write_in_chunks` for this store, counting each chunk Redis acknowledged."""
        written = 0
        for done in write_in_chunks(
            rows, write, self.schema, kind, self.key_prefix, chunk_size=chunk_size, progress=progress
        ):
            written += done
            self._counters.wrote(kind.value, done)
        return written

    def update_batch_feature(self, entity_id: str, name: str, value: FeatureValue) -> None:
        """Refresh one batch feature by hand, leaving the key-level TTL alone.

        ``HSET`` + ``EXPIRE ... NX`` in ``MULTI``: an entity without a key TTL
        (a new one) gets ``batch_ttl_seconds``, so no entity is ever left without one.

        Raises:
            TypeError, ValueError: Bad id, name or value, or ``name`` is a streaming feature.
        """
        key = self.key_for(entity_id)
        fields = self.schema.encode({name: value}, FeatureKind.BATCH, entity_id)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(key, mapping=fields)
        pipe.expire(key, self.batch_ttl_seconds, nx=True)
        pipe.execute()
        self._counters.wrote("batch", 1)

    # -- streaming path ----------------------------------------------------

    @cached_property
    def uses_hsetex(self) -> bool:
        """Whether streaming writes use ``HSETEX`` (Redis >= 8.0) rather than ``MULTI`` (asked once)."""
        if self.streaming_write == "auto":
            return parse_version(server_version(self.client))[:1] >= (8,)
        return self.streaming_write == "hsetex"

    def update_streaming(
        self, entity_id: str, fields: Mapping[str, FeatureValue], ttl_seconds: int | None = None
    ) -> None:
        """Write streaming features and give each exactly ``ttl_seconds``, atomically, in one round trip.

        Args:
            entity_id: The entity.
            fields: Streaming feature name -> value; empty writes nothing.
            ttl_seconds: Field TTL; defaults to ``streaming_ttl_seconds``.

        Raises:
            TypeError, ValueError: Bad id, name, value or TTL, or a batch feature.
            InvariantError: Redis did not give every field its TTL.
        """
        key = self.key_for(entity_id)
        ttl = self.streaming_ttl_seconds if ttl_seconds is None else check_ttl(ttl_seconds)
        values = self.schema.encode(fields, FeatureKind.STREAMING, entity_id)
        if not values:
            return
        if self.uses_hsetex:
            # HSETEX key EX ttl FIELDS n field value ...: set and expire in one command (Redis >= 8.0).
            codes = [self.client.hsetex(key, mapping=values, ex=ttl)]
        else:
            # Redis 7.4: HSET, then HEXPIRE on the same fields, atomic in MULTI/EXEC.
            pipe = self.client.pipeline(transaction=True)
            pipe.hset(key, mapping=values)
            pipe.hexpire(key, ttl, *values)
            codes = pipe.execute()[1]
        check_field_ttl_codes("HSETEX" if self.uses_hsetex else "HEXPIRE", key, list(values), codes)
        self._counters.wrote("streaming", 1)

    def update_streaming_many(
        self,
        rows: Rows,
        ttl_seconds: int | None = None,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        progress: bool = False,
    ) -> int:
        """:meth:`update_streaming` for many entities, one round trip per chunk.

        ``HSETEX`` per entity in one pipeline (Redis >= 8.0), or ``HSET`` +
        ``HEXPIRE`` per entity in one ``MULTI`` per chunk (Redis 7.4; per entity
        on a cluster, where a transaction cannot span slots). Every reply is
        checked, and rows are checked as :meth:`bulk_load` checks them.

        Args:
            rows: id -> streaming features, ``(id, features)`` pairs, or a DataFrame indexed by id.
            ttl_seconds: Field TTL; defaults to ``streaming_ttl_seconds``.
            chunk_size: Entities per round trip.
            progress: Show a tqdm progress bar.

        Returns:
            The number of entities written.

        Raises:
            TypeError, ValueError: A row is malformed, or holds a batch feature.
            InvariantError: Redis did not give every field its TTL.
        """
        ttl = self.streaming_ttl_seconds if ttl_seconds is None else check_ttl(ttl_seconds)

        def write(chunks: Iterator[list[EncodedRow]]) -> Iterator[int]:
            return (self._streaming_chunk(chunk, ttl) for chunk in chunks)

        return self._write_checked(rows, FeatureKind.STREAMING, write, chunk_size, progress)

    def _streaming_chunk(self, chunk: list[EncodedRow], ttl: int) -> int:
        """One chunk: ``HSETEX`` per entity in one pipeline, or ``HSET`` + ``HEXPIRE`` in ``MULTI``; replies checked.

        ``MULTI`` covers the chunk on one server, each entity on a cluster (one round trip each).
        """
        if self.uses_hsetex:
            pipe = self.client.pipeline(transaction=False)
            for key, fields in chunk:
                pipe.hsetex(key, mapping=fields, ex=ttl)
            codes = [[code] for code in pipe.execute()]
        else:
            codes = []
            one_slot = isinstance(self.client, RedisCluster)
            for part in [[row] for row in chunk] if one_slot else [chunk]:
                pipe = self.client.pipeline(transaction=True)
                for key, fields in part:
                    pipe.hset(key, mapping=fields)
                    pipe.hexpire(key, ttl, *fields)
                codes += pipe.execute()[1::2]
        for (key, fields), entity_codes in zip(chunk, codes):
            check_field_ttl_codes("HSETEX" if self.uses_hsetex else "HEXPIRE", key, list(fields), entity_codes)
        return len(chunk)

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
        """
        key, wanted = self.key_for(entity_id), check_feature_names(names)
        if not wanted:
            return {}
        if self._packed is not None:
            values = self._packed.hmget_many([key], wanted)[0]
        else:
            values = self.client.hmget(key, wanted)
        found: dict[str, Any] = present(wanted, values)
        if decode:
            found = self.schema.decode(found)
        self._counters.read(1, len(found))
        return found

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
        """
        ids, wanted, rows = self._hmget_many(entity_ids, names)
        results = dict(zip(ids, found_features(wanted, rows, self.schema, decode)))
        self._counters.read(len(ids) if wanted else 0, sum(map(len, results.values())))
        return results

    def batch_get_frame(self, entity_ids: Sequence[str], names: Sequence[str], *, decode: bool = True) -> pd.DataFrame:
        """:meth:`batch_get_features` as a DataFrame: entities as rows, features as columns.

        Missing values are ``<NA>``. With ``decode`` the columns get nullable
        pandas dtypes from the schema (``Int64``, ``Float64``, ``boolean``, ``string``).
        """
        ids, wanted, rows = self._hmget_many(entity_ids, names)
        found = sum(len(row) - row.count(None) for row in rows)
        self._counters.read(len(ids) if wanted else 0, found)
        return rows_frame(ids, wanted, rows, self.schema, decode)

    def get_feature_vector(self, entity_id: str, names: Sequence[str]) -> FeatureVector:
        """Read features with their freshness: ``EXISTS`` + ``HMGET`` in one pipeline.

        Each feature comes back with a status (present, expired, missing,
        entity missing, unknown feature) and its typed value or schema default:
        see :mod:`fslib.freshness`.
        """
        return self.batch_get_feature_vectors([entity_id], names)[check_entity_id(entity_id)]

    def batch_get_feature_vectors(self, entity_ids: Sequence[str], names: Sequence[str]) -> FeatureVectors:
        """:meth:`get_feature_vector` for many entities: ``EXISTS`` + ``HMGET`` each, one round trip.

        Returns:
            Entity id -> :class:`~fslib.freshness.FeatureVector`; ``.to_frame()`` for a DataFrame.
        """
        ids, wanted = check_entity_ids(entity_ids), check_feature_names(names)
        known = [name for name in wanted if name in self.schema]
        pipe = self.client.pipeline(transaction=False)
        for entity_id in ids:
            pipe.exists(self.key_prefix + entity_id)
            if known:
                pipe.hmget(self.key_prefix + entity_id, known)
        vectors = FeatureVectors.from_replies(self.schema, ids, wanted, pipe.execute() if ids else [])
        self._counters.read(len(ids), vectors.present_count())
        return vectors

    def _hmget_many(
        self, entity_ids: Sequence[str], names: Sequence[str]
    ) -> tuple[list[str], list[str], list[list[str | None]]]:
        """Checked ids and names, and each id's ``HMGET`` answer: one pipeline, one round trip."""
        ids, wanted = check_entity_ids(entity_ids), check_feature_names(names)
        if not ids or not wanted:
            return ids, wanted, [[None] * len(wanted) for _ in ids]
        keys = [self.key_prefix + entity_id for entity_id in ids]
        if self._packed is not None:
            return ids, wanted, self._packed.hmget_many(keys, wanted)
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(key, wanted)
        return ids, wanted, pipe.execute()

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
        """
        key = self.key_for(entity_id)
        pipe = self.client.pipeline(transaction=True)
        pipe.hgetall(key)
        pipe.ttl(key)
        values, key_ttl = pipe.execute()
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
