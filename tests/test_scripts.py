"""The bulk-load script: same writes as the pipeline, NOSCRIPT recovery, fallback when scripting is refused."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
from redis.cluster import RedisCluster

import fslib
from fslib import DEFAULT_SCHEMA, FeatureStore, synthesize_users
from fslib.scripts import BULK_LOAD, bulk_load_args
from fslib.store import ScriptMode

NAMES = [*DEFAULT_SCHEMA.names, "extra", "never_written"]


def _calls(client: redis.Redis, command: str) -> int:
    return int(client.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))


def _pair(client: redis.Redis, prefix: str) -> Iterator[tuple[FeatureStore, FeatureStore]]:
    """A script store and a pipeline store over the same keys."""
    scripted = FeatureStore(client, key_prefix=prefix, use_scripts=True)
    piped = FeatureStore(client, key_prefix=prefix, use_scripts=False)
    yield scripted, piped
    scripted.reset()


def test_bulk_loads_are_identical_by_script_and_pipeline(client: redis.Redis) -> None:
    prefixes = [f"test:{uuid.uuid4().hex[:10]}:" for _ in range(2)]
    (scripted, _), (_, piped) = (next(_pair(client, p)) for p in prefixes)
    users = synthesize_users(57)
    client.script_load(BULK_LOAD.source)
    evals = _calls(client, "evalsha") + _calls(client, "eval")
    assert scripted.bulk_load(users, ttl_seconds=700, chunk_size=10) == 57
    assert _calls(client, "evalsha") + _calls(client, "eval") - evals == 6  # one call per chunk
    assert piped.bulk_load(users, ttl_seconds=700, chunk_size=10) == 57
    try:
        for entity_id in users.ids:
            a, b = scripted.key_for(entity_id), piped.key_for(entity_id)
            assert client.hgetall(a) == client.hgetall(b) != {}
            assert 690 <= client.ttl(a) <= 700 and 690 <= client.ttl(b) <= 700
            assert client.httl(a, *DEFAULT_SCHEMA.batch_names) == client.httl(b, *DEFAULT_SCHEMA.batch_names)
    finally:
        scripted.reset()
        piped.reset()


def test_bulk_load_args_layout() -> None:
    assert bulk_load_args(60, [{"a": "1", "b": "2"}, {"c": "3"}]) == [60, 2, "a", "1", "b", "2", 1, "c", "3"]


@pytest.mark.single_server
def test_bulk_load_script_reloads_after_script_flush(store: FeatureStore, client: redis.Redis) -> None:
    scripted = FeatureStore(client, key_prefix=store.key_prefix, use_scripts=True)
    scripted.bulk_load(synthesize_users(5))
    client.script_flush()
    assert client.script_exists(BULK_LOAD.sha) == [False]
    assert scripted.bulk_load(synthesize_users(7)) == 7  # the first chunk goes by EVALSHA: NOSCRIPT, load, again
    assert client.script_exists(BULK_LOAD.sha) == [True]
    assert store.count_entities() == 7 and scripted.uses_scripts


def test_scripts_are_refused_on_a_cluster(cluster_client: RedisCluster, prefix: str) -> None:
    assert not FeatureStore(cluster_client, key_prefix=prefix).uses_scripts
    with pytest.raises(ValueError, match="use_scripts=True needs a single Redis server"):
        FeatureStore(cluster_client, key_prefix=prefix, use_scripts=True)


@pytest.fixture
def no_scripting_client(redis_server: fslib.EmbeddedRedis, client: redis.Redis) -> Iterator[redis.Redis]:
    """A connection as an ACL user that may do everything except run scripts."""
    user, password = f"noscript-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    client.acl_setuser(user, enabled=True, passwords=[f"+{password}"], keys=["*"], commands=["+@all", "-@scripting"])
    limited = redis.Redis(port=redis_server.port, username=user, password=password, decode_responses=True)
    yield limited
    limited.close()
    client.acl_deluser(user)


def test_auto_falls_back_to_pipelines_when_scripting_is_refused(
    no_scripting_client: redis.Redis, client: redis.Redis, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    forced = FeatureStore(no_scripting_client, key_prefix=prefix, use_scripts=True)
    with pytest.raises(redis.exceptions.NoPermissionError):
        forced.bulk_load(synthesize_users(3))
    auto = FeatureStore(no_scripting_client, key_prefix=prefix)
    assert auto.uses_scripts
    try:
        assert auto.bulk_load(synthesize_users(30), chunk_size=10) == 30
        assert not auto.uses_scripts
        assert sum("scripting refused" in r.message for r in caplog.records) == 1  # detected once, remembered
        reference = FeatureStore(client, key_prefix=prefix, use_scripts=True)
        assert reference.bulk_load(synthesize_users(30), chunk_size=10) == 30
        ids = synthesize_users(30).ids
        assert auto.batch_get_features(ids, NAMES) == reference.batch_get_features(ids, NAMES)
        assert not auto.uses_scripts and reference.uses_scripts
    finally:
        FeatureStore(client, key_prefix=prefix).reset()


def test_use_scripts_is_validated(client: redis.Redis) -> None:
    with pytest.raises(ValueError, match="use_scripts"):
        FeatureStore(client, use_scripts="yes")  # type: ignore[arg-type]
    assert not FeatureStore(client, use_scripts=False).uses_scripts


@pytest.mark.parametrize("use_scripts", [True, False])
def test_bulk_load_spilled_to_disk_writes_everything_or_nothing(
    store: FeatureStore, client: redis.Redis, monkeypatch: pytest.MonkeyPatch, use_scripts: ScriptMode
) -> None:
    monkeypatch.setattr(fslib.store, "_SPOOL_BYTES", 1024)  # spill the encoded chunks after 1 KiB
    if use_scripts and isinstance(client, RedisCluster):
        use_scripts = "auto"  # scripts are refused on a cluster; the spool works the same without them
    loader = FeatureStore(client, key_prefix=store.key_prefix, use_scripts=use_scripts)
    users = synthesize_users(300)
    bad = iter([*users, ("u9999", {"avg_amount_30d": float("nan")})])  # one-shot, bad row last
    with pytest.raises(ValueError, match="u9999"):
        loader.bulk_load(bad, chunk_size=32)
    assert store.count_entities() == 0
    assert loader.bulk_load(iter(users), chunk_size=32) == 300
    assert store.batch_get_features(users.ids, DEFAULT_SCHEMA.batch_names) == {
        entity_id: {name: fslib.encode_value(value) for name, value in features.items()} for entity_id, features in users
    }


def test_script_error_mid_stream_raises_and_leaves_the_pool_usable(store: FeatureStore, client: redis.Redis) -> None:
    users = synthesize_users(60)
    client.set(store.key_for("u0035"), "not a hash")  # in the 4th chunk of 10
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        store.bulk_load(users, chunk_size=10)
    assert store.stats().batch_writes == 30  # the chunks Redis applied before the failing one
    # A script error is no refusal of scripting: scripts stay on (on one server; a cluster never uses them).
    assert store.uses_scripts is not isinstance(client, RedisCluster)
    assert client.hgetall(store.key_for("u0030")) != {}
    client.delete(store.key_for("u0035"))
    assert store.bulk_load(users, chunk_size=10) == 60
    assert client.ping()


def test_bulk_load_resends_unacknowledged_chunks_after_a_dropped_connection(
    redis_server: fslib.EmbeddedRedis, client: redis.Redis, prefix: str,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    name = f"victim-{uuid.uuid4().hex[:8]}"
    victim = redis.Redis(port=redis_server.port, decode_responses=True, client_name=name)
    store = FeatureStore(victim, key_prefix=prefix)
    real_args = fslib.store.bulk_load_args
    calls = []

    def kill_on_third_chunk(ttl: int, mappings: object) -> list[object]:
        calls.append(1)
        if len(calls) == 3:  # chunk 1 went alone, chunk 2 is in flight on the stream's connection
            for entry in client.client_list():
                if entry["name"] == name:
                    client.client_kill_filter(_id=entry["id"])
        return real_args(ttl, mappings)  # type: ignore[arg-type]

    monkeypatch.setattr(fslib.store, "bulk_load_args", kill_on_third_chunk)
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
