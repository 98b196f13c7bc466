"""The HTTP feature server against the real embedded Redis: every endpoint, real TTL expiry, bad requests, bounds.

Every request goes over loopback HTTP with httpx to a real uvicorn: most tests
run the app in a thread of the test process (so they can start it with other
options); the last ones start ``python -m fslib.serve`` as a child process.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx
import pytest
import redis
import uvicorn
from fastapi import FastAPI

from fslib import FeatureStore, synthesize_users
from fslib.checks import MAX_TTL_SECONDS
from fslib.demo import BATCH_READ_RANGE
from fslib.local import EmbeddedRedis, free_port
from fslib.serve import ServerProcess, create_app
from fslib.serve.demo_api import MAX_LOAD_USERS, BatchReadResponse, ReadResponse
from fslib.serve.model_server import OnlineFeaturesResponse
from fslib.serve.models import MAX_BODY_BYTES, MAX_ENTITIES, MAX_FEATURES
from fslib.worker import DEFAULT_TICK_SECONDS, DEFAULT_USERS_PER_TICK

from polling import wait_until

FEATURES = ["risk_segment", "account_age_days", "tx_count_5m", "last_device_id"]
ENDPOINTS = {"/health", "/get-online-features", "/push"} | {
    "/state", "/bulk-load", "/worker/toggle", "/read", "/batch-read", "/inspect", "/reset"  # the seed's demo API
}  # fmt: skip
MakeClient = Callable[..., httpx.Client]


@contextmanager
def serving(app: FastAPI, **options: Any) -> Iterator[httpx.Client]:
    """``app`` under uvicorn on a free loopback port, in a thread; shut down (lifespan included) on exit.

    ``options`` go to ``uvicorn.Config`` (e.g. :func:`fslib.serve.limits.uvicorn_options`).
    """
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-under-test")
    before = set(threading.enumerate())
    thread.start()
    try:
        assert wait_until(lambda: server.started or not thread.is_alive()) and server.started, "the app did not start"
        with httpx.Client(base_url=f"http://127.0.0.1:{server.config.port}") as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(30)
        # The threadpool of the def endpoints ends with the server's event loop; wait for its threads to exit.
        for pooled in set(threading.enumerate()) - before:
            pooled.join(10)


@pytest.fixture
def direct(single_client: redis.Redis, prefix: str) -> Iterator[FeatureStore]:
    """The test's own sync store on the server's prefix: to arrange data and to check what Redis holds."""
    store = FeatureStore(single_client, key_prefix=prefix)
    yield store
    store.reset()


@pytest.fixture
def make_client(redis_server: EmbeddedRedis, prefix: str) -> Iterator[MakeClient]:
    """Serve the app with the given options (worker stopped unless asked); shut down at the end of the test."""
    with ExitStack() as stack:

        def make(**options: Any) -> httpx.Client:
            app = create_app(redis_server.url, **{"key_prefix": prefix, "start_worker": False, **options})
            return stack.enter_context(serving(app))

        yield make


@pytest.fixture
def http(make_client: MakeClient) -> httpx.Client:
    return make_client()


ONLINE = "/get-online-features"


def ask(ids: Any, features: Any = ("risk_segment",), key: str = "user_id") -> dict[str, Any]:
    """The request arguments of a ``/get-online-features`` call."""
    return {"json": {"entities": {key: ids}, "features": list(features)}}


def raw(content: Any) -> dict[str, Any]:
    """Request arguments sending ``content`` as it is, declared as JSON."""
    return {"content": content, "headers": {"content-type": "application/json"}}


def online(http: httpx.Client, ids: list[Any], names: list[str]) -> dict[str, Any]:
    """``POST /get-online-features``, checked to answer 200."""
    response = http.post(ONLINE, **ask(ids, names))
    assert response.status_code == 200, response.text
    return response.json()


def column(body: dict[str, Any], name: str) -> dict[str, list[Any]]:
    """The values and statuses of one column of a ``/get-online-features`` answer (its event times aside)."""
    found = body["results"][body["metadata"]["feature_names"].index(name)]
    return {part: found[part] for part in found if part != "event_timestamps"}


def snapshot(store: FeatureStore) -> dict[str, dict[str, str]]:
    """Every hash under the store's prefix, whole."""
    return {key: store.client.hgetall(key) for key in sorted(store.client.scan_iter(match=store.key_prefix + "*"))}


