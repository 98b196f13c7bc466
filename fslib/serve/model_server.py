"""The model server: ``GET /health``, ``POST /get-online-features`` and ``POST /push``, in the shape of Feast's.

Reads are ``async`` on the event loop, through :class:`~fslib.fast.AsyncFeatureStore`.
Their answer is built as plain lists and serialized once by pydantic-core
(:class:`~fslib.serve.models.JSONBytes`): the response models below describe it in the OpenAPI
schema, but no model object is built per value, which halved the requests/s.
``/get-online-features`` goes on the app itself (:func:`add_hot_route`), with a
:class:`~fslib.serve.services.JSONBodyRoute` that validates the body in one
``model_validate_json`` call (FastAPI answers every body it refuses).
Pushes run in the threadpool through the sync store's guarded write (newer
events only).
"""

from __future__ import annotations

import datetime
import functools
import time
from collections.abc import Sequence
from typing import Annotated, Any, Literal, get_args

import pandas as pd
from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import Response
from pydantic import BaseModel, Field

from fslib.freshness import FeatureStatus, FeatureVectors
from fslib.rows import EVENT_TIME_COLUMN
from fslib.schema import FeatureValue
from fslib.serve.models import MAX_ENTITIES, MAX_FEATURES, EntityId, FeatureName, JSONBytes, MaxAge, StrictBody, Value
from fslib.serve.services import JSONBodyRoute, Svc, known_names
from fslib.stats import WriteResult

__all__ = [
    "EVENT_TIMESTAMP",
    "PUSH_SOURCE",
    "FeatureColumn",
    "Health",
    "OnlineFeaturesMetadata",
    "OnlineFeaturesRequest",
    "OnlineFeaturesResponse",
    "PushRequest",
    "add_hot_route",
    "online_features",
    "router",
]

router = APIRouter(tags=["model server"])

PushSourceName = Literal["streaming_features"]
PUSH_SOURCE: str = get_args(PushSourceName)[0]
"""The server's one push source: the streaming features of its schema."""
EVENT_TIMESTAMP = "event_timestamp"
"""The column of a push's ``df`` that gives each row's event time (Feast's name)."""


class OnlineFeaturesRequest(StrictBody):
    """``POST /get-online-features``, in the shape of Feast's feature server.

    ``{"entities": {"user_id": ["u0001", "u0002"]}, "features": ["risk_segment", "tx_count_5m"]}``
    """

    entities: dict[str, Annotated[list[EntityId], Field(min_length=1, max_length=MAX_ENTITIES)]] = Field(
        description="One join key (the server's entity key, ``user_id`` by default) -> the ids to read."
    )
    features: list[FeatureName] = Field(min_length=1, max_length=MAX_FEATURES, description="Feature names to read.")
    max_age_seconds: MaxAge = None


class PushRequest(StrictBody):
    """``POST /push``, in the shape of Feast's: rows of streaming features as columns, each with its event time.

    ``{"push_source_name": "streaming_features", "df": {"user_id": ["u0001"],
    "event_timestamp": ["2026-12-02T10:00:00Z"], "tx_count_5m": [3]}}``
    """

    push_source_name: PushSourceName = Field(description="The server's one push source.")
    df: dict[str, Annotated[list[FeatureValue], Field(min_length=1, max_length=MAX_ENTITIES)]] = Field(
        max_length=MAX_FEATURES + 2,
        description="Columns of equal length: the entity key, ``event_timestamp`` (RFC 3339 with a timezone) "
        "and streaming features.",
    )
    to: Literal["online"] = Field("online", description="Where to write: this server has an online store only.")


class Health(BaseModel):
    """``GET /health``: the server is up and Redis answers ``PING``."""

    status: str = "ok"


class OnlineFeaturesMetadata(BaseModel):
    """The column names: the entity key, then the requested features in request order."""

    feature_names: list[str]


class FeatureColumn(BaseModel):
    """One column of ``POST /get-online-features``: a value, a status and an event time per entity, in request order.

    The entity-key column holds the ids, with status ``present`` or ``entity_missing``.
    """

    values: list[Value]
    statuses: list[FeatureStatus]
    event_timestamps: list[str | None] = Field(
        description="RFC 3339 (UTC) time of each value's event; null where none is stored (batch features, values "
        "written without one), where Feast gives 1970-01-01T00:00:00Z."
    )
    errors: list[str | None] | None = Field(
        None, description="Only in a column with an ``invalid`` value: what Redis holds there, null elsewhere."
    )


class OnlineFeaturesResponse(BaseModel):
    """Feast's response shape: ``results[i]`` is the column of ``metadata.feature_names[i]``."""

    metadata: OnlineFeaturesMetadata
    results: list[FeatureColumn]


@router.get("/health")
async def health(svc: Svc) -> Health:
    """Up, and Redis answers ``PING``."""
    await svc.reads.client.ping()
    return Health()


def add_hot_route(app: FastAPI) -> None:
    """Serve ``POST /get-online-features`` on ``app``, matched before every included router.

    On the app itself, not through ``include_router``: FastAPI matches an
    included router's routes through a nested lookup, 10-20 us of a ~280 us
    one-entity request in-process (over HTTP, within the noise; see
    ``benchmarks/README.md``). Only FastAPI's own ``/openapi.json`` route is
    tried before it (one regex, within the noise). The app's middleware
    (Host, Origin, JSON only, token, body size) guards it as every other route.
    """
    app.router.add_api_route(
        "/get-online-features",
        get_online_features,
        methods=["POST"],
        response_model=OnlineFeaturesResponse,
        tags=["model server"],
        route_class_override=JSONBodyRoute,
    )


