"""The Redis docs demo as one model: a store, its streaming worker, and the actions of the demo's page.

The notebook dashboard (:mod:`fslib.lab.dashboard`) and the HTTP demo API
(:mod:`fslib.serve.demo_api`) are two views of one :class:`Demo`: each action is a plain
method returning a frozen result, within one set of limits (the constants below). The HTTP
reads go through an async store, so their I/O stays in the routes; the results they make
from it come from :meth:`ReadResult.of` and :meth:`BatchReadResult.of`, as the model's own do.

    >>> demo = Demo(StreamingWorker(store))
    >>> demo.materialize(200).written
    200
    >>> [f.status.value for f in demo.read("u0001", ["risk_segment", "tx_count_5m"]).features]
    ['present', 'expired']
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass, field
from typing import TYPE_CHECKING, Protocol

import redis

from fslib.checks import MAX_TTL_SECONDS, check_feature_names
from fslib.connection import client_address
from fslib.freshness import FeatureStatus, FeatureVector, FeatureVectors
from fslib.inspection import EntityInspection
from fslib.schema import FeatureValue, Schema
from fslib.stats import StoreStats
from fslib.store import FeatureStore
from fslib.synth import entity_id, synthesize_users
from fslib.urls import mask_url
from fslib.worker import StreamingWorker, WorkerStats, WorkerStatus, reset_store

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BATCH_READ_RANGE",
    "LOAD_RANGE",
    "TTL_RANGE",
    "BatchReadResult",
    "Demo",
    "DemoState",
    "FeatureReading",
    "MaterializeResult",
    "ReadResult",
    "batch_ids",
    "clamp",
    "kind_of",
]

LOAD_RANGE = (1, 100_000)
"""Synthetic users one bulk load may write."""
BATCH_READ_RANGE = (1, 1_000)
"""Users one batch read may cover (one pipelined round trip)."""
TTL_RANGE = (1, MAX_TTL_SECONDS)
"""Key TTL of a bulk load, in seconds."""


def clamp(value: object, bounds: tuple[int, int], what: str, *, refuse_below: str = "") -> tuple[int, str | None]:
    """Limit a whole number to the inclusive ``bounds``, with a note for the user when it had to change.

    Args:
        value: What the user typed.
        bounds: ``(low, high)``.
        what: The input's name, for the note.
        refuse_below: If given, a value below ``low`` raises instead, ending with these words.

    Raises:
        TypeError: ``value`` is not a whole number.
        ValueError: ``value`` is below ``low`` and ``refuse_below`` is given.
    """
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{what} must be a whole number, got {value!r}")
    (low, high), number = bounds, int(value)
    if number < low and refuse_below:
        raise ValueError(f"{what} must be at least {low:,}, got {number:,}: {refuse_below}")
    if number < low:
        return low, f"{what} {number:,} is below the minimum {low:,}: used {low:,}"
    if number > high:
        return high, f"{what} {number:,} is above the maximum {high:,}: used {high:,}"
    return number, None


def kind_of(schema: Schema, name: str) -> str:
    """``batch`` or ``streaming`` for a feature of ``schema``, ``unknown`` for any other field."""
    spec = schema.get(name)
    return spec.kind.value if spec is not None else "unknown"


def batch_ids(count: int) -> list[str]:
    """The users a batch read covers: ``u0001``..``u{count}``."""
    return [entity_id(i) for i in range(1, count + 1)]


class Counted(Protocol):
    """Anything with a store's counters (the async store the HTTP reads go through)."""

    def stats(self) -> StoreStats: ...  # pragma: no cover


# -- results --------------------------------------------------------------------


