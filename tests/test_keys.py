"""Which keys a store owns: no store's reset, count, listing or worker reaches another store's keys."""

from __future__ import annotations

import pytest
import redis
from redis.cluster import RedisCluster

import fslib
from fslib import FeatureStore, StreamingWorker, hash_tag_prefix, synthesize_users
from fslib.checks import check_entity_id
from fslib.keys import entity_id_of

from polling import wait_until

ROW = {"country_iso": "US", "risk_segment": "low"}


@pytest.fixture
def client(store_client: redis.Redis | RedisCluster) -> redis.Redis | RedisCluster:
    """Here ``client`` is parametrized like ``store``: the single server, then the cluster."""
    return store_client


def test_a_hash_tag_group_survives_a_reset_of_the_plain_prefix(client: redis.Redis, prefix: str) -> None:
    # The report of issue #12: b's keys matched a's SCAN pattern, and a.reset() deleted them.
    a = FeatureStore(client, key_prefix=prefix)
    b = FeatureStore(client, key_prefix=hash_tag_prefix(prefix, "vip"))
    try:
        b.bulk_load({"o1": ROW})
        a.bulk_load({"u1": ROW, "u2": ROW})
        assert a.count_entities() == 2 and a.list_entity_ids() == ["u1", "u2"]
        assert a.reset() == 2
        assert b.count_entities() == 1 and b.get_features("o1", ["country_iso"]) == {"country_iso": "US"}
    finally:
        a.reset()
        b.reset()


def test_nested_prefixes_keep_apart_both_ways(client: redis.Redis, prefix: str) -> None:
    outer = FeatureStore(client, key_prefix=prefix)
    inner = FeatureStore(client, key_prefix=prefix + "x:")
    try:
        outer.bulk_load({"x": ROW, "y": ROW})  # "x" is an id under outer, not inner's prefix
        inner.bulk_load({"o1": ROW})
        assert outer.list_entity_ids() == ["x", "y"] and inner.list_entity_ids() == ["o1"]
        assert inner.reset() == 1 and outer.count_entities() == 2
    finally:
        outer.reset()
        inner.reset()


def test_the_worker_writes_only_its_own_stores_entities(client: redis.Redis, prefix: str) -> None:
    outer = FeatureStore(client, key_prefix=prefix, streaming_ttl_seconds=60)
    tagged = FeatureStore(client, key_prefix=hash_tag_prefix(prefix, "g"))
    try:
        outer.bulk_load(synthesize_users(3))
        tagged.bulk_load({"o1": ROW})
        with StreamingWorker(outer, tick_seconds=0.02, users_per_tick=10) as worker:
            assert wait_until(lambda: worker.stats().writes >= 6)
        assert tagged.inspect("o1").fields.keys() == ROW.keys()  # no streaming field written there
    finally:
        outer.reset()
        tagged.reset()


@pytest.mark.parametrize("bad", ["fs:user", "fs:user:x", "a{b}", ""])
def test_a_prefix_that_cannot_be_kept_apart_is_refused(client: redis.Redis, bad: str) -> None:
    with pytest.raises(ValueError, match="key_prefix must"):
        FeatureStore(client, key_prefix=bad)


def test_ids_with_the_separator_are_refused_on_every_path(store: FeatureStore) -> None:
    with pytest.raises(ValueError, match="must not contain ':'"):
        store.bulk_load({"u1": ROW, "vip:o1": ROW})
    with pytest.raises(ValueError, match="must not contain ':'"):
        store.update_streaming("a:b", {"tx_count_5m": 1})
    with pytest.raises(ValueError, match="must not contain ':'"):
        store.get_features("a:b", ["country_iso"])
    with pytest.raises(ValueError, match="must not contain ':'"):
        store.batch_get_features(["u1", "a:b"], ["country_iso"])
    assert store.count_entities() == 0


def test_entity_id_rules() -> None:
    assert check_entity_id("u0001") == "u0001" and check_entity_id(7) == "7" and check_entity_id("ü") == "ü"
    for bad, error in [("", ValueError), ("a:b", ValueError), ("bad\udcff", ValueError), (None, TypeError)]:
        with pytest.raises(error):
            check_entity_id(bad)
    assert entity_id_of("fs:user:", "fs:user:u1") == "u1"
    assert entity_id_of("fs:user:", "fs:user:{vip}:u1") is None
    assert entity_id_of("fs:user:", "fs:user:") is None
    assert fslib.keys.scan_pattern("a*[b]:") == "a\\*\\[b\\]:*"
