"""Feature vectors with a status per feature, read from the real server as TTLs really run out."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import redis

import fslib
from fslib import DEFAULT_SCHEMA, FeatureStatus, FeatureStore, synthesize_users
from fslib.core import READ_GROUP, Transport
from fslib.fast import AsyncFeatureStore
from fslib.freshness import FeatureVectors

from counting import CountingConnection
from polling import wait_until

NAMES = ["country_iso", "tx_count_7d", "tx_count_5m", "last_device_id", "no_such_feature"]
P, E, M, X, U, INVALID = (
    FeatureStatus.PRESENT,
    FeatureStatus.EXPIRED,
    FeatureStatus.MISSING,
    FeatureStatus.ENTITY_MISSING,
    FeatureStatus.UNKNOWN_FEATURE,
    FeatureStatus.INVALID,
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
@pytest.mark.parametrize("transport", ["pipeline", "packed"])
def test_a_batch_of_vectors_is_one_round_trip(
    redis_server: fslib.local.EmbeddedRedis, prefix: str, transport: Transport
) -> None:
    pool = redis.ConnectionPool.from_url(redis_server.url, decode_responses=True, connection_class=CountingConnection)
    store = FeatureStore(redis.Redis(connection_pool=pool), key_prefix=prefix, transport=transport)
    try:
        store.client.ping()
        CountingConnection.sends.clear()
        vectors = store.batch_get_feature_vectors([f"u{i}" for i in range(4 * READ_GROUP + 1)], NAMES)
        assert CountingConnection.sends == {redis_server.port: 1}  # five script calls, one write
        assert len(vectors) == 4 * READ_GROUP + 1
    finally:
        pool.disconnect()


def test_both_transports_and_every_group_size_read_the_same_vectors(store: FeatureStore) -> None:
    now = int(time.time() * 1000)
    users = synthesize_users(3 * READ_GROUP)
    store.bulk_load(users)
    store.update_streaming_many({e: {"tx_count_5m": i} for i, e in enumerate(users.ids[::3])}, event_time=now)
    store.client.set(store.key_for("stray"), "a string")
    ids = ["nobody", *users.ids, "stray", users.ids[0]]  # absent, many groups, unreadable, repeated
    other = FeatureStore(
        store.client, key_prefix=store.key_prefix, transport="pipeline" if store.transport == "packed" else "packed"
    )
    batch = store.batch_get_feature_vectors(ids, NAMES, max_age_seconds=60)
    assert batch == other.batch_get_feature_vectors(ids, NAMES, max_age_seconds=60)
    assert batch == {e: store.get_feature_vector(e, NAMES, max_age_seconds=60) for e in ids}
    assert batch[users.ids[3]].event_times["tx_count_5m"] == now and batch["stray"].statuses["country_iso"] is INVALID
    store.client.delete(store.key_for("stray"))


@pytest.mark.single_server
def test_only_unknown_features_need_no_round_trip(redis_server: fslib.local.EmbeddedRedis, prefix: str) -> None:
    pool = redis.ConnectionPool.from_url(redis_server.url, decode_responses=True, connection_class=CountingConnection)
    store = FeatureStore(redis.Redis(connection_pool=pool), key_prefix=prefix)
    try:
        CountingConnection.sends.clear()
        only_unknown = store.batch_get_feature_vectors(["a", "b"], ["nope"])
        assert CountingConnection.sends == {}
        assert [v.statuses["nope"] for v in only_unknown.values()] == [U, U]
        assert [v.entity_exists for v in only_unknown.values()] == [True, True]  # unknown says nothing of the key
    finally:
        pool.disconnect()


def test_defaults_must_match_the_feature_type() -> None:
    with pytest.raises(TypeError, match="default '0' is not a int"):
        fslib.FeatureSpec("n", int, fslib.FeatureKind.STREAMING, default="0")  # type: ignore[arg-type]


@pytest.mark.single_server
def test_the_asyncio_store_answers_the_same(store: FeatureStore, redis_server: fslib.local.EmbeddedRedis) -> None:
    store.bulk_load({"u1": {"country_iso": "US"}})
    store.update_streaming("u1", {"tx_count_5m": 4})

    async def read() -> FeatureVectors:
        client = await fslib.connect_async(redis_server.url)
        try:
            return await AsyncFeatureStore(client, key_prefix=store.key_prefix).batch_get_feature_vectors(
                ["u1", "u2"], NAMES
            )
        finally:
            await client.aclose()

    assert asyncio.run(read()) == store.batch_get_feature_vectors(["u1", "u2"], NAMES)


# -- atomic reads under churn (issue: an entity that "exists" with none of its features) -----------------

CHURN = """
import sys, time, fslib
url, cluster, prefix = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
count, seconds = int(sys.argv[4]), float(sys.argv[5])
store = fslib.FeatureStore(fslib.connect(url, cluster=cluster), key_prefix=prefix)
users, keys = dict(fslib.synthesize_users(count)), [store.key_for(e) for e in fslib.synthesize_users(count).ids]
print("ready", flush=True)
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:  # every user deleted, then reloaded whole, over and over
    store.client.unlink(*keys)
    store.bulk_load(users)
"""
CHURN_USERS = 300
"""Enough entities that one read spans several of Redis's 16 KB socket reads, between which it serves the churner."""


