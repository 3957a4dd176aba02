"""Stampede prevention: an owner-token lock (single-flight) and XFetch (early expiration).

Both build on the same cache-aside core, `FillLease`, which the other edge strategies of this
package share: a hit is one `GET`; a miss takes a *fill lease* before reading the source of
truth, and the fill only lands if no invalidation happened since (Facebook memcache leases,
bug-classes.md §2 and #1). Writers commit to the database first, then delete the entry and the
lease in one `DEL`, so a reader that loaded an old row can never put it back.

Redis keys, all under the world's namespace (`Keys`): `<ns><strategy>:v:<key>` holds the entry,
`<ns><strategy>:lease:<key>` the fill lease, `<ns><strategy>:lock:<key>` the stampede lock.
Every key has a TTL.
"""

from __future__ import annotations

import enum
import json
import math
import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import redis
from redis.cluster import RedisCluster

from cachecheck._clock import Clock, MonotonicClock
from cachecheck._contract import Contract, TtlPolicy
from cachecheck._database import Database

from ._common import Keys
from ._registry import Reference, register_reference

if TYPE_CHECKING:
    from cachecheck._world import World

#: A synchronous redis-py client: one server, or a Redis Cluster (keys then need hash tags).
RedisClient: TypeAlias = redis.Redis | RedisCluster

#: `before_load(key, token)` runs after a miss took its lock or lease, before the database read.
#: Tests use it to make a loader slow, or to make a lock holder outlast its lock.
LoadHook: TypeAlias = Callable[[str, str], None]


# -- small shared helpers ---------------------------------------------------------------------


def text(raw: object) -> str | None:
    """A Redis reply as `str` (clients may or may not decode responses)."""
    if raw is None or raw is False:
        return None
    if isinstance(raw, bytes):
        return raw.decode("utf-8")
    return str(raw)


def seconds_to_ms(seconds: float) -> int:
    """A TTL in whole milliseconds, at least 1 (Redis rejects PX 0)."""
    return max(1, math.ceil(seconds * 1000))


def check_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value!r}")


_PRESENT: Final = "v"
_ABSENT: Final = "n"


def encode_entry(value: str | None) -> str:
    """A cache entry for a value, or for "the source of truth has no such key"."""
    return _ABSENT if value is None else _PRESENT + value


def decode_entry(raw: str | None) -> tuple[bool, str | None]:
    """(found, value): found is False on a miss or an entry this code did not write."""
    if raw is None or raw == "":
        return False, None
    if raw[0] == _PRESENT:
        return True, raw[1:]
    if raw == _ABSENT:
        return True, None
    return False, None


class Counters:
    """Thread-safe named counters: the `stats` every edge strategy exposes."""

    def __init__(self, *names: str) -> None:
        self._lock = threading.Lock()
        self._values = dict.fromkeys(names, 0)

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._values[name] = self._values.get(name, 0) + amount

    def __getitem__(self, name: str) -> int:
        with self._lock:
            return self._values.get(name, 0)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._values)

    def __repr__(self) -> str:
        return f"Counters({self.snapshot()!r})"


# -- the fill lease -----------------------------------------------------------------------------


class FillLease:
    """Guarded cache-aside fills, shared by the edge strategies.

    - `begin` stores a fresh random token under the lease key (with a TTL) *before* the
      source of truth is read; the last reader to begin owns the lease.
    - `fill` writes the entry only if the lease still holds that token, atomically (Lua), and
      consumes the lease.
    - `invalidate` deletes the entry and the lease in one `DEL`. A reader that read the
      database before a write committed therefore cannot fill the old value afterwards: the
      writer's `DEL` (after its commit) removed the reader's lease.

    A load that outlasts `lease_ttl` simply does not fill (the lease expired): the fill is
    dropped, never wrong. Value and lease keys of one cache key must live on one node
    (Redis Cluster: give them a common hash tag).
    """

    FILL_LUA: Final = """
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
"""

    def __init__(self, client: RedisClient, *, lease_ttl: float) -> None:
        check_positive(lease_ttl=lease_ttl)
        self.lease_ttl = lease_ttl
        self._fill = client.register_script(self.FILL_LUA)

    def begin(self, client: RedisClient, lease_key: str) -> str:
        token = secrets.token_hex(16)
        client.set(lease_key, token, px=seconds_to_ms(self.lease_ttl))
        return token

    def fill(
        self,
        client: RedisClient,
        value_key: str,
        lease_key: str,
        token: str,
        payload: str,
        ttl_seconds: float,
    ) -> bool:
        done = self._fill(
            keys=[value_key, lease_key],
            args=[token, payload, seconds_to_ms(ttl_seconds)],
            client=client,
        )
        return bool(int(done))

    @staticmethod
    def invalidate(client: RedisClient, value_key: str, lease_key: str) -> None:
        client.delete(value_key, lease_key)


