"""``JSONBodyRoute``, the hot endpoint's lean route class, answers a bad body exactly as FastAPI's route does.

Two in-process apps take the same request model, one through FastAPI's own
``APIRoute`` and one through ``JSONBodyRoute``; every refused body must get
the same status and the same JSON from both, and a good body the same model.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute

from fslib.serve import create_app
from fslib.serve.model_server import OnlineFeaturesRequest
from fslib.serve.services import JSONBodyRoute, Svc

SERVERS_422 = create_app().exception_handlers[RequestValidationError]
"""The feature server's own 422 handler (JSON-safe echoes): building the app connects nothing."""


def app_with(route_class: type) -> FastAPI:
    router = APIRouter(route_class=route_class)

    @router.post("/echo")
    async def echo(body: OnlineFeaturesRequest, svc: Svc) -> Response:
        return Response(json.dumps({"body": body.model_dump(), "services": svc}), media_type="application/json")

    app = FastAPI()
    app.include_router(router)
    app.add_exception_handler(RequestValidationError, SERVERS_422)
    app.state.services = "the app's services"  # what the lifespan sets; the route must hand it to the endpoint
    return app


GOOD = {"features": ["user_features:country_iso"], "entities": {"user_id": ["u1", "u2"]}}
BAD_BODIES = [
    b"",
    b"{not json",
    b"[]",
    b'"a string"',
    json.dumps({"entities": {"user_id": ["u1"]}}).encode(),  # no features
    json.dumps(GOOD | {"surprise": 1}).encode(),  # a field the model forbids
    json.dumps(GOOD | {"max_age_seconds": 0}).encode(),
    json.dumps(GOOD | {"entities": {"user_id": "u1"}}).encode(),
]
BORDERLINE_BODIES = [  # where a JSON parser and a dict validator could part ways; each is accepted or refused
    json.dumps(GOOD | {"max_age_seconds": "60"}).encode(),
    json.dumps(GOOD | {"max_age_seconds": True}).encode(),
    json.dumps(GOOD | {"max_age_seconds": None}).encode(),
    json.dumps(GOOD)[:-1].encode() + b', "max_age_seconds": 1e400}',  # infinity once parsed
    b'{"features": ["a"], ' + json.dumps(GOOD)[1:].encode(),  # a repeated key: the last one counts
    json.dumps(GOOD | {"entities": {"user_id": [1, 2]}}).encode(),
    json.dumps(GOOD | {"entities": {"user_id": ["u\ud800"]}}, ensure_ascii=False).encode("utf-8", "surrogatepass"),
    json.dumps(GOOD).encode() + b"  \n",
    json.dumps(GOOD).encode() + b"x",
    "\ufeff".encode() + json.dumps(GOOD).encode(),  # a byte-order mark
]


def post(app: FastAPI, content: bytes) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post("/echo", content=content, headers={"content-type": "application/json"})

    return asyncio.run(send())


@pytest.mark.parametrize("content", BAD_BODIES, ids=[body[:40].decode() or "empty" for body in BAD_BODIES])
def test_a_refused_body_gets_fastapis_422(content: bytes) -> None:
    fastapi_answer = post(app_with(APIRoute), content)
    lean_answer = post(app_with(JSONBodyRoute), content)
    assert fastapi_answer.status_code == 422, fastapi_answer.text
    assert (lean_answer.status_code, lean_answer.json()) == (fastapi_answer.status_code, fastapi_answer.json())


@pytest.mark.parametrize("content", BORDERLINE_BODIES, ids=[repr(body[:48]) for body in BORDERLINE_BODIES])
def test_a_borderline_body_gets_the_same_answer_from_both_routes(content: bytes) -> None:
    fastapi_answer = post(app_with(APIRoute), content)
    lean_answer = post(app_with(JSONBodyRoute), content)
    assert (lean_answer.status_code, lean_answer.text) == (fastapi_answer.status_code, fastapi_answer.text)


def test_a_good_body_reaches_the_endpoint_as_the_same_model_with_the_apps_services() -> None:
    content = json.dumps(GOOD | {"max_age_seconds": 60}).encode()
    fastapi_answer = post(app_with(APIRoute), content)
    lean_answer = post(app_with(JSONBodyRoute), content)
    assert lean_answer.status_code == 200, lean_answer.text
    assert lean_answer.json() == fastapi_answer.json()
    assert lean_answer.json()["services"] == "the app's services"
    assert lean_answer.json()["body"]["entities"] == {"user_id": ["u1", "u2"]}
