"""What a store has read and written: a streaming write's :class:`WriteResult`, and counters (thread-safe)."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass

__all__ = ["Counters", "StoreStats", "WriteResult"]


@dataclass(frozen=True)
class WriteResult:
    """What a streaming write did.

    Without an event time every field is written (the last write wins); with one,
    a field whose stored event time is newer is ``late``, and one whose stored
    event time is the same is ``replayed``: neither is written, nor its TTL renewed.
    """

    entities: int = 0
    """Entities the write reached."""
    applied: int = 0
    """Fields written, each with its field TTL (and its event time, when given)."""
    late: int = 0
    """Fields left alone: Redis holds a value of a newer event."""
    replayed: int = 0
    """Fields left alone: Redis holds the value of this very event (a replay)."""

    def __add__(self, other: WriteResult) -> WriteResult:
        return WriteResult(
            self.entities + other.entities,
            self.applied + other.applied,
            self.late + other.late,
            self.replayed + other.replayed,
        )


@dataclass(frozen=True)
class StoreStats:
    """Cumulative counters of one store (a snapshot)."""

    batch_writes: int = 0
    """Entities written by :meth:`FeatureStore.bulk_load` and batch-field refreshes."""
    streaming_writes: int = 0
    """Streaming writes that reached an entity (one per entity)."""
    late_fields: int = 0
    """Fields of event-time writes left alone because Redis held a newer event's value."""
    replayed_fields: int = 0
    """Fields of event-time writes left alone because Redis held that same event's value."""
    reads: int = 0
    """Entities read (one ``HMGET`` each)."""
    fields_read: int = 0
    """Feature values returned by those reads (missing fields not counted)."""


class Counters:
    """Thread-safe running totals behind :class:`StoreStats`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals = asdict(StoreStats())

    def read(self, entities: int, fields: int) -> None:
        """Count a read of ``entities`` entities that returned ``fields`` values (on every read: kept cheap)."""
        with self._lock:
            totals = self._totals
            totals["reads"] += entities
            totals["fields_read"] += fields

    def wrote(self, kind: str, entities: int) -> None:
        """Count ``entities`` written on the ``kind`` path (``"batch"`` or ``"streaming"``)."""
        with self._lock:
            self._totals[f"{kind}_writes"] += entities

    def streamed(self, result: WriteResult) -> None:
        """Count a streaming write: its entities, and the fields it found late or replayed."""
        with self._lock:
            totals = self._totals
            totals["streaming_writes"] += result.entities
            totals["late_fields"] += result.late
            totals["replayed_fields"] += result.replayed

    def snapshot(self) -> StoreStats:
        """The totals now."""
        with self._lock:
            return StoreStats(**self._totals)

    def reset(self) -> None:
        """Every counter back to zero."""
        with self._lock:
            self._totals = asdict(StoreStats())
