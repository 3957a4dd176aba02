"""One run of every chaos scenario on its reference strategy (and the unprotected baselines),
timed, with the scenario's headline numbers in `extra_info` and a table at the end.

Run: `python -m pytest benchmarks/bench_scenarios.py --benchmark-only -p no:valkey -s`
(`--benchmark-json=out.json` keeps every measurement). The numbers depend on the machine:
read them against the parameters each result records, not as absolutes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cachecheck import Database, RedisServer, World
from cachecheck._settings import CachecheckSettings
from cachecheck.scenarios import (
    ScenarioResult,
    StampedeParams,
    plain_cache_aside,
    run_breaker,
    run_breaker_partition,
    run_invalidation_loss,
    run_jittered_expiry,
    run_refresh_ahead,
    run_stale_after_restart,
    run_stampede,
    run_stampede_holder_crash,
    run_stampede_lock_overrun,
    run_write_behind_loss,
    run_write_behind_worker_crash,
    run_xfetch_expiry,
)
from cachecheck.strategies.breaker import BREAKER_CONTRACT, make_breaker_cache
from cachecheck.strategies.cache_aside import (
    CacheAside,
    LeasedCacheAside,
    cache_aside_contract,
    leased_contract,
)
from cachecheck.strategies.invalidation import (
    PubSubInvalidation,
    StreamInvalidation,
    event_contract,
)
from cachecheck.strategies.refresh_ahead import RefreshAhead, refresh_ahead_contract
from cachecheck.strategies.stampede import (
    STAMPEDE_LOCK_CONTRACT,
    XFETCH_CONTRACT,
    make_locked_cache_aside,
    make_xfetch,
)
from cachecheck.strategies.ttl_jitter import JitteredTTLCache, jittered_contract
from cachecheck.strategies.write_behind import WriteBehind, persistence_of, write_behind_contract

#: Headline measurements per scenario, in table order.
HEADLINES: dict[str, tuple[str, ...]] = {
    "write_behind_loss": ("persistence", "acknowledged", "lost", "loss_window_s",
                          "loss_window_bound_s"),
    "write_behind_worker_crash": ("acknowledged", "lost", "regressions", "crashed_mid_batch"),
    "stampede": ("clients", "loads_per_round", "waiter_p50_ms", "waiter_redis_commands_per_s"),
    "stampede_holder_crash": ("lock_ttl_s", "recovered_after_s", "waiter_loads"),
    "stampede_lock_overrun": ("foreign_releases", "overlaps", "c_loaded_while_b_held"),
    "xfetch_expiry": ("recomputes_before_expiry", "first_recompute_gap_s", "burst_loads"),
    "breaker": ("outage", "time_to_open_s", "failures_to_open", "slow_p50_ms", "open_p50_ms",
                "open_p99_ms", "max_attempts_per_probe", "time_to_close_s"),
    "breaker_partition": ("time_to_open_s", "time_to_close_s", "stale_reads_after_recovery"),
    "jittered_expiry": ("spread_s", "jitter_s", "expiry_spread_compressed_s",
                        "peak_loads_per_window", "windows_with_loads"),
    "invalidation_loss": ("fault", "stale_reads", "max_staleness_ms", "failed_reads"),
    "stale_after_restart": ("persistence", "resurrected_keys"),
    "refresh_ahead": ("miss_loads_per_key", "refresh_loads_per_key",
                      "max_refreshes_in_flight", "read_p50_ms"),
}  # fmt: skip

_RESULTS: list[ScenarioResult] = []


@pytest.fixture(scope="module", autouse=True)
def _table() -> Iterator[None]:
    yield
    print("\n\nscenario | subject | passed | headline numbers")
    print("---|---|---|---")
    for r in _RESULTS:
        numbers = ", ".join(f"{k}={r.measurements.get(k)}" for k in HEADLINES.get(r.name, ()))
        print(f"{r.name} | {r.subject} | {r.passed} | {numbers}")


def _run(benchmark: Any, fn: Callable[[], ScenarioResult]) -> ScenarioResult:
    result: ScenarioResult = benchmark.pedantic(fn, rounds=1, iterations=1)
    benchmark.extra_info.update({k: result.measurements.get(k) for k in HEADLINES[result.name]})
    benchmark.extra_info["passed"] = result.passed
    _RESULTS.append(result)
    return result


def _write_behind(world: World) -> WriteBehind:
    return WriteBehind(world.client, world.database, world.namespace,
                       persistence=persistence_of(world), clock=world.clock)  # fmt: skip


@pytest.fixture
def world_on(
    cachecheck_redis_factory: Callable[..., RedisServer],
    cachecheck_db: Database,
    cachecheck_settings: CachecheckSettings,
) -> Iterator[Callable[[str], World]]:
    made: list[World] = []

    def make(persistence: str) -> World:
        world = World(cachecheck_redis_factory(persistence=persistence), cachecheck_db,
                      cachecheck_settings.client, cachecheck_db.clock)  # fmt: skip
        made.append(world)
        return world

    yield make
    for world in made:
        world.close_clients()
        world.admin_client().close()


@pytest.mark.parametrize("persistence", ["aof:always", "aof:everysec", "none"])
def test_write_behind_loss(benchmark: Any, world_on: Any, persistence: str) -> None:
    world = world_on(persistence)
    contract = write_behind_contract(persistence=persistence)
    _run(benchmark, lambda: run_write_behind_loss(world, _write_behind, contract, seed=1))


def test_write_behind_worker_crash(benchmark: Any, cachecheck_world: World) -> None:
    _run(benchmark, lambda: run_write_behind_worker_crash(
        cachecheck_world, _write_behind, write_behind_contract(), seed=1))  # fmt: skip


@pytest.mark.parametrize("protected", [True, False], ids=["lock", "unprotected"])
def test_stampede(benchmark: Any, cachecheck_world: World, protected: bool) -> None:
    params = StampedeParams(threads=4, processes=3)
    factory, contract = (
        (make_locked_cache_aside, STAMPEDE_LOCK_CONTRACT) if protected
        else (plain_cache_aside, cache_aside_contract())
    )  # fmt: skip
    _run(benchmark, lambda: run_stampede(cachecheck_world, factory, contract, params=params,
                                         seed=1))  # fmt: skip


def test_stampede_holder_crash(benchmark: Any, cachecheck_world: World) -> None:
    _run(benchmark, lambda: run_stampede_holder_crash(
        cachecheck_world, make_locked_cache_aside, STAMPEDE_LOCK_CONTRACT, seed=1))  # fmt: skip


def test_stampede_lock_overrun(benchmark: Any, cachecheck_world: World) -> None:
    _run(benchmark, lambda: run_stampede_lock_overrun(
        cachecheck_world, make_locked_cache_aside, STAMPEDE_LOCK_CONTRACT, seed=1))  # fmt: skip


def test_xfetch_expiry(benchmark: Any, cachecheck_world: World) -> None:
    _run(benchmark, lambda: run_xfetch_expiry(cachecheck_world, make_xfetch, XFETCH_CONTRACT,
                                              seed=1))  # fmt: skip


def test_breaker(benchmark: Any, cachecheck_world: World) -> None:
    _run(benchmark, lambda: run_breaker(cachecheck_world, make_breaker_cache, BREAKER_CONTRACT,
                                        seed=1))  # fmt: skip


def test_breaker_partition(benchmark: Any, cachecheck_world: World) -> None:
    _run(benchmark, lambda: run_breaker_partition(
        cachecheck_world, make_breaker_cache, BREAKER_CONTRACT, seed=1))  # fmt: skip


def _jittered(world: World) -> JitteredTTLCache:
    return JitteredTTLCache(world.client(), world.database, world.namespace, clock=world.clock)


def _plain(world: World) -> CacheAside:
    return CacheAside(world.client(), world.database, world.namespace, clock=world.clock)


@pytest.mark.parametrize("jitter", [True, False], ids=["jitter", "no-jitter"])
def test_jittered_expiry(benchmark: Any, cachecheck_world: World, jitter: bool) -> None:
    factory, contract = (_jittered, jittered_contract()) if jitter else (
        _plain, cache_aside_contract())  # fmt: skip
    _run(benchmark, lambda: run_jittered_expiry(cachecheck_world, factory, contract, seed=1))


@pytest.mark.parametrize("cls", [PubSubInvalidation, StreamInvalidation],
                         ids=["pubsub", "stream"])  # fmt: skip
def test_invalidation_loss(benchmark: Any, cachecheck_world: World, cls: Any) -> None:
    def factory(world: World) -> Any:
        return cls(world.client, world.database, world.namespace, clock=world.clock)

    contract = event_contract(cls.strategy, durable=cls is StreamInvalidation)
    _run(benchmark, lambda: run_invalidation_loss(cachecheck_world, factory, contract, seed=1))


@pytest.mark.parametrize("persistence", ["rdb", "aof:always"])
def test_stale_after_restart(benchmark: Any, world_on: Any, persistence: str) -> None:
    def leased(world: World) -> LeasedCacheAside:
        return LeasedCacheAside(world.client(), world.database, world.namespace,
                                clock=world.clock)  # fmt: skip

    world = world_on(persistence)
    _run(benchmark, lambda: run_stale_after_restart(world, leased, leased_contract(), seed=1))


def test_refresh_ahead(benchmark: Any, cachecheck_world: World) -> None:
    def factory(world: World) -> RefreshAhead:
        return RefreshAhead(world.client(), world.database, world.namespace, clock=world.clock)

    _run(benchmark, lambda: run_refresh_ahead(cachecheck_world, factory,
                                              refresh_ahead_contract(), seed=1))  # fmt: skip