@dataclass(frozen=True)
class DemoState:
    """The store-state panel: entities (``SCAN``), TTLs, counters, and the worker (a snapshot)."""

    redis_url: str
    """Password masked: safe to show."""
    key_prefix: str
    entity_count: int
    batch_ttl_seconds: int
    """The default key TTL of a bulk load."""
    last_load_ttl_seconds: int
    """The key TTL the last bulk load used (the default before any)."""
    streaming_ttl_seconds: int
    tick_seconds: float
    users_per_tick: int
    store_stats: StoreStats
    worker_status: WorkerStatus
    worker_stats: WorkerStats

    @property
    def round_seconds(self) -> float:
        """How often the worker writes each user: one round of ``ceil(entities / users_per_tick)`` ticks."""
        return self.tick_seconds * max(1, math.ceil(self.entity_count / self.users_per_tick))


@dataclass(frozen=True)
class MaterializeResult:
    """One bulk load of synthetic users, with a note for each input that was clamped."""

    written: int
    ttl_seconds: int
    elapsed_seconds: float
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeatureReading:
    """One feature of a read: the value served (the schema default unless ``present``) and why."""

    name: str
    kind: str
    """``batch``, ``streaming`` or ``unknown``."""
    value: FeatureValue | None
    status: FeatureStatus
    field_ttl_seconds: int
    """``HTTL``: seconds left, -1 key TTL only, -2 absent or unreadable."""
    event_time: int | None = None
    """Epoch milliseconds of the value's event, where it was written with one (the worker's are)."""
    event_age_seconds: float | None = None
    """How old that event was when read, by the reader's clock: what ``max_age_seconds`` judges."""
    error: str | None = None
    """What Redis holds that could not be read (status ``invalid``)."""


@dataclass(frozen=True)
class ReadResult:
    """An inference read: the freshness read (``EXISTS`` + ``HMGET``, timed), then ``TTL`` and ``HTTL``."""

    entity_id: str
    key_ttl_seconds: int
    """``TTL``: seconds left, -1 no expiry, -2 no such entity."""
    latency_seconds: float
    """Of the freshness read alone."""
    features: tuple[FeatureReading, ...]

    @classmethod
    def of(
        cls,
        schema: Schema,
        vector: FeatureVector,
        field_ttls: Mapping[str, int] | BaseException,
        key_ttl: int,
        latency_seconds: float,
    ) -> ReadResult:
        """The result of a read from its replies; ``field_ttls`` may be the error ``HTTL`` answered.

        Raises:
            BaseException: ``field_ttls`` is an error other than ``WRONGTYPE`` (no hash at the key,
                which each feature's ``error`` names).
        """
        if isinstance(field_ttls, redis.ResponseError) and str(field_ttls).startswith("WRONGTYPE"):
            field_ttls = dict.fromkeys(vector.values, -2)
        elif isinstance(field_ttls, BaseException):
            raise field_ttls
        now_ms = time.time() * 1000
        readings = []
        for name, value in vector.values.items():
            event_ms = vector.event_times.get(name)
            readings.append(
                FeatureReading(
                    name=name,
                    kind=kind_of(schema, name),
                    value=value,
                    status=vector.statuses[name],
                    field_ttl_seconds=field_ttls.get(name, -2),
                    event_time=event_ms,
                    event_age_seconds=None if event_ms is None else round((now_ms - event_ms) / 1000, 3),
                    error=vector.errors.get(name),
                )
            )
        return cls(vector.entity_id, int(key_ttl), latency_seconds, tuple(readings))

    @property
    def values(self) -> dict[str, FeatureValue | None]:
        """Feature name -> typed value, for the features that were ``present``."""
        return {f.name: f.value for f in self.features if f.status is FeatureStatus.PRESENT}

    @property
    def frame(self) -> pd.DataFrame:
        """One row per feature: ``feature``, ``kind``, ``value``, ``status``, ``field_ttl_seconds``,
        ``event_age_seconds``, ``error``."""
        import pandas as pd

        rows = [
            (f.name, f.kind, f.value, f.status.value, f.field_ttl_seconds, f.event_age_seconds, f.error)
            for f in self.features
        ]
        columns = ["feature", "kind", "value", "status", "field_ttl_seconds", "event_age_seconds", "error"]
        return pd.DataFrame(rows, columns=columns, dtype=object)


