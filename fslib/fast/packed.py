"""The packed transport: fslib's batches as pre-encoded RESP buffers, sent and read back through redis-py.

Opt in with ``FeatureStore(client, transport="packed")``; the commands, answers,
errors and retries are those of the default redis-py pipelines.

A redis-py pipeline spends most of a batch in Python: it queues, encodes and
parses N separate commands one by one while Redis waits. fslib's batches repeat
themselves (the same ``HMGET`` field list on every key, the same feature names
and TTL in every row of a bulk load), so fslib encodes the repeated parts once
and the whole batch as one RESP buffer, hands it to the connection's
``send_packed_command`` and reads the replies with its ``read_response``.
Pooling, auth, TLS, retries and the hiredis parser all stay redis-py's. Redis
runs plain commands: they interleave with other clients' commands (a Lua script
would hold them all up), and reads may go to read-only replicas.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import chain
from types import TracebackType
from typing import Any

from redis.cluster import RedisCluster
from redis.exceptions import AskError, ClusterDownError, ResponseError, SlotNotCoveredError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from fslib.schema import EncodedFields, Storable

__all__ = [
    "PackedStream",
    "PackedTransport",
    "bulk_load_by_node",
    "execute_by_node",
    "execute_packed",
    "execute_packed_async",
    "hmget_by_node",
    "pack_bulk_load",
    "pack_hmgets",
]

logger = logging.getLogger(__name__)

_STALE_ROUTING = (AskError, ClusterDownError, TryAgainError)
"""Replies saying the client's slot table is out of date or the cluster is changing (MovedError is an AskError)."""


def _bulk(data: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(data), data)


def pack_hmgets(keys: Sequence[str], fields: Sequence[str], encoder: Any) -> bytes:
    """``HMGET key field...`` for every key, as one RESP request buffer.

    Args:
        keys: The keys, in reply order.
        fields: The fields read from each key (not empty).
        encoder: The client's ``get_encoder()``, whose text encoding Redis sees.

    Returns:
        The request bytes for :func:`execute_packed`; ``len(keys)`` replies follow.
    """
    encoding, errors = encoder.encoding, encoder.encoding_errors
    # The field list is the same on every key: encode it once.
    tail = b"".join([_bulk(name.encode(encoding, errors)) for name in fields])
    head = b"*%d\r\n$5\r\nHMGET\r\n" % (len(fields) + 2)
    return b"".join([head + _bulk(key.encode(encoding, errors)) + tail for key in keys])


def pack_bulk_load(rows: Sequence[tuple[str, Mapping[str, Storable]]], ttl_seconds: int, encoder: Any) -> bytes:
    """``HSET key field value ...`` and ``EXPIRE key ttl_seconds`` per row, as one RESP request buffer.

    Args:
        rows: ``(key, {field: value})`` pairs, each with at least one field; values
            are text, or numbers written as redis-py writes them (``repr``).
        ttl_seconds: The key-level TTL.
        encoder: The client's ``get_encoder()``.

    Returns:
        The request bytes; two replies per row follow.
    """
    encoding, errors = encoder.encoding, encoder.encoding_errors
    ttl = _bulk(b"%d" % ttl_seconds)
    names: dict[str, bytes] = {}  # the rows share their feature names: encode each once
    parts: list[bytes] = []
    for key, mapping in rows:
        key_bulk = _bulk(key.encode(encoding, errors))
        parts.append(b"*%d\r\n$4\r\nHSET\r\n%b" % (2 + 2 * len(mapping), key_bulk))
        for name, value in mapping.items():
            name_bulk = names.get(name)
            if name_bulk is None:
                name_bulk = names[name] = _bulk(name.encode(encoding, errors))
            parts.append(name_bulk)
            parts.append(_bulk(value.encode(encoding, errors) if type(value) is str else repr(value).encode()))
        parts.append(b"*3\r\n$6\r\nEXPIRE\r\n%b%b" % (key_bulk, ttl))
    return b"".join(parts)


