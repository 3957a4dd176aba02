"""Write-through with versioned conditional stores."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from cachecheck.strategies._mutants_core import WriteThroughDropsTtl, WriteThroughUnconditionalSet
from cachecheck.strategies.write_through import Versioned, WriteThrough


def test_write_populates_the_cache_with_its_version(world: Any, make: Any) -> None:
    """A write stores `<version>:+<value>`; reads then hit without loading."""
    cache = make(WriteThrough, ttl=30)
    cache.set("k", "v1")
    cache.set("k", "v2")
    raw = world.admin_client().get(cache.keys.value("k"))
    assert Versioned.decode(raw) == Versioned(2, "v2")
    assert cache.get("k") == "v2"
    assert world.database.load_counts()["k"] == 0
    assert 0 < world.admin_client().pttl(cache.keys.value("k")) <= 30_000


def test_delete_caches_a_versioned_tombstone(world: Any, make: Any) -> None:
    """A delete stores absence with its version: reads see None without loading."""
    cache = make(WriteThrough)
    cache.set("k", "v1")
    cache.delete("k")
    assert Versioned.decode(world.admin_client().get(cache.keys.value("k"))) == Versioned(2, None)
    assert cache.get("k") is None
    assert world.database.load_counts()["k"] == 0


def test_miss_fills_with_the_row_version(world: Any, make: Any, redis_calls: Any) -> None:
    """A miss loads the row and fills through the compare; a hit is one GET."""
    world.database.write("k", "v1")
    world.database.write("k", "v2")
    cache = make(WriteThrough)
    assert cache.get("k") == "v2"
    assert Versioned.decode(world.admin_client().get(cache.keys.value("k"))).version == 2
    with redis_calls() as calls:
        assert cache.get("k") == "v2"
    assert calls == ["GET"]


def test_versions_round_trip_any_text() -> None:
    for entry in (Versioned(3, "a:b|c"), Versioned(7, ""), Versioned(0, None), Versioned(9, "-")):
        assert Versioned.decode(entry.encode()) == entry


def _overtaking_writer(make: Any, once: Any, cache: Any) -> None:
    """While `cache` is between its commit and its cache store, another writer commits and
    stores a newer version."""
    other = make(WriteThrough)
    cache.before_fill = once(lambda key: other.set(key, "v2"))


@pytest.mark.parametrize(
    ("cls", "cached"), [(WriteThrough, "v2"), (WriteThroughUnconditionalSet, "v1")]
)
def test_reordered_writers(world: Any, make: Any, once: Any, cls: type, cached: str) -> None:
    """Dual-write reordering: W1 commits v1, W2 commits and stores v2, then W1's store
    arrives. The versioned compare drops it; mutant `write_through_unconditional_set` leaves
    the older v1 cached while the database has v2."""
    cache = make(cls)
    _overtaking_writer(make, once, cache)
    cache.set("k", "v1")
    assert world.database.read("k") == "v2"
    assert cache.get("k") == cached


def test_stale_fill_after_eviction_is_refused(world: Any, make: Any, once: Any) -> None:
    """A slow read-miss fill cannot overwrite a newer write even when the newer entry was
    evicted in between: the high-water mark outlives it."""
    world.database.write("k", "v1")
    reader, writer = make(WriteThrough), make(WriteThrough)
    admin = world.admin_client()

    def write_then_evict(key: str) -> None:
        writer.set(key, "v2")
        admin.delete(writer.keys.value(key))

    reader.before_fill = once(write_then_evict)
    assert reader.get("k") == "v1"
    assert not admin.exists(reader.keys.value("k"))
    assert reader.get("k") == "v2"


def test_failed_store_after_commit_is_retried(
    world: Any, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If Redis fails after the commit the write raises (:info); reads of the key bypass the
    cache until the queued store succeeds."""
    cache = make(WriteThrough)
    cache.set("k", "v1")
    real = cache._put_script

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise redis.ConnectionError("injected")

    monkeypatch.setattr(cache, "_put_script", broken)
    with pytest.raises(redis.ConnectionError):
        cache.set("k", "v2")
    assert cache.get("k") == "v2"
    monkeypatch.setattr(cache, "_put_script", real)
    assert cache.retry_pending(1.0)
    assert Versioned.decode(world.admin_client().get(cache.keys.value("k"))).value == "v2"


def test_drops_ttl_mutant(make: Any, ttl_findings: Any) -> None:
    """Mutant `write_through_drops_ttl`: written entries have no TTL."""
    reference, mutant = make(WriteThrough), make(WriteThroughDropsTtl)
    reference.set("a", "v")
    assert ttl_findings(reference.contract) == []
    mutant.set("b", "v")
    assert ttl_findings(mutant.contract) == [mutant.keys.value("b")]


def test_contract(make: Any) -> None:
    contract = make(WriteThrough, ttl=9).contract
    assert (contract.converges, contract.read_your_writes, contract.staleness_bound) == (
        True,
        True,
        0.0,
    )
    assert contract.ttl is not None and contract.ttl.max_seconds == 9
