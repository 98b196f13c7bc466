"""Checks on what callers pass in: TTLs, chunk sizes, feature-name lists, and Redis's TTL replies.

Shared by :class:`fslib.FeatureStore` and its asyncio twin, so both refuse the
same input with the same message. Ids and prefixes are checked in
:mod:`fslib.keys`, feature values in :mod:`fslib.schema`.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

from fslib.errors import InvariantError
from fslib.schema import check_feature_name

__all__ = ["MAX_TTL_SECONDS", "check_chunk_size", "check_feature_names", "check_field_ttl_codes", "check_ttl"]

MAX_TTL_SECONDS = 365 * 24 * 60 * 60
"""The longest TTL fslib writes. Redis refuses field TTLs past about 2,000 years (and key
TTLs far later); a refused ``HEXPIRE`` after its ``HSET`` would leave a field without a
TTL. No batch cycle or streaming window comes near a year."""


def check_ttl(ttl_seconds: object, what: str = "ttl_seconds") -> int:
    """Return ``ttl_seconds`` if it is a whole number of seconds from 1 to :data:`MAX_TTL_SECONDS`.

    Raises:
        TypeError: Not an integer (floats are refused: Redis TTLs are whole seconds).
        ValueError: Zero, negative, or above :data:`MAX_TTL_SECONDS`.
    """
    if not isinstance(ttl_seconds, numbers.Integral) or isinstance(ttl_seconds, bool):
        raise TypeError(f"{what} must be an integer number of seconds, got {ttl_seconds!r}")
    seconds = int(ttl_seconds)
    if seconds <= 0:
        raise ValueError(f"{what} must be > 0, got {seconds}")
    if seconds > MAX_TTL_SECONDS:
        raise ValueError(
            f"{what} must be at most {MAX_TTL_SECONDS} s (365 days), got {seconds}: "
            "a TTL counts seconds from now (a Unix timestamp is not a TTL)"
        )
    return seconds


def check_chunk_size(chunk_size: object) -> int:
    """Return ``chunk_size`` if it is a positive integer.

    Raises:
        ValueError: It is not.
    """
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    return chunk_size


def check_feature_names(names: Sequence[str]) -> list[str]:
    """Return the requested feature names as a list.

    Raises:
        TypeError: ``names`` is one string, or a name is not a string.
        ValueError: A name is empty.
    """
    if isinstance(names, str):
        raise TypeError("feature names must be a list of strings, not one string")
    wanted = list(names)
    for name in wanted:
        if type(name) is not str or not name:  # on every read: a call only for the odd name
            check_feature_name(name)
    return wanted


def check_field_ttl_codes(command: str, key: str, fields: Sequence[str], codes: Sequence[int]) -> None:
    """Raise unless every code is 1, i.e. every written field got its TTL.

    ``HEXPIRE`` answers per field: 1 TTL set, 0 NX/XX/GT/LT condition not met,
    2 deleted because the TTL was <= 0, -2 no such field or key. ``HSETEX``
    answers one 1 when all fields were set with their expiry.

    Raises:
        InvariantError: Naming the command, key, fields and codes.
    """
    if any(code != 1 for code in codes):
        raise InvariantError(
            f"{command} invariant violated: not every field of {key} got its TTL: "
            f"fields {list(fields)}, codes {list(codes)} (1 set, 0 condition not met, "
            "2 deleted as TTL <= 0, -2 no such field or key)"
        )