# -- endpoints -----------------------------------------------------------------------


def test_health_docs_and_openapi_list_every_endpoint(http: httpx.Client) -> None:
    assert http.get("/health").json() == {"status": "ok"}
    docs = http.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text and "/openapi.json" in docs.text
    schema = http.get("/openapi.json").json()
    assert set(schema["paths"]) == ENDPOINTS
    body = schema["components"]["schemas"]["OnlineFeaturesRequest"]
    assert body["required"] == ["entities", "features"] and body["additionalProperties"] is False


def test_bulk_load_writes_synthetic_users_with_the_key_ttl_and_state_counts_them(
    http: httpx.Client, direct: FeatureStore
) -> None:
    loaded = http.post("/bulk-load", json={"count": 20, "ttl_seconds": 600, "seed": 7})
    assert loaded.status_code == 200
    assert loaded.json()["written"] == 20 and loaded.json()["ttl_seconds"] == 600
    expected = dict(synthesize_users(20, seed=7))
    assert direct.batch_get_features(list(expected), direct.schema.batch_names, decode=True) == expected
    assert 0 < direct.key_ttl_seconds("u0020") <= 600

    state = http.get("/state").json()
    assert state["entity_count"] == 20 and state["key_prefix"] == direct.key_prefix
    assert state["store_stats"]["batch_writes"] == 20 and state["store_stats"]["reads"] == 0
    assert state["worker"]["status"] == "stopped"
    assert http.post("/bulk-load", json={}).json()["ttl_seconds"] == 24 * 60 * 60  # 200 users, the default TTL


def test_get_online_features_answers_feasts_columns_with_a_status_per_value(
    http: httpx.Client, direct: FeatureStore
) -> None:
    users = dict(synthesize_users(3))
    direct.bulk_load(users)
    direct.update_streaming("u0001", {"tx_count_5m": 4, "last_device_id": "ios-1"}, ttl_seconds=60)
    body = online(http, ["u0001", "u0003", "nobody", 2, "u0001"], FEATURES)

    assert body["metadata"]["feature_names"] == ["user_id", *FEATURES]
    ids = column(body, "user_id")
    assert ids["values"] == ["u0001", "u0003", "nobody", "2", "u0001"]  # request order, repeats kept, ids as text
    assert ids["statuses"] == ["present", "present", "entity_missing", "entity_missing", "present"]
    assert column(body, "risk_segment")["values"][:2] == [
        users["u0001"]["risk_segment"],
        users["u0003"]["risk_segment"],
    ]
    assert column(body, "tx_count_5m") == {
        "values": [4, 0, 0, 0, 4],  # 0: the schema's default where the value is not present
        "statuses": ["present", "expired", "entity_missing", "entity_missing", "present"],
    }
    assert column(body, "last_device_id")["values"] == ["ios-1", None, None, None, "ios-1"]
    assert http.get("/state").json()["store_stats"]["reads"] == 5


def test_statuses_follow_real_ttl_expiry_over_http(http: httpx.Client, direct: FeatureStore) -> None:
    direct.bulk_load({"u0001": {"risk_segment": "low"}})  # account_age_days never loaded
    direct.update_streaming("u0001", {"tx_count_5m": 9}, ttl_seconds=60)
    fresh = online(http, ["u0001"], ["risk_segment", "account_age_days", "tx_count_5m"])
    assert [c["statuses"] for c in fresh["results"]] == [["present"], ["present"], ["missing"], ["present"]]

    # The streaming write's field TTL runs out: expired, served as the default; the batch field stays.
    direct.update_streaming("u0001", {"tx_count_5m": 9}, ttl_seconds=1)
    assert wait_until(
        lambda: column(online(http, ["u0001"], ["tx_count_5m"]), "tx_count_5m")["statuses"] == ["expired"]
    )
    stale = online(http, ["u0001"], ["risk_segment", "tx_count_5m"])
    assert column(stale, "tx_count_5m") == {"values": [0], "statuses": ["expired"]}
    assert column(stale, "risk_segment") == {"values": ["low"], "statuses": ["present"]}

    # The batch cycle's key TTL runs out: the whole entity is gone.
    assert http.post("/bulk-load", json={"count": 1, "ttl_seconds": 1}).status_code == 200
    assert wait_until(
        lambda: column(online(http, ["u0001"], ["risk_segment"]), "user_id")["statuses"] == ["entity_missing"]
    )
    gone = online(http, ["u0001"], ["risk_segment", "tx_count_5m"])
    assert [c["statuses"] for c in gone["results"]] == [["entity_missing"]] * 3
    assert column(gone, "tx_count_5m")["values"] == [0] and column(gone, "risk_segment")["values"] == [None]


