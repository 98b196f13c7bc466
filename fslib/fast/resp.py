"""RESP, by hand: fslib's batches as pre-encoded request buffers, and their replies read back.

Redis reads commands in RESP: ``*3\\r\\n$5\\r\\nHMGET\\r\\n$12\\r\\nfs:user:u001\\r\\n...``. A
redis-py pipeline encodes every command of a batch afresh; fslib's batches repeat
themselves (the same ``HMGET`` field list on every key, the same feature names
and TTL in every row of a bulk load), so these encoders encode the repeated
parts once and join the rest into one buffer. The bytes are exactly those of
redis-py's own ``pack_commands`` (tests/test_fast_transport.py checks it). The replies
are read with the connection's own ``read_response`` (hiredis parses them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from redis.connection import AbstractConnection
from redis.exceptions import ResponseError

from fslib.rows import EncodedRow

__all__ = ["Encoder", "bulk", "first_error", "pack_bulk_load", "pack_evals", "pack_hmgets", "read_replies"]


class Encoder(Protocol):
    """What the encoders need of a client's ``get_encoder()``: the text encoding Redis sees."""

    encoding: str
    encoding_errors: str


def bulk(data: bytes) -> bytes:
    """One RESP bulk string: ``$<length>\\r\\n<data>\\r\\n``."""
    return b"$%d\r\n%s\r\n" % (len(data), data)


def pack_hmgets(keys: Sequence[str], fields: Sequence[str], encoder: Encoder) -> bytes:
    """``HMGET key field...`` for every key, as one RESP request buffer.

    Args:
        keys: The keys, in reply order.
        fields: The fields read from each key (not empty).
        encoder: The client's ``get_encoder()``.

    Returns:
        The request bytes; ``len(keys)`` replies follow.
    """
    encoding, errors = encoder.encoding, encoder.encoding_errors
    # The field list is the same on every key: encode it once.
    tail = b"".join([bulk(name.encode(encoding, errors)) for name in fields])
    head = b"*%d\r\n$5\r\nHMGET\r\n" % (len(fields) + 2)
    return b"".join([head + bulk(key.encode(encoding, errors)) + tail for key in keys])


def pack_evals(script: str, groups: Sequence[Sequence[str]], args: Sequence[str], encoder: Encoder) -> bytes:
    """``EVAL script n key... arg...`` for every group of keys, as one RESP request buffer.

    Args:
        script: The Lua text (encoded once for every call).
        groups: The keys of each call, in reply order.
        args: The ``ARGV`` of every call.
        encoder: The client's ``get_encoder()``.

    Returns:
        The request bytes; ``len(groups)`` replies follow.
    """
    encoding, errors = encoder.encoding, encoder.encoding_errors
    head = bulk(b"EVAL") + bulk(script.encode(encoding, errors))
    tail = b"".join([bulk(arg.encode(encoding, errors)) for arg in args])
    return b"".join(
        [
            b"*%d\r\n" % (3 + len(keys) + len(args))
            + head
            + bulk(b"%d" % len(keys))
            + b"".join([bulk(key.encode(encoding, errors)) for key in keys])
            + tail
            for keys in groups
        ]
    )


def pack_bulk_load(rows: Sequence[EncodedRow], ttl_seconds: int, encoder: Encoder) -> bytes:
    """``HSET key field value ...`` and ``EXPIRE key ttl_seconds`` per row, as one RESP request buffer.

    Args:
        rows: ``(key, {field: value}, _)`` rows as a bulk load checks them, each with at least one
            field; values are text, or numbers written as redis-py writes them (``repr``).
        ttl_seconds: The key-level TTL.
        encoder: The client's ``get_encoder()``.

    Returns:
        The request bytes; two replies per row follow (``HSET``'s, then ``EXPIRE``'s).
    """
    encoding, errors = encoder.encoding, encoder.encoding_errors
    ttl = bulk(b"%d" % ttl_seconds)
    names: dict[str, bytes] = {}  # the rows share their feature names: encode each once
    parts: list[bytes] = []
    for key, mapping, _ in rows:
        key_bulk = bulk(key.encode(encoding, errors))
        parts.append(b"*%d\r\n$4\r\nHSET\r\n%b" % (2 + 2 * len(mapping), key_bulk))
        for name, value in mapping.items():
            name_bulk = names.get(name)
            if name_bulk is None:
                name_bulk = names[name] = bulk(name.encode(encoding, errors))
            parts.append(name_bulk)
            parts.append(bulk(value.encode(encoding, errors) if type(value) is str else repr(value).encode()))
        parts.append(b"*3\r\n$6\r\nEXPIRE\r\n%b%b" % (key_bulk, ttl))
    return b"".join(parts)


def read_replies(conn: AbstractConnection, count: int) -> list[Any]:
    """``count`` replies from ``conn``; an error reply stands in its place as the exception.

    Every reply is read, errors included, so the connection can go back to its pool clean.
    """
    replies: list[Any] = []
    for _ in range(count):
        try:
            replies.append(conn.read_response())
        except ResponseError as exc:  # read on: the later replies must leave the socket too
            replies.append(exc)
    return replies


def first_error(replies: Sequence[Any]) -> ResponseError | None:
    """The first error reply among ``replies`` (as :func:`read_replies` leaves them), or None."""
    return next((reply for reply in replies if isinstance(reply, ResponseError)), None)
