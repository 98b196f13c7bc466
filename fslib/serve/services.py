"""What every endpoint is handed: the demo (store and worker), the async store and the settings of one server."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request

from fslib.demo import Demo
from fslib.fast import AsyncFeatureStore
from fslib.schema import Schema
from fslib.serve.models import EntityId

__all__ = ["IdQuery", "Services", "Svc", "known_names"]


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


IdQuery = Annotated[EntityId, Query(alias="id", description="The entity id, e.g. u0001.")]


def known_names(schema: Schema, names: Sequence[str] | None) -> list[str]:
    """The requested feature names (every feature when None); a 422 naming any the schema lacks."""
    if names is None:
        return schema.names
    unknown = [name for name in names if name not in schema]
    if unknown:
        raise HTTPException(status_code=422, detail=f"unknown features {unknown}; this server serves {schema.names}")
    return list(names)
