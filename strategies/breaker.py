"""A circuit breaker around a cache-aside: when Redis fails, stop calling it for a while.

`CircuitBreaker` is the state machine alone (closed / open / half-open, thread-safe, no I/O);
`CircuitBreakerCache` puts it around a lease-guarded cache-aside and makes sure that recovery
never serves entries that writes made stale while Redis was unreachable (bug class #39).
"""

from __future__ import annotations

import enum
import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar

import redis

from cachecheck._clock import Clock, MonotonicClock
from cachecheck._contract import BreakerPolicy, Contract, TtlPolicy
from cachecheck._database import Database

from ._common import Keys
from ._registry import Reference, register_reference
from .stampede import (
    Counters,
    FillLease,
    RedisClient,
    check_positive,
    decode_entry,
    encode_entry,
    text,
)

if TYPE_CHECKING:
    from cachecheck._world import World

T = TypeVar("T")

#: What counts as "Redis is unavailable": every redis-py error (connection refused, timeout,
#: LOADING, READONLY, OOM...) and raw socket errors.
REDIS_ERRORS: Final = (redis.RedisError, OSError)


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Admission(enum.Enum):
    """What `CircuitBreaker.admit` allows one operation to do."""

    #: Use Redis normally (closed).
    CALL = "call"
    #: Use Redis as the single half-open probe; its outcome decides open or closed.
    PROBE = "probe"
    #: Do not touch Redis: answer from the source of truth.
    FALLBACK = "fallback"


@dataclass(frozen=True, slots=True)
class Transition:
    at: float
    before: BreakerState
    after: BreakerState
    reason: str


class CircuitBreaker:
    """A thread-safe closed / open / half-open state machine on an injectable clock.

    - Closed: every operation may call Redis; `failure_threshold` consecutive failures open it.
    - Open: no operation calls Redis until `reset_timeout` has passed on the clock.
    - Half-open: exactly one operation (the probe) calls Redis; everyone else falls back.
      The probe's success closes the breaker, its failure re-opens it for another timeout.
    """

    def __init__(self, policy: BreakerPolicy, clock: Clock | None = None) -> None:
        self.policy = policy
        self.clock: Clock = clock or MonotonicClock()
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._transitions: list[Transition] = []

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state

    @property
    def consecutive_failures(self) -> int:
        with self._lock:
            return self._failures

    @property
    def transitions(self) -> list[Transition]:
        with self._lock:
            return list(self._transitions)

    def admit(self) -> Admission:
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return Admission.CALL
            if self._state is BreakerState.OPEN and self._timeout_elapsed():
                self._move(BreakerState.HALF_OPEN, "reset timeout elapsed: one probe")
                return Admission.PROBE
            return Admission.FALLBACK

    def succeeded(self, admission: Admission) -> None:
        with self._lock:
            if admission is Admission.PROBE and self._state is BreakerState.HALF_OPEN:
                self._failures = 0
                self._move(BreakerState.CLOSED, "probe succeeded")
            elif admission is Admission.CALL and self._state is BreakerState.CLOSED:
                self._failures = 0

    def failed(self, admission: Admission) -> None:
        with self._lock:
            if admission is Admission.PROBE and self._state is BreakerState.HALF_OPEN:
                self._open("probe failed")
            elif admission is Admission.CALL and self._state is BreakerState.CLOSED:
                self._failures += 1
                if self._failures >= self.policy.failure_threshold:
                    self._open(f"{self._failures} consecutive failures")

    # -- internals (called with the lock held) -------------------------------------------------

    def _timeout_elapsed(self) -> bool:
        return self.clock.now() - self._opened_at >= self.policy.reset_timeout

    def _open(self, reason: str) -> None:
        self._opened_at = self.clock.now()
        self._move(BreakerState.OPEN, reason)

    def _move(self, state: BreakerState, reason: str) -> None:
        self._transitions.append(Transition(self.clock.now(), self._state, state, reason))
        self._state = state

    def __repr__(self) -> str:
        return f"CircuitBreaker(state={self.state.value}, policy={self.policy!r})"


class _Verdict:
    """Collects whether the Redis part of one operation failed; reported once on exit."""

    def __init__(self) -> None:
        self.failed = False

    def fail(self) -> None:
        self.failed = True


