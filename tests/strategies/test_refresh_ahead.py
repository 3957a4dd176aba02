"""Refresh-ahead: background refresh near expiry, one in flight per key, single-flight misses."""

from __future__ import annotations

import threading
from typing import Any

from cachecheck.strategies._mutants_core import RefreshDropsTtl, RefreshStorm
from cachecheck.strategies.refresh_ahead import RefreshAhead


def _near_expiry(world: Any, cache: RefreshAhead, key: str, ms: int = 1_000) -> None:
    """Shorten the entry's TTL into the refresh window (as time passing would)."""
    world.admin_client().pexpire(cache.keys.value(key), ms)


def test_hit_in_the_refresh_window_refreshes_in_the_background(world: Any, make: Any) -> None:
    """A hit with little TTL left serves the cached value and reloads it behind the scenes."""
    world.database.write("k", "v1")
    cache = make(RefreshAhead, ttl=10, refresh_fraction=0.5)
    assert cache.get("k") == "v1"
    world.database.write("k", "v2")  # changed behind the cache's back
    assert cache.get("k") == "v1"  # plenty of TTL: no refresh
    _near_expiry(world, cache, "k")
    assert cache.get("k") == "v1"  # served at once, refresh scheduled
    assert cache.drain(5)
    assert cache.refreshes == 1
    assert cache.get("k") == "v2"
    assert world.admin_client().pttl(cache.keys.value("k")) > 5_000


def _blocking_refresh(cache: RefreshAhead) -> threading.Event:
    """Make refreshes wait in before_fill until the returned event is set."""
    release = threading.Event()
    cache.before_fill = lambda key: release.wait(5)
    return release


def test_one_refresh_in_flight_per_key(world: Any, make: Any) -> None:
    """Twenty hits in the window while a refresh is in flight start no other refresh."""
    world.database.write("k", "v1")
    cache = make(RefreshAhead, ttl=10, refresh_fraction=0.5)
    cache.get("k")
    _near_expiry(world, cache, "k")
    release = _blocking_refresh(cache)
    for _ in range(20):
        assert cache.get("k") == "v1"
    release.set()
    assert cache.drain(5)
    assert world.database.load_counts()["k"] == 2  # the miss and one refresh
    refresh_loads = [load.client for load in world.database.loads()][1:]
    assert len(refresh_loads) == 1
    assert str(refresh_loads[0]).startswith("refresh:")  # labelled with its lease token


def test_refresh_storm_mutant_loads_once_per_hit(world: Any, make: Any) -> None:
    """Mutant `refresh_ahead_refresh_storm`: the same twenty hits cause twenty loads."""
    world.database.write("k", "v1")
    cache = make(RefreshStorm, ttl=10, refresh_fraction=0.5)
    cache.get("k")
    _near_expiry(world, cache, "k")
    release = _blocking_refresh(cache)
    for _ in range(20):
        cache.get("k")
    release.set()
    assert cache.drain(5)
    assert world.database.load_counts()["k"] == 21
    unleased = [load for load in world.database.loads() if load.client == "refresh"]
    assert len(unleased) == 19  # every refresh but the marker owner's ran without a lease


def test_a_write_voids_the_refresh(world: Any, make: Any, once: Any) -> None:
    """A write during a refresh deletes the lease: the refresh's older value is dropped."""
    world.database.write("k", "v1")
    cache = make(RefreshAhead, ttl=10, refresh_fraction=0.5)
    writer = make(RefreshAhead)
    cache.get("k")
    _near_expiry(world, cache, "k")
    cache.before_fill = once(lambda key: writer.set(key, "v2"))
    cache.get("k")
    assert cache.drain(5)
    assert cache.get("k") == "v2"


def test_concurrent_misses_load_once(world: Any, make: Any) -> None:
    """A miss while another reader holds the lease waits for its fill instead of loading."""
    world.database.write("k", "v1")
    cache = make(RefreshAhead, lease_wait=3)
    holding = threading.Event()
    release = threading.Event()

    def hold(key: str) -> None:
        holding.set()
        release.wait(5)

    cache.before_fill = hold
    first = threading.Thread(target=cache.get, args=("k",))
    first.start()
    assert holding.wait(5)
    threading.Timer(0.2, release.set).start()
    cache.before_fill = None
    assert cache.get("k") == "v1"  # polled until the holder filled
    first.join(5)
    assert world.database.load_counts()["k"] == 1


def test_saturated_pool_skips_refreshes_and_releases_the_marker(world: Any, make: Any) -> None:
    """With the refresh queue full, a refresh is skipped and its lease given back."""
    world.database.write("a", "1")
    world.database.write("b", "1")
    cache = make(RefreshAhead, ttl=10, refresh_fraction=0.5, refresh_workers=1,
                 max_queued_refreshes=1)  # fmt: skip
    cache.get("a")
    cache.get("b")
    _near_expiry(world, cache, "a")
    _near_expiry(world, cache, "b")
    release = _blocking_refresh(cache)
    cache.get("a")  # takes the only slot
    cache.get("b")  # skipped
    assert not world.admin_client().exists(cache.keys.meta("lease", "b"))
    release.set()
    assert cache.drain(5)
    assert cache.refreshes == 1


def test_failed_refresh_keeps_serving(world: Any, make: Any) -> None:
    """A refresh that cannot reach the database leaves the entry in place."""
    world.database.write("k", "v1")
    cache = make(RefreshAhead, ttl=10, refresh_fraction=0.5)
    cache.get("k")
    _near_expiry(world, cache, "k", 3_000)
    world.database.hooks.fail_reads = True
    assert cache.get("k") == "v1"
    assert cache.drain(5)
    assert not world.admin_client().exists(cache.keys.meta("lease", "k"))
    assert cache.get("k") == "v1"


def test_absent_keys_load_once_and_are_not_refreshed(world: Any, make: Any) -> None:
    """A missing key is cached as absent (single-flight holds for it too), and its tombstone
    is left to expire rather than refreshed."""
    cache = make(RefreshAhead, ttl=10, refresh_fraction=0.5, negative_ttl=4)
    assert cache.get("nope") is None
    assert 0 < world.admin_client().pttl(cache.keys.value("nope")) <= 4_000  # in the window
    for _ in range(5):
        assert cache.get("nope") is None
    assert cache.drain(5)
    assert cache.refreshes == 0
    assert world.database.load_counts()["nope"] == 1
    cache.set("nope", "now")
    assert cache.get("nope") == "now"


def test_refresh_drops_ttl_mutant(world: Any, make: Any, ttl_findings: Any) -> None:
    """Mutant `refresh_ahead_drops_ttl`: after a refresh the entry has no TTL."""
    world.database.write("k", "v1")
    cache = make(RefreshDropsTtl, ttl=10, refresh_fraction=0.5)
    cache.get("k")
    assert ttl_findings(cache.contract) == []
    _near_expiry(world, cache, "k")
    cache.get("k")
    assert cache.drain(5)
    assert ttl_findings(cache.contract) == [cache.keys.value("k")]


def test_contract_and_close(make: Any) -> None:
    cache = make(RefreshAhead, ttl=10)
    assert cache.contract.single_flight
    assert cache.contract.converges and cache.contract.read_your_writes
    cache.close()
    cache.close()  # idempotent
