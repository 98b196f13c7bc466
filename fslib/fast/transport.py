"""The packed transport: what ``FeatureStore(client, transport="packed")`` sends instead of redis-py pipelines.

A redis-py pipeline spends most of a batch in Python: it queues, encodes and
parses N separate commands one by one while Redis waits. The packed transport
sends the same commands as one pre-encoded buffer (:mod:`fslib.fast.resp`)
through a pooled redis-py connection's ``send_packed_command`` and reads the
replies with its ``read_response``: pooling, auth, TLS, retries and the
hiredis parser all stay redis-py's. Redis runs plain commands, which interleave
with other clients' commands, and reads may go to read-only replicas.

The answers, error replies and reply checks are the default transport's: the
store checks both the same way. Relies on redis-py's connection API, pinned in
``pyproject.toml`` and tested in tests/test_fast_transport.py.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Sequence
from itertools import chain
from types import TracebackType
from typing import Any

import redis
import redis.asyncio
from redis.cluster import RedisCluster
from redis.connection import AbstractConnection, ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from fslib.checks import check_key_ttl_replies
from fslib.fast.cluster import bulk_load_by_node, eval_by_node, hmget_by_node
from fslib.fast.resp import first_error, pack_bulk_load, pack_evals, pack_hmgets, read_replies
from fslib.rows import CheckedChunks, EncodedRow

__all__ = ["AsyncPackedTransport", "PackedStream", "PackedTransport", "execute_packed", "execute_packed_async"]

logger = logging.getLogger(__name__)


def execute_packed(client: redis.Redis, payload: bytes, replies: int) -> list[Any]:
    """Send ``payload`` on one of ``client``'s pooled connections and read ``replies`` replies.

    A lost connection is retried under the client's retry policy, the whole
    buffer again: only send commands that are safe to repeat (reads, or writes
    that set the same values again).

    Returns:
        The replies, decoded as ``client`` decodes them, in command order; an error
        reply (e.g. ``WRONGTYPE``) in its place as the exception. Every reply is read,
        so the connection goes back to the pool clean.

    Raises:
        redis.exceptions.ConnectionError, TimeoutError: Still failing after the retries.
    """
    pool = client.connection_pool
    conn = pool.get_connection()
    try:
        return conn.retry.call_with_retry(
            lambda: _send_and_read(conn, payload, replies), lambda _error: conn.disconnect()
        )
    except BaseException:
        conn.disconnect()  # replies may still be unread
        raise
    finally:
        pool.release(conn)


def _send_and_read(conn: AbstractConnection, payload: bytes, replies: int) -> list[Any]:
    conn.send_packed_command([payload])  # a list: a bare bytes object would be sent byte by byte
    return read_replies(conn, replies)


async def execute_packed_async(client: redis.asyncio.Redis, payload: bytes, replies: int) -> list[Any]:
    """:func:`execute_packed` on a ``redis.asyncio.Redis`` (same retries and replies).

    The client's ``socket_timeout`` bounds the whole batch rather than each reply.
    """
    pool = client.connection_pool
    conn = await pool.get_connection()
    try:
        return await conn.retry.call_with_retry(
            lambda: _send_and_read_async(conn, payload, replies), lambda _error: conn.disconnect()
        )
    except BaseException:
        await conn.disconnect()
        raise
    finally:
        await pool.release(conn)


async def _send_and_read_async(conn: Any, payload: bytes, replies: int) -> list[Any]:
    # One timer for the whole batch: redis.asyncio arms one per read_response, which was
    # most of an asyncio batch read's time. So socket_timeout bounds the batch, not each reply.
    results: list[Any] = []
    try:
        async with asyncio.timeout(conn.socket_timeout):
            await conn.send_packed_command([payload])
            for _ in range(replies):
                try:
                    results.append(await conn.read_response(timeout=math.inf))
                except ResponseError as exc:  # read on: the later replies must leave the socket too
                    results.append(exc)
    except TimeoutError as exc:  # asyncio's, which the client's retry policy does not know
        raise RedisTimeoutError(f"no reply to a batch of {replies} commands within {conn.socket_timeout} s") from exc
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

    def __init__(self, client: redis.Redis) -> None:
        self._pool: ConnectionPool = client.connection_pool
        self._conn: Any = None
        self._pending: deque[int] = deque()  # reply counts of the buffers sent and not yet read

    def __enter__(self) -> PackedStream:
        self._conn = self._pool.get_connection()
        return self

    def submit(self, payload: bytes, replies: int) -> list[list[Any]]:
        """Send one buffer; return the replies of the earlier buffers that are now complete."""
        self._conn.send_packed_command([payload])
        self._pending.append(replies)
        return self._collect(keep=1)

    def drain(self) -> list[list[Any]]:
        """Wait for the replies of every buffer still out, in the order sent."""
        return self._collect(keep=0)

    def _collect(self, keep: int) -> list[list[Any]]:
        done = []
        while len(self._pending) > keep:
            done.append(read_replies(self._conn, self._pending.popleft()))
        return done

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None or self._pending:
            self._conn.disconnect()
        self._pool.release(self._conn)


def _acknowledge(chunks: CheckedChunks, chunk: list[EncodedRow], replies: Sequence[Any]) -> None:
    """Check a bulk-load chunk's replies as the default transport does, then count it as written.

    Raises:
        redis.exceptions.ResponseError: A command of the chunk failed (e.g. ``WRONGTYPE``).
        InvariantError: An ``EXPIRE`` found no key.
    """
    error = first_error(replies)
    if error is not None:
        raise error
    check_key_ttl_replies(chunk, replies[1::2])
    chunks.acknowledged(len(chunk))


class PackedTransport:
    """The store's batches as pre-encoded buffers on one server or a Redis Cluster.

    Batch reads send one buffer of ``HMGET`` (one per primary on a cluster);
    bulk loads send one buffer of ``HSET`` + ``EXPIRE`` per chunk, with one
    chunk in flight while the next is encoded.

    Args:
        client: The store's ``redis.Redis`` or ``redis.cluster.RedisCluster``.
    """

    def __init__(self, client: redis.Redis | RedisCluster) -> None:
        self.client = client

    def hmget_many(self, keys: Sequence[str], fields: Sequence[str]) -> list[Any]:
        """``HMGET key fields...`` for every key, in one round trip (one per primary).

        Returns:
            The replies in key order; an error reply in its place as the exception. No keys, no round trip.
        """
        if not keys:
            return []
        if isinstance(self.client, RedisCluster):
            return hmget_by_node(self.client, keys, fields)
        return execute_packed(self.client, pack_hmgets(keys, fields, self.client.get_encoder()), len(keys))

    def hmget_one(self, key: str, fields: Sequence[str]) -> list[Any]:
        """``HMGET key fields...`` (no fields, no round trip)."""
        return self.hmget_many([key], fields)[0] if fields else []

    def eval_many(self, script: str, groups: Sequence[Sequence[str]], args: Sequence[str]) -> list[Any]:
        """``EVAL script n key... arg...`` per group of keys, in one round trip (one per primary).

        Returns:
            The replies in group order; an error reply in its place as the exception. No groups, no round trip.
        """
        if not groups:
            return []
        if isinstance(self.client, RedisCluster):
            return eval_by_node(self.client, script, groups, args)
        return execute_packed(self.client, pack_evals(script, groups, args, self.client.get_encoder()), len(groups))

    def bulk_load(self, chunks: CheckedChunks, ttl_seconds: int) -> None:
        """Write every chunk's ``HSET`` + ``EXPIRE`` pairs, checking and acknowledging each as Redis answers.

        An error from the rows themselves (a bad row in a stream, or whatever the
        caller's generator raises) is raised after every chunk sent before it was
        acknowledged. After a dropped connection the unacknowledged chunks and
        the rest are sent again under the client's retry policy (``HSET`` +
        ``EXPIRE`` are idempotent).

        Raises:
            redis.exceptions.ResponseError, InvariantError: As the default transport's bulk load.
        """
        client = self.client
        if isinstance(client, RedisCluster):
            for chunk in chunks:
                _acknowledge(chunks, chunk, bulk_load_by_node(client, chunk, ttl_seconds))
            return
        encoder = client.get_encoder()
        rows = iter(chunks)
        unacknowledged: deque[list[EncodedRow]] = deque()
        try:
            with PackedStream(client) as stream:
                bad_rows: Exception | None = None
                while True:
                    try:
                        chunk = next(rows)
                    except StopIteration:
                        break
                    except Exception as exc:  # from the rows: count what was sent before it, then raise it
                        bad_rows = exc
                        break
                    unacknowledged.append(chunk)
                    for replies in stream.submit(pack_bulk_load(chunk, ttl_seconds, encoder), 2 * len(chunk)):
                        _acknowledge(chunks, unacknowledged.popleft(), replies)
                for replies in stream.drain():
                    _acknowledge(chunks, unacknowledged.popleft(), replies)
                if bad_rows is not None:
                    raise bad_rows
        except (RedisConnectionError, RedisTimeoutError) as exc:
            logger.warning(
                "bulk load connection lost (%s); resending %d chunk(s) with retries", exc, len(unacknowledged)
            )
            for chunk in chain(unacknowledged, rows):
                payload = pack_bulk_load(chunk, ttl_seconds, encoder)
                _acknowledge(chunks, chunk, execute_packed(client, payload, 2 * len(chunk)))


class AsyncPackedTransport:
    """:class:`PackedTransport`'s reads for a ``redis.asyncio.Redis`` (one server).

    Args:
        client: The asyncio store's client.
    """

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.client = client

    async def hmget_many(self, keys: Sequence[str], fields: Sequence[str]) -> list[Any]:
        """As :meth:`PackedTransport.hmget_many`, awaited."""
        return await self._execute(pack_hmgets(keys, fields, self.client.get_encoder()), len(keys))

    async def hmget_one(self, key: str, fields: Sequence[str]) -> list[Any]:
        """As :meth:`PackedTransport.hmget_one`, awaited."""
        return (await self.hmget_many([key], fields))[0] if fields else []

    async def eval_many(self, script: str, groups: Sequence[Sequence[str]], args: Sequence[str]) -> list[Any]:
        """As :meth:`PackedTransport.eval_many`, awaited."""
        return await self._execute(pack_evals(script, groups, args, self.client.get_encoder()), len(groups))

    async def _execute(self, payload: bytes, replies: int) -> list[Any]:
        return await execute_packed_async(self.client, payload, replies) if replies else []
