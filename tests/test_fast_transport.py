"""Pre-encoded batches (fslib.fast): the same replies as redis-py, one write, a clean pool after errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

import fslib
from fslib import DEFAULT_SCHEMA, FeatureStore, synthesize_users
from fslib.fast.resp import pack_bulk_load, pack_hmgets
from fslib.fast.transport import execute_packed, execute_packed_async

from counting import CountingConnection
from polling import wait_until

NAMES = [*DEFAULT_SCHEMA.names, "extra", "never_written"]
# Multi-byte text, RESP's own separators and an empty value must all survive the hand-made encoding.
ODD_FIELDS = {"país": "España", "line\r\nbreak": "a\r\nb", "emoji 🚀": "✓", "empty": "", "$3": "*2"}


def plain_rows(client: Any, keys: list[str], fields: list[str]) -> list[Any]:
    """The reference: redis-py's own pipeline of HMGETs (error replies in place)."""
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.hmget(key, fields)
    return pipe.execute(raise_on_error=False)


def packed_rows(client: Any, keys: list[str], fields: list[str]) -> list[Any]:
    return execute_packed(client, pack_hmgets(keys, fields, client.get_encoder()), len(keys))


@pytest.fixture
def odd_keys(single_client: redis.Redis, prefix: str) -> Iterator[list[str]]:
    keys = [f"{prefix}clé-ü", f"{prefix}plain", f"{prefix}absent", f"{prefix}with space"]
    single_client.hset(keys[0], mapping=ODD_FIELDS)
    single_client.hset(keys[1], mapping={"país": "x"})
    single_client.hset(keys[3], mapping={"empty": "not empty"})
    yield keys
    single_client.delete(*keys)


def test_the_packers_write_exactly_the_bytes_of_redis_pys_own_pack_commands() -> None:
    # If a redis-py release changes how commands go on the wire, this fails before any store does.
    connection = redis.Connection(encoding="utf-8")  # never connected: packing needs no socket
    keys = ["fs:user:u1", "fs:user:ü", "k\r\n"]
    fields = [*ODD_FIELDS, "tx_count_7d"]
    expected = b"".join(connection.pack_commands([("HMGET", key, *fields) for key in keys]))
    assert pack_hmgets(keys, fields, connection.encoder) == expected
    rows = [("fs:user:u1", {"a": "x", "n": 5, "f": 9.25, "big": -(2**63)}, None), ("fs:user:ü", dict(ODD_FIELDS), None)]
    commands = []
    for key, mapping, _ in rows:
        commands += [("HSET", key, *(part for pair in mapping.items() for part in pair)), ("EXPIRE", key, 600)]
    assert pack_bulk_load(rows, 600, connection.encoder) == b"".join(connection.pack_commands(commands))


@pytest.mark.parametrize("decode_responses", [True, False])
def test_replies_are_those_of_a_redis_py_pipeline(
    redis_server: fslib.local.EmbeddedRedis, odd_keys: list[str], decode_responses: bool
) -> None:
    client = redis.Redis.from_url(redis_server.url, decode_responses=decode_responses)
    fields = [*ODD_FIELDS, "never_written"]
    try:
        got = packed_rows(client, odd_keys, fields)
        assert got == plain_rows(client, odd_keys, fields)
        expected = [*ODD_FIELDS.values(), None]
        assert got[0] == (expected if decode_responses else [None if v is None else v.encode() for v in expected])
        assert got[2] == [None] * len(fields)
    finally:
        client.close()


@pytest.mark.parametrize("decode", [False, True])
def test_store_batch_reads_match_plain_hmgets(store: FeatureStore, decode: bool) -> None:
    client = store.client
    store.bulk_load(synthesize_users(300))
    store.bulk_load({"u0002": {"country_iso": "DE", "extra": "x"}})
    store.update_streaming("u0003", {"tx_count_5m": 3, "last_device_id": "ios-9f02"})
    ids = ["absent", *synthesize_users(300).ids, "also-absent"]
    rows = plain_rows(client, [store.key_for(e) for e in ids], NAMES)
    expected = {}
    for entity_id, row in zip(ids, rows):
        found = {name: value for name, value in zip(NAMES, row) if value is not None}
        expected[entity_id] = DEFAULT_SCHEMA.decode(found) if decode else found
    got = store.batch_get_features(ids, NAMES, decode=decode)
    assert got == expected and list(got) == ids
    assert [list(features) for features in got.values()] == [list(features) for features in expected.values()]
    assert got["absent"] == {} and got["u0003"]["tx_count_5m"] == (3 if decode else "3")
    assert (got["u0002"]["country_iso"], got["u0002"]["extra"]) == ("DE", "x")
    assert {e: store.get_features(e, NAMES, decode=decode) for e in ids} == expected


def test_a_batch_read_is_one_write_to_the_socket(redis_server: fslib.local.EmbeddedRedis, prefix: str) -> None:
    pool = redis.ConnectionPool.from_url(redis_server.url, decode_responses=True, connection_class=CountingConnection)
    counted = redis.Redis(connection_pool=pool)
    store = FeatureStore(counted, key_prefix=prefix)
    try:
        store.bulk_load(synthesize_users(250))
        CountingConnection.sends.clear()
        batch = store.batch_get_features(synthesize_users(250).ids, NAMES)
        assert CountingConnection.sends == {redis_server.port: 1}
        assert len(batch) == 250 and all(
            len(features) == len(DEFAULT_SCHEMA.batch_names) for features in batch.values()
        )
    finally:
        store.reset()
        pool.disconnect()


