from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fslib import DEFAULT_SCHEMA, FeatureKind, FeatureSpec, Schema
from fslib.schema import decode_value, encode_value


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
def test_encode_value_uses_the_seed_encoding(value: object, text: str) -> None:
    assert encode_value(value) == text


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, np.float64("nan")])
def test_encode_value_refuses_nan_and_inf(value: float) -> None:
    with pytest.raises(ValueError, match="NaN/inf"):
        encode_value(value)


@pytest.mark.parametrize("value", [[1], {"a": 1}, b"bytes", object()])
def test_encode_value_refuses_unsupported_types(value: object) -> None:
    with pytest.raises(TypeError, match="unsupported feature value type"):
        encode_value(value)


@pytest.mark.parametrize("value", [None, pd.NA])
def test_encode_value_calls_a_missing_value_missing(value: object) -> None:
    with pytest.raises(TypeError, match="missing value"):
        encode_value(value)


@pytest.mark.parametrize(("value", "dtype"), [(True, bool), (False, bool), (7, int), (92.4, float), ("x", str)])
def test_decode_inverts_encode(value: object, dtype: type) -> None:
    decoded = decode_value(encode_value(value), dtype)
    assert decoded == value and type(decoded) is dtype


def test_decode_refuses_a_bad_boolean() -> None:
    with pytest.raises(ValueError, match="not a boolean"):
        decode_value("yes", bool)


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
