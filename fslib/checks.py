"""Checks on what callers pass in, and on Redis's TTL replies: the one home of fslib's input rules.

Every entry point (the stores, the worker, the CLIs, the HTTP server, the notebook
helpers) refuses bad input through these functions, so one mistake gets one
message wherever it is made. Feature values are checked by :mod:`fslib.schema`.
"""

from __future__ import annotations

import datetime
import math
import numbers
import time
from collections.abc import Sequence

from fslib.errors import InvariantError

__all__ = [
    "EVENT_TIME_SUFFIX",
    "MAX_CLOCK_AHEAD_SECONDS",
    "MAX_TTL_SECONDS",
    "SEPARATOR",
    "check_chunk_size",
    "check_count",
    "check_entity_id",
    "check_entity_ids",
    "check_event_time",
    "check_feature_name",
    "check_feature_names",
    "check_field_ttl_codes",
    "check_key_ttl_replies",
    "check_prefix",
    "check_seconds",
    "check_text",
    "check_ttl",
]

MAX_TTL_SECONDS = 365 * 24 * 60 * 60
"""The longest TTL fslib writes. Redis refuses field TTLs past about 2,000 years (and key
TTLs far later); a refused ``HEXPIRE`` after its ``HSET`` would leave a field without a
TTL. No batch cycle or streaming window comes near a year."""

SEPARATOR = ":"
"""Ends every key prefix; never part of an entity id (see :mod:`fslib.keys`)."""

EVENT_TIME_SUFFIX = "@event_time"
"""``name + EVENT_TIME_SUFFIX`` is the hash field holding the event time of feature ``name``'s value
(epoch milliseconds), written beside it by event-time writes; no feature name may end with it."""

MAX_CLOCK_AHEAD_SECONDS = 60
"""How far past this machine's clock an event time may be: the clock skew of a producer. A later
one is refused: the event-time guard would keep its value and drop every real update before that
moment as late, while ``max_age_seconds`` could never call it old."""

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


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


def check_count(value: object, what: str, minimum: int = 1) -> int:
    """Return ``value`` if it is a whole number >= ``minimum`` (a count of users, rounds, entities).

    Raises:
        TypeError: Not an integer.
        ValueError: Below ``minimum``.
    """
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{what} must be a whole number, got {value!r}")
    if value < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {value}")
    return int(value)


def check_chunk_size(chunk_size: object) -> int:
    """Return ``chunk_size`` if it is a positive integer.

    Raises:
        ValueError: It is not.
    """
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    return chunk_size


