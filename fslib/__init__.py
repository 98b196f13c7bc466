"""fslib: an online feature store on Redis >= 7.4, one hash per entity.

Batch features share a key-level TTL (the batch cycle); streaming features
each carry their own field TTL, so a stalled pipeline shows up as missing
data, never as silently stale data.

    >>> import fslib
    >>> store = fslib.FeatureStore(fslib.connect())      # embedded Redis 8 unless REDIS_URL is set
    >>> store.bulk_load(fslib.synthesize_users(200))
    200
"""

from __future__ import annotations

from fslib.aio import AsyncFeatureStore, connect_async
from fslib.bench import (
    LatencySummary,
    compare_latencies,
    compare_latencies_async,
    gc_paused,
    percentiles,
    sample_latencies,
    summaries_frame,
    summarize,
)
from fslib.cluster import LocalCluster, hash_tag_prefix, key_placement, slot_of
from fslib.dashboard import BatchScoreResult, Dashboard, DashboardState, MaterializeResult, ReadResult
from fslib.errors import FeatureStoreError, InvariantError, RedisVersionError
from fslib.expiry import live_field_counts, sample_ttls, snapshot_ttls
from fslib.schema import DEFAULT_SCHEMA, FeatureKind, FeatureSpec, Schema, decode_value, encode_value
from fslib.server import (
    MIN_REDIS_VERSION,
    EmbeddedRedis,
    connect,
    embedded_server,
    mask_url,
    parse_version,
    require_version,
    server_version,
)
from fslib.store import DEFAULT_CHUNK_SIZE, EntityInspection, FeatureStore, FieldState, StoreStats
from fslib.synth import SyntheticUsers, streaming_features, synthesize_users
from fslib.worker import StreamingWorker, WorkerStats, WorkerStatus, reset_store

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_SCHEMA",
    "MIN_REDIS_VERSION",
    "AsyncFeatureStore",
    "BatchScoreResult",
    "Dashboard",
    "DashboardState",
    "EmbeddedRedis",
    "EntityInspection",
    "FeatureKind",
    "FeatureSpec",
    "FeatureStore",
    "FeatureStoreError",
    "FieldState",
    "InvariantError",
    "LatencySummary",
    "LocalCluster",
    "MaterializeResult",
    "ReadResult",
    "RedisVersionError",
    "Schema",
    "StoreStats",
    "StreamingWorker",
    "SyntheticUsers",
    "WorkerStats",
    "WorkerStatus",
    "compare_latencies",
    "compare_latencies_async",
    "connect",
    "connect_async",
    "decode_value",
    "embedded_server",
    "encode_value",
    "gc_paused",
    "hash_tag_prefix",
    "key_placement",
    "live_field_counts",
    "mask_url",
    "parse_version",
    "percentiles",
    "require_version",
    "reset_store",
    "sample_latencies",
    "sample_ttls",
    "server_version",
    "slot_of",
    "snapshot_ttls",
    "streaming_features",
    "summaries_frame",
    "summarize",
    "synthesize_users",
]
