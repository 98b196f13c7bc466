from __future__ import annotations

import dataclasses
import math
import threading
from typing import Any

import pytest
import redis

import fslib
from fslib import DEFAULT_SCHEMA, FeatureStore, InvariantError, synthesize_users
from fslib.checks import check_field_ttl_codes
from fslib.local import free_port

from conftest import MakeStore
from polling import wait_until
from stored import stored_row

BATCH = DEFAULT_SCHEMA.batch_names
STREAMING = DEFAULT_SCHEMA.streaming_names
ROW = {"country_iso": "US", "risk_segment": "low", "tx_count_7d": 14, "avg_amount_30d": 92.4}
EVENT = {"last_login_ts": 1716998413541, "tx_count_5m": 3, "last_device_id": "ios-9f02"}


def test_key_for_and_bad_ids(store: FeatureStore, prefix: str) -> None:
    assert store.key_for("u0001") == f"{prefix}u0001"
    assert store.key_for(7) == f"{prefix}7"
    with pytest.raises(ValueError, match="entity id must not be empty"):
        store.key_for("")
    with pytest.raises(TypeError, match="entity id must be a string"):
        store.key_for(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, -5, 1.5, "60", True])
def test_constructor_refuses_bad_ttls(store_client: redis.Redis, bad: object) -> None:
    with pytest.raises((TypeError, ValueError), match="batch_ttl_seconds"):
        FeatureStore(store_client, batch_ttl_seconds=bad)  # type: ignore[arg-type]
    with pytest.raises((TypeError, ValueError), match="streaming_ttl_seconds"):
        FeatureStore(store_client, streaming_ttl_seconds=bad)  # type: ignore[arg-type]


def _rows_as(kind: str, users: fslib.synth.SyntheticUsers) -> Any:
    if kind == "mapping":
        return dict(users)
    if kind == "pairs":
        return list(users)
    if kind == "iterator":
        return iter(users)
    if kind == "lazy":
        return users
    return users.to_frame()


@pytest.mark.parametrize("kind", ["mapping", "pairs", "iterator", "lazy", "frame"])
def test_bulk_load_writes_every_field_with_a_key_ttl_and_no_field_ttl(store: FeatureStore, kind: str) -> None:
    client, users = store.client, synthesize_users(40, seed=3)
    assert store.bulk_load(_rows_as(kind, users), ttl_seconds=600, chunk_size=7) == 40
    assert store.count_entities() == 40
    for entity_id, features in users:
        key = store.key_for(entity_id)
        assert client.hgetall(key) == stored_row(features)
        assert 590 <= client.ttl(key) <= 600
        assert client.httl(key, *BATCH) == [-1] * len(BATCH)


def test_bulk_load_shows_a_progress_bar(store: FeatureStore, capsys: pytest.CaptureFixture[str]) -> None:
    store.bulk_load(synthesize_users(30), chunk_size=10, progress=True)
    assert "30/30" in capsys.readouterr().err


def test_bulk_load_without_progress_prints_nothing(store: FeatureStore, capsys: pytest.CaptureFixture[str]) -> None:
    store.bulk_load(synthesize_users(30), chunk_size=10)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("bad_features", "error", "match"),
    [
        ({"tx_count_7d": None}, TypeError, "entity 'u0050': feature 'tx_count_7d'"),
        ({"extra": [1, 2]}, TypeError, "entity 'u0050': feature 'extra': unsupported"),
        ({"extra": {"a": 1}}, TypeError, "entity 'u0050': feature 'extra': unsupported"),
        ({"avg_amount_30d": math.nan}, ValueError, "entity 'u0050': feature 'avg_amount_30d'.*NaN"),
        ({"avg_amount_30d": math.inf}, ValueError, "entity 'u0050'.*NaN/inf"),
        ({"": 1}, ValueError, "entity 'u0050': feature name must not be empty"),
        ({"tx_count_5m": 3}, ValueError, "entity 'u0050': feature 'tx_count_5m' is a streaming feature"),
        ({"tx_count_7d": "14"}, TypeError, "entity 'u0050': feature 'tx_count_7d' expects int"),
        ({}, ValueError, "entity 'u0050': no features"),
    ],
)
def test_one_bad_row_writes_nothing(store: FeatureStore, bad_features: dict, error: type, match: str) -> None:
    rows = dict(synthesize_users(49))
    rows["u0050"] = bad_features
    with pytest.raises(error, match=match):
        store.bulk_load(rows, chunk_size=10)
    assert store.count_entities() == 0


