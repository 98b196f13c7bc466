from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fslib import DEFAULT_SCHEMA, FeatureKind, FeatureSpec, FeatureStore, Schema, StoredDataError
from fslib.schema import decode_value, to_storable

from stored import stored_text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "true"),
        (False, "false"),
        (np.bool_(True), "true"),
        (612, "612"),
        (np.int64(-3), "-3"),
        (92.4, "92.4"),
        (np.float64(0.1), "0.1"),
        ("US", "US"),
        ("", ""),
    ],
)
def test_redis_stores_the_seed_encoding(store: FeatureStore, value: object, text: str) -> None:
    store.bulk_load({"u1": {"any_feature": value}})  # a feature the schema does not know: any type goes
    assert store.client.hget(store.key_for("u1"), "any_feature") == text == stored_text(value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, np.float64("nan")])
def test_nan_and_inf_are_refused(value: float) -> None:
    with pytest.raises(ValueError, match="NaN/inf"):
        to_storable(value)


@pytest.mark.parametrize("value", [[1], {"a": 1}, b"bytes", object()])
def test_unsupported_types_are_refused(value: object) -> None:
    with pytest.raises(TypeError, match="unsupported feature value type"):
        to_storable(value)


@pytest.mark.parametrize("value", [None, pd.NA])
def test_a_missing_value_is_called_missing(value: object) -> None:
    with pytest.raises(TypeError, match="missing value"):
        to_storable(value)


@pytest.mark.parametrize(("value", "dtype"), [(True, bool), (False, bool), (7, int), (92.4, float), ("x", str)])
def test_decode_inverts_the_stored_text(value: object, dtype: type) -> None:
    decoded = decode_value(stored_text(value), dtype)
    assert decoded == value and type(decoded) is dtype


@pytest.mark.parametrize(
    ("text", "dtype", "words"),
    [("yes", bool, "a boolean"), ("3.5", int, "an int"), ("", int, "an int"), ("nan", float, "a finite float"),
     ("inf", float, "a finite float"), ("x1", float, "a finite float")],
)  # fmt: skip
def test_decode_refuses_text_fslib_never_writes(text: str, dtype: type, words: str) -> None:
    with pytest.raises(ValueError, match=f"stored text {text!r} is not {words}"):
        decode_value(text, dtype)


def test_a_typed_decode_names_the_entity_feature_and_stored_text() -> None:
    with pytest.raises(
        StoredDataError, match=r"entity 'u7': feature 'account_age_days': stored text '3.5' is not an int"
    ):
        DEFAULT_SCHEMA.decode({"country_iso": "US", "account_age_days": "3.5"}, "u7")


def test_default_schema_is_the_seeds_six_batch_and_five_streaming_features() -> None:
    assert DEFAULT_SCHEMA.batch_names == [
        "country_iso", "risk_segment", "account_age_days",
        "tx_count_7d", "avg_amount_30d", "chargeback_count_180d",
    ]  # fmt: skip
    assert DEFAULT_SCHEMA.streaming_names == [
        "last_login_ts", "last_device_id", "tx_count_5m", "failed_logins_15m", "session_country",
    ]  # fmt: skip
    assert DEFAULT_SCHEMA["avg_amount_30d"].pandas_dtype == "Float64"


def test_schema_encode_checks_kind_and_type_of_known_features() -> None:
    with pytest.raises(ValueError, match="'tx_count_5m' is a streaming feature"):
        DEFAULT_SCHEMA.encode({"tx_count_5m": 3}, FeatureKind.BATCH)
    with pytest.raises(ValueError, match="'tx_count_7d' is a batch feature"):
        DEFAULT_SCHEMA.encode({"tx_count_7d": 3}, FeatureKind.STREAMING)
    with pytest.raises(TypeError, match="'tx_count_7d' expects int, got str"):
        DEFAULT_SCHEMA.encode({"tx_count_7d": "3"}, FeatureKind.BATCH)
    with pytest.raises(TypeError, match="'country_iso' expects str, got bool"):
        DEFAULT_SCHEMA.encode({"country_iso": True}, FeatureKind.BATCH)
    # An int is a fine float; unknown features are checked by their Python type. Numbers go to
    # redis-py as numbers (it writes their decimal text); booleans and numpy scalars are converted.
    assert DEFAULT_SCHEMA.encode({"avg_amount_30d": 5, "extra": True, "n": np.int64(3)}, FeatureKind.BATCH) == {
        "avg_amount_30d": 5,
        "extra": "true",
        "n": 3,
    }


def test_schema_decode_types_known_features_and_leaves_others_as_text() -> None:
    decoded = DEFAULT_SCHEMA.decode({"tx_count_7d": "14", "avg_amount_30d": "92.4", "extra": "7"})
    assert decoded == {"tx_count_7d": 14, "avg_amount_30d": 92.4, "extra": "7"}


def test_schema_refuses_duplicates_and_bad_specs() -> None:
    with pytest.raises(ValueError, match="defined twice"):
        Schema([FeatureSpec("a", int, FeatureKind.BATCH), FeatureSpec("a", str, FeatureKind.BATCH)])
    with pytest.raises(TypeError, match="dtype must be"):
        FeatureSpec("a", list, FeatureKind.BATCH)
    with pytest.raises(ValueError, match="must not be empty"):
        FeatureSpec("", int, FeatureKind.BATCH)
