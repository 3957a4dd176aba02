"""Stampedes against real Redis and a slow database: threads and spawned processes, a lock
holder SIGKILLed mid-load, a holder outlasting its lock; and XFetch at expiry."""

from __future__ import annotations

from functools import partial

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scenario_helpers import caught, fails_in_children, report_ready

from cachecheck import World
from cachecheck.scenarios import (
    LockOverrunParams,
    StampedeParams,
    plain_cache_aside,
    run_stampede,
    run_stampede_holder_crash,
    run_stampede_lock_overrun,
    run_xfetch_expiry,
)
from cachecheck.strategies._mutants_edge import PlainDelLockedCacheAside
from cachecheck.strategies.cache_aside import cache_aside_contract
from cachecheck.strategies.stampede import (
    STAMPEDE_LOCK_CONTRACT,
    XFETCH_CONTRACT,
    make_locked_cache_aside,
    make_xfetch,
)

#: A busy spin polls thousands of times per second; backoff from 5 ms to 100 ms is ~25/s.
POLL_LIMIT = 200.0


def test_the_lock_loads_once_per_episode_across_threads_and_processes(world: World) -> None:
    """4 threads and 3 processes (each its own node) miss together, 3 times: one load per
    episode, the others wait about one database load, polling with backoff."""
    params = StampedeParams(threads=4, processes=3, rounds=3, db_latency=0.3)
    result = report_ready(
        run_stampede(world, make_locked_cache_aside, STAMPEDE_LOCK_CONTRACT, params=params, seed=1)
    )
    m = result.measurements
    assert result.passed, result.summary()
    assert m["loads_per_round"] == [1, 1, 1] and m["failed_reads"] == 0
    assert m["waiters"] == 3 * (7 - 1)
    # Waiters wait for the holder's load (0.3 s); generous upper bound for a loaded machine.
    assert 0.3 * 1e3 * 0.9 <= m["waiter_p50_ms"] <= 3 * 1e3
    assert m["waiter_redis_commands_per_s"] < POLL_LIMIT


def test_without_protection_every_client_loads(world: World) -> None:
    """The unprotected baseline: N clients, N loads per episode (measured, not a failure:
    plain cache-aside promises no single-flight)."""
    params = StampedeParams(threads=6, rounds=2, db_latency=0.2)
    result = report_ready(
        run_stampede(world, plain_cache_aside, cache_aside_contract(), params=params, seed=1)
    )
    assert result.passed, result.summary()
    assert result.measurements["loads_per_round"] == [6, 6]


def test_a_lock_without_nx_lets_everyone_load(world: World) -> None:
    result = caught(world, "stampede_lock_without_nx", "single_flight")
    assert result.measurements["max_loads_per_episode"] == 6


def test_waiters_recover_when_the_holder_is_killed_mid_load(world: World) -> None:
    """The holder's lock expires after its TTL (2 s); one waiter takes over and loads once;
    all return within TTL + 2 s of the holder starting its load."""
    result = report_ready(
        run_stampede_holder_crash(world, make_locked_cache_aside, STAMPEDE_LOCK_CONTRACT, seed=1)
    )
    m = result.measurements
    assert result.passed, result.summary()
    assert m["waiter_loads"] == 1 and m["recovered_after_s"] <= m["recovery_bound_s"]
    assert m["recovered_after_s"] >= m["lock_ttl_s"] * 0.9  # they did wait for the lock


def test_a_lock_without_expiry_starves_its_waiters(world: World) -> None:
    result = caught(world, "stampede_lock_without_expiry", "single_flight")
    assert result.measurements["waiter_loads"] == 5
    assert result.finding_for("ttl_hygiene") is not None  # the dead holder's lock never expires


def test_compare_and_delete_keeps_mutual_exclusion_when_a_load_outlasts_the_lock(
    world: World,
) -> None:
    result = report_ready(
        run_stampede_lock_overrun(world, make_locked_cache_aside, STAMPEDE_LOCK_CONTRACT, seed=1)
    )
    m = result.measurements
    assert result.passed, result.summary()
    assert m["foreign_releases"] == 0 and not m["c_loaded_while_b_held"]


def test_plain_del_is_caught_releasing_another_clients_lock(world: World) -> None:
    result = caught(world, "stampede_plain_del_release", "mutual_exclusion")
    assert result.finding_for("owner_only_release") is not None
    assert result.measurements["c_loaded_while_b_held"] is True


def test_the_overrun_scenario_takes_any_lock_ttl(world: World) -> None:
    """The same bug with a short lock (explicit params instead of the contract's)."""
    factory = partial(make_locked_cache_aside, cls=PlainDelLockedCacheAside, lock_ttl=0.3)
    result = run_stampede_lock_overrun(
        world, factory, STAMPEDE_LOCK_CONTRACT, params=LockOverrunParams(lock_ttl=0.3)
    )
    assert "mutual_exclusion" in result.violated


@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32 - 1))
def test_xfetch_recomputes_early_and_prevents_the_stampede(world: World, seed: int) -> None:
    """Any seed: one early recomputation near expiry, none premature, no burst at expiry.
    (P(no early recompute at all) is about 3e-4 per seed with delta 0.5 s and 0.1 s steps.)"""
    result = run_xfetch_expiry(world, make_xfetch, XFETCH_CONTRACT, seed=seed)
    assert result.passed, result.summary()
    assert result.measurements["burst_loads"] == 0


def test_xfetch_never_early_stampedes_at_expiry(world: World) -> None:
    result = caught(world, "xfetch_never_early", "single_flight")
    assert result.measurements["burst_loads"] == 6


def test_xfetch_always_recompute_recomputes_far_from_expiry(world: World) -> None:
    result = caught(world, "xfetch_always_recompute", "single_flight")
    assert result.finding_for("early_recompute_only_near_expiry") is not None


def test_a_child_that_fails_fails_the_scenario_at_once_and_leaves_nothing(world: World) -> None:
    """A factory that raises in the child processes: the scenario raises with the child's
    traceback within seconds (not after the 120 s barrier timeout), and every thread and
    process is gone (checked by the leak fixture)."""
    params = StampedeParams(threads=2, processes=2, rounds=1)
    with pytest.raises(RuntimeError, match="broken_child_factory"):
        run_stampede(world, fails_in_children, STAMPEDE_LOCK_CONTRACT, params=params)
    with pytest.raises(RuntimeError, match="broken_child_factory"):
        run_stampede_holder_crash(world, fails_in_children, STAMPEDE_LOCK_CONTRACT)


def test_a_factory_that_cannot_travel_to_a_process_is_refused(world: World) -> None:
    with pytest.raises(TypeError, match="importable"):
        run_stampede(world, lambda w: make_locked_cache_aside(w), STAMPEDE_LOCK_CONTRACT,
                     params=StampedeParams(processes=1))  # fmt: skip
