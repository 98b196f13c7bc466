"""Event-time streaming writes on the real server: late and replayed events never overwrite newer values.

Every test runs on one server and on a cluster, over both write modes (``HSETEX``,
and ``HSET`` + ``HEXPIRE`` as on Redis 7.4). A replay is recognized by Redis's own
clock: ``HPEXPIRETIME`` (a field's absolute expiry, in ms) must not move, since a
replayed or late event may not renew a TTL.
"""

from __future__ import annotations

import asyncio
import datetime
import random
import subprocess
import sys
import threading
import time
from datetime import UTC
from typing import Any

import pandas as pd
import pytest

import fslib
from fslib import FeatureStatus, FeatureStore, WriteResult
from fslib.checks import EVENT_TIME_SUFFIX, MAX_CLOCK_AHEAD_SECONDS
from fslib.fast import AsyncFeatureStore

from conftest import MakeStore

T0 = 1_750_000_000_000
"""An event time in epoch ms (2025-06-15): fixed and past, so the tests say which event is newer."""
FIELDS = ["tx_count_5m", "last_device_id"]


@pytest.fixture(params=["hsetex", "multi"])
def events(make_store: MakeStore, request: pytest.FixtureRequest) -> FeatureStore:
    """A store on one server, then a cluster, writing with HSETEX, then with MULTI (HSET + HEXPIRE)."""
    return make_store(streaming_write=request.param)


def stored(store: FeatureStore, entity_id: str) -> dict[str, str]:
    return store.client.hgetall(store.key_for(entity_id))


def expiry_ms(store: FeatureStore, entity_id: str) -> list[int]:
    """Each field's absolute expiry (``HPEXPIRETIME``): unchanged unless a write renewed its TTL."""
    fields = sorted(stored(store, entity_id))
    return list(store.client.hpexpiretime(store.key_for(entity_id), *fields))


def test_an_event_time_is_stored_beside_each_value_and_expires_with_it(events: FeatureStore) -> None:
    result = events.update_streaming("u1", {"tx_count_5m": 3, "last_device_id": "ios-1"}, 60, event_time=T0)
    assert result == WriteResult(entities=1, applied=2)
    assert stored(events, "u1") == {
        "tx_count_5m": "3",
        f"tx_count_5m{EVENT_TIME_SUFFIX}": str(T0),
        "last_device_id": "ios-1",
        f"last_device_id{EVENT_TIME_SUFFIX}": str(T0),
    }
    expiries = expiry_ms(events, "u1")
    assert len(set(expiries)) == 1 and expiries[0] > 0  # one field TTL for values and event times alike


def test_a_late_event_is_dropped_and_a_replay_changes_nothing(events: FeatureStore) -> None:
    events.update_streaming("u1", {"tx_count_5m": 5}, 60, event_time=T0)
    before = (stored(events, "u1"), expiry_ms(events, "u1"))
    time.sleep(0.002)  # a renewed TTL would now end at least a millisecond later
    assert events.update_streaming("u1", {"tx_count_5m": 1}, 60, event_time=T0 - 60_000) == WriteResult(1, 0, late=1)
    assert events.update_streaming("u1", {"tx_count_5m": 5}, 60, event_time=T0) == WriteResult(1, 0, replayed=1)
    assert (stored(events, "u1"), expiry_ms(events, "u1")) == before
    assert events.stats().late_fields == 1 and events.stats().replayed_fields == 1

    newer = events.update_streaming("u1", {"tx_count_5m": 9, "last_device_id": "web-2"}, 60, event_time=T0 + 1)
    assert newer == WriteResult(1, 2) and stored(events, "u1")["tx_count_5m"] == "9"
    assert stored(events, "u1")[f"tx_count_5m{EVENT_TIME_SUFFIX}"] == str(T0 + 1)


def test_each_field_is_compared_with_its_own_event_time(events: FeatureStore) -> None:
    events.update_streaming("u1", {"tx_count_5m": 1}, 60, event_time=T0 + 10)
    events.update_streaming("u1", {"last_device_id": "a"}, 60, event_time=T0)
    mixed = events.update_streaming("u1", {"tx_count_5m": 2, "last_device_id": "b"}, 60, event_time=T0 + 5)
    assert mixed == WriteResult(1, applied=1, late=1)
    assert (stored(events, "u1")["tx_count_5m"], stored(events, "u1")["last_device_id"]) == ("1", "b")


