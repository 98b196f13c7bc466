"""FeatureStore: the batch, streaming and inference paths over Redis hashes.

One hash per entity at ``{key_prefix}{entity_id}``, one field per feature.
Batch features are bulk-loaded with a key-level ``EXPIRE`` (the batch cycle);
streaming features carry a per-field TTL, so a stalled pipeline shows up as
missing data instead of stale data.
"""

from __future__ import annotations

import logging
import numbers
import pickle
import tempfile
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property, partial
from itertools import chain, islice
from typing import TYPE_CHECKING, Any, Literal, Union

import redis
from tqdm.auto import tqdm

from fslib.errors import InvariantError
from fslib.schema import DEFAULT_SCHEMA, FeatureKind, FeatureValue, Schema, check_feature_name, decode_value
from fslib.packed import PackedStream, bulk_load_by_node, execute_packed, hmget_by_node, pack_bulk_load, pack_hmgets
from fslib.server import parse_version, server_version

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "EntityInspection",
    "FeatureStore",
    "FieldState",
    "Rows",
    "StoreStats",
    "check_entity_id",
    "check_field_ttl_codes",
    "check_ttl",
]

Rows = Union[
    Mapping[str, Mapping[str, object]],
    Iterable[tuple[str, Mapping[str, object]]],
    "pd.DataFrame",
]
"""Input of :meth:`FeatureStore.bulk_load`: id -> features, ``(id, features)`` pairs, or a DataFrame."""

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 200
"""Entities per buffer in :meth:`FeatureStore.bulk_load`.

Larger chunks barely raise throughput past ~200 (the client's encoding is the
limit) and only grow the buffer; Redis serves other clients between the
chunk's commands either way (``make bench``, sections "bulk load" and
"reader during bulk load").
"""

_SPOOL_BYTES = 32 * 1024 * 1024
"""Encoded rows kept in memory by :meth:`FeatureStore.bulk_load` before spilling to a temporary file."""
_SCAN_COUNT = 1000
_UNLINK_BATCH = 500


def check_entity_id(entity_id: object) -> str:
    """Return ``entity_id`` as a string; integers are accepted and converted.

    Raises:
        TypeError: Not a string or integer.
        ValueError: Empty.
    """
    if type(entity_id) is str and entity_id:  # the common case, without the ABC checks below
        return entity_id
    if isinstance(entity_id, numbers.Integral) and not isinstance(entity_id, bool):
        return str(int(entity_id))
    if not isinstance(entity_id, str):
        raise TypeError(f"entity id must be a string, got {type(entity_id).__name__}: {entity_id!r}")
    if not entity_id:
        raise ValueError("entity id must not be empty")
    return entity_id


def check_ttl(ttl_seconds: object, what: str = "ttl_seconds") -> int:
    """Return ``ttl_seconds`` if it is a positive whole number of seconds.

    Raises:
        TypeError: Not an integer (floats are refused: Redis TTLs are whole seconds).
        ValueError: Zero or negative.
    """
    if not isinstance(ttl_seconds, numbers.Integral) or isinstance(ttl_seconds, bool):
        raise TypeError(f"{what} must be an integer number of seconds, got {ttl_seconds!r}")
    if ttl_seconds <= 0:
        raise ValueError(f"{what} must be > 0, got {ttl_seconds}")
    return int(ttl_seconds)


def check_field_ttl_codes(command: str, key: str, fields: list[str], codes: Sequence[int]) -> None:
    """Raise unless every code is 1, i.e. every written field got its TTL.

    HEXPIRE answers per field: 1 TTL set, 0 NX/XX/GT/LT condition not met,
    2 deleted because the TTL was <= 0, -2 no such field or key. HSETEX
    answers one 1 when all fields were set with their expiry.

    Raises:
        InvariantError: Naming the command, key, fields and codes.
    """
    if any(code != 1 for code in codes):
        raise InvariantError(
            f"{command} invariant violated: not every field of {key} got its TTL: "
            f"fields {fields}, codes {list(codes)} (1 set, 0 condition not met, "
            "2 deleted as TTL <= 0, -2 no such field or key)"
        )


def _check_names(names: Sequence[str] | str) -> list[str]:
    if isinstance(names, str):
        raise TypeError("feature names must be a list of strings, not one string")
    wanted = list(names)
    for name in wanted:
        if type(name) is not str or not name:  # on every read: one call only for the odd name
            check_feature_name(name)
    return wanted


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