def execute_packed(client: Any, payload: bytes, replies: int) -> list[Any]:
    """Send ``payload`` on one of ``client``'s pooled connections and read ``replies`` replies.

    A lost connection is retried under the client's retry policy, the whole
    buffer again: only send commands that are safe to repeat (reads, or writes
    that set the same values again). An error reply is raised once every reply
    has been read, so the connection goes back to the pool clean.

    Args:
        client: A ``redis.Redis`` (one server, not a cluster).
        payload: Encoded commands (see :func:`pack_hmgets`, :func:`pack_bulk_load`).
        replies: How many replies ``payload`` asks for.

    Returns:
        The replies, decoded as ``client`` decodes them, in command order.

    Raises:
        redis.exceptions.ResponseError: The first error reply (e.g. ``WRONGTYPE``).
        redis.exceptions.ConnectionError, TimeoutError: Still failing after the retries.
    """
    pool = client.connection_pool
    conn = pool.get_connection()
    try:
        return conn.retry.call_with_retry(
            lambda: _send_and_read(conn, payload, replies), lambda _error: conn.disconnect()
        )
    except ResponseError:
        raise  # raised after the last reply: the connection is clean
    except BaseException:
        conn.disconnect()  # replies may still be unread
        raise
    finally:
        pool.release(conn)


def _send_and_read(conn: Any, payload: bytes, replies: int) -> list[Any]:
    conn.send_packed_command([payload])  # a list: a bare bytes object would be sent byte by byte
    results, error = _read_replies(conn, replies)
    if error is not None:
        raise error
    return results


def _read_replies(conn: Any, replies: int) -> tuple[list[Any], ResponseError | None]:
    """``replies`` replies from ``conn`` (None for an error reply), and the first error reply."""
    results: list[Any] = []
    error: ResponseError | None = None
    for _ in range(replies):
        try:
            results.append(conn.read_response())
        except ResponseError as exc:  # read on: the later replies must leave the socket too
            error = error or exc
            results.append(None)
    return results, error


def hmget_by_node(client: Any, keys: Sequence[str], fields: Sequence[str]) -> list[Any]:
    """One ``HMGET`` per key on a Redis Cluster, by :func:`execute_by_node`, else the cluster pipeline.

    Args:
        client: A ``redis.cluster.RedisCluster``.
        keys, fields: As for :func:`pack_hmgets`.

    Returns:
        The replies in key order.

    Raises:
        redis.exceptions.RedisError: An error reply other than a redirect (e.g.
            ``WRONGTYPE``), or the cluster pipeline's error.
    """
    encoder = client.get_encoder()
    parts = execute_by_node(client, keys, lambda indexes: pack_hmgets([keys[i] for i in indexes], fields, encoder), 1)
    if parts is None:
        pipe = _fallback_pipeline(client, len(keys))
        for key in keys:
            pipe.hmget(key, fields)
        return pipe.execute()
    rows: list[Any] = [None] * len(keys)
    for indexes, replies in parts:
        for index, reply in zip(indexes, replies):
            rows[index] = reply
    return rows


def bulk_load_by_node(client: Any, rows: Sequence[tuple[str, Mapping[str, Storable]]], ttl_seconds: int) -> None:
    """:func:`pack_bulk_load` on a Redis Cluster, by :func:`execute_by_node`, else the cluster pipeline.

    The rows are idempotent writes, so the cluster pipeline may write again what
    the per-node buffers already wrote.

    Raises:
        redis.exceptions.RedisError: An error reply other than a redirect (e.g.
            ``WRONGTYPE``), or the cluster pipeline's error.
    """
    encoder = client.get_encoder()

    def pack(indexes: list[int]) -> bytes:
        return pack_bulk_load([rows[i] for i in indexes], ttl_seconds, encoder)

    if execute_by_node(client, [key for key, _ in rows], pack, 2) is None:
        pipe = _fallback_pipeline(client, len(rows))
        for key, mapping in rows:
            pipe.hset(key, mapping=mapping)
            pipe.expire(key, ttl_seconds)
        pipe.execute()


def _fallback_pipeline(client: Any, keys: int) -> Any:
    """An empty cluster pipeline, for a batch that met a moving slot or a silent node (logged)."""
    logger.debug("cluster topology changing; sending %d keys' commands with the cluster pipeline", keys)
    return client.pipeline(transaction=False)