# -- lock events and the mutual-exclusion property -------------------------------------------


class LockEventKind(enum.StrEnum):
    ACQUIRE = "acquire"
    RELEASE = "release"


@dataclass(frozen=True, slots=True)
class LockEvent:
    """One lock operation as the client saw it, with invoke/complete times on the cache's clock.

    For a release, `deleted` is the token the release actually removed from Redis: the
    releaser's own token, None (nothing: the lock had expired or belonged to someone else),
    or, with a buggy plain-`DEL` release, *another client's* token.
    """

    kind: LockEventKind
    resource: str
    token: str
    client: str
    invoked_at: float
    completed_at: float
    ttl: float
    deleted: str | None = None


@dataclass(frozen=True, slots=True)
class LockHold:
    """The interval during which a holder certainly held a valid lock: from the moment its
    acquire returned until its release was invoked (if the release removed its own token)
    or until its acquire's invocation time plus the TTL, whichever comes first."""

    resource: str
    token: str
    client: str
    start: float
    end: float
    deleted_other: str | None = None


class LockEventLog:
    """A thread-safe, bounded log of lock events; share one between clients of one cache."""

    def __init__(self, maxlen: int = 100_000) -> None:
        self._events: deque[LockEvent] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def append(self, event: LockEvent) -> None:
        with self._lock:
            self._events.append(event)

    def events(self) -> list[LockEvent]:
        with self._lock:
            return list(self._events)

    def clear(self) -> None:
        with self._lock:
            self._events.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)


def lock_holds(events: Iterable[LockEvent]) -> list[LockHold]:
    """Pair acquires with releases (by token) into conservative validity intervals.

    The intervals under-approximate real ownership (Redis set the key after the acquire was
    invoked and deleted it after the release was invoked), so with one clock for all clients a
    correct lock never yields two overlapping holds on one resource.
    """
    events = list(events)
    releases = {e.token: e for e in events if e.kind is LockEventKind.RELEASE}
    holds = []
    for acquire in (e for e in events if e.kind is LockEventKind.ACQUIRE):
        end = acquire.invoked_at + acquire.ttl
        release = releases.get(acquire.token)
        deleted_other = None
        if release is not None:
            if release.deleted == acquire.token:
                end = min(end, release.invoked_at)
            elif release.deleted is not None:
                deleted_other = release.deleted
        holds.append(
            LockHold(
                acquire.resource,
                acquire.token,
                acquire.client,
                acquire.completed_at,
                end,
                deleted_other,
            )
        )
    return holds


def mutual_exclusion_violations(events: Iterable[LockEvent]) -> list[tuple[LockHold, LockHold]]:
    """Pairs of holds on the same resource whose validity intervals overlap (P5)."""
    by_resource: dict[str, list[LockHold]] = {}
    for hold in lock_holds(events):
        by_resource.setdefault(hold.resource, []).append(hold)
    found = []
    for holds in by_resource.values():
        holds.sort(key=lambda h: h.start)
        for i, first in enumerate(holds):
            for second in holds[i + 1 :]:
                if second.start >= first.end:
                    break
                if first.start < first.end and second.start < second.end:
                    found.append((first, second))
    return found


# -- the owner-token lock -----------------------------------------------------------------------


def locked_cache_aside_contract(
    *, ttl: float, lock_ttl: float, max_wait: float, negative_ttl: float, name: str = "stampede"
) -> Contract:
    """What `LockedCacheAside` with these parameters promises."""
    return Contract(
        name=name,
        staleness_bound=ttl,
        read_your_writes=True,
        single_flight=True,
        ttl=TtlPolicy(max_seconds=max(ttl, negative_ttl, lock_ttl)),
        negative_ttl=negative_ttl,
        notes=(
            f"Single-flight holds while loads finish within {min(lock_ttl, max_wait):g}s "
            "(min of lock_ttl and max_wait); slower holders let waiters take over or fall back "
            "to the database. A stale entry left by a failed invalidation lives at most the TTL."
        ),
        extra={"lock_ttl": lock_ttl, "max_wait": max_wait},
    )


