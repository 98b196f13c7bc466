"""StoreCore: everything a feature store does that does not touch the socket, written once.

:class:`fslib.FeatureStore` (redis-py) and :class:`fslib.fast.AsyncFeatureStore`
(``redis.asyncio``) inherit it and keep only their redis-py calls: the settings
and their checks, keys, counters, the choice between ``HSETEX`` and
``MULTI``, what each read asks Redis for, and how replies become results all
live here, so the two stores cannot drift apart. The defaults of every entry
point (stores, worker, CLIs, HTTP server, dashboard) are defined here too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, NamedTuple, TypeVar

from fslib.checks import (
    EVENT_TIME_SUFFIX,
    check_entity_id,
    check_entity_ids,
    check_event_time,
    check_feature_names,
    check_field_ttl_codes,
    check_prefix,
    check_ttl,
)
from fslib.connection import parse_version
from fslib.errors import InvariantError, StoredDataError
from fslib.freshness import FeatureVectors, VectorRead, unreadable_key
from fslib.keys import slot_of
from fslib.rows import CheckedChunks, EncodedRow, EventTimes, Rows
from fslib.schema import DEFAULT_SCHEMA, EncodedFields, FeatureKind, FeatureValue, Schema, Storable
from fslib.scripts import GUARDED_WRITE
from fslib.stats import Counters, StoreStats, WriteResult

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_BATCH_TTL_SECONDS",
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_KEY_PREFIX",
    "DEFAULT_STREAMING_TTL_SECONDS",
    "READ_GROUP",
    "ClientT",
    "ReadPlan",
    "StoreCore",
    "StreamingWrite",
    "Transport",
    "hsetex_available",
]

DEFAULT_KEY_PREFIX = "fs:user:"
"""Where the Redis docs demo keeps its users: ``fs:user:{id}``."""
DEFAULT_BATCH_TTL_SECONDS = 24 * 60 * 60
"""Key-level TTL of a bulk load: the demo's daily batch cycle (choose about twice your refresh interval)."""
DEFAULT_STREAMING_TTL_SECONDS = 5 * 60
"""Field TTL of a streaming write: the demo's five minutes."""
DEFAULT_CHUNK_SIZE = 200
"""Entities per round trip of a bulk load or a many-entity streaming write.

Larger chunks barely raise throughput (the client's Python work is the limit)
and only grow the buffers; Redis serves other clients between the pieces of a
chunk it reads off the socket (16 KB at a time) either way (``make bench``,
"bulk load" and "reader during bulk load").
"""

READ_GROUP = 50
"""Keys per call of the read script: Redis runs a call as one step (~9 us per entity here), so a
batch of 1,000 holds other clients up for ~0.5 ms at a time, not ~9 ms."""
_NOTHING_READ = (1, ())
"""What an entity's read holds when only unknown features were asked: nothing sent, nothing to say."""

Transport = Literal["pipeline", "packed"]
"""How batches travel: redis-py pipelines, or :mod:`fslib.fast` pre-encoded buffers."""
StreamingWrite = Literal["auto", "hsetex", "multi"]
"""How streaming writes give fields their TTL: ``HSETEX`` (Redis 8), ``HSET`` + ``HEXPIRE`` in ``MULTI`` (7.4)."""


def hsetex_available(version: str) -> bool:
    """Whether a server of this ``redis_version`` has ``HSETEX`` (Redis >= 8.0)."""
    return parse_version(version)[:1] >= (8,)


class ReadPlan(NamedTuple):
    """What a batch read asks for: the checked ids, their keys and the feature names.

    ``keys`` is empty when no names were asked for: nothing to send, no round trip.
    """

    ids: list[str]
    keys: list[str]
    names: list[str]


ClientT = TypeVar("ClientT")
"""The kind of redis-py client a store talks through (sync or asyncio)."""


