"""Keys: one hash per entity at ``{key_prefix}{entity_id}``, and where keys live on a cluster.

Which keys a store owns: a prefix ends with ``:`` and an entity id has no
``:`` (both checked in :mod:`fslib.checks`), so a store owns exactly
``key_prefix + id`` with no further ``:``. A longer prefix (``fs:user:{vip}:``
beside ``fs:user:``) then never reaches into a shorter one's keys, nor the
other way round: ``SCAN`` matches the prefix and :func:`entity_id_of` drops
keys that belong to a nested store.

On a Redis Cluster each key hashes to one of 16384 slots, and
:func:`hash_tag_prefix` can pin a group of entities to one slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from redis.crc import key_slot

from fslib.checks import SEPARATOR

if TYPE_CHECKING:
    import pandas as pd
    from redis.cluster import RedisCluster

__all__ = [
    "entity_id_of",
    "hash_tag_prefix",
    "key_placement",
    "scan_pattern",
    "slot_of",
]


def entity_id_of(key_prefix: str, key: str) -> str | None:
    """The entity id in ``key`` if the store at ``key_prefix`` owns it, else None.

    ``key`` starts with ``key_prefix`` (a ``SCAN`` match); a rest with another
    ``:`` belongs to a store with a longer prefix.
    """
    entity_id = key[len(key_prefix) :]
    return entity_id if entity_id and SEPARATOR not in entity_id else None


def scan_pattern(key_prefix: str) -> str:
    """The ``SCAN MATCH`` glob of every key under ``key_prefix`` (its glob characters escaped)."""
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in key_prefix) + "*"


def slot_of(key: str) -> int:
    """The hash slot (0-16383) of ``key`` on a Redis Cluster, honouring a ``{hash tag}``."""
    return int(key_slot(key.encode()))


def hash_tag_prefix(key_prefix: str, group: str) -> str:
    """A key prefix that puts every entity of ``group`` in one hash slot.

    ``hash_tag_prefix("fs:user:", "vip")`` is ``"fs:user:{vip}:"``: Redis hashes
    only the text between the first ``{`` and ``}``, so all keys under it share
    one slot, hence one shard. A batch read of the group is then one round trip
    to one node, and multi-key commands across the group are allowed; the
    price is that this shard carries all of the group's memory and traffic.

    Args:
        key_prefix: The store's usual prefix, e.g. ``"fs:user:"``.
        group: The group name; non-empty, without ``{`` or ``}``.

    Returns:
        The prefix to give :class:`~fslib.store.FeatureStore`.

    Raises:
        TypeError: ``group`` is not a string.
        ValueError: ``group`` is empty, has braces, or ``key_prefix`` already has a hash tag.
    """
    if not isinstance(group, str):
        raise TypeError(f"hash tag group must be a string, got {type(group).__name__}: {group!r}")
    if not group or "{" in group or "}" in group:
        raise ValueError(f"hash tag group must be non-empty and without braces, got {group!r}")
    if "{" in key_prefix:
        # Redis uses the first {...} only: a second tag would be silently ignored.
        raise ValueError(f"key_prefix {key_prefix!r} already contains a hash tag")
    return f"{key_prefix}{{{group}}}:"


def key_placement(client: RedisCluster, keys: Sequence[str]) -> pd.DataFrame:
    """Slot and owning primary of each key, as the cluster client's slot table sees it.

    Args:
        client: A cluster client (e.g. from ``fslib.connect(url, cluster=True)``).
        keys: The keys to place.

    Returns:
        A DataFrame indexed by key with columns ``slot`` and ``node`` (``host:port``).
    """
    import pandas as pd

    rows = [(key, slot_of(key), client.get_node_from_key(key).name) for key in keys]
    return pd.DataFrame(rows, columns=["key", "slot", "node"]).set_index("key")
