"""MetricsCache: Prometheus counters, latency histogram, evictions from INFO, hit ratio."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest
import redis
from prometheus_client import CollectorRegistry, generate_latest

from cachecheck import RedisServer, World
from cachecheck.strategies._mutants_edge import NegativeAsMissMetricsCache
from cachecheck.strategies.metrics import MetricsCache


def metrics_cache(
    world: World, cls: type[MetricsCache] = MetricsCache, **options: Any
) -> MetricsCache:
    return cls(
        world.client(), world.database, namespace=world.namespace, cache_name="users", **options
    )


def _workload(cache: MetricsCache, world: World) -> None:
    """3 misses (two present keys, one absent) and 4 hits (one of them a cached absence)."""
    world.database.write("a", "1")
    world.database.write("b", "2")
    for key in ("a", "b", "nobody"):
        cache.get(key)
    for key in ("a", "a", "b", "nobody"):
        cache.get(key)


@pytest.mark.parametrize(
    ("cls", "ok"),
    [(MetricsCache, True), (NegativeAsMissMetricsCache, False)],
    ids=["reference", "negative-as-miss"],
)
def test_hits_misses_latency_and_ratio(world: World, cls: type[MetricsCache], ok: bool) -> None:
    """Counters match the workload exactly; the mutant counts the cached absence as a miss."""
    cache = metrics_cache(world, cls)
    _workload(cache, world)
    counted = (cache.sample("cache_hits_total"), cache.sample("cache_misses_total"))
    assert (counted == (4.0, 3.0)) is ok
    assert (cache.sample("cache_hit_ratio") == pytest.approx(4 / 7)) is ok
    assert cache.hit_ratio == pytest.approx(cache.hits / 7)
    gets = [
        cache.sample("cache_operation_duration_seconds_count", operation="get", result=result)
        for result in ("hit", "miss")
    ]
    assert sum(g or 0 for g in gets) == 7
    cache.set("a", "3")
    cache.delete("b")
    ok_writes = cache.sample("cache_operation_duration_seconds_count", operation="set", result="ok")
    assert ok_writes == 1.0


def test_each_instance_has_its_own_registry(world: World) -> None:
    """Two caches in one process do not collide (no global registry), and the exposition
    format renders every metric."""
    first, second = metrics_cache(world), metrics_cache(world)
    first.get("x")
    assert first.registry is not second.registry
    assert second.sample("cache_misses_total") == 0.0
    text = generate_latest(first.registry).decode()
    names = ["cache_hits_total", "cache_misses_total", "cache_operation_duration_seconds_bucket"]
    for name in [*names, "cache_evictions_total", "cache_hit_ratio"]:
        assert name in text
    shared = CollectorRegistry()
    metrics_cache(world, registry=shared)
    with pytest.raises(ValueError, match="Duplicated"):
        metrics_cache(world, registry=shared)  # a shared registry needs distinct metric names


def test_errors_are_counted(world: World) -> None:
    cache = metrics_cache(world)
    world.database.hooks.fail_reads = True
    with pytest.raises(ConnectionError):
        cache.get("k")
    assert cache.sample("cache_errors_total", operation="get") == 1.0


def test_evictions_are_the_server_delta_since_start(
    world: World,
    cachecheck_redis_factory: Callable[..., RedisServer],
    client_for: Callable[..., redis.Redis],
) -> None:
    """On a server with a small maxmemory and allkeys-lru, filling it evicts keys; the
    counter equals the INFO evicted_keys delta since the cache started."""
    server = cachecheck_redis_factory(maxmemory="4mb", maxmemory_policy="allkeys-lru")
    client = client_for(server)
    baseline = int(client.info("stats")["evicted_keys"])
    cache = MetricsCache(client, world.database, namespace=world.namespace)
    assert cache.sample("cache_evictions_total") == 0.0
    pipe = client.pipeline(transaction=False)
    for i in range(2000):
        pipe.set(f"{world.namespace}filler:{i}", "x" * 4096, px=60_000)
    pipe.execute()
    evicted = int(client.info("stats")["evicted_keys"]) - baseline
    assert evicted > 0
    assert cache.sample("cache_evictions_total") == float(evicted)


def test_missing_prometheus_client_names_the_extra(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(ImportError, match=r"pytest-cachecheck\[metrics\]"):
        metrics_cache(world)