class StoreCore(Generic[ClientT]):
    """The settings, checks, plans and result shaping shared by the sync and the asyncio store.

    Args:
        client: The redis-py client, with ``decode_responses=True`` (each store says which kind).
        key_prefix: Every entity lives at ``key_prefix + entity_id``.
        batch_ttl_seconds: Key-level TTL of bulk loads and batch-feature refreshes (the batch cycle).
        streaming_ttl_seconds: Field TTL of streaming writes.
        schema: Feature types and kinds, for checks and typed reads.
        streaming_write: ``"hsetex"`` (one atomic ``HSETEX``, Redis >= 8.0),
            ``"multi"`` (``HSET`` + ``HEXPIRE`` in ``MULTI/EXEC``, Redis 7.4), or
            ``"auto"`` to pick by server version (asked once, on the first streaming write).
        transport: ``"pipeline"`` (redis-py pipelines) or ``"packed"``
            (pre-encoded buffers from :mod:`fslib.fast`; same commands and answers, faster).

    Raises:
        ValueError, TypeError: A TTL is not a whole number of seconds from 1 to 365 days,
            the prefix is empty or does not end with ``:``, or a mode is unknown.
    """

    def __init__(
        self,
        client: ClientT,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        batch_ttl_seconds: int = DEFAULT_BATCH_TTL_SECONDS,
        streaming_ttl_seconds: int = DEFAULT_STREAMING_TTL_SECONDS,
        *,
        schema: Schema = DEFAULT_SCHEMA,
        streaming_write: StreamingWrite = "auto",
        transport: Transport = "pipeline",
    ) -> None:
        if streaming_write not in ("auto", "hsetex", "multi"):
            raise ValueError(f"streaming_write must be 'auto', 'hsetex' or 'multi', got {streaming_write!r}")
        if transport not in ("pipeline", "packed"):
            raise ValueError(f"transport must be 'pipeline' or 'packed', got {transport!r}")
        self._check_client(client)
        self.client = client
        self.key_prefix = check_prefix(key_prefix)
        self.batch_ttl_seconds = check_ttl(batch_ttl_seconds, "batch_ttl_seconds")
        self.streaming_ttl_seconds = check_ttl(streaming_ttl_seconds, "streaming_ttl_seconds")
        self.schema = schema
        self.streaming_write = streaming_write
        self.transport = transport
        self._hsetex: bool | None = None if streaming_write == "auto" else streaming_write == "hsetex"
        self._counters = Counters()
        self._packed = self._packed_transport() if transport == "packed" else None
        self._guarded_write = client.register_script(GUARDED_WRITE)  # type: ignore[attr-defined]
        """``fslib/lua/guarded_write.lua`` as redis-py's Script: ``EVALSHA``, loaded again after a ``NOSCRIPT``."""

    def _check_client(self, client: ClientT) -> None:
        """Refuse a client this store cannot talk through (the asyncio store takes no sync client)."""

    def _packed_transport(self) -> Any:
        """The :mod:`fslib.fast` transport for this store's client (each store says which)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(key_prefix={self.key_prefix!r}, batch_ttl_seconds={self.batch_ttl_seconds}, "
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

    # -- writes ------------------------------------------------------------------

    def _ttl(self, ttl_seconds: int | None, default: int) -> int:
        return default if ttl_seconds is None else check_ttl(ttl_seconds)

    def _chunks(
        self, rows: Rows, kind: FeatureKind, chunk_size: int, progress: bool, event_time: EventTimes = None
    ) -> CheckedChunks:
        """``rows`` checked for a ``kind`` write; a bulk load counts each acknowledged chunk as it goes."""
        batch = kind is FeatureKind.BATCH
        return CheckedChunks(
            rows,
            self.schema,
            kind,
            self.key_prefix,
            chunk_size=chunk_size,
            progress=progress,
            on_acknowledged=(lambda entities: self._counters.wrote("batch", entities)) if batch else None,
            event_time=event_time,
        )

    def _batch_field(self, entity_id: str, name: str, value: FeatureValue) -> tuple[str, EncodedFields]:
        """The checked key and field of :meth:`~fslib.FeatureStore.update_batch_feature`."""
        return self.key_for(entity_id), self.schema.encode({name: value}, FeatureKind.BATCH, entity_id)

    def _streaming_write(self, entity_id: str, fields: Mapping[str, FeatureValue], event_time: object) -> EncodedRow:
        """The checked key, fields and event time (or None) of one streaming write; fields may be empty."""
        event_ms = None if event_time is None else check_event_time(event_time)
        return self.key_for(entity_id), self.schema.encode(fields, FeatureKind.STREAMING, entity_id), event_ms

    def _guarded_args(self, ttl: int, event_ms: int, fields: EncodedFields) -> list[Storable]:
        """``ARGV`` of ``fslib/lua/guarded_write.lua``: TTL, event time, write mode, suffix, then the fields.

        The write mode comes from :attr:`uses_hsetex`, which the caller asked first.
        """
        args: list[Storable] = [ttl, event_ms, 1 if self._hsetex else 0, EVENT_TIME_SUFFIX]
        for name, value in fields.items():
            args += (name, value)
        return args

    def _streamed(self, rows: Sequence[EncodedRow], replies: Sequence[Any]) -> WriteResult:
        """Check and count the replies of streaming writes, in the order the rows were sent.

        Per row: the guarded script's ``[applied, late, replayed]`` (rows with an event time),
        ``HSETEX``'s one code, or ``HSET``'s count then ``HEXPIRE``'s codes (Redis 7.4).

        Raises:
            InvariantError: Redis did not give every written field its TTL.
            redis.exceptions.ResponseError: A write failed (e.g. ``WRONGTYPE``).
        """
        result, replies_of = WriteResult(), iter(replies)
        for key, fields, event_ms in rows:
            reply = next(replies_of)
            if isinstance(reply, Exception):
                raise InvariantError(str(reply)) if "did not" in str(reply) else reply
            if event_ms is not None:
                applied, late, replayed = reply
                result += WriteResult(1, applied, late, replayed)
                continue
            if self._hsetex:
                check_field_ttl_codes("HSETEX", key, list(fields), [reply])
            else:  # HSET's count came first; HEXPIRE's codes follow
                check_field_ttl_codes("HEXPIRE", key, list(fields), next(replies_of))
            result += WriteResult(1, len(fields))
        self._counters.streamed(result)
        return result

    def _transactions(self, chunk: list[EncodedRow], cluster: bool) -> list[list[EncodedRow]]:
        """How a streaming chunk is sent: one pipeline, or with Redis 7.4's ``MULTI`` on a cluster one per entity.

        ``HSET`` + ``HEXPIRE`` go in a ``MULTI`` (Redis 7.4), and a transaction cannot span
        hash slots, where each entity's key has its own.
        """
        return [[row] for row in chunk] if cluster and not self._hsetex else [chunk]

    # -- reads ---------------------------------------------------------------------

    def _read_plan(self, entity_ids: Sequence[str], names: Sequence[str]) -> ReadPlan:
        """Checked ids and names, and the keys to send ``HMGET`` to (none without names).

        Raises:
            TypeError, ValueError: A bad id or name.
        """
        ids, wanted = check_entity_ids(entity_ids), check_feature_names(names)
        prefix = self.key_prefix
        return ReadPlan(ids, [prefix + entity_id for entity_id in ids] if wanted else [], wanted)

    def _present(self, entity_id: object, names: list[str], values: Sequence[Any], decode: bool) -> dict[str, Any]:
        """One ``HMGET`` reply as name -> value, without the missing (None) values, typed when ``decode``.

        Raises:
            StoredDataError: (``decode``) a stored value is not its feature's type.
        """
        found: dict[str, Any] = {name: value for name, value in zip(names, values) if value is not None}
        if decode:
            found = self.schema.decode(found, entity_id)
        self._counters.read(1, len(found))
        return found

    def _found(self, read: ReadPlan, rows: Sequence[Any], decode: bool) -> dict[str, dict[str, Any]]:
        """Each ``HMGET`` reply as name -> value, without the missing (None) values, typed when ``decode``.

        Raises:
            StoredDataError: An entity's key is not a hash, or (``decode``) a stored value is not its type.
        """
        if not read.keys:
            return {entity_id: {} for entity_id in read.ids}
        names = read.names
        try:
            found = {
                entity_id: {name: value for name, value in zip(names, row) if value is not None}
                for entity_id, row in zip(read.ids, rows)
            }
        except TypeError:  # an error reply (WRONGTYPE) stands where a row should be, and is no sequence
            raise self._unreadable(read, rows) from None
        if decode:
            found = {entity_id: self.schema.decode(fields, entity_id) for entity_id, fields in found.items()}
        self._counters.read(len(read.ids), sum(map(len, found.values())))
        return found

    def _unreadable(self, read: ReadPlan, rows: Sequence[Any]) -> StoredDataError:
        """The error naming the first entity whose reply was an error instead of a row."""
        entity_id, key, error = next(
            (i, k, r) for i, k, r in zip(read.ids, read.keys, rows) if isinstance(r, Exception)
        )
        return StoredDataError(f"entity {entity_id!r}: {unreadable_key(key, error)}")

    def _frame(self, read: ReadPlan, found: Mapping[str, Mapping[str, Any]], decode: bool) -> pd.DataFrame:
        """Batch-read results as a DataFrame: entities as rows, features as columns, ``<NA>`` where missing.

        With ``decode`` the columns get nullable pandas dtypes from the schema
        (``Int64``, ``Float64``, ``boolean``, ``string``; unknown features stay text).

        Raises:
            StoredDataError: (``decode``) a stored value is not its feature's type.
        """
        import pandas as pd

        rows = [found[entity_id] for entity_id in read.ids]
        index = pd.Index(read.ids, name="entity_id")
        data: dict[str, Any] = {}
        for name in read.names:
            texts = [row.get(name) for row in rows]
            spec = self.schema.get(name)
            if not decode:
                data[name] = pd.array(texts, dtype=object)
            elif spec is None or spec.dtype is str:
                data[name] = pd.array(texts, dtype="string")
            else:
                decode_one = self.schema.decode_one
                values = [None if text is None else decode_one(name, text, i) for text, i in zip(texts, read.ids)]
                data[name] = pd.array(values, dtype=spec.pandas_dtype)  # type: ignore[call-overload]
        return pd.DataFrame(data, index=index, columns=read.names)

    def _vector_plan(
        self, entity_ids: Sequence[str], names: Sequence[str], max_age_seconds: float | None, cluster: bool
    ) -> tuple[list[str], list[list[str]], VectorRead]:
        """Checked ids, the keys each read-script call takes, and the read's plan.

        A call takes at most :data:`READ_GROUP` keys, and on a cluster only keys of
        one hash slot (a script runs on one shard). No known feature asked: no call.

        Raises:
            TypeError, ValueError: A bad id, name or ``max_age_seconds``.
        """
        ids, wanted = check_entity_ids(entity_ids), check_feature_names(names)
        read = VectorRead(self.schema, wanted, self.key_prefix, max_age_seconds)
        keys = list(dict.fromkeys(self.key_prefix + entity_id for entity_id in ids)) if read.fields else []
        parts: list[list[str]] = [keys]
        if cluster:
            slots: dict[int, list[str]] = {}
            for key in keys:
                slots.setdefault(slot_of(key), []).append(key)
            parts = list(slots.values())
        groups = [part[start : start + READ_GROUP] for part in parts for start in range(0, len(part), READ_GROUP)]
        return ids, groups, read

    def _vectors(
        self, ids: list[str], read: VectorRead, groups: list[list[str]], replies: Sequence[Any]
    ) -> FeatureVectors:
        """The vectors of a freshness read: one ``[exists, values]`` per key from each script call.

        Raises:
            redis.exceptions.ResponseError: A whole call failed (a key's own error stays with its entity).
        """
        answers: dict[str, Any] = {}
        for group, reply in zip(groups, replies):
            if isinstance(reply, Exception):
                raise reply
            answers.update(zip(group, reply))
        prefix, vector = self.key_prefix, read.vector
        vectors = FeatureVectors()
        for entity_id in ids:
            exists, values = answers.get(prefix + entity_id, _NOTHING_READ)
            vectors[entity_id] = vector(entity_id, exists, values)
        self._counters.read(len(ids), vectors.present_count())
        return vectors
