"""The packed transport on a Redis Cluster: one buffer per primary, every primary working at once.

redis-py's cluster pipeline groups a batch's commands by the primary that owns
each key, then sends each group; this does the same with the pre-encoded
buffers of :mod:`fslib.fast.resp`, without the Python work per command. When a
slot is moving (``MOVED``, ``ASK``) or a node does not answer, the batch goes
once more through redis-py's cluster pipeline, which follows redirects,
refreshes its slot table and retries: only commands safe to repeat belong here
(reads, and writes that set the same values again).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from redis.cluster import ClusterNode, RedisCluster
from redis.connection import Connection, ConnectionPool
from redis.exceptions import AskError, ClusterDownError, SlotNotCoveredError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from fslib.fast.resp import pack_bulk_load, pack_evals, pack_hmgets, read_replies
from fslib.rows import EncodedRow

__all__ = ["bulk_load_by_node", "eval_by_node", "execute_by_node", "hmget_by_node"]

logger = logging.getLogger(__name__)

_STALE_ROUTING = (AskError, ClusterDownError, TryAgainError)
"""Replies saying the client's slot table is out of date or the cluster is changing (MovedError is an AskError)."""


def hmget_by_node(client: RedisCluster, keys: Sequence[str], fields: Sequence[str]) -> list[Any]:
    """One ``HMGET`` per key, by :func:`execute_by_node`, else the cluster pipeline.

    Returns:
        The replies in key order; an error reply (e.g. ``WRONGTYPE``) stands in place as an exception.
    """
    encoder = client.get_encoder()
    replies = execute_by_node(client, keys, lambda part: pack_hmgets([keys[i] for i in part], fields, encoder), 1)
    if replies is None:
        pipe = _fallback_pipeline(client, len(keys))
        for key in keys:
            pipe.hmget(key, fields)
        return pipe.execute(raise_on_error=False)
    return replies


def eval_by_node(client: RedisCluster, script: str, groups: Sequence[Sequence[str]], args: Sequence[str]) -> list[Any]:
    """One ``EVAL`` per group of keys (each group within one hash slot), by :func:`execute_by_node`.

    Returns:
        The replies in group order; an error reply in its place as the exception.
    """
    encoder = client.get_encoder()
    first_keys = [keys[0] for keys in groups]  # a group's keys share a slot, hence a node
    replies = execute_by_node(
        client, first_keys, lambda part: pack_evals(script, [groups[i] for i in part], args, encoder), 1
    )
    if replies is None:
        pipe = _fallback_pipeline(client, len(groups))
        for keys in groups:
            pipe.execute_command("EVAL", script, len(keys), *keys, *args)
        return pipe.execute(raise_on_error=False)
    return replies


def bulk_load_by_node(client: RedisCluster, rows: Sequence[EncodedRow], ttl: int) -> list[Any]:
    """``HSET`` + ``EXPIRE`` per row, by :func:`execute_by_node`, else the cluster pipeline.

    The rows are idempotent writes, so the cluster pipeline may write again what
    the per-node buffers already wrote.

    Returns:
        Two replies per row (``HSET``'s, ``EXPIRE``'s), in row order; error replies in place as exceptions.
    """
    encoder = client.get_encoder()

    def pack(part: list[int]) -> bytes:
        return pack_bulk_load([rows[i] for i in part], ttl, encoder)

    replies = execute_by_node(client, [key for key, _, _ in rows], pack, 2)
    if replies is None:
        pipe = _fallback_pipeline(client, len(rows))
        for key, mapping, _ in rows:
            pipe.hset(key, mapping=mapping)
            pipe.expire(key, ttl)
        return pipe.execute(raise_on_error=False)
    return replies


def _fallback_pipeline(client: RedisCluster, keys: int) -> Any:
    """An empty cluster pipeline, for a batch that met a moving slot or a silent node (logged)."""
    logger.debug("cluster topology changing; sending %d keys' commands with the cluster pipeline", keys)
    return client.pipeline(transaction=False)


def execute_by_node(
    client: RedisCluster, keys: Sequence[str], pack: Callable[[list[int]], bytes], replies_per_key: int
) -> list[Any] | None:
    """Commands about ``keys``: one buffer per primary, all written before any reply is read.

    Args:
        client: The cluster client.
        keys: The keys the commands touch, each owned by one primary.
        pack: Encodes the commands of the keys at the given indexes, in that order.
        replies_per_key: Replies each key's commands produce.

    Returns:
        The replies in key order (``replies_per_key`` per key), error replies in place
        as exceptions; None when the slot table is out of date or a node did not
        answer (send the batch with the cluster pipeline then).
    """
    try:
        by_node: dict[str, tuple[ClusterNode, list[int]]] = {}
        for index, key in enumerate(keys):
            node = client.get_node_from_key(key)
            by_node.setdefault(node.name, (node, []))[1].append(index)
    except SlotNotCoveredError:
        return None
    sent: list[tuple[ConnectionPool, Connection, list[int]]] = []
    replies: list[Any] = [None] * (len(keys) * replies_per_key)
    try:
        for node, part in by_node.values():
            pool = client.get_redis_connection(node).connection_pool
            sent.append((pool, pool.get_connection(), part))
            sent[-1][1].send_packed_command([pack(part)])
        for _, connection, part in sent:
            node_replies = iter(read_replies(connection, len(part) * replies_per_key))
            for index in part:
                for offset in range(replies_per_key):
                    replies[index * replies_per_key + offset] = next(node_replies)
    except BaseException as exc:
        for _, connection, _ in sent:
            connection.disconnect()  # replies may still be unread
        if isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
            return None
        raise
    finally:
        for pool, connection, _ in sent:
            pool.release(connection)
    if any(isinstance(reply, _STALE_ROUTING) for reply in replies):
        return None
    return replies
