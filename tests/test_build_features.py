from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
import redis

from fslib import FeatureStore, mask_url, synthesize_users
from fslib.checks import MAX_TTL_SECONDS
from fslib.local import EmbeddedRedis, free_port

from polling import wait_until
from system_deps import OLD_REDIS, needs_old_redis

SECRET = "hunter2"


def run_cli(*args: str, redis_url: str | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI in a child process; ``redis_url`` becomes its REDIS_URL (unset otherwise)."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    if redis_url is not None:
        env["REDIS_URL"] = redis_url
    return subprocess.run(
        [sys.executable, "-m", "fslib.build_features", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_cli_materializes_users_with_a_key_ttl(redis_server: EmbeddedRedis, client: redis.Redis, prefix: str) -> None:
    result = run_cli("--count", "120", "--ttl-seconds", "3600", "--prefix", prefix, "--seed", "5",
                     "--chunk-size", "50", redis_url=redis_server.url)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Materialized 120 user(s)" in result.stdout and f"'{prefix}*'" in result.stdout
    store = FeatureStore(client, key_prefix=prefix)
    try:
        assert store.count_entities() == 120
        assert 3590 <= store.key_ttl_seconds("u0120") <= 3600
        expected = dict(synthesize_users(120, seed=5))["u0077"]
        assert store.get_features("u0077", list(expected), decode=True) == expected
    finally:
        store.reset()


def test_cli_without_a_url_says_it_used_a_temporary_server() -> None:
    result = run_cli("--count", "3")
    assert result.returncode == 0, result.stderr
    assert "temporary embedded Redis" in result.stderr and "Materialized 3 user(s)" in result.stdout


def test_cli_reports_an_unreachable_redis_without_its_password() -> None:
    result = run_cli("--count", "3", redis_url=f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    assert result.returncode == 2
    assert "cannot reach Redis at redis://:***@127.0.0.1" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout and "Traceback" not in result.stderr


def test_cli_says_when_the_embedded_redis_cannot_start() -> None:
    """No URL and a redis-server that will not run (a broken install): one error line, not a traceback."""
    broken = (
        "import sys, fslib.local.server as server; "
        "server._redis_server_binary = lambda: '/nonexistent/redis-server'; "
        "from fslib.build_features import main; sys.exit(main(['--count', '3']))"
    )
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    result = subprocess.run(
        [sys.executable, "-c", broken], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert_one_error_line(result, "the embedded Redis did not start", "/nonexistent/redis-server")


def assert_one_error_line(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    """Exit code 2, nothing on stdout, and one ``error:`` line on stderr holding each of ``expected``."""
    assert result.returncode == 2, result
    assert result.stdout == "" and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@needs_old_redis
@pytest.mark.parametrize("via", ["--redis-url", "REDIS_URL"])
def test_cli_refuses_a_too_old_redis_and_names_how_the_url_came(via: str) -> None:
    with EmbeddedRedis(binary=OLD_REDIS, password=SECRET) as old, redis.Redis.from_url(old.url) as admin:
        if via == "--redis-url":  # a URL on the command line holds no password: this server drops its own
            admin.config_set("requirepass", "")  # (admin's connection stays logged in)
            url = f"redis://127.0.0.1:{old.port}/0"
            result = run_cli("--count", "3", "--redis-url", url)
        else:
            url = f"redis://127.0.0.1:{old.port}/0?password={SECRET}"
            result = run_cli("--count", "3", redis_url=url)
        line = assert_one_error_line(result, "too old", "7.4", f"Point {via} at", mask_url(url))
        assert SECRET not in line
        assert admin.dbsize() == 0


@pytest.fixture
def protected_server() -> Iterator[EmbeddedRedis]:
    """A server of its own with a known password, to put in URLs by hand."""
    with EmbeddedRedis(password=SECRET) as server:
        yield server


def test_cli_keeps_a_query_string_password_out_of_its_output(protected_server: EmbeddedRedis, prefix: str) -> None:
    url = f"redis://127.0.0.1:{protected_server.port}/0?password={SECRET}"
    result = run_cli("--count", "5", "--prefix", prefix, redis_url=url)
    assert result.returncode == 0, result.stderr
    assert "Materialized 5 user(s)" in result.stdout and "?password=***" in result.stdout
    assert SECRET not in result.stdout + result.stderr
    with redis.Redis.from_url(protected_server.url) as client:
        assert client.dbsize() == 5


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis://127.0.0.1:{port}/0", "requires a password"),
        ("redis://:wrong-{secret}@127.0.0.1:{port}/0", "refused the password"),
        ("redis://127.0.0.1:{port}/0?password=wrong-{secret}", "refused the password"),
    ],
)
def test_cli_says_a_password_is_missing_or_wrong(protected_server: EmbeddedRedis, url: str, says: str) -> None:
    url = url.format(port=protected_server.port, secret=SECRET)
    result = run_cli("--count", "3", redis_url=url)
    line = assert_one_error_line(result, says, f"127.0.0.1:{protected_server.port}")
    assert SECRET not in line and "cannot reach" not in line


SECRET_URLS = [
    f"redis://:{SECRET}@127.0.0.1:{{port}}/0",
    f"redis://default:{SECRET}@127.0.0.1:{{port}}/0",
    f"redis://127.0.0.1:{{port}}/0?password={SECRET}",
    f"rediss://127.0.0.1:{{port}}/0?ssl_password={SECRET}",
    f"unix://:{SECRET}@/tmp/redis.sock",
]
"""URLs with a secret, each on a port (``{port}``) where nothing listens."""


@pytest.mark.parametrize("url", SECRET_URLS)
def test_cli_refuses_a_password_in_redis_url_before_connecting(url: str) -> None:
    """``/proc/<pid>/cmdline`` shows the command line to every local user: a secret goes in REDIS_URL."""
    result = run_cli("--count", "3", "--redis-url", url.format(port=free_port()))
    line = assert_one_error_line(result, "--redis-url", "holds a password", "REDIS_URL")
    assert SECRET not in line and "cannot reach" not in line


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("notaurl", "must start with redis://, rediss:// or unix://"),
        ("http://127.0.0.1:6379/0", "must start with redis://"),
        (":notaport", "must start with redis://"),
        (f"redis://:{SECRET}@127.0.0.1:notaport/0", "the port must be a number"),
        (f"redis://127.0.0.1:6379/0?db=x&password={SECRET}", "Invalid value for 'db'"),
    ],
)
def test_cli_says_a_malformed_url_is_one(url: str, says: str) -> None:
    result = run_cli("--count", "3", "--redis-url", url)
    line = assert_one_error_line(result, "--redis-url: ", "is not a Redis URL", says)
    assert SECRET not in line


@pytest.fixture
def http_port() -> Iterator[int]:
    """A loopback port where an HTTP server, not Redis, answers every connection."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # closed: the test is over
                return
            with connection:
                connection.recv(4096)
                connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, name="http-not-redis")
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(timeout=5)


def test_cli_says_a_port_does_not_speak_redis(http_port: int) -> None:
    assert_one_error_line(
        run_cli("--count", "3", "--redis-url", f"redis://127.0.0.1:{http_port}/0"),
        f"redis://127.0.0.1:{http_port}/0 does not speak the Redis protocol",
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--count", "0"), "argument --count: the count must be >= 1, got 0"),
        (("--count", "many"), "argument --count: not a whole number: 'many'"),
        (("--ttl-seconds", "-1"), "argument --ttl-seconds: the TTL must be > 0, got -1"),
        (("--ttl-seconds", "1.5"), "argument --ttl-seconds: not a whole number: '1.5'"),
        (("--seed", "x"), "argument --seed: not a whole number: 'x'"),
    ],
)
def test_cli_refuses_bad_arguments_in_plain_words(args: tuple[str, str], says: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == f"python -m fslib.build_features: error: {says}"
    assert "_int" not in result.stderr and "invalid" not in result.stderr  # no internal names


def test_cli_fails_when_redis_restarts_during_the_load() -> None:
    """The load Redis lost part of is never reported as done (the library raises LoadInterruptedError)."""
    with EmbeddedRedis() as server, redis.Redis.from_url(server.url) as watcher:
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        env["REDIS_URL"] = server.url
        command = [sys.executable, "-m", "fslib.build_features", "--count", "100000"]
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as cli:
            assert wait_until(lambda: watcher.dbsize() > 0, timeout=60), "the load never started"
            server.restart()
            out, err = cli.communicate(timeout=120)
    last = err.replace("\r", "\n").splitlines()[-1]  # after the progress bar
    assert cli.returncode == 2 and "Materialized" not in out, (out, err)
    assert "Traceback" not in err and last.startswith("error: "), err
    # Reconnected in time: the restart is named; else the retries ran out first. Neither says done.
    assert "Redis restarted during the load" in last or "cannot reach Redis" in last, last


def test_cli_bounds_the_ttl_as_the_library_does() -> None:
    result = run_cli("--ttl-seconds", str(MAX_TTL_SECONDS + 1))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"argument --ttl-seconds: the TTL must be at most {MAX_TTL_SECONDS} s" in result.stderr.splitlines()[-1]
