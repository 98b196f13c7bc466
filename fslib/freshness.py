"""Feature vectors that say how fresh they are: a value (or the schema's default) and a status per feature.

A plain read leaves a missing field out, so a model server cannot tell a
streaming feature whose TTL ran out from an entity that was never loaded.
:meth:`fslib.FeatureStore.get_feature_vector` reads ``EXISTS`` and ``HMGET`` in
one round trip, and :func:`feature_vector` turns the two replies into a status
per feature:

==================  ===========================================================
status              meaning
==================  ===========================================================
``present``         the field is there; the value is its typed value
``expired``         a streaming feature is absent while its entity exists: its
                    field TTL ran out (the streaming pipeline stalled), or it
                    was never streamed for this entity
``missing``         a batch feature is absent while its entity exists (this
                    entity was loaded without it)
``entity_missing``  no key at all: the batch cycle expired it, or it was never loaded
``unknown_feature`` not in the schema: nothing was read for it
==================  ===========================================================

Whenever the status is not ``present``, the value is the feature's schema
default (``None`` without one).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

from fslib.schema import FeatureKind, FeatureValue, Schema, decode_value

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FeatureStatus", "FeatureVector", "FeatureVectors", "feature_vector"]


class FeatureStatus(enum.StrEnum):
    """Why a feature vector holds the value it holds (see the module's table)."""

    PRESENT = "present"
    EXPIRED = "expired"
    MISSING = "missing"
    ENTITY_MISSING = "entity_missing"
    UNKNOWN_FEATURE = "unknown_feature"


@dataclass(frozen=True)
class FeatureVector:
    """One entity's requested features: typed values (or defaults) and a status each, in request order."""

    entity_id: str
    values: dict[str, FeatureValue | None]
    statuses: dict[str, FeatureStatus]

    @property
    def entity_exists(self) -> bool:
        """False when the entity has no key at all (fall back to a default decision).

        Told by the statuses of known features, so a vector of unknown features alone says True.
        """
        return FeatureStatus.ENTITY_MISSING not in self.statuses.values()

    @property
    def all_present(self) -> bool:
        """True when every requested feature was read from Redis."""
        return all(status is FeatureStatus.PRESENT for status in self.statuses.values())

    def as_dict(self) -> dict[str, Any]:
        """``{"entity_id": ..., "values": {...}, "statuses": {...}}``, JSON-ready."""
        statuses = {name: status.value for name, status in self.statuses.items()}
        return {"entity_id": self.entity_id, "values": dict(self.values), "statuses": statuses}


class FeatureVectors(dict[str, FeatureVector]):
    """Entity id -> :class:`FeatureVector` of a batch read, with :meth:`to_frame`."""

    @classmethod
    def from_replies(cls, schema: Schema, ids: Sequence[str], names: Sequence[str], replies: Sequence[Any]) -> Self:
        """The vectors of a pipeline that sent, per id, ``EXISTS key`` then ``HMGET key <names the schema knows>``.

        No ``HMGET`` was sent when the schema knows none of ``names``.
        """
        with_hmget = any(name in schema for name in names)
        replies_of = iter(replies)
        vectors = cls()
        for entity_id in ids:
            exists, values = next(replies_of), next(replies_of) if with_hmget else []
            vectors[entity_id] = feature_vector(schema, entity_id, names, exists, values)
        return vectors

    def present_count(self) -> int:
        """How many values were read from Redis (status ``present``), over every entity."""
        return sum(status is FeatureStatus.PRESENT for vector in self.values() for status in vector.statuses.values())

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


def feature_vector(
    schema: Schema, entity_id: str, names: Sequence[str], exists: int, values: Sequence[str | None]
) -> FeatureVector:
    """Statuses and values from the replies of ``EXISTS key`` and ``HMGET key <known names>``.

    Args:
        schema: Gives each feature's kind, type and default.
        entity_id: The entity read.
        names: The requested features, in order (unknown ones included).
        exists: The ``EXISTS`` reply (0 or 1).
        values: The ``HMGET`` reply for the names the schema knows, in their order.

    Returns:
        The vector. A value present in ``HMGET`` proves the entity exists even if
        ``EXISTS``, sent first, saw nothing (it was written in between).
    """
    replies = iter(values)
    read = {name: next(replies) for name in names if name in schema}
    exists = exists or any(text is not None for text in read.values())
    out_values: dict[str, FeatureValue | None] = {}
    statuses: dict[str, FeatureStatus] = {}
    for name in names:
        spec = schema.get(name)
        text = read.get(name)
        if spec is None:
            out_values[name], statuses[name] = None, FeatureStatus.UNKNOWN_FEATURE
        elif text is not None:
            out_values[name], statuses[name] = decode_value(text, spec.dtype), FeatureStatus.PRESENT
        else:
            out_values[name] = spec.default
            if not exists:
                statuses[name] = FeatureStatus.ENTITY_MISSING
            elif spec.kind is FeatureKind.STREAMING:
                statuses[name] = FeatureStatus.EXPIRED
            else:
                statuses[name] = FeatureStatus.MISSING
    return FeatureVector(entity_id, out_values, statuses)