@dataclass(frozen=True)
class StoreStats:
    """Cumulative counters of one :class:`FeatureStore` (a snapshot)."""

    batch_writes: int = 0
    """Entities written by :meth:`FeatureStore.bulk_load` and batch-field refreshes."""
    streaming_writes: int = 0
    """Calls of :meth:`FeatureStore.update_streaming` that wrote something."""
    reads: int = 0
    """Entities read (one ``HMGET`` each)."""
    fields_read: int = 0
    """Feature values returned by those reads (missing fields not counted)."""

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return asdict(self)


@dataclass(frozen=True)
class FieldState:
    """One field of an inspected hash."""

    value: str
    ttl_seconds: int
    """Seconds left on the field's own TTL, or -1 when only the key TTL covers it."""


@dataclass(frozen=True)
class EntityInspection:
    """The whole hash of one entity, with field TTLs and the key TTL (debugging only)."""

    entity_id: str
    key: str
    key_ttl_seconds: int
    """``TTL`` of the key: seconds left, -1 no expiry, -2 no such entity."""
    fields: dict[str, FieldState] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        """False when the entity is absent (never written, expired or deleted)."""
        return self.key_ttl_seconds != -2

    def to_frame(self, schema: Schema = DEFAULT_SCHEMA) -> pd.DataFrame:
        """The fields as a DataFrame: value, kind (from ``schema``) and TTL."""
        import pandas as pd

        rows = [
            {
                "feature": name,
                "value": state.value,
                "kind": spec.kind.value if (spec := schema.get(name)) else "unknown",
                "field_ttl_seconds": state.ttl_seconds,
            }
            for name, state in self.fields.items()
        ]
        return pd.DataFrame(rows, columns=["feature", "value", "kind", "field_ttl_seconds"])

    def __str__(self) -> str:
        if not self.exists:
            return f"{self.key}: no such entity (never written, expired or deleted)"
        key_ttl = "no expiry" if self.key_ttl_seconds == -1 else f"{self.key_ttl_seconds} s"
        lines = [f"{self.key}    TTL = {key_ttl} (key-level)"]
        width = max((len(n) + len(s.value) for n, s in self.fields.items()), default=0) + 3
        for name, state in self.fields.items():
            ttl = "<no field TTL>" if state.ttl_seconds == -1 else f"TTL = {state.ttl_seconds} s (field)"
            lines.append(f"  {f'{name}={state.value}':<{width}} {ttl}")
        return "\n".join(lines)


