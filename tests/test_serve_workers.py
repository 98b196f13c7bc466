"""``python -m fslib.serve --workers N``: N model-server processes on one port, one streaming worker (the parent)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from fslib import FeatureStore, synthesize_users
from fslib.local import EmbeddedRedis
from fslib.serve import ServerProcess, create_app

from polling import wait_until

TOKEN = "workers-test-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
ONLINE = "/get-online-features"


@pytest.fixture
def direct(single_client: redis.Redis, prefix: str) -> Iterator[FeatureStore]:
    """The test's own store on the server's prefix, with five users loaded."""
    store = FeatureStore(single_client, key_prefix=prefix)
    store.bulk_load(synthesize_users(5), ttl_seconds=600)
    yield store
    store.reset()


def server_processes(pid: int) -> list[int]:
    """The uvicorn processes serving under ``pid`` (its children started by multiprocessing's spawn)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def streaming_status(http: httpx.Client, entity_id: str) -> str:
    body = {"entities": {"user_id": [entity_id]}, "features": ["tx_count_5m"]}
    status: str = http.post(ONLINE, json=body, headers=BEARER).json()["results"][1]["statuses"][0]
    return status


def test_two_processes_serve_the_model_server_with_one_worker_in_the_parent(
    redis_server: EmbeddedRedis, direct: FeatureStore
) -> None:
    options = ("--workers", "2", "--key-prefix", direct.key_prefix, "--tick-seconds", "0.1")
    server = ServerProcess(*options, redis_url=redis_server.url, token=TOKEN).start()
    try:
        assert server.pid is not None
        processes = server_processes(server.pid)
        assert len(processes) == 2, server.output()
        with httpx.Client(base_url=server.url) as http:
            # The token reached every process: each of these requests may land on either.
            assert all(http.post(ONLINE, json={}).status_code == 401 for _ in range(8))
            batch = {"entities": {"user_id": ["u0001", "nobody"]}, "features": ["risk_segment"]}
            answer = http.post(ONLINE, json=batch, headers=BEARER).json()
            assert answer["results"][0]["statuses"] == ["present", "entity_missing"]
            # Loaded without streaming features: the parent's worker writes them.
            assert wait_until(lambda: streaming_status(http, "u0005") == "present")
            for path, method in [("/state", "GET"), ("/bulk-load", "POST"), ("/worker/toggle", "POST"), ("/", "GET")]:
                refused = http.request(method, path, json={} if method == "POST" else None, headers=BEARER)
                assert refused.status_code == 404 and "--workers 1" in refused.json()["detail"], path
            listed = http.get("/openapi.json", headers=BEARER).json()["paths"]
            assert set(listed) == {"/health", ONLINE, "/push"}
            # Every process keeps the security rules: a rebinding host name, another site, a form post.
            for _ in range(8):
                assert http.post(ONLINE, json=batch, headers={**BEARER, "host": "evil.example"}).status_code == 400
                cross_site = {**BEARER, "origin": "http://evil.example"}
                assert http.post(ONLINE, json=batch, headers=cross_site).status_code == 403
                push = http.post(
                    "/push", content="push_source_name=x", headers={**BEARER, "content-type": "text/plain"}
                )
                assert push.status_code == 415
    finally:
        assert server.stop()
    assert server.exit_code == 0, server.output()
    assert not any(os.path.exists(f"/proc/{pid}") for pid in processes)
    assert "Stopping parent process" in server.output()


def test_an_app_without_the_demo_cannot_run_a_worker() -> None:
    with pytest.raises(ValueError, match="start_worker needs the demo"):
        create_app(demo=False, start_worker=True)
    model_server = create_app(demo=False, start_worker=False)  # nothing connects until it starts
    assert set(model_server.openapi()["paths"]) == {"/health", ONLINE, "/push"}
    assert {"/state", "/bulk-load"} <= set(create_app(start_worker=False).openapi()["paths"])


def test_workers_must_be_a_positive_count(redis_server: EmbeddedRedis) -> None:
    server = ServerProcess("--workers", "0", redis_url=redis_server.url)
    with pytest.raises(RuntimeError, match="argument --workers: the number must be >= 1, got 0"):
        server.start()
