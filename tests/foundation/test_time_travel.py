"""The keyspace's time-travel and eviction scripts on a real Redis server: one round trip
each, only under the run's prefix, deterministic choices."""

from __future__ import annotations

import redis

from cachecheck._world import World


def _keys(world: World) -> tuple[redis.Redis, str]:
    return world.admin_client(), world.namespace


def test_advance_shortens_ttls_and_expires_what_runs_out(cachecheck_world: World) -> None:
    admin, ns = _keys(cachecheck_world)
    admin.set(ns + "long", "v", px=60_000)
    admin.set(ns + "short", "v", px=5_000)
    admin.set(ns + "forever", "v")
    advanced = cachecheck_world.keyspace.advance(10_000)
    assert advanced.expired == [ns + "short"]
    assert admin.exists(ns + "short") == 0
    # Redis counts down in real time too: allow a loaded machine a second between calls.
    assert 49_000 <= int(admin.pttl(ns + "long")) <= 50_000
    assert int(admin.pttl(ns + "forever")) == -1
    before = advanced.pttls_before
    assert before[ns + "forever"] == -1 and 59_000 <= before[ns + "long"] <= 60_000


def test_advance_expires_keys_left_within_the_grace(cachecheck_world: World) -> None:
    admin, ns = _keys(cachecheck_world)
    admin.set(ns + "edge", "v", px=10_200)
    admin.set(ns + "safe", "v", px=20_000)
    advanced = cachecheck_world.keyspace.advance(10_000, grace_ms=250)
    assert advanced.expired == [ns + "edge"]
    assert admin.exists(ns + "safe") == 1


def test_advance_never_touches_keys_outside_the_prefix(cachecheck_world: World) -> None:
    admin = cachecheck_world.admin_client()
    admin.set("someone-else", "v", px=1_000)
    try:
        assert cachecheck_world.keyspace.advance(60_000).expired == []
        assert "someone-else" not in cachecheck_world.keyspace.pttls()
        assert admin.exists("someone-else") == 1
    finally:
        admin.delete("someone-else")


def test_evict_picks_by_choice_among_volatile_keys_in_order(cachecheck_world: World) -> None:
    admin, ns = _keys(cachecheck_world)
    for name in ("b", "a", "c"):
        admin.set(ns + name, "v", px=60_000)
    admin.set(ns + "durable", "v")
    assert cachecheck_world.keyspace.evict(4) == ns + "b"  # 4 % 3 = 1: a, [b], c
    assert sorted(cachecheck_world.keyspace.pttls()) == [ns + "a", ns + "c", ns + "durable"]


def test_evict_without_volatile_keys_returns_none(cachecheck_world: World) -> None:
    admin, ns = _keys(cachecheck_world)
    admin.set(ns + "durable", "v")
    assert cachecheck_world.keyspace.evict(0) is None
    assert admin.exists(ns + "durable") == 1


def test_evict_all_of_a_name_drops_its_volatile_keys_only(cachecheck_world: World) -> None:
    admin, ns = _keys(cachecheck_world)
    admin.set(ns + "v:k0", "v", px=60_000)
    admin.set(ns + "lease:k0", "t", px=5_000)
    admin.set(ns + "queue:k0", "q")  # no TTL: maxmemory's volatile policies keep it
    admin.set(ns + "v:k01", "v", px=60_000)
    admin.set(ns + "v:k1", "v", px=60_000)
    assert cachecheck_world.keyspace.evict_all_of("k0") == [ns + "lease:k0", ns + "v:k0"]
    assert sorted(cachecheck_world.keyspace.pttls()) == [ns + "queue:k0", ns + "v:k01", ns + "v:k1"]


def test_scripts_reload_after_a_script_flush(cachecheck_world: World) -> None:
    admin, ns = _keys(cachecheck_world)
    admin.set(ns + "k", "v", px=60_000)
    assert list(cachecheck_world.keyspace.pttls()) == [ns + "k"]
    admin.script_flush()  # as a Redis restart would
    assert list(cachecheck_world.keyspace.pttls()) == [ns + "k"]
