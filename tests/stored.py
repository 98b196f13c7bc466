"""What Redis holds for a feature value: the Redis docs demo's encoding, written out as the tests expect it.

Booleans as ``true``/``false``, floats as their shortest round-trip decimal (``repr``),
integers and strings as they are. An oracle of its own, not fslib's code: the
tests compare what Redis really stores against it.
"""

from __future__ import annotations

__all__ = ["stored_row", "stored_text"]


def stored_text(value: object) -> str:
    """The text ``HGET`` returns for ``value`` written by fslib."""
    if type(value).__name__ in ("bool", "bool_"):  # numpy 2 names its own bool "bool" too
        return "true" if value else "false"
    if isinstance(value, float) or type(value).__name__.startswith("float"):
        return repr(float(value))  # type: ignore[arg-type]
    if type(value).__name__.startswith("int"):
        return str(int(value))  # type: ignore[call-overload]
    return str(value)


def stored_row(features: dict[str, object]) -> dict[str, str]:
    """``HGETALL`` of a hash holding ``features``."""
    return {name: stored_text(value) for name, value in features.items()}
