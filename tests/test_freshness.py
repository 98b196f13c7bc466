"""Feature vectors with a status per feature, read from the real server as TTLs really run out."""

from __future__ import annotations

import asyncio

import pytest
import redis

import fslib
from fslib import FeatureStatus, FeatureStore
from fslib.fast import AsyncFeatureStore
from fslib.freshness import FeatureVectors, feature_vector

from counting import CountingConnection
from polling import wait_until

NAMES = ["country_iso", "tx_count_7d", "tx_count_5m", "last_device_id", "no_such_feature"]
P, E, M, X, U = (
    FeatureStatus.PRESENT,
    FeatureStatus.EXPIRED,
    FeatureStatus.MISSING,
    FeatureStatus.ENTITY_MISSING,
    FeatureStatus.UNKNOWN_FEATURE,
)


def test_statuses_follow_the_field_ttls_and_defaults_fill_the_gaps(store: FeatureStore) -> None:
    store.bulk_load({"u1": {"country_iso": "US"}})  # tx_count_7d never loaded for u1
    store.update_streaming("u1", {"tx_count_5m": 7, "last_device_id": "ios-1"}, ttl_seconds=1)
    fresh = store.get_feature_vector("u1", NAMES)
    assert fresh.statuses == dict(zip(NAMES, [P, M, P, P, U]))
    assert fresh.values == {"country_iso": "US", "tx_count_7d": None, "tx_count_5m": 7,
                            "last_device_id": "ios-1", "no_such_feature": None}  # fmt: skip
    assert fresh.entity_exists and not fresh.all_present

    # The streaming fields' TTL runs out; the batch field and the entity stay.
    assert wait_until(lambda: store.get_feature_vector("u1", ["tx_count_5m"]).statuses["tx_count_5m"] is E)
    stale = store.get_feature_vector("u1", NAMES)
    assert stale.statuses == dict(zip(NAMES, [P, M, E, E, U]))
    assert stale.values["tx_count_5m"] == 0 and stale.values["last_device_id"] is None  # the schema's defaults

    never = store.get_feature_vector("nobody", NAMES)
    assert never.statuses == dict(zip(NAMES, [X, X, X, X, U])) and not never.entity_exists
    assert never.as_dict()["statuses"]["country_iso"] == "entity_missing"


def test_the_batch_form_and_its_frame(store: FeatureStore) -> None:
    store.bulk_load({"u1": {"country_iso": "US", "tx_count_7d": 3}, "u2": {"country_iso": "DE"}})
    store.update_streaming("u2", {"tx_count_5m": 2})
    vectors = store.batch_get_feature_vectors(["u1", "u2", "u3"], ["tx_count_7d", "tx_count_5m"])
    assert [v.statuses["tx_count_5m"] for v in vectors.values()] == [E, P, X]
    frame = vectors.to_frame()
    assert list(frame.columns) == ["tx_count_7d", "tx_count_7d__status", "tx_count_5m", "tx_count_5m__status"]
    assert frame["tx_count_7d"].tolist()[:1] == [3] and frame["tx_count_7d"].isna().tolist() == [False, True, True]
    assert frame["tx_count_5m"].tolist() == [0, 2, 0]  # the default where expired or missing
    assert frame.loc["u3", "tx_count_5m__status"] == "entity_missing"
    assert store.stats().reads == 3 and store.stats().fields_read == 2


@pytest.mark.single_server
def test_a_batch_of_vectors_is_one_round_trip(redis_server: fslib.local.EmbeddedRedis, prefix: str) -> None:
    pool = redis.ConnectionPool.from_url(redis_server.url, decode_responses=True, connection_class=CountingConnection)
    store = FeatureStore(redis.Redis(connection_pool=pool), key_prefix=prefix)
    try:
        store.client.ping()
        CountingConnection.sends.clear()
        store.batch_get_feature_vectors([f"u{i}" for i in range(50)], NAMES)
        assert CountingConnection.sends == {redis_server.port: 1}
    finally:
        pool.disconnect()


def test_a_value_proves_the_entity_exists_whatever_exists_said() -> None:
    schema = fslib.DEFAULT_SCHEMA
    # EXISTS ran first and saw nothing; the HMGET after it found a value written in between.
    vector = feature_vector(schema, "u1", ["country_iso", "tx_count_5m"], 0, ["US", None])
    assert vector.statuses == {"country_iso": P, "tx_count_5m": E}
    # Only unknown features asked: no HMGET was sent, only EXISTS.
    only_unknown = FeatureVectors.from_replies(schema, ["a", "b"], ["nope"], [1, 0])
    assert [v.statuses["nope"] for v in only_unknown.values()] == [U, U]
    assert [v.entity_exists for v in only_unknown.values()] == [True, True]  # unknown says nothing of the key


def test_defaults_must_match_the_feature_type() -> None:
    with pytest.raises(TypeError, match="default '0' is not a int"):
        fslib.FeatureSpec("n", int, fslib.FeatureKind.STREAMING, default="0")  # type: ignore[arg-type]


@pytest.mark.single_server
def test_the_asyncio_store_answers_the_same(store: FeatureStore, redis_server: fslib.local.EmbeddedRedis) -> None:
    store.bulk_load({"u1": {"country_iso": "US"}})
    store.update_streaming("u1", {"tx_count_5m": 4})

    async def read() -> FeatureVectors:
        client = await fslib.fast.connect_async(redis_server.url)
        try:
            return await AsyncFeatureStore(client, key_prefix=store.key_prefix).batch_get_feature_vectors(
                ["u1", "u2"], NAMES
            )
        finally:
            await client.aclose()

    assert asyncio.run(read()) == store.batch_get_feature_vectors(["u1", "u2"], NAMES)
