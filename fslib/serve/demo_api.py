"""The Redis docs demo's API: state, bulk load, worker toggle, read, batch read, inspect, reset.

Every route is a view of :class:`fslib.demo.Demo`: it calls one of its actions (or, for the
async reads, makes the demo's result from what it read) and answers that result as JSON.
The reads (``/read``, ``/batch-read``) are ``async`` on the event loop, through
:class:`~fslib.fast.AsyncFeatureStore`. Batch and housekeeping work (``/state``,
``/bulk-load``, ``/worker/toggle``, ``/inspect``, ``/reset``) are plain ``def``
endpoints, which FastAPI runs in its threadpool, through the sync
:class:`~fslib.FeatureStore` and :class:`~fslib.StreamingWorker`: a bulk load
never blocks the loop that serves the model.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from fslib.demo import (
    BATCH_READ_RANGE,
    LOAD_RANGE,
    TTL_RANGE,
    BatchReadResult,
    DemoState,
    ReadResult,
    batch_ids,
    kind_of,
)
from fslib.freshness import FeatureStatus
from fslib.inspection import EntityInspection
from fslib.schema import Schema
from fslib.serve.models import MAX_FEATURES, FeatureName, JSONBytes, MaxAge, StrictBody, Value
from fslib.serve.services import IdQuery, MaxAgeQuery, Svc, known_names
from fslib.stats import StoreStats
from fslib.worker import WorkerStats, WorkerStatus

__all__ = [
    "MAX_LOAD_USERS",
    "BatchReadRequest",
    "BatchReadResponse",
    "BulkLoadRequest",
    "BulkLoadResponse",
    "FeatureReading",
    "FieldOut",
    "InspectResponse",
    "ReadResponse",
    "ResetResponse",
    "StateResponse",
    "Vector",
    "WorkerResponse",
    "WorkerState",
    "batch_read_answer",
    "router",
]

router = APIRouter(tags=["demo"])

MAX_LOAD_USERS = LOAD_RANGE[1]
"""Synthetic users one ``POST /bulk-load`` may write (:data:`fslib.demo.LOAD_RANGE`)."""


class BulkLoadRequest(StrictBody):
    """``POST /bulk-load``: synthetic users ``u0001``.. with a key-level TTL (the Redis docs demo's materializer)."""

    count: int = Field(200, ge=LOAD_RANGE[0], le=LOAD_RANGE[1], description="Users to write.")
    ttl_seconds: int | None = Field(
        None, ge=TTL_RANGE[0], le=TTL_RANGE[1], description="Key-level TTL; the server's batch TTL when omitted."
    )
    seed: int = Field(42, description="Same seed, same feature values.")


class BatchReadRequest(StrictBody):
    """``POST /batch-read``: the Redis docs demo's batch scoring, users ``u0001``..``u{count}`` in one round trip."""

    count: int = Field(100, ge=BATCH_READ_RANGE[0], le=BATCH_READ_RANGE[1], description="Users to read.")
    features: list[FeatureName] | None = Field(
        None, min_length=1, max_length=MAX_FEATURES, description="Features to read; every feature when omitted."
    )
    max_age_seconds: MaxAge = None


class WorkerState(BaseModel):
    """The streaming worker: stopped, running or paused, its counters and its pace."""

    status: WorkerStatus
    stats: WorkerStats
    tick_seconds: float
    users_per_tick: int
    round_seconds: float = Field(description="How often each entity is written: one round of the entities.")


class StateResponse(BaseModel):
    """``GET /state``: the Redis docs demo's store-state panel."""

    redis_url: str = Field(description="Password masked.")
    key_prefix: str
    entity_count: int
    batch_ttl_seconds: int = Field(description="The default key TTL of ``/bulk-load``.")
    last_load_ttl_seconds: int = Field(description="The key TTL the last bulk load used (the default before any).")
    streaming_ttl_seconds: int
    store_stats: StoreStats = Field(description="Writes of the bulk loads and the worker, reads of the request path.")
    worker: WorkerState
    features: dict[str, str] = Field(description="The schema: each feature's kind (``batch`` or ``streaming``).")

    @classmethod
    def of(cls, state: DemoState, schema: Schema) -> StateResponse:
        """The response for the demo's state, and the schema's features (the web page's feature picker)."""
        worker = WorkerState(
            status=state.worker_status,
            stats=state.worker_stats,
            tick_seconds=state.tick_seconds,
            users_per_tick=state.users_per_tick,
            round_seconds=state.round_seconds,
        )
        features = {name: schema[name].kind.value for name in schema.names}
        return cls.model_validate({**asdict(state), "worker": worker, "features": features})


class BulkLoadResponse(BaseModel):
    """What ``POST /bulk-load`` wrote."""

    written: int
    ttl_seconds: int
    elapsed_seconds: float


class WorkerResponse(BaseModel):
    """``POST /worker/toggle``: the worker's status after the toggle."""

    status: WorkerStatus


class ResetResponse(BaseModel):
    """``POST /reset``: how many entities under the prefix were deleted."""

    deleted: int


class FeatureReading(BaseModel):
    """One feature of ``GET /read``."""

    name: str
    kind: str = Field(description="``batch`` or ``streaming``.")
    value: Value
    status: FeatureStatus
    field_ttl_seconds: int = Field(description="``HTTL``: seconds left, -1 key TTL only, -2 absent or unreadable.")
    event_time: int | None = Field(description="Epoch milliseconds of the value's event; null where none is stored.")
    event_age_seconds: float | None = Field(
        description="How old that event was when read, by the server's clock: what ``max_age_seconds`` judges."
    )
    error: str | None = Field(None, description="What Redis holds that could not be read (status ``invalid``).")


class ReadResponse(BaseModel):
    """``GET /read``: one entity's features with their statuses and TTLs."""

    entity_id: str
    key_ttl_seconds: int = Field(description="``TTL``: seconds left, -1 no expiry, -2 no such entity.")
    latency_seconds: float = Field(description="Of the freshness read (``EXISTS`` + ``HMGET``) alone.")
    features: list[FeatureReading]


class Vector(BaseModel):
    """One entity's values, statuses, event times and errors (:meth:`fslib.FeatureVector.as_dict`)."""

    entity_id: str
    values: dict[str, Value]
    statuses: dict[str, FeatureStatus]
    event_times: dict[str, int | None] = Field(
        description="Epoch milliseconds of each streaming value's event; null where none is stored."
    )
    errors: dict[str, str] = Field(description="Per ``invalid`` feature, what Redis holds there.")


class BatchReadResponse(BaseModel):
    """``POST /batch-read``: one pipelined round trip over many users."""

    requested: int
    found: int = Field(description="Entities that exist.")
    fields_present: int
    latency_seconds: float
    vectors: list[Vector]


def batch_read_answer(result: BatchReadResult) -> dict[str, Any]:
    """:class:`BatchReadResponse` as plain data, each vector's statuses as their text."""
    vectors = [vector.as_dict() for vector in result.vectors.values()]
    return {
        "requested": result.requested,
        "found": result.found,
        "fields_present": result.fields_present,
        "latency_seconds": result.latency_seconds,
        "vectors": vectors,
    }


class FieldOut(BaseModel):
    """One field of an inspected hash."""

    value: str
    kind: str = Field(description="``batch``, ``streaming``, or ``unknown`` (not in the server's schema).")
    field_ttl_seconds: int = Field(description="-1 when only the key TTL covers it.")


class InspectResponse(BaseModel):
    """``GET /inspect``: the whole hash (``HGETALL`` + ``TTL`` + ``HTTL``), for debugging only."""

    entity_id: str
    key: str
    exists: bool
    key_ttl_seconds: int
    fields: dict[str, FieldOut]

    @classmethod
    def of(cls, inspection: EntityInspection, schema: Schema) -> InspectResponse:
        """The response for what :meth:`fslib.FeatureStore.inspect` found."""
        fields = {
            name: FieldOut(value=state.value, kind=kind_of(schema, name), field_ttl_seconds=state.ttl_seconds)
            for name, state in inspection.fields.items()
        }
        return cls(
            entity_id=inspection.entity_id,
            key=inspection.key,
            exists=inspection.exists,
            key_ttl_seconds=inspection.key_ttl_seconds,
            fields=fields,
        )


@router.get("/read", response_model=ReadResponse)
async def read(
    svc: Svc,
    entity_id: IdQuery,
    features: Annotated[list[FeatureName] | None, Query(max_length=MAX_FEATURES)] = None,
    max_age_seconds: MaxAgeQuery = None,
) -> Response:
    """One entity's features with statuses, event ages, field TTLs and the key TTL (``?id=u0001&features=tx_count_5m``).

    With ``max_age_seconds``, a value whose event is older reads ``stale`` (served as its default).
    """
    names = known_names(svc.schema, features)
    started = time.perf_counter()
    vector = await svc.reads.get_feature_vector(entity_id, names, max_age_seconds=max_age_seconds)
    latency = time.perf_counter() - started
    ttls, key_ttl = await asyncio.gather(
        svc.reads.field_ttls_seconds(entity_id, names), svc.reads.key_ttl_seconds(entity_id), return_exceptions=True
    )
    if isinstance(key_ttl, BaseException):
        raise key_ttl
    return JSONBytes(asdict(ReadResult.of(svc.schema, vector, ttls, key_ttl, latency)))


@router.post("/batch-read", response_model=BatchReadResponse)
async def batch_read(body: BatchReadRequest, svc: Svc) -> Response:
    """Users ``u0001``..``u{count}`` in one pipelined round trip, as batch scoring reads them."""
    names = known_names(svc.schema, body.features)
    started = time.perf_counter()
    vectors = await svc.reads.batch_get_feature_vectors(
        batch_ids(body.count), names, max_age_seconds=body.max_age_seconds
    )
    return JSONBytes(batch_read_answer(BatchReadResult.of(vectors, time.perf_counter() - started)))


@router.get("/state")
def state(svc: Svc) -> StateResponse:
    """Entity count (``SCAN``), TTLs, read/write counters and the worker's status."""
    return StateResponse.of(svc.demo.state(), svc.schema)


@router.post("/bulk-load")
def bulk_load(body: BulkLoadRequest, svc: Svc) -> BulkLoadResponse:
    """Write synthetic users ``u0001``..``u{count}``: ``HSET`` + ``EXPIRE`` each, one round trip per chunk."""
    loaded = svc.demo.materialize(body.count, body.ttl_seconds, seed=body.seed)
    return BulkLoadResponse(
        written=loaded.written, ttl_seconds=loaded.ttl_seconds, elapsed_seconds=loaded.elapsed_seconds
    )


@router.post("/worker/toggle")
def toggle_worker(svc: Svc) -> WorkerResponse:
    """Start a stopped streaming worker, pause a running one, resume a paused one."""
    return WorkerResponse(status=svc.demo.toggle())


@router.get("/inspect")
def inspect(svc: Svc, entity_id: IdQuery) -> InspectResponse:
    """The whole hash with every field's TTL (``HGETALL`` + ``TTL`` + ``HTTL``): debugging, never the request path.

    A key that holds no hash (``WRONGTYPE``) answers a JSON 409 naming the entity and the key.
    """
    return InspectResponse.of(svc.demo.inspect(entity_id), svc.schema)


@router.post("/reset")
def reset(svc: Svc) -> ResetResponse:
    """Delete every entity under the prefix (``SCAN`` + ``UNLINK``), with the worker paused and idle."""
    return ResetResponse(deleted=svc.demo.reset())