def xfetch_contract(*, ttl: float, beta: float, lease_ttl: float, name: str = "xfetch") -> Contract:
    """What `XFetchCache` with these parameters promises."""
    return Contract(
        name=name,
        staleness_bound=ttl,
        read_your_writes=True,
        ttl=TtlPolicy(max_seconds=max(ttl, lease_ttl)),
        negative_ttl=ttl,
        notes="Probabilistic early recomputation (XFetch); no single-flight promise.",
        extra={"xfetch_beta": beta, "expected_regenerations_per_expiry": 1},
    )


class _Poll(enum.Enum):
    WAIT = 0
    HIT = 1
    ACQUIRED = 2


class LockedCacheAside:
    """Cache-aside with a per-key owner-token lock, so a miss is loaded once, not N times.

    **Use it** for hot keys whose load is expensive (a slow query, an API call) and whose
    expiry or invalidation would otherwise send every concurrent reader to the database at
    once (bug class #14, thundering herd).

    **How it works.**

    - Hit: one `GET`.
    - Miss: one Lua call that re-reads the entry and otherwise takes the lock
      (`SET lock token NX PX lock_ttl`) and the fill lease with the same random token.
    - The holder loads the row (value and version) from the database and fills the entry
      only if it still holds the lock (a holder that outlasted its lock does not fill: bug
      class #16) and no newer write was invalidated since: its lease is intact, or the
      tombstone the write left carries a version no newer than the row it read. Then it
      releases by compare-and-delete in Lua (never a plain `DEL`: #15).
    - Writes commit to the database, then replace the entry by a tombstone `t<version>`
      (TTL `lock_ttl`) and drop the lease, in one Lua call. A holder that read the database
      before the commit cannot fill the old row; one that read it after the commit still
      fills, so a write racing a miss does not cost a second load. If the tombstone is
      evicted, the fill is refused (a wasted load, never a stale entry).
    - Waiters poll with capped, jittered exponential backoff. Each poll is one Lua call that
      returns the entry if it appeared, or takes over the lock if it is free (a crashed
      holder's lock expires after `lock_ttl`: #19). After `max_wait` seconds of waiting, a
      waiter reads the database itself and returns that, without filling.

    **Contract.** Single-flight: at most one database load per key per miss episode, as long
    as loads finish within `min(lock_ttl, max_wait)` (slower loads let a waiter take over or
    fall back; both are counted in `stats`). Reads after a completed write see it; if the
    invalidation could not reach Redis (the write then raises), the stale entry lives at most
    `ttl`. Absent keys are cached for `negative_ttl`. Needs a source of truth that returns a
    per-key version that grows with every write (a version column, a commit sequence).

    **Cost.** Hit: 1 round trip. Miss (holder): 4 round trips (lookup, acquire, fill,
    release) plus the load. Waiter: one round trip per poll, at most about
    `log2(max_backoff / initial_backoff) + 2 * max_wait / max_backoff` polls. Mutual exclusion
    holds while loads are shorter than `lock_ttl`; a holder that outlasts it cannot fill
    (fenced) and its release deletes nothing.

    `seed` fixes the backoff jitter for reproducible runs; leave it None in production, so
    that processes do not poll in lockstep. `sleep` is how a waiter pauses (`time.sleep`; pass
    your framework's cooperative sleep under gevent/eventlet).

    `lock_events` records every acquire and release (see `mutual_exclusion_violations`).
    """

    strategy = "stampede"

    # Entries are "v<version>:<value>", "n<version>" (absent) or "t<version>" (a tombstone a
    # write left: a miss that remembers the newest version invalidated).
    ACQUIRE_LUA: str = """
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 1) ~= 't' then return {1, v} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2])
  return {2, ''}
end
return {0, ''}
"""
    FILL_LUA: str = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
