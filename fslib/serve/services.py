"""What every endpoint is handed: the demo (store and worker), the async store and the settings of one server."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from fslib.demo import Demo
from fslib.fast import AsyncFeatureStore
from fslib.schema import Schema
from fslib.serve.models import MAX_AGE_DESCRIPTION, EntityId

__all__ = ["IdQuery", "JSONBodyRoute", "MaxAgeQuery", "Services", "Svc", "known_names"]


@dataclass(frozen=True)
class Services:
    """What the endpoints use: the demo (its sync store and worker) and the async store, over one Redis."""

    demo: Demo
    """The demo's actions; its store takes bulk loads, inspection, reset and the worker: blocking work,
    run in the threadpool."""
    reads: AsyncFeatureStore
    """The request path: reads on the event loop."""
    entity_key: str
    """The join key ``POST /get-online-features`` expects in ``entities``."""

    @property
    def schema(self) -> Schema:
        """The features served (the stores' schema)."""
        return self.demo.store.schema


async def _services(request: Request) -> Services:
    """The app's services. ``async``, as FastAPI runs a plain ``def`` dependency in its threadpool: a thread
    hop on every request, for an attribute lookup."""
    services: Services = request.app.state.services  # set by the app's lifespan
    return services


Svc = Annotated[Services, Depends(_services)]


class JSONBodyRoute(APIRoute):
    """The route of a hot endpoint, ``async def endpoint(body: SomeModel, svc: Svc) -> Response``.

    Its path, OpenAPI schema and error answers are FastAPI's; its per-request
    handler is not. FastAPI's parses the body with ``json.loads``, validates the
    dict, then solves the endpoint's dependencies: about a fifth of a one-entity
    read's time in this process. This one validates the body's bytes in one
    pydantic-core call (``SomeModel.model_validate_json``) and hands the endpoint
    the app's services itself. A body it refuses goes to FastAPI's own handler,
    so the 422 is FastAPI's, word for word.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        assert self.body_field is not None, f"{self.path}: a JSONBodyRoute endpoint takes a body model"
        body_model = self.body_field.field_info.annotation
        assert isinstance(body_model, type) and issubclass(body_model, BaseModel), f"{self.path}: {body_model!r}"
        endpoint = self.endpoint
        fastapi_handler = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                body = body_model.model_validate_json(await request.body())
            except ValidationError:
                return await fastapi_handler(request)  # FastAPI's own 422, word for word; the body is cached
            response: Response = await endpoint(body, await _services(request))
            return response

        return handler


IdQuery = Annotated[EntityId, Query(alias="id", description="The entity id, e.g. u0001.")]

MaxAgeQuery = Annotated[float | None, Query(gt=0, allow_inf_nan=False, description=MAX_AGE_DESCRIPTION)]
"""``?max_age_seconds=`` of a read: no limit when omitted."""


def known_names(schema: Schema, names: Sequence[str] | None) -> list[str]:
    """The requested feature names (every feature when None); a 422 naming any the schema lacks."""
    if names is None:
        return schema.names
    unknown = [name for name in names if name not in schema]
    if unknown:
        raise HTTPException(status_code=422, detail=f"unknown features {unknown}; this server serves {schema.names}")
    return list(names)
