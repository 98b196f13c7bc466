"""Bulk loads as pre-encoded buffers: the same writes as redis-py, bounded memory, errors and lost connections."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

import fslib
from fslib import DEFAULT_SCHEMA, FeatureStore, synthesize_users
from counting import CountingConnection

BATCH = DEFAULT_SCHEMA.batch_names
# Multi-byte text, RESP's own separators and an empty value must all survive the hand-made encoding.
ODD_ROW = {"país": "España", "line\r\nbreak": "a\r\nb", "emoji 🚀": "✓", "empty": "", "$3": "*2", "tx_count_7d": 7}


@pytest.fixture
def reference(client: redis.Redis) -> Iterator[FeatureStore]:
    """A second prefix on the same server (or cluster), for the reference writes."""
    store = FeatureStore(client, key_prefix=f"test:{uuid.uuid4().hex[:10]}:")
    yield store
    store.reset()


def test_bulk_load_writes_what_a_redis_py_pipeline_writes(store: FeatureStore, reference: FeatureStore, client: Any) -> None:
    users = [*synthesize_users(57), ("odd-ü", ODD_ROW)]
    assert store.bulk_load(users, ttl_seconds=700, chunk_size=10) == 58
    pipe = client.pipeline(transaction=False)
    for entity_id, features in users:
        pipe.hset(reference.key_for(entity_id), mapping={k: fslib.encode_value(v) for k, v in features.items()})
        pipe.expire(reference.key_for(entity_id), 700)
    pipe.execute()
    for entity_id, features in users:
        ours, theirs = store.key_for(entity_id), reference.key_for(entity_id)
        assert client.hgetall(ours) == client.hgetall(theirs) != {}
        assert 690 <= client.ttl(ours) <= 700 and 690 <= client.ttl(theirs) <= 700
        no_field_ttls = [-1 if name in features else -2 for name in BATCH]  # -2: a field never written
        assert client.httl(ours, *BATCH) == client.httl(theirs, *BATCH) == no_field_ttls
    assert client.hgetall(store.key_for("odd-ü")) == {k: fslib.encode_value(v) for k, v in ODD_ROW.items()}


@pytest.mark.single_server
def test_bulk_load_is_one_socket_write_per_chunk(redis_server: fslib.EmbeddedRedis, prefix: str) -> None:
    pool = redis.ConnectionPool(port=redis_server.port, decode_responses=True, connection_class=CountingConnection)
    store = FeatureStore(redis.Redis(connection_pool=pool), key_prefix=prefix)
    try:
        store.client.ping()  # connects: the handshake's writes are not the load's
        CountingConnection.sends.clear()
        assert store.bulk_load(synthesize_users(25), chunk_size=10) == 25
        assert CountingConnection.sends == {redis_server.port: 3}
        assert store.count_entities() == 25 and store.key_ttl_seconds("u0025") > 86000  # the daily batch cycle
    finally:
        store.reset()
        pool.disconnect()


def test_bulk_load_needs_no_scripting(redis_server: fslib.EmbeddedRedis, single_client: redis.Redis, prefix: str) -> None:
    user, password = f"noscript-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    single_client.acl_setuser(user, enabled=True, passwords=[f"+{password}"], keys=["*"], commands=["+@all", "-@scripting"])
    limited = redis.Redis(port=redis_server.port, username=user, password=password, decode_responses=True)
    store = FeatureStore(limited, key_prefix=prefix)
    try:
        with pytest.raises(redis.exceptions.NoPermissionError):
            limited.eval("return 1", 0)
        assert store.bulk_load(synthesize_users(30), chunk_size=10) == 30
        ids = synthesize_users(30).ids
        assert store.batch_get_features(ids, BATCH) == FeatureStore(single_client, key_prefix=prefix).batch_get_features(ids, BATCH)
    finally:
        store.reset()
        limited.close()
        single_client.acl_deluser(user)


def test_bulk_load_spilled_to_disk_writes_everything_or_nothing(
    store: FeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fslib.store, "_SPOOL_BYTES", 1024)  # spill the encoded chunks after 1 KiB
    users = synthesize_users(300)
    bad = iter([*users, ("u9999", {"avg_amount_30d": float("nan")})])  # one-shot, bad row last
    with pytest.raises(ValueError, match="u9999"):
        store.bulk_load(bad, chunk_size=32)
    assert store.count_entities() == 0
    assert store.bulk_load(iter(users), chunk_size=32) == 300
    assert store.batch_get_features(users.ids, BATCH) == {
        entity_id: {name: fslib.encode_value(value) for name, value in features.items()} for entity_id, features in users
    }


def test_an_error_mid_load_raises_and_leaves_the_pool_usable(store: FeatureStore, client: redis.Redis) -> None:
    users = synthesize_users(60)
    client.set(store.key_for("u0035"), "not a hash")  # in the 4th chunk of 10
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        store.bulk_load(users, chunk_size=10)
    assert store.stats().batch_writes == 30  # the chunks acknowledged before the failing one
    assert client.hgetall(store.key_for("u0030")) != {}
    client.delete(store.key_for("u0035"))
    assert store.bulk_load(users, chunk_size=10) == 60
    assert store.batch_get_features(["u0035"], ["country_iso"]) == {"u0035": {"country_iso": dict(users)["u0035"]["country_iso"]}}


@pytest.mark.single_server
def test_bulk_load_resends_unacknowledged_chunks_after_a_dropped_connection(
    redis_server: fslib.EmbeddedRedis, client: redis.Redis, prefix: str,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    name = f"victim-{uuid.uuid4().hex[:8]}"
    victim = redis.Redis(port=redis_server.port, decode_responses=True, client_name=name)
    store = FeatureStore(victim, key_prefix=prefix)
    real_pack = fslib.store.pack_bulk_load
    packed = []

    def kill_on_third_chunk(*args: Any) -> bytes:
        packed.append(1)
        if len(packed) == 3:  # chunk 2 is in flight on the stream's connection
            for entry in client.client_list():
                if entry["name"] == name:
                    client.client_kill_filter(_id=entry["id"])
        return real_pack(*args)

    monkeypatch.setattr(fslib.store, "pack_bulk_load", kill_on_third_chunk)
    users = synthesize_users(50)
    try:
        assert store.bulk_load(users, ttl_seconds=900, chunk_size=10) == 50
        assert store.stats().batch_writes == 50
        assert any("connection lost" in r.message for r in caplog.records)
        for entity_id, features in users:
            key = store.key_for(entity_id)
            assert client.hgetall(key) == {k: fslib.encode_value(v) for k, v in features.items()}
            assert 890 <= client.ttl(key) <= 900
    finally:
        store.reset()
        victim.close()
