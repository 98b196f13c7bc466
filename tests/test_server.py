from __future__ import annotations

import pytest
import redis

import fslib
from fslib import RedisVersionError, mask_url
from fslib.connection import parse_version, require_version
from fslib.local import EmbeddedRedis, free_port

from system_deps import OLD_REDIS, needs_old_redis


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("8.2.3", (8, 2, 3)),
        ("7.4.0", (7, 4, 0)),
        ("7.4.0-rc1", (7, 4, 0)),
        ("255.255.255", (255, 255, 255)),
        ("7", (7,)),
    ],
)
def test_parse_version(text: str, parsed: tuple[int, ...]) -> None:
    assert parse_version(text) == parsed


def test_parse_version_refuses_garbage() -> None:
    with pytest.raises(ValueError, match="not a Redis version"):
        parse_version("unknown")


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://:s3cret@host:6379/0", "redis://:***@host:6379/0"),
        ("rediss://alice:s3cret@host:6380/1", "rediss://alice:***@host:6380/1"),
        ("redis://host:6379/0", "redis://host:6379/0"),
        ("redis://alice:s3cret@host/0", "redis://alice:***@host/0"),
    ],
)
def test_mask_url_hides_the_password(url: str, masked: str) -> None:
    assert mask_url(url) == masked


@pytest.mark.parametrize("version", ["7.4.0", "7.4.2", "8.0.0", "8.2.3"])
def test_versions_with_field_ttl_are_accepted(version: str) -> None:
    assert require_version(version, "redis://h:1/0")[:2] >= (7, 4)


@pytest.mark.parametrize("version", ["6.2.14", "7.0.15", "7.2.4"])
def test_older_versions_are_refused_with_version_url_and_fix(version: str) -> None:
    with pytest.raises(RedisVersionError) as info:
        require_version(version, "redis://bob:hunter2@db.internal:6379/0")
    message = str(info.value)
    assert version in message
    assert "redis://bob:***@db.internal:6379/0" in message and "hunter2" not in message
    assert "REDIS_URL" in message and "7.4" in message


@needs_old_redis
def test_a_real_redis_7_0_is_refused_without_leaking_its_password() -> None:
    with EmbeddedRedis(binary=OLD_REDIS, extra_args=["--requirepass", "hunter2"]) as old:
        url = f"redis://:hunter2@127.0.0.1:{old.port}/0"
        with pytest.raises(RedisVersionError) as info:
            fslib.connect(url)
    assert "Redis 7.0." in str(info.value) and ":***@" in str(info.value) and "hunter2" not in str(info.value)


def test_connect_returns_a_decoding_hiredis_client_checked_against_the_server(redis_server: EmbeddedRedis) -> None:
    client = fslib.connect(redis_server.url)
    try:
        assert client.ping() is True
        assert client.echo("é") == "é"  # decode_responses=True
        connection = client.connection_pool.get_connection()
        try:
            assert type(connection._parser).__name__ == "_HiredisParser"
        finally:
            client.connection_pool.release(connection)
        assert parse_version(fslib.server_version(client)) >= (8, 0)
    finally:
        client.close()


def test_connect_uses_redis_url_from_the_environment(
    redis_server: EmbeddedRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    client = fslib.connect()
    try:
        assert client.connection_pool.connection_kwargs["port"] == redis_server.port
    finally:
        client.close()


def test_without_a_url_connect_starts_one_embedded_server_and_reuses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    first, second = fslib.connect(), fslib.connect()
    try:
        server = fslib.local.embedded_server()
        assert server is fslib.local.embedded_server() and server.is_running
        ports = {c.connection_pool.connection_kwargs["port"] for c in (first, second)}
        assert ports == {server.port}
        first.set("fslib-test:shared", "1")
        assert second.get("fslib-test:shared") == "1"
        first.delete("fslib-test:shared")
    finally:
        first.close()
        second.close()


def test_embedded_server_is_loopback_only_without_persistence_and_restarts_on_its_port() -> None:
    with EmbeddedRedis() as server:
        client = fslib.connect(server.url)
        try:
            assert client.config_get("bind")["bind"] == "127.0.0.1"
            assert client.config_get("save")["save"] == ""
            assert client.config_get("appendonly")["appendonly"] == "no"
            client.set("k", "v")
            port = server.port
            server.restart()
            assert server.port == port and server.is_running
            # The client's retry policy reconnects by itself; the data is gone, as after a crash.
            assert client.get("k") is None
            server.stop()
            assert not server.is_running
            with pytest.raises(redis.ConnectionError):
                fslib.connect(server.url, retry_attempts=0)
        finally:
            client.close()


def test_connect_to_nothing_raises_connection_error() -> None:
    with pytest.raises(redis.ConnectionError):
        fslib.connect(f"redis://127.0.0.1:{free_port()}/0", retry_attempts=0)