def test_read_reports_statuses_field_ttls_and_the_key_ttl(http: httpx.Client, direct: FeatureStore) -> None:
    direct.bulk_load(synthesize_users(2), ttl_seconds=600)
    direct.update_streaming("u0001", {"tx_count_5m": 2}, ttl_seconds=60)
    read = http.get("/read", params={"id": "u0001", "features": ["risk_segment", "tx_count_5m", "last_device_id"]})
    body = read.json()
    assert body["entity_id"] == "u0001" and 0 < body["key_ttl_seconds"] <= 600 and body["latency_seconds"] > 0
    by_name = {f["name"]: f for f in body["features"]}
    assert by_name["risk_segment"]["kind"] == "batch" and by_name["risk_segment"]["field_ttl_seconds"] == -1
    assert by_name["tx_count_5m"]["value"] == 2 and 0 < by_name["tx_count_5m"]["field_ttl_seconds"] <= 60
    assert by_name["last_device_id"] | {"name": "x"} == {
        "name": "x", "kind": "streaming", "value": None, "status": "expired", "field_ttl_seconds": -2,
        "event_time": None, "event_age_seconds": None, "error": None,
    }  # fmt: skip

    everything = http.get("/read", params={"id": "u0002"}).json()
    assert [f["name"] for f in everything["features"]] == direct.schema.names
    missing = http.get("/read", params={"id": "nobody", "features": ["risk_segment"]}).json()
    assert missing["key_ttl_seconds"] == -2 and missing["features"][0]["status"] == "entity_missing"


def test_read_and_batch_read_give_event_ages_and_judge_max_age(http: httpx.Client, direct: FeatureStore) -> None:
    # The page's inference read and batch scoring: an old event is never shown as simply present.
    now = int(time.time() * 1000)
    direct.bulk_load(synthesize_users(2), ttl_seconds=600)
    direct.update_streaming("u0001", {"tx_count_5m": 4}, 60, event_time=now - 600_000)  # ten minutes old
    direct.update_streaming("u0002", {"tx_count_5m": 5}, 60, event_time=now)
    names = ["risk_segment", "tx_count_5m"]
    read = {f["name"]: f for f in http.get("/read", params={"id": "u0001", "features": names}).json()["features"]}
    assert (read["tx_count_5m"]["status"], read["tx_count_5m"]["value"]) == ("present", 4)
    assert read["tx_count_5m"]["event_time"] == now - 600_000 and 600 <= read["tx_count_5m"]["event_age_seconds"] < 660
    assert read["risk_segment"]["event_time"] is None and read["risk_segment"]["event_age_seconds"] is None

    params = {"id": "u0001", "features": names, "max_age_seconds": 60}
    aged = {f["name"]: f for f in http.get("/read", params=params).json()["features"]}
    assert (aged["tx_count_5m"]["status"], aged["tx_count_5m"]["value"]) == ("stale", 0)  # the default, told why
    assert aged["risk_segment"]["status"] == "present"  # a batch value: the key TTL bounds its age
    batch = http.post("/batch-read", json={"count": 2, "features": ["tx_count_5m"], "max_age_seconds": 60}).json()
    assert [v["statuses"]["tx_count_5m"] for v in batch["vectors"]] == ["stale", "present"]
    assert batch["fields_present"] == 1
    for bad in (0, -1, "soon"):
        assert http.get("/read", params=params | {"max_age_seconds": bad}).status_code == 422
        assert http.post("/batch-read", json={"count": 2, "max_age_seconds": bad}).status_code == 422


