"""The exceptions fslib raises on top of redis-py's own."""

from __future__ import annotations

__all__ = ["FeatureStoreError", "InvariantError", "LoadInterruptedError", "RedisVersionError", "StoredDataError"]


class FeatureStoreError(Exception):
    """Base class of every error fslib raises itself."""


class InvariantError(FeatureStoreError):
    """A write did not leave Redis in the state the data model promises.

    Raised when a streaming write could not give every field its TTL (a field
    without one would outlive a stalled pipeline and be served stale), or a
    bulk load's ``EXPIRE`` could not give an entity its key TTL.
    """


class RedisVersionError(FeatureStoreError):
    """The server is too old for per-field TTL (needs Redis >= 7.4)."""


class LoadInterruptedError(FeatureStoreError):
    """Redis restarted (or a cluster primary changed) while a bulk load ran.

    Entities Redis acknowledged before the restart may be gone (without
    persistence, all of them). The writes are idempotent: run the load again.
    """


class StoredDataError(FeatureStoreError, ValueError):
    """Redis holds something under a store's prefix that fslib cannot read as a feature.

    A stored value that is not its feature's type (``"3.5"`` for an int, written
    by another tool), or an entity key that is not a hash (``WRONGTYPE``). The
    message names the entity, and the feature and stored text where there is one.
    Typed reads raise it; freshness-aware reads give the feature the status
    ``invalid`` instead, and serve the other entities.
    """
