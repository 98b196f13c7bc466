"""StreamingWorker and reset_store against the real server: state machine, races, TTLs, faults."""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

import fslib
from fslib import DEFAULT_SCHEMA, FeatureStore, synthesize_users
from fslib.connection import client_address
from fslib.local import EmbeddedRedis, LocalCluster
from fslib.synth import SyntheticUsers
from fslib.worker import (
    DEFAULT_USERS_PER_TICK,
    StreamingWorker,
    WorkerStats,
    WorkerStatus,
    next_slot,
    reset_store,
)

from polling import wait_until
from stored import stored_row

BATCH = DEFAULT_SCHEMA.batch_names
STREAMING = DEFAULT_SCHEMA.streaming_names
FAST = 0.005


def worker_threads(worker: StreamingWorker) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == worker.name and t.is_alive()]


def streaming_snapshot(store: FeatureStore, ids: list[str]) -> dict[str, dict[str, str]]:
    return store.batch_get_features(ids, STREAMING)


# -- construction and scheduling ----------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"tick_seconds": 0}, ValueError, "tick_seconds must be a finite number > 0"),
        ({"tick_seconds": -1.0}, ValueError, "tick_seconds"),
        ({"tick_seconds": float("nan")}, ValueError, "tick_seconds"),
        ({"tick_seconds": float("inf")}, ValueError, "tick_seconds"),
        ({"tick_seconds": "1"}, TypeError, "tick_seconds must be a number"),
        ({"tick_seconds": True}, TypeError, "tick_seconds"),
        ({"users_per_tick": 0}, ValueError, "users_per_tick must be >= 1"),
        ({"users_per_tick": -3}, ValueError, "users_per_tick"),
        ({"users_per_tick": 1.5}, TypeError, "users_per_tick must be a whole number"),
        ({"streaming_ttl_seconds": 0}, ValueError, "streaming_ttl_seconds must be > 0"),
        ({"streaming_ttl_seconds": -5}, ValueError, "streaming_ttl_seconds"),
        ({"streaming_ttl_seconds": 1.5}, TypeError, "streaming_ttl_seconds must be an integer"),
        ({"max_backoff_seconds": 0}, ValueError, "max_backoff_seconds"),
    ],
)
def test_bad_arguments_raise_at_construction(
    store: FeatureStore, kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        StreamingWorker(store, **kwargs)  # type: ignore[arg-type]


def test_store_must_be_a_feature_store(client: redis.Redis) -> None:
    with pytest.raises(TypeError, match="store must be a FeatureStore"):
        StreamingWorker(client)  # type: ignore[arg-type]


def test_ttl_defaults_to_the_store_ttl(client: redis.Redis, prefix: str) -> None:
    store = FeatureStore(client, key_prefix=prefix, streaming_ttl_seconds=42)
    assert StreamingWorker(store).streaming_ttl_seconds == 42
    assert StreamingWorker(store, streaming_ttl_seconds=7).streaming_ttl_seconds == 7


@pytest.mark.parametrize(
    ("previous", "now", "expected"),
    [
        (10.0, 10.2, 11.0),  # on time: the next slot
        (10.0, 10.999, 11.0),
        (10.0, 11.5, 12.0),  # one slot missed: skipped, not run late
        (10.0, 13.25, 14.0),  # three missed: still only one tick, on the grid
        (10.0, 9.0, 11.0),  # clock read before the slot: never schedules backwards
    ],
)
def test_next_slot_skips_missed_ticks_on_a_fixed_grid(previous: float, now: float, expected: float) -> None:
    assert next_slot(previous, now, 1.0) == pytest.approx(expected)


# -- state machine -------------------------------------------------------------


def test_state_machine(store: FeatureStore) -> None:
    worker = StreamingWorker(store, tick_seconds=FAST)
    assert worker.status is WorkerStatus.STOPPED
    assert not worker.is_running and not worker.is_paused
    assert worker.stop() is True  # never started: nothing to join
    assert worker.wait_for_idle(timeout=0.1) is True

    assert worker.start() is worker
    assert worker.status is WorkerStatus.RUNNING and worker.status == "running"
    assert worker.is_running and not worker.is_paused
    worker.start()  # idempotent: no second thread
    threads = worker_threads(worker)
    assert len(threads) == 1
    thread = threads[0]

    worker.pause()
    assert worker.status is WorkerStatus.PAUSED and worker.is_paused and worker.is_running
    worker.resume()
    assert worker.status is WorkerStatus.RUNNING
    assert worker.toggle() is WorkerStatus.PAUSED
    assert worker.toggle() is WorkerStatus.RUNNING

    assert worker.stop(timeout=5.0) is True
    assert not thread.is_alive()
    assert worker.status is WorkerStatus.STOPPED and not worker.is_running
    assert worker.toggle() is WorkerStatus.RUNNING  # toggle starts a stopped worker
    worker.pause()
    assert worker.stop() is True
    assert worker.start().status is WorkerStatus.RUNNING  # a restart is not paused
    assert worker.stop() is True
    assert [s.value for s in WorkerStatus] == ["stopped", "running", "paused"]


def test_context_manager_stops_the_thread(store: FeatureStore) -> None:
    with StreamingWorker(store, tick_seconds=FAST) as worker:
        assert len(worker_threads(worker)) == 1
    assert worker_threads(worker) == []
    assert worker.status is WorkerStatus.STOPPED


def test_context_manager_stops_the_thread_on_error(store: FeatureStore) -> None:
    with pytest.raises(KeyError), StreamingWorker(store, tick_seconds=FAST) as worker:
        raise KeyError("boom")
    assert worker.status is WorkerStatus.STOPPED


# -- writing -------------------------------------------------------------------


def test_writes_fresh_streaming_features_to_existing_entities(store: FeatureStore) -> None:
    users = synthesize_users(20)
    store.bulk_load(users)
    with StreamingWorker(store, tick_seconds=FAST, users_per_tick=5) as worker:
        assert wait_until(lambda: worker.stats().writes >= 40)
    stats = worker.stats()
    assert isinstance(stats, WorkerStats)
    assert stats.errors == 0 and stats.last_error is None
    assert stats.ticks >= stats.writes / 5
    assert stats.last_tick_at is not None and stats.last_tick_at <= time.time()
    # Every worker write went through update_streaming, and nothing else wrote.
    assert store.stats().streaming_writes == stats.writes
    assert store.count_entities() == 20
    written = {e: f for e, f in streaming_snapshot(store, users.ids).items() if f}
    assert written, "no entity got streaming features"
    for features in written.values():
        assert set(features) == set(STREAMING)  # one atomic write per entity, all five fields
        DEFAULT_SCHEMA.decode(features)  # valid values of the schema's types

    with pytest.raises(AttributeError):
        stats.writes = 0  # type: ignore[misc]  # a frozen snapshot
    worker.reset_stats()
    assert worker.stats() == WorkerStats()


def test_empty_prefix_writes_nothing_and_creates_nothing(store: FeatureStore) -> None:
    with StreamingWorker(store, tick_seconds=FAST) as worker:
        assert wait_until(lambda: worker.stats().ticks >= 10)
    assert worker.stats().writes == 0 and worker.stats().errors == 0
    assert store.count_entities() == 0


def test_every_streaming_field_has_a_ttl_and_batch_fields_have_none(store: FeatureStore) -> None:
    users = synthesize_users(40)
    store.bulk_load(users)
    with StreamingWorker(store, tick_seconds=FAST, users_per_tick=10, streaming_ttl_seconds=60) as worker:
        assert wait_until(lambda: worker.stats().writes >= 200)
    written = 0
    for entity_id in store.list_entity_ids():  # every key, not a sample
        ttls = store.field_ttls_seconds(entity_id, BATCH + STREAMING)
        assert all(ttls[name] == -1 for name in BATCH), (entity_id, ttls)
        streaming_ttls = [ttls[name] for name in STREAMING]
        if streaming_ttls != [-2] * len(STREAMING):  # written by the worker
            written += 1
            assert all(0 < ttl <= 60 for ttl in streaming_ttls), (entity_id, ttls)
        assert 0 < store.key_ttl_seconds(entity_id) <= store.batch_ttl_seconds
    assert written >= 10


def test_streaming_fields_expire_while_batch_fields_remain(store: FeatureStore) -> None:
    users = synthesize_users(5)
    store.bulk_load(users)
    with StreamingWorker(store, tick_seconds=FAST, users_per_tick=5, streaming_ttl_seconds=1) as worker:
        assert wait_until(lambda: all(streaming_snapshot(store, users.ids).values()))
        worker.pause()
        assert worker.wait_for_idle()
        assert wait_until(lambda: not any(streaming_snapshot(store, users.ids).values()), timeout=10.0)
        # Paused long past the TTL: the streaming layer is gone, the batch layer is intact.
        batch = store.batch_get_features(users.ids, BATCH)
        assert batch == {e: stored_row(f) for e, f in users}
    assert store.count_entities() == 5


def streamed(store: FeatureStore, ids: list[str]) -> set[str]:
    """The entities that hold streaming features."""
    return {entity_id for entity_id, fields in streaming_snapshot(store, ids).items() if fields}


def test_the_default_worker_covers_a_load_of_200_users_within_5_ticks_of_1_s(store: FeatureStore) -> None:
    # Issue 22.5: at 5 random users a tick, a fresh load of 200 read `expired` for about 40 s.
    # Each tick takes the next users of a round (every entity once), so ceil(n / users_per_tick) ticks cover n.
    users = synthesize_users(200)
    store.bulk_load(users)
    worker = StreamingWorker(store)
    assert worker.users_per_tick == DEFAULT_USERS_PER_TICK
    ticks = math.ceil(len(users) / worker.users_per_tick)
    assert ticks * worker.tick_seconds <= 5
    for tick in range(1, ticks + 1):  # driven step by step: no thread, no timing
        worker.step()
        assert len(streamed(store, users.ids)) == min(len(users), tick * worker.users_per_tick)
    assert streamed(store, users.ids) == set(users.ids)
    assert worker.stats().writes == len(users)  # nobody twice before everybody once


def test_every_round_writes_every_entity_once_and_forget_starts_a_new_one(store: FeatureStore) -> None:
    first = synthesize_users(20)
    store.bulk_load(first)
    worker = StreamingWorker(store, users_per_tick=7, streaming_ttl_seconds=600)
    for _ in range(2 * 3):  # two rounds of ceil(20 / 7) ticks
        worker.step()
    assert worker.stats().writes == 2 * 20 and streamed(store, first.ids) == set(first.ids)
    worker.step()  # the third round begins; then a bulk load of more users, and forget_entities()
    more = synthesize_users(50)
    store.bulk_load(more)
    worker.forget_entities()
    for _ in range(math.ceil(50 / 7)):
        worker.step()
    assert streamed(store, more.ids) == set(more.ids)


# -- pause, idle and reset races ---------------------------------------------------


def test_no_write_after_pause_and_wait_for_idle(store: FeatureStore) -> None:
    users = synthesize_users(30)
    store.bulk_load(users)
    with StreamingWorker(store, tick_seconds=FAST, users_per_tick=5, streaming_ttl_seconds=600) as worker:
        for _ in range(40):
            before = worker.stats().writes
            worker.resume()
            assert wait_until(lambda b=before: worker.stats().writes > b)  # type: ignore[misc]
            worker.pause()
            assert worker.wait_for_idle(timeout=5.0)
            paused_writes = worker.stats().writes
            store_writes = store.stats().streaming_writes
            data = streaming_snapshot(store, users.ids)
            time.sleep(4 * FAST)  # several tick slots pass while paused
            assert worker.stats().writes == paused_writes
            assert store.stats().streaming_writes == store_writes
            assert streaming_snapshot(store, users.ids) == data
    assert store.stats().streaming_writes == worker.stats().writes


def test_reset_store_mid_run_leaves_no_entity(store: FeatureStore) -> None:
    users = synthesize_users(100)
    with StreamingWorker(store, tick_seconds=FAST, users_per_tick=10) as worker:
        for _ in range(5):
            store.bulk_load(users)  # found on the next tick: an empty id cache is refreshed every tick
            before = worker.stats().writes
            assert wait_until(lambda b=before: worker.stats().writes > b)  # type: ignore[misc]
            assert reset_store(store, worker) == 100
            assert store.count_entities() == 0
            assert worker.status is WorkerStatus.RUNNING  # resumed
            assert worker.stats().writes == 0  # counters reset, nothing written since
            # Later ticks find nothing to write and never bring an entity back.
            ticks = worker.stats().ticks
            assert wait_until(lambda t=ticks: worker.stats().ticks >= t + 5)  # type: ignore[misc]
            assert store.count_entities() == 0
            assert worker.stats().writes == 0


def test_reset_store_keeps_a_paused_worker_paused(store: FeatureStore) -> None:
    store.bulk_load(synthesize_users(3))
    with StreamingWorker(store, tick_seconds=FAST) as worker:
        worker.pause()
        assert reset_store(store, worker) == 3
        assert worker.status is WorkerStatus.PAUSED
    assert reset_store(store) == 0  # no worker: a plain reset


def test_a_toggle_during_a_hold_waits_for_it_and_acts_on_the_state_after(store: FeatureStore) -> None:
    store.bulk_load(synthesize_users(3))
    results: list[WorkerStatus] = []
    with StreamingWorker(store, tick_seconds=FAST) as worker:
        with worker.hold():
            assert worker.status is WorkerStatus.RUNNING  # a hold is no pause: the status stays
            for call in (worker.toggle, worker.resume, worker.start):
                with pytest.raises(TimeoutError, match="a reset still held the streaming worker"):
                    call(timeout=0.01)
            assert worker.status is WorkerStatus.RUNNING  # the timed-out calls changed nothing
            toggler = threading.Thread(target=lambda: results.append(worker.toggle()), name="toggler")
            toggler.start()
        toggler.join(timeout=10.0)
        assert results == [WorkerStatus.PAUSED]  # it paused the running worker, after the hold
        with worker.hold():
            worker.pause()  # pausing needs no wait
            assert worker.status is WorkerStatus.PAUSED
        assert worker.status is WorkerStatus.PAUSED


def test_deleted_entity_is_not_brought_back(store: FeatureStore) -> None:
    users = synthesize_users(3)
    store.bulk_load(users)
    with StreamingWorker(store, tick_seconds=FAST, users_per_tick=3) as worker:
        assert wait_until(lambda: worker.stats().writes >= 6)  # the ids are cached now
        worker.pause()
        assert worker.wait_for_idle()
        assert store.delete_entity("u0002")
        worker.resume()
        before = worker.stats().writes
        assert wait_until(lambda: worker.stats().writes >= before + 20)
    assert store.list_entity_ids() == ["u0001", "u0003"]


# -- faults --------------------------------------------------------------------------


def break_one_entity(store: FeatureStore) -> str:
    """Put a string where an entity hash belongs: HSETEX on it fails with WRONGTYPE.

    It has a key TTL like every entity of a batch cycle, so the worker picks it.
    """
    key = store.key_for("broken")
    store.client.set(key, "not a hash", ex=600)  # the store's own client: single server or cluster
    return key


def test_a_failing_tick_is_logged_counted_and_survived(store: FeatureStore, caplog: pytest.LogCaptureFixture) -> None:
    store.bulk_load(synthesize_users(3))
    broken = break_one_entity(store)
    caplog.set_level(logging.ERROR, logger="fslib.worker")
    with StreamingWorker(store, tick_seconds=FAST, users_per_tick=1, max_backoff_seconds=0.05) as worker:
        assert wait_until(lambda: worker.stats().errors >= 3 and worker.stats().writes >= 3)
        assert worker.status is WorkerStatus.RUNNING  # the thread survived every failure
    stats = worker.stats()
    assert stats.last_error is not None and "WRONGTYPE" in stats.last_error
    failures = [r for r in caplog.records if r.name == "fslib.worker" and r.levelno == logging.ERROR]
    assert failures and all(r.exc_info is not None for r in failures)  # logger.exception, with traceback
    assert store.client.type(broken) == "string"


def test_stop_interrupts_the_backoff(store: FeatureStore) -> None:
    break_one_entity(store)
    worker = StreamingWorker(store, tick_seconds=FAST, max_backoff_seconds=60.0).start()
    try:
        assert wait_until(lambda: worker.stats().errors >= 1)
    finally:
        assert worker.stop(timeout=5.0) is True  # not stuck in a 60 s backoff


@contextmanager
def dedicated_store(**connect_options: Any) -> Iterator[tuple[EmbeddedRedis, FeatureStore]]:
    """A server of the test's own (to kill or block) and a store on it."""
    with EmbeddedRedis() as server:
        client = fslib.connect(server.url, **connect_options)
        try:
            yield server, FeatureStore(client, key_prefix="worker:")
        finally:
            client.close()


def reload_and_expect_writes(store: FeatureStore, worker: StreamingWorker, users: SyntheticUsers) -> None:
    """The batch job runs again on the empty server; the worker must write to it again."""
    store.bulk_load(users)  # the client reconnects by itself
    before = worker.stats().writes
    assert wait_until(lambda: worker.stats().writes >= before + 10, timeout=20.0)
    assert worker.status is WorkerStatus.RUNNING
    # Reads work again, and the new writes reached the new server.
    assert any(streaming_snapshot(store, users.ids).values())
    assert store.count_entities() == len(users)


def test_recovers_from_a_redis_restart() -> None:
    users = synthesize_users(20)
    with dedicated_store() as (server, store):
        store.bulk_load(users)
        with StreamingWorker(store, tick_seconds=0.02, users_per_tick=5) as worker:
            assert wait_until(lambda: worker.stats().writes >= 5)
            server.restart(downtime=1.0)  # same port; the data is gone, as after a crash
            assert worker.status is WorkerStatus.RUNNING
            reload_and_expect_writes(store, worker, users)


def test_survives_an_outage_and_logs_one_warning_when_it_starts_and_one_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="fslib.worker")
    users = synthesize_users(10)
    # A small retry budget, so ticks fail quickly while the server is down.
    with dedicated_store(retry_attempts=1) as (server, store):
        store.bulk_load(users)
        with StreamingWorker(store, tick_seconds=0.02, max_backoff_seconds=0.05) as worker:
            assert wait_until(lambda: worker.stats().writes >= 5)
            server.stop()
            assert wait_until(lambda: worker.stats().errors >= 10, timeout=30.0)
            assert worker.status is WorkerStatus.RUNNING  # never dies of it
            assert "ConnectionError" in (worker.stats().last_error or "")  # every failed tick counted, as before
            server.start()
            reload_and_expect_writes(store, worker, users)
        errors = worker.stats().errors
    records = [r for r in caplog.records if r.name == "fslib.worker"]
    assert [r.levelno for r in records] == [logging.WARNING, logging.WARNING], [r.getMessage() for r in records]
    began, ended = (r.getMessage() for r in records)
    assert all(r.exc_info is None for r in records)  # no traceback for a server that is merely down
    where = f"Redis at redis://127.0.0.1:{server.port}/0"
    assert f"{where} is unreachable (ConnectionError: " in began and store.key_prefix in began
    assert f"{where} is back after " in ended and f"({errors} failed ticks)" in ended
    assert server.password not in began + ended