def test_without_an_event_time_the_last_write_wins(events: FeatureStore) -> None:
    events.update_streaming("u1", {"tx_count_5m": 5}, 60, event_time=T0)
    assert events.update_streaming("u1", {"tx_count_5m": 1}, 60) == WriteResult(1, 1)
    assert stored(events, "u1")["tx_count_5m"] == "1"


def test_many_rows_take_one_event_time_a_mapping_or_a_dataframe_column(events: FeatureStore) -> None:
    one = events.update_streaming_many({"u1": {"tx_count_5m": 1}, "u2": {"tx_count_5m": 2}}, 60, event_time=T0)
    assert one == WriteResult(entities=2, applied=2)
    per_entity = events.update_streaming_many(
        {"u1": {"tx_count_5m": 3}, "u2": {"tx_count_5m": 4}}, 60, event_time={"u1": T0 + 1, "u2": T0 - 1}
    )
    assert per_entity == WriteResult(entities=2, applied=1, late=1)
    frame = pd.DataFrame(
        {
            "tx_count_5m": [7, 8],
            "event_time": pd.to_datetime([T0 + 2, T0 + 2], unit="ms", utc=True),  # timezone-aware timestamps
        },
        index=pd.Index(["u1", "u2"], name="entity_id"),
    )
    assert events.update_streaming_many(frame, 60) == WriteResult(entities=2, applied=2)
    assert [stored(events, e)["tx_count_5m"] for e in ("u1", "u2")] == ["7", "8"]
    assert stored(events, "u2")[f"tx_count_5m{EVENT_TIME_SUFFIX}"] == str(T0 + 2)
    assert "event_time" not in stored(events, "u1")  # the column is the rows' event time, not a feature


@pytest.mark.parametrize(
    ("event_time", "error", "match"),
    [
        (datetime.datetime(2027, 1, 1), TypeError, "has no timezone"),  # naive: which 2027-01-01?
        (1.8e12, TypeError, "epoch milliseconds"),
        ("1800000000000", TypeError, "epoch milliseconds"),
        (0, ValueError, "after 1970"),
        ({"u1": T0}, ValueError, "entity 'u2': no event time"),
    ],
)
def test_a_bad_event_time_writes_nothing(events: FeatureStore, event_time: Any, error: type, match: str) -> None:
    rows = {"u1": {"tx_count_5m": 1}, "u2": {"tx_count_5m": 2}}
    with pytest.raises(error, match=match):
        events.update_streaming_many(rows, 60, event_time=event_time)
    assert events.count_entities() == 0


def test_an_event_time_past_the_clock_skew_writes_nothing(events: FeatureStore) -> None:
    soon = int(time.time() * 1000) + (MAX_CLOCK_AHEAD_SECONDS - 10) * 1000  # a producer's clock a little ahead
    events.update_streaming("u1", {"tx_count_5m": 1}, 60, event_time=soon)
    too_far = soon + 60_000
    rows = {"u2": {"tx_count_5m": 2}, "u3": {"tx_count_5m": 3}}
    with pytest.raises(ValueError, match=r"s past this machine's clock \(at most 60 s\)"):
        events.update_streaming_many(rows, 60, event_time={"u2": T0, "u3": too_far})  # the bad one last
    with pytest.raises(ValueError, match="past this machine's clock"):
        events.update_streaming("u1", {"tx_count_5m": 9}, 60, event_time=datetime.datetime(2099, 1, 1, tzinfo=UTC))
    assert events.count_entities() == 1 and stored(events, "u1")["tx_count_5m"] == "1"


