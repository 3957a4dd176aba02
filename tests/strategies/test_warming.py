"""Cache warming: preload absent keys, never overwrite a newer value."""

from __future__ import annotations

import random
from typing import Any

import pytest

from cachecheck.strategies._mutants_core import WarmingPlainSet
from cachecheck.strategies.warming import WarmingCache


def test_warm_fills_absent_keys_with_jittered_ttls(world: Any, make: Any, pttls: Any) -> None:
    """Keys with a row are filled, missing rows are not, TTLs spread around the base."""
    for i in range(10):
        world.database.write(f"k{i}", f"v{i}")
    cache = make(WarmingCache, ttl=100, warm_jitter=20, rng=random.Random(1))
    assert cache.warm([f"k{i}" for i in range(10)] + ["missing", "k0"]) == 10
    ttls = [ttl for key, ttl in pttls().items() if ":v:" in key]
    assert len(ttls) == 10
    assert all(79_000 <= ttl <= 120_000 for ttl in ttls)
    assert len(set(ttls)) > 1
    assert not any(":lease:" in key for key in pttls())
    assert cache.get("k3") == "v3"
    assert world.database.load_counts()["k3"] == 1  # the warm-up's read only


def test_warm_skips_keys_that_have_entries(world: Any, make: Any) -> None:
    """An existing entry is at least as fresh as anything the warm-up could load."""
    world.database.write("k", "v1")
    cache = make(WarmingCache)
    cache.get("k")
    assert cache.warm(["k"]) == 0
    assert world.database.load_counts()["k"] == 1


def test_warm_is_two_round_trips(world: Any, make: Any, redis_calls: Any) -> None:
    for i in range(5):
        world.database.write(f"k{i}", "v")
    cache = make(WarmingCache)
    cache.warm(["k0"])  # loads the scripts
    world.admin_client().delete(cache.keys.value("k0"))
    with redis_calls() as calls:
        assert cache.warm([f"k{i}" for i in range(5)]) == 5
    assert calls == ["PIPELINE", "PIPELINE"]


@pytest.mark.parametrize(("cls", "cached"), [(WarmingCache, "v2"), (WarmingPlainSet, "v1")])
def test_write_during_warm_up(world: Any, make: Any, once: Any, cls: type, cached: str) -> None:
    """A write lands between the warm-up's read and its store: the lease makes the warm-up
    drop its older value; mutant `warming_plain_set` overwrites the newer one."""
    world.database.write("k", "v1")
    cache = make(cls)
    writer = make(WarmingCache)

    def write_and_read(key: str) -> None:
        writer.set(key, "v2")
        assert writer.get(key) == "v2"  # a reader caches the newer value

    cache.before_fill = once(write_and_read)
    cache.warm(["k"])
    assert world.database.read("k") == "v2"
    assert cache.get("k") == cached


def test_failed_warm_up_releases_its_leases(world: Any, make: Any) -> None:
    world.database.write("k", "v")
    cache = make(WarmingCache)
    world.database.hooks.fail_reads = True
    with pytest.raises(ConnectionError):
        cache.warm(["k"])
    assert not world.admin_client().exists(cache.keys.meta("lease", "k"))


def test_contract(make: Any) -> None:
    contract = make(WarmingCache, ttl=50, warm_jitter=5).contract
    assert contract.ttl is not None and contract.ttl.max_seconds == 55
    assert contract.converges
