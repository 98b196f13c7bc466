from __future__ import annotations

import random
from collections import Counter

from fslib import DEFAULT_SCHEMA, synthesize_users
from fslib.synth import COUNTRIES, streaming_features


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    assert list(synthesize_users(50, seed=7)) == list(synthesize_users(50, seed=7))
    assert list(synthesize_users(50, seed=7)) != list(synthesize_users(50, seed=8))


def test_ids_and_reiteration() -> None:
    users = synthesize_users(3)
    assert [entity for entity, _ in users] == ["u0001", "u0002", "u0003"] == users.ids
    assert list(users) == list(users) and len(users) == 3


def test_batch_features_follow_the_demo_distributions() -> None:
    rows = [features for _, features in synthesize_users(5000, seed=1)]
    assert {f["country_iso"] for f in rows} == set(COUNTRIES)
    risk = Counter(f["risk_segment"] for f in rows)
    assert (
        0.66 < risk["low"] / 5000 < 0.74 and 0.21 < risk["medium"] / 5000 < 0.29 and 0.03 < risk["high"] / 5000 < 0.07
    )
    assert all(7 <= f["account_age_days"] <= 2400 for f in rows)
    assert all(0 <= f["tx_count_7d"] <= 80 for f in rows)
    assert all(5 <= f["avg_amount_30d"] <= 350 and round(f["avg_amount_30d"], 2) == f["avg_amount_30d"] for f in rows)
    chargebacks = Counter(f["chargeback_count_180d"] for f in rows)
    assert set(chargebacks) == {0, 1, 2, 3} and 0.81 < chargebacks[0] / 5000 < 0.89
    assert all(set(f) == set(DEFAULT_SCHEMA.batch_names) for f in rows)


def test_to_frame_is_typed_and_indexed_by_entity_id() -> None:
    frame = synthesize_users(10).to_frame()
    assert frame.index.name == "entity_id" and list(frame.index[:2]) == ["u0001", "u0002"]
    assert list(frame.columns) == DEFAULT_SCHEMA.batch_names
    assert frame["tx_count_7d"].dtype.kind == "i" and frame["avg_amount_30d"].dtype.kind == "f"


def test_streaming_features_ranges() -> None:
    rng = random.Random(3)
    events = [streaming_features(rng, now_ms=1716998413541) for _ in range(2000)]
    assert all(e["last_login_ts"] == 1716998413541 for e in events)
    assert all(0 <= e["tx_count_5m"] <= 12 for e in events)
    assert {e["failed_logins_15m"] for e in events} == {0, 1, 2, 5}
    assert all(e["last_device_id"].split("-")[0] in {"ios", "android", "web"} for e in events)
    assert set(events[0]) == set(DEFAULT_SCHEMA.streaming_names)