def test_client_address_names_a_cluster_by_a_node_for_the_outage_warning(
    cluster_client: RedisCluster, local_cluster: LocalCluster
) -> None:
    described = client_address(cluster_client)
    assert described.endswith(f" (cluster of {len(local_cluster.servers)} nodes)")
    assert any(described.startswith(f"redis://127.0.0.1:{port} ") for port in local_cluster.ports)
    assert local_cluster.primaries[0].password not in described


def test_a_tick_stuck_in_redis_blocks_reset_and_stop_until_it_ends() -> None:
    # CLIENT PAUSE WRITE holds every write until CLIENT UNPAUSE, while reads go on:
    # the worker's HSETEX hangs in flight for as long as the test wants.
    with dedicated_store(socket_timeout=60.0) as (server, store):
        store.bulk_load(synthesize_users(10))
        admin = redis.Redis.from_url(server.url, decode_responses=True)
        worker = StreamingWorker(store, tick_seconds=FAST).start()
        try:
            assert wait_until(lambda: worker.stats().writes >= 1)
            admin.client_pause(60_000, all=False)
            assert wait_until(lambda: not worker.wait_for_idle(timeout=0.05))  # stuck in a write
            with pytest.raises(TimeoutError, match="still inside a tick"):
                reset_store(store, worker, timeout=0.05)
            assert store.count_entities() == 10  # nothing deleted
            assert worker.status is WorkerStatus.RUNNING  # resumed after the failed reset
            assert worker.stop(timeout=0.05) is False  # says so instead of hanging
            assert worker.status is WorkerStatus.STOPPED
            with pytest.raises(RuntimeError, match="still stopping"):
                worker.start()
        finally:
            admin.client_unpause()
            admin.close()
            assert worker.stop(timeout=10.0) is True
        assert worker.wait_for_idle(timeout=0.05)
        assert worker.stats().errors == 0  # the held write went through in the end