def test_batch_reads_run_on_a_read_only_replica(
    redis_server: fslib.local.EmbeddedRedis, single_client: redis.Redis, prefix: str
) -> None:
    primary = FeatureStore(single_client, key_prefix=prefix)
    primary.bulk_load(synthesize_users(50))
    primary.update_streaming("u0007", {"tx_count_5m": 4})
    ids = ["absent", *synthesize_users(50).ids]
    delay = single_client.config_get("repl-diskless-sync-delay")["repl-diskless-sync-delay"]
    single_client.config_set("repl-diskless-sync-delay", 0)  # the default waits 5 s for more replicas
    try:
        with fslib.local.EmbeddedRedis(
            extra_args=["--replicaof", "127.0.0.1", str(redis_server.port)], password=redis_server.password
        ) as replica_server:
            replica = fslib.connect(replica_server.url, cluster=False)
            try:
                assert wait_until(
                    lambda: (
                        replica.info("replication")["master_link_status"] == "up"
                        and replica.exists(primary.key_for("u0050")) == 1
                    )
                )
                with pytest.raises(redis.ReadOnlyError):
                    replica.set(f"{prefix}x", "1")
                on_replica = FeatureStore(replica, key_prefix=prefix)
                assert on_replica.batch_get_features(ids, NAMES, decode=True) == primary.batch_get_features(
                    ids, NAMES, decode=True
                )
                assert on_replica.get_features("u0007", ["tx_count_5m"], decode=True) == {"tx_count_5m": 4}
            finally:
                replica.close()
    finally:
        single_client.config_set("repl-diskless-sync-delay", delay)
        primary.reset()


def test_an_error_reply_stands_in_its_place_and_every_reply_is_read(
    redis_server: fslib.local.EmbeddedRedis, prefix: str
) -> None:
    # One connection only: a reply left unread would be the answer to the next read.
    client = redis.Redis.from_url(redis_server.url, decode_responses=True, max_connections=1)
    keys = [f"{prefix}{name}" for name in ("a", "string", "b", "c")]
    client.hset(keys[0], "f", "1")
    client.set(keys[1], "not a hash")
    client.hset(keys[2], "f", "2")
    try:
        got = packed_rows(client, keys, ["f"])
        assert got[0] == ["1"] and got[2:] == [["2"], [None]]
        assert isinstance(got[1], redis.ResponseError) and "WRONGTYPE" in str(got[1])
        assert [type(row) for row in got] == [type(row) for row in plain_rows(client, keys, ["f"])]
        assert packed_rows(client, [keys[2], keys[0]], ["f"]) == [["2"], ["1"]]
        assert client.ping()
    finally:
        client.delete(*keys)
        client.close()


def test_a_read_cut_off_mid_request_is_retried_or_raised(
    redis_server: fslib.local.EmbeddedRedis, single_client: redis.Redis, prefix: str
) -> None:
    key = f"{prefix}k"
    single_client.hset(key, "f", "v")
    retrying = fslib.connect(redis_server.url, cluster=False, socket_timeout=0.2)
    once = redis.Redis.from_url(
        redis_server.url, decode_responses=True, socket_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )
    try:
        for client in (retrying, once):
            client.ping()  # connected: what follows fails inside the read, not at checkout
        single_client.client_pause(600)  # Redis answers nobody for 0.6 s, three socket timeouts
        with pytest.raises(redis.TimeoutError):
            packed_rows(once, [key], ["f"])
        assert packed_rows(retrying, [key], ["f"]) == [["v"]]  # timed out, reconnected, sent again
        assert packed_rows(once, [key], ["f"]) == [["v"]]  # the timed-out connection was not pooled as is
    finally:
        single_client.delete(key)
        retrying.close()
        once.close()


def test_asyncio_replies_and_error_handling_match(
    redis_server: fslib.local.EmbeddedRedis, odd_keys: list[str], single_client: redis.Redis
) -> None:
    fields = [*ODD_FIELDS, "never_written"]
    single_client.set(odd_keys[2], "not a hash")

    async def main() -> tuple[list[Any], list[Any]]:
        client = redis.asyncio.Redis.from_url(redis_server.url, decode_responses=True, max_connections=1)
        try:
            got = await execute_packed_async(client, pack_hmgets(odd_keys, fields, client.get_encoder()), len(odd_keys))
            assert isinstance(got[2], redis.ResponseError) and "WRONGTYPE" in str(got[2])
            readable = [odd_keys[i] for i in (0, 1, 3)]
            return readable, await execute_packed_async(client, pack_hmgets(readable, fields, client.get_encoder()), 3)
        finally:
            await client.aclose()

    readable, got = asyncio.run(main())
    assert got == plain_rows(single_client, readable, fields) and got[0][0] == "España"


def test_an_asyncio_read_cut_off_mid_request_is_retried_or_raised(
    redis_server: fslib.local.EmbeddedRedis, single_client: redis.Redis, prefix: str
) -> None:
    key = f"{prefix}k"
    single_client.hset(key, "f", "v")

    async def read(client: redis.asyncio.Redis) -> list[Any]:
        return await execute_packed_async(client, pack_hmgets([key], ["f"], client.get_encoder()), 1)

    async def main() -> None:
        retrying = await fslib.connect_async(redis_server.url, socket_timeout=0.2)
        once = redis.asyncio.Redis.from_url(
            redis_server.url, decode_responses=True, socket_timeout=0.2, retry=AsyncRetry(NoBackoff(), 0)
        )
        try:
            for client in (retrying, once):
                await client.ping()
            single_client.client_pause(600)  # Redis answers nobody for 0.6 s, three socket timeouts
            with pytest.raises(redis.TimeoutError):
                await read(once)
            assert await read(retrying) == [["v"]]
            assert await read(once) == [["v"]]
        finally:
            await retrying.aclose()
            await once.aclose()

    try:
        asyncio.run(main())
    finally:
        single_client.delete(key)
