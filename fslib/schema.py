"""Feature specs, and how values travel as Redis hash fields (text) and back.

Redis stores every field as text. fslib uses the Redis docs demo's encoding:
booleans as ``true``/``false``, integers and floats as decimal text, strings
as they are. A :class:`Schema` knows each feature's type and whether it is a batch
feature (covered by the key-level TTL) or a streaming feature (its own field
TTL), so reads can come back typed and writes can be checked.
"""

from __future__ import annotations

import enum
import math
import numbers
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from fslib.checks import check_feature_name, check_text
from fslib.errors import StoredDataError

__all__ = [
    "DEFAULT_SCHEMA",
    "INT64_RANGE",
    "EncodedFields",
    "FeatureKind",
    "FeatureSpec",
    "FeatureValue",
    "Features",
    "Schema",
    "Storable",
    "decode_value",
    "to_storable",
]

FeatureValue = bool | int | float | str
"""What a feature may hold. ``None``, containers and NaN/inf are refused."""

Features = Mapping[str, FeatureValue]
"""Feature name -> value, as a write takes them."""

Storable = str | int | float
"""A checked value as fslib hands it to redis-py (see :func:`to_storable`)."""

EncodedFields = dict[Any, Storable]
"""Feature name -> :data:`Storable`, as :meth:`Schema.encode` returns them.

The names are ``str``; the key type says ``Any`` only because redis-py annotates
``hset(mapping=...)`` with a wider key type, and a mapping's key type must match exactly.
"""


class FeatureKind(enum.StrEnum):
    """Which TTL layer covers a feature."""

    BATCH = "batch"
    """Bulk-loaded each materialization cycle; lives as long as the key-level TTL."""
    STREAMING = "streaming"
    """Written per event; each field carries its own, shorter TTL."""


_DTYPES: dict[type, str] = {bool: "boolean", int: "Int64", float: "Float64", str: "string"}


@dataclass(frozen=True)
class FeatureSpec:
    """One feature: its name, Python type, TTL layer, and the value a model gets when it is absent."""

    name: str
    dtype: type
    kind: FeatureKind
    default: FeatureValue | None = None
    """Served by freshness-aware reads (:mod:`fslib.freshness`) when the feature is absent."""

    def __post_init__(self) -> None:
        check_feature_name(self.name)
        if self.dtype not in _DTYPES:
            raise TypeError(f"feature {self.name!r}: dtype must be bool, int, float or str")
        if self.default is not None and not _matches(self, self.default):
            raise TypeError(f"feature {self.name!r}: default {self.default!r} is not a {self.dtype.__name__}")

    @property
    def pandas_dtype(self) -> str:
        """The nullable pandas dtype of this feature's column."""
        return _DTYPES[self.dtype]


INT64_RANGE = (-(2**63), 2**63 - 1)
"""Integers a feature may hold: what a typed read (pandas ``Int64``) can return."""


def _is_missing(value: object) -> bool:
    """None, NaN, or pandas' NA: a hole in the data, not a value."""
    return value is None or (type(value).__name__ == "NAType") or (isinstance(value, float) and math.isnan(value))


