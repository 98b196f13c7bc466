"""fslib: an online feature store on Redis >= 7.4, one hash per entity.

Batch features share a key-level TTL (the batch cycle); streaming features
each carry their own field TTL, so a stalled pipeline shows up as missing
data, never as silently stale data.

    >>> import fslib
    >>> store = fslib.FeatureStore(fslib.connect())      # embedded Redis 8 unless REDIS_URL is set
    >>> store.bulk_load(fslib.synthesize_users(200))
    200

This package is the core: plain redis-py, plus :mod:`fslib.local` (local Redis
servers and clusters) for the embedded server it starts when no URL is given.
Beside it, opt in: :mod:`fslib.fast` (packed transport, asyncio) and
:mod:`fslib.lab` (notebook plots, widgets, dashboard, latency sampling).
"""

from __future__ import annotations

from fslib.connection import MIN_REDIS_VERSION, connect, connect_async, server_version
from fslib.core import DEFAULT_CHUNK_SIZE
from fslib.errors import FeatureStoreError, InvariantError, LoadInterruptedError, RedisVersionError, StoredDataError
from fslib.freshness import FeatureStatus, FeatureVector
from fslib.keys import hash_tag_prefix, key_placement
from fslib.schema import DEFAULT_SCHEMA, FeatureKind, FeatureSpec, Schema
from fslib.stats import WriteResult
from fslib.store import FeatureStore
from fslib.synth import streaming_features, synthesize_users
from fslib.urls import mask_url
from fslib.worker import StreamingWorker, WorkerStatus, reset_store

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_SCHEMA",
    "MIN_REDIS_VERSION",
    "FeatureKind",
    "FeatureSpec",
    "FeatureStatus",
    "FeatureStore",
    "FeatureStoreError",
    "FeatureVector",
    "InvariantError",
    "LoadInterruptedError",
    "RedisVersionError",
    "Schema",
    "StoredDataError",
    "StreamingWorker",
    "WorkerStatus",
    "WriteResult",
    "connect",
    "connect_async",
    "hash_tag_prefix",
    "key_placement",
    "mask_url",
    "reset_store",
    "server_version",
    "streaming_features",
    "synthesize_users",
]
