"""Jittered expiry and the avalanche; refresh-ahead under latency."""

from __future__ import annotations

from scenario_helpers import caught, report_ready

from cachecheck import World
from cachecheck.scenarios import run_jittered_expiry, run_refresh_ahead
from cachecheck.strategies.cache_aside import CacheAside, cache_aside_contract
from cachecheck.strategies.refresh_ahead import RefreshAhead, refresh_ahead_contract
from cachecheck.strategies.ttl_jitter import JitteredTTLCache, jittered_contract


def jittered(world: World) -> JitteredTTLCache:
    return JitteredTTLCache(world.client(), world.database, world.namespace, clock=world.clock)


def plain(world: World) -> CacheAside:
    return CacheAside(world.client(), world.database, world.namespace, clock=world.clock)


def test_jitter_spreads_expiries_and_flattens_the_load_peak(world: World) -> None:
    """40 keys filled together. With ±6 s of jitter on 60 s they spread over ~12 s (about
    2x the jitter: 0.6 s once compressed, six 100 ms windows, ~7 loads per window); without
    jitter they expire within a few milliseconds and their loads pile up in the first window
    after the expiry (delayed only by how fast readers come round to each key: ~40 ms
    unloaded). On a loaded 2-core machine readers are slower and the pile smears, so the
    peaks are compared with a factor of 1.5, not the ~4 seen unloaded."""
    with_jitter = report_ready(run_jittered_expiry(world, jittered, jittered_contract(), seed=1))
    without = report_ready(run_jittered_expiry(world, plain, cache_aside_contract(), seed=1))
    assert with_jitter.passed, with_jitter.summary()
    assert without.passed, without.summary()
    jm, pm = with_jitter.measurements, without.measurements
    assert jm["spread_over_jitter"] >= 1.0 and jm["ttl_max_s"] <= 66.0
    assert jm["expiry_spread_compressed_s"] >= 3 * jm["window_s"]
    assert pm["expiry_spread_compressed_s"] < pm["window_s"] / 2
    assert pm["peak_loads_per_window"] >= 1.5 * jm["peak_loads_per_window"]
    assert jm["loads"] >= jm["keys"]  # every key expired and was reloaded


def test_ttl_in_the_wrong_unit_is_caught(world: World) -> None:
    caught(world, "ttl_jitter_ms_as_seconds", "ttl_hygiene")


def refresh_ahead(world: World) -> RefreshAhead:
    return RefreshAhead(world.client(), world.database, world.namespace, clock=world.clock)


def test_one_refresh_in_flight_per_key_and_none_on_a_miss(world: World) -> None:
    result = report_ready(run_refresh_ahead(world, refresh_ahead, refresh_ahead_contract()))
    m = result.measurements
    assert result.passed, result.summary()
    assert m["miss_loads_per_key"] == {"k0": 1, "k1": 1}
    assert m["refresh_loads_per_key"] == {"k0": 1, "k1": 1}
    assert m["max_refreshes_in_flight"] == 1 and m["failed_reads"] == 0
    # Hits keep going to Redis (5 ms each way), not waiting for the 200 ms refresh.
    assert m["read_p50_ms"] < 200


def test_a_refresh_storm_is_caught(world: World) -> None:
    result = caught(world, "refresh_ahead_refresh_storm", "refresh")
    assert result.measurements["max_refreshes_in_flight"] > 1