def test_batch_read_scores_users_in_one_round_trip(http: httpx.Client, direct: FeatureStore) -> None:
    direct.bulk_load(synthesize_users(5))
    body = http.post("/batch-read", json={"count": 7, "features": ["risk_segment", "tx_count_7d"]}).json()
    assert (body["requested"], body["found"], body["fields_present"]) == (7, 5, 10)
    assert [v["entity_id"] for v in body["vectors"]] == [f"u{i:04d}" for i in range(1, 8)]
    assert body["vectors"][6]["statuses"] == {"risk_segment": "entity_missing", "tx_count_7d": "entity_missing"}
    assert len(http.post("/batch-read", json={}).json()["vectors"]) == 100  # the default count, every feature


def test_inspect_shows_the_whole_hash_with_ttls(http: httpx.Client, direct: FeatureStore) -> None:
    direct.bulk_load({"u0001": {"country_iso": "US"}}, ttl_seconds=600)
    direct.update_streaming("u0001", {"tx_count_5m": 1}, ttl_seconds=60)
    direct.client.hset(direct.key_for("u0001"), "legacy_flag", "1")  # a field the schema does not know
    body = http.get("/inspect", params={"id": "u0001"}).json()
    assert body["key"] == direct.key_for("u0001") and body["exists"] and 0 < body["key_ttl_seconds"] <= 600
    assert body["fields"]["country_iso"] == {"value": "US", "kind": "batch", "field_ttl_seconds": -1}
    assert (
        body["fields"]["tx_count_5m"]["kind"] == "streaming" and body["fields"]["tx_count_5m"]["field_ttl_seconds"] > 0
    )
    assert body["fields"]["legacy_flag"]["kind"] == "unknown"
    assert http.get("/inspect", params={"id": "nobody"}).json() | {"key": ""} == {
        "entity_id": "nobody", "key": "", "exists": False, "key_ttl_seconds": -2, "fields": {}
    }  # fmt: skip


def test_the_worker_toggles_writes_and_reset_empties_the_prefix(make_client: MakeClient, direct: FeatureStore) -> None:
    http = make_client(start_worker=True, tick_seconds=0.05, users_per_tick=3, streaming_ttl_seconds=30)
    assert http.get("/state").json()["worker"]["status"] == "running"
    assert http.post("/bulk-load", json={"count": 10}).json()["written"] == 10
    assert wait_until(lambda: http.get("/state").json()["worker"]["stats"]["writes"] > 0)
    written = [u for u in synthesize_users(10).ids if direct.field_ttls_seconds(u, ["tx_count_5m"])["tx_count_5m"] > 0]
    assert written and all(direct.field_ttls_seconds(u, ["tx_count_5m"])["tx_count_5m"] <= 30 for u in written)

    assert [http.post("/worker/toggle", json={}).json()["status"] for _ in range(3)] == ["paused", "running", "paused"]
    assert http.post("/reset", json={}).json() == {"deleted": 10}
    state = http.get("/state").json()
    assert state["entity_count"] == 0 and state["worker"]["status"] == "paused"
    assert snapshot(direct) == {}


