"""Fixtures: one real embedded redis-server for the session, a fresh key prefix per test."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
import redis

import fslib
from fslib import EmbeddedRedis, FeatureStore


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis() as server:
        yield server


@pytest.fixture(scope="session")
def client(redis_server: EmbeddedRedis) -> Iterator[redis.Redis]:
    client = fslib.connect(redis_server.url)
    yield client
    client.close()


@pytest.fixture
def prefix() -> str:
    return f"test:{uuid.uuid4().hex[:10]}:"


@pytest.fixture
def store(client: redis.Redis, prefix: str) -> Iterator[FeatureStore]:
    store = FeatureStore(client, key_prefix=prefix)
    yield store
    store.reset()


@pytest.fixture(autouse=True)
def no_thread_left_behind() -> Iterator[None]:
    """Every test stops the threads it started."""
    before = set(threading.enumerate())
    yield
    # tqdm's own monitor thread is shared by every progress bar in the process.
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive() and t.name != "tqdm_monitor"]
    assert not leaked, f"threads left running: {leaked}"
