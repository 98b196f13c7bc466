"""The store on a real local Redis Cluster: routing, round trips, resharding, failover."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

import fslib
from fslib import FeatureStore, RedisVersionError, hash_tag_prefix, key_placement, mask_url, synthesize_users
from fslib.core import Transport
from fslib.keys import slot_of
from fslib.local import LocalCluster
from fslib.local import server as local_server

from counting import CountingConnection
from stored import stored_row
from system_deps import OLD_REDIS, needs_old_redis

NAMES = ["risk_segment", "tx_count_7d", "tx_count_5m"]


@pytest.fixture
def cluster_store(cluster_client: RedisCluster, prefix: str) -> Iterator[FeatureStore]:
    store = FeatureStore(cluster_client, key_prefix=prefix)
    yield store
    store.reset()


def keys_on(server: fslib.local.EmbeddedRedis, prefix: str) -> list[str]:
    """The keys under ``prefix`` that one node holds, asked of that node alone."""
    with redis.Redis.from_url(server.url, decode_responses=True) as node:
        return list(node.scan_iter(match=prefix + "*", count=1000))


def test_local_cluster_covers_every_slot_with_three_primaries(local_cluster: LocalCluster) -> None:
    with redis.Redis.from_url(local_cluster.urls[0], decode_responses=True) as node:
        ranges = sorted((first, last, owner[1]) for first, last, owner, *_ in node.execute_command("CLUSTER SLOTS"))
    assert sum(last - first + 1 for first, last, _ in ranges) == 16384
    assert {port for *_, port in ranges} == {s.port for s in local_cluster.primaries}
    assert local_cluster.url in local_cluster.urls and len(local_cluster.urls) == 3
    assert "3/3 running" in repr(local_cluster)
    with pytest.raises(RuntimeError, match="started already"):
        local_cluster.start()
    with pytest.raises(ValueError, match="primaries >= 1"):
        LocalCluster(primaries=0)


def test_connect_returns_a_checked_cluster_client(
    local_cluster: LocalCluster, redis_server: fslib.local.EmbeddedRedis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = fslib.connect(local_cluster.url, cluster=True)
    try:
        assert isinstance(client, RedisCluster)
        assert client.set(prefix + "k", "é", ex=60) and client.getdel(prefix + "k") == "é"  # decode_responses=True
        assert len(client.get_primaries()) == 3
    finally:
        client.close()
    monkeypatch.setenv("REDIS_URL", local_cluster.url)
    monkeypatch.setenv("REDIS_CLUSTER", "1")
    client = fslib.connect()
    try:
        assert isinstance(client, RedisCluster)
        assert fslib.connection.parse_version(fslib.server_version(client)) >= (8, 0)
    finally:
        client.close()
    monkeypatch.setenv("REDIS_CLUSTER", "0")
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    client = fslib.connect()
    try:
        assert type(client) is redis.Redis
    finally:
        client.close()
    monkeypatch.delenv("REDIS_URL")
    with pytest.raises(ValueError, match="cluster=True needs the URL of a cluster node"):
        fslib.connect(cluster=True)


@needs_old_redis
def test_connect_refuses_a_cluster_of_old_servers() -> None:
    with (
        LocalCluster(primaries=1, binary=OLD_REDIS) as old,
        pytest.raises(RedisVersionError, match="too old"),
    ):
        fslib.connect(old.url, cluster=True)


def test_keys_spread_over_every_primary(local_cluster: LocalCluster, cluster_store: FeatureStore, prefix: str) -> None:
    users = synthesize_users(300)
    cluster_store.bulk_load(users)
    counts = [len(keys_on(server, prefix)) for server in local_cluster.primaries]
    assert sum(counts) == 300 and all(count > 50 for count in counts)
    placement = key_placement(cluster_store.client, [cluster_store.key_for(e) for e in users.ids])
    assert placement["node"].nunique() == 3
    key = cluster_store.key_for("u0007")
    assert placement.loc[key, "slot"] == cluster_store.client.keyslot(key)
    assert cluster_store.count_entities() == 300 and len(cluster_store.list_entity_ids()) == 300


def test_batch_read_across_many_slots_equals_per_entity_reads(cluster_store: FeatureStore) -> None:
    users = synthesize_users(500)
    cluster_store.bulk_load(users, chunk_size=128)
    for entity_id in users.ids[::7]:
        cluster_store.update_streaming(entity_id, {"tx_count_5m": 3})
    ids = [*users.ids, "absent"]
    assert len({slot_of(cluster_store.key_for(e)) for e in ids}) > 400
    batch = cluster_store.batch_get_features(ids, NAMES, decode=True)
    assert list(batch) == ids
    assert batch == {e: cluster_store.get_features(e, NAMES, decode=True) for e in ids}
    assert batch["absent"] == {} and batch["u0001"]["tx_count_5m"] == 3


def test_batch_reads_and_load_chunks_are_one_round_trip_per_primary(
    local_cluster: LocalCluster, cluster_store: FeatureStore, transport: Transport
) -> None:
    users = synthesize_users(200)
    counted = RedisCluster.from_url(local_cluster.url, decode_responses=True, connection_class=CountingConnection)
    try:
        store = FeatureStore(counted, key_prefix=cluster_store.key_prefix, transport=transport)
        store.get_features("u0001", NAMES)  # connects: handshakes are no round trips of the load or read
        store.bulk_load(users, chunk_size=100)  # and connects to the other primaries
        CountingConnection.sends.clear()
        store.bulk_load(users, chunk_size=100)
        # 2 chunks, and INFO before and after (the restart check): one write each per primary.
        assert CountingConnection.sends == {primary.port: 2 + 2 for primary in local_cluster.primaries}
        CountingConnection.sends.clear()
        batch = store.batch_get_features(users.ids, NAMES)
        assert CountingConnection.sends == {primary.port: 1 for primary in local_cluster.primaries}
        assert batch == cluster_store.batch_get_features(users.ids, NAMES) and batch["u0200"]["risk_segment"]
    finally:
        counted.close()


def test_reset_empties_every_shard_and_only_the_prefix(
    local_cluster: LocalCluster, cluster_client: RedisCluster, prefix: str
) -> None:
    store = FeatureStore(cluster_client, key_prefix=prefix + "a:")
    neighbour = FeatureStore(cluster_client, key_prefix=prefix + "b:")
    try:
        store.bulk_load(synthesize_users(700))
        neighbour.bulk_load(synthesize_users(30))
        assert all(keys_on(server, store.key_prefix) for server in local_cluster.primaries)
        assert store.reset() == 700
        assert all(not keys_on(server, store.key_prefix) for server in local_cluster.primaries)
        assert neighbour.count_entities() == 30
    finally:
        neighbour.reset()


def test_hash_tag_prefix_puts_a_group_on_one_shard(
    local_cluster: LocalCluster, cluster_client: RedisCluster, prefix: str
) -> None:
    vip = FeatureStore(cluster_client, key_prefix=hash_tag_prefix(prefix, "vip"))
    assert vip.key_prefix == prefix + "{vip}:"
    try:
        users = synthesize_users(60)
        vip.bulk_load(users)
        keys = [vip.key_for(e) for e in users.ids]
        assert {slot_of(k) for k in keys} == {slot_of("{vip}")}
        owner = local_cluster.slot_owner(slot_of("{vip}"))
        assert sorted(keys_on(owner, vip.key_prefix)) == sorted(keys)
        assert vip.batch_get_features(users.ids[:5], NAMES) == {e: vip.get_features(e, NAMES) for e in users.ids[:5]}
        assert cluster_client.unlink(*keys[:10]) == 10  # one slot: a single multi-key UNLINK
        assert vip.count_entities() == 50
    finally:
        vip.reset()
    for bad, error in [("", ValueError), ("a{b", ValueError), ("a}", ValueError), (7, TypeError)]:
        with pytest.raises(error, match="hash tag group"):
            hash_tag_prefix("fs:user:", bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="already contains a hash tag"):
        hash_tag_prefix("fs:{user}:", "vip")


def test_a_batch_read_during_resharding_follows_moved_and_ask(
    local_cluster: LocalCluster,
    cluster_client: RedisCluster,
    prefix: str,
    transport: Transport,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="fslib.fast.cluster")

    def fell_back() -> bool:
        """Whether the reads since the last call left the per-node path for the cluster pipeline."""
        found = "cluster pipeline" in caplog.text
        caplog.clear()
        return found

    spread = FeatureStore(cluster_client, key_prefix=prefix, transport=transport)
    grouped = FeatureStore(cluster_client, key_prefix=hash_tag_prefix(prefix, "g"), transport=transport)
    packed = (
        transport == "packed"
    )  # only packed buffers go per node and fall back; redis-py's pipeline follows redirects itself
    users = synthesize_users(120)
    spread.bulk_load(users)
    grouped.bulk_load(users)  # may fall back once: an earlier test moved slots back behind this client
    caplog.clear()
    expected = spread.batch_get_features(users.ids, NAMES)
    assert not fell_back()
    moved_slot = slot_of(spread.key_for("u0010"))
    tagged_slot = slot_of(grouped.key_prefix)
    homes = {slot: local_cluster.primaries.index(local_cluster.slot_owner(slot)) for slot in (moved_slot, tagged_slot)}
    try:
        # A whole slot moves behind the client's back: its stale slot table gets MOVED.
        assert local_cluster.migrate_slot(moved_slot, (homes[moved_slot] + 1) % 3) == 1
        assert spread.batch_get_features(users.ids, NAMES) == expected
        assert fell_back() == packed  # the per-node buffers went by the stale table and got MOVED
        new_home = local_cluster.slot_owner(moved_slot)
        assert cluster_client.get_node_from_key(spread.key_for("u0010")).port == new_home.port
        assert spread.batch_get_features(users.ids, NAMES) == expected and not fell_back()
        # Half of a slot's keys moved: the source answers ASK for those, the rest stay put.
        assert local_cluster.migrate_slot(tagged_slot, (homes[tagged_slot] + 1) % 3, max_keys=50) == 50
        assert local_cluster.slot_owner(tagged_slot) is local_cluster.primaries[homes[tagged_slot]]
        assert grouped.batch_get_features(users.ids, NAMES) == expected
        assert fell_back() == packed  # ASK for the keys already moved
        assert local_cluster.migrate_slot(tagged_slot, (homes[tagged_slot] + 1) % 3) == 70
        assert grouped.batch_get_features(users.ids, NAMES) == expected
    finally:
        for slot, home in homes.items():
            if local_cluster.slot_owner(slot) is not local_cluster.primaries[home]:
                local_cluster.migrate_slot(slot, home)
        spread.reset()
        grouped.reset()
    with pytest.raises(ValueError, match="already lives on primary"):
        local_cluster.migrate_slot(moved_slot, homes[moved_slot])


def test_a_bulk_load_during_resharding_falls_back_and_writes_everything(
    local_cluster: LocalCluster,
    cluster_client: RedisCluster,
    prefix: str,
    transport: Transport,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="fslib.fast.cluster")
    store = FeatureStore(cluster_client, key_prefix=prefix, transport=transport)
    users = synthesize_users(120)
    store.bulk_load(users)
    slot = slot_of(store.key_for("u0010"))
    home = local_cluster.primaries.index(local_cluster.slot_owner(slot))
    try:
        assert local_cluster.migrate_slot(slot, (home + 1) % 3) == 1
        caplog.clear()
        assert store.bulk_load(users, ttl_seconds=600) == 120
        assert ("with the cluster pipeline" in caplog.text) == (
            transport == "packed"
        )  # the stale table's buffer got MOVED
        caplog.clear()
        assert store.bulk_load(users, ttl_seconds=600) == 120
        assert "with the cluster pipeline" not in caplog.text  # per node again, by the updated table
        for entity_id, features in users:
            key = store.key_for(entity_id)
            assert cluster_client.hgetall(key) == stored_row(features)
            assert 590 <= cluster_client.ttl(key) <= 600
    finally:
        if local_cluster.slot_owner(slot) is not local_cluster.primaries[home]:
            local_cluster.migrate_slot(slot, home)
        store.reset()


def test_after_migrate_slot_every_primary_names_the_new_owner(local_cluster: LocalCluster) -> None:
    """Not only source and target: a third node still naming the old owner misled slot_owner()."""

    def owners(slot: int) -> set[int]:
        seen = set()
        for server in local_cluster.primaries:
            with redis.Redis.from_url(server.url, decode_responses=True) as node:
                ranges = node.execute_command("CLUSTER SLOTS")
            seen |= {port for first, last, (_host, port, *_), *_ in ranges if first <= slot <= last}
        return seen

    # Primary 1's slots, there and back: the first node (the one slot_owner asks) is neither end.
    # Gossip alone would tell it within about a second, so some of these checks would come too early.
    for slot in range(8000, 8010):
        assert owners(slot) == {local_cluster.primaries[1].port}
        for to_index in (2, 1):
            local_cluster.migrate_slot(slot, to_index)
            assert owners(slot) == {local_cluster.primaries[to_index].port}


def test_every_cluster_node_refuses_clients_without_the_password(local_cluster: LocalCluster) -> None:
    for server in local_cluster.servers:
        with (
            redis.Redis(port=server.port, retry=Retry(NoBackoff(), 0)) as stranger,
            pytest.raises(redis.AuthenticationError),
        ):
            stranger.execute_command("CLUSTER INFO")
        with redis.Redis.from_url(server.url, decode_responses=True) as node:
            assert node.execute_command("CLUSTER INFO")["cluster_state"] == "ok"
    assert len({server.password for server in local_cluster.servers}) == 1  # one secret: clients follow MOVED
    assert "***" in mask_url(local_cluster.url) and local_cluster.servers[0].password not in repr(local_cluster)


def test_reads_keep_working_after_a_primary_fails_over() -> None:
    with LocalCluster(primaries=3, replicas=1, node_timeout_ms=1000) as cluster:
        client = fslib.connect(cluster.url, cluster=True)
        assert isinstance(client, RedisCluster)
        try:
            store = FeatureStore(client, key_prefix="failover:")
            users = synthesize_users(150)
            store.bulk_load(users)
            expected = store.batch_get_features(users.ids, NAMES)
            killed = cluster.kill_primary(0)
            promoted = cluster.wait_for_failover(0, timeout=30.0)
            assert not killed.is_running and promoted is cluster.replicas[0][0]
            assert store.batch_get_features(users.ids, NAMES) == expected
            assert store.count_entities() == 150
            assert {n.port for n in client.get_primaries()} >= {promoted.port}
            store.update_streaming("u0001", {"tx_count_5m": 1})  # writes too, on the promoted node
            assert store.get_features("u0001", ["tx_count_5m"]) == {"tx_count_5m": "1"}
        finally:
            client.close()
        with pytest.raises(ValueError, match="no replica"):
            LocalCluster(primaries=1).wait_for_failover(0)
    assert not any(server.is_running for server in cluster.servers)


def test_a_node_whose_bus_port_was_taken_starts_on_fresh_ports_and_the_cluster_forms(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real, handed = local_server.free_port, []
    with socket.socket() as holder:  # another process, listening on the bus port the first node picks
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = int(holder.getsockname()[1])

        def picker() -> int:  # picks: first node's port, its bus port (taken), then the second node's
            handed.append(taken if len(handed) == 1 else real())
            return handed[-1]

        monkeypatch.setattr(local_server, "free_port", picker)
        with LocalCluster(primaries=2) as cluster:
            first = cluster.primaries[0]
            bus_port = first.option_ports["--cluster-port"]
            assert handed[1] == taken and bus_port != taken and taken not in cluster.ports
            # The node listens on its fresh bus port, and the second met it there: start() waited for
            # cluster_state:ok on both, which a MEET sent to the taken port would never reach.
            with redis.Redis.from_url(first.url, decode_responses=True) as node:
                assert node.config_get("cluster-port")["cluster-port"] == str(bus_port)
                assert node.execute_command("CLUSTER INFO")["cluster_known_nodes"] == "2"
            client = fslib.connect(cluster.url, cluster=True)
            try:
                for i in range(20):  # keys on both shards
                    client.set(f"bus-retry:{i}", i)
                assert [client.get(f"bus-retry:{i}") for i in range(20)] == [str(i) for i in range(20)]
            finally:
                client.close()
    assert not any(s.is_running for s in cluster.servers)
