"""The owner-token stampede lock and XFetch, against real Redis and a slow database."""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from cachecheck import ManualClock, World
from cachecheck.strategies._mutants_edge import (
    AlwaysRecomputeXFetch,
    NeverEarlyXFetch,
    NoExpiryLockedCacheAside,
    NoNxLockedCacheAside,
    PlainDelLockedCacheAside,
)
from cachecheck.strategies.stampede import (
    FillLease,
    LockedCacheAside,
    LockEvent,
    LockEventKind,
    LockEventLog,
    XFetchCache,
    lock_holds,
    mutual_exclusion_violations,
    xfetch_should_recompute,
)

Run = Callable[[Callable[[int], Any], int], list[Any]]
N = 8


def locked(
    world: World, cls: type[LockedCacheAside] = LockedCacheAside, **options: Any
) -> LockedCacheAside:
    options.setdefault("lock_log", None)
    return cls(world.client(), world.database, namespace=world.namespace, **options)


# -- single flight --------------------------------------------------------------------------


def test_a_stampede_on_a_slow_key_loads_it_once(world: World, concurrently: Run) -> None:
    """N clients miss at once on a key with a slow load: exactly one database load, everyone
    gets the value, and waiters poll with backoff instead of spinning."""
    world.database.write("hot", "v1")
    world.database.hooks.read_latency = 0.3
    log = LockEventLog()
    caches = [locked(world, lock_log=log, lock_ttl=2.0) for _ in range(N)]
    results = concurrently(lambda i: caches[i].get("hot"), N)
    assert results == ["v1"] * N
    assert world.database.load_counts()["hot"] == 1
    stats = [c.stats.snapshot() for c in caches]
    assert sum(s["acquired"] for s in stats) == 1
    assert sum(s["fallbacks"] for s in stats) == 0
    # ~0.3 s of waiting at 5 ms doubling to 100 ms is about 8 polls; a busy spin is thousands.
    assert max(s["wait_commands"] for s in stats) <= 15
    assert mutual_exclusion_violations(log.events()) == []


def test_without_nx_every_client_loads(world: World, concurrently: Run) -> None:
    """The no-NX mutant: every client "acquires" the lock, so the stampede reaches the DB."""
    world.database.write("hot", "v1")
    world.database.hooks.read_latency = 0.3
    caches = [locked(world, NoNxLockedCacheAside, lock_ttl=2.0) for _ in range(N)]
    assert concurrently(lambda i: caches[i].get("hot"), N) == ["v1"] * N
    assert world.database.load_counts()["hot"] >= N // 2


# -- holder crash -----------------------------------------------------------------------------


def _crash_holder(cache: LockedCacheAside, key: str) -> None:
    """A holder that takes the lock and dies: no load, no release."""
    state = cache._try_acquire(key, "dead-holder-token")
    assert int(state[0]) == 2


def test_waiters_recover_when_the_holder_crashes(world: World, concurrently: Run) -> None:
    """The crashed holder's lock expires after lock_ttl; one waiter takes over and loads once;
    every waiter returns within lock_ttl plus the polling bound."""
    world.database.write("k", "v")
    lock_ttl = 0.5
    caches = [locked(world, lock_ttl=lock_ttl, max_wait=3.0) for _ in range(6)]
    _crash_holder(caches[0], "k")
    assert 0 < world.admin_client().pttl(caches[0].keys.meta("lock", "k")) <= 500
    started = time.monotonic()
    assert concurrently(lambda i: caches[i].get("k"), 6) == ["v"] * 6
    elapsed = time.monotonic() - started
    assert world.database.load_counts()["k"] == 1
    assert sum(c.stats["fallbacks"] for c in caches) == 0
    assert elapsed < lock_ttl + 2.0  # generous: 2 cores, noisy


