"""EntityInspection: one entity's whole hash with every field's TTL and the key TTL (debugging only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fslib.schema import DEFAULT_SCHEMA, Schema

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["EntityInspection", "FieldState"]


@dataclass(frozen=True)
class FieldState:
    """One field of an inspected hash."""

    value: str
    ttl_seconds: int
    """Seconds left on the field's own TTL, or -1 when only the key TTL covers it."""


@dataclass(frozen=True)
class EntityInspection:
    """What :meth:`fslib.FeatureStore.inspect` found: ``HGETALL``, ``TTL`` and ``HTTL`` of one key."""

    entity_id: str
    key: str
    key_ttl_seconds: int
    """``TTL`` of the key: seconds left, -1 no expiry, -2 no such entity."""
    fields: dict[str, FieldState] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        """False when the entity is absent (never written, expired or deleted)."""
        return self.key_ttl_seconds != -2

    def to_frame(self, schema: Schema = DEFAULT_SCHEMA) -> pd.DataFrame:
        """The fields as a DataFrame: value, kind (from ``schema``) and TTL."""
        import pandas as pd

        rows = [
            (name, state.value, spec.kind.value if (spec := schema.get(name)) else "unknown", state.ttl_seconds)
            for name, state in self.fields.items()
        ]
        return pd.DataFrame(rows, columns=["feature", "value", "kind", "field_ttl_seconds"])

    def __str__(self) -> str:
        if not self.exists:
            return f"{self.key}: no such entity (never written, expired or deleted)"
        key_ttl = "no expiry" if self.key_ttl_seconds == -1 else f"{self.key_ttl_seconds} s"
        lines = [f"{self.key}    TTL = {key_ttl} (key-level)"]
        width = max((len(n) + len(s.value) for n, s in self.fields.items()), default=0) + 3
        for name, state in self.fields.items():
            ttl = "<no field TTL>" if state.ttl_seconds == -1 else f"TTL = {state.ttl_seconds} s (field)"
            lines.append(f"  {f'{name}={state.value}':<{width}} {ttl}")
        return "\n".join(lines)