def execute_by_node(
    client: Any, keys: Sequence[str], pack: Callable[[list[int]], bytes], replies_per_key: int
) -> list[tuple[list[int], list[Any]]] | None:
    """Commands about ``keys`` on a Redis Cluster: one buffer per primary, all written before any reply is read.

    The shards work at the same time, as with redis-py's cluster pipeline, but
    without its Python work per command.

    Args:
        client: A ``redis.cluster.RedisCluster``.
        keys: The keys the commands touch, each owned by one primary.
        pack: Encodes the commands of the keys at the given indexes, in that order.
        replies_per_key: Replies each key's commands produce.

    Returns:
        Per primary: the indexes of its keys and their replies. None when the
        client's slot table is out of date (``MOVED``, ``ASK``: a slot is
        moving) or a node did not answer: then send the commands again with
        redis-py's cluster pipeline, which follows redirects, refreshes the slot
        table and retries (so only commands safe to repeat belong here).

    Raises:
        redis.exceptions.ResponseError: An error reply other than a redirect (e.g.
            ``WRONGTYPE``), once every node's replies were read.
    """
    try:
        by_node: dict[str, tuple[Any, list[int]]] = {}
        for index, key in enumerate(keys):
            node = client.get_node_from_key(key)
            by_node.setdefault(node.name, (node, []))[1].append(index)
    except SlotNotCoveredError:
        return None
    sent: list[tuple[Any, Any, list[int]]] = []
    parts: list[tuple[list[int], list[Any]]] = []
    error: ResponseError | None = None
    try:
        for node, indexes in by_node.values():
            pool = client.get_redis_connection(node).connection_pool
            conn = pool.get_connection()
            sent.append((pool, conn, indexes))
            conn.send_packed_command([pack(indexes)])
        for _, conn, indexes in sent:
            replies, node_error = _read_replies(conn, len(indexes) * replies_per_key)
            error = error or node_error
            parts.append((indexes, replies))
    except BaseException as exc:
        for _, conn, _ in sent:
            conn.disconnect()  # replies may still be unread
        if isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
            return None
        raise
    finally:
        for pool, conn, _ in sent:
            pool.release(conn)
    if isinstance(error, _STALE_ROUTING):
        return None
    if error is not None:
        raise error
    return parts


async def execute_packed_async(client: Any, payload: bytes, replies: int) -> list[Any]:
    """:func:`execute_packed` on a ``redis.asyncio.Redis`` (same retries, replies and errors).

    The client's ``socket_timeout`` bounds the whole batch rather than each reply.
    """
    pool = client.connection_pool
    conn = await pool.get_connection()
    try:
        return await conn.retry.call_with_retry(
            lambda: _send_and_read_async(conn, payload, replies), lambda _error: conn.disconnect()
        )
    except ResponseError:
        raise
    except BaseException:
        await conn.disconnect()
        raise
    finally:
        await pool.release(conn)


async def _send_and_read_async(conn: Any, payload: bytes, replies: int) -> list[Any]:
    # One timer for the whole batch: redis.asyncio arms one per read_response, which was
    # most of an asyncio batch read's time. So socket_timeout bounds the batch, not each reply.
    results: list[Any] = []
    error: ResponseError | None = None
    try:
        async with asyncio.timeout(conn.socket_timeout):
            await conn.send_packed_command([payload])
            for _ in range(replies):
                try:
                    results.append(await conn.read_response(timeout=math.inf))
                except ResponseError as exc:  # read on: the later replies must leave the socket too
                    error = error or exc
                    results.append(None)
    except TimeoutError as exc:  # asyncio's, which the client's retry policy does not know
        raise RedisTimeoutError(f"no reply to a batch of {replies} commands within {conn.socket_timeout} s") from exc
    if error is not None:
        raise error
    return results