def test_a_lock_without_expiry_never_recovers(world: World, concurrently: Run) -> None:
    """The no-expiry mutant: the dead holder's lock stays forever (no TTL), every waiter
    times out and loads by itself, and the next miss starves again."""
    world.database.write("k", "v")
    caches = [locked(world, NoExpiryLockedCacheAside, lock_ttl=0.5, max_wait=0.4) for _ in range(6)]
    _crash_holder(caches[0], "k")
    assert concurrently(lambda i: caches[i].get("k"), 6) == ["v"] * 6
    assert world.database.load_counts()["k"] == 6  # single-flight violated
    assert sum(c.stats["fallbacks"] for c in caches) == 6
    assert world.admin_client().pttl(caches[0].keys.meta("lock", "k")) == -1  # TTL hygiene


# -- mutual exclusion: release by compare-and-delete -------------------------------------------


def _holder_outlasts_its_lock(
    world: World, cls: type[LockedCacheAside]
) -> tuple[LockEventLog, list[LockedCacheAside]]:
    """A takes the lock and stalls past its TTL; B takes the expired lock and stalls; A then
    finishes and releases; C misses while B still works."""
    log = LockEventLog()
    a_stalled, b_holds, c_done = threading.Event(), threading.Event(), threading.Event()

    def a_hook(key: str, token: str) -> None:
        a_stalled.set()
        assert b_holds.wait(10), "B never took the expired lock"

    def b_hook(key: str, token: str) -> None:
        b_holds.set()
        assert c_done.wait(10), "C never finished"

    lock_ttl = 1.0
    a = locked(
        world, cls, lock_log=log, lock_ttl=lock_ttl, max_wait=5.0, before_load=a_hook, client_id="A"
    )
    b = locked(
        world, cls, lock_log=log, lock_ttl=lock_ttl, max_wait=5.0, before_load=b_hook, client_id="B"
    )
    c = locked(world, cls, lock_log=log, lock_ttl=lock_ttl, max_wait=0.2, client_id="C")
    world.database.write("k", "v")
    errors: list[BaseException] = []

    def run(cache: LockedCacheAside) -> None:
        try:
            cache.get("k")
        except BaseException as exc:
            errors.append(exc)

    thread_a = threading.Thread(target=run, args=(a,))
    thread_b = threading.Thread(target=run, args=(b,))
    thread_a.start()
    assert a_stalled.wait(10)
    thread_b.start()
    thread_a.join(10)
    try:
        assert c.get("k") == "v"
    finally:
        c_done.set()
        thread_b.join(10)
    assert not thread_a.is_alive() and not thread_b.is_alive()
    assert not errors
    return log, [a, b, c]


def test_compare_and_delete_keeps_mutual_exclusion(world: World) -> None:
    """The late holder's release deletes nothing, its fill is fenced off, and C cannot get
    the lock while B holds it: no two valid holds overlap."""
    log, (a, _, c) = _holder_outlasts_its_lock(world, LockedCacheAside)
    assert mutual_exclusion_violations(log.events()) == []
    a_release = next(e for e in log.events() if e.kind is LockEventKind.RELEASE and e.client == "A")
    assert a_release.deleted is None
    assert a.stats["fills_rejected"] == 1  # fenced: A no longer held the lock
    assert c.stats["acquired"] == 0 and c.stats["fallbacks"] == 1


def test_plain_del_release_is_caught_deleting_another_holders_lock(world: World) -> None:
    """The plain-DEL mutant: A's release deletes B's lock, C acquires while B still holds a
    valid lock, and the mutual-exclusion property finds the overlap."""
    log, _ = _holder_outlasts_its_lock(world, PlainDelLockedCacheAside)
    events = log.events()
    b_token = next(e.token for e in events if e.kind is LockEventKind.ACQUIRE and e.client == "B")
    a_release = next(e for e in events if e.kind is LockEventKind.RELEASE and e.client == "A")
    assert a_release.deleted == b_token
    violations = mutual_exclusion_violations(events)
    assert {(first.client, second.client) for first, second in violations} == {("B", "C")}


