"""fslib.lab.expiry against the real server: TTL snapshots, sampling until entities are gone, live counts."""

from __future__ import annotations

import pandas as pd
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from fslib import DEFAULT_SCHEMA, FeatureStatus, FeatureStore, synthesize_users
from fslib.lab.expiry import (
    SAMPLE_COLUMNS,
    STATUS_COLUMNS,
    ExpiryRecorder,
    expiry_times,
    live_field_counts,
    snapshot_ttls,
)
from fslib.local import free_port

from polling import wait_until

BATCH = DEFAULT_SCHEMA.batch_names
STREAMING = DEFAULT_SCHEMA.streaming_names


def test_snapshot_reads_both_ttl_layers(store: FeatureStore) -> None:
    store.bulk_load(synthesize_users(2), ttl_seconds=100)
    store.update_streaming("u0001", {"tx_count_5m": 3, "session_country": "US"}, ttl_seconds=50)
    snap = snapshot_ttls(store, ["u0001", "u0002", "nobody"], t_s=1.5)

    assert list(snap.columns) == SAMPLE_COLUMNS
    assert len(snap) == 3 * len(DEFAULT_SCHEMA)
    assert (snap["t_s"] == 1.5).all()
    by = snap.set_index(["entity_id", "feature"])
    assert 49_000 < by.loc[("u0001", "tx_count_5m"), "field_ttl_ms"] <= 50_000
    assert by.loc[("u0001", "last_login_ts"), "field_ttl_ms"] == -2  # never written
    assert by.loc[("u0001", "risk_segment"), "field_ttl_ms"] == -1  # covered by the key TTL
    assert 99_000 < by.loc[("u0002", "country_iso"), "key_ttl_ms"] <= 100_000
    assert (by.loc["nobody", "field_ttl_ms"] == -2).all() and (by.loc["nobody", "key_ttl_ms"] == -2).all()
    assert set(by.loc["u0001"].query("kind == 'streaming'").index) == set(STREAMING)


def test_recorded_ttls_see_streaming_fields_expire_before_the_entity(store: FeatureStore) -> None:
    store.bulk_load(synthesize_users(2), ttl_seconds=2)
    store.update_streaming("u0001", {"tx_count_5m": 3}, ttl_seconds=1)
    with ExpiryRecorder(store, ["u0001", "u0002"], interval_seconds=0.1, tail_seconds=0.3) as recorder:
        assert recorder.wait_until_gone(timeout=30.0)
    counts = live_field_counts(recorder.ttls())
    u1 = counts[counts["entity_id"] == "u0001"].set_index("t_s")

    assert u1["streaming"].iloc[0] == 1 and u1["batch"].iloc[0] == len(BATCH)
    batch_only = u1[(u1["streaming"] == 0) & (u1["batch"] == len(BATCH))]
    assert not batch_only.empty, "no sample saw the streaming field gone while the batch fields stayed"
    # The tail: samples went on after every entity was gone, then the thread ended by itself.
    gone = counts.groupby("t_s")["key_ttl_ms"].apply(lambda ttl: (ttl == -2).all())
    assert gone.iloc[-1] and gone.sum() >= 2
    assert counts["t_s"].is_monotonic_increasing


def test_live_field_counts_counts_present_fields() -> None:
    samples = pd.DataFrame(
        [
            (0.0, "a", "x", "batch", -1, 500),
            (0.0, "a", "y", "streaming", 300, 500),
            (0.0, "a", "z", "streaming", -2, 500),
            (0.5, "a", "x", "batch", -2, -2),
            (0.5, "a", "y", "streaming", -2, -2),
            (0.5, "a", "z", "streaming", -2, -2),
        ],
        columns=SAMPLE_COLUMNS,
    )
    counts = live_field_counts(samples)
    assert counts.to_dict("records") == [
        {"t_s": 0.0, "entity_id": "a", "batch": 1, "streaming": 1, "key_ttl_ms": 500},
        {"t_s": 0.5, "entity_id": "a", "batch": 0, "streaming": 0, "key_ttl_ms": -2},
    ]
    with pytest.raises(ValueError, match=r"lack column\(s\) \['kind'\]"):
        live_field_counts(samples.drop(columns="kind"))


def test_expiry_times_says_when_each_layer_went() -> None:
    rows = []
    # (t_s, entity, batch, streaming, key_ttl_ms): u1 both -> batch only -> gone; u2 loses its streaming
    # fields, gets them back (a write), and never loses its key.
    for t_s, u1, u2 in [
        (0.0, (2, 1, 900), (2, 1, 900)),
        (1.0, (2, 1, 800), (2, 0, 800)),
        (2.0, (2, 0, 700), (2, 1, 700)),
        (3.0, (0, 0, -2), (2, 1, 600)),
        (4.0, (0, 0, -2), (2, 1, 500)),
    ]:
        for entity, (batch, streaming, key_ttl) in (("u1", u1), ("u2", u2)):
            rows.append(
                {"t_s": t_s, "entity_id": entity, "batch": batch, "streaming": streaming, "key_ttl_ms": key_ttl}
            )
    times = expiry_times(pd.DataFrame(rows), after=0.5)
    assert times.loc["u1"].to_dict() == {
        "streaming_gone_s": 2.0,
        "gone_s": 3.0,
        "batch_only_samples": 1,
        "came_back": False,
    }
    assert times.loc["u2", "came_back"] and pd.isna(times.loc["u2", "gone_s"])
    assert times.loc["u2", "streaming_gone_s"] == 1.0
    assert expiry_times(pd.DataFrame(rows), after=3.5).loc["u1", "batch_only_samples"] == 0  # only later samples
    with pytest.raises(ValueError, match=r"lack column\(s\) \['key_ttl_ms'\]"):
        expiry_times(pd.DataFrame(rows).drop(columns="key_ttl_ms"))