local current = redis.call('GET', KEYS[1])
local tomb = nil
if current and string.sub(current, 1, 1) == 't' then tomb = tonumber(string.sub(current, 2)) end
if tomb and tomb > tonumber(ARGV[4]) then return 0 end
if redis.call('GET', KEYS[3]) ~= ARGV[1] and not tomb then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""
    INVALIDATE_LUA: str = """
local current = redis.call('GET', KEYS[1])
local version = nil
if current then version = tonumber(string.match(current, '^[vnt](%d+)')) end
if not version or version < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], 't' .. ARGV[1], 'PX', ARGV[2])
end
redis.call('DEL', KEYS[2])
return 1
"""
    RELEASE_LUA: str = """
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return current
end
return false
"""

    def __init__(
        self,
        client: RedisClient,
        database: Database,
        *,
        namespace: str,
        ttl: float = 30.0,
        lock_ttl: float = 5.0,
        max_wait: float | None = None,
        negative_ttl: float | None = None,
        initial_backoff: float = 0.005,
        max_backoff: float = 0.1,
        seed: int | None = None,
        clock: Clock | None = None,
        before_load: LoadHook | None = None,
        lock_log: LockEventLog | None = None,
        client_id: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        name: str | None = None,
    ) -> None:
        max_wait = lock_ttl + max_backoff if max_wait is None else max_wait
        negative_ttl = ttl if negative_ttl is None else negative_ttl
        check_positive(
            ttl=ttl, lock_ttl=lock_ttl, max_wait=max_wait, negative_ttl=negative_ttl,
            initial_backoff=initial_backoff, max_backoff=max_backoff,
        )  # fmt: skip
        if initial_backoff > max_backoff:
            raise ValueError("initial_backoff must be <= max_backoff")
        self.client = client
        self.database = database
        self.keys = Keys(namespace, name or self.strategy)
        self.ttl = ttl
        self.lock_ttl = lock_ttl
        self.max_wait = max_wait
        self.negative_ttl = negative_ttl
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.clock: Clock = clock or MonotonicClock()
        self.before_load = before_load
        self.sleep = sleep
        self.lock_log = lock_log if lock_log is not None else LockEventLog()
        self.client_id = client_id or f"{self.strategy}-{secrets.token_hex(3)}"
        self._rng = random.Random(seed)
        self._acquire = client.register_script(self.ACQUIRE_LUA)
        self._fill = client.register_script(self.FILL_LUA)
        self._invalidate = client.register_script(self.INVALIDATE_LUA)
        self._release_script = client.register_script(self.RELEASE_LUA)
        self.stats = Counters(
            "hits", "misses", "loads", "acquired", "waits", "wait_commands", "fallbacks",
            "fills", "fills_rejected", "fill_errors", "release_errors",
        )  # fmt: skip

    # -- Subject --------------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        found, value = self._decode(text(self.client.get(self.keys.value(key))))
        if found:
            self.stats.add("hits")
            return value
        self.stats.add("misses")
        return self._miss(key)

    def set(self, key: str, value: str) -> None:
        self.invalidate(key, self.database.write(key, value))

    def delete(self, key: str) -> None:
        self.invalidate(key, self.database.delete(key))

    def invalidate(self, key: str, version: int) -> None:
        """After committing `version` of `key`: replace the entry by a tombstone of that
        version (unless it already holds that version or a newer one) and drop the fill
        lease. The lock stays: its holder keeps mutual exclusion, and may still fill a row it
        read at `version` or later."""
        keys = [self.keys.value(key), self.keys.meta("lease", key)]
        self._invalidate(keys=keys, args=[version, seconds_to_ms(self.lock_ttl)])

    @property
    def contract(self) -> Contract:
        return locked_cache_aside_contract(
            ttl=self.ttl, lock_ttl=self.lock_ttl, max_wait=self.max_wait,
            negative_ttl=self.negative_ttl, name=self.keys.strategy,
        )  # fmt: skip

    @property
    def lock_events(self) -> list[LockEvent]:
        return self.lock_log.events()

    def peek(self, key: str) -> tuple[bool, str | None]:
        """The cached entry without loading: (found, value)."""
        return self._decode(text(self.client.get(self.keys.value(key))))

    # -- the miss path ----------------------------------------------------------------------

    def _miss(self, key: str) -> str | None:
        token = secrets.token_hex(16)
        state, value, invoked = self._poll(key, token)
        if state is _Poll.HIT:
            return value
        if state is _Poll.ACQUIRED:
            return self._load_as_holder(key, token, invoked)
        self.stats.add("waits")
        waited, delay = 0.0, self.initial_backoff
        while waited < self.max_wait:
            pause = min(delay * (0.5 + 0.5 * self._rng.random()), self.max_wait - waited)
            self.sleep(pause)
            waited += pause
            self.stats.add("wait_commands")
            state, value, invoked = self._poll(key, token)
            if state is _Poll.HIT:
                return value
            if state is _Poll.ACQUIRED:
                return self._load_as_holder(key, token, invoked)
            delay = min(delay * 2, self.max_backoff)
        # The holder is slow (or stuck behind a lock without expiry): answer from the source
        # of truth rather than wait without bound. Not filled: the holder may still fill.
        self.stats.add("fallbacks")
        self.stats.add("loads")
        return self.database.read(key)

    def _poll(self, key: str, token: str) -> tuple[_Poll, str | None, float]:
        """One round trip: the entry if present, else try to take the lock."""
        invoked = self.clock.now()
        reply = self._try_acquire(key, token)
        state = _Poll(int(reply[0]))
        if state is _Poll.HIT:
            found, value = self._decode(text(reply[1]))
            if found:
                return state, value, invoked
            return _Poll.WAIT, None, invoked  # a foreign entry: treat as absent, keep waiting
        return state, None, invoked

    def _try_acquire(self, key: str, token: str) -> list[Any]:
        keys = [self.keys.value(key), self.keys.meta("lock", key), self.keys.meta("lease", key)]
        return list(self._acquire(keys=keys, args=[token, seconds_to_ms(self.lock_ttl)]))

    def _load_as_holder(self, key: str, token: str, invoked: float) -> str | None:
        self.stats.add("acquired")
        self.lock_log.append(
            LockEvent(
                LockEventKind.ACQUIRE,
                key,
                token,
                self.client_id,
                invoked,
                self.clock.now(),
                self.lock_ttl,
            )
        )
        try:
            if self.before_load is not None:
                self.before_load(key, token)
            self.stats.add("loads")
            row = self.database.read_row(key)
            value, version = (None, 0) if row is None else (row.value, row.version)
            try:
                self._fill_as_holder(key, token, value, version)
            except redis.RedisError:
                self.stats.add("fill_errors")  # the value is right; only caching it failed
            return value
        finally:
            self._release_and_log(key, token)

    def _fill_as_holder(self, key: str, token: str, value: str | None, version: int) -> None:
        ttl = self.ttl if value is not None else self.negative_ttl
        payload = f"n{version}" if value is None else f"v{version}:{value}"
        keys = [self.keys.value(key), self.keys.meta("lock", key), self.keys.meta("lease", key)]
        done = self._fill(keys=keys, args=[token, payload, seconds_to_ms(ttl), version])
        self.stats.add("fills" if int(done) else "fills_rejected")

    @staticmethod
    def _decode(raw: str | None) -> tuple[bool, str | None]:
        """(found, value) of a versioned entry; tombstones and foreign data are misses."""
        if not raw:
            return False, None
        kind, body = raw[0], raw[1:]
        if kind == "n" and body.isdigit():
            return True, None
        version, sep, value = body.partition(":")
        if kind == "v" and sep and version.isdigit():
            return True, value
        return False, None

    def _release_and_log(self, key: str, token: str) -> None:
        invoked = self.clock.now()
        try:
            deleted = self._release(key, token)
        except redis.RedisError:
            # The lock expires on its own; never let a failed release hide the load's outcome.
            self.stats.add("release_errors")
            return
        self.lock_log.append(
            LockEvent(
                LockEventKind.RELEASE, key, token, self.client_id, invoked, self.clock.now(),
                self.lock_ttl, deleted,
            )
        )  # fmt: skip

    def _release(self, key: str, token: str) -> str | None:
        """Compare-and-delete; returns the token it deleted (ours) or None."""
        keys = [self.keys.meta("lock", key), self.keys.meta("lease", key)]
        return text(self._release_script(keys=keys, args=[token]))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(namespace={self.keys.namespace!r}, ttl={self.ttl}, "
            f"lock_ttl={self.lock_ttl}, max_wait={self.max_wait})"
        )


