"""The endpoints: the Redis docs demo's API, and a model-server endpoint in the shape of Feast's feature server.

The request path (``/read``, ``/batch-read``, ``/get-online-features``) is
``async`` and reads through :class:`~fslib.fast.AsyncFeatureStore` on the event
loop. Batch and housekeeping work (``/state``, ``/bulk-load``,
``/worker/toggle``, ``/inspect``, ``/reset``) are plain ``def`` endpoints,
which FastAPI runs in its threadpool, through the sync
:class:`~fslib.FeatureStore` and :class:`~fslib.StreamingWorker`: a bulk load
never blocks the loop that serves the model.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from fslib.fast import AsyncFeatureStore
from fslib.freshness import FeatureStatus, FeatureVectors
from fslib.schema import Schema
from fslib.serve.models import (
    MAX_FEATURES,
    BatchReadRequest,
    BatchReadResponse,
    BulkLoadRequest,
    BulkLoadResponse,
    EntityId,
    FeatureColumn,
    FeatureName,
    FeatureReading,
    Health,
    InspectResponse,
    OnlineFeaturesMetadata,
    OnlineFeaturesRequest,
    OnlineFeaturesResponse,
    ReadResponse,
    ResetResponse,
    StateResponse,
    Vector,
    WorkerResponse,
    WorkerState,
)
from fslib.stats import StoreStats
from fslib.store import FeatureStore
from fslib.synth import entity_id as nth_user
from fslib.synth import synthesize_users
from fslib.worker import StreamingWorker, reset_store

__all__ = ["Services", "online_features", "router"]

router = APIRouter()


@dataclass(frozen=True)
class Services:
    """What the endpoints use: two stores over one Redis, and the worker writing to it."""

    redis_url: str
    """Password masked: safe to show."""
    store: FeatureStore
    """Bulk loads, inspection, reset and the worker: blocking work, run in the threadpool."""
    reads: AsyncFeatureStore
    """The request path: reads on the event loop."""
    worker: StreamingWorker
    entity_key: str
    """The join key ``POST /get-online-features`` expects in ``entities``."""

    @property
    def schema(self) -> Schema:
        """The features served (the stores' schema)."""
        return self.store.schema


def _services(request: Request) -> Services:
    services: Services = request.app.state.services  # set by the app's lifespan
    return services


Svc = Annotated[Services, Depends(_services)]
IdQuery = Annotated[EntityId, Query(alias="id", description="The entity id, e.g. u0001.")]


def _known(schema: Schema, names: Sequence[str] | None) -> list[str]:
    """The requested feature names (every feature when None); a 422 naming any the schema lacks."""
    if names is None:
        return schema.names
    unknown = [name for name in names if name not in schema]
    if unknown:
        raise HTTPException(status_code=422, detail=f"unknown features {unknown}; this server serves {schema.names}")
    return list(names)


# -- the model server -------------------------------------------------------------


@router.get("/health", tags=["model server"])
async def health(svc: Svc) -> Health:
    """Up, and Redis answers ``PING``."""
    await svc.reads.client.ping()
    return Health()


@router.post("/get-online-features", tags=["model server"])
async def get_online_features(body: OnlineFeaturesRequest, svc: Svc) -> OnlineFeaturesResponse:
    """Features of many entities with a status each, in one Redis round trip (``EXISTS`` + ``HMGET`` per entity).

    A feature that is not ``present`` carries the schema's default value.
    """
    if list(body.entities) != [svc.entity_key]:
        raise HTTPException(
            status_code=422,
            detail=f"entities must have exactly one key, {svc.entity_key!r}; got {list(body.entities)}",
        )
    ids, names = body.entities[svc.entity_key], _known(svc.schema, body.features)
    vectors = await svc.reads.batch_get_feature_vectors(ids, names)
    return online_features(svc.entity_key, ids, names, vectors)


def online_features(
    key: str, ids: Sequence[str], names: Sequence[str], vectors: FeatureVectors
) -> OnlineFeaturesResponse:
    """Feast's column layout: the entity-key column, then one column per feature, rows in request order."""
    rows = [vectors[entity_id] for entity_id in ids]  # a repeated id gets its row each time
    exists = [FeatureStatus.PRESENT if row.entity_exists else FeatureStatus.ENTITY_MISSING for row in rows]
    columns = [FeatureColumn(values=list(ids), statuses=exists)]
    columns += [
        FeatureColumn(values=[row.values[name] for row in rows], statuses=[row.statuses[name] for row in rows])
        for name in names
    ]
    return OnlineFeaturesResponse(metadata=OnlineFeaturesMetadata(feature_names=[key, *names]), results=columns)


# -- the Redis docs demo's API: request-path reads ------------------------------------------


@router.get("/read", tags=["demo"])
async def read(
    svc: Svc,
    entity_id: IdQuery,
    features: Annotated[list[FeatureName] | None, Query(max_length=MAX_FEATURES)] = None,
) -> ReadResponse:
    """One entity's features with statuses, field TTLs and the key TTL (``?id=u0001&features=tx_count_5m``)."""
    names = _known(svc.schema, features)
    started = time.perf_counter()
    vector = await svc.reads.get_feature_vector(entity_id, names)
    latency = time.perf_counter() - started
    ttls, key_ttl = await asyncio.gather(
        svc.reads.field_ttls_seconds(entity_id, names), svc.reads.key_ttl_seconds(entity_id)
    )
    readings = [
        FeatureReading(
            name=name,
            kind=svc.schema[name].kind.value,
            value=vector.values[name],
            status=vector.statuses[name],
            field_ttl_seconds=ttls[name],
        )
        for name in names
    ]
    return ReadResponse(entity_id=entity_id, key_ttl_seconds=key_ttl, latency_seconds=latency, features=readings)


@router.post("/batch-read", tags=["demo"])
async def batch_read(body: BatchReadRequest, svc: Svc) -> BatchReadResponse:
    """Users ``u0001``..``u{count}`` in one pipelined round trip, as batch scoring reads them."""
    names = _known(svc.schema, body.features)
    ids = [nth_user(i) for i in range(1, body.count + 1)]
    started = time.perf_counter()
    vectors = await svc.reads.batch_get_feature_vectors(ids, names)
    latency = time.perf_counter() - started
    return BatchReadResponse(
        requested=len(ids),
        found=sum(vector.entity_exists for vector in vectors.values()),
        fields_present=vectors.present_count(),
        latency_seconds=latency,
        vectors=[Vector.model_validate(vector.as_dict()) for vector in vectors.values()],
    )


# -- the Redis docs demo's API: batch and housekeeping work, in the threadpool -------------------


@router.get("/state", tags=["demo"])
def state(svc: Svc) -> StateResponse:
    """Entity count (``SCAN``), TTLs, read/write counters and the worker's status."""
    store = svc.store
    totals = StoreStats(*(a + b for a, b in zip(astuple(store.stats()), astuple(svc.reads.stats()))))
    return StateResponse(
        redis_url=svc.redis_url,
        key_prefix=store.key_prefix,
        entity_count=store.count_entities(),
        batch_ttl_seconds=store.batch_ttl_seconds,
        streaming_ttl_seconds=store.streaming_ttl_seconds,
        store_stats=totals,
        worker=WorkerState(status=svc.worker.status, stats=svc.worker.stats()),
    )


@router.post("/bulk-load", tags=["demo"])
def bulk_load(body: BulkLoadRequest, svc: Svc) -> BulkLoadResponse:
    """Write synthetic users ``u0001``..``u{count}``: ``HSET`` + ``EXPIRE`` each, one round trip per chunk."""
    ttl = svc.store.batch_ttl_seconds if body.ttl_seconds is None else body.ttl_seconds
    started = time.perf_counter()
    written = svc.store.bulk_load(synthesize_users(body.count, seed=body.seed), ttl)
    return BulkLoadResponse(written=written, ttl_seconds=ttl, elapsed_seconds=time.perf_counter() - started)


@router.post("/worker/toggle", tags=["demo"])
def toggle_worker(svc: Svc) -> WorkerResponse:
    """Start a stopped streaming worker, pause a running one, resume a paused one."""
    return WorkerResponse(status=svc.worker.toggle())


@router.get("/inspect", tags=["demo"])
def inspect(svc: Svc, entity_id: IdQuery) -> InspectResponse:
    """The whole hash with every field's TTL (``HGETALL`` + ``TTL`` + ``HTTL``): debugging, never the request path."""
    return InspectResponse.of(svc.store.inspect(entity_id), svc.schema)


@router.post("/reset", tags=["demo"])
def reset(svc: Svc) -> ResetResponse:
    """Delete every entity under the prefix (``SCAN`` + ``UNLINK``), with the worker paused and idle."""
    return ResetResponse(deleted=reset_store(svc.store, svc.worker))
