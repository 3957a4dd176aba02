"""The circuit breaker through the fault proxy: slow, unreachable, healed; and writes while
open with Redis partitioned (its data kept)."""

from __future__ import annotations

from scenario_helpers import caught, report_ready

from cachecheck import World
from cachecheck.scenarios import BreakerParams, run_breaker, run_breaker_partition
from cachecheck.strategies.breaker import BREAKER_CONTRACT, make_breaker_cache


def test_the_breaker_opens_falls_back_fast_probes_once_and_closes(world: World) -> None:
    """Blackhole outage (the harder one: probes wait for the socket timeout)."""
    params = BreakerParams(outage="blackhole")
    result = report_ready(
        run_breaker(world, make_breaker_cache, BREAKER_CONTRACT, params=params, seed=1)
    )
    m = result.measurements
    assert result.passed, result.summary()
    assert m["max_attempts_per_probe"] == 1 and m["failed_requests"] == 0
    # Open: answered from the database (10 ms) in the median, far below the 250 ms timeout.
    assert m["open_p50_ms"] < 0.25 * 1e3 / 2
    assert result.parameters["world"]["client"]["socket_timeout"] == 0.25
    states = next(f for f in result.figures if f["kind"] == "states")
    assert [s[2] for s in states["segments"]][:2] == ["closed", "open"]
    assert states["segments"][-1][2] == "closed"


def test_a_breaker_without_half_open_floods_a_dead_redis(world: World) -> None:
    result = caught(world, "breaker_no_half_open", "breaker")
    assert result.measurements["max_attempts_per_probe"] > 1


def test_writes_while_open_are_never_read_stale_after_recovery(world: World) -> None:
    result = report_ready(run_breaker_partition(world, make_breaker_cache, BREAKER_CONTRACT))
    m = result.measurements
    assert result.passed, result.summary()
    assert m["reads_after_recovery"] > 10 and m["stale_reads_after_recovery"] == 0


def test_skipped_invalidations_resurrect_stale_entries(world: World) -> None:
    result = caught(world, "breaker_stale_after_partition", "convergence")
    assert result.measurements["stale_reads_after_recovery"] > 0