class PackedStream:
    """Buffers written back to back on one connection, with one buffer's replies kept in flight.

    The client encodes buffer k+1 while Redis runs buffer k, instead of idling
    until each buffer's replies are back. A connection error is raised, not
    retried: the caller knows which buffers were acknowledged and whether the
    rest is safe to send again.

    Use as a context manager; leaving it early (an error) drops the connection
    rather than return it to the pool with replies unread.

    Args:
        client: A ``redis.Redis`` (one server, not a cluster).
    """

    def __init__(self, client: Any) -> None:
        self._pool = client.connection_pool
        self._conn: Any = None
        self._pending: list[int] = []  # reply counts of the buffers sent and not yet read

    def __enter__(self) -> PackedStream:
        self._conn = self._pool.get_connection()
        return self

    def submit(self, payload: bytes, replies: int) -> list[list[Any]]:
        """Send one buffer; return the replies of the earlier buffers that are now complete.

        Raises:
            redis.exceptions.ResponseError: An earlier buffer got an error reply
                (raised once all of that buffer's replies were read).
        """
        self._conn.send_packed_command([payload])
        self._pending.append(replies)
        return self._collect(keep=1)

    def drain(self) -> list[list[Any]]:
        """Wait for the replies of every buffer still out, in the order sent."""
        return self._collect(keep=0)

    def _collect(self, keep: int) -> list[list[Any]]:
        done = []
        while len(self._pending) > keep:
            results, error = _read_replies(self._conn, self._pending.pop(0))
            if error is not None:
                raise error
            done.append(results)
        return done

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None or self._pending:
            self._conn.disconnect()
        self._pool.release(self._conn)


class PackedTransport:
    """What ``FeatureStore(client, transport="packed")`` does instead of redis-py pipelines.

    Batch reads send one buffer of ``HMGET`` (one per primary on a cluster);
    bulk loads send one buffer of ``HSET`` + ``EXPIRE`` per chunk, with one
    chunk in flight while the next is encoded. Relies on redis-py's connection
    API (``send_packed_command``, ``read_response``, ``retry``), pinned in
    ``pyproject.toml``.

    Args:
        client: The store's ``redis.Redis`` or ``redis.cluster.RedisCluster``.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self.cluster = isinstance(client, RedisCluster)

    def hmget_many(self, keys: Sequence[str], fields: Sequence[str]) -> list[Any]:
        """``HMGET key fields...`` for every key, in one round trip (one per primary); replies in key order."""
        if self.cluster:
            return hmget_by_node(self.client, keys, fields)
        return execute_packed(self.client, pack_hmgets(keys, fields, self.client.get_encoder()), len(keys))

    def bulk_load(self, chunks: Iterator[list[tuple[str, EncodedFields]]], ttl_seconds: int) -> Iterator[int]:
        """Write every chunk's ``HSET`` + ``EXPIRE`` pairs; yield each chunk's size once Redis acknowledged it.

        A chunk iterator that raises (a bad row in a stream) does so after
        every chunk sent before it was acknowledged. After a dropped
        connection the unacknowledged chunks and the rest are sent again under
        the client's retry policy (``HSET`` + ``EXPIRE`` are idempotent).
        """
        if self.cluster:
            for chunk in chunks:
                bulk_load_by_node(self.client, chunk, ttl_seconds)
                yield len(chunk)
            return
        encoder = self.client.get_encoder()
        unacknowledged: deque[list[tuple[str, EncodedFields]]] = deque()
        try:
            with PackedStream(self.client) as stream:
                bad_row: Exception | None = None
                try:
                    for chunk in chunks:
                        unacknowledged.append(chunk)
                        for _ in stream.submit(pack_bulk_load(chunk, ttl_seconds, encoder), 2 * len(chunk)):
                            yield len(unacknowledged.popleft())
                except (TypeError, ValueError) as exc:  # from the chunks: count what was sent first
                    bad_row = exc
                for _ in stream.drain():
                    yield len(unacknowledged.popleft())
                if bad_row is not None:
                    raise bad_row
        except (RedisConnectionError, RedisTimeoutError) as exc:
            logger.warning(
                "bulk load connection lost (%s); resending %d chunk(s) with retries", exc, len(unacknowledged)
            )
            for chunk in chain(unacknowledged, chunks):
                execute_packed(self.client, pack_bulk_load(chunk, ttl_seconds, encoder), 2 * len(chunk))
                yield len(chunk)