def test_lock_holds_are_conservative_intervals() -> None:
    """A hold ends at its own release's invocation or at invoke + TTL, whichever is first."""
    events = [
        LockEvent(LockEventKind.ACQUIRE, "k", "t1", "A", 0.0, 0.1, 1.0),
        LockEvent(LockEventKind.RELEASE, "k", "t1", "A", 0.5, 0.6, 1.0, deleted="t1"),
        LockEvent(LockEventKind.ACQUIRE, "k", "t2", "B", 0.55, 0.65, 1.0),
        LockEvent(LockEventKind.ACQUIRE, "k", "t3", "C", 2.0, 2.1, 1.0),
        LockEvent(LockEventKind.RELEASE, "k", "t3", "C", 3.5, 3.6, 1.0, deleted=None),
    ]
    holds = {h.client: (h.start, h.end) for h in lock_holds(events)}
    assert holds == {"A": (0.1, 0.5), "B": (0.65, 1.55), "C": (2.1, 3.0)}
    assert mutual_exclusion_violations(events) == []
    overlapping = [*events, LockEvent(LockEventKind.ACQUIRE, "k", "t4", "D", 1.0, 1.1, 1.0)]
    assert len(mutual_exclusion_violations(overlapping)) == 1


# -- the version fence ----------------------------------------------------------------------


def test_a_write_before_the_holders_read_does_not_cost_a_second_load(world: World) -> None:
    """The write commits (and leaves its tombstone) after the holder took the lock but before
    it read the row: the holder read the new row, so it may fill, and the next read hits."""
    world.database.write("k", "v1")
    writer = locked(world)

    def write_now(key: str, token: str) -> None:
        writer.set("k", "v2")

    holder = locked(world, before_load=write_now)
    assert holder.get("k") == "v2"
    assert holder.stats["fills"] == 1
    assert holder.get("k") == "v2" and holder.stats["hits"] == 1
    assert world.database.load_counts()["k"] == 1


class _WriteAfterRead(LockedCacheAside):
    """Commits a newer write between the holder's database read and its fill."""

    def _fill_as_holder(self, key: str, token: str, value: str | None, version: int) -> None:
        self.set(key, "v2")
        super()._fill_as_holder(key, token, value, version)


def test_a_write_after_the_holders_read_leaves_no_stale_entry(world: World) -> None:
    world.database.write("k", "v1")
    holder = locked(world, _WriteAfterRead)
    assert holder.get("k") == "v1"  # concurrent with the write: either value is fine
    assert holder.stats["fills_rejected"] == 1
    assert holder.peek("k") == (False, None)  # a tombstone, not v1
    assert locked(world).get("k") == "v2"


# -- the fill lease ---------------------------------------------------------------------------


def test_a_fill_after_an_invalidation_is_refused(world: World) -> None:
    """Reader leases, writer commits and invalidates, reader's late fill does not land."""
    client = world.client()
    lease = FillLease(client, lease_ttl=5.0)
    value_key, lease_key = world.namespace + "t:v:k", world.namespace + "t:lease:k"
    token = lease.begin(client, lease_key)
    FillLease.invalidate(client, value_key, lease_key)
    assert not lease.fill(client, value_key, lease_key, token, "vold", 5.0)
    assert client.get(value_key) is None
    token = lease.begin(client, lease_key)
    assert lease.fill(client, value_key, lease_key, token, "vnew", 5.0)
    assert client.get(value_key) == "vnew"
    assert client.exists(lease_key) == 0  # consumed


# -- XFetch -----------------------------------------------------------------------------------


