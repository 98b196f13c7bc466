"""AsyncFeatureStore: the same answers, errors and writes as the sync FeatureStore, awaited.

Each test runs its coroutine with ``asyncio.run`` and closes its asyncio
client before the loop ends; the sync store on the same keys is the reference.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pandas as pd
import pytest
import redis
import redis.asyncio
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

import fslib
from fslib import FeatureStore, RedisVersionError, connect_async, synthesize_users
from fslib.fast import AsyncFeatureStore
from fslib.local import EmbeddedRedis

from conftest import MakeStore
from system_deps import OLD_REDIS, needs_old_redis

T = TypeVar("T")

NAMES = [*fslib.DEFAULT_SCHEMA.names, "never_written"]
USERS = 250
IDS = ["absent", *synthesize_users(USERS).ids, "also-absent"]


def run(url: str, body: Callable[[AsyncFeatureStore], Awaitable[T]], prefix: str, **options: Any) -> T:
    """``body(store)`` on a fresh asyncio client, closed before the event loop ends."""

    async def main() -> T:
        client = await connect_async(url)
        try:
            return await body(AsyncFeatureStore(client, key_prefix=prefix, **options))
        finally:
            await client.aclose()

    return asyncio.run(main())


pytestmark = pytest.mark.single_server  # the asyncio store serves one server


@pytest.fixture
def sync_store(make_store: MakeStore) -> FeatureStore:
    """The reference: the sync store on the same server and keys."""
    return make_store()


@pytest.fixture
def loaded(sync_store: FeatureStore) -> FeatureStore:
    """Users with all fields, some fields, an extra field, and streaming fields."""
    sync_store.bulk_load(synthesize_users(USERS))
    sync_store.bulk_load({"u0002": {"country_iso": "DE", "extra": "x"}})
    sync_store.update_streaming("u0003", {"tx_count_5m": 3, "last_device_id": "ios-9f02"})
    return sync_store


def test_reads_are_identical_to_the_sync_store(loaded: FeatureStore, redis_server: EmbeddedRedis, prefix: str) -> None:
    one = IDS[:3]

    async def body(store: AsyncFeatureStore) -> dict[str, Any]:
        return {
            "single": [await store.get_features(e, NAMES, decode=d) for e in one for d in (False, True)],
            "empty names": await store.get_features("u0001", []),
            "batch": await store.batch_get_features(IDS, NAMES),
            "batch decoded": await store.batch_get_features(IDS, NAMES, decode=True),
            "batch of one": await store.batch_get_features(["u0003"], NAMES, decode=True),
            "batch of none": await store.batch_get_features([], NAMES),
            "batch without names": await store.batch_get_features(one, []),
            "frame": await store.batch_get_frame(IDS, NAMES),
            "frame raw": await store.batch_get_frame(IDS, NAMES, decode=False),
            "stats": store.stats(),
        }

    got = run(redis_server.url, body, prefix)
    ref = loaded
    ref.reset_stats()
    assert got["single"] == [ref.get_features(e, NAMES, decode=d) for e in one for d in (False, True)]
    assert got["empty names"] == {} == ref.get_features("u0001", [])
    assert got["batch"] == ref.batch_get_features(IDS, NAMES)
    assert got["batch decoded"] == ref.batch_get_features(IDS, NAMES, decode=True)
    assert got["batch of one"] == ref.batch_get_features(["u0003"], NAMES, decode=True)
    assert got["batch of none"] == {} and got["batch without names"] == {e: {} for e in one}
    pd.testing.assert_frame_equal(got["frame"], ref.batch_get_frame(IDS, NAMES))
    pd.testing.assert_frame_equal(got["frame raw"], ref.batch_get_frame(IDS, NAMES, decode=False))
    # The data really has every case the comparison claims to cover.
    assert got["batch"]["absent"] == {} and "never_written" not in got["batch"]["u0001"]
    assert got["batch decoded"]["u0003"]["tx_count_5m"] == 3 and got["batch"]["u0002"]["country_iso"] == "DE"
    # The reference did the same counted reads in the asserts above, so the counters agree.
    assert got["stats"] == ref.stats() and got["stats"].reads > 0


@pytest.mark.parametrize("mode", ["hsetex", "multi", "auto"])
def test_streaming_writes_get_their_field_ttl(
    sync_store: FeatureStore, client: redis.Redis, redis_server: EmbeddedRedis, prefix: str, mode: str
) -> None:
    sync_store.bulk_load({"u1": {"country_iso": "FR"}}, ttl_seconds=600)

    async def body(store: AsyncFeatureStore) -> tuple[Any, ...]:
        await store.update_streaming("u1", {"tx_count_5m": 4, "last_device_id": "web-1"}, ttl_seconds=90)
        await store.update_streaming("u1", {})  # nothing to write: no round trip, not counted
        return (
            await store.field_ttls_seconds("u1", ["tx_count_5m", "last_device_id", "country_iso", "never_written"]),
            await store.field_ttls_seconds("u1", []),
            await store.key_ttl_seconds("u1"),
            await store.key_ttl_seconds("absent"),
            await store.uses_hsetex(),
            store.stats().streaming_writes,
        )

    ttls, no_ttls, key_ttl, absent_ttl, hsetex, writes = run(redis_server.url, body, prefix, streaming_write=mode)
    assert 85 <= ttls["tx_count_5m"] <= 90 and 85 <= ttls["last_device_id"] <= 90
    assert (ttls["country_iso"], ttls["never_written"], no_ttls) == (-1, -2, {})
    assert 85 <= client.httl(sync_store.key_for("u1"), "tx_count_5m")[0] <= 90  # seen from the sync side too
    assert 590 <= key_ttl <= 600 and absent_ttl == -2
    assert hsetex is (mode != "multi")
    assert writes == 1
    assert sync_store.get_features("u1", ["tx_count_5m", "last_device_id"]) == {
        "tx_count_5m": "4",
        "last_device_id": "web-1",
    }


BAD_CALLS: list[tuple[str, str, tuple[Any, ...], dict[str, Any]]] = [
    ("batch feature in a streaming write", "update_streaming", ("u1", {"country_iso": "DE"}), {}),
    ("non-string feature name", "update_streaming", ("u1", {"tx_count_5m": 1, 7: 1}), {}),
    ("value of the wrong type", "update_streaming", ("u1", {"tx_count_5m": "many"}), {}),
    ("zero TTL", "update_streaming", ("u1", {"tx_count_5m": 1}), {"ttl_seconds": 0}),
    ("fractional TTL", "update_streaming", ("u1", {"tx_count_5m": 1}), {"ttl_seconds": 1.5}),
    ("empty id", "update_streaming", ("", {"tx_count_5m": 1}), {}),
    ("names as one string", "get_features", ("u1", "country_iso"), {}),
    ("empty feature name", "get_features", ("u1", ["country_iso", ""]), {}),
    ("one bad id in a batch", "batch_get_features", (["u1", None, "u2"], ["country_iso"]), {}),
    ("bad id in a frame", "batch_get_frame", (["u1", 3.5], ["country_iso"]), {}),
    ("bad name for TTLs", "field_ttls_seconds", ("u1", "tx_count_5m"), {}),
    ("bad id for the key TTL", "key_ttl_seconds", (True,), {}),
]


@pytest.mark.parametrize(("case", "method", "args", "kwargs"), BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_input_raises_the_sync_error_and_writes_nothing(
    sync_store: FeatureStore, client: redis.Redis, redis_server: EmbeddedRedis, prefix: str,
    case: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any],
) -> None:  # fmt: skip
    with pytest.raises((TypeError, ValueError)) as sync_error:
        getattr(sync_store, method)(*args, **kwargs)

    async def body(store: AsyncFeatureStore) -> BaseException:
        with pytest.raises((TypeError, ValueError)) as async_error:
            await getattr(store, method)(*args, **kwargs)
        return async_error.value

    error = run(redis_server.url, body, prefix)
    assert (type(error), str(error)) == (type(sync_error.value), str(sync_error.value)), case
    assert list(client.scan_iter(match=prefix + "*")) == []


@pytest.mark.parametrize("transport", ["pipeline", "packed"])
def test_a_wrongtype_key_is_named_and_the_next_read_is_right(
    loaded: FeatureStore, client: redis.Redis, redis_server: EmbeddedRedis, prefix: str, transport: str
) -> None:
    client.set(loaded.key_for("not-a-hash"), "x")

    async def body(store: AsyncFeatureStore) -> dict[str, dict[str, Any]]:
        with pytest.raises(fslib.StoredDataError, match=r"entity 'not-a-hash': the key '.*not-a-hash'.*WRONGTYPE"):
            await store.batch_get_features(["u0001", "not-a-hash", "u0002"], ["country_iso"])
        return await store.batch_get_features(IDS, NAMES)

    assert run(redis_server.url, body, prefix, transport=transport) == loaded.batch_get_features(IDS, NAMES)


def test_many_concurrent_reads_each_get_their_own_answer(
    loaded: FeatureStore, redis_server: EmbeddedRedis, prefix: str
) -> None:
    ids = [IDS[i % 60] for i in range(300)]  # > the pool's 50 connections: the rest wait, not raise

    async def body(
        store: AsyncFeatureStore,
    ) -> tuple[list[dict[str, Any]], list[dict[str, dict[str, Any]]], fslib.stats.StoreStats]:
        singles = await asyncio.gather(*(store.get_features(e, NAMES, decode=True) for e in ids))
        batches = await asyncio.gather(*(store.batch_get_features(IDS[i : i + 30], NAMES) for i in range(0, 120, 30)))
        return list(singles), list(batches), store.stats()

    singles, batches, stats = run(redis_server.url, body, prefix)
    assert singles == [loaded.get_features(e, NAMES, decode=True) for e in ids]
    assert len({str(s) for s in singles}) > 50  # different entities, different answers
    assert batches == [loaded.batch_get_features(IDS[i : i + 30], NAMES) for i in range(0, 120, 30)]
    assert stats.reads == 300 + 120


def test_connect_async_gives_a_checked_decoding_client(redis_server: EmbeddedRedis) -> None:
    async def main() -> tuple[Any, ...]:
        client = await connect_async(redis_server.url, retry_attempts=2)
        try:
            return type(client), await client.echo("ok"), await client.client_getname(), client.get_retry()._retries
        finally:
            await client.aclose()

    assert asyncio.run(main()) == (redis.asyncio.Redis, "ok", "fslib", 2)


@needs_old_redis
def test_connect_async_refuses_an_old_server() -> None:
    with EmbeddedRedis(binary=OLD_REDIS) as old, pytest.raises(RedisVersionError, match="too old"):
        asyncio.run(connect_async(old.url))


def test_connect_async_refuses_a_cluster_request(monkeypatch: pytest.MonkeyPatch, redis_server: EmbeddedRedis) -> None:
    monkeypatch.setenv("REDIS_CLUSTER", "1")
    with pytest.raises(ValueError, match="one Redis server"):
        asyncio.run(connect_async(redis_server.url))


def test_sync_and_cluster_clients_are_refused(client: redis.Redis, redis_server: EmbeddedRedis) -> None:
    with pytest.raises(TypeError, match=r"needs a redis\.asyncio\.Redis"):
        AsyncFeatureStore(client)  # type: ignore[arg-type]

    async def cluster() -> None:
        cluster_client = AsyncRedisCluster(host="127.0.0.1", port=redis_server.port)  # not connected until used
        try:
            with pytest.raises(TypeError, match="not a cluster"):
                AsyncFeatureStore(cluster_client)  # type: ignore[arg-type]
        finally:
            await cluster_client.aclose()

    asyncio.run(cluster())
