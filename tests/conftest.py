"""Fixtures: one real embedded redis-server for the session, a fresh key prefix per test.

``client`` is the single server's client. ``store`` and ``make_store`` run
on ``store_client``, parametrized over ``single`` and ``cluster``: the same
tests run on one server and on a 3-primary local Redis Cluster, started once
per session on first use; ``store`` also over both transports (``pipeline``,
``packed``), which must give the same answers. A test that needs the store's
own client uses ``store.client``. Mark a test ``@pytest.mark.single_server``
when it only makes sense on one server.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

import fslib
from fslib import FeatureStore
from fslib.core import Transport
from fslib.local import EmbeddedRedis, LocalCluster


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "single_server: runs on the single server only, not on the cluster")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis() as server:
        yield server


@pytest.fixture(scope="session")
def single_client(redis_server: EmbeddedRedis) -> Iterator[redis.Redis]:
    client = fslib.connect(redis_server.url, cluster=False)
    assert isinstance(client, redis.Redis)  # whatever REDIS_CLUSTER says
    yield client
    client.close()


@pytest.fixture
def client(single_client: redis.Redis) -> redis.Redis:
    """The single server's client."""
    return single_client


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[LocalCluster]:
    # No failover here (test_cluster starts its own cluster for that): the default node
    # timeout of 5 s keeps a node starved of CPU by a busy machine from being declared failed.
    with LocalCluster(primaries=3) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def cluster_client(local_cluster: LocalCluster) -> Iterator[RedisCluster]:
    client = fslib.connect(local_cluster.url, cluster=True)
    assert isinstance(client, RedisCluster)
    yield client
    client.close()


@pytest.fixture(params=["single", "cluster"])
def store_client(request: pytest.FixtureRequest) -> redis.Redis | RedisCluster:
    """The single server's client, then the cluster's: tests using it run on both."""
    if request.param == "cluster" and request.node.get_closest_marker("single_server"):
        pytest.skip("single-server specific")
    return request.getfixturevalue(f"{request.param}_client")


@pytest.fixture
def prefix() -> str:
    return f"test:{uuid.uuid4().hex[:10]}:"


@pytest.fixture(params=["pipeline", "packed"])
def transport(request: pytest.FixtureRequest) -> str:
    """Both transports: every test using ``store`` runs over redis-py pipelines and packed buffers."""
    return str(request.param)


@pytest.fixture
def store(store_client: redis.Redis | RedisCluster, prefix: str, transport: Transport) -> Iterator[FeatureStore]:
    store = FeatureStore(store_client, key_prefix=prefix, transport=transport)
    yield store
    store.reset()


MakeStore = Callable[..., FeatureStore]


@pytest.fixture
def make_store(store_client: redis.Redis | RedisCluster, prefix: str) -> Iterator[MakeStore]:
    """``make_store(**options)``: a FeatureStore on the test's client (single, then cluster), reset after the test.

    The key prefix is the test's own unless ``key_prefix`` is given.
    """
    made: list[FeatureStore] = []

    def make(**options: Any) -> FeatureStore:
        made.append(FeatureStore(store_client, **{"key_prefix": prefix, **options}))
        return made[-1]

    yield make
    for store in made:
        store.reset()


@pytest.fixture(autouse=True)
def no_thread_left_behind() -> Iterator[None]:
    """Every test stops the threads it started."""
    before = set(threading.enumerate())
    yield
    # tqdm's own monitor thread is shared by every progress bar in the process.
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive() and t.name != "tqdm_monitor"]
    assert not leaked, f"threads left running: {leaked}"
