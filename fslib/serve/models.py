"""The feature server's request and response bodies, as pydantic models (they also make its OpenAPI schema).

Request bodies are strict: unknown keys, a string where a number belongs, a
float TTL or a list out of bounds are refused with a 422 before any handler
runs, so a bad request never reaches Redis.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from fslib.checks import MAX_TTL_SECONDS, check_entity_id
from fslib.freshness import FeatureStatus
from fslib.inspection import EntityInspection
from fslib.schema import FeatureValue, Schema
from fslib.stats import StoreStats
from fslib.worker import WorkerStats, WorkerStatus

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_ENTITIES",
    "MAX_FEATURES",
    "MAX_LOAD_USERS",
    "BatchReadRequest",
    "BatchReadResponse",
    "BulkLoadRequest",
    "BulkLoadResponse",
    "EntityId",
    "FeatureColumn",
    "FeatureName",
    "FeatureReading",
    "FieldOut",
    "Health",
    "InspectResponse",
    "OnlineFeaturesMetadata",
    "OnlineFeaturesRequest",
    "OnlineFeaturesResponse",
    "ReadResponse",
    "ResetResponse",
    "StateResponse",
    "Value",
    "Vector",
    "WorkerResponse",
    "WorkerState",
]

MAX_ENTITIES = 1000
"""Entities one read request may name: a request's cost stays bounded (one pipeline of 2 commands each)."""
MAX_FEATURES = 64
"""Feature names one read request may list."""
MAX_LOAD_USERS = 100_000
"""Synthetic users one ``POST /bulk-load`` may write."""
MAX_BODY_BYTES = 256 * 1024
"""Largest request body accepted; a larger one gets a 413 before it is parsed (1,000 ids fit in ~10 KB)."""


def _entity_id(value: object) -> str:
    try:
        return check_entity_id(value)
    except TypeError as exc:  # pydantic turns ValueError, not TypeError, into a 422
        raise ValueError(str(exc)) from None


EntityId = Annotated[str, BeforeValidator(_entity_id, json_schema_input_type=str | int)]
"""An entity id: a non-empty string without ``:``, or an integer (read as its decimal text)."""
FeatureName = Annotated[str, StringConstraints(min_length=1)]
Value = FeatureValue | None
"""A typed feature value, or None (the schema default when the feature has none)."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# -- requests -------------------------------------------------------------------


class BulkLoadRequest(_Body):
    """``POST /bulk-load``: synthetic users ``u0001``.. with a key-level TTL (the Redis docs demo's materializer)."""

    count: int = Field(200, ge=1, le=MAX_LOAD_USERS, description="Users to write.")
    ttl_seconds: int | None = Field(
        None, ge=1, le=MAX_TTL_SECONDS, description="Key-level TTL; the server's batch TTL when omitted."
    )
    seed: int = Field(42, description="Same seed, same feature values.")


class BatchReadRequest(_Body):
    """``POST /batch-read``: the Redis docs demo's batch scoring, users ``u0001``..``u{count}`` in one round trip."""

    count: int = Field(100, ge=1, le=MAX_ENTITIES, description="Users to read.")
    features: list[FeatureName] | None = Field(
        None, min_length=1, max_length=MAX_FEATURES, description="Features to read; every feature when omitted."
    )


class OnlineFeaturesRequest(_Body):
    """``POST /get-online-features``, in the shape of Feast's feature server.

    ``{"entities": {"user_id": ["u0001", "u0002"]}, "features": ["risk_segment", "tx_count_5m"]}``
    """

    entities: dict[str, Annotated[list[EntityId], Field(min_length=1, max_length=MAX_ENTITIES)]] = Field(
        description="One join key (the server's entity key, ``user_id`` by default) -> the ids to read."
    )
    features: list[FeatureName] = Field(min_length=1, max_length=MAX_FEATURES, description="Feature names to read.")


# -- responses ------------------------------------------------------------------


class Health(BaseModel):
    """``GET /health``: the server is up and Redis answers ``PING``."""

    status: str = "ok"


class WorkerState(BaseModel):
    """The streaming worker: stopped, running or paused, and its counters."""

    status: WorkerStatus
    stats: WorkerStats


class StateResponse(BaseModel):
    """``GET /state``: the Redis docs demo's store-state panel."""

    redis_url: str = Field(description="Password masked.")
    key_prefix: str
    entity_count: int
    batch_ttl_seconds: int
    streaming_ttl_seconds: int
    store_stats: StoreStats = Field(description="Writes of the bulk loads and the worker, reads of the request path.")
    worker: WorkerState


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
    field_ttl_seconds: int = Field(description="``HTTL``: seconds left, -1 key TTL only, -2 absent.")


class ReadResponse(BaseModel):
    """``GET /read``: one entity's features with their statuses and TTLs."""

    entity_id: str
    key_ttl_seconds: int = Field(description="``TTL``: seconds left, -1 no expiry, -2 no such entity.")
    latency_seconds: float = Field(description="Of the freshness read (``EXISTS`` + ``HMGET``) alone.")
    features: list[FeatureReading]


class Vector(BaseModel):
    """One entity's values and statuses (:meth:`fslib.FeatureVector.as_dict`)."""

    entity_id: str
    values: dict[str, Value]
    statuses: dict[str, FeatureStatus]


class BatchReadResponse(BaseModel):
    """``POST /batch-read``: one pipelined round trip over many users."""

    requested: int
    found: int = Field(description="Entities that exist.")
    fields_present: int
    latency_seconds: float
    vectors: list[Vector]


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
            name: FieldOut(
                value=state.value,
                kind=spec.kind.value if (spec := schema.get(name)) else "unknown",
                field_ttl_seconds=state.ttl_seconds,
            )
            for name, state in inspection.fields.items()
        }
        return cls(
            entity_id=inspection.entity_id,
            key=inspection.key,
            exists=inspection.exists,
            key_ttl_seconds=inspection.key_ttl_seconds,
            fields=fields,
        )


class OnlineFeaturesMetadata(BaseModel):
    """The column names: the entity key, then the requested features in request order."""

    feature_names: list[str]


class FeatureColumn(BaseModel):
    """One column of ``POST /get-online-features``: a value and a status per requested entity, in request order.

    The entity-key column holds the ids, with status ``present`` or ``entity_missing``.
    """

    values: list[Value]
    statuses: list[FeatureStatus]


class OnlineFeaturesResponse(BaseModel):
    """Feast's response shape: ``results[i]`` is the column of ``metadata.feature_names[i]``."""

    metadata: OnlineFeaturesMetadata
    results: list[FeatureColumn]