class CircuitBreakerCache:
    """Cache-aside behind a circuit breaker, with invalidations replayed before recovery.

    **Use it** when Redis is an optimisation, not a dependency: an outage must cost database
    load, not errors or time-outs on every request (bug class #40, fallback overload, is the
    price: size the database for it).

    **How it works.**

    - Closed: an ordinary lease-guarded cache-aside (a hit is one `GET`).
    - Any Redis error counts as a failure; `failure_threshold` consecutive ones open the
      breaker.
    - Open: reads go straight to the database and writes skip Redis; no Redis call at all.
      The keys whose invalidation did not reach Redis (skipped while open, or failed) are
      kept in a pending set.
    - After `reset_timeout` on the injected clock, one probe operation replays every pending
      invalidation first and only then uses Redis; only if all of that succeeds does the
      breaker close.
    - Every operation also replays the pending set first if it is not empty, so an entry made
      stale during a partition (Redis kept its data) is never served by this instance after
      recovery.
    - If more than `max_pending` keys pile up, the replay deletes every key of this cache
      instead (SCAN + UNLINK of its own namespace).

    **Contract.** `breaker=BreakerPolicy(...)`. Reads through one instance never see a value
    older than a write this instance completed (read-your-writes, also across an outage).
    Another instance that still reaches Redis may serve an entry this instance could not
    invalidate until that entry's TTL ends: `staleness_bound = ttl`, so keep the TTL short.

    **Cost.** Hit: 1 round trip. Open: 0 round trips and one database read per read. The
    pending set costs memory per key written during the outage (bounded by `max_pending`).
    """

    strategy = "breaker"

    def __init__(
        self,
        client: RedisClient,
        database: Database,
        *,
        namespace: str,
        policy: BreakerPolicy | None = None,
        ttl: float = 30.0,
        lease_ttl: float = 10.0,
        max_pending: int = 10_000,
        clock: Clock | None = None,
        name: str | None = None,
    ) -> None:
        check_positive(ttl=ttl, lease_ttl=lease_ttl, max_pending=max_pending)
        self.client = client
        self.database = database
        self.keys = Keys(namespace, name or self.strategy)
        self.policy = policy or BreakerPolicy(failure_threshold=5, reset_timeout=10.0)
        self.ttl = ttl
        self.max_pending = max_pending
        self.clock: Clock = clock or MonotonicClock()
        self.breaker = self._make_breaker(self.policy, self.clock)
        self._lease = FillLease(client, lease_ttl=lease_ttl)
        self._pending: dict[str, int] = {}
        self._pending_lock = threading.Lock()
        self._sequence = itertools.count(1)
        self._flush_requested = 0  # sequence number of the latest overflow, 0 = none
        self.stats = Counters(
            "hits", "misses", "loads", "fallback_reads", "redis_calls", "redis_failures",
            "deferred_invalidations", "replayed_invalidations", "flushes", "probes",
        )  # fmt: skip

    def _make_breaker(self, policy: BreakerPolicy, clock: Clock) -> CircuitBreaker:
        return CircuitBreaker(policy, clock)

    # -- Subject --------------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        admission = self.breaker.admit()
        if admission is Admission.FALLBACK:
            return self._read_database(key, fallback=True)
        with self._reporting(admission) as verdict:
            value_key, lease_key = self.keys.value(key), self.keys.meta("lease", key)
            try:
                self._replay_pending()
                found, value = decode_entry(text(self._redis(self.client.get, value_key)))
                if found:
                    self.stats.add("hits")
                    return value
                self.stats.add("misses")
                token = self._redis(self._lease.begin, self.client, lease_key)
            except REDIS_ERRORS:
                verdict.fail()
                return self._read_database(key, fallback=True)
            value = self._read_database(key, fallback=False)
            try:
                payload = encode_entry(value)
                self._redis(
                    self._lease.fill, self.client, value_key, lease_key, token, payload, self.ttl
                )
            except REDIS_ERRORS:
                verdict.fail()  # the value is still right; only the fill was lost
            return value

    def set(self, key: str, value: str) -> None:
        self.database.write(key, value)
        self._invalidate_or_defer(key)

    def delete(self, key: str) -> None:
        self.database.delete(key)
        self._invalidate_or_defer(key)

    @property
    def contract(self) -> Contract:
        return breaker_contract(
            policy=self.policy,
            ttl=self.ttl,
            lease_ttl=self._lease.lease_ttl,
            name=self.keys.strategy,
        )

    @property
    def state(self) -> BreakerState:
        return self.breaker.state

    @property
    def pending_invalidations(self) -> frozenset[str]:
        with self._pending_lock:
            return frozenset(self._pending)

    # -- internals ----------------------------------------------------------------------------

    def _invalidate_or_defer(self, key: str) -> None:
        admission = self.breaker.admit()
        if admission is Admission.FALLBACK:
            self._defer_invalidation(key)
            return
        with self._reporting(admission) as verdict:
            try:
                self._replay_pending()
                self._redis(
                    FillLease.invalidate,
                    self.client,
                    self.keys.value(key),
                    self.keys.meta("lease", key),
                )
            except REDIS_ERRORS:
                verdict.fail()
                self._defer_invalidation(key)  # may have applied (a time-out): replay is idempotent

    def _defer_invalidation(self, key: str) -> None:
        """Remember that `key`'s entry may be stale; replayed before Redis is used again."""
        self.stats.add("deferred_invalidations")
        with self._pending_lock:
            if key not in self._pending and len(self._pending) >= self.max_pending:
                self._flush_requested = next(self._sequence)
                self._pending.clear()
            else:
                self._pending[key] = next(self._sequence)

    def _replay_pending(self) -> None:
        """Delete every entry an invalidation could not reach; raises if Redis fails."""
        with self._pending_lock:
            if not self._pending and not self._flush_requested:
                return
            batch = dict(self._pending)
            flush = self._flush_requested
        if flush:
            self._flush_namespace()
        if batch:
            pipe = self.client.pipeline(transaction=False)
            for key in batch:
                pipe.delete(self.keys.value(key), self.keys.meta("lease", key))
            self._redis(pipe.execute)
        with self._pending_lock:
            for key, sequence in batch.items():
                # Only forget keys not deferred again meanwhile (their new write may be newer
                # than our DEL).
                if self._pending.get(key) == sequence:
                    del self._pending[key]
            if flush and self._flush_requested == flush:
                self._flush_requested = 0
        self.stats.add("replayed_invalidations", len(batch))

    def _flush_namespace(self) -> None:
        self.stats.add("flushes")
        batch: list[str] = []
        for found in self._redis(
            lambda: list(self.client.scan_iter(match=self.keys.pattern(), count=1000))
        ):
            batch.append(str(text(found)))
            if len(batch) >= 500:
                self._redis(self.client.unlink, *batch)
                batch.clear()
        if batch:
            self._redis(self.client.unlink, *batch)

    def _read_database(self, key: str, *, fallback: bool) -> str | None:
        self.stats.add("loads")
        if fallback:
            self.stats.add("fallback_reads")
        return self.database.read(key)

    def _redis(self, call: Callable[..., T], *args: Any) -> T:
        self.stats.add("redis_calls")
        try:
            return call(*args)
        except REDIS_ERRORS:
            self.stats.add("redis_failures")
            raise

    @contextmanager
    def _reporting(self, admission: Admission) -> Iterator[_Verdict]:
        """Report the operation's Redis outcome to the breaker exactly once, even when the
        database raises (the Redis part then succeeded)."""
        verdict = _Verdict()
        if admission is Admission.PROBE:
            self.stats.add("probes")
        try:
            yield verdict
        finally:
            if verdict.failed:
                self.breaker.failed(admission)
            else:
                self.breaker.succeeded(admission)

    def __repr__(self) -> str:
        return (
            f"CircuitBreakerCache(namespace={self.keys.namespace!r}, state={self.state.value}, "
            f"policy={self.policy!r})"
        )


