"""The model server over real HTTP: invalid data named, atomic statuses under churn, event times, max age, push.

A real uvicorn in a thread of the test process (``test_serve.serving``) over
the real embedded Redis; the churn comes from another process.
"""

from __future__ import annotations

import datetime
import time
from typing import Any

import httpx
import pytest
import test_freshness

from fslib import DEFAULT_SCHEMA, FeatureStore, synthesize_users
from fslib.serve.model_server import PUSH_SOURCE, rfc3339

import test_serve
from test_serve import ONLINE, MakeClient, column, online, snapshot

direct = test_serve.direct  # the fixtures of test_serve.py: the test's own store, a server with options
make_client = test_serve.make_client
churned = test_freshness.churned  # another process deletes and reloads the users, as fast as it can


@pytest.fixture
def http(make_client: MakeClient) -> httpx.Client:
    return make_client()


def by_entity(body: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Entity id -> feature -> status, from the columns of a ``/get-online-features`` answer."""
    key, *names = body["metadata"]["feature_names"]
    ids, *columns = body["results"]
    return {
        entity_id: {name: col["statuses"][row] for name, col in zip([key, *names], [ids, *columns])}
        for row, entity_id in enumerate(ids["values"])
    }


def test_a_stray_key_or_an_unparsable_value_is_invalid_named_and_the_rest_served(
    http: httpx.Client, direct: FeatureStore
) -> None:
    direct.bulk_load({"u1": {"country_iso": "US", "account_age_days": 12}, "u3": {"country_iso": "DE"}})
    direct.client.set(direct.key_for("u2"), "a string, not a hash")
    direct.client.hset(direct.key_for("u3"), "account_age_days", "3.5")  # another tool's float in an int feature
    direct.update_streaming("u1", {"tx_count_5m": 2})
    direct.client.hset(direct.key_for("u1"), "tx_count_5m@event_time", "soon")  # an event time fslib cannot read
    response = http.post(ONLINE, json={"entities": {"user_id": ["u1", "u2", "u3"]}, "features": ["country_iso",
                                       "account_age_days", "tx_count_5m"]})  # fmt: skip
    assert response.status_code == 200 and response.headers["content-type"] == "application/json", response.text
    body = response.json()

    assert column(body, "user_id")["statuses"] == ["present", "present", "present"]  # u2's key exists
    assert column(body, "country_iso") | {"errors": None} == {
        "values": ["US", None, "DE"], "statuses": ["present", "invalid", "present"], "errors": None
    }  # fmt: skip
    [u2_error] = [e for e in column(body, "country_iso")["errors"] if e is not None]
    assert u2_error.startswith(f"entity 'u2': the key '{direct.key_for('u2')}'") and "WRONGTYPE" in u2_error
    ages = column(body, "account_age_days")
    assert ages["values"] == [12, None, None] and ages["statuses"] == ["present", "invalid", "invalid"]
    assert ages["errors"] == [
        None,
        u2_error,
        "entity 'u3': feature 'account_age_days': stored text '3.5' is not an int",
    ]
    counts = column(body, "tx_count_5m")
    assert counts["statuses"] == ["invalid", "invalid", "expired"] and counts["values"] == [0, 0, 0]
    assert "feature 'tx_count_5m': stored event time 'soon' is not epoch milliseconds" in counts["errors"][0]


def test_read_and_inspect_name_a_stray_key_or_an_unparsable_value_in_json(
    http: httpx.Client, direct: FeatureStore
) -> None:
    direct.client.set(direct.key_for("u2"), "a string, not a hash")
    direct.bulk_load({"u3": {"country_iso": "DE"}})
    direct.client.hset(direct.key_for("u3"), "account_age_days", "3.5")  # another tool's float in an int feature

    stray = http.get("/read", params={"id": "u2", "features": ["country_iso", "tx_count_5m"]})
    assert stray.status_code == 200, stray.text
    readings = {f["name"]: f for f in stray.json()["features"]}
    assert {f["status"] for f in readings.values()} == {"invalid"}
    assert {f["field_ttl_seconds"] for f in readings.values()} == {-2}
    assert all("u2" in f["error"] and "WRONGTYPE" in f["error"] for f in readings.values())

    unparsable = http.get("/read", params={"id": "u3", "features": ["country_iso", "account_age_days"]}).json()
    by_name = {f["name"]: f for f in unparsable["features"]}
    assert by_name["country_iso"] | {"field_ttl_seconds": 0} == {
        "name": "country_iso", "kind": "batch", "value": "DE", "status": "present", "field_ttl_seconds": 0,
        "event_time": None, "event_age_seconds": None, "error": None,
    }  # fmt: skip
    assert by_name["account_age_days"]["status"] == "invalid"
    assert (
        by_name["account_age_days"]["error"]
        == "entity 'u3': feature 'account_age_days': stored text '3.5' is not an int"
    )

    inspected = http.get("/inspect", params={"id": "u2"})
    assert inspected.status_code == 409 and inspected.headers["content-type"] == "application/json"
    detail = inspected.json()["detail"]
    assert detail.startswith(f"entity 'u2': the key '{direct.key_for('u2')}'") and "WRONGTYPE" in detail
    shown = http.get("/inspect", params={"id": "u3"}).json()["fields"]
    assert shown["account_age_days"]["value"] == "3.5"  # inspect shows what Redis holds, as text


READS_UNDER_CHURN = 100


@pytest.mark.single_server
def test_statuses_never_contradict_themselves_over_http_under_churn(
    churned: FeatureStore, make_client: MakeClient
) -> None:
    http, ids = make_client(), synthesize_users(test_freshness.CHURN_USERS).ids
    bad: list[str] = []
    seen = set()
    for _ in range(READS_UNDER_CHURN):
        for entity_id, statuses in by_entity(online(http, ids, DEFAULT_SCHEMA.names)).items():
            exists = statuses.pop("user_id") == "present"
            batch = {statuses[name] for name in DEFAULT_SCHEMA.batch_names}
            if batch != ({"present"} if exists else {"entity_missing"}):
                bad.append(f"{entity_id}: {statuses}")
            seen.add(exists)
    assert bad == [], f"{len(bad)} contradictory vectors, e.g. {bad[:3]}"
    assert seen == {True, False}  # the reads really met the churn: entities seen present and deleted


def test_event_timestamps_in_feasts_shape_and_max_age_makes_old_values_stale(
    http: httpx.Client, direct: FeatureStore
) -> None:
    direct.bulk_load({"u1": {"country_iso": "US"}, "u2": {"country_iso": "DE"}})
    fresh = int(time.time() * 1000)  # now, not at import: the suite may reach this test minutes later
    old = fresh - 600_000
    direct.update_streaming("u1", {"tx_count_5m": 3}, event_time=old)
    direct.update_streaming("u2", {"tx_count_5m": 4}, event_time=fresh)
    direct.update_streaming("u2", {"last_device_id": "ios-2"})  # written without an event time
    request = {"entities": {"user_id": ["u1", "u2"]}, "features": ["country_iso", "tx_count_5m", "last_device_id"]}

    body = http.post(ONLINE, json=request).json()
    stamps = {name: col["event_timestamps"] for name, col in zip(body["metadata"]["feature_names"], body["results"])}
    assert stamps == {
        "user_id": [None, None],
        "country_iso": [None, None],  # batch features carry no event time
        "tx_count_5m": [rfc3339(old), rfc3339(fresh)],
        "last_device_id": [None, None],
    }
    parsed = datetime.datetime.fromisoformat(stamps["tx_count_5m"][0])
    assert parsed == datetime.datetime.fromtimestamp(old / 1000, datetime.UTC)
    assert column(body, "tx_count_5m") == {"values": [3, 4], "statuses": ["present", "present"]}

    aged = http.post(ONLINE, json=request | {"max_age_seconds": 60}).json()
    assert column(aged, "tx_count_5m") == {"values": [0, 4], "statuses": ["stale", "present"]}  # u1: the default
    assert column(aged, "last_device_id")["statuses"] == ["expired", "present"]  # no event time: not judged
    for bad_age in [0, -1, "60", True]:
        refused = http.post(ONLINE, json=request | {"max_age_seconds": bad_age})
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"][-1] == "max_age_seconds"


def push(http: httpx.Client, df: dict[str, list[Any]], **more: Any) -> httpx.Response:
    return http.post("/push", json={"push_source_name": PUSH_SOURCE, "df": df, **more})


def test_push_writes_newer_events_only_and_says_what_it_did(http: httpx.Client, direct: FeatureStore) -> None:
    direct.bulk_load({"u1": {"country_iso": "US"}, "u2": {"country_iso": "DE"}})
    t1, t2 = "2026-12-02T10:00:00Z", "2026-12-02T12:00:00+02:00"  # the same moment, spelt twice
    df = {"user_id": ["u1", "u2"], "event_timestamp": [t1, t2], "tx_count_5m": [5, 6], "last_device_id": ["a", "b"]}
    first = push(http, df, to="online")
    assert first.status_code == 200, first.text
    assert first.json() == {"entities": 2, "applied": 4, "late": 0, "replayed": 0}
    assert push(http, df).json() == {"entities": 2, "applied": 0, "late": 0, "replayed": 4}

    older = {"user_id": ["u1"], "event_timestamp": ["2026-12-02T09:59:59.999Z"], "tx_count_5m": [1]}
    assert push(http, older).json() == {"entities": 1, "applied": 0, "late": 1, "replayed": 0}
    repeated = {"user_id": ["u2", 2, "u2"], "event_timestamp": [t1, t1, "2026-12-02T10:00:01Z"],
                "tx_count_5m": [7, 8, 9]}  # fmt: skip
    assert push(http, repeated).json() == {"entities": 3, "applied": 2, "late": 0, "replayed": 1}

    body = online(http, ["u1", "u2", "2"], ["tx_count_5m", "last_device_id"])
    assert column(body, "tx_count_5m") == {"values": [5, 9, 8], "statuses": ["present"] * 3}
    at_t1, a_second_later = "2026-12-02T10:00:00.000Z", "2026-12-02T10:00:01.000Z"
    assert body["results"][1]["event_timestamps"] == [at_t1, a_second_later, at_t1]
    assert column(body, "last_device_id")["values"] == ["a", "b", None]


GOOD = {"user_id": ["u1", "u2"], "event_timestamp": ["2026-12-02T10:00:00Z"] * 2, "tx_count_5m": [1, 2]}
BAD_PUSHES: dict[str, tuple[dict[str, Any], str]] = {
    "unknown push source": ({"push_source_name": "driver_stats_push_source"}, "streaming_features"),
    "offline store": ({"to": "offline"}, "online"),
    "unknown key": ({"allow_registry_cache": True}, "Extra inputs are not permitted"),
    "no event_timestamp": ({"df": {k: v for k, v in GOOD.items() if k != "event_timestamp"}}, "misses"),
    "no join key": ({"df": {k: v for k, v in GOOD.items() if k != "user_id"}}, "misses ['user_id']"),
    "no timezone": ({"df": GOOD | {"event_timestamp": ["2026-12-02 10:00:00"] * 2}}, "with a timezone"),
    "not a time": ({"df": GOOD | {"event_timestamp": ["2026-12-02T10:00:00Z", "soon"]}}, "row 1: event_timestamp"),
    "epoch number": ({"df": GOOD | {"event_timestamp": [1764669600000] * 2}}, "row 0: event_timestamp"),
    "before 1970": ({"df": GOOD | {"event_timestamp": ["1969-12-31T23:59:59Z"] * 2}}, "after 1970"),
    "from the future": ({"df": GOOD | {"event_timestamp": ["2099-01-01T00:00:00Z"] * 2}}, "past this machine's clock"),
    "batch feature": ({"df": GOOD | {"country_iso": ["US", "DE"]}}, "country_iso"),
    "unknown feature": ({"df": GOOD | {"created": ["x", "y"]}}, "unknown columns ['created']"),
    "no feature": ({"df": {k: v for k, v in GOOD.items() if k != "tx_count_5m"}}, "no features to write"),
    "unequal columns": ({"df": GOOD | {"tx_count_5m": [1]}}, "has lengths [1, 2]"),
    "wrong type": ({"df": GOOD | {"tx_count_5m": [1, "2"]}}, "tx_count_5m"),
    "float for an int": ({"df": GOOD | {"tx_count_5m": [1, 2.5]}}, "tx_count_5m"),
    "null value": ({"df": GOOD | {"tx_count_5m": [1, None]}}, "tx_count_5m"),
    "id with a colon": ({"df": GOOD | {"user_id": ["u1", "a:b"]}}, "':'"),
    "boolean id": ({"df": GOOD | {"user_id": ["u1", True]}}, "entity id"),
    "too many rows": ({"df": {k: v * 501 for k, v in GOOD.items()}}, "at most 1000 items"),
}


@pytest.mark.parametrize("case", list(BAD_PUSHES))
def test_a_bad_push_gets_a_json_422_and_writes_nothing(http: httpx.Client, direct: FeatureStore, case: str) -> None:
    direct.bulk_load({"u1": {"country_iso": "US"}, "u2": {"country_iso": "DE"}})
    before = snapshot(direct)
    change, says = BAD_PUSHES[case]
    response = http.post("/push", json={"push_source_name": PUSH_SOURCE, "df": GOOD} | change)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/json" and says in response.text, response.text
    assert snapshot(direct) == before
