"""Limits on what a write accepts, so no write leaves a field without its TTL or a value reads cannot return.

Every case runs on the real server, over both topologies and both transports
(the ``store`` fixture), and checks with ``TTL``/``HTTL`` what Redis holds.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pytest
import redis

import fslib
from fslib import FeatureStore, StreamingWorker, synthesize_users
from fslib.checks import MAX_TTL_SECONDS
from fslib.fast import AsyncFeatureStore

ROW = {"country_iso": "US", "tx_count_7d": 14, "avg_amount_30d": 92.4}
EVENT = {"last_login_ts": 1716998413541, "tx_count_5m": 3}
EPOCH_SECONDS = 1_764_000_000  # a Unix timestamp passed where a TTL belongs


@pytest.fixture
def client(store_client: redis.Redis) -> redis.Redis:
    return store_client


@pytest.mark.parametrize("ttl", [MAX_TTL_SECONDS + 1, EPOCH_SECONDS, 10**16])
def test_ttls_above_the_limit_are_refused_on_every_write_path(store: FeatureStore, ttl: int) -> None:
    client = store.client
    with pytest.raises(ValueError, match=r"at most 31536000 s \(365 days\)"):
        store.bulk_load({"u1": ROW}, ttl_seconds=ttl)
    store.bulk_load({"u1": ROW})
    with pytest.raises(ValueError, match="at most"):
        store.update_streaming("u1", EVENT, ttl_seconds=ttl)
    with pytest.raises(ValueError, match="at most"):
        store.update_streaming_many({"u1": EVENT}, ttl_seconds=ttl)
    for option in ("batch_ttl_seconds", "streaming_ttl_seconds"):
        with pytest.raises(ValueError, match=f"{option} must be at most"):
            FeatureStore(client, key_prefix=store.key_prefix, **{option: ttl})
    with pytest.raises(ValueError, match="streaming_ttl_seconds must be at most"):
        StreamingWorker(store, streaming_ttl_seconds=ttl)
    assert store.field_ttls_seconds("u1", list(EVENT)) == {name: -2 for name in EVENT}  # nothing written


@pytest.mark.parametrize("mode", ["hsetex", "multi"])
def test_every_write_path_leaves_every_field_and_key_with_its_ttl(client: redis.Redis, prefix: str, mode: str) -> None:
    store = FeatureStore(client, key_prefix=prefix, streaming_write=mode)  # type: ignore[arg-type]
    try:
        store.bulk_load({"u1": ROW, "u2": ROW}, ttl_seconds=MAX_TTL_SECONDS)
        store.update_batch_feature("u3", "country_iso", "DE")  # a new entity: the batch TTL
        store.update_streaming("u1", EVENT, ttl_seconds=MAX_TTL_SECONDS)
        store.update_streaming_many({"u2": EVENT, "u3": EVENT}, ttl_seconds=60)
        assert MAX_TTL_SECONDS - 10 <= store.key_ttl_seconds("u1") <= MAX_TTL_SECONDS
        assert store.key_ttl_seconds("u3") > 0
        assert all(
            MAX_TTL_SECONDS - 10 <= t <= MAX_TTL_SECONDS for t in store.field_ttls_seconds("u1", list(EVENT)).values()
        )
        for entity_id in ("u2", "u3"):
            assert all(50 <= t <= 60 for t in store.field_ttls_seconds(entity_id, list(EVENT)).values())
    finally:
        store.reset()


@pytest.mark.parametrize(
    ("features", "error", "match"),
    [
        ({"tx_count_7d": 10**30}, ValueError, "'tx_count_7d': .* outside the int64 range"),
        ({"tx_count_7d": -(2**63) - 1}, ValueError, "outside the int64 range"),
        ({"avg_amount_30d": 10**400}, ValueError, "'avg_amount_30d': .* too large for a float"),
        ({"country_iso": "bad\udcff"}, ValueError, "'country_iso': .* not valid UTF-8"),
        ({"bad\udcff": "x"}, ValueError, "not valid UTF-8"),
    ],
)
def test_a_value_reads_cannot_return_is_a_bad_row_in_the_last_chunk(
    store: FeatureStore, features: dict[str, object], error: type, match: str
) -> None:
    rows = [*synthesize_users(100), ("u0101", features)]  # the bad row alone in the last chunk
    with pytest.raises(error, match=f"entity 'u0101': feature {match}" if match.startswith("'") else match):
        store.bulk_load(rows, chunk_size=100)
    assert store.count_entities() == 0


def test_int64_edges_round_trip_through_a_typed_read(store: FeatureStore) -> None:
    store.bulk_load(
        {"lo": {"tx_count_7d": -(2**63)}, "hi": {"tx_count_7d": 2**63 - 1}, "np": {"tx_count_7d": np.int64(5)}}
    )
    frame = store.batch_get_frame(["lo", "hi", "np"], ["tx_count_7d"])
    assert frame["tx_count_7d"].tolist() == [-(2**63), 2**63 - 1, 5] and str(frame["tx_count_7d"].dtype) == "Int64"


def test_a_bare_string_of_ids_is_refused(store: FeatureStore) -> None:
    store.bulk_load({"u": ROW, "0": ROW, "1": ROW})
    for read in (store.batch_get_features, store.batch_get_frame, store.batch_get_feature_vectors):
        with pytest.raises(TypeError, match="not one string"):
            read("u01", ["country_iso"])  # type: ignore[operator]


def test_a_nan_in_an_int_column_blames_its_own_row(store: FeatureStore) -> None:
    frame = synthesize_users(20).to_frame()
    frame["tx_count_7d"] = frame["tx_count_7d"].astype("float64")  # how pandas holds ints beside a NaN
    frame.loc["u0013", "tx_count_7d"] = np.nan
    with pytest.raises(TypeError, match="entity 'u0013': feature 'tx_count_7d': missing value"):
        store.bulk_load(frame)
    assert store.count_entities() == 0
    frame = frame.drop(index="u0013")  # whole floats in an int column are loaded as ints
    assert store.bulk_load(frame) == 19
    assert store.get_features("u0001", ["tx_count_7d"]) == {"tx_count_7d": str(int(frame.loc["u0001", "tx_count_7d"]))}


def test_update_streaming_many_checks_every_row_before_the_first_write(store: FeatureStore) -> None:
    rows = {f"u{i}": EVENT for i in range(250)}
    rows["u249"] = {"tx_count_7d": 3}  # a batch feature on the streaming path, in the second chunk
    with pytest.raises(ValueError, match="entity 'u249': feature 'tx_count_7d' is a batch feature"):
        store.update_streaming_many(rows)
    assert store.count_entities() == 0
    del rows["u249"]
    assert store.update_streaming_many(rows, ttl_seconds=60) == fslib.WriteResult(entities=249, applied=498)
    assert store.stats().streaming_writes == 249
    assert store.get_features("u7", list(EVENT), decode=True) == EVENT


def test_the_asyncio_store_refuses_the_same_ttls(redis_server: fslib.local.EmbeddedRedis) -> None:
    async def check() -> None:
        client = await fslib.connect_async(redis_server.url)
        try:
            with pytest.raises(ValueError, match="at most"):
                AsyncFeatureStore(client, streaming_ttl_seconds=EPOCH_SECONDS)
            with pytest.raises(ValueError, match="at most"):
                await AsyncFeatureStore(client, key_prefix="t:").update_streaming(
                    "u1", EVENT, ttl_seconds=EPOCH_SECONDS
                )
        finally:
            await client.aclose()

    asyncio.run(check())


def test_pandas_frame_of_streaming_rows(store: FeatureStore) -> None:
    frame = pd.DataFrame({"tx_count_5m": [1, 2], "session_country": ["US", "DE"]}, index=["a", "b"])
    assert store.update_streaming_many(frame, ttl_seconds=60).entities == 2
    assert store.batch_get_features(["a", "b"], ["tx_count_5m"]) == {
        "a": {"tx_count_5m": "1"},
        "b": {"tx_count_5m": "2"},
    }