# -- concurrency -----------------------------------------------------------------------


def test_readers_while_the_worker_writes(store: FeatureStore) -> None:
    users = synthesize_users(100)
    store.bulk_load(users)
    store.reset_stats()
    stop = threading.Event()
    errors: list[BaseException] = []
    reads = [0] * 4

    def reader(index: int) -> None:
        rng = random.Random(index)
        try:
            while not stop.is_set():
                entity_id = rng.choice(users.ids)
                features = store.get_features(entity_id, BATCH + STREAMING)
                assert set(BATCH) <= set(features), features
                # Written atomically: all five streaming fields or none of them.
                assert len(set(STREAMING) & set(features)) in (0, len(STREAMING)), features
                rows = store.batch_get_features(rng.sample(users.ids, 5), STREAMING)
                assert all(len(row) in (0, len(STREAMING)) for row in rows.values()), rows
                reads[index] += 6
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(i,), name=f"reader-{i}") for i in range(len(reads))]
    with StreamingWorker(store, tick_seconds=FAST, users_per_tick=10) as worker:
        for thread in threads:
            thread.start()
        try:
            assert wait_until(lambda: worker.stats().writes >= 300 and min(reads) > 0, timeout=30.0)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=10.0)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)
    stats = worker.stats()
    assert stats.errors == 0
    assert store.stats().streaming_writes == stats.writes
    assert store.stats().reads == sum(reads)


