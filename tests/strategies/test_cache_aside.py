"""Cache-aside and leased cache-aside against a real Redis and database."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from cachecheck._clock import ManualClock
from cachecheck.strategies._mutants_core import (
    CacheAsideFillWithoutTtl,
    LeasedDeleteBeforeUpdate,
    LeasedUnguardedFill,
)
from cachecheck.strategies.cache_aside import CacheAside, LeasedCacheAside


def test_miss_loads_and_fills_with_a_ttl_then_hits(world: Any, make: Any) -> None:
    """A miss reads the database once and fills with PTTL <= ttl; the next read hits."""
    world.database.write("k", "v1")
    cache = make(CacheAside, ttl=30)
    assert cache.get("k") == "v1"
    assert cache.get("k") == "v1"
    assert world.database.load_counts()["k"] == 1
    assert 0 < world.admin_client().pttl(cache.keys.value("k")) <= 30_000


def test_absent_keys_are_not_cached(world: Any, make: Any) -> None:
    """Plain cache-aside does not negative-cache: every read of a missing key loads."""
    cache = make(CacheAside)
    assert cache.get("nope") is None
    assert cache.get("nope") is None
    assert world.database.load_counts()["nope"] == 2
    assert not world.admin_client().exists(cache.keys.value("nope"))


def test_write_commits_then_invalidates(world: Any, make: Any) -> None:
    """set and delete commit to the database and delete the cached entry."""
    cache = make(CacheAside)
    world.database.write("k", "v1")
    assert cache.get("k") == "v1"
    cache.set("k", "v2")
    assert not world.admin_client().exists(cache.keys.value("k"))
    assert cache.get("k") == "v2"
    cache.delete("k")
    assert world.database.read("k") is None
    assert cache.get("k") is None


@pytest.mark.parametrize("cls", [CacheAside, LeasedCacheAside])
def test_a_hit_is_one_round_trip(make: Any, world: Any, redis_calls: Any, cls: type) -> None:
    """A hit costs exactly one Redis command (a GET, or one EVALSHA)."""
    world.database.write("k", "v")
    cache = make(cls)
    cache.get("k")
    cache.get("k")  # scripts are loaded by now
    with redis_calls() as calls:
        assert cache.get("k") == "v"
    assert len(calls) == 1, calls


def test_ttl_counts_from_the_database_read(world: Any, make: Any) -> None:
    """An entry never outlives its database read by more than the TTL: time spent between the
    read and the fill is taken off the TTL, and a fill older than the TTL is dropped."""
    clock = ManualClock()
    world.database.write("slow", "v")
    world.database.write("late", "v")
    cache = make(CacheAside, ttl=60, clock=clock)
    cache.before_fill = lambda key: clock.advance(20 if key == "slow" else 61)
    cache.get("slow")
    cache.get("late")
    admin = world.admin_client()
    assert 0 < admin.pttl(cache.keys.value("slow")) <= 40_000
    assert not admin.exists(cache.keys.value("late"))


def test_plain_cache_aside_has_the_stale_set_race(world: Any, make: Any, once: Any) -> None:
    """The documented weakness: a fill computed before a write lands after its DEL. The
    contract therefore promises only staleness bounded by the TTL, not convergence."""
    world.database.write("k", "v1")
    cache = make(CacheAside)
    writer = make(CacheAside)
    cache.before_fill = once(lambda key: writer.set(key, "v2"))
    assert cache.get("k") == "v1"
    assert cache.get("k") == "v1"  # stale until the TTL expires
    assert world.database.read("k") == "v2"
    assert cache.contract.converges is False
    assert cache.contract.staleness_bound == cache.ttl


def test_failed_invalidation_is_retried_and_bypassed(
    world: Any, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the DEL after a commit fails, the write raises, reads of that key bypass the
    cache in this process, and the invalidation is retried."""
    world.database.write("k", "v1")
    cache = make(LeasedCacheAside)
    assert cache.get("k") == "v1"
    real_script = cache._invalidate_script

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise redis.ConnectionError("injected")

    monkeypatch.setattr(cache, "_invalidate_script", unreachable)
    with pytest.raises(redis.ConnectionError):
        cache.set("k", "v2")
    assert cache.get("k") == "v2"  # bypasses the stale entry
    assert world.admin_client().get(cache.keys.value("k")) == "v1"
    assert not cache.retry_pending(0.05)
    monkeypatch.setattr(cache, "_invalidate_script", real_script)
    assert cache.retry_pending(1.0)
    assert not world.admin_client().exists(cache.keys.value("k"))
    assert cache.get("k") == "v2"


def test_fill_without_ttl_mutant_leaves_a_key_that_never_expires(
    world: Any, make: Any, ttl_findings: Any
) -> None:
    """Mutant `cache_aside_fill_without_ttl`: the filled entry has PTTL -1."""
    world.database.write("k1", "v")
    world.database.write("k2", "v")
    reference, mutant = make(CacheAside), make(CacheAsideFillWithoutTtl)
    reference.get("k1")
    assert ttl_findings(reference.contract) == []
    mutant.get("k2")
    assert ttl_findings(mutant.contract) == [mutant.keys.value("k2")]


# -- leases -------------------------------------------------------------------------------


def test_leased_fill_consumes_the_lease(world: Any, make: Any, ttl_findings: Any) -> None:
    """A miss takes a lease and the fill removes it; every key but the counter has a TTL."""
    world.database.write("k", "v")
    cache = make(LeasedCacheAside, ttl=10, lease_ttl=2)
    assert cache.get("k") == "v"
    admin = world.admin_client()
    assert not admin.exists(cache.keys.meta("lease", "k"))
    assert 0 < admin.pttl(cache.keys.value("k")) <= 10_000
    assert admin.pttl(cache.keys.meta("seq")) == -1  # the exempt token counter
    assert ttl_findings(cache.contract) == []