@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_xfetch_recompute_probability_is_exponential_in_the_gap(beta: float) -> None:
    """P(recompute at gap g) = exp(-g / (delta * beta)), measured with a seeded generator."""
    rng = random.Random(1234)
    delta, expiry, draws = 1.0, 100.0, 20_000
    for gap in (0.1, 0.5, 1.0, 2.0, 3.0):
        hits = sum(
            xfetch_should_recompute(expiry - gap, delta, expiry, beta, 1.0 - rng.random())
            for _ in range(draws)
        )
        assert hits / draws == pytest.approx(math.exp(-gap / (delta * beta)), abs=0.015)
    assert xfetch_should_recompute(expiry, delta, expiry, beta, 1.0)  # at expiry: always
    with pytest.raises(ValueError):
        xfetch_should_recompute(0.0, delta, expiry, beta, 0.0)


def _xfetch_timeline(
    world: World, cls: type[XFetchCache]
) -> tuple[XFetchCache, ManualClock, list[float]]:
    """Fill at t=0 with a 1 s recompute (delta=1), ttl 10: expiry at t=11. Then read every
    0.25 s until t=10.75 (each recompute moves the clock 1 s); returns the clock times at
    which a read recomputed."""
    clock = ManualClock()

    def one_second_recompute(key: str, token: str) -> None:
        clock.advance(1.0)

    cache = cls(
        world.client(), world.database, namespace=world.namespace, ttl=10.0, beta=1.0, seed=7,
        clock=clock, before_load=one_second_recompute,
    )  # fmt: skip
    world.database.write("k", "v")
    assert cache.get("k") == "v"
    stored = cache.peek("k")
    assert stored is not None and stored[1:] == (1.0, 11.0)
    recomputed_at = []
    while clock.now() < 10.75:
        clock.advance(0.25)
        loads = cache.stats["loads"]
        now = clock.now()
        assert cache.get("k") == "v"
        if cache.stats["loads"] > loads:
            recomputed_at.append(now)
    return cache, clock, recomputed_at


def test_xfetch_recomputes_early_and_only_near_expiry(world: World) -> None:
    """With the reference: at least one recompute before expiry, none while far from it."""
    cache, _, recomputed_at = _xfetch_timeline(world, XFetchCache)
    assert recomputed_at, "XFetch never recomputed before expiry"
    assert cache.stats["hits"] >= 25
    assert all(11.0 - t < 6.0 for t in recomputed_at[:1])  # the first one is near expiry
    assert cache.stats["early_recomputes"] >= 1 and cache.stats["expired"] == 0
    stored = cache.peek("k")
    assert stored is not None and stored[2] > 11.0  # the expiry moved forward


def test_xfetch_always_recompute_mutant_loads_on_every_read(world: World) -> None:
    """The inverted test recomputes on every read, however far from expiry."""
    cache, _, recomputed_at = _xfetch_timeline(world, AlwaysRecomputeXFetch)
    assert cache.stats["hits"] == 0
    assert recomputed_at[0] == 0.25 + 1.0  # the very first read, 9.75 s before expiry
    assert cache.stats["loads"] == 1 + len(recomputed_at) >= 8


@pytest.mark.parametrize(
    ("cls", "stampede"),
    [(XFetchCache, False), (NeverEarlyXFetch, True)],
    ids=["reference", "never-early"],
)
def test_xfetch_prevents_the_stampede_at_expiry(
    world: World, concurrently: Run, cls: type[XFetchCache], stampede: bool
) -> None:
    """Readers that arrive together at the original expiry: the reference had already
    recomputed early (no load); the never-early mutant sends all of them to the DB."""
    cache, clock, recomputed_at = _xfetch_timeline(world, cls)
    assert bool(recomputed_at) is not stampede
    cache.before_load = None
    clock.advance(max(0.0, 11.0 - clock.now()))  # at (or past) the first fill's expiry
    world.database.hooks.read_latency = 0.2
    loads = world.database.load_counts()["k"]
    assert concurrently(lambda i: cache.get("k"), 6) == ["v"] * 6
    burst = world.database.load_counts()["k"] - loads
    if stampede:
        assert burst >= 4
    else:
        assert burst <= 1