def breaker_contract(
    *, policy: BreakerPolicy, ttl: float, lease_ttl: float, name: str = "breaker"
) -> Contract:
    """What `CircuitBreakerCache` with these parameters promises."""
    return Contract(
        name=name,
        staleness_bound=ttl,
        read_your_writes=True,
        ttl=TtlPolicy(max_seconds=max(ttl, lease_ttl)),
        negative_ttl=ttl,
        breaker=policy,
        notes=(
            "Invalidations that could not reach Redis are replayed before this instance uses "
            "Redis again; other instances may serve such an entry until its TTL ends."
        ),
    )


REFERENCE_POLICY: Final = BreakerPolicy(failure_threshold=3, reset_timeout=1.0)
REFERENCE_TTL: Final = 5.0
BREAKER_CONTRACT: Final = breaker_contract(
    policy=REFERENCE_POLICY, ttl=REFERENCE_TTL, lease_ttl=10.0
)


def make_breaker_cache(
    world: World, *, cls: type[CircuitBreakerCache] = CircuitBreakerCache, **overrides: Any
) -> CircuitBreakerCache:
    """The registered reference (or, with `cls`, a variant of it) on `world`."""
    options: dict[str, Any] = {
        "policy": REFERENCE_POLICY,
        "ttl": REFERENCE_TTL,
        "clock": world.clock,
    }
    options.update(overrides)
    return cls(world.client(), world.database, namespace=world.namespace, **options)


register_reference(
    Reference(
        "breaker",
        make_breaker_cache,
        BREAKER_CONTRACT,
        "Cache-aside behind a circuit breaker; pending invalidations replayed before recovery.",
    )
)

__all__ = [
    "REDIS_ERRORS",
    "Admission",
    "BreakerState",
    "CircuitBreaker",
    "CircuitBreakerCache",
    "Transition",
    "breaker_contract",
    "make_breaker_cache",
]
