"""TTL with jitter: seeded, bounded, spread."""

from __future__ import annotations

import random
from typing import Any

import pytest

from cachecheck.strategies._mutants_core import JitterSecondsAsMillis
from cachecheck.strategies.ttl_jitter import JitteredTTLCache


def test_ttls_are_spread_within_the_bounds(world: Any, make: Any, pttls: Any) -> None:
    """Keys filled together get TTLs in [ttl - jitter, ttl + jitter], not all equal."""
    cache = make(JitteredTTLCache, ttl=100, jitter=20, rng=random.Random(7))
    for i in range(30):
        world.database.write(f"k{i}", "v")
        cache.get(f"k{i}")
    found = list(pttls().values())
    assert len(found) == 30
    assert all(79_000 <= ttl <= 120_000 for ttl in found), found
    assert max(found) - min(found) > 10_000


def test_same_seed_same_ttls(make: Any) -> None:
    """The draws are reproducible: the seed decides them, not the wall clock."""
    first = make(JitteredTTLCache, ttl=60, jitter=10, rng=random.Random(3))
    second = make(JitteredTTLCache, ttl=60, jitter=10, rng=random.Random(3))
    assert [first._ttl_ms() for _ in range(10)] == [second._ttl_ms() for _ in range(10)]


def test_contract_declares_the_jitter(make: Any) -> None:
    contract = make(JitteredTTLCache, ttl=60, jitter=6).contract
    assert contract.ttl is not None
    assert (contract.ttl.max_seconds, contract.ttl.jitter) == (66, 6)
    assert contract.staleness_bound == 66


def test_default_jitter_is_ten_percent(make: Any) -> None:
    assert make(JitteredTTLCache, ttl=50).jitter == 5


@pytest.mark.parametrize("jitter", [-1, 60, 100])
def test_jitter_must_stay_below_the_ttl(make: Any, jitter: float) -> None:
    with pytest.raises(ValueError, match="jitter"):
        make(JitteredTTLCache, ttl=60, jitter=jitter)


def test_ms_as_seconds_mutant(world: Any, make: Any, ttl_findings: Any) -> None:
    """Mutant `ttl_jitter_ms_as_seconds`: TTLs 1000 times longer than the promised maximum."""
    world.database.write("k", "v")
    cache = make(JitterSecondsAsMillis, ttl=60, jitter=6)
    cache.get("k")
    assert world.admin_client().pttl(cache.keys.value("k")) > 66_000
    assert ttl_findings(cache.contract) == [cache.keys.value("k")]
