from __future__ import annotations

import os
import subprocess
import sys

import pytest
import redis

from fslib import FeatureStore, synthesize_users
from fslib.local import EmbeddedRedis, free_port

from system_deps import OLD_REDIS, needs_old_redis


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    return subprocess.run(
        [sys.executable, "-m", "fslib.build_features", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_cli_materializes_users_with_a_key_ttl(redis_server: EmbeddedRedis, client: redis.Redis, prefix: str) -> None:
    result = run_cli("--count", "120", "--ttl-seconds", "3600", "--redis-url", redis_server.url,
                     "--prefix", prefix, "--seed", "5", "--chunk-size", "50")  # fmt: skip
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
    result = run_cli("--count", "3", "--redis-url", f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    assert result.returncode == 2
    assert "cannot reach Redis at redis://:***@127.0.0.1" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout and "Traceback" not in result.stderr


@needs_old_redis
def test_cli_refuses_a_too_old_redis() -> None:
    with EmbeddedRedis(binary=OLD_REDIS) as old:
        result = run_cli("--count", "3", "--redis-url", old.url)
        assert result.returncode == 2
        assert "too old" in result.stderr and "7.4" in result.stderr
        assert redis.Redis(port=old.port).dbsize() == 0


@pytest.mark.parametrize("args", [("--count", "0"), ("--ttl-seconds", "-1"), ("--count", "many")])
def test_cli_refuses_bad_arguments(args: tuple[str, str]) -> None:
    result = run_cli(*args)
    assert result.returncode == 2 and "error" in result.stderr
