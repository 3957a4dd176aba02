"""The circuit breaker: its state machine on a manual clock, and the cache around it against a
real Redis server that is killed (connection refused) or paused (partitioned, data kept)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from cachecheck import BreakerPolicy, ManualClock, RedisServer, World
from cachecheck.strategies._mutants_edge import (
    NoHalfOpenBreakerCache,
    StaleAfterPartitionBreakerCache,
)
from cachecheck.strategies.breaker import (
    Admission,
    BreakerState,
    CircuitBreaker,
    CircuitBreakerCache,
)

Run = Callable[[Callable[[int], Any], int], list[Any]]
TIMEOUT = 1.0


def state_of(breaker: CircuitBreaker | CircuitBreakerCache) -> BreakerState:
    """The state, read through a call (mypy would otherwise narrow the property for good)."""
    return breaker.state


# -- the state machine alone ------------------------------------------------------------------


def test_state_machine_closed_open_half_open() -> None:
    """Threshold consecutive failures open it; the timeout allows one probe; the probe's
    failure re-opens for a new timeout, its success closes."""
    clock = ManualClock()
    breaker = CircuitBreaker(BreakerPolicy(failure_threshold=3, reset_timeout=TIMEOUT), clock)
    for _ in range(2):
        assert breaker.admit() is Admission.CALL
        breaker.failed(Admission.CALL)
    breaker.succeeded(Admission.CALL)  # success resets the count: failures must be consecutive
    for _ in range(3):
        breaker.failed(breaker.admit())
    assert state_of(breaker) is BreakerState.OPEN
    assert breaker.admit() is Admission.FALLBACK
    clock.advance(TIMEOUT - 0.01)
    assert breaker.admit() is Admission.FALLBACK
    clock.advance(0.01)
    assert breaker.admit() is Admission.PROBE
    assert breaker.admit() is Admission.FALLBACK  # only one probe
    breaker.failed(Admission.PROBE)
    assert state_of(breaker) is BreakerState.OPEN
    clock.advance(TIMEOUT / 2)
    assert breaker.admit() is Admission.FALLBACK  # the timeout restarted at the probe failure
    clock.advance(TIMEOUT / 2)
    assert breaker.admit() is Admission.PROBE
    breaker.succeeded(Admission.PROBE)
    assert state_of(breaker) is BreakerState.CLOSED
    assert [t.after for t in breaker.transitions] == [
        BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.OPEN, BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]  # fmt: skip


def test_late_outcomes_of_calls_admitted_while_closed_do_not_move_an_open_breaker() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(BreakerPolicy(failure_threshold=1, reset_timeout=TIMEOUT), clock)
    breaker.failed(breaker.admit())
    breaker.succeeded(Admission.CALL)  # a slow call that started before the breaker opened
    assert state_of(breaker) is BreakerState.OPEN
    clock.advance(TIMEOUT)
    assert breaker.admit() is Admission.PROBE
    breaker.failed(Admission.CALL)
    assert state_of(breaker) is BreakerState.HALF_OPEN


def test_exactly_one_probe_among_concurrent_callers(concurrently: Run) -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(BreakerPolicy(failure_threshold=1, reset_timeout=TIMEOUT), clock)
    breaker.failed(breaker.admit())
    clock.advance(TIMEOUT)
    admissions = concurrently(lambda i: breaker.admit(), 16)
    assert admissions.count(Admission.PROBE) == 1
    assert admissions.count(Admission.FALLBACK) == 15


# -- the cache against a real server ------------------------------------------------------------


@pytest.fixture
def server(cachecheck_redis_factory: Callable[..., RedisServer]) -> Iterator[RedisServer]:
    server = cachecheck_redis_factory()
    yield server
    if server.paused:
        server.resume()


def make_cache(
    world: World,
    server: RedisServer,
    client_for: Callable[..., redis.Redis],
    cls: type[CircuitBreakerCache] = CircuitBreakerCache,
    threshold: int = 2,
) -> tuple[CircuitBreakerCache, ManualClock]:
    clock = ManualClock()
    cache = cls(
        client_for(server, socket_timeout=0.25), world.database, namespace=world.namespace,
        policy=BreakerPolicy(failure_threshold=threshold, reset_timeout=TIMEOUT), ttl=30.0,
        clock=clock,
    )  # fmt: skip
    return cache, clock


def test_open_breaker_reads_the_database_without_calling_redis(
    world: World, server: RedisServer, client_for: Callable[..., redis.Redis]
) -> None:
    """Once open, reads are answered from the database and Redis is not called at all."""
    cache, _ = make_cache(world, server, client_for)
    world.database.write("k", "v")
    server.kill()
    assert [cache.get("k") for _ in range(2)] == ["v", "v"]
    assert state_of(cache) is BreakerState.OPEN
    calls = cache.stats["redis_calls"]
    assert [cache.get("k") for _ in range(20)] == ["v"] * 20
    cache.set("k", "v2")
    assert cache.get("k") == "v2"
    assert cache.stats["redis_calls"] == calls
    assert cache.pending_invalidations == {"k"}


@pytest.mark.parametrize(
    ("cls", "stale"),
    [(CircuitBreakerCache, False), (StaleAfterPartitionBreakerCache, True)],
    ids=["reference", "no-replay"],
)
def test_no_stale_read_after_a_partition_heals(
    world: World,
    server: RedisServer,
    client_for: Callable[..., redis.Redis],
    cls: type[CircuitBreakerCache],
    stale: bool,
) -> None:
    """Redis is partitioned (paused: it keeps its data) while a write commits; after the
    heal, the probe replays the pending invalidation before serving from Redis."""
    cache, clock = make_cache(world, server, client_for, cls)
    world.database.write("k", "v1")
    assert cache.get("k") == "v1"  # cached
    server.pause()
    assert [cache.get("k") for _ in range(2)] == ["v1", "v1"]  # two time-outs: open
    assert state_of(cache) is BreakerState.OPEN
    cache.set("k", "v2")  # database only
    server.resume()
    clock.advance(TIMEOUT)
    seen = cache.get("k")  # the probe
    assert state_of(cache) is BreakerState.CLOSED
    if stale:
        assert seen == "v1", "the mutant should serve the entry the partition kept"
    else:
        assert seen == "v2"
        assert cache.get("k") == "v2"
        assert cache.pending_invalidations == frozenset()


@pytest.mark.parametrize(
    ("cls", "attempts"),
    [(CircuitBreakerCache, 1), (NoHalfOpenBreakerCache, 3)],
    ids=["reference", "no-half-open"],
)
def test_after_the_timeout_a_dead_redis_gets_one_probe(
    world: World,
    server: RedisServer,
    client_for: Callable[..., redis.Redis],
    cls: type[CircuitBreakerCache],
    attempts: int,
) -> None:
    """With Redis still down after the timeout, the reference tries it once and re-opens; the
    no-half-open mutant closes for everyone and hits the dead server threshold more times.
    Once Redis is back, the next probe closes the breaker (liveness)."""
    cache, clock = make_cache(world, server, client_for, cls, threshold=3)
    world.database.write("k", "v")
    server.kill()
    assert [cache.get("k") for _ in range(3)] == ["v"] * 3
    assert state_of(cache) is BreakerState.OPEN
    clock.advance(TIMEOUT)
    calls = cache.stats["redis_calls"]
    assert [cache.get("k") for _ in range(5)] == ["v"] * 5
    assert cache.stats["redis_calls"] - calls == attempts
    assert state_of(cache) is BreakerState.OPEN
    server.restart()
    clock.advance(TIMEOUT)
    assert cache.get("k") == "v"
    assert state_of(cache) is BreakerState.CLOSED


def test_callers_during_the_probe_fall_back(
    world: World, server: RedisServer, client_for: Callable[..., redis.Redis], concurrently: Run
) -> None:
    """While the single probe hangs on a paused server, concurrent callers use the DB."""
    cache, clock = make_cache(world, server, client_for, threshold=1)
    world.database.write("k", "v")
    server.pause()
    assert cache.get("k") == "v"
    assert state_of(cache) is BreakerState.OPEN
    clock.advance(TIMEOUT)
    calls = cache.stats["redis_calls"]
    assert concurrently(lambda i: cache.get("k"), 6) == ["v"] * 6
    assert cache.stats["redis_calls"] - calls == 1
    assert cache.stats["probes"] == 1


def test_pending_overflow_flushes_the_namespace(
    world: World, server: RedisServer, client_for: Callable[..., redis.Redis]
) -> None:
    """Past max_pending deferred keys, recovery deletes every entry of this cache instead."""
    clock = ManualClock()
    policy = BreakerPolicy(failure_threshold=1, reset_timeout=TIMEOUT)
    client = client_for(server, socket_timeout=0.25)
    cache = CircuitBreakerCache(
        client, world.database, namespace=world.namespace, policy=policy, max_pending=2, clock=clock
    )
    for key in "abcd":
        world.database.write(key, "old")
        cache.get(key)
    server.pause()
    cache.get("a")  # opens
    server.resume()
    for key in "abc":
        cache.set(key, "new")  # the third one overflows
    clock.advance(TIMEOUT)
    assert cache.get("d") == "old"
    assert cache.stats["flushes"] == 1
    assert [cache.get(key) for key in "abc"] == ["new"] * 3
    assert state_of(cache) is BreakerState.CLOSED
