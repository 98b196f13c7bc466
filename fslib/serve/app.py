"""create_app(): the FastAPI application, its lifespan (Redis clients, stores, worker) and its error answers."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import redis
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from fslib.checks import check_prefix, check_ttl
from fslib.connection import connect, connect_async, resolve_url
from fslib.core import DEFAULT_BATCH_TTL_SECONDS, DEFAULT_KEY_PREFIX, DEFAULT_STREAMING_TTL_SECONDS, Transport
from fslib.demo import Demo
from fslib.errors import LoadInterruptedError, StoredDataError
from fslib.fast import AsyncFeatureStore
from fslib.schema import DEFAULT_SCHEMA, Schema
from fslib.serve import demo_api, docs, model_server, page
from fslib.serve.models import MAX_BODY_BYTES
from fslib.serve.security import ASGIApp, Message, Receive, RequestGuard, Scope, Send, check_token, host_names
from fslib.serve.services import Services
from fslib.store import FeatureStore
from fslib.worker import DEFAULT_TICK_SECONDS, DEFAULT_USERS_PER_TICK, StreamingWorker

__all__ = ["MAX_ECHO_CHARS", "BodyLimit", "create_app"]

MAX_ECHO_CHARS = 500
"""A 422 echoes at most this many characters of the input it refuses, and of each text in its errors."""


def create_app(
    redis_url: str | None = None,
    *,
    key_prefix: str = DEFAULT_KEY_PREFIX,
    batch_ttl_seconds: int = DEFAULT_BATCH_TTL_SECONDS,
    streaming_ttl_seconds: int = DEFAULT_STREAMING_TTL_SECONDS,
    tick_seconds: float = DEFAULT_TICK_SECONDS,
    users_per_tick: int = DEFAULT_USERS_PER_TICK,
    start_worker: bool = True,
    demo: bool = True,
    transport: Transport = "pipeline",
    entity_key: str = "user_id",
    schema: Schema = DEFAULT_SCHEMA,
    max_body_bytes: int = MAX_BODY_BYTES,
    host: str = "127.0.0.1",
    allowed_hosts: Iterable[str] = (),
    token: str | None = None,
) -> FastAPI:
    """The feature server as an ASGI app; serve it with uvicorn (``python -m fslib.serve`` does).

    Nothing connects until the app starts: its lifespan connects to Redis
    (``redis_url``, else ``REDIS_URL``, else the embedded Redis 8), starts the
    streaming worker, and on shutdown stops it and closes both clients.

    Args:
        redis_url: ``redis://`` URL of one Redis server (not a cluster).
        key_prefix: Where the entities live; ``/reset`` deletes only under it.
        batch_ttl_seconds: Default key-level TTL of ``/bulk-load``.
        streaming_ttl_seconds: Field TTL of the worker's streaming writes.
        tick_seconds, users_per_tick: The worker's pace.
        start_worker: Start the worker with the app (else ``/worker/toggle`` starts it).
        demo: Serve the demo endpoints and the web page, with the demo's streaming worker. False: the model
            server alone (``/health``, ``/get-online-features``, ``/push``, docs), each of several processes
            on one port (``python -m fslib.serve --workers N``, whose parent runs the one worker); the demo's
            paths answer a 404 that says so.
        transport: The request-path reads' transport (``"pipeline"`` or ``"packed"``).
        entity_key: The join key of ``/get-online-features`` requests.
        schema: Feature names, kinds, types and defaults.
        max_body_bytes: Larger request bodies get a 413.
        host: The address the server binds; beyond loopback a ``token`` is required.
        allowed_hosts: More names (``name`` or ``name:port``) the ``Host`` header may give,
            beside the loopback names and ``host`` (see :mod:`fslib.serve.security`).
        token: The bearer token every endpoint but ``/health`` requires; None for none (loopback only).

    Raises:
        ValueError, TypeError: A TTL, the prefix, ``max_body_bytes``, an allowed host or the token
            is out of range, or no token for a ``host`` beyond loopback, or ``start_worker`` without ``demo``.
    """
    if start_worker and not demo:
        raise ValueError("start_worker needs the demo: without it the server runs no streaming worker")
    check_token(token, host)
    names = host_names(host, allowed_hosts)
    check_prefix(key_prefix)
    check_ttl(batch_ttl_seconds, "batch_ttl_seconds")
    check_ttl(streaming_ttl_seconds, "streaming_ttl_seconds")
    if not isinstance(max_body_bytes, int) or isinstance(max_body_bytes, bool) or max_body_bytes < 1:
        raise ValueError(f"max_body_bytes must be a positive integer, got {max_body_bytes!r}")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            url = await run_in_threadpool(resolve_url, redis_url)  # may start the embedded server
            client = await run_in_threadpool(connect, url, cluster=False)
            stack.callback(client.close)
            aclient = await connect_async(url)
            stack.push_async_callback(aclient.aclose)
            store = FeatureStore(
                client, key_prefix, batch_ttl_seconds, streaming_ttl_seconds, schema=schema, transport=transport
            )
            reads = AsyncFeatureStore(
                aclient, key_prefix, batch_ttl_seconds, streaming_ttl_seconds, schema=schema, transport=transport
            )
            worker = StreamingWorker(store, tick_seconds, users_per_tick)
            stack.push_async_callback(run_in_threadpool, worker.stop)
            if start_worker:
                worker.start()
            demo = Demo(worker, redis_url=url, readers=[reads])  # /state counts the async reads too
            app.state.services = Services(demo, reads, entity_key)
            yield

    app = FastAPI(
        title="fslib feature server",
        summary="Online features from Redis, each with a status that says how fresh it is.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # fslib.serve.docs serves them offline
        redoc_url=None,
    )
    model_server.add_hot_route(app)  # before the routers: the route most requests take is matched early
    app.include_router(model_server.router)
    app.include_router(docs.router)
    for router in (demo_api.router, page.router):
        app.include_router(router if demo else _served_by_one_process(router))
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(RequestGuard, host_names=names, token=token)  # added last: runs first
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(redis.ConnectionError, _unavailable)
    app.add_exception_handler(redis.TimeoutError, _unavailable)
    app.add_exception_handler(TimeoutError, _unavailable)  # reset_store: a worker tick still in flight
    app.add_exception_handler(LoadInterruptedError, _unavailable)
    app.add_exception_handler(StoredDataError, _unreadable)
    return app


def _served_by_one_process(router: APIRouter) -> APIRouter:
    """The paths of ``router``, each answering a 404 that says why: the demo needs its worker and state in one
    process, and this server is one of several."""
    detail = (
        "the demo endpoints and page are served by a single process (python -m fslib.serve --workers 1); this "
        "server runs several, each the model server alone: /health, /get-online-features, /push, /docs"
    )

    async def elsewhere() -> None:
        raise HTTPException(status_code=404, detail=detail)

    refusals = APIRouter(include_in_schema=False)
    for route in router.routes:
        assert isinstance(route, APIRoute)
        refusals.add_api_route(route.path, elsewhere, methods=sorted(route.methods or ()))
    return refusals


async def _unreadable(request: Request, exc: Exception) -> JSONResponse:
    """409 naming what another tool stored under the prefix (``WRONGTYPE``, a value not of its type)."""
    return JSONResponse(status_code=409, content={"detail": _cut(str(exc))})


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    """503 for what a retry may fix: Redis unreachable or restarting, the worker busy."""
    services: Services = request.app.state.services
    return JSONResponse(
        status_code=503,
        content={"detail": f"{type(exc).__name__} (Redis at {services.demo.redis_url}): {exc}; retry shortly"},
    )


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, with what it echoes made JSON-safe and short.

    pydantic's errors carry the refused ``input`` whole (all 1,001 ids of a
    list too long), and may hold what JSON cannot carry (``NaN``, a lone
    surrogate such as ``"\\ud800"``), which turned the 422 into a plain-text 500.
    """
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(status_code=422, content={"detail": _json_safe(jsonable_encoder(exc.errors()))})


