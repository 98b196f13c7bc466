"""``python -m benchmarks.bare_route``: the floor ``POST /get-online-features`` is measured against (issue #22).

A plain ASGI app, no framework: the body is ``json.loads``-ed, the ids read
with the same :meth:`AsyncFeatureStore.batch_get_feature_vectors`, laid out
in Feast's columns by the same :func:`fslib.serve.model_server.online_features`
and sent as ``json.dumps`` of those plain dicts. It checks nothing, guards
nothing and has no OpenAPI schema: what ``fslib.serve`` spends beyond it
(FastAPI's routing and request validation, the security and body-size
middleware, pydantic-core's serialization) is what the ``http`` section's
ratio measures. uvicorn runs it with the options ``fslib.serve`` uses.

    REDIS_URL=redis://127.0.0.1:6379 python -m benchmarks.bare_route --port 8091 --key-prefix bench:x:
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import uvicorn

from fslib.connection import connect_async, resolve_url
from fslib.fast import AsyncFeatureStore
from fslib.serve.limits import uvicorn_options
from fslib.serve.model_server import online_features
from fslib.serve.security import Receive, Scope, Send

__all__ = ["BareRoute", "main"]

_JSON = [(b"content-type", b"application/json")]


class BareRoute:
    """The ASGI app: ``POST /get-online-features`` (entity key ``user_id``) and ``GET /health``, nothing else."""

    def __init__(self, key_prefix: str) -> None:
        self.key_prefix = key_prefix
        self.store: AsyncFeatureStore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        assert self.store is not None
        if scope["path"] != "/get-online-features":
            await self._answer(send, 200, {"status": "ok"})
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        request = json.loads(b"".join(chunks))
        ids, names = request["entities"]["user_id"], request["features"]
        vectors = await self.store.batch_get_feature_vectors(ids, names, max_age_seconds=request.get("max_age_seconds"))
        await self._answer(send, 200, online_features("user_id", ids, names, vectors))

    async def _answer(self, send: Send, status: int, content: Any) -> None:
        body = json.dumps(content).encode()
        headers = [*_JSON, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """Connect at start-up (``REDIS_URL``), close at shutdown."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                client = await connect_async(resolve_url(None))
                self.store = AsyncFeatureStore(client, key_prefix=self.key_prefix)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.store is not None:
                    await self.store.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


def main() -> None:
    """Serve :class:`BareRoute` on loopback until SIGINT."""
    cli = argparse.ArgumentParser(prog="python -m benchmarks.bare_route", description=__doc__.split("\n")[0])
    cli.add_argument("--port", type=int, required=True)
    cli.add_argument("--key-prefix", required=True)
    args = cli.parse_args()
    uvicorn.run(
        BareRoute(args.key_prefix),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        **uvicorn_options(),
    )


if __name__ == "__main__":
    main()