def test_bad_ids_ttls_and_inputs_write_nothing(store: FeatureStore) -> None:
    with pytest.raises(ValueError, match="entity id must not be empty"):
        store.bulk_load([("u1", ROW), ("", ROW)])
    for ttl in (0, -1):
        with pytest.raises(ValueError, match="ttl_seconds must be > 0"):
            store.bulk_load([("u1", ROW)], ttl_seconds=ttl)
    for ttl in (1.5, True, "60"):
        with pytest.raises(TypeError, match="ttl_seconds must be an integer"):
            store.bulk_load([("u1", ROW)], ttl_seconds=ttl)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"\(entity_id, features\) pair"):
        store.bulk_load([("u1", ROW), ("u2",)])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="rows must be"):
        store.bulk_load("u1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="chunk_size"):
        store.bulk_load([("u1", ROW)], chunk_size=0)
    assert store.count_entities() == 0


def test_a_dataframe_with_a_missing_value_writes_nothing(store: FeatureStore) -> None:
    frame = synthesize_users(20).to_frame()
    frame["avg_amount_30d"] = frame["avg_amount_30d"].astype("float64")
    frame.loc["u0013", "avg_amount_30d"] = math.nan
    with pytest.raises(ValueError, match="entity 'u0013': feature 'avg_amount_30d'"):
        store.bulk_load(frame)
    assert store.count_entities() == 0


def test_update_batch_feature_keeps_the_key_ttl(store: FeatureStore) -> None:
    client = store.client
    store.bulk_load({"u1": ROW}, ttl_seconds=1000)
    client.expire(store.key_for("u1"), 500)  # a TTL bulk_load did not give: it must survive
    store.update_batch_feature("u1", "risk_segment", "high")
    assert store.get_features("u1", ["risk_segment"]) == {"risk_segment": "high"}
    assert 490 <= store.key_ttl_seconds("u1") <= 500
    assert store.field_ttls_seconds("u1", ["risk_segment"]) == {"risk_segment": -1}


def test_update_batch_feature_on_a_new_entity_gives_it_the_batch_ttl(store: FeatureStore) -> None:
    store.update_batch_feature("fresh", "tx_count_7d", 3)
    assert store.batch_ttl_seconds - 10 <= store.key_ttl_seconds("fresh") <= store.batch_ttl_seconds
    with pytest.raises(ValueError, match="entity 'fresh': feature 'tx_count_5m' is a streaming feature"):
        store.update_batch_feature("fresh", "tx_count_5m", 3)
    with pytest.raises(TypeError, match="entity 'fresh': feature 'tx_count_7d' expects int"):
        store.update_batch_feature("fresh", "tx_count_7d", "3")  # type: ignore[arg-type]
    assert store.get_features("fresh", ["tx_count_5m", "tx_count_7d"]) == {"tx_count_7d": "3"}  # nothing written


@pytest.mark.parametrize("mode", ["hsetex", "multi"])
def test_update_streaming_gives_each_field_its_ttl_and_leaves_the_rest(make_store: MakeStore, mode: str) -> None:
    store = make_store(streaming_write=mode)  # reset after the test by the fixture
    assert store.uses_hsetex is (mode == "hsetex")
    store.bulk_load({"u1": ROW}, ttl_seconds=3600)
    store.update_streaming("u1", EVENT, ttl_seconds=120)
    ttls = store.field_ttls_seconds("u1", [*EVENT, *ROW, "session_country"])
    assert all(110 <= ttls[name] <= 120 for name in EVENT)
    assert all(ttls[name] == -1 for name in ROW)
    assert ttls["session_country"] == -2
    assert 3590 <= store.key_ttl_seconds("u1") <= 3600
    assert store.get_features("u1", list(EVENT), decode=True) == EVENT
    store.update_streaming("u1", {"tx_count_5m": 4})  # default TTL, renewed on every write
    assert store.streaming_ttl_seconds - 10 <= store.field_ttls_seconds("u1", ["tx_count_5m"])["tx_count_5m"]
    assert store.stats().streaming_writes == 2


def test_auto_mode_uses_hsetex_on_redis_8(store: FeatureStore) -> None:
    assert store.uses_hsetex


def test_update_streaming_refuses_bad_input_and_writes_nothing(store: FeatureStore) -> None:
    with pytest.raises(ValueError, match="entity 'u1': feature 'tx_count_7d' is a batch feature"):
        store.update_streaming("u1", {"tx_count_5m": 1, "tx_count_7d": 1})
    with pytest.raises(ValueError, match="ttl_seconds must be > 0"):
        store.update_streaming("u1", {"tx_count_5m": 1}, ttl_seconds=0)
    with pytest.raises(TypeError, match="entity 'u1': feature 'tx_count_5m'"):
        store.update_streaming("u1", {"tx_count_5m": None})  # type: ignore[dict-item]
    store.update_streaming("u1", {})  # nothing to write
    assert store.count_entities() == 0 and store.stats().streaming_writes == 0


def test_field_ttl_codes_other_than_1_violate_the_invariant() -> None:
    check_field_ttl_codes("HEXPIRE", "fs:user:u1", ["a", "b"], [1, 1])
    with pytest.raises(InvariantError) as info:
        check_field_ttl_codes("HEXPIRE", "fs:user:u1", ["a", "b", "c"], [1, 2, -2])
    message = str(info.value)
    assert "HEXPIRE invariant violated" in message and "fs:user:u1" in message
    assert "['a', 'b', 'c']" in message and "[1, 2, -2]" in message
    with pytest.raises(InvariantError, match="HSETEX invariant violated"):
        check_field_ttl_codes("HSETEX", "k", ["a"], [0])


def test_get_features_keeps_request_order_and_leaves_out_missing(store: FeatureStore) -> None:
    store.bulk_load({"u1": ROW})
    got = store.get_features("u1", ["tx_count_7d", "nope", "country_iso"])
    assert list(got.items()) == [("tx_count_7d", "14"), ("country_iso", "US")]
    assert store.get_features("u1", ["tx_count_7d", "avg_amount_30d"], decode=True) == {
        "tx_count_7d": 14,
        "avg_amount_30d": 92.4,
    }
    assert store.get_features("absent", ["tx_count_7d"]) == {}
    with pytest.raises(TypeError, match="not one string"):
        store.get_features("u1", "tx_count_7d")
    with pytest.raises(ValueError, match="must not be empty"):
        store.get_features("u1", [""])


def test_empty_feature_lists_need_no_round_trip() -> None:
    nowhere = redis.Redis(port=free_port(), retry=None, socket_connect_timeout=0.2)
    store = FeatureStore(nowhere)
    assert store.get_features("u1", []) == {}
    assert store.field_ttls_seconds("u1", []) == {}
    assert store.batch_get_features([], ["tx_count_7d"]) == {}
    assert store.batch_get_features(["u1", "u2"], []) == {"u1": {}, "u2": {}}
    with pytest.raises(redis.ConnectionError):
        store.get_features("u1", ["tx_count_7d"])


def test_a_field_expires_on_its_own_and_is_left_out(store: FeatureStore) -> None:
    store.bulk_load({"u1": ROW})
    store.update_streaming("u1", {"tx_count_5m": 3}, ttl_seconds=1)
    store.client.hpexpire(store.key_for("u1"), 50, "tx_count_5m")  # speed it up: 50 ms
    # Wait on the read itself: Redis 8.2's HTTL answers -2 up to ~1 ms before
    # HMGET stops returning a field that is expiring (measured), so polling HTTL first races.
    assert wait_until(lambda: store.get_features("u1", ["tx_count_5m", "tx_count_7d"]) == {"tx_count_7d": "14"})
    assert store.field_ttls_seconds("u1", ["tx_count_5m", "tx_count_7d"]) == {"tx_count_5m": -2, "tx_count_7d": -1}


def test_batch_read_equals_per_entity_reads(store: FeatureStore) -> None:
    users = synthesize_users(60)
    store.bulk_load(users)
    store.update_streaming("u0002", {"tx_count_5m": 9})
    ids = [*users.ids[:30], "absent"]
    names = ["risk_segment", "tx_count_5m", "avg_amount_30d"]
    for decode in (False, True):
        batch = store.batch_get_features(ids, names, decode=decode)
        assert list(batch) == ids
        assert batch == {e: store.get_features(e, names, decode=decode) for e in ids}
    assert batch["absent"] == {} and batch["u0002"]["tx_count_5m"] == 9


def test_batch_get_frame_is_typed_with_na_for_missing(store: FeatureStore) -> None:
    store.bulk_load({"u1": {**ROW, "extra": "x"}, "u2": {"country_iso": "DE"}})
    store.update_streaming("u1", {"tx_count_5m": 2})
    frame = store.batch_get_frame(["u1", "u2", "absent"], ["tx_count_7d", "avg_amount_30d", "tx_count_5m", "extra"])
    assert frame.index.name == "entity_id" and list(frame.index) == ["u1", "u2", "absent"]
    assert [str(t) for t in frame.dtypes] == ["Int64", "Float64", "Int64", "string"]
    assert frame.loc["u1", "tx_count_7d"] == 14 and frame.loc["u1", "tx_count_5m"] == 2
    assert frame.loc["u1", "avg_amount_30d"] == 92.4 and frame.loc["u1", "extra"] == "x"
    assert frame.loc["u2"].isna().all() and frame.loc["absent"].isna().all()
    raw = store.batch_get_frame(["u1"], ["tx_count_7d"], decode=False)
    assert raw.loc["u1", "tx_count_7d"] == "14"


def test_ttl_semantics_of_field_and_key_ttls(store: FeatureStore) -> None:
    assert store.key_ttl_seconds("absent") == -2
    assert store.field_ttls_seconds("absent", ["tx_count_7d"]) == {"tx_count_7d": -2}
    store.update_streaming("only-streaming", {"tx_count_5m": 1}, ttl_seconds=30)
    assert store.key_ttl_seconds("only-streaming") == -1  # no key TTL: its fields expire by themselves


def test_inspect_shows_the_whole_hash_with_ttls(store: FeatureStore) -> None:
    absent = store.inspect("absent")
    assert not absent.exists and absent.fields == {} and "no such entity" in str(absent)
    store.bulk_load({"u1": ROW}, ttl_seconds=900)
    store.update_streaming("u1", {"tx_count_5m": 3}, ttl_seconds=60)
    view = store.inspect("u1")
    assert view.exists and 890 <= view.key_ttl_seconds <= 900
    assert view.fields["country_iso"] == fslib.inspection.FieldState("US", -1)
    assert 50 <= view.fields["tx_count_5m"].ttl_seconds <= 60
    assert set(view.fields) == {*ROW, "tx_count_5m"}
    text = str(view)
    assert "country_iso=US" in text and "<no field TTL>" in text and "(key-level)" in text
    frame = view.to_frame()
    assert frame.set_index("feature").loc["tx_count_5m", "kind"] == "streaming"


def test_count_list_delete_and_reset_stay_under_the_prefix(store_client: redis.Redis, prefix: str) -> None:
    client = store_client
    store = FeatureStore(client, key_prefix=prefix + "a:")
    neighbour = FeatureStore(client, key_prefix=prefix + "b:")
    tricky = FeatureStore(client, key_prefix=prefix + "[a]*:")  # glob characters are literal
    try:
        store.bulk_load(synthesize_users(1203))
        neighbour.bulk_load(synthesize_users(5))
        tricky.bulk_load(synthesize_users(2))
        assert store.count_entities() == 1203
        assert store.list_entity_ids(limit=3) == sorted(store.list_entity_ids(limit=3))
        assert len(store.list_entity_ids(limit=3)) == 3
        assert store.list_entity_ids()[:2] == ["u0001", "u0002"]
        assert store.delete_entity("u0001") is True and store.delete_entity("u0001") is False
        assert tricky.reset() == 2
        assert store.reset() == 1202
        assert store.count_entities() == 0 and neighbour.count_entities() == 5
    finally:
        neighbour.reset()


def test_every_counter_update_waits_for_the_lock() -> None:
    # Threads cannot be made to interleave inside `totals[k] += n` on CPython (no switch point there), so
    # the lock is checked itself: while it is held, no update gets through.
    counters = fslib.stats.Counters()
    updates = [
        lambda: counters.read(1, 1),
        lambda: counters.wrote("batch", 1),
        lambda: counters.streamed(fslib.WriteResult(entities=1, applied=1)),
    ]
    for update in updates:
        before = counters.snapshot()
        with counters._lock:
            thread = threading.Thread(target=update)
            thread.start()
            thread.join(0.05)
            assert thread.is_alive() and counters._totals == dataclasses.asdict(before)  # still waiting
        thread.join()
        assert counters.snapshot() != before


def test_stats_count_reads_across_threads_and_reset(store: FeatureStore) -> None:
    store.bulk_load(synthesize_users(10))
    store.reset_stats()

    def reader() -> None:
        for _ in range(200):
            store.get_features("u0001", ["country_iso", "tx_count_5m"])

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.batch_get_features(["u0001", "u0002", "absent"], ["country_iso"])
    stats = store.stats()
    assert (stats.reads, stats.fields_read) == (803, 802)
    store.reset_stats()
    assert store.stats() == fslib.stats.StoreStats()