def _brief(value: object) -> str:
    """``repr(value)``, cut short for a message (a 400-digit number helps nobody)."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def to_storable(value: object) -> str | int | float:
    """Check one feature value and return it as redis-py should write it.

    Redis stores every field as text. redis-py writes an ``int`` or ``float``
    as its decimal text (``repr``) by itself, so those pass through;
    booleans become ``"true"``/``"false"`` (redis-py refuses them) and numpy
    scalars their built-in twins.

    Raises:
        TypeError: ``value`` is missing (None, ``pd.NA``), a container, bytes or
            another unsupported type.
        ValueError: NaN/inf, an integer outside int64, a number too large for a
            float, or text that is not valid UTF-8.
    """
    if isinstance(value, (bool, np.bool_)):  # before int: bool is an int, numpy's bool_ is not
        return "true" if value else "false"
    if isinstance(value, str):
        return check_text(str(value))
    if isinstance(value, numbers.Integral):
        number = int(value)
        if not INT64_RANGE[0] <= number <= INT64_RANGE[1]:
            raise ValueError(f"{_brief(number)} is outside the int64 range a typed read can return")
        return number
    if isinstance(value, numbers.Real):
        real = float(value)
        if not math.isfinite(real):
            raise ValueError(f"{real} is not a storable feature value (NaN/inf)")
        return real
    if _is_missing(value):
        raise TypeError(f"missing value ({value!r}): write only the features you have")
    raise TypeError(f"unsupported feature value type {type(value).__name__}: {value!r} (use bool, int, float or str)")


def decode_value(text: str, dtype: type) -> FeatureValue:
    """Parse text read from Redis back into ``dtype``.

    Raises:
        ValueError: The text is not a valid ``dtype`` value (e.g. ``"3.5"`` for an int,
            ``"nan"`` for a float: fslib never writes either).
    """
    try:
        if dtype is int:
            return int(text)
        if dtype is float:
            number = float(text)
            if math.isfinite(number):
                return number
        elif dtype is bool:
            if text in ("true", "false"):
                return text == "true"
        else:
            return text
    except ValueError:
        pass
    raise ValueError(f"stored text {_brief(text)} is not {_DTYPE_WORDS[dtype]}")


_DTYPE_WORDS = {int: "an int", float: "a finite float", bool: "a boolean (true/false)"}


_INT64_MIN, _INT64_MAX = INT64_RANGE


def _matches(spec: FeatureSpec, value: object) -> bool:
    if type(value) is spec.dtype:  # exact built-in type: skip the ABC checks
        return True
    if spec.dtype is bool:
        return isinstance(value, (bool, np.bool_))
    if isinstance(value, (bool, np.bool_)):
        return False
    if spec.dtype is int:
        return isinstance(value, numbers.Integral)
    if spec.dtype is float:
        return isinstance(value, numbers.Real)
    return isinstance(value, str)


class Schema:
    """An ordered set of :class:`FeatureSpec`; features not in it are plain strings.

    Args:
        specs: The features, in the order columns should appear.

    Raises:
        ValueError: Two specs share a name.
    """

    def __init__(self, specs: Iterable[FeatureSpec]) -> None:
        self._specs: dict[str, FeatureSpec] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise ValueError(f"feature {spec.name!r} is defined twice")
            self._specs[spec.name] = spec
        self._types = {kind: {s.name: s.dtype for s in self if s.kind is kind} for kind in FeatureKind}
        """Per write path, its features' types: what :meth:`encode`'s fast path compares against."""

    def __iter__(self) -> Iterator[FeatureSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __getitem__(self, name: str) -> FeatureSpec:
        return self._specs[name]

    def get(self, name: str) -> FeatureSpec | None:
        """The spec of ``name``, or None for a feature the schema does not know."""
        return self._specs.get(name)

    @property
    def names(self) -> list[str]:
        """Every feature name, in schema order."""
        return list(self._specs)

    def names_of(self, kind: FeatureKind) -> list[str]:
        """The names of the features of one kind, in schema order."""
        return [s.name for s in self._specs.values() if s.kind is kind]

    @property
    def batch_names(self) -> list[str]:
        """Names of the batch features."""
        return self.names_of(FeatureKind.BATCH)

    @property
    def streaming_names(self) -> list[str]:
        """Names of the streaming features."""
        return self.names_of(FeatureKind.STREAMING)

    def encode(self, fields: Mapping[str, object], kind: FeatureKind, entity: object = None) -> EncodedFields:
        """Check a set of features about to be written as ``kind``, ready for redis-py.

        Features the schema does not know are checked by their Python type.

        Args:
            fields: Feature name to value.
            kind: The write path: batch (key TTL) or streaming (field TTL).
            entity: The entity id to name in error messages, if any.

        Returns:
            Feature name to value as :func:`to_storable` gives it.

        Raises:
            TypeError: A name is not a string, or a value is missing or has the wrong type.
            ValueError: A name is empty, a value cannot be stored (see :func:`to_storable`),
                or a feature of the other kind is written on this path (it would get the wrong TTL).
        """
        if type(fields) is dict and self._all_plain(fields, kind):
            return fields  # the usual row: every value goes to redis-py as it is
        try:
            return self._encode(fields, kind)
        except (TypeError, ValueError) as exc:
            if entity is None:
                raise
            raise type(exc)(f"entity {entity!r}: {exc}") from None

    def _all_plain(self, fields: dict[str, object], kind: FeatureKind) -> bool:
        """Whether every field is a ``kind`` feature holding exactly its type, an ordinary value.

        Bulk loads check millions of rows: this is :meth:`encode`'s fast path, plain comparisons only.
        """
        types = self._types[kind]
        for name, value in fields.items():
            dtype = types.get(name)
            if dtype is str and type(value) is str:
                if not value.isascii():
                    return False
            elif dtype is int and type(value) is int:
                if not _INT64_MIN <= value <= _INT64_MAX:
                    return False
            elif not (dtype is float and type(value) is float and math.isfinite(value)):
                return False  # another kind's feature, another type, a bool (written as text), NaN/inf
        return True

    def _encode(self, fields: Mapping[str, object], kind: FeatureKind) -> EncodedFields:
        """:meth:`encode`'s general case: every field checked, booleans and numpy scalars converted."""
        if not isinstance(fields, Mapping):
            raise TypeError(f"features must be a mapping of name to value, got {type(fields).__name__}")
        return {name: self._checked(name, value, kind) for name, value in fields.items()}

    def _checked(self, name: object, value: object, kind: FeatureKind) -> Storable:
        """One field, every check made: :meth:`encode`'s general case and its error messages."""
        spec = self._specs.get(check_feature_name(name))
        if spec is not None:
            if spec.kind is not kind:
                raise ValueError(
                    f"feature {name!r} is a {spec.kind.value} feature and cannot be "
                    f"written on the {kind.value} path (it would get the wrong TTL)"
                )
            if not _matches(spec, value) and not _is_missing(value):
                raise TypeError(
                    f"feature {name!r} expects {spec.dtype.__name__}, got {type(value).__name__}: {value!r}"
                )
        try:
            if spec is not None and spec.dtype is float and isinstance(value, numbers.Integral):
                float(value)  # a whole number is a fine float, unless it would read back as inf
                return int(value)
            return to_storable(value)
        except OverflowError:
            raise ValueError(f"feature {name!r}: {_brief(value)} is too large for a float feature") from None
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"feature {name!r}: {exc}") from None

    def decode(self, fields: Mapping[str, str], entity: object = None) -> dict[str, FeatureValue]:
        """Decode features read from Redis; unknown features stay strings.

        Args:
            fields: Feature name -> stored text.
            entity: The entity id, named in the error.

        Raises:
            StoredDataError: A stored text is not its feature's type (another tool wrote it?),
                naming the entity, the feature and the text.
        """
        out: dict[str, FeatureValue] = {}
        for name, text in fields.items():
            spec = self._specs.get(name)
            out[name] = text if spec is None else self.decode_one(name, text, entity)
        return out

    def decode_one(self, name: str, text: str, entity: object = None) -> FeatureValue:
        """One stored text of a feature the schema knows, typed.

        Raises:
            StoredDataError: As :meth:`decode`.
        """
        try:
            return decode_value(text, self._specs[name].dtype)
        except ValueError as exc:
            raise StoredDataError(f"entity {entity!r}: feature {name!r}: {exc}") from None

    def __repr__(self) -> str:
        inner = ", ".join(f"{s.name}:{s.dtype.__name__}/{s.kind.value}" for s in self)
        return f"Schema({inner})"


_B, _S = FeatureKind.BATCH, FeatureKind.STREAMING

DEFAULT_SCHEMA = Schema(
    [
        FeatureSpec("country_iso", str, _B),
        FeatureSpec("risk_segment", str, _B),
        FeatureSpec("account_age_days", int, _B),
        FeatureSpec("tx_count_7d", int, _B),
        FeatureSpec("avg_amount_30d", float, _B),
        FeatureSpec("chargeback_count_180d", int, _B),
        FeatureSpec("last_login_ts", int, _S),
        FeatureSpec("last_device_id", str, _S),
        FeatureSpec("tx_count_5m", int, _S, default=0),
        FeatureSpec("failed_logins_15m", int, _S, default=0),
        FeatureSpec("session_country", str, _S),
    ]
)
"""The Redis docs demo's six batch and five streaming features of a payments user.

The two streaming counters default to 0 for freshness-aware reads: with no
recent event, zero transactions and zero failed logins is the neutral answer
(their status still says ``expired``)."""
