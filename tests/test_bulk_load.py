"""Bulk loads over both transports: the same writes as a redis-py pipeline, bad rows, errors and lost connections."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

import fslib
from fslib import DEFAULT_SCHEMA, FeatureStore, synthesize_users
from fslib.store import Transport

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


def test_bulk_load_writes_what_a_redis_py_pipeline_writes(
    store: FeatureStore, reference: FeatureStore, client: Any
) -> None:
    users = [*synthesize_users(57), ("odd-ü", ODD_ROW)]
    assert store.bulk_load(users, ttl_seconds=700, chunk_size=10) == 58
    pipe = client.pipeline(transaction=False)
    for entity_id, features in users:
        pipe.hset(reference.key_for(entity_id), mapping={k: fslib.schema.encode_value(v) for k, v in features.items()})
        pipe.expire(reference.key_for(entity_id), 700)
    pipe.execute()
    for entity_id, features in users:
        ours, theirs = store.key_for(entity_id), reference.key_for(entity_id)
        assert client.hgetall(ours) == client.hgetall(theirs) != {}
        assert 690 <= client.ttl(ours) <= 700 and 690 <= client.ttl(theirs) <= 700
        no_field_ttls = [-1 if name in features else -2 for name in BATCH]  # -2: a field never written
        assert client.httl(ours, *BATCH) == client.httl(theirs, *BATCH) == no_field_ttls
    assert client.hgetall(store.key_for("odd-ü")) == {k: fslib.schema.encode_value(v) for k, v in ODD_ROW.items()}


@pytest.mark.single_server
def test_bulk_load_is_one_socket_write_per_chunk(
    redis_server: fslib.local.EmbeddedRedis, prefix: str, transport: Transport
) -> None:
    pool = redis.ConnectionPool.from_url(redis_server.url, decode_responses=True, connection_class=CountingConnection)
    store = FeatureStore(redis.Redis(connection_pool=pool), key_prefix=prefix, transport=transport)
    try:
        store.client.ping()  # connects: the handshake's writes are not the load's
        CountingConnection.sends.clear()
        assert store.bulk_load(synthesize_users(25), chunk_size=10) == 25
        assert CountingConnection.sends == {redis_server.port: 3 + 2}  # 3 chunks; INFO before and after
        assert store.count_entities() == 25 and store.key_ttl_seconds("u0025") > 86000  # the daily batch cycle
    finally:
        store.reset()
        pool.disconnect()


def test_bulk_load_needs_no_scripting(
    redis_server: fslib.local.EmbeddedRedis, single_client: redis.Redis, prefix: str
) -> None:
    user, password = f"noscript-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    single_client.acl_setuser(
        user, enabled=True, passwords=[f"+{password}"], keys=["*"], commands=["+@all", "-@scripting"]
    )
    limited = redis.Redis(port=redis_server.port, username=user, password=password, decode_responses=True)
    store = FeatureStore(limited, key_prefix=prefix)
    try:
        with pytest.raises(redis.exceptions.NoPermissionError):
            limited.eval("return 1", 0)
        assert store.bulk_load(synthesize_users(30), chunk_size=10) == 30
        ids = synthesize_users(30).ids
        assert store.batch_get_features(ids, BATCH) == FeatureStore(
            single_client, key_prefix=prefix
        ).batch_get_features(ids, BATCH)
    finally:
        store.reset()
        limited.close()
        single_client.acl_deluser(user)


@pytest.mark.parametrize("shape", ["list", "mapping", "frame"])
def test_a_container_with_a_bad_last_row_writes_nothing(store: FeatureStore, shape: str) -> None:
    users = synthesize_users(300)
    rows: Any = [*users, ("u9999", {"avg_amount_30d": float("nan")})]
    if shape == "mapping":
        rows = dict(rows)
    elif shape == "frame":
        rows = pd.DataFrame.from_dict(dict(rows), orient="index")
    with pytest.raises(ValueError, match="u9999"):
        store.bulk_load(rows, chunk_size=32)
    assert store.count_entities() == 0


def test_a_stream_with_a_bad_row_says_how_much_was_written_and_a_rerun_fixes_it(store: FeatureStore) -> None:
    users = synthesize_users(300)
    bad = iter([*users, ("u9999", {"avg_amount_30d": float("nan")})])  # one-shot, bad row last
    with pytest.raises(ValueError, match=r"'u9999'.*288 entities were written before it"):
        store.bulk_load(bad, chunk_size=32)  # 9 whole chunks of 32; the bad row's chunk is not sent
    assert store.count_entities() == 288 and store.stats().batch_writes == 288
    assert store.bulk_load(iter(users), chunk_size=32) == 300  # idempotent: the same state again
    assert store.batch_get_features(users.ids, BATCH) == {
        entity_id: {name: fslib.schema.encode_value(value) for name, value in features.items()}
        for entity_id, features in users
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
    assert store.batch_get_features(["u0035"], ["country_iso"]) == {
        "u0035": {"country_iso": dict(users)["u0035"]["country_iso"]}
    }


@pytest.mark.single_server
def test_bulk_load_writes_everything_after_a_dropped_connection(
    redis_server: fslib.local.EmbeddedRedis,
    client: redis.Redis,
    prefix: str,
    transport: Transport,
    caplog: pytest.LogCaptureFixture,
) -> None:
    name = f"victim-{uuid.uuid4().hex[:8]}"
    victim = redis.Redis.from_url(
        redis_server.url,
        decode_responses=True,
        client_name=name,
        retry=Retry(NoBackoff(), 3),
        retry_on_error=[redis.ConnectionError],
    )
    store = FeatureStore(victim, key_prefix=prefix, transport=transport)
    users = synthesize_users(50)

    def killed_on_row_25() -> Iterator[tuple[str, dict[str, Any]]]:
        for index, row in enumerate(users):
            if index == 25:  # chunk 3 is being read; with packed, chunk 2 is in flight
                for entry in client.client_list():
                    if entry["name"] == name:
                        client.client_kill_filter(_id=entry["id"])
            yield row

    try:
        assert store.bulk_load(killed_on_row_25(), ttl_seconds=900, chunk_size=10) == 50
        assert store.stats().batch_writes == 50
        if transport == "packed":  # its stream resends what was not acknowledged; a pipeline just retries
            assert any("connection lost" in r.message for r in caplog.records)
        for entity_id, features in users:
            key = store.key_for(entity_id)
            assert client.hgetall(key) == {k: fslib.schema.encode_value(v) for k, v in features.items()}
            assert 890 <= client.ttl(key) <= 900
    finally:
        store.reset()
        victim.close()


def test_a_restart_during_a_load_is_reported_and_a_rerun_restores_everything(transport: Transport) -> None:
    # Without persistence a restarted Redis has lost what it acknowledged; the load must not say "done".
    with fslib.local.EmbeddedRedis() as server:
        client = fslib.connect(server.url)
        store = FeatureStore(client, key_prefix="restart:", transport=transport)
        users = synthesize_users(2000)

        def restarted_halfway() -> Iterator[tuple[str, dict[str, Any]]]:
            for index, row in enumerate(users):
                if index == 1000:
                    server.restart()
                yield row

        try:
            with pytest.raises(fslib.LoadInterruptedError, match="Redis restarted during the load"):
                store.bulk_load(restarted_halfway(), chunk_size=100)
            assert store.count_entities() < 2000  # what went before the restart is gone
            assert store.bulk_load(users, chunk_size=100) == 2000  # idempotent: the fix is to run it again
            assert store.count_entities() == 2000
        finally:
            client.close()
