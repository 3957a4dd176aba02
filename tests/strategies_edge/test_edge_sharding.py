"""Client-side consistent hashing over several real servers, and Redis Cluster (opt-in)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import pytest
import redis

from cachecheck import RedisServer, World
from cachecheck.strategies._mutants_edge import ModuloShardedCache, NoGenerationShardedCache
from cachecheck.strategies.sharding import Ring, ShardedCache, remap_fraction

SAMPLE = [f"user:{i}" for i in range(5000)]
ClientFor = Callable[..., redis.Redis]


@pytest.fixture
def servers(cachecheck_redis_factory: Callable[..., RedisServer]) -> list[RedisServer]:
    return [cachecheck_redis_factory() for _ in range(4)]


def sharded(
    world: World,
    servers: list[RedisServer],
    client_for: ClientFor,
    cls: type[ShardedCache] = ShardedCache,
) -> ShardedCache:
    nodes = {f"s{i}": client_for(server) for i, server in enumerate(servers[:3])}
    return cls(nodes, world.database, namespace=world.namespace, ttl=30.0)


def test_adding_a_node_remaps_about_one_in_n_plus_one() -> None:
    """Ketama ring: 3 -> 4 nodes moves ~1/4 of the keys; 4 -> 3 moves the removed node's."""
    added = remap_fraction(SAMPLE, ["a", "b", "c"], ["a", "b", "c", "d"])
    assert 0.17 <= added <= 0.33, added
    removed = remap_fraction(SAMPLE, ["a", "b", "c", "d"], ["a", "b", "d"])
    assert 0.17 <= removed <= 0.33, removed


@pytest.mark.parametrize(
    ("cls", "low", "high"),
    [(ShardedCache, 0.10, 0.42), (ModuloShardedCache, 0.60, 0.90)],
    ids=["ketama", "modulo"],
)
def test_remap_fraction_measured_on_live_servers(
    world: World, servers: list[RedisServer], client_for: ClientFor, cls: type[ShardedCache],
    low: float, high: float,
) -> None:  # fmt: skip
    """Fill 200 keys over 3 servers, add a 4th: the keys that miss afterwards are exactly the
    remapped ones, about 1/4 with the ring and about 3/4 with modulo hashing."""
    cache = sharded(world, servers, client_for, cls)
    keys = SAMPLE[:200]
    for key in keys:
        world.database.write(key, f"value-{key}")
        assert cache.get(key) == f"value-{key}"
    assert all(client_for(server).dbsize() > 0 for server in servers[:3])
    before = cache.owners(keys)
    cache.add_node("s3", client_for(servers[3]))
    after = cache.owners(keys)
    moved = {key for key in keys if before[key] != after[key]}
    loads_before = sum(world.database.load_counts()[key] for key in keys)
    for key in keys:
        assert cache.get(key) == f"value-{key}"
    misses = sum(world.database.load_counts()[key] for key in keys) - loads_before
    assert misses == len(moved)
    assert all(after[key] == "s3" for key in moved) or cls is ModuloShardedCache
    assert low <= misses / len(keys) <= high, misses / len(keys)


@pytest.mark.parametrize(
    ("cls", "stale"),
    [(ShardedCache, False), (NoGenerationShardedCache, True)],
    ids=["reference", "no-generation"],
)
def test_a_key_that_moves_away_and_back_is_not_stale(
    world: World,
    servers: list[RedisServer],
    client_for: ClientFor,
    cls: type[ShardedCache],
    stale: bool,
) -> None:
    """k is cached on its old node, moves to a new node, is written (invalidated on the new
    node only), then moves back when the new node leaves: the old copy must not be served."""
    cache = sharded(world, servers, client_for, cls)
    old_owners = cache.owners(SAMPLE[:200])
    new_node = client_for(servers[3])
    preview = Ring.build(1, [*cache.nodes, "s3"], cache.vnodes)
    key = next(k for k in SAMPLE[:200] if preview.continuum.get_node(k) == "s3")
    world.database.write(key, "v1")
    assert cache.get(key) == "v1"  # cached on old_owners[key]
    cache.add_node("s3", new_node)
    assert cache.node_for(key) == "s3" != old_owners[key]
    cache.set(key, "v2")
    assert cache.get(key) == "v2"
    cache.remove_node("s3")
    assert cache.generation == 2 and cache.node_for(key) == old_owners[key]
    assert cache.get(key) == ("v1" if stale else "v2")


def test_topology_api(world: World, servers: list[RedisServer], client_for: ClientFor) -> None:
    cache = sharded(world, servers, client_for)
    assert list(cache.nodes) == ["s0", "s1", "s2"] and cache.generation == 0
    with pytest.raises(ValueError, match="already"):
        cache.add_node("s0", client_for(servers[3]))
    with pytest.raises(KeyError):
        cache.remove_node("nope")
    removed = cache.remove_node("s2")
    assert isinstance(removed, redis.Redis)
    cache.remove_node("s1")
    with pytest.raises(ValueError, match="last node"):
        cache.remove_node("s0")
    assert cache.generation == 2 and list(cache.nodes) == ["s0"]
    world.database.write("k", "v")
    assert cache.get("k") == "v" and cache.get("k") == "v"


def test_ring_needs_uhashring_with_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uhashring", None)
    with pytest.raises(ImportError, match=r"pytest-cachecheck\[sharding\]"):
        Ring.build(0, ["a"], 40)


CLUSTER_URL = os.environ.get("CACHECHECK_REDIS_CLUSTER")


@pytest.mark.skipif(
    not CLUSTER_URL,
    reason="needs a Redis Cluster: set CACHECHECK_REDIS_CLUSTER=redis://host:port (any node)",
)
def test_the_same_cache_runs_on_redis_cluster(world: World) -> None:
    """Hash-tagged keys keep Lua fills and multi-key DELs inside one slot."""
    from redis.cluster import RedisCluster

    assert CLUSTER_URL is not None
    cluster = RedisCluster.from_url(CLUSTER_URL, decode_responses=True)
    try:
        namespace = f"cc:{os.getpid()}:edge:"
        cache = ShardedCache.for_cluster(cluster, world.database, namespace=namespace, ttl=30.0)
        assert cache.nodes == ("cluster",)
        for i in range(20):
            world.database.write(f"k{i}", f"v{i}")
            assert cache.get(f"k{i}") == f"v{i}"
            cache.set(f"k{i}", f"w{i}")
            assert cache.get(f"k{i}") == f"w{i}"
        with pytest.raises(TypeError, match="Cluster"):
            cache.add_node("x", cluster)
    finally:
        for key in cluster.scan_iter(match=namespace + "*", target_nodes=RedisCluster.ALL_NODES):
            cluster.delete(key)
        cluster.close()