# -- XFetch -------------------------------------------------------------------------------------


def xfetch_should_recompute(now: float, delta: float, expiry: float, beta: float, u: float) -> bool:
    """Vattani et al.'s test: recompute early iff `now - delta * beta * ln(u) >= expiry`.

    `u` is uniform on (0, 1]; the probability of recomputing at `gap = expiry - now` is
    `exp(-gap / (delta * beta))`, so it rises to 1 as expiry approaches.
    """
    if not 0.0 < u <= 1.0:
        raise ValueError(f"u must be in (0, 1], got {u!r}")
    return now - delta * beta * math.log(u) >= expiry


class XFetchCache:
    """Cache-aside with probabilistic early expiration (XFetch, Vattani et al., PVLDB 2015).

    **Use it** for hot keys that are read far more often than they are recomputed, when a
    lock is unwanted (no waiting, no lock key): readers shortly before expiry volunteer to
    recompute, one at a time with high probability, while everyone else keeps hitting.

    **How it works.** The entry stores the value, `delta` (the measured recompute time, on the
    cache's clock) and its logical `expiry`, so a hit is still one `GET`. A reader recomputes
    when `now - delta * beta * ln(u) >= expiry`, `u ~ U(0, 1]` from a seeded generator.
    `beta > 1` favours earlier recomputation. The Redis TTL equals the logical lifetime, so
    the entry disappears at expiry even if nobody recomputes. Fills use the fill lease, so an
    early recompute never overwrites a newer write.

    **Contract.** Like cache-aside: reads after a completed write see it; a stale entry left
    by a failed invalidation lives at most `ttl`. No single-flight promise: XFetch makes
    concurrent regenerations rare, not impossible, and a cold miss still loads once per
    concurrent reader.

    **Cost.** Hit: 1 round trip plus one random draw. Recompute: 2 round trips plus the
    load. `seed` makes the draws reproducible (tests); leave it None in production so that
    processes do not draw the same sequence and recompute in lockstep. The clock must be
    shared by every client of the cache (pass a wall clock when several processes share it;
    the default is this process's monotonic clock).
    """

    strategy = "xfetch"

    def __init__(
        self,
        client: RedisClient,
        database: Database,
        *,
        namespace: str,
        ttl: float = 30.0,
        beta: float = 1.0,
        lease_ttl: float = 10.0,
        seed: int | None = None,
        clock: Clock | None = None,
        before_load: LoadHook | None = None,
        name: str | None = None,
    ) -> None:
        check_positive(ttl=ttl, beta=beta, lease_ttl=lease_ttl)
        self.client = client
        self.database = database
        self.keys = Keys(namespace, name or self.strategy)
        self.ttl = ttl
        self.beta = beta
        self.clock: Clock = clock or MonotonicClock()
        self.before_load = before_load
        self._rng = random.Random(seed)
        self._lease = FillLease(client, lease_ttl=lease_ttl)
        self.stats = Counters(
            "hits", "misses", "early_recomputes", "expired", "loads", "fills", "fills_rejected"
        )

    # -- Subject ---------------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        entry = self._decode(text(self.client.get(self.keys.value(key))))
        if entry is None:
            self.stats.add("misses")
            return self._recompute(key)
        value, delta, expiry = entry
        now = self.clock.now()
        if not self._should_recompute(now, delta, expiry):
            self.stats.add("hits")
            return value
        self.stats.add("early_recomputes" if now < expiry else "expired")
        return self._recompute(key)

    def set(self, key: str, value: str) -> None:
        self.database.write(key, value)
        self.invalidate(key)

    def delete(self, key: str) -> None:
        self.database.delete(key)
        self.invalidate(key)

    def invalidate(self, key: str) -> None:
        FillLease.invalidate(self.client, self.keys.value(key), self.keys.meta("lease", key))

    @property
    def contract(self) -> Contract:
        return xfetch_contract(
            ttl=self.ttl, beta=self.beta, lease_ttl=self._lease.lease_ttl, name=self.keys.strategy
        )

    def peek(self, key: str) -> tuple[str | None, float, float] | None:
        """The stored (value, delta, expiry), or None."""
        return self._decode(text(self.client.get(self.keys.value(key))))

    # -- internals ----------------------------------------------------------------------------

    def _should_recompute(self, now: float, delta: float, expiry: float) -> bool:
        u = 1.0 - self._rng.random()  # (0, 1]
        return xfetch_should_recompute(now, delta, expiry, self.beta, u)

    def _recompute(self, key: str) -> str | None:
        lease_key = self.keys.meta("lease", key)
        token = self._lease.begin(self.client, lease_key)
        started = self.clock.now()  # delta covers the whole recompute, hook included
        if self.before_load is not None:
            self.before_load(key, token)
        self.stats.add("loads")
        value = self.database.read(key)
        finished = self.clock.now()
        payload = self._encode(value, finished - started, finished + self.ttl)
        filled = self._lease.fill(
            self.client, self.keys.value(key), lease_key, token, payload, self.ttl
        )
        self.stats.add("fills" if filled else "fills_rejected")
        return value

    @staticmethod
    def _encode(value: str | None, delta: float, expiry: float) -> str:
        return json.dumps({"v": value, "d": delta, "e": expiry}, separators=(",", ":"))

    @staticmethod
    def _decode(raw: str | None) -> tuple[str | None, float, float] | None:
        if raw is None:
            return None
        try:
            entry = json.loads(raw)
            value, delta, expiry = entry["v"], float(entry["d"]), float(entry["e"])
        except (ValueError, TypeError, KeyError):
            return None  # not ours: a miss
        if value is not None and not isinstance(value, str):
            return None
        return value, max(delta, 0.0), expiry

    def __repr__(self) -> str:
        return f"XFetchCache(namespace={self.keys.namespace!r}, ttl={self.ttl}, beta={self.beta})"


