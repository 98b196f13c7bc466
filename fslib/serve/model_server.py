"""The model server: ``GET /health`` and ``POST /get-online-features``, in the shape of Feast's feature server.

The request path is ``async`` and reads through :class:`~fslib.fast.AsyncFeatureStore`
on the event loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from fslib.freshness import FeatureStatus, FeatureVectors
from fslib.serve.models import MAX_ENTITIES, MAX_FEATURES, EntityId, FeatureName, StrictBody, Value
from fslib.serve.services import Svc, known_names

__all__ = [
    "FeatureColumn",
    "Health",
    "OnlineFeaturesMetadata",
    "OnlineFeaturesRequest",
    "OnlineFeaturesResponse",
    "online_features",
    "router",
]

router = APIRouter(tags=["model server"])


class OnlineFeaturesRequest(StrictBody):
    """``POST /get-online-features``, in the shape of Feast's feature server.

    ``{"entities": {"user_id": ["u0001", "u0002"]}, "features": ["risk_segment", "tx_count_5m"]}``
    """

    entities: dict[str, Annotated[list[EntityId], Field(min_length=1, max_length=MAX_ENTITIES)]] = Field(
        description="One join key (the server's entity key, ``user_id`` by default) -> the ids to read."
    )
    features: list[FeatureName] = Field(min_length=1, max_length=MAX_FEATURES, description="Feature names to read.")


class Health(BaseModel):
    """``GET /health``: the server is up and Redis answers ``PING``."""

    status: str = "ok"


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


@router.get("/health")
async def health(svc: Svc) -> Health:
    """Up, and Redis answers ``PING``."""
    await svc.reads.client.ping()
    return Health()


@router.post("/get-online-features")
async def get_online_features(body: OnlineFeaturesRequest, svc: Svc) -> OnlineFeaturesResponse:
    """Features of many entities with a status each, in one Redis round trip (``EXISTS`` + ``HMGET`` per entity).

    A feature that is not ``present`` carries the schema's default value.
    """
    if list(body.entities) != [svc.entity_key]:
        raise HTTPException(
            status_code=422,
            detail=f"entities must have exactly one key, {svc.entity_key!r}; got {list(body.entities)}",
        )
    ids, names = body.entities[svc.entity_key], known_names(svc.schema, body.features)
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