class _StoreCore:
    """What :class:`FeatureStore` and :class:`fslib.aio.AsyncFeatureStore` share: checks, keys,
    encoding, result building, counters and path choices, without any I/O.

    Args and Raises: see :class:`FeatureStore`.
    """

    def __init__(
        self,
        client: Any,
        key_prefix: str = "fs:user:",
        batch_ttl_seconds: int = 24 * 60 * 60,
        streaming_ttl_seconds: int = 5 * 60,
        *,
        schema: Schema = DEFAULT_SCHEMA,
        streaming_write: Literal["auto", "hsetex", "multi"] = "auto",
    ) -> None:
        if not isinstance(key_prefix, str) or not key_prefix:
            raise ValueError("key_prefix must be a non-empty string")
        if streaming_write not in ("auto", "hsetex", "multi"):
            raise ValueError(f"streaming_write must be 'auto', 'hsetex' or 'multi', got {streaming_write!r}")
        self.client = client
        self.key_prefix = key_prefix
        self.batch_ttl_seconds = check_ttl(batch_ttl_seconds, "batch_ttl_seconds")
        self.streaming_ttl_seconds = check_ttl(streaming_ttl_seconds, "streaming_ttl_seconds")
        self.schema = schema
        self._streaming_write = streaming_write
        self._cluster = self._on_cluster(client)
        self._stats_lock = threading.Lock()
        self._counters = StoreStats().as_dict()

    @staticmethod
    def _on_cluster(client: Any) -> bool:
        """Whether ``client`` is a cluster client (a subclass raises ``TypeError`` for one it cannot use)."""
        return isinstance(client, redis.cluster.RedisCluster)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(key_prefix={self.key_prefix!r}, batch_ttl_seconds={self.batch_ttl_seconds}, "
            f"streaming_ttl_seconds={self.streaming_ttl_seconds})"
        )

    # -- keys and counters -------------------------------------------------

    def key_for(self, entity_id: str) -> str:
        """The Redis key of one entity.

        Raises:
            TypeError, ValueError: ``entity_id`` is not a non-empty string (or integer).
        """
        return self.key_prefix + check_entity_id(entity_id)

    def _count(self, *, reads: int = 0, fields_read: int = 0, batch_writes: int = 0, streaming_writes: int = 0) -> None:
        # On every read, so plain adds under the lock: no dataclass or kwargs dict per call.
        with self._stats_lock:
            counters = self._counters
            counters["reads"] += reads
            counters["fields_read"] += fields_read
            counters["batch_writes"] += batch_writes
            counters["streaming_writes"] += streaming_writes

    def stats(self) -> StoreStats:
        """A snapshot of the cumulative read/write counters (thread-safe)."""
        with self._stats_lock:
            return StoreStats(**self._counters)

    def reset_stats(self) -> None:
        """Set every counter back to zero."""
        with self._stats_lock:
            self._counters = StoreStats().as_dict()

    # -- pure halves of the request paths ------------------------------------

    def _choose_hsetex(self, version: str | None) -> bool:
        """HSETEX or MULTI; the server's ``version`` is only read when ``streaming_write="auto"``."""
        if self._streaming_write != "auto":
            return self._streaming_write == "hsetex"
        assert version is not None, "streaming_write='auto' needs the server version"
        return parse_version(version)[:1] >= (8,)

    def _streaming_request(
        self, entity_id: str, fields: Mapping[str, FeatureValue], ttl_seconds: int | None
    ) -> tuple[str, int, dict[str, str]]:
        """The key, TTL and encoded fields of a streaming write (no fields: nothing to write)."""
        key = self.key_for(entity_id)
        ttl = self.streaming_ttl_seconds if ttl_seconds is None else check_ttl(ttl_seconds)
        return key, ttl, self._encode(entity_id, fields, FeatureKind.STREAMING)

    def _encode(self, entity_id: object, features: Mapping[str, object], kind: FeatureKind) -> dict[str, str]:
        """:meth:`Schema.encode` with the entity named in any error."""
        try:
            return self.schema.encode(features, kind)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"entity {entity_id!r}: {exc}") from None

    def _streaming_written(self, key: str, encoded: dict[str, str], hsetex: bool, reply: Any) -> None:
        """Check the reply of ``HSETEX``, or of ``MULTI`` ``HSET`` + ``HEXPIRE``, and count the write."""
        if hsetex:
            # HSETEX answers 1 when every field was set with the expiry, else 0.
            check_field_ttl_codes("HSETEX", key, list(encoded), [reply])
        else:
            check_field_ttl_codes("HEXPIRE", key, list(encoded), reply[1])
        self._count(streaming_writes=1)

    def _result(self, names: list[str], values: Sequence[str | None], decode: bool) -> dict[str, Any]:
        found: dict[str, Any]
        if None in values:
            found = {name: value for name, value in zip(names, values) if value is not None}
        else:  # the usual row: built in C, without a Python-level test per field
            found = dict(zip(names, values))
        return self.schema.decode(found) if decode else found

    def _read_request(self, entity_id: str, names: Sequence[str]) -> tuple[str, list[str]]:
        """The key and checked names of a one-entity read."""
        return self.key_for(entity_id), _check_names(names)

    def _read_result(self, names: list[str], values: Sequence[str | None], decode: bool) -> dict[str, Any]:
        """A one-entity read's result, counted."""
        result = self._result(names, values, decode)
        self._count(reads=1, fields_read=len(result))
        return result

    def _batch_request(self, entity_ids: Sequence[str], names: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
        """Checked ids and names, and the keys to read: none when there are no ids or no names."""
        ids = list(entity_ids)
        # The usual batch, non-empty strings only, is checked in C; anything else id by id.
        if not (set(map(type, ids)) <= {str} and all(ids)):
            ids = [check_entity_id(e) for e in ids]
        wanted = _check_names(names)
        if not ids or not wanted:
            return ids, wanted, []
        return ids, wanted, [self.key_prefix + entity_id for entity_id in ids]

    @staticmethod
    def _missing_rows(ids: list[str], wanted: list[str]) -> list[list[str | None]]:
        """The rows of a batch read with no ids or no names, which asks Redis nothing."""
        return [[None] * len(wanted) for _ in ids]

    def _results(
        self, wanted: list[str], ids: list[str], rows: list[list[str | None]], decode: bool
    ) -> dict[str, dict[str, Any]]:
        """Entity id -> found features of a batch read, counted."""
        results = dict(zip(ids, map(partial(self._result, wanted, decode=decode), rows)))
        if wanted:  # no names: nothing was read
            self._count(reads=len(ids), fields_read=sum(map(len, results.values())))
        return results

    def _frame(self, ids: list[str], wanted: list[str], rows: list[list[str | None]], decode: bool) -> pd.DataFrame:
        """A batch read as a DataFrame, counted."""
        import pandas as pd

        if wanted:  # no names: nothing was read
            self._count(reads=len(ids), fields_read=sum(len(row) - row.count(None) for row in rows))
        index = pd.Index(ids, name="entity_id")
        if not decode:
            return pd.DataFrame(rows, index=index, columns=wanted, dtype=object)
        # Typed column arrays built once, then one DataFrame: per-column astype/setitem cost ~0.2 ms each.
        columns = list(zip(*rows)) or [()] * len(wanted)
        data = {}
        for name, texts in zip(wanted, columns):
            spec = self.schema.get(name)
            if spec is None or spec.dtype is str:
                data[name] = pd.array(texts, dtype="string")
            else:
                data[name] = pd.array([None if t is None else decode_value(t, spec.dtype) for t in texts], dtype=spec.pandas_dtype)
        return pd.DataFrame(data, index=index, columns=wanted)


class FeatureStore(_StoreCore):
    """The read and write paths of an online feature store on Redis hashes.

    Args:
        client: A redis-py client with ``decode_responses=True`` (see :func:`fslib.connect`).
        key_prefix: Every entity lives at ``key_prefix + entity_id``.
        batch_ttl_seconds: Key-level TTL given by :meth:`bulk_load` (the batch cycle).
        streaming_ttl_seconds: Field TTL given by :meth:`update_streaming`.
        schema: Feature types and kinds, for checks and typed reads.
        streaming_write: ``"hsetex"`` (one atomic ``HSETEX``, Redis >= 8.0),
            ``"multi"`` (``HSET`` + ``HEXPIRE`` in ``MULTI/EXEC``, Redis 7.4), or
            ``"auto"`` to pick by server version.

    Raises:
        ValueError, TypeError: A TTL is not a positive integer or the prefix is empty.
    """

    # -- batch path --------------------------------------------------------

    def bulk_load(
        self,
        rows: Rows,
        ttl_seconds: int | None = None,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        progress: bool = False,
    ) -> int:
        """Write batch features for many entities, one round trip per chunk.

        Per entity one ``HSET`` of all its fields and one ``EXPIRE``, each chunk
        written as one pre-encoded buffer (``fslib.packed``) while Redis still
        works on the previous one; on a cluster, one buffer per primary per chunk.
        Every row is checked and encoded before the first write, so a batch with
        one bad row writes nothing. The rows are read once; encoded chunks wait
        in a spool that moves from memory to a temporary file past 32 MiB, so
        memory stays bounded at any size.

        Args:
            rows: id -> features, ``(id, features)`` pairs, or a DataFrame indexed by id.
            ttl_seconds: Key-level TTL; defaults to ``batch_ttl_seconds``.
            chunk_size: Entities per round trip.
            progress: Show a tqdm progress bar.

        Returns:
            The number of entities written.

        Raises:
            TypeError, ValueError: A row is malformed (the message names the entity
                and feature); nothing was written.
        """
        ttl = self.batch_ttl_seconds if ttl_seconds is None else check_ttl(ttl_seconds)
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        written = total = 0
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
            # Only fslib reads the spool back; pickle's framing keeps reads from it large.
            encoded = self._encoded_rows(_row_source(rows, chunk_size))
            while chunk := list(islice(encoded, chunk_size)):
                pickle.dump(chunk, spool, pickle.HIGHEST_PROTOCOL)
                total += len(chunk)
            spool.seek(0)
            chunks = (pickle.load(spool) for _ in range(-(-total // chunk_size)))
            with tqdm(total=total, unit="entity", desc="bulk_load", disable=not progress) as bar:
                for done in self._write_chunks(chunks, ttl):
                    written += done
                    self._count(batch_writes=done)
                    bar.update(done)
        return written

    def _write_chunks(self, chunks: Iterator[list[tuple[str, dict[str, str]]]], ttl: int) -> Iterator[int]:
        """Write every chunk; yield each chunk's size once Redis has applied it."""
        if self._cluster:
            for chunk in chunks:
                bulk_load_by_node(self.client, chunk, ttl)
                yield len(chunk)
            return
        encoder = self.client.get_encoder()
        unacknowledged: deque[list[tuple[str, dict[str, str]]]] = deque()
        try:
            with PackedStream(self.client) as stream:
                for chunk in chunks:
                    unacknowledged.append(chunk)
                    for _ in stream.submit(pack_bulk_load(chunk, ttl, encoder), 2 * len(chunk)):
                        yield len(unacknowledged.popleft())
                for _ in stream.drain():
                    yield len(unacknowledged.popleft())
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # The stream does not retry; HSET + EXPIRE are idempotent, so resend what was not
            # acknowledged, then the rest, one chunk at a time under the client's retry policy.
            logger.warning("bulk load connection lost (%s); resending %d chunk(s) with retries", exc, len(unacknowledged))
            for chunk in chain(unacknowledged, chunks):
                execute_packed(self.client, pack_bulk_load(chunk, ttl, encoder), 2 * len(chunk))
                yield len(chunk)

    def _encoded_rows(self, rows: Iterable[tuple[object, Mapping[str, object]]]) -> Iterator[tuple[str, dict[str, str]]]:
        for entity_id, features in rows:
            key = self.key_for(entity_id)  # type: ignore[arg-type]
            encoded = self._encode(entity_id, features, FeatureKind.BATCH)
            if not encoded:
                raise ValueError(f"entity {entity_id!r}: no features to write")
            yield key, encoded

    def update_batch_feature(self, entity_id: str, name: str, value: FeatureValue) -> None:
        """Refresh one batch feature by hand, leaving the key-level TTL alone.

        An entity that does not exist yet gets ``batch_ttl_seconds`` as its key
        TTL (``EXPIRE ... NX``), so no entity is ever left without one.

        Raises:
            TypeError, ValueError: Bad id, name or value, or ``name`` is a streaming feature.
        """
        key = self.key_for(entity_id)
        encoded = self._encode(entity_id, {name: value}, FeatureKind.BATCH)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(key, mapping=encoded)
        pipe.expire(key, self.batch_ttl_seconds, nx=True)
        pipe.execute()
        self._count(batch_writes=1)

    # -- streaming path ----------------------------------------------------

    @cached_property
    def uses_hsetex(self) -> bool:
        """Whether streaming writes use ``HSETEX`` (Redis >= 8.0) rather than ``MULTI``."""
        return self._choose_hsetex(server_version(self.client) if self._streaming_write == "auto" else None)

    def update_streaming(
        self, entity_id: str, fields: Mapping[str, FeatureValue], ttl_seconds: int | None = None
    ) -> None:
        """Write streaming features and give each exactly ``ttl_seconds``, atomically.

        One ``HSETEX key EX ttl FIELDS n ...`` on Redis >= 8.0, otherwise
        ``HSET`` + ``HEXPIRE`` in one ``MULTI/EXEC``. Either way, one round trip.

        Args:
            entity_id: The entity.
            fields: Streaming feature name -> value; empty writes nothing.
            ttl_seconds: Field TTL; defaults to ``streaming_ttl_seconds``.

        Raises:
            TypeError, ValueError: Bad id, name, value or TTL, or a batch feature.
            InvariantError: Redis did not give every field its TTL.
        """
        key, ttl, encoded = self._streaming_request(entity_id, fields, ttl_seconds)
        if not encoded:
            return
        if self.uses_hsetex:
            reply = self.client.hsetex(key, mapping=encoded, ex=ttl)
        else:
            pipe = self.client.pipeline(transaction=True)
            pipe.hset(key, mapping=encoded)
            pipe.hexpire(key, ttl, *encoded)
            reply = pipe.execute()
        self._streaming_written(key, encoded, self.uses_hsetex, reply)

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
        key, wanted = self._read_request(entity_id, names)
        if not wanted:
            return {}
        values = self.client.hmget(key, wanted) if self._cluster else self._hmget([key], wanted)[0]
        return self._read_result(wanted, values, decode)

    def _hmget(self, keys: list[str], wanted: list[str]) -> list[list[str | None]]:
        """One ``HMGET`` of ``wanted`` per key, all in one round trip (one per node on a cluster)."""
        if self._cluster:
            return hmget_by_node(self.client, keys, wanted)
        return execute_packed(self.client, pack_hmgets(keys, wanted, self.client.get_encoder()), len(keys))

    def _batch_hmget(
        self, entity_ids: Sequence[str], names: Sequence[str]
    ) -> tuple[list[str], list[str], list[list[str | None]]]:
        """Checked ids, checked names, and one row of values per id."""
        ids, wanted, keys = self._batch_request(entity_ids, names)
        return ids, wanted, self._hmget(keys, wanted) if keys else self._missing_rows(ids, wanted)

    def batch_get_features(
        self, entity_ids: Sequence[str], names: Sequence[str], *, decode: bool = False
    ) -> dict[str, dict[str, Any]]:
        """Read the same features of many entities: one ``HMGET`` each, all in one round trip.

        The batch goes to Redis as one pre-encoded buffer (``fslib.packed``),
        so Python does little per entity; on a cluster, one buffer per primary,
        all sent before any reply is read.

        Args:
            entity_ids: The entities (for batch scoring).
            names: The features to read.
            decode: Parse values into their schema types.

        Returns:
            Entity id -> (name -> value) for every requested entity; an entity
            that is absent maps to ``{}``.
        """
        ids, wanted, rows = self._batch_hmget(entity_ids, names)
        return self._results(wanted, ids, rows, decode)

    def batch_get_frame(
        self, entity_ids: Sequence[str], names: Sequence[str], *, decode: bool = True
    ) -> pd.DataFrame:
        """:meth:`batch_get_features` as a DataFrame: entities as rows, features as columns.

        Missing values are ``<NA>``. With ``decode`` the columns get nullable
        pandas dtypes from the schema (``Int64``, ``Float64``, ``boolean``, ``string``).
        """
        ids, wanted, rows = self._batch_hmget(entity_ids, names)
        return self._frame(ids, wanted, rows, decode)

    # -- TTLs and inspection -------------------------------------------------

    def field_ttls_seconds(self, entity_id: str, names: Sequence[str]) -> dict[str, int]:
        """Per-field TTLs (``HTTL``): seconds left, -1 no field TTL, -2 missing."""
        key, wanted = self._read_request(entity_id, names)
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
        return self.client.scan_iter(match=_glob_escape(self.key_prefix) + "*", count=_SCAN_COUNT)

    def count_entities(self) -> int:
        """How many entities exist under the prefix (``SCAN``, never ``KEYS``)."""
        return sum(1 for _ in self._scan_keys())

    def list_entity_ids(self, limit: int | None = None) -> list[str]:
        """Entity ids under the prefix, sorted; at most ``limit`` of them (``SCAN``)."""
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        start = len(self.key_prefix)
        return sorted(key[start:] for key in islice(self._scan_keys(), limit))

    def delete_entity(self, entity_id: str) -> bool:
        """Delete one entity; True if it existed."""
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


def _row_source(rows: Rows, chunk_size: int) -> Iterator[tuple[object, Mapping[str, object]]]:
    """``(id, features)`` pairs from any :data:`Rows`, read once.

    Raises:
        TypeError: ``rows`` is none of the accepted shapes (a bad pair raises when reached).
    """
    import pandas as pd

    if isinstance(rows, pd.DataFrame):
        return _frame_rows(rows, chunk_size)
    if isinstance(rows, Mapping):
        return iter(rows.items())
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Iterable):
        raise TypeError(f"rows must be a mapping, an iterable of (id, features) or a DataFrame, got {type(rows).__name__}")
    return _checked_pairs(rows)


def _frame_rows(frame: pd.DataFrame, chunk_size: int) -> Iterator[tuple[object, Mapping[str, object]]]:
    # Convert a chunk at a time: bounded memory, and far faster than iterrows().
    for start in range(0, len(frame), chunk_size):
        part = frame.iloc[start : start + chunk_size]
        yield from zip(part.index, part.to_dict("records"))


def _checked_pairs(pairs: Iterable[Any]) -> Iterator[tuple[object, Mapping[str, object]]]:
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise TypeError(f"each row must be an (entity_id, features) pair, got {pair!r}")
        yield pair

