"""Cache tags: tag version tokens checked on every hit."""

from __future__ import annotations

from typing import Any

import pytest

from cachecheck.strategies._mutants_core import TagsCheckSkipped, TagsSnapshotAfterRead
from cachecheck.strategies.tags import TaggedCache, bucket_tags


def by_prefix(key: str) -> tuple[str, ...]:
    """`user:7:name` has tags `user:7` and `all`."""
    return (key.rsplit(":", 1)[0], "all")


def _fill(world: Any, cache: TaggedCache, **rows: str) -> None:
    for key, value in rows.items():
        world.database.write(key, value)
        assert cache.get(key) == value


def test_invalidate_tag_drops_every_member(world: Any, make: Any) -> None:
    """After invalidate_tag, every member reloads; members of other tags still hit."""
    cache = make(TaggedCache, tags_of=by_prefix)
    _fill(world, cache, **{"u:1:name": "ann", "u:1:mail": "a@x", "u:2:name": "bob"})
    world.database.write("u:1:name", "anna")
    world.database.write("u:1:mail", "anna@x")
    cache.invalidate_tag("u:1")
    assert cache.get("u:1:name") == "anna"
    assert cache.get("u:1:mail") == "anna@x"
    assert cache.get("u:2:name") == "bob"
    assert world.database.load_counts()["u:2:name"] == 1


def test_a_hit_is_one_round_trip(world: Any, make: Any, redis_calls: Any) -> None:
    cache = make(TaggedCache, tags_of=by_prefix)
    _fill(world, cache, **{"u:1:name": "ann"})
    cache.get("u:1:name")
    with redis_calls() as calls:
        assert cache.get("u:1:name") == "ann"
    assert len(calls) == 1


def test_tag_keys_outlive_their_longest_member(world: Any, make: Any, ttl_findings: Any) -> None:
    """Members with different TTLs: the tag key lives at least as long as the longest."""
    short = make(TaggedCache, tags_of=by_prefix, ttl=5)
    long = make(TaggedCache, tags_of=by_prefix, ttl=50)
    _fill(world, short, **{"u:1:a": "1"})
    _fill(world, long, **{"u:1:b": "2"})
    admin = world.admin_client()
    assert admin.pttl(long.keys.meta("tag", "u:1")) >= admin.pttl(long.keys.value("u:1:b"))
    assert ttl_findings(long.contract) == []


def test_lost_tag_key_means_a_miss_never_a_stale_hit(world: Any, make: Any) -> None:
    """An evicted or expired tag key mismatches every stored snapshot (no ABA)."""
    cache = make(TaggedCache, tags_of=by_prefix)
    _fill(world, cache, **{"u:1:name": "ann"})
    world.admin_client().delete(cache.keys.meta("tag", "u:1"))
    world.database.write("u:1:name", "anna")
    assert cache.get("u:1:name") == "anna"


def _invalidate_during_fill(world: Any, cache: TaggedCache, once: Any) -> None:
    """Between the member's database read and its fill: the data changes and its tag is
    invalidated (in that order, as the contract asks)."""

    def change(key: str) -> None:
        world.database.write(key, "new")
        cache.invalidate_tag("u:1")

    cache.before_fill = once(change)


@pytest.mark.parametrize(("cls", "cached"), [(TaggedCache, "new"), (TagsSnapshotAfterRead, "old")])
def test_member_filled_concurrently_with_the_invalidation(
    world: Any, make: Any, once: Any, cls: type, cached: str
) -> None:
    """The entry is stamped with the tokens taken before its read, so the fill is refused;
    mutant `tags_snapshot_after_read` stamps it with the new token and serves "old"."""
    world.database.write("u:1:name", "old")
    cache = make(cls, tags_of=by_prefix)
    _invalidate_during_fill(world, cache, once)
    assert cache.get("u:1:name") == "old"  # overlapped the change: fine
    assert cache.get("u:1:name") == cached


def test_check_skipped_mutant_ignores_invalidations(world: Any, make: Any) -> None:
    """Mutant `tags_check_skipped`: invalidate_tag has no effect on hits."""
    cache = make(TagsCheckSkipped, tags_of=by_prefix)
    _fill(world, cache, **{"u:1:name": "ann"})
    world.database.write("u:1:name", "anna")
    cache.invalidate_tag("u:1")
    assert cache.get("u:1:name") == "ann"


def test_writes_through_the_cache_invalidate_the_key(make: Any) -> None:
    cache = make(TaggedCache)
    cache.set("k", "v1")
    assert cache.get("k") == "v1"
    cache.set("k", "v2")
    assert cache.get("k") == "v2"
    cache.delete("k")
    assert cache.get("k") is None


def test_default_tags_group_keys() -> None:
    tags = {bucket_tags(f"key{i}") for i in range(40)}
    assert 1 < len(tags) <= 4
    assert bucket_tags("x") == bucket_tags("x")


def test_contract(make: Any) -> None:
    contract = make(TaggedCache).contract
    assert contract.converges and contract.extra["tag_invalidation"]
