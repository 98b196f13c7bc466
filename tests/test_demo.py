"""fslib.demo.Demo against the real server: its actions, its limits, and the same answers in its two views."""

from __future__ import annotations

import math
import threading
from dataclasses import asdict
from typing import Any

import httpx
import pytest
import redis
import test_dashboard

from fslib import FeatureStore, synthesize_users
from fslib.demo import BATCH_READ_RANGE, LOAD_RANGE, Demo, ReadResult
from fslib.freshness import FeatureStatus
from fslib.lab.dashboard import Dashboard
from fslib.lab.dashboard_view import to_html
from fslib.local import EmbeddedRedis
from fslib.worker import StreamingWorker, WorkerStatus

import test_serve
from polling import wait_until
from test_serve import MakeClient

make_client = test_serve.make_client  # a served app with options, shut down after the test

READ = ["risk_segment", "tx_count_7d", "tx_count_5m", "last_login_ts"]


def streamed(store: FeatureStore, ids: list[str]) -> set[str]:
    """The entities that hold a streaming feature."""
    return {entity_id for entity_id, row in store.batch_get_features(ids, ["tx_count_5m"]).items() if row}


def test_state_counts_entities_and_adds_the_readers_counters(store: FeatureStore) -> None:
    reader = FeatureStore(store.client, key_prefix=store.key_prefix)
    demo = Demo(StreamingWorker(store, users_per_tick=7), readers=[reader])
    demo.materialize(10, 600)
    reader.get_features("u0001", ["risk_segment"])
    state = demo.state()
    assert (state.entity_count, state.key_prefix) == (10, store.key_prefix)
    assert (state.batch_ttl_seconds, state.last_load_ttl_seconds) == (store.batch_ttl_seconds, 600)
    assert (state.store_stats.batch_writes, state.store_stats.reads) == (10, 1)  # the load, then the reader's read
    assert (state.worker_status, state.users_per_tick) == (WorkerStatus.STOPPED, 7)
    assert state.round_seconds == state.tick_seconds * math.ceil(10 / 7)
    assert "***" not in state.redis_url and state.redis_url.startswith("redis://")


def test_the_worker_writes_a_materialized_load_from_its_next_tick(store: FeatureStore) -> None:
    # A load while the worker is mid-round on other users: without forgetting its ids, the new users
    # would wait for the next SCAN (up to 5 s) and then for the old round to end.
    demo = Demo(StreamingWorker(store))
    demo.materialize(20)
    demo.worker.step()
    loaded = demo.materialize(200)
    assert (loaded.written, loaded.notes) == (200, ())
    for _ in range(math.ceil(200 / demo.worker.users_per_tick)):
        demo.worker.step()
    assert streamed(store, synthesize_users(200).ids) == set(synthesize_users(200).ids)


def test_the_limits_are_one_set_for_both_views(store: FeatureStore) -> None:
    demo = Demo(StreamingWorker(store))
    with pytest.raises(ValueError, match="count must be at least 1, got 0: nothing was loaded"):
        demo.materialize(0)
    with pytest.raises(ValueError, match="count must be at least 1, got 0: nothing was read"):
        demo.batch_read(0)
    assert Dashboard.COUNT_RANGE == LOAD_RANGE and Dashboard.SCORE_RANGE == BATCH_READ_RANGE
    demo.materialize(3)
    wide = demo.batch_read(BATCH_READ_RANGE[1] + 1, ["risk_segment"])
    assert wide.requested == BATCH_READ_RANGE[1]
    assert wide.notes == ("count 1,001 is above the maximum 1,000: used 1,000",)
    assert (wide.found, wide.fields_present) == (3, 3)