def test_a_hash_of_streaming_fields_only_is_never_kept_alive(store: FeatureStore) -> None:
    # What an entity expiring between the worker's check and its write leaves: streaming
    # fields without a key TTL. The worker must not renew it, or it would live forever.
    store.bulk_load(synthesize_users(3))
    store.update_streaming("orphan", {"tx_count_5m": 999}, ttl_seconds=60)
    assert store.key_ttl_seconds("orphan") == -1
    with StreamingWorker(store, tick_seconds=FAST, users_per_tick=10) as worker:
        assert wait_until(lambda: worker.stats().writes >= 30)
    assert store.get_features("orphan", ["tx_count_5m"]) == {"tx_count_5m": "999"}
    assert worker.stats().writes % 3 == 0  # only the three loaded users, every tick


def test_toggles_during_a_reset_leave_no_entity_behind(single_client: redis.Redis, prefix: str) -> None:
    # POST /worker/toggle while /reset runs: a toggle must not let the worker write mid-reset, where a
    # write to a key the reset just unlinked makes a hash of streaming fields without a key TTL.
    store = FeatureStore(single_client, key_prefix=prefix)
    users = synthesize_users(20_000)
    worker = StreamingWorker(store, tick_seconds=FAST, users_per_tick=500, streaming_ttl_seconds=600)
    stop = threading.Event()
    errors: list[BaseException] = []
    toggles = [0, 0]

    def toggler(index: int) -> None:
        try:
            while not stop.is_set():
                worker.toggle()
                toggles[index] += 1
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    try:
        for _ in range(3):
            store.bulk_load(users)
            worker.start().resume()
            assert wait_until(lambda: worker.stats().writes > 0)
            stop.clear()
            threads = [threading.Thread(target=toggler, args=(i,), name=f"toggler-{i}") for i in range(len(toggles))]
            for thread in threads:
                thread.start()
            try:
                assert wait_until(lambda: min(toggles) > 0)
                assert reset_store(store, worker, timeout=30.0) >= len(users)
            finally:
                stop.set()
                for thread in threads:
                    thread.join(timeout=30.0)
            assert not errors, errors
            assert worker.is_running
            survivors = list(single_client.scan_iter(match=f"{prefix}*", count=1000))
            assert survivors == [], f"{len(survivors)} keys survived the reset, e.g. {survivors[:3]}"
    finally:
        stop.set()
        assert worker.stop(timeout=10.0)
        store.reset()