def test_the_demo_endpoints_keep_their_json_shapes(http: httpx.Client, direct: FeatureStore) -> None:
    # A web page is written against these: fields may be added, never renamed or dropped.
    direct.client.set(direct.key_for("stray"), "not a hash", ex=60)
    loaded = http.post("/bulk-load", json={"count": 2, "ttl_seconds": 600}).json()
    assert set(loaded) == {"written", "ttl_seconds", "elapsed_seconds"}
    state = http.get("/state").json()
    assert set(state) >= {
        "redis_url", "key_prefix", "entity_count", "batch_ttl_seconds", "streaming_ttl_seconds", "store_stats",
        "worker",
    }  # fmt: skip
    assert (state["batch_ttl_seconds"], state["last_load_ttl_seconds"]) == (24 * 60 * 60, 600)
    assert set(state["worker"]) >= {"status", "stats", "tick_seconds", "users_per_tick", "round_seconds"}
    assert set(state["store_stats"]) >= {"batch_writes", "streaming_writes", "reads", "fields_read"}
    read = http.get("/read", params={"id": "u0001", "features": ["risk_segment"]}).json()
    assert set(read) == {"entity_id", "key_ttl_seconds", "latency_seconds", "features"}
    assert set(read["features"][0]) == {
        "name", "kind", "value", "status", "field_ttl_seconds", "event_time", "event_age_seconds", "error"
    }  # fmt: skip
    [stray] = http.get("/read", params={"id": "stray", "features": ["risk_segment"]}).json()["features"]
    assert (stray["status"], stray["field_ttl_seconds"]) == ("invalid", -2) and "no feature hash" in stray["error"]
    batch = http.post("/batch-read", json={"count": 3}).json()
    assert set(batch) == {"requested", "found", "fields_present", "latency_seconds", "vectors"}
    assert set(batch["vectors"][0]) == {"entity_id", "values", "statuses", "event_times", "errors"}
    # The hot paths answer plain data (JSONBytes); their OpenAPI response models must still describe it.
    ReadResponse.model_validate_json(http.get("/read", params={"id": "u0001"}).text, strict=True)
    BatchReadResponse.model_validate_json(http.post("/batch-read", json={"count": 3}).text, strict=True)
    online = http.post(
        "/get-online-features", json={"entities": {"user_id": ["u0001", "stray"]}, "features": ["risk_segment"]}
    )
    OnlineFeaturesResponse.model_validate_json(online.text, strict=True)
    inspected = http.get("/inspect", params={"id": "u0001"}).json()
    assert set(inspected) == {"entity_id", "key", "exists", "key_ttl_seconds", "fields"}
    refused = http.get("/inspect", params={"id": "stray"})
    assert refused.status_code == 409 and "'stray'" in refused.json()["detail"]
    assert set(http.post("/worker/toggle", json={}).json()) == {"status"}
    assert http.post("/reset", json={}).json() == {"deleted": 3}


def test_the_servers_default_worker_covers_a_load_of_200_users_within_5_seconds(
    redis_server: EmbeddedRedis, direct: FeatureStore
) -> None:
    # Issue 22.5: python -m fslib.serve wrote 5 users a tick, so a fresh /bulk-load of 200 read `expired` ~40 s.
    # The real server with its defaults: its pace as /state gives it, then one round of ticks covers every user.
    server = ServerProcess("--key-prefix", direct.key_prefix, redis_url=redis_server.url)
    with server, httpx.Client(base_url=server.url) as http:
        assert http.post("/bulk-load", json={"count": 200}).json()["written"] == 200
        worker = http.get("/state").json()["worker"]
        assert (worker["users_per_tick"], worker["tick_seconds"]) == (DEFAULT_USERS_PER_TICK, DEFAULT_TICK_SECONDS)
        assert worker["round_seconds"] <= 5
        one_round = worker["stats"]["ticks"] + math.ceil(200 / worker["users_per_tick"]) + 1  # +1: one in flight
        assert wait_until(lambda: http.get("/state").json()["worker"]["stats"]["ticks"] >= one_round, timeout=60)
    ttls = [direct.field_ttls_seconds(user, ["tx_count_5m"])["tx_count_5m"] for user in synthesize_users(200).ids]
    assert all(ttl > 0 for ttl in ttls), f"{ttls.count(-2)} of 200 users have no streaming value after one round"


# -- bad requests: a 4xx with a JSON error, nothing written, nothing read ------------------

