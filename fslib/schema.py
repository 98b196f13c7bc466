"""Feature specs, and how values travel as Redis hash fields (text) and back.

Redis stores every field as bytes. fslib uses the seed's encoding: booleans
as ``true``/``false``, integers and floats as decimal text, strings as they
are. A :class:`Schema` knows each feature's type and whether it is a batch
feature (covered by the key-level TTL) or a streaming feature (its own field
TTL), so reads can come back typed and writes can be checked.
"""

from __future__ import annotations

import enum
import math
import numbers
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

__all__ = [
    "DEFAULT_SCHEMA",
    "FeatureKind",
    "FeatureSpec",
    "FeatureValue",
    "Schema",
    "check_feature_name",
    "decode_value",
    "encode_value",
]

FeatureValue = Union[bool, int, float, str]
"""What a feature may hold. ``None``, containers and NaN/inf are refused."""


class FeatureKind(str, enum.Enum):
    """Which TTL layer covers a feature."""

    BATCH = "batch"
    """Bulk-loaded each materialization cycle; lives as long as the key-level TTL."""
    STREAMING = "streaming"
    """Written per event; each field carries its own, shorter TTL."""


_DTYPES: dict[type, str] = {bool: "boolean", int: "Int64", float: "Float64", str: "string"}


@dataclass(frozen=True)
class FeatureSpec:
    """One feature: its name, Python type and TTL layer."""

    name: str
    dtype: type
    kind: FeatureKind

    def __post_init__(self) -> None:
        check_feature_name(self.name)
        if self.dtype not in _DTYPES:
            raise TypeError(f"feature {self.name!r}: dtype must be bool, int, float or str")

    @property
    def pandas_dtype(self) -> str:
        """The nullable pandas dtype of this feature's column."""
        return _DTYPES[self.dtype]


def check_feature_name(name: object) -> str:
    """Return ``name`` if it is a non-empty string.

    Raises:
        TypeError: ``name`` is not a string.
        ValueError: ``name`` is empty.
    """
    if not isinstance(name, str):
        raise TypeError(f"feature name must be a string, got {type(name).__name__}: {name!r}")
    if not name:
        raise ValueError("feature name must not be empty")
    return name


def encode_value(value: object) -> str:
    """Encode one feature value as the text stored in Redis.

    Args:
        value: A bool, int, float or str (numpy scalars of those kinds too).

    Returns:
        ``"true"``/``"false"`` for booleans, decimal text for numbers, strings unchanged.

    Raises:
        TypeError: ``value`` is None, a container or another unsupported type.
        ValueError: ``value`` is NaN or infinite.
    """
    # Exact built-ins first: on bulk loads the ABC checks below cost more than the encoding.
    if type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    # bool before int: bool is a subclass of int, and numpy's bool_ is neither.
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if type(value) is float or isinstance(value, numbers.Real):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{number} is not a storable feature value (NaN/inf)")
        return repr(number)
    raise TypeError(
        f"unsupported feature value type {type(value).__name__}: {value!r} "
        "(use bool, int, float or str)"
    )


def decode_value(text: str, dtype: type) -> FeatureValue:
    """Parse text read from Redis back into ``dtype``.

    Raises:
        ValueError: The text is not a valid ``dtype`` value.
    """
    if dtype is bool:
        if text not in ("true", "false"):
            raise ValueError(f"{text!r} is not a boolean feature value")
        return text == "true"
    if dtype is int:
        return int(text)
    if dtype is float:
        return float(text)
    return text


_EXACT_TEXT: dict[type, Callable[[Any], str]] = {
    str: str,
    int: int.__repr__,
    float: float.__repr__,
    bool: {True: "true", False: "false"}.__getitem__,
}
"""The text of a value of exactly a spec's built-in type (a float already known to be finite)."""


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

    def encode(self, fields: Mapping[str, object], kind: FeatureKind) -> dict[str, str]:
        """Check and encode a set of features about to be written as ``kind``.

        Features the schema does not know are encoded by their Python type.

        Args:
            fields: Feature name to value.
            kind: The write path: batch (key TTL) or streaming (field TTL).

        Returns:
            Feature name to encoded text.

        Raises:
            TypeError: A name is not a string or a value has the wrong type.
            ValueError: A name is empty, a value is NaN/inf, or a feature of the
                other kind is written on this path (it would get the wrong TTL).
        """
        if not isinstance(fields, Mapping):
            raise TypeError(f"features must be a mapping of name to value, got {type(fields).__name__}")
        encoded = {}
        specs = self._specs
        for name, value in fields.items():
            spec = specs.get(name)
            # The usual field, checked inline (bulk loads encode millions): a feature of this
            # path holding exactly its built-in type, a finite number if a float.
            if (
                spec is not None
                and spec.kind is kind
                and type(value) is spec.dtype
                and (spec.dtype is not float or math.isfinite(value))
            ):
                encoded[name] = _EXACT_TEXT[spec.dtype](value)
            else:
                encoded[name] = self._checked_text(name, value, kind)
        return encoded

    def _checked_text(self, name: object, value: object, kind: FeatureKind) -> str:
        """One field's text, every check made: :meth:`encode`'s general case and error messages."""
        check_feature_name(name)
        spec = self._specs.get(name)  # type: ignore[arg-type]
        if spec is not None:
            if spec.kind is not kind:
                raise ValueError(
                    f"feature {name!r} is a {spec.kind.value} feature and cannot be "
                    f"written on the {kind.value} path (it would get the wrong TTL)"
                )
            if not _matches(spec, value):
                raise TypeError(
                    f"feature {name!r} expects {spec.dtype.__name__}, "
                    f"got {type(value).__name__}: {value!r}"
                )
        try:
            return encode_value(value)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"feature {name!r}: {exc}") from None

    def decode(self, fields: Mapping[str, str]) -> dict[str, FeatureValue]:
        """Decode features read from Redis; unknown features stay strings."""
        out: dict[str, FeatureValue] = {}
        for name, text in fields.items():
            spec = self._specs.get(name)
            out[name] = text if spec is None else decode_value(text, spec.dtype)
        return out

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
        FeatureSpec("tx_count_5m", int, _S),
        FeatureSpec("failed_logins_15m", int, _S),
        FeatureSpec("session_country", str, _S),
    ]
)
"""The seed's six batch and five streaming features of a payments user."""