def test_read_shapes_statuses_ttls_and_errors(store: FeatureStore) -> None:
    demo = Demo(StreamingWorker(store))
    demo.materialize(2, 600)
    store.update_streaming("u0001", {"tx_count_5m": 3}, ttl_seconds=60)
    store.client.hset(store.key_for("u0002"), "tx_count_5m", "three")  # another tool's text
    read = demo.read("u0001", [*READ, "nope"])
    kinds = {f.name: (f.kind, f.status) for f in read.features}
    assert kinds == {
        "risk_segment": ("batch", FeatureStatus.PRESENT),
        "tx_count_7d": ("batch", FeatureStatus.PRESENT),
        "tx_count_5m": ("streaming", FeatureStatus.PRESENT),
        "last_login_ts": ("streaming", FeatureStatus.EXPIRED),
        "nope": ("unknown", FeatureStatus.UNKNOWN_FEATURE),
    }
    assert read.values["tx_count_5m"] == 3 and 0 < read.key_ttl_seconds <= 600 and read.latency_seconds > 0
    [bad] = [f for f in demo.read("u0002", ["tx_count_5m"]).features]
    assert bad.status is FeatureStatus.INVALID and bad.error is not None and "'three'" in bad.error
    assert bad.value == 0  # the default is served
    with pytest.raises(ValueError, match="pick at least one feature"):
        demo.read("u0001", [])


def test_read_result_of_raises_an_error_other_than_wrongtype(store: FeatureStore) -> None:
    vector = store.get_feature_vector("nobody", ["risk_segment"])
    refused = redis.ResponseError("ERR something else")
    with pytest.raises(redis.ResponseError, match="something else"):
        ReadResult.of(store.schema, vector, refused, -2, 0.001)
    wrongtype = ReadResult.of(store.schema, vector, redis.ResponseError("WRONGTYPE no hash"), -2, 0.001)
    assert [f.field_ttl_seconds for f in wrongtype.features] == [-2]


def toggle_twice(demo: Demo, statuses: list[WorkerStatus]) -> None:
    statuses.extend(demo.toggle() for _ in range(2))


def test_reset_under_a_running_worker_leaves_nothing_and_keeps_it_running(store: FeatureStore) -> None:
    with StreamingWorker(store, tick_seconds=0.005, users_per_tick=100, streaming_ttl_seconds=600) as worker:
        demo = Demo(worker)
        for _ in range(3):
            demo.materialize(300)
            assert wait_until(lambda: worker.stats().writes > 0)
            toggles: list[WorkerStatus] = []
            toggler = threading.Thread(target=toggle_twice, args=(demo, toggles), name="toggler")
            toggler.start()
            assert demo.reset() == 300  # a toggle meanwhile waits for it
            toggler.join(10)
            assert len(toggles) == 2 and demo.state().entity_count == 0
            assert demo.state().worker_status is WorkerStatus.RUNNING  # two toggles: paused, then running again
    assert store.count_entities() == 0


def http_readings(http: httpx.Client, user: str) -> list[dict[str, Any]]:
    body = http.get("/read", params={"id": user, "features": READ})
    assert body.status_code == 200, body.text
    return list(body.json()["features"])


def test_a_paused_workers_streaming_feature_reads_expired_in_the_model_the_dashboard_and_over_http(
    make_client: MakeClient, redis_server: EmbeddedRedis, single_client: redis.Redis, prefix: str
) -> None:
    http = make_client(start_worker=True, tick_seconds=0.05, streaming_ttl_seconds=1)
    assert http.post("/bulk-load", json={"count": 5, "ttl_seconds": 600}).status_code == 200
    assert wait_until(lambda: http_readings(http, "u0001")[2]["status"] == "present")
    assert http.post("/worker/toggle", json={}).json() == {"status": "paused"}
    assert wait_until(lambda: http_readings(http, "u0001")[2]["status"] == "expired", timeout=10)
    over_http = http_readings(http, "u0001")

    model = Demo(StreamingWorker(FeatureStore(single_client, key_prefix=prefix))).read("u0001", READ)
    in_model = [{**asdict(f), "status": f.status.value} for f in model.features]
    dash = test_dashboard.make_dashboard(redis_server.url, prefix, no_reset=True, initial_users=0)
    try:
        in_dashboard = dash.read_features("u0001", READ)
        shown = test_dashboard.table_rows(to_html(in_dashboard))
    finally:
        dash.close()

    expected = ["present", "present", "expired", "expired"]
    assert [f["status"] for f in over_http] == [f["status"] for f in in_model] == expected
    assert [f.status.value for f in in_dashboard.features] == expected
    assert [shown[name][1][3] for name in READ] == expected  # the words the panel shows
    assert over_http == in_model  # the same reading, value (the schema default) and TTLs included
    assert over_http[2]["value"] == 0 and over_http[2]["field_ttl_seconds"] == -2