@pytest.fixture
def churned(store_client: redis.Redis, prefix: str, request: pytest.FixtureRequest) -> Iterator[FeatureStore]:
    """A store whose users another process deletes and reloads as fast as it can, for the test's duration."""
    store = FeatureStore(store_client, key_prefix=prefix)
    cluster = store.cluster
    url = request.getfixturevalue("local_cluster" if cluster else "redis_server").url
    churner = subprocess.Popen(
        [sys.executable, "-c", CHURN, url, "1" if cluster else "0", store.key_prefix, str(CHURN_USERS), "60"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert churner.stdout is not None and churner.stdout.readline().strip() == "ready"
        assert wait_until(lambda: store.count_entities() > 0)
        yield store
    finally:
        churner.kill()
        churner.wait()
        store.reset()


def contradictions(vectors: FeatureVectors) -> list[str]:
    """Entities whose statuses describe no moment: every entity, while it exists, has all its batch features."""
    bad = []
    for entity_id, vector in vectors.items():
        batch = {vector.statuses[name] for name in DEFAULT_SCHEMA.batch_names}
        if batch != ({P} if vector.entity_exists else {X}):
            bad.append(f"{entity_id}: {vector.statuses}")
    return bad


READS_UNDER_CHURN = 100
"""Reads of every user while they churn: a non-atomic EXISTS + HMGET pipeline contradicted itself in about
1 read of 5 on one server and 1 of 8 on a cluster, so 100 reads leave it no chance to pass."""


def test_statuses_never_contradict_themselves_under_churn_from_another_process(churned: FeatureStore) -> None:
    store, ids = churned, synthesize_users(CHURN_USERS).ids
    bad: list[str] = []
    seen = set()
    for _ in range(READS_UNDER_CHURN):
        vectors = store.batch_get_feature_vectors(ids, DEFAULT_SCHEMA.names)
        bad += contradictions(vectors)
        seen |= {vector.entity_exists for vector in vectors.values()}
    assert bad == [], f"{len(bad)} contradictory vectors, e.g. {bad[:3]}"
    assert seen == {True, False}  # the reads really met the churn: entities seen present and deleted


@pytest.mark.single_server
def test_the_asyncio_store_never_contradicts_itself_under_churn(
    churned: FeatureStore, redis_server: fslib.local.EmbeddedRedis
) -> None:
    ids, prefix = synthesize_users(CHURN_USERS).ids, churned.key_prefix

    async def reads() -> tuple[list[str], set[bool]]:
        client = await fslib.connect_async(redis_server.url)
        try:
            reader, bad, seen = AsyncFeatureStore(client, key_prefix=prefix), [], set()
            for _ in range(READS_UNDER_CHURN):
                vectors = await reader.batch_get_feature_vectors(ids, DEFAULT_SCHEMA.names)
                bad += contradictions(vectors)
                seen |= {vector.entity_exists for vector in vectors.values()}
            return bad, seen
        finally:
            await client.aclose()

    bad, seen = asyncio.run(reads())
    assert bad == [], f"{len(bad)} contradictory vectors, e.g. {bad[:3]}"
    assert seen == {True, False}


# -- what another tool left under the prefix -------------------------------------------------------------


def test_a_stray_key_or_an_unparsable_value_is_invalid_and_the_rest_is_served(store: FeatureStore) -> None:
    store.bulk_load({"u1": {"country_iso": "US", "account_age_days": 12}, "u3": {"country_iso": "DE"}})
    store.client.set(store.key_for("u2"), "a string, not a hash")
    store.client.hset(store.key_for("u3"), "account_age_days", "3.5")  # another tool's float in an int feature
    names = ["country_iso", "account_age_days", "no_such_feature"]
    vectors = store.batch_get_feature_vectors(["u1", "u2", "u3"], names)

    assert vectors["u1"].statuses == dict(zip(names, [P, P, U])) and vectors["u1"].errors == {}
    assert vectors["u2"].statuses == dict(zip(names, [INVALID, INVALID, U])) and vectors["u2"].entity_exists
    assert vectors["u2"].errors["country_iso"].startswith(f"entity 'u2': the key '{store.key_for('u2')}'")
    assert "WRONGTYPE" in vectors["u2"].errors["country_iso"]
    assert (
        vectors["u3"].statuses == dict(zip(names, [P, INVALID, U])) and vectors["u3"].values["account_age_days"] is None
    )
    assert vectors["u3"].errors == {
        "account_age_days": "entity 'u3': feature 'account_age_days': stored text '3.5' is not an int"
    }
    assert vectors["u3"].as_dict()["errors"] == vectors["u3"].errors


def test_typed_reads_name_the_entity_feature_and_stored_text(store: FeatureStore) -> None:
    store.bulk_load({"u1": {"account_age_days": 12}})
    store.client.hset(store.key_for("u2"), "account_age_days", "3.5")
    message = r"entity 'u2': feature 'account_age_days': stored text '3.5' is not an int"
    with pytest.raises(fslib.StoredDataError, match=message):
        store.get_features("u2", ["account_age_days"], decode=True)
    with pytest.raises(fslib.StoredDataError, match=message):
        store.batch_get_features(["u1", "u2"], ["account_age_days"], decode=True)
    with pytest.raises(fslib.StoredDataError, match=message):
        store.batch_get_frame(["u1", "u2"], ["account_age_days"])
    assert store.batch_get_features(["u1", "u2"], ["account_age_days"]) == {  # as text, nothing to parse
        "u1": {"account_age_days": "12"},
        "u2": {"account_age_days": "3.5"},
    }

    store.client.set(store.key_for("u3"), "a string")
    with pytest.raises(fslib.StoredDataError, match=r"entity 'u3': the key '.*u3' holds no feature hash"):
        store.batch_get_features(["u1", "u3"], ["account_age_days"])
    with pytest.raises(fslib.StoredDataError, match=r"entity 'u3': the key '.*u3' holds no feature hash"):
        store.inspect("u3")
