"""An HTTP feature server over the store: ``python -m fslib.serve`` (FastAPI + uvicorn).

Opt in with ``pip install -e .[serve]``; the core never imports this package.
The request path reads through :class:`fslib.fast.AsyncFeatureStore` and
answers each feature with a status (present, expired, missing,
entity_missing); the Redis docs demo's endpoints (bulk load, worker, inspect,
reset) run through the sync store in FastAPI's threadpool. OpenAPI docs at ``/docs``.

    $ python -m fslib.serve --port 8090                  # embedded Redis 8, or REDIS_URL / --redis-url
    $ curl -s localhost:8090/get-online-features -H 'content-type: application/json' \\
        -d '{"entities": {"user_id": ["u0001"]}, "features": ["risk_segment", "tx_count_5m"]}'

    >>> app = create_app(key_prefix="fs:user:")           # an ASGI app, for uvicorn or a test client
    >>> with ServerProcess("--key-prefix", "nb09:user:") as server:   # a child process on a free port
    ...     httpx.get(f"{server.url}/state").json()
"""

from __future__ import annotations

from fslib.serve.app import create_app
from fslib.serve.process import ServerProcess

__all__ = ["ServerProcess", "create_app"]