def check_seconds(value: object, what: str, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a float if it is a finite number of seconds > 0 (>= 0 with ``allow_zero``).

    Raises:
        TypeError: Not a number.
        ValueError: Not finite, or not above zero (below zero, with ``allow_zero``).
    """
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{what} must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{what} must be a finite number {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return float(value)


def check_text(text: str) -> str:
    """Return ``text`` if Redis can store it as UTF-8 (no lone surrogates).

    Raises:
        ValueError: It is not valid UTF-8 text.
    """
    if not text.isascii():  # the usual text is ASCII: one C call, no copy
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{text!r} cannot be stored: it is not valid UTF-8 text (a lone surrogate?)") from None
    return text


def check_feature_name(name: object) -> str:
    """Return ``name`` if it is a non-empty string.

    Raises:
        TypeError: ``name`` is not a string.
        ValueError: ``name`` is empty, or not valid UTF-8 text.
    """
    if not isinstance(name, str):
        raise TypeError(f"feature name must be a string, got {type(name).__name__}: {name!r}")
    if not name:
        raise ValueError("feature name must not be empty")
    if name.endswith(EVENT_TIME_SUFFIX):
        raise ValueError(f"feature name {name!r} ends with {EVENT_TIME_SUFFIX!r}, the field of a feature's event time")
    return check_text(name)


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
        if type(name) is not str or not name or name.endswith(EVENT_TIME_SUFFIX):  # a call only for the odd name
            check_feature_name(name)
    return wanted


def check_event_time(event_time: object, what: str = "event_time") -> int:
    """Return an event time as epoch milliseconds: from an int of milliseconds, or a timezone-aware datetime.

    Raises:
        TypeError: Neither (a float, text, a naive datetime: its moment is ambiguous).
        ValueError: Not after 1970, or more than :data:`MAX_CLOCK_AHEAD_SECONDS` past this machine's clock.
    """
    if isinstance(event_time, datetime.datetime):
        if event_time.utcoffset() is None:
            raise TypeError(f"{what} {event_time!r} has no timezone: give one (e.g. datetime.UTC)")
        milliseconds = (event_time - _EPOCH) // datetime.timedelta(milliseconds=1)
    elif isinstance(event_time, numbers.Integral) and not isinstance(event_time, bool):
        milliseconds = int(event_time)
    else:
        raise TypeError(
            f"{what} must be epoch milliseconds (int) or a timezone-aware datetime, got {type(event_time).__name__}: "
            f"{event_time!r}"
        )
    if milliseconds <= 0:
        raise ValueError(f"{what} must be after 1970, got {milliseconds} ms")
    ahead_seconds = milliseconds / 1000 - time.time()
    if ahead_seconds > MAX_CLOCK_AHEAD_SECONDS:
        raise ValueError(
            f"{what} {milliseconds} ms is {ahead_seconds:.0f} s past this machine's clock (at most "
            f"{MAX_CLOCK_AHEAD_SECONDS} s): a future-dated value would make every real update before it read as late"
        )
    return milliseconds


def check_entity_id(entity_id: object) -> str:
    """Return ``entity_id`` as a string; integers are accepted and converted.

    Raises:
        TypeError: Not a string or integer.
        ValueError: Empty, containing ``:`` (it would reach into a nested store's keys),
            or not valid UTF-8 text.
    """
    if type(entity_id) is str and entity_id and entity_id.isascii() and SEPARATOR not in entity_id:
        return entity_id  # the usual id, without the checks below
    if isinstance(entity_id, numbers.Integral) and not isinstance(entity_id, bool):
        return str(int(entity_id))
    if not isinstance(entity_id, str):
        raise TypeError(f"entity id must be a string, got {type(entity_id).__name__}: {entity_id!r}")
    if not entity_id:
        raise ValueError("entity id must not be empty")
    if SEPARATOR in entity_id:
        raise ValueError(
            f"entity id {entity_id!r} must not contain {SEPARATOR!r}: keys with more {SEPARATOR!r} after "
            "the prefix belong to stores with longer prefixes"
        )
    try:
        return check_text(entity_id)
    except ValueError:
        raise ValueError(f"entity id {entity_id!r} is not valid UTF-8 text (a lone surrogate?)") from None


def check_entity_ids(entity_ids: Sequence[object]) -> list[str]:
    """Return the ids of a batch as strings (see :func:`check_entity_id`).

    Raises:
        TypeError: ``entity_ids`` is one string (it would read one entity per character), or an id is
            not a string or integer.
        ValueError: An id is empty, contains ``:`` or is not valid UTF-8 text.
    """
    if isinstance(entity_ids, (str, bytes)):
        raise TypeError(f"entity_ids must be a list of ids, not one string: {entity_ids!r}")
    return [check_entity_id(entity_id) for entity_id in entity_ids]


def check_prefix(key_prefix: object) -> str:
    """Return ``key_prefix`` if a store can own the keys under it.

    Raises:
        ValueError: Not a non-empty string ending with ``:``.
    """
    if not isinstance(key_prefix, str) or not key_prefix:
        raise ValueError(f"key_prefix must be a non-empty string, got {key_prefix!r}")
    if not key_prefix.endswith(SEPARATOR):
        raise ValueError(
            f"key_prefix must end with {SEPARATOR!r}, got {key_prefix!r}: then no other store's keys "
            f"fall under it (e.g. {key_prefix + SEPARATOR!r})"
        )
    return key_prefix


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


def check_key_ttl_replies(rows: Sequence[Sequence[object]], replies: Sequence[object]) -> None:
    """Raise unless every ``EXPIRE`` of a bulk load answered 1 (the key got its TTL).

    ``EXPIRE`` answers 0 only for a key that does not exist, which the ``HSET``
    just before it wrote: another client deleted it, or Redis evicted it.

    Args:
        rows: The rows written (each starts with its key), in command order.
        replies: Their ``EXPIRE`` replies.

    Raises:
        InvariantError: Naming the keys that got no TTL.
    """
    if not all(replies):
        missed = [row[0] for row, reply in zip(rows, replies) if not reply]
        raise InvariantError(
            f"EXPIRE did not give {len(missed)} of {len(rows)} entities their key TTL (deleted or evicted "
            f"right after their HSET?): {missed[:5]}"
        )
