"""A cache-aside that reports Prometheus metrics: hits, misses, latency, evictions, hit ratio.

Needs prometheus_client (extra `[metrics]`), imported when a `MetricsCache` is built.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

import redis

from cachecheck._clock import Clock, MonotonicClock
from cachecheck._contract import Contract, TtlPolicy
from cachecheck._database import Database

from ._common import Keys
from ._registry import Reference, register_reference
from .stampede import (
    Counters,
    FillLease,
    RedisClient,
    check_positive,
    decode_entry,
    encode_entry,
    text,
)

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from cachecheck._world import World

#: Latency buckets (seconds) for a cache: most hits take well under a millisecond.
DEFAULT_BUCKETS: Final = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "MetricsCache needs prometheus_client: pip install 'pytest-cachecheck[metrics]'"
        ) from exc
    return prometheus_client


class EvictionTracker:
    """Evictions since this tracker started, from `INFO stats` `evicted_keys` deltas.

    `evicted_keys` is server-wide and restarts at 0 when the server restarts; the tracker
    accumulates deltas so the total only grows (a Prometheus counter).
    """

    def __init__(self, client: RedisClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._last = self._read()
        self._total = 0

    def refresh(self) -> int:
        """Read the server's counter and return the evictions seen since the start."""
        current = self._read()
        with self._lock:
            # A smaller value means the server restarted: everything it reports is new.
            self._total += current if current < self._last else current - self._last
            self._last = current
            return self._total

    def _read(self) -> int:
        info: Any = self._client.info("stats")
        if isinstance(info, dict) and "evicted_keys" in info:
            return int(info["evicted_keys"])
        # Cluster clients answer per node: sum over the nodes.
        return sum(int(node.get("evicted_keys", 0)) for node in dict(info).values())


class MetricsCache:
    """Lease-guarded cache-aside instrumented with prometheus_client.

    **Use it** when you need to know whether the cache works: hit ratio, latency of hits and
    misses, and whether Redis evicts entries under memory pressure.

    **Metrics** (in `registry`, a fresh `CollectorRegistry` per instance unless one is given;
    every series has a `cache` label):

    - `cache_hits_total`, `cache_misses_total`: lookups. A cached "absent" is a hit.
    - `cache_operation_duration_seconds{operation, result}`: latency histogram.
    - `cache_errors_total{operation}`: operations that raised.
    - `cache_evictions_total`: server evictions since the instance started (`INFO stats`
      `evicted_keys` delta, read at scrape time; server-wide, not per namespace).
    - `cache_hit_ratio`: hits / (hits + misses) since start, derived at scrape time.

    **Contract.** Like cache-aside (see `FillLease`): reads after a completed write see it.

    **Cost.** Hit: 1 round trip plus a few microseconds of counting. Each scrape: one `INFO`.
    """

    strategy = "metrics"

    def __init__(
        self,
        client: RedisClient,
        database: Database,
        *,
        namespace: str,
        ttl: float = 30.0,
        lease_ttl: float = 10.0,
        registry: CollectorRegistry | None = None,
        cache_name: str = "default",
        buckets: Sequence[float] = DEFAULT_BUCKETS,
        clock: Clock | None = None,
        name: str | None = None,
    ) -> None:
        check_positive(ttl=ttl, lease_ttl=lease_ttl)
        prometheus = _prometheus()
        self.client = client
        self.database = database
        self.keys = Keys(namespace, name or self.strategy)
        self.ttl = ttl
        self.cache_name = cache_name
        self.clock: Clock = clock or MonotonicClock()
        self._lease = FillLease(client, lease_ttl=lease_ttl)
        self.registry: CollectorRegistry = registry or prometheus.CollectorRegistry()
        self.evictions = EvictionTracker(client)
        self._counts = Counters("hits", "misses")
        labels = ("cache",)
        self._hits = prometheus.Counter(
            "cache_hits", "Cache lookups answered from the cache.", labels, registry=self.registry
        ).labels(cache_name)
        self._misses = prometheus.Counter(
            "cache_misses", "Cache lookups that went to the source of truth.", labels,
            registry=self.registry,
        ).labels(cache_name)  # fmt: skip
        self._errors = prometheus.Counter(
            "cache_errors", "Cache operations that raised.", ("cache", "operation"),
            registry=self.registry,
        )  # fmt: skip
        self._latency = prometheus.Histogram(
            "cache_operation_duration_seconds", "Latency of cache operations.",
            ("cache", "operation", "result"), buckets=tuple(buckets), registry=self.registry,
        )  # fmt: skip
        self.registry.register(_DerivedCollector(self, prometheus))

    # -- Subject --------------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        started = time.perf_counter()
        try:
            value_key, lease_key = self.keys.value(key), self.keys.meta("lease", key)
            found, value = decode_entry(text(self.client.get(value_key)))
            self._count(found, value)
            if not found:
                token = self._lease.begin(self.client, lease_key)
                value = self.database.read(key)
                self._lease.fill(
                    self.client, value_key, lease_key, token, encode_entry(value), self.ttl
                )
        except BaseException:
            self._errors.labels(self.cache_name, "get").inc()
            raise
        self._observe("get", "hit" if found else "miss", started)
        return value

    def set(self, key: str, value: str) -> None:
        self._write("set", key, value)

    def delete(self, key: str) -> None:
        self._write("delete", key, None)

    @property
    def contract(self) -> Contract:
        return metrics_contract(
            ttl=self.ttl, lease_ttl=self._lease.lease_ttl, name=self.keys.strategy
        )

    # -- derived numbers ------------------------------------------------------------------

    @property
    def hits(self) -> int:
        return self._counts["hits"]

    @property
    def misses(self) -> int:
        return self._counts["misses"]

    @property
    def hit_ratio(self) -> float:
        """hits / (hits + misses); 0.0 before the first lookup."""
        hits, misses = self.hits, self.misses
        return hits / (hits + misses) if hits + misses else 0.0

    def sample(self, metric: str, **labels: str) -> float | None:
        """One sample value from the registry, e.g. `sample("cache_hits_total")`."""
        value = self.registry.get_sample_value(metric, {"cache": self.cache_name, **labels})
        return None if value is None else float(value)

    # -- internals ----------------------------------------------------------------------------

    def _count(self, found: bool, value: str | None) -> None:
        if found:
            self._counts.add("hits")
            self._hits.inc()
        else:
            self._counts.add("misses")
            self._misses.inc()

    def _write(self, operation: str, key: str, value: str | None) -> None:
        started = time.perf_counter()
        try:
            if value is None:
                self.database.delete(key)
            else:
                self.database.write(key, value)
            FillLease.invalidate(self.client, self.keys.value(key), self.keys.meta("lease", key))
        except BaseException:
            self._errors.labels(self.cache_name, operation).inc()
            raise
        self._observe(operation, "ok", started)

    def _observe(self, operation: str, result: str, started: float) -> None:
        self._latency.labels(self.cache_name, operation, result).observe(
            time.perf_counter() - started
        )

    def __repr__(self) -> str:
        return f"MetricsCache(cache_name={self.cache_name!r}, namespace={self.keys.namespace!r})"


