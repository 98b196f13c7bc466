"""Feature vectors that say how fresh they are: a value (or the schema's default) and a status per feature.

A plain read leaves a missing field out, so a model server cannot tell a
streaming feature whose TTL ran out from an entity that was never loaded.
:meth:`fslib.FeatureStore.get_feature_vector` reads whether the entity exists
and its fields in one atomic step, and :class:`VectorRead` turns the answer
into a status per feature:

===================  ==========================================================
status               meaning
===================  ==========================================================
``present``          the field is there; the value is its typed value
``stale``            the field is there, but its event time is older than the
                     read's ``max_age_seconds``
``expired``          a streaming feature is absent while its entity exists: its
                     field TTL ran out (the streaming pipeline stalled), or it
                     was never streamed for this entity
``missing``          a batch feature is absent while its entity exists (this
                     entity was loaded without it)
``entity_missing``   no key at all: the batch cycle expired it, or it was never loaded
``unknown_feature``  not in the schema: nothing was read for it
``invalid``          Redis holds something fslib cannot read here (a value that is
                     not the feature's type, or a key that is not a hash):
                     ``errors`` says what
===================  ==========================================================

Whenever the status is not ``present``, the value is the feature's schema
default (``None`` without one). A streaming feature written with an event time
(:meth:`fslib.FeatureStore.update_streaming`) carries it in ``event_times``
(epoch milliseconds; None where the value was written without one). Its age
is judged against the reader's clock.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fslib.checks import EVENT_TIME_SUFFIX, check_seconds
from fslib.errors import StoredDataError
from fslib.schema import FeatureKind, FeatureValue, Schema

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FeatureStatus", "FeatureVector", "FeatureVectors", "VectorRead", "unreadable_key"]


def unreadable_key(key: str, error: Exception) -> str:
    """Why a read of ``key`` found no feature hash: the error Redis answered (``WRONGTYPE``: another kind of key)."""
    return f"the key {key!r} holds no feature hash (another tool wrote a different type there?): {error}"


class FeatureStatus(enum.StrEnum):
    """Why a feature vector holds the value it holds (see the module's table)."""

    PRESENT = "present"
    STALE = "stale"
    EXPIRED = "expired"
    MISSING = "missing"
    ENTITY_MISSING = "entity_missing"
    UNKNOWN_FEATURE = "unknown_feature"
    INVALID = "invalid"


@dataclass(frozen=True)
class FeatureVector:
    """One entity's requested features: typed values (or defaults) and a status each, in request order."""

    entity_id: str
    values: dict[str, FeatureValue | None]
    statuses: dict[str, FeatureStatus]
    event_times: dict[str, int | None] = field(default_factory=dict)
    """Epoch milliseconds of each value's event, where it was written with one (else None)."""
    errors: dict[str, str] = field(default_factory=dict)
    """What Redis holds that could not be read, for each ``invalid`` feature."""

    @property
    def entity_exists(self) -> bool:
        """False when the entity has no key at all (fall back to a default decision).

        Told by the statuses of known features, so a vector of unknown features alone says True.
        """
        return FeatureStatus.ENTITY_MISSING not in self.statuses.values()

    @property
    def all_present(self) -> bool:
        """True when every requested feature was read from Redis, fresh enough."""
        return all(status is FeatureStatus.PRESENT for status in self.statuses.values())

    def as_dict(self) -> dict[str, Any]:
        """``{"entity_id", "values", "statuses", "event_times", "errors"}``, JSON-ready."""
        statuses = {name: status.value for name, status in self.statuses.items()}
        return {
            "entity_id": self.entity_id,
            "values": dict(self.values),
            "statuses": statuses,
            "event_times": dict(self.event_times),
            "errors": dict(self.errors),
        }


class FeatureVectors(dict[str, FeatureVector]):
    """Entity id -> :class:`FeatureVector` of a batch read, with :meth:`to_frame`."""

    def present_count(self) -> int:
        """How many values were read from Redis and served (status ``present``), over every entity."""
        present = FeatureStatus.PRESENT
        return sum(list(vector.statuses.values()).count(present) for vector in self.values())

    def to_frame(self) -> pd.DataFrame:
        """Entities as rows; per feature a typed value column and a ``<feature>__status`` column."""
        import pandas as pd

        columns: dict[str, list[Any]] = {}
        for vector in self.values():
            for name, value in vector.values.items():
                columns.setdefault(name, []).append(value)
                columns.setdefault(f"{name}__status", []).append(vector.statuses[name].value)
        frame = pd.DataFrame(columns, index=pd.Index(list(self), name="entity_id"))
        return frame.convert_dtypes()  # nullable Int64/Float64/boolean/string, <NA> for None


class VectorRead:
    """One freshness-aware read: which fields to ask Redis for, and the vectors its replies make.

    Built once per call from the requested names, so turning each entity's
    reply into a vector is a walk over precomputed specs.

    Args:
        schema: Each feature's kind, type and default.
        names: The requested features, in order (unknown ones included).
        key_prefix: The store's prefix, to name an unreadable entity's key.
        max_age_seconds: A present value whose event time is older than this is ``stale``.
        now_ms: The time the read measures ages against (epoch ms); now by default.

    Raises:
        TypeError, ValueError: ``max_age_seconds`` is not a number > 0.
    """

    def __init__(
        self,
        schema: Schema,
        names: Sequence[str],
        key_prefix: str,
        max_age_seconds: float | None = None,
        now_ms: int | None = None,
    ) -> None:
        self.schema = schema
        self.key_prefix = key_prefix
        self.names = list(names)
        specs = {name: schema.get(name) for name in self.names}
        self._kinds = {name: spec.kind for name, spec in specs.items() if spec is not None}
        streaming = [name for name, kind in self._kinds.items() if kind is FeatureKind.STREAMING]
        self.fields = [*self._kinds, *(name + EVENT_TIME_SUFFIX for name in streaming)]
        """The hash fields to read: the known features (each once), then the streaming ones' event times."""
        self._oldest_ms: int | None = None
        if max_age_seconds is not None:
            now = int(time.time() * 1000) if now_ms is None else now_ms
            self._oldest_ms = now - int(check_seconds(max_age_seconds, "max_age_seconds") * 1000)
        # What the common case needs, ready to copy: the defaults, and every status an absent field gets.
        self._defaults = {name: None if spec is None else spec.default for name, spec in specs.items()}
        self._if_exists = {name: self._absent(self._kinds.get(name), 1) for name, spec in specs.items()}
        self._if_missing = {name: self._absent(self._kinds.get(name), 0) for name, spec in specs.items()}
        self._parses = [(name, index, _PARSE[schema[name].dtype]) for index, name in enumerate(self._kinds)]
        self._time_at = [(name, len(self._kinds) + index) for index, name in enumerate(streaming)]

    def vector(self, entity_id: str, exists: object, values: Sequence[str | None] | Exception) -> FeatureVector:
        """The vector of one entity from its atomic read: ``EXISTS`` and ``HMGET`` of :attr:`fields`.

        Args:
            entity_id: The entity.
            exists: The ``EXISTS`` reply (0 or 1).
            values: The ``HMGET`` reply, or the error Redis answered instead (``WRONGTYPE``).
        """
        if isinstance(values, Exception):
            return self._unreadable(entity_id, values)
        try:
            return self._parsed(entity_id, exists, values)
        except (ValueError, KeyError):  # a stored text fslib never writes: find which, and name it
            return self._careful(entity_id, exists, values)

    def _parsed(self, entity_id: str, exists: object, values: Sequence[str | None]) -> FeatureVector:
        """:meth:`vector` for text fslib wrote (hot path: precomputed tables, no per-field checks).

        Raises:
            ValueError, KeyError: A stored text is not its feature's type.
        """
        out: dict[str, FeatureValue | None] = self._defaults.copy()
        statuses = (self._if_exists if exists else self._if_missing).copy()
        times = {name: None if (text := values[at]) is None else int(text) for name, at in self._time_at}
        oldest = self._oldest_ms
        for name, at, parse in self._parses:
            text = values[at]
            if text is None:
                continue
            if oldest is not None and (event_ms := times.get(name)) is not None and event_ms < oldest:
                statuses[name] = FeatureStatus.STALE
            else:
                out[name], statuses[name] = text if parse is None else parse(text), FeatureStatus.PRESENT
        return FeatureVector(entity_id, out, statuses, times)

    def _careful(self, entity_id: str, exists: object, values: Sequence[str | None]) -> FeatureVector:
        """:meth:`vector` field by field, giving the field Redis holds unreadable text for the status ``invalid``."""
        read = dict(zip(self.fields, values))
        out: dict[str, FeatureValue | None] = {}
        statuses: dict[str, FeatureStatus] = {}
        event_times: dict[str, int | None] = {}
        errors: dict[str, str] = {}
        for name in self.names:
            kind, text = self._kinds.get(name), read.get(name)
            if kind is None:
                out[name], statuses[name] = None, FeatureStatus.UNKNOWN_FEATURE
                continue
            out[name] = self.schema[name].default
            try:
                if kind is FeatureKind.STREAMING:
                    event_times[name] = _event_ms(entity_id, name, read.get(name + EVENT_TIME_SUFFIX))
                if text is None:
                    statuses[name] = self._absent(kind, exists)
                elif self._too_old(event_times.get(name)):
                    statuses[name] = FeatureStatus.STALE
                else:
                    out[name], statuses[name] = self.schema.decode_one(name, text, entity_id), FeatureStatus.PRESENT
            except StoredDataError as exc:
                statuses[name], errors[name] = FeatureStatus.INVALID, str(exc)
        return FeatureVector(entity_id, out, statuses, event_times, errors)

    def _too_old(self, event_ms: int | None) -> bool:
        return self._oldest_ms is not None and event_ms is not None and event_ms < self._oldest_ms

    @staticmethod
    def _absent(kind: FeatureKind | None, exists: object) -> FeatureStatus:
        if kind is None:
            return FeatureStatus.UNKNOWN_FEATURE
        if not exists:
            return FeatureStatus.ENTITY_MISSING
        return FeatureStatus.EXPIRED if kind is FeatureKind.STREAMING else FeatureStatus.MISSING

    def _unreadable(self, entity_id: str, error: Exception) -> FeatureVector:
        """Every known feature ``invalid``: the entity's key holds no hash (``WRONGTYPE``)."""
        problem = f"entity {entity_id!r}: {unreadable_key(self.key_prefix + entity_id, error)}"
        out: dict[str, FeatureValue | None] = {}
        statuses: dict[str, FeatureStatus] = {}
        errors: dict[str, str] = {}
        for name in self.names:
            spec = self.schema.get(name)
            if spec is None:
                out[name], statuses[name] = None, FeatureStatus.UNKNOWN_FEATURE
            else:
                out[name], statuses[name] = spec.default, FeatureStatus.INVALID
                errors[name] = problem
        return FeatureVector(entity_id, out, statuses, errors=errors)


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text!r} is not a finite float")
    return number


_BOOLS = {"true": True, "false": False}
_PARSE: dict[type, Callable[[str], FeatureValue] | None] = {
    int: int,
    float: _finite_float,
    bool: _BOOLS.__getitem__,
    str: None,  # text is the value
}
"""How the hot path parses each type (any other text raises, and the careful path names it)."""


def _event_ms(entity_id: str, name: str, text: str | None) -> int | None:
    """A stored event time (epoch ms), or None where the value was written without one.

    Raises:
        StoredDataError: The stored event time is not a whole number (another tool wrote it?).
    """
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise StoredDataError(
            f"entity {entity_id!r}: feature {name!r}: stored event time {text[:40]!r} is not epoch milliseconds"
        ) from None