@dataclass(frozen=True)
class BatchReadResult:
    """A batch read: the freshness read of many users in one pipelined round trip, timed whole."""

    requested: int
    found: int
    """Users that exist."""
    fields_present: int
    latency_seconds: float
    vectors: FeatureVectors = field(repr=False)
    notes: tuple[str, ...] = ()

    @classmethod
    def of(cls, vectors: FeatureVectors, latency_seconds: float, notes: tuple[str, ...] = ()) -> BatchReadResult:
        """The result of a batch read from its vectors."""
        found = sum(vector.entity_exists for vector in vectors.values())
        return cls(len(vectors), found, vectors.present_count(), latency_seconds, vectors, notes)

    @property
    def per_entity_seconds(self) -> float:
        """Latency divided by the users read."""
        return self.latency_seconds / self.requested

    @property
    def frame(self) -> pd.DataFrame:
        """Users as rows; per feature a typed value column and a ``<feature>__status`` column."""
        return self.vectors.to_frame()


# -- the model ------------------------------------------------------------------


class Demo:
    """The Redis docs demo server's actions over one store and the streaming worker writing to it.

    Args:
        worker: The streaming worker; its store is the demo's store.
        redis_url: Where the store is, shown masked; by default its client's address.
        seed: Seed of the synthetic users of :meth:`materialize`.
        readers: More stores on the same prefix whose counters :meth:`state` adds (the HTTP reads' async store).
    """

    def __init__(
        self,
        worker: StreamingWorker,
        *,
        redis_url: str | None = None,
        seed: int = 42,
        readers: Sequence[Counted] = (),
    ) -> None:
        self.worker = worker
        self.store: FeatureStore = worker.store
        self.redis_url = mask_url(redis_url) if redis_url is not None else client_address(self.store.client)
        self.seed = seed
        self.readers = tuple(readers)
        self._last_load_ttl = self.store.batch_ttl_seconds

    def __repr__(self) -> str:
        return f"Demo(redis_url={self.redis_url!r}, key_prefix={self.store.key_prefix!r}, {self.worker!r})"

    def state(self) -> DemoState:
        """Entity count (``SCAN``), TTLs, read/write counters and the worker's status."""
        store, worker = self.store, self.worker
        totals = store.stats()
        for reader in self.readers:
            totals = StoreStats(*(a + b for a, b in zip(astuple(totals), astuple(reader.stats()), strict=True)))
        return DemoState(
            redis_url=self.redis_url,
            key_prefix=store.key_prefix,
            entity_count=store.count_entities(),
            batch_ttl_seconds=store.batch_ttl_seconds,
            last_load_ttl_seconds=self._last_load_ttl,
            streaming_ttl_seconds=worker.streaming_ttl_seconds,
            tick_seconds=worker.tick_seconds,
            users_per_tick=worker.users_per_tick,
            store_stats=totals,
            worker_status=worker.status,
            worker_stats=worker.stats(),
        )

    def materialize(
        self, count: int = 200, ttl_seconds: int | None = None, *, seed: int | None = None
    ) -> MaterializeResult:
        """Bulk-load synthetic users ``u0001``..``u{count}`` with a key TTL (``HSET`` + ``EXPIRE`` each).

        The worker writes the new users from its next tick on (a new round).

        Args:
            count: Users to write, at least 1; above :data:`LOAD_RANGE` clamped with a note.
            ttl_seconds: Key TTL, clamped to :data:`TTL_RANGE` with a note; default the store's batch TTL.
            seed: Seed of the users' values; default the demo's.

        Raises:
            TypeError: ``count`` or ``ttl_seconds`` is not a whole number.
            ValueError: ``count`` is below 1 (nothing is written).
        """
        count, count_note = clamp(count, LOAD_RANGE, "count", refuse_below="nothing was loaded")
        ttl = self.store.batch_ttl_seconds if ttl_seconds is None else ttl_seconds
        ttl, ttl_note = clamp(ttl, TTL_RANGE, "TTL")
        started = time.perf_counter()
        written = self.store.bulk_load(synthesize_users(count, seed=self.seed if seed is None else seed), ttl)
        elapsed = time.perf_counter() - started
        self._last_load_ttl = ttl
        self.worker.forget_entities()
        return MaterializeResult(written, ttl, elapsed, tuple(note for note in (count_note, ttl_note) if note))

    def feature_names(self, names: Sequence[str] | None) -> list[str]:
        """The features a read asks for: every feature when None.

        Raises:
            TypeError, ValueError: A bad name, or none picked.
        """
        wanted = self.store.schema.names if names is None else check_feature_names(names)
        if not wanted:
            raise ValueError("pick at least one feature to read")
        return wanted

    def read(
        self, entity_id: str, names: Sequence[str] | None = None, *, max_age_seconds: float | None = None
    ) -> ReadResult:
        """An inference read with freshness (one atomic ``EXISTS`` + ``HMGET``), then ``HTTL`` and ``TTL``.

        Args:
            entity_id: The user.
            names: Features to read; default every feature.
            max_age_seconds: A value whose event is older than this reads ``stale``; default no limit
                (each reading still carries its event's age).

        Raises:
            TypeError, ValueError: A bad id, name or ``max_age_seconds``, or no feature picked.
        """
        wanted = self.feature_names(names)
        started = time.perf_counter()
        vector = self.store.get_feature_vector(entity_id, wanted, max_age_seconds=max_age_seconds)
        latency = time.perf_counter() - started
        ttls: Mapping[str, int] | BaseException
        try:
            ttls = self.store.field_ttls_seconds(entity_id, wanted)
        except redis.ResponseError as exc:  # no hash at the key: ReadResult.of says so per feature
            ttls = exc
        return ReadResult.of(self.store.schema, vector, ttls, self.store.key_ttl_seconds(entity_id), latency)

    def batch_read(
        self, count: int = 100, names: Sequence[str] | None = None, *, max_age_seconds: float | None = None
    ) -> BatchReadResult:
        """Users ``u0001``..``u{count}`` with freshness in one pipelined round trip, as batch scoring reads them.

        Args:
            count: Users to read, at least 1; above :data:`BATCH_READ_RANGE` clamped with a note.
            names: Features to read; default every feature.
            max_age_seconds: A value whose event is older than this reads ``stale``; default no limit.

        Raises:
            TypeError, ValueError: ``count`` is not a whole number >= 1, or a bad name or ``max_age_seconds``.
        """
        count, note = clamp(count, BATCH_READ_RANGE, "count", refuse_below="nothing was read")
        wanted = self.feature_names(names)
        started = time.perf_counter()
        vectors = self.store.batch_get_feature_vectors(batch_ids(count), wanted, max_age_seconds=max_age_seconds)
        return BatchReadResult.of(vectors, time.perf_counter() - started, (note,) if note else ())

    def inspect(self, entity_id: str) -> EntityInspection:
        """The whole hash with every field's TTL and the key TTL (``HGETALL`` + ``TTL`` + ``HTTL``; debugging only).

        Raises:
            StoredDataError: The key holds no hash.
        """
        return self.store.inspect(entity_id)

    def reset(self) -> int:
        """Drop every entity under the prefix, race-free with the worker (:func:`~fslib.worker.reset_store`).

        A toggle meanwhile waits for the reset to end. Returns how many were dropped.

        Raises:
            TimeoutError: A worker tick was still in flight after 5 s; nothing was deleted.
        """
        return reset_store(self.store, self.worker)

    def toggle(self) -> WorkerStatus:
        """Start a stopped worker, pause a running one, resume a paused one (after a reset in progress)."""
        return self.worker.toggle()