# -- registration -----------------------------------------------------------------------------

#: Parameters of the registered references: short enough for chaos runs to see expiry.
REFERENCE_TTL = 5.0


def _sleep_at_wait_point(world: World) -> Callable[[float], None]:
    """A sleep that first reports a ("wait", "lock") I/O point, so a controlled scheduler
    (the model's interleaver) can run the lock holder instead of starving it."""
    io = getattr(world, "io", None)

    def sleep(seconds: float) -> None:
        if io is not None:
            io("wait", "lock")
        time.sleep(seconds)

    return sleep


def make_locked_cache_aside(
    world: World, *, cls: type[LockedCacheAside] = LockedCacheAside, **overrides: Any
) -> LockedCacheAside:
    """The registered reference (or, with `cls`, a variant of it) on `world`."""
    options: dict[str, Any] = {
        "ttl": REFERENCE_TTL,
        "lock_ttl": 2.0,
        "clock": world.clock,
        "seed": 0,
        "sleep": _sleep_at_wait_point(world),
    }
    options.update(overrides)
    return cls(world.client(), world.database, namespace=world.namespace, **options)


def make_xfetch(
    world: World, *, cls: type[XFetchCache] = XFetchCache, **overrides: Any
) -> XFetchCache:
    """The registered reference (or, with `cls`, a variant of it) on `world`."""
    options: dict[str, Any] = {"ttl": REFERENCE_TTL, "clock": world.clock, "seed": 0}
    options.update(overrides)
    return cls(world.client(), world.database, namespace=world.namespace, **options)