class _DerivedCollector:
    """Numbers computed at scrape time: evictions (one INFO call) and the hit ratio."""

    def __init__(self, cache: MetricsCache, prometheus: Any) -> None:
        self._cache = cache
        self._families = prometheus.metrics_core

    def describe(self) -> list[Any]:
        # Describing without collecting keeps registration free of Redis calls.
        return [
            self._families.CounterMetricFamily("cache_evictions", "", labels=["cache"]),
            self._families.GaugeMetricFamily("cache_hit_ratio", "", labels=["cache"]),
        ]

    def collect(self) -> Iterator[Any]:
        cache = self._cache
        ratio = self._families.GaugeMetricFamily(
            "cache_hit_ratio", "Hits / (hits + misses) since start.", labels=["cache"]
        )
        ratio.add_metric([cache.cache_name], cache.hit_ratio)
        yield ratio
        try:
            evicted = cache.evictions.refresh()
        except redis.RedisError:
            return  # no sample beats a wrong one; the scrape itself must not fail
        evictions = self._families.CounterMetricFamily(
            "cache_evictions", "Keys the Redis server evicted since this cache started.",
            labels=["cache"],
        )  # fmt: skip
        evictions.add_metric([cache.cache_name], evicted)
        yield evictions


def metrics_contract(*, ttl: float, lease_ttl: float, name: str = "metrics") -> Contract:
    """What `MetricsCache` with these parameters promises."""
    return Contract(
        name=name,
        staleness_bound=ttl,
        read_your_writes=True,
        ttl=TtlPolicy(max_seconds=max(ttl, lease_ttl)),
        negative_ttl=ttl,
        notes="Cache-aside with Prometheus metrics; a cached absence counts as a hit.",
        extra={"metrics": ["cache_hits_total", "cache_misses_total", "cache_evictions_total"]},
    )


REFERENCE_TTL: Final = 5.0
METRICS_CONTRACT: Final = metrics_contract(ttl=REFERENCE_TTL, lease_ttl=10.0)


def make_metrics_cache(
    world: World, *, cls: type[MetricsCache] = MetricsCache, **overrides: Any
) -> MetricsCache:
    """The registered reference (or, with `cls`, a variant of it) on `world`."""
    options: dict[str, Any] = {"ttl": REFERENCE_TTL, "clock": world.clock}
    options.update(overrides)
    return cls(world.client(), world.database, namespace=world.namespace, **options)


register_reference(
    Reference(
        "metrics",
        make_metrics_cache,
        METRICS_CONTRACT,
        "Cache-aside with prometheus_client hit/miss/latency/eviction metrics.",
    )
)

__all__ = [
    "DEFAULT_BUCKETS",
    "EvictionTracker",
    "MetricsCache",
    "make_metrics_cache",
    "metrics_contract",
]