def test_a_datetime_is_its_epoch_milliseconds(events: FeatureStore) -> None:
    when = datetime.datetime(2025, 1, 15, 8, 0, 0, 123000, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    events.update_streaming("u1", {"tx_count_5m": 1}, 60, event_time=when)
    assert int(stored(events, "u1")[f"tx_count_5m{EVENT_TIME_SUFFIX}"]) == int(when.timestamp() * 1000)


def test_feature_names_cannot_take_the_event_time_suffix(events: FeatureStore) -> None:
    with pytest.raises(ValueError, match="the field of a feature's event time"):
        events.update_streaming("u1", {f"tx_count_5m{EVENT_TIME_SUFFIX}": 1}, 60)
    with pytest.raises(ValueError, match="the field of a feature's event time"):
        events.get_features("u1", [f"tx_count_5m{EVENT_TIME_SUFFIX}"])


# -- reads that know age ---------------------------------------------------------------------------------


def test_reads_return_event_times_and_stale_past_max_age(events: FeatureStore) -> None:
    now = int(time.time() * 1000)
    events.bulk_load({"u1": {"country_iso": "US"}})
    events.update_streaming("u1", {"tx_count_5m": 4}, 60, event_time=now - 600_000)  # ten minutes ago
    events.update_streaming("u1", {"last_device_id": "ios-1"}, 60, event_time=now)
    events.update_streaming("u1", {"failed_logins_15m": 2}, 60)  # no event time: its age is unknown
    names = ["country_iso", "tx_count_5m", "last_device_id", "failed_logins_15m"]

    vector = events.get_feature_vector("u1", names)
    assert all(status is FeatureStatus.PRESENT for status in vector.statuses.values())
    assert vector.event_times == {"tx_count_5m": now - 600_000, "last_device_id": now, "failed_logins_15m": None}

    aged = events.get_feature_vector("u1", names, max_age_seconds=60)
    assert aged.statuses == {
        "country_iso": FeatureStatus.PRESENT,  # a batch feature: the key's TTL bounds its age
        "tx_count_5m": FeatureStatus.STALE,
        "last_device_id": FeatureStatus.PRESENT,
        "failed_logins_15m": FeatureStatus.PRESENT,
    }
    assert aged.values["tx_count_5m"] == 0 and aged.event_times["tx_count_5m"] == now - 600_000  # default, told why
    batch = events.batch_get_feature_vectors(["u1", "u2"], ["tx_count_5m"], max_age_seconds=60)
    assert [v.statuses["tx_count_5m"] for v in batch.values()] == [FeatureStatus.STALE, FeatureStatus.ENTITY_MISSING]
    with pytest.raises(ValueError, match="max_age_seconds must be a finite number > 0"):
        events.get_feature_vector("u1", names, max_age_seconds=0)


def test_an_unreadable_event_time_is_invalid(events: FeatureStore) -> None:
    events.update_streaming("u1", {"tx_count_5m": 4}, 60, event_time=T0)
    events.client.hset(events.key_for("u1"), f"tx_count_5m{EVENT_TIME_SUFFIX}", "yesterday")
    vector = events.get_feature_vector("u1", ["tx_count_5m"])
    assert vector.statuses["tx_count_5m"] is FeatureStatus.INVALID
    assert "stored event time 'yesterday' is not epoch milliseconds" in vector.errors["tx_count_5m"]


# -- races -----------------------------------------------------------------------------------------------

WRITERS = 4
EVENTS = 200
"""Events per entity: shuffled and split among writers, so older ones often arrive after newer ones."""
IDS = [f"r{i}" for i in range(10)]


def shuffled_stream(seed: int) -> list[tuple[str, int]]:
    """``(entity_id, event_time)`` of every event, in a random arrival order; the value is the event number."""
    stream = [(entity_id, T0 + n) for entity_id in IDS for n in range(EVENTS)]
    random.Random(seed).shuffle(stream)
    return stream


def assert_newest_everywhere(store: FeatureStore) -> None:
    """Every entity ends on the value of its newest event, with that event's time, whatever the order."""
    for entity_id in IDS:
        assert stored(store, entity_id)["tx_count_5m"] == str(EVENTS - 1), entity_id
        assert stored(store, entity_id)[f"tx_count_5m{EVENT_TIME_SUFFIX}"] == str(T0 + EVENTS - 1), entity_id


def test_racing_threads_end_on_the_newest_event(events: FeatureStore) -> None:
    stream = shuffled_stream(seed=1)
    parts = [stream[i::WRITERS] for i in range(WRITERS)]

    def write(part: list[tuple[str, int]]) -> None:
        for entity_id, event_ms in part:
            events.update_streaming(entity_id, {"tx_count_5m": event_ms - T0}, 60, event_time=event_ms)

    threads = [threading.Thread(target=write, args=(part,)) for part in parts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert_newest_everywhere(events)
    assert events.stats().streaming_writes == len(stream) and events.stats().late_fields > 0  # order was mixed


RACER = """
import random, sys, time, fslib
url, cluster, prefix, mode, seed = sys.argv[1], sys.argv[2] == "1", sys.argv[3], sys.argv[4], int(sys.argv[5])
store = fslib.FeatureStore(fslib.connect(url, cluster=cluster), key_prefix=prefix, streaming_write=mode)
T0, EVENTS, ids = 1_750_000_000_000, 200, [f"r{i}" for i in range(10)]
stream = [(e, T0 + n) for e in ids for n in range(EVENTS)]
random.Random(seed).shuffle(stream)
print("ready", flush=True)
assert store.client.blpop([sys.argv[6]], timeout=60), "no go"  # every racer starts at once
started = time.time()
for start in range(0, len(stream), 50):  # many rows per round trip, events of the same entity in one chunk
    part = stream[start:start + 50]
    times = {}
    for e, t in part:  # one event per entity per write: the newest of this part wins within it
        times[e] = max(t, times.get(e, 0))
    rows = [(e, {"tx_count_5m": times[e] - T0}) for e in times]
    store.update_streaming_many(rows, 60, event_time=times)
print(started, time.time(), store.stats().late_fields)
"""


def test_racing_processes_end_on_the_newest_event(events: FeatureStore, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("local_cluster" if events.cluster else "redis_server").url
    go = f"{events.key_prefix}go"  # a list the racers wait on; emptied by them, so no key is left
    where = [url, "1" if events.cluster else "0", events.key_prefix, events.streaming_write]
    racers = [
        subprocess.Popen([sys.executable, "-c", RACER, *where, str(seed), go], stdout=subprocess.PIPE, text=True)
        for seed in range(WRITERS)
    ]
    try:
        assert [racer.stdout.readline() for racer in racers if racer.stdout] == ["ready\n"] * WRITERS
        events.client.rpush(go, *range(WRITERS))
        reports = [racer.communicate(timeout=120)[0].split() for racer in racers]
    finally:
        for racer in racers:
            racer.kill()
            racer.wait()
    assert all(racer.returncode == 0 for racer in racers), reports
    starts, ends = [float(r[0]) for r in reports], [float(r[1]) for r in reports]
    assert max(starts) < min(ends), (starts, ends)  # every racer was still writing when the last one began
    assert_newest_everywhere(events)


def test_replaying_a_recorded_stream_after_a_restart_changes_nothing(events: FeatureStore) -> None:
    stream = shuffled_stream(seed=2)
    for entity_id, event_ms in stream:
        events.update_streaming(entity_id, {"tx_count_5m": event_ms - T0}, 60, event_time=event_ms)
    before = {entity_id: (stored(events, entity_id), expiry_ms(events, entity_id)) for entity_id in IDS}
    time.sleep(0.002)
    events.reset_stats()
    for entity_id, event_ms in stream:  # the consumer restarted at offset 0: every event arrives again
        events.update_streaming(entity_id, {"tx_count_5m": event_ms - T0}, 60, event_time=event_ms)
    assert {entity_id: (stored(events, entity_id), expiry_ms(events, entity_id)) for entity_id in IDS} == before
    stats = events.stats()
    assert stats.replayed_fields == len(IDS)  # each entity's newest event, met again
    assert stats.late_fields == len(stream) - len(IDS)  # every older one


@pytest.mark.single_server
def test_racing_coroutines_end_on_the_newest_event(
    events: FeatureStore, redis_server: fslib.local.EmbeddedRedis
) -> None:
    stream = shuffled_stream(seed=3)

    async def main() -> None:
        client = await fslib.connect_async(redis_server.url)
        try:
            store = AsyncFeatureStore(client, key_prefix=events.key_prefix, streaming_write=events.streaming_write)
            await asyncio.gather(
                *(store.update_streaming(e, {"tx_count_5m": t - T0}, 60, event_time=t) for e, t in stream)
            )
        finally:
            await client.aclose()

    asyncio.run(main())
    assert_newest_everywhere(events)
