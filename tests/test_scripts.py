"""Server-side Lua fast paths: same results as the pipeline, NOSCRIPT recovery, fallback."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
from redis.cluster import RedisCluster

import fslib
from fslib import DEFAULT_SCHEMA, FeatureStore, synthesize_users
from fslib.scripts import BULK_LOAD, MULTI_HMGET, bulk_load_args
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


@pytest.fixture
def stores(client: redis.Redis, prefix: str) -> Iterator[tuple[FeatureStore, FeatureStore]]:
    yield from _pair(client, prefix)


def _mixed_data(store: FeatureStore) -> list[str]:
    """Users with all, some, extra and no fields; returns ids incl. absent ones."""
    store.bulk_load(synthesize_users(1203))  # more than one read-script call (1000 keys each)
    store.bulk_load({"u0002": {"country_iso": "DE", "extra": "x"}})
    store.update_streaming("u0003", {"tx_count_5m": 3, "last_device_id": "ios-9f02"})
    return ["absent", *synthesize_users(1203).ids, "u0002", "also-absent"]


@pytest.mark.parametrize("decode", [False, True])
def test_batch_reads_are_identical_by_script_and_pipeline(
    stores: tuple[FeatureStore, FeatureStore], client: redis.Redis, decode: bool
) -> None:
    scripted, piped = stores
    ids = _mixed_data(scripted)
    client.script_load(MULTI_HMGET.source)  # a NOSCRIPT retry would count as a call too
    before = _calls(client, "evalsha_ro")
    by_script = scripted.batch_get_features(ids, NAMES, decode=decode)
    assert _calls(client, "evalsha_ro") - before == -(-len(ids) // fslib.store._READ_SCRIPT_KEYS)
    by_pipeline = piped.batch_get_features(ids, NAMES, decode=decode)
    assert by_script == by_pipeline
    assert by_script["absent"] == {}
    assert by_script["u0003"]["tx_count_5m"] == (3 if decode else "3")
    assert (by_script["u0002"]["country_iso"], by_script["u0002"]["extra"]) == ("DE", "x")
    frames = [s.batch_get_frame(ids, NAMES, decode=decode) for s in stores]
    assert frames[0].equals(frames[1])
    assert (scripted.stats().reads, scripted.stats().fields_read) == (piped.stats().reads, piped.stats().fields_read)


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


def test_scripts_reload_after_script_flush(stores: tuple[FeatureStore, FeatureStore], client: redis.Redis) -> None:
    scripted, piped = stores
    scripted.bulk_load(synthesize_users(5))
    client.script_flush()
    assert client.script_exists(MULTI_HMGET.sha, BULK_LOAD.sha) == [False, False]
    ids = synthesize_users(5).ids
    assert scripted.batch_get_features(ids, NAMES) == piped.batch_get_features(ids, NAMES)
    assert scripted.bulk_load(synthesize_users(7)) == 7
    assert client.script_exists(MULTI_HMGET.sha, BULK_LOAD.sha) == [True, True]
    # many ids: several script calls in one pipelined round trip, all answered NOSCRIPT, then repeated
    scripted.bulk_load(synthesize_users(450))
    client.script_flush()
    many = synthesize_users(450).ids
    assert scripted.batch_get_features(many, NAMES) == piped.batch_get_features(many, NAMES)
    assert scripted.uses_scripts


def test_call_many_refuses_scripts_that_write(client: redis.Redis) -> None:
    with pytest.raises(ValueError, match="read-only"):
        BULK_LOAD.call_many(client, [["k"]], [60, 1, "f", "v"])


def test_read_script_runs_as_read_only(client: redis.Redis) -> None:
    # EVALSHA_RO refuses a script that is not flagged no-writes, so this also checks the flag.
    client.script_load(MULTI_HMGET.source)
    assert MULTI_HMGET(client, ["no-such-key"], ["a", "b"]) == [[None, None]]
    with pytest.raises(redis.ResponseError, match="(?i)write"):
        client.execute_command("EVAL_RO", "return redis.call('SET', KEYS[1], 'x')", 1, "test:ro-probe")


def test_script_errors_propagate_and_keep_scripts_on(store: FeatureStore, client: redis.Redis) -> None:
    client.set(store.key_for("u1"), "not a hash")
    for mode in ("auto", False):
        other = FeatureStore(client, key_prefix=store.key_prefix, use_scripts=mode)
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            other.batch_get_features(["u1", "u2"], ["country_iso"])
    # A script error is no refusal of scripting: scripts stay on (on one server; a cluster never uses them).
    assert store.uses_scripts is not isinstance(client, RedisCluster)


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
        ids = synthesize_users(30).ids
        reference = FeatureStore(client, key_prefix=prefix, use_scripts=True)
        assert auto.batch_get_features(ids, NAMES) == reference.batch_get_features(ids, NAMES)
        fresh = FeatureStore(no_scripting_client, key_prefix=prefix)
        assert fresh.batch_get_features(ids, NAMES) == reference.batch_get_features(ids, NAMES)
        assert not fresh.uses_scripts
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