TOO_MANY_NAMES = ["risk_segment"] * (MAX_FEATURES + 1)
BAD_REQUESTS: dict[str, tuple[str, str, dict[str, Any], int]] = {
    "ttl zero": ("POST", "/bulk-load", {"json": {"count": 3, "ttl_seconds": 0}}, 422),
    "ttl negative": ("POST", "/bulk-load", {"json": {"count": 3, "ttl_seconds": -5}}, 422),
    "ttl too large": ("POST", "/bulk-load", {"json": {"count": 3, "ttl_seconds": MAX_TTL_SECONDS + 1}}, 422),
    "ttl fractional": ("POST", "/bulk-load", {"json": {"count": 3, "ttl_seconds": 1.5}}, 422),
    "ttl as text": ("POST", "/bulk-load", {"json": {"count": 3, "ttl_seconds": "60"}}, 422),
    "count zero": ("POST", "/bulk-load", {"json": {"count": 0}}, 422),
    "count too large": ("POST", "/bulk-load", {"json": {"count": MAX_LOAD_USERS + 1}}, 422),
    "unknown key": ("POST", "/bulk-load", {"json": {"count": 3, "ttl": 60}}, 422),
    "malformed JSON": ("POST", "/bulk-load", raw(b'{"count": 3,'), 422),
    "not an object": ("POST", "/bulk-load", {"json": [3]}, 422),
    "not JSON": ("POST", "/bulk-load", {"data": {"count": "3"}}, 415),
    "body too large": ("POST", "/bulk-load", raw(b" " * (MAX_BODY_BYTES + 1)), 413),
    "chunked body too large": ("POST", "/bulk-load", raw(iter([b" " * 65536] * 5)), 413),
    "no entities": ("POST", ONLINE, ask([]), 422),
    "too many entities": ("POST", ONLINE, ask(["u0001"] * (MAX_ENTITIES + 1)), 422),
    "unknown feature": ("POST", ONLINE, ask(["u0001"], ["risk_segment", "nope"]), 422),
    "no features": ("POST", ONLINE, ask(["u0001"], []), 422),
    "too many features": ("POST", ONLINE, ask(["u0001"], TOO_MANY_NAMES), 422),
    "empty feature name": ("POST", ONLINE, ask(["u0001"], [""]), 422),
    "id with a colon": ("POST", ONLINE, ask(["u0001", "a:b"]), 422),
    "empty id": ("POST", ONLINE, ask([""]), 422),
    "boolean id": ("POST", ONLINE, ask([True]), 422),
    "float id": ("POST", ONLINE, ask([1.5]), 422),
    "other join key": ("POST", ONLINE, ask(["u0001"], key="driver_id"), 422),
    "two join keys": (
        "POST",
        ONLINE,
        {"json": {"entities": {"user_id": ["u1"], "x": ["u1"]}, "features": ["risk_segment"]}},
        422,
    ),
    "online malformed JSON": ("POST", ONLINE, raw(b'{"entities": '), 422),
    "batch count zero": ("POST", "/batch-read", {"json": {"count": 0}}, 422),
    "batch count too large": ("POST", "/batch-read", {"json": {"count": BATCH_READ_RANGE[1] + 1}}, 422),
    "batch unknown feature": ("POST", "/batch-read", {"json": {"features": ["nope"]}}, 422),
    "read without id": ("GET", "/read", {}, 422),
    "read bad id": ("GET", "/read", {"params": {"id": "a:b"}}, 422),
    "read unknown feature": ("GET", "/read", {"params": {"id": "u0001", "features": ["nope"]}}, 422),
    "read too many features": ("GET", "/read", {"params": {"id": "u0001", "features": TOO_MANY_NAMES}}, 422),
    "inspect bad id": ("GET", "/inspect", {"params": {"id": "a:b"}}, 422),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_a_bad_request_gets_a_json_4xx_and_touches_nothing(http: httpx.Client, direct: FeatureStore, case: str) -> None:
    direct.bulk_load(synthesize_users(3))
    before, stats_before = snapshot(direct), http.get("/state").json()["store_stats"]
    method, path, request, status = BAD_REQUESTS[case]
    response = http.request(method, path, **request)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json" and response.json()["detail"]
    assert snapshot(direct) == before
    assert http.get("/state").json()["store_stats"] == stats_before  # nothing read, nothing written


def test_error_messages_name_the_problem(http: httpx.Client) -> None:
    unknown = http.post(ONLINE, **ask(["u1"], ["nope", "risk_segment"]))
    assert "unknown features ['nope']" in unknown.json()["detail"]
    join_key = http.post(ONLINE, **ask(["u1"], key="driver_id"))
    assert "'user_id'" in join_key.json()["detail"] and "driver_id" in join_key.json()["detail"]
    [colon] = http.get("/read", params={"id": "a:b"}).json()["detail"]
    assert colon["loc"] == ["query", "id"] and "must not contain ':'" in colon["msg"]
    assert "262144 bytes" in http.post("/bulk-load", **raw(b" " * (MAX_BODY_BYTES + 1))).text


def test_the_largest_allowed_request_is_served(http: httpx.Client, direct: FeatureStore) -> None:
    direct.bulk_load(synthesize_users(2))
    ids = [f"u{i:04d}" for i in range(1, MAX_ENTITIES + 1)]
    body = online(http, ids, ["risk_segment"] * MAX_FEATURES)
    assert column(body, "user_id")["statuses"].count("present") == 2 and len(body["results"]) == MAX_FEATURES + 1


def test_redis_down_gives_a_503_with_the_password_masked(redis_server: EmbeddedRedis, prefix: str) -> None:
    # The server's URL carries the password it was started with.
    with EmbeddedRedis() as doomed, serving(create_app(doomed.url, key_prefix=prefix, start_worker=False)) as http:
        assert http.get("/health").status_code == 200
        doomed.stop()
        response = http.post(ONLINE, **ask(["u1"]))
    assert response.status_code == 503
    assert ":***@" in response.json()["detail"] and doomed.password not in response.text


# -- the real server: python -m fslib.serve under uvicorn ------------------------------------


def test_python_m_fslib_serve_serves_and_shuts_down_cleanly(redis_server: EmbeddedRedis, direct: FeatureStore) -> None:
    url = redis_server.url  # with the server's password
    server = ServerProcess("--key-prefix", direct.key_prefix, "--tick-seconds", "0.05", redis_url=url).start()
    try:
        with httpx.Client(base_url=server.url) as http:
            assert http.get("/state").json()["worker"]["status"] == "running"
            assert http.post("/bulk-load", json={"count": 5, "ttl_seconds": 600}).json()["written"] == 5
            body = http.post(ONLINE, **ask(["u0001", "nobody"])).json()
            assert body["results"][0]["statuses"] == ["present", "entity_missing"]
            assert http.post("/bulk-load", json={"count": 5, "ttl_seconds": 0}).status_code == 422
            assert wait_until(lambda: http.get("/state").json()["worker"]["stats"]["writes"] > 0)
    finally:
        assert server.stop()
    assert server.exit_code == 0 and not server.is_running
    assert direct.count_entities() == 5 and 0 < direct.key_ttl_seconds("u0001") <= 600
    out = server.output()
    assert f"Redis at redis://:***@127.0.0.1:{redis_server.port}/0" in out and redis_server.password not in out
    assert "Application shutdown complete" in out  # SIGINT ran the lifespan's shutdown: worker stopped, clients closed


def test_python_m_fslib_serve_refuses_bad_options(redis_server: EmbeddedRedis) -> None:
    env = {**os.environ, "REDIS_URL": redis_server.url}
    for options, message in [
        (["--streaming-ttl-seconds", "0"], "argument --streaming-ttl-seconds: the TTL must be > 0, got 0"),
        (["--key-prefix", "no-colon"], "key_prefix must end with ':'"),
        (["--tick-seconds", "-1"], "argument --tick-seconds: the time must be a finite number > 0, got -1.0"),
        (["--users-per-tick", "many"], "argument --users-per-tick: not a whole number: 'many'"),
    ]:
        done = subprocess.run(
            [sys.executable, "-m", "fslib.serve", *options],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2 and message in done.stderr, (options, done.stderr)


def test_python_m_fslib_serve_names_an_unreachable_redis_with_the_password_masked() -> None:
    url = f"redis://default:s3cret@127.0.0.1:{free_port()}/0"  # nothing listens there
    done = subprocess.run(
        [sys.executable, "-m", "fslib.serve"],
        env={**os.environ, "REDIS_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "cannot serve from Redis at redis://default:***@127.0.0.1" in done.stderr
    assert "s3cret" not in done.stdout + done.stderr


def test_the_server_process_reports_a_failed_start(redis_server: EmbeddedRedis) -> None:
    server = ServerProcess("--streaming-ttl-seconds", "0", redis_url=redis_server.url)
    with pytest.raises(RuntimeError, match="exited at start-up") as failed:
        server.start()
    assert "argument --streaming-ttl-seconds: the TTL must be > 0, got 0" in str(failed.value)
    assert not server.is_running
