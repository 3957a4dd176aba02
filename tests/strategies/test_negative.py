"""Negative caching: short-lived absence, cleared by creates, never caching errors."""

from __future__ import annotations

from typing import Any

import pytest

from cachecheck._database import DatabaseUnavailable
from cachecheck.strategies._mutants_core import NegativeCachesErrors, NegativeNotClearedOnCreate
from cachecheck.strategies.negative import NegativeCache


def test_absence_is_cached_for_the_negative_ttl(world: Any, make: Any, ttl_findings: Any) -> None:
    """A missing key is loaded once, then served as absent for at most negative_ttl."""
    cache = make(NegativeCache, ttl=60, negative_ttl=2)
    assert cache.get("k") is None
    assert cache.get("k") is None
    assert world.database.load_counts()["k"] == 1
    assert 0 < world.admin_client().pttl(cache.keys.value("k")) <= 2_000
    assert ttl_findings(cache.contract) == []


def test_values_round_trip(world: Any, make: Any) -> None:
    """Values that look like the tombstone are still values."""
    cache = make(NegativeCache)
    for value in ("-", "+", "", "+-"):
        cache.set("k", value)
        assert cache.get("k") == value
        assert cache.get("k") == value


def test_a_create_clears_the_cached_absence(make: Any) -> None:
    cache = make(NegativeCache)
    assert cache.get("k") is None
    cache.set("k", "v")
    assert cache.get("k") == "v"
    cache.delete("k")
    assert cache.get("k") is None


def test_database_errors_are_never_cached(world: Any, make: Any) -> None:
    """An outage raises, leaves no entry and no lease: the next read loads again."""
    world.database.write("k", "v")
    cache = make(NegativeCache)
    world.database.hooks.fail_reads = True
    with pytest.raises(DatabaseUnavailable):
        cache.get("k")
    admin = world.admin_client()
    assert not admin.exists(cache.keys.value("k"), cache.keys.meta("lease", "k"))
    world.database.hooks.fail_reads = False
    assert cache.get("k") == "v"


def test_not_cleared_on_create_mutant(make: Any) -> None:
    """Mutant `negative_not_cleared_on_create`: the creator reads "not found" after its own
    create (a read-your-writes violation until the negative TTL)."""
    cache = make(NegativeNotClearedOnCreate)
    assert cache.get("k") is None
    cache.set("k", "v")
    assert cache.get("k") is None


def test_caches_errors_mutant(world: Any, make: Any) -> None:
    """Mutant `negative_caches_errors`: an outage is cached as absence and outlives it."""
    world.database.write("k", "v")
    cache = make(NegativeCachesErrors)
    world.database.hooks.fail_reads = True
    assert cache.get("k") is None
    world.database.hooks.fail_reads = False
    assert cache.get("k") is None
    assert world.database.read("k") == "v"


def test_contract(make: Any) -> None:
    contract = make(NegativeCache, ttl=30, negative_ttl=3).contract
    assert contract.negative_ttl == 3
    assert contract.read_your_writes and contract.converges
    with pytest.raises(ValueError, match="negative_ttl"):
        make(NegativeCache, ttl=3, negative_ttl=30)