def _json_safe(value: Any) -> Any:
    """JSON-like ``value`` with non-finite numbers as text, lone surrogates escaped and long texts cut."""
    if isinstance(value, dict):
        return {_json_safe(key): _echo(item) if key == "input" else _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return _cut(value.encode("utf-8", "backslashreplace").decode("utf-8"))
    return value


def _echo(value: Any) -> Any:
    """The refused input as it came when short, else the start and end of its JSON text."""
    text = json.dumps(value)  # ASCII, NaN and surrogates spelt out: never fails on JSON-like data
    return _json_safe(value) if len(text) <= MAX_ECHO_CHARS else _cut(text)


def _cut(text: str) -> str:
    """``text`` if short, else its start and end: a message that quotes a long id still says what is wrong."""
    if len(text) <= MAX_ECHO_CHARS:
        return text
    keep = MAX_ECHO_CHARS // 2 - 50
    return f"{text[:keep]} ... ({len(text) - 2 * keep} characters cut) ... {text[-keep:]}"


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` gets a JSON 413 and is never parsed.

    A declared ``Content-Length`` is checked before anything is read; a chunked
    body is counted as it arrives and refused as soon as it passes the limit.
    (FastAPI's own ``max_body_size`` answers the first case in plain text.)
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = f"request body over {self.max_bytes} bytes"
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await JSONResponse(status_code=413, content={"detail": detail})(scope, receive, send)
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(status_code=413, detail=detail)  # FastAPI answers it as it reads the body
            return message

        await self.app(scope, counted_receive, send)
