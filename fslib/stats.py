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

    def add(self, **amounts: int) -> None:
        """Add to the named counters."""
        with self._lock:
            for name, amount in amounts.items():
                self._totals[name] += amount

    def snapshot(self) -> StoreStats:
        """The totals now."""
        with self._lock:
            return StoreStats(**self._totals)

    def reset(self) -> None:
        """Every counter back to zero."""
        with self._lock:
            self._totals = asdict(StoreStats())
