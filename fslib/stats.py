"""StoreStats: what a store has read and written, counted thread-safely."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass

__all__ = ["Counters", "StoreStats"]


@dataclass(frozen=True)
class StoreStats:
    """Cumulative counters of one store (a snapshot)."""

    batch_writes: int = 0
    """Entities written by :meth:`FeatureStore.bulk_load` and batch-field refreshes."""
    streaming_writes: int = 0
    """Streaming writes that wrote something (one per entity)."""
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

    def snapshot(self) -> StoreStats:
        """The totals now."""
        with self._lock:
            return StoreStats(**self._totals)

    def reset(self) -> None:
        """Every counter back to zero."""
        with self._lock:
            self._totals = asdict(StoreStats())