def test_a_concurrent_write_voids_the_fill(world: Any, make: Any, once: Any) -> None:
    """The stale-set race forced with the hook: the write deletes the lease, so the fill
    computed from the old read is dropped and the cache converges."""
    world.database.write("k", "v1")
    cache, writer = make(LeasedCacheAside), make(LeasedCacheAside)
    cache.before_fill = once(lambda key: writer.set(key, "v2"))
    assert cache.get("k") == "v1"  # it read before the write: fine for an overlapping read
    admin = world.admin_client()
    assert not admin.exists(cache.keys.value("k"))
    assert not admin.exists(cache.keys.meta("lease", "k"))  # the voided flight freed the key
    assert cache.get("k") == "v2"


def test_a_fill_that_read_the_write_still_lands(
    world: Any, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write between taking the lease and reading the database turns the lease into the
    mark "v<version>"; the fill read that version, so it is fresh and lands (no second load)."""
    world.database.write("k", "v1")
    cache, writer = make(LeasedCacheAside), make(LeasedCacheAside)
    hooks = world.database.hooks
    original = hooks.before_read
    fired: list[bool] = []

    def write_first() -> None:
        if not fired:
            fired.append(True)
            writer.set("k", "v2")
        original()

    monkeypatch.setattr(hooks, "before_read", write_first)
    assert cache.get("k") == "v2"
    assert cache.get("k") == "v2"
    assert world.database.load_counts()["k"] == 1
    assert not world.admin_client().exists(cache.keys.meta("lease", "k"))


def test_unguarded_fill_mutant_leaves_the_stale_value(world: Any, make: Any, once: Any) -> None:
    """Mutant `cache_aside_leased_unguarded_fill`: the same race leaves v1 cached, v2 in DB."""
    world.database.write("k", "v1")
    cache, writer = make(LeasedUnguardedFill), make(LeasedCacheAside)
    cache.before_fill = once(lambda key: writer.set(key, "v2"))
    cache.get("k")
    assert world.database.read("k") == "v2"
    assert cache.get("k") == "v1"


def _read_during_write(world: Any, monkeypatch: pytest.MonkeyPatch, reader: Any, key: str) -> None:
    """Run one `reader.get(key)` inside the next database write, before it commits."""
    hooks = world.database.hooks
    original = hooks.before_write
    fired: list[bool] = []

    def before_write() -> None:
        original()
        if not fired:
            fired.append(True)
            reader.get(key)

    monkeypatch.setattr(hooks, "before_write", before_write)


@pytest.mark.parametrize(
    ("cls", "stale"), [(LeasedCacheAside, False), (LeasedDeleteBeforeUpdate, True)]
)
def test_delete_before_update(
    world: Any, make: Any, monkeypatch: pytest.MonkeyPatch, cls: type, stale: bool
) -> None:
    """Mutant `cache_aside_leased_delete_before_update`: a read between the DEL and the
    commit refills the old value for good; the reference invalidates after the commit."""
    world.database.write("k", "v1")
    cache, reader = make(cls), make(LeasedCacheAside)
    _read_during_write(world, monkeypatch, reader, "k")
    cache.set("k", "v2")
    assert cache.get("k") == ("v1" if stale else "v2")


def test_miss_while_another_holds_the_lease(world: Any, make: Any) -> None:
    """Without lease_wait, a miss that finds a lease loads without filling (and cannot
    disturb the holder)."""
    world.database.write("k", "v")
    cache = make(LeasedCacheAside, lease_wait=0)
    admin = world.admin_client()
    admin.set(cache.keys.meta("lease", "k"), "someone-else", px=5000)
    assert cache.get("k") == "v"
    assert not admin.exists(cache.keys.value("k"))
    assert admin.get(cache.keys.meta("lease", "k")) == "someone-else"


def test_lease_tokens_never_repeat(make: Any) -> None:
    """Tokens are unique even when the counter is lost (server time prefix)."""
    cache = make(LeasedCacheAside)
    tokens = {cache._lookup(f"k{i}").token for i in range(20)}
    assert len(tokens) == 20
    assert None not in tokens


def test_failed_load_releases_the_lease(world: Any, make: Any) -> None:
    """A database error propagates, caches nothing and gives the lease back."""
    cache = make(LeasedCacheAside)
    world.database.hooks.fail_reads = True
    with pytest.raises(ConnectionError):
        cache.get("k")
    admin = world.admin_client()
    assert not admin.exists(cache.keys.meta("lease", "k"), cache.keys.value("k"))


def test_failed_fill_releases_the_lease(
    world: Any, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fill that cannot reach Redis gives the lease back, so waiters are not blocked."""
    world.database.write("k", "v")
    cache = make(LeasedCacheAside)

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise redis.ConnectionError("injected")

    monkeypatch.setattr(cache, "_fill_script", unreachable)
    with pytest.raises(redis.ConnectionError):
        cache.get("k")
    assert not world.admin_client().exists(cache.keys.meta("lease", "k"))


def test_contracts_follow_the_parameters(make: Any) -> None:
    plain = make(CacheAside, ttl=12).contract
    leased = make(LeasedCacheAside, ttl=12, lease_ttl=3).contract
    assert (plain.converges, plain.staleness_bound, plain.ttl.max_seconds) == (False, 12, 12)
    assert (leased.converges, leased.read_your_writes, leased.staleness_bound) == (True, True, 0)
    assert leased.ttl.max_seconds == 12
    assert leased.ttl.exempt == ("*cache_aside_leased:seq",)