STAMPEDE_LOCK_CONTRACT: Final = locked_cache_aside_contract(
    ttl=REFERENCE_TTL, lock_ttl=2.0, max_wait=2.1, negative_ttl=REFERENCE_TTL
)
XFETCH_CONTRACT: Final = xfetch_contract(ttl=REFERENCE_TTL, beta=1.0, lease_ttl=10.0)

register_reference(
    Reference(
        "stampede_lock",
        make_locked_cache_aside,
        STAMPEDE_LOCK_CONTRACT,
        "Cache-aside with an owner-token lock (SET NX PX, compare-and-delete release).",
    )
)
register_reference(
    Reference(
        "xfetch",
        make_xfetch,
        XFETCH_CONTRACT,
        "Cache-aside with probabilistic early expiration (XFetch).",
    )
)

__all__ = [
    "Counters",
    "FillLease",
    "LoadHook",
    "LockEvent",
    "LockEventKind",
    "LockEventLog",
    "LockHold",
    "LockedCacheAside",
    "RedisClient",
    "XFetchCache",
    "decode_entry",
    "encode_entry",
    "lock_holds",
    "locked_cache_aside_contract",
    "make_locked_cache_aside",
    "make_xfetch",
    "mutual_exclusion_violations",
    "xfetch_contract",
    "xfetch_should_recompute",
]