async def get_online_features(body: OnlineFeaturesRequest, svc: Svc) -> Response:
    """Features of many entities with a status and event time each, in one atomic Redis read.

    A feature that is not ``present`` carries the schema's default value.
    """
    if list(body.entities) != [svc.entity_key]:
        raise HTTPException(
            status_code=422,
            detail=f"entities must have exactly one key, {svc.entity_key!r}; got {list(body.entities)}",
        )
    ids, names = body.entities[svc.entity_key], known_names(svc.schema, body.features)
    vectors = await svc.reads.batch_get_feature_vectors(ids, names, max_age_seconds=body.max_age_seconds)
    return JSONBytes(online_features(svc.entity_key, ids, names, vectors))


def online_features(key: str, ids: Sequence[str], names: Sequence[str], vectors: FeatureVectors) -> dict[str, Any]:
    """Feast's column layout as plain data: the entity-key column, then a column per feature, rows in request order."""
    rows = [vectors[entity_id] for entity_id in ids]  # a repeated id gets its row each time
    present, missing = _STATUS_TEXT[FeatureStatus.PRESENT], _STATUS_TEXT[FeatureStatus.ENTITY_MISSING]
    exists = [present if row.entity_exists else missing for row in rows]
    columns: list[dict[str, list[Any]]] = [
        {"values": list(ids), "statuses": exists, "event_timestamps": [None] * len(rows)}
    ]
    for name in names:
        column: dict[str, list[Any]] = {
            "values": [row.values[name] for row in rows],
            "statuses": [_STATUS_TEXT[row.statuses[name]] for row in rows],
            "event_timestamps": [rfc3339(row.event_times.get(name)) for row in rows],
        }
        if any(name in row.errors for row in rows):
            column["errors"] = [row.errors.get(name) for row in rows]
        columns.append(column)
    return {"metadata": {"feature_names": [key, *names]}, "results": columns}


_STATUS_TEXT = {status: status.value for status in FeatureStatus}
"""Each status as a plain str: pydantic-core serializes an enum member through Python, ~10x the cost of a str
(1.1 ms of a 100-entity answer's 1.2 ms)."""


def rfc3339(event_ms: int | None) -> str | None:
    """Epoch milliseconds as RFC 3339 UTC text (``2026-12-02T10:00:00.250Z``), None as None."""
    if event_ms is None:
        return None
    return f"{_utc_second(event_ms // 1000)}.{event_ms % 1000:03d}Z"


@functools.lru_cache(maxsize=1024)
def _utc_second(seconds: int) -> str:
    """The date and time of one second: the values of one worker tick share it, so it is formatted once."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


@router.post("/push")
def push(body: PushRequest, svc: Svc) -> WriteResult:
    """Write streaming features with their event times: a field whose stored event is newer is ``late``, the same
    event is ``replayed``, and neither is written. A bad row gets a 422 and nothing is written."""
    frame = _push_frame(body.df, svc.entity_key, svc.schema.names)
    try:
        return svc.demo.store.update_streaming_many(frame)
    except (TypeError, ValueError) as exc:  # a row the store refuses: checked whole before the first write
        raise HTTPException(status_code=422, detail=str(exc)) from None


def _push_frame(df: dict[str, list[FeatureValue]], key: str, known: list[str]) -> pd.DataFrame:
    """The push as the store's DataFrame: indexed by id, an ``event_time`` column of aware datetimes.

    Raises:
        HTTPException: 422 for a missing or unknown column, columns of unequal length, or a bad event time.
    """
    missing = [name for name in (key, EVENT_TIMESTAMP) if name not in df]
    unknown = [name for name in df if name not in (key, EVENT_TIMESTAMP, *known)]
    lengths = sorted({len(values) for values in df.values()})
    if missing or unknown or len(lengths) > 1:
        wrong = (
            f"misses {missing}"
            if missing
            else f"has unknown columns {unknown}"
            if unknown
            else f"has lengths {lengths}"
        )
        raise HTTPException(
            status_code=422,
            detail=f"df {wrong}: it takes {key!r}, {EVENT_TIMESTAMP!r} and streaming features, columns of one length",
        )
    times = [_event_time(row, text) for row, text in enumerate(df[EVENT_TIMESTAMP])]
    columns = {
        name: pd.Series(values, dtype=object) for name, values in df.items() if name not in (key, EVENT_TIMESTAMP)
    }
    frame = pd.DataFrame(columns)
    frame.index = pd.Index(df[key], dtype=object)
    frame[EVENT_TIME_COLUMN] = pd.Series(times, index=frame.index, dtype=object)
    return frame


def _event_time(row: int, text: object) -> datetime.datetime:
    try:
        stamp = datetime.datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        stamp = None
    if stamp is None or stamp.utcoffset() is None:
        raise HTTPException(
            status_code=422,
            detail=f"row {row}: {EVENT_TIMESTAMP} {text!r} is not RFC 3339 text with a timezone "
            "(e.g. 2026-12-02T10:00:00Z)",
        )
    return stamp