@pytest.mark.parametrize(
    ("ids", "error", "message"),
    [([], ValueError, "must not be empty"), ("u0001", TypeError, "not one string"), ([""], ValueError, "entity id")],
)
def test_bad_ids_are_refused(store: FeatureStore, ids: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        snapshot_ttls(store, ids)  # type: ignore[arg-type]


def _seen(recorder: ExpiryRecorder, after: float, entity_id: str, feature: str, status: str) -> bool:
    """Whether a sample taken at or after ``after`` saw ``feature`` of ``entity_id`` with ``status``."""
    frame = recorder.statuses()
    return bool(
        frame.query("t_s >= @after and entity_id == @entity_id and feature == @feature")["status"].eq(status).any()
    )


def _statuses_of(recorder: ExpiryRecorder, entity_id: str, feature: str) -> list[str]:
    """The statuses one feature went through, in order, each once."""
    frame = recorder.statuses().query("entity_id == @entity_id and feature == @feature")
    return list(dict.fromkeys(frame.sort_values("t_s")["status"]))


def test_recorder_follows_an_entity_from_present_to_expired_to_gone(store: FeatureStore) -> None:
    store.bulk_load(synthesize_users(2), ttl_seconds=600)
    store.update_streaming("u0001", {"tx_count_5m": 3}, ttl_seconds=600)
    key = store.key_for("u0001")
    names = ["risk_segment", "tx_count_5m"]
    with ExpiryRecorder(store, ["u0001", "u0002"], names, interval_seconds=0.02, tail_seconds=0.1) as recorder:
        # Each phase is made on the server, then waited for until a sample saw it: no race with the sampler.
        assert wait_until(lambda: len(recorder.statuses()) > 0)
        store.client.hpexpire(key, 1, "tx_count_5m")  # the streaming pipeline stalled
        expired_at = recorder.mark("streaming expired")
        assert wait_until(lambda: _seen(recorder, expired_at, "u0001", "tx_count_5m", "expired"))
        store.client.unlink(key, store.key_for("u0002"))  # the batch cycle ran out
        assert recorder.wait_until_gone(timeout=10.0)
        assert not recorder.is_running  # ended by itself once everything was gone

    assert _statuses_of(recorder, "u0001", "tx_count_5m") == ["present", "expired", "entity_missing"]
    assert _statuses_of(recorder, "u0001", "risk_segment") == ["present", "entity_missing"]
    assert _statuses_of(recorder, "u0002", "tx_count_5m") == ["expired", "entity_missing"]  # never streamed
    statuses = recorder.statuses()
    assert list(statuses.columns) == STATUS_COLUMNS
    assert set(statuses.query("feature == 'risk_segment'")["kind"]) == {"batch"}
    ttls = recorder.ttls()
    assert list(ttls.columns) == SAMPLE_COLUMNS and set(ttls["feature"]) == set(DEFAULT_SCHEMA.names)
    last = ttls[ttls["t_s"] == ttls["t_s"].max()]
    assert (last["key_ttl_ms"] == -2).all()
    assert recorder.events == {"streaming expired": expired_at}
    vector = recorder.vectors_at(0.0)["u0001"]
    assert vector.values["tx_count_5m"] == 3 and vector.statuses["tx_count_5m"] is FeatureStatus.PRESENT
    with pytest.raises(LookupError, match="no sample at or after"):
        recorder.vectors_at(ttls["t_s"].max() + 1.0)


@pytest.mark.single_server
def test_recorder_stops_when_asked_and_at_its_bound(store: FeatureStore) -> None:
    store.bulk_load(synthesize_users(1), ttl_seconds=600)
    recorder = ExpiryRecorder(store, ["u0001"], interval_seconds=0.02).start()
    assert wait_until(lambda: len(recorder.statuses()) >= 2)
    assert recorder.stop() and not recorder.is_running
    assert recorder.wait_until_gone(timeout=1.0) is False  # stopped, not gone
    with pytest.raises(RuntimeError, match="started already"):
        recorder.start()

    bounded = ExpiryRecorder(store, ["u0001"], interval_seconds=0.02, max_seconds=0.1).start()
    assert bounded.wait_until_gone(timeout=10.0) is False and not bounded.is_running
    assert bounded.ttls()["key_ttl_ms"].gt(0).all()  # the entity was there all along


def test_recorder_reports_a_failed_sample() -> None:
    no_retry = Retry(NoBackoff(), retries=0)
    unreachable = redis.Redis(port=free_port(), decode_responses=True, socket_connect_timeout=0.5, retry=no_retry)
    recorder = ExpiryRecorder(FeatureStore(unreachable, key_prefix="nobody:"), ["u0001"]).start()
    with pytest.raises(RuntimeError, match="sampling stopped on an error") as info:
        recorder.wait_until_gone(timeout=30.0)
    assert isinstance(info.value.__cause__, redis.ConnectionError)
    assert recorder.stop()
    with pytest.raises(RuntimeError, match="never started"):
        ExpiryRecorder(FeatureStore(unreachable, key_prefix="nobody:"), ["u0001"]).wait_until_gone(1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"features": ["nope"]}, r"unknown \['nope'\]"),
        ({"features": []}, "none at all"),
        ({"interval_seconds": 0}, "interval_seconds must be a finite number > 0"),
        ({"max_seconds": -1}, "max_seconds must be a finite number > 0"),
        ({"tail_seconds": -1}, "tail_seconds must be a finite number >= 0"),
    ],
)
def test_recorder_refuses_bad_arguments(single_client: redis.Redis, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ExpiryRecorder(FeatureStore(single_client, key_prefix="nobody:"), ["u0001"], **kwargs)  # type: ignore[arg-type]
