"""Cache-aside (look-aside): read the cache, load misses from the database and fill; write the
database first, then invalidate (delete) the cached entry.

Two reference implementations live here, plus the plumbing the other cache-aside-shaped
strategies in this package build on:

- `CacheAside`: the textbook pattern. Cheap and simple, but a fill computed from an old
  database read can land after a concurrent write's invalidation (the *stale set* race, FB
  NSDI '13 §3.2.1), so it promises only that staleness is bounded by the TTL.
- `LeasedCacheAside`: Facebook-memcache-style leases. A miss takes a lease (a unique token
  stored next to the entry); a fill lands only while the lease is intact, and every
  invalidation voids the lease. A fill from a read that raced a write is dropped.

Rules every strategy here follows:

- A cache hit is one Redis round trip (a GET, or one Lua script).
- Every entry has a TTL, and that TTL is counted from the moment its data was read from the
  database, not from the fill: an entry never outlives the read it was computed from by more
  than its TTL. This bounds the damage of any late fill.
- Invalidations that fail (Redis unreachable) make the write raise (an :info outcome) and are
  remembered: retried by `retry_pending()` (and `drain()` where a strategy has one) and by
  the next read, which bypasses the cache in this process until the retry succeeds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final

import redis

from cachecheck._clock import Clock, MonotonicClock
from cachecheck._contract import Contract, TtlPolicy
from cachecheck._database import Database

from ._common import Keys
from ._registry import Reference, register_reference

if TYPE_CHECKING:
    from cachecheck._world import World

__all__ = [
    "DEFAULT_LEASE_TTL",
    "DEFAULT_TTL",
    "LEASE_STATE",
    "LEASE_TOKEN",
    "CacheAside",
    "ClientFactory",
    "FillHook",
    "LeasedCacheAside",
    "Loaded",
    "Lookup",
    "RedisCache",
    "cache_aside_contract",
    "leased_contract",
    "seconds_to_ms",
    "text",
    "wait_point_sleep",
]

log = logging.getLogger(__name__)

#: A test hook called with the key after the database step and before the cache store, so a
#: test (or the model) can run a conflicting operation exactly inside the race window.
FillHook = Callable[[str], None]
#: A zero-argument factory of Redis clients, for strategies that need extra connections.
ClientFactory = Callable[[], redis.Redis]

DEFAULT_TTL: Final = 60.0
DEFAULT_LEASE_TTL: Final = 5.0
_ABSENT: Final = "-"  # a cached absence, when negative caching is on
_RETRY_EVERY: Final = 0.1  # seconds between retries of failed invalidations from the read path

# Lease protocol. KEYS: entry, lease, lease counter. ARGV: lease ms, refresh-below ms (0: never),
# an entry value that is never refreshed (the tombstone: absent keys just expire; "" for none).
# A hit returns {value, token-or-nil, pttl}; a token on a hit means "you own the refresh".
# A miss returns {nil, token} when the caller now holds the lease, {nil, nil} when someone
# else is loading. A token is never reused: a per-key counter would restart after DEL and let
# an old lease holder's fill through (ABA), so tokens come from one counter, prefixed with the
# server time so they stay unique when a restart loses the counter.
LEASE_TOKEN: Final = """
local function new_token(counter)
  local now = redis.call('TIME')
  return now[1] .. '.' .. now[2] .. ':' .. redis.call('INCR', counter)
end
"""
_LOOKUP: Final = (
    LEASE_TOKEN
    + """
local v = redis.call('GET', KEYS[1])
local below = tonumber(ARGV[2])
if v then
  if below <= 0 or (ARGV[3] ~= '' and v == ARGV[3]) then return {v, false, -1} end
  local pttl = redis.call('PTTL', KEYS[1])
  if pttl >= 0 and pttl < below and redis.call('EXISTS', KEYS[2]) == 0 then
    local token = new_token(KEYS[3])
    redis.call('SET', KEYS[2], token, 'PX', ARGV[1])
    return {v, token, pttl}
  end
  return {v, false, pttl}
end
if redis.call('EXISTS', KEYS[2]) == 1 then return {false, false, -2} end
local token = new_token(KEYS[3])
redis.call('SET', KEYS[2], token, 'PX', ARGV[1])
return {false, token, -2}
"""
)

# Who holds a lease key: our token ("mine"), or the mark "v<version>:<token>" a write left on
# our lease (returns that version), or someone else (nil).
LEASE_STATE: Final = """
local function lease_state(lease_key, token)
  local lease = redis.call('GET', lease_key)
  if not lease then return nil end
  if lease == token then return 'mine' end
  local version, owner = string.match(lease, '^v(%d+):(.*)$')
  if owner == token then return tonumber(version) end
  return nil
end
"""

# KEYS: entry, lease. ARGV: token, payload, px, version of the row read.
# Store while our lease is intact, or when a write marked it with a version no newer than the
# row we read (we read after that write committed). A flight a write voided frees the key.
_FILL: Final = (
    LEASE_STATE
    + """
local state = lease_state(KEYS[2], ARGV[1])
if state == nil then return 0 end
if state ~= 'mine' and state > tonumber(ARGV[4]) then
  redis.call('DEL', KEYS[2])
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('DEL', KEYS[2])
return 1
"""
)

# KEYS: entry, lease. ARGV: the committed version of the write ("" when unknown).
# Delete the entry; a lease in flight becomes the mark "v<version>:<token>" (never lowered,
# same TTL), so its holder's fill lands only if it read this write or a later one. Without a
# version the lease is simply deleted.
_INVALIDATE: Final = """
redis.call('DEL', KEYS[1])
local lease = redis.call('GET', KEYS[2])
if not lease then return 0 end
if ARGV[1] == '' then return redis.call('DEL', KEYS[2]) end
local version, owner = string.match(lease, '^v(%d+):(.*)$')
if version and tonumber(version) >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[2], 'v' .. ARGV[1] .. ':' .. (owner or lease), 'KEEPTTL')
return 1
"""

# KEYS: lease. ARGV: token. Compare-and-delete: never drop someone else's lease.
_RELEASE: Final = (
    LEASE_STATE
    + """
if lease_state(KEYS[1], ARGV[1]) == nil then return 0 end
return redis.call('DEL', KEYS[1])
"""
)


def wait_point_sleep(world: World) -> Callable[[float], None]:
    """A sleep that first reports a ("wait", "lease") I/O point, so a controlled scheduler
    (the model's interleaver) runs the lease holder instead of starving it."""
    io = getattr(world, "io", None)

    def sleep(seconds: float) -> None:
        if io is not None:
            io("wait", "lease")
        time.sleep(seconds)

    return sleep


def text(reply: object) -> str | None:
    """A Redis reply as text (clients decode strings, but scripts may return integers)."""
    if reply is None:
        return None
    if isinstance(reply, bytes):
        return reply.decode()
    return str(reply)


def _version_arg(version: int | None) -> str:
    return "" if version is None else str(version)


def seconds_to_ms(seconds: float) -> int:
    """Seconds as a Redis PX argument (at least 1 ms)."""
    return max(1, round(seconds * 1000))


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name} must be > 0 seconds, got {value!r}")


class RedisCache:
    """Plumbing shared by the reference strategies: keys, clock, TTL arithmetic, the fill hook,
    and invalidation with a retry list. Not a cache by itself.

    Args:
        redis_client: the client every cache operation goes through.
        database: the source of truth.
        namespace: prefix of every Redis key (`World.namespace`).
        ttl: lifetime of a cache entry in seconds, counted from its database read.
        clock: where time is read (TTL arithmetic); monotonic by default.
        before_fill: test hook, see `FillHook`.
    """

    #: Name used in key names, reports and the registry.
    strategy: ClassVar[str] = "cache"

    def __init__(
        self,
        redis_client: redis.Redis,
        database: Database,
        namespace: str,
        *,
        ttl: float = DEFAULT_TTL,
        clock: Clock | None = None,
        before_fill: FillHook | None = None,
    ) -> None:
        _check_positive(ttl=ttl)
        self._redis = redis_client
        self._db = database
        self._keys = Keys(namespace, self.strategy)
        self._clock: Clock = clock or MonotonicClock()
        self.ttl = ttl
        self.before_fill = before_fill
        # key -> how to redo its failed cache update; guarded by _pending_lock.
        self._pending: dict[str, Callable[[], object]] = {}
        self._pending_lock = threading.Lock()
        self._next_retry = 0.0  # reads retry at most every _RETRY_EVERY (Redis may be down)

    @property
    def keys(self) -> Keys:
        """The Redis key names this cache uses."""
        return self._keys

    # -- time ---------------------------------------------------------------------------

    def _ttl_ms(self) -> int:
        """The TTL of a new entry in milliseconds (subclasses add jitter)."""
        return seconds_to_ms(self.ttl)

    def _remaining_ms(self, ttl_ms: int, since: float) -> int:
        """What is left of `ttl_ms` counted from `since` (when the data was read)."""
        elapsed_ms = int((self._clock.now() - since) * 1000)
        return ttl_ms - max(0, elapsed_ms)

    def _pause_before_fill(self, key: str) -> None:
        if self.before_fill is not None:
            self.before_fill(key)

    # -- invalidation and its retry list --------------------------------------------------

    def _invalidation_keys(self, key: str) -> list[str]:
        """Every Redis key a write to `key` must delete."""
        return [self._keys.value(key)]

    def _invalidate(self, key: str, version: int | None = None) -> None:
        """Invalidate `key` after a commit of `version` (None: unknown); on failure remember
        it for retry and re-raise."""
        self._guarded(key, lambda: self._drop(key, version))

    def _drop(self, key: str, version: int | None) -> None:
        """The Redis side of an invalidation."""
        self._redis.delete(*self._invalidation_keys(key))

    def _guarded(self, key: str, update: Callable[[], object]) -> None:
        """Run a cache update that must not be lost; queue it for retry when Redis fails."""

        def redo() -> None:
            update()

        try:
            redo()
        except redis.RedisError:
            self._remember(key, redo)
            raise
        with self._pending_lock:
            self._pending.pop(key, None)

    def _remember(self, key: str, redo: Callable[[], object]) -> None:
        """Queue a failed cache update of `key` for retry (latest one wins)."""
        with self._pending_lock:
            self._pending[key] = redo

    def _is_pending(self, key: str) -> bool:
        """True when `key` has a failed cache update; reads must then bypass the cache."""
        if not self._pending:  # racy fast path; the locked check below decides
            return False
        if time.monotonic() >= self._next_retry:
            self._next_retry = time.monotonic() + _RETRY_EVERY
            self._retry_pending()
        with self._pending_lock:
            return key in self._pending

    def _retry_pending(self) -> bool:
        """Retry failed cache updates once; True when none is left."""
        with self._pending_lock:
            todo = list(self._pending.items())
        for key, redo in todo:
            try:
                redo()
            except redis.RedisError:
                continue
            with self._pending_lock:
                if self._pending.get(key) is redo:
                    del self._pending[key]
        with self._pending_lock:
            return not self._pending

    def retry_pending(self, timeout: float) -> bool:
        """Retry failed cache updates until none is left or `timeout` seconds passed.

        Not named `drain`: a synchronous cache has no background work, and advertising the
        `Drainable` capability would tell the suite to wait before judging convergence.
        Strategies with background work call this from their `drain`.
        """
        deadline = time.monotonic() + timeout
        while not self._retry_pending():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def close(self) -> None:
        """Release resources (nothing to release here; subclasses stop their threads)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(namespace={self._keys.namespace!r}, ttl={self.ttl!r})"


# -- plain cache-aside -------------------------------------------------------------------


def cache_aside_contract(ttl: float = DEFAULT_TTL) -> Contract:
    """The contract of `CacheAside` with TTL `ttl`."""
    return Contract(
        name="cache_aside",
        staleness_bound=ttl,
        read_your_writes=False,
        converges=False,
        ttl=TtlPolicy(max_seconds=ttl),
        notes=(
            "Stale set: a fill whose database read preceded a concurrent write can land after "
            "that write's invalidation and stay until its TTL, which is counted from the read, "
            "so staleness is bounded by the TTL (plus the fill command's network delay)."
        ),
    )


class CacheAside(RedisCache):
    """The textbook cache-aside: GET; on a miss read the database and SET with a TTL; a write
    commits to the database, then DELetes the entry.

    When to use: read-heavy data where a value up to one TTL old is acceptable, and you want the
    simplest code with no extra keys.

    Contract: no phantom reads; staleness bounded by the TTL. It does *not* promise convergence
    or read-your-writes: a fill whose database read preceded a concurrent write can land after
    the write's DEL (the stale-set race) and serve the old value until its TTL expires. The TTL
    counts from the database read, so such an entry never outlives the write by more than TTL.
    Absent keys are not cached (see `NegativeCache`).

    Cost: a hit is one GET; a miss is GET + database read + SET; a write is a database write +
    one DEL.
    """

    strategy = "cache_aside"

    @property
    def contract(self) -> Contract:
        return cache_aside_contract(self.ttl)

    def get(self, key: str) -> str | None:
        if self._is_pending(key):
            return self._db.read(key)
        cached = text(self._redis.get(self._keys.value(key)))
        if cached is not None:
            return cached
        read_at = self._clock.now()  # before the read: the TTL counts from the data's age
        value = self._db.read(key)
        if value is not None:
            self._pause_before_fill(key)
            self._fill(key, value, read_at)
        return value

    def _fill(self, key: str, value: str, read_at: float) -> None:
        px = self._remaining_ms(self._ttl_ms(), read_at)
        if px > 0:
            self._redis.set(self._keys.value(key), value, px=px)

    def set(self, key: str, value: str) -> None:
        self._db.write(key, value)
        self._invalidate(key)  # after the commit: a DEL first lets a reader refill the old value

    def delete(self, key: str) -> None:
        self._db.delete(key)
        self._invalidate(key)


# -- leased cache-aside --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lookup:
    """What one lookup round trip found: the raw entry (None on a miss), a lease token if the
    caller now holds the key's lease, and the entry's PTTL (-1 unknown, -2 missing)."""

    raw: str | None
    token: str | None
    pttl: int


@dataclass(frozen=True, slots=True)
class Loaded:
    """A database read: the value (None: absent) and the row's version (0: never written)."""

    value: str | None
    version: int


def leased_contract(
    name: str = "cache_aside_leased",
    *,
    ttl: float = DEFAULT_TTL,
    lease_ttl: float = DEFAULT_LEASE_TTL,
    exempt: tuple[str, ...] = (),
    **changes: Any,
) -> Contract:
    """The contract of `LeasedCacheAside` (and of the strategies built on it); `exempt` adds
    TTL-exempt key globs, `changes` overrides fields."""
    contract = Contract(
        name=name,
        staleness_bound=0.0,
        read_your_writes=True,
        converges=True,
        ttl=TtlPolicy(max_seconds=max(ttl, lease_ttl), exempt=(f"*{name}:seq", *exempt)),
        notes=(
            "Fills need an intact lease, and every invalidation voids the lease in flight "
            "(only a fill that read the write can still land), so a fill computed before a "
            "write can never land after it. If an invalidation cannot reach Redis the write "
            "raises (an :info outcome); the entry then stays at most one TTL, or until "
            "retry_pending() (or the next read of the key) redoes the invalidation."
        ),
    )
    return contract.evolve(**changes) if changes else contract


class LeasedCacheAside(RedisCache):
    """Cache-aside with leases (Facebook memcache, NSDI '13 §3.2.1): no stale sets.

    A miss takes a lease on the key (a unique token, `SET NX PX`) in the same Lua call as the
    GET. The loader reads the row and its version and fills with a Lua compare: the entry is
    stored only if the lease still holds its token. Every write, after committing version v,
    deletes the entry and marks a lease in flight with v: its holder's fill then lands only if
    the row it read has version >= v (it read the write, so it is fresh); a fill computed from a
    read that the write overtook is dropped, and frees the key. A miss while someone else holds
    the lease reads the database without filling (or, with `lease_wait > 0`, polls for the
    holder's fill first: one load per miss episode).

    When to use: cache-aside where a stale value must not outlive the write that replaced it,
    e.g. anything a user edits and then re-reads.

    Contract: converges, read-your-writes, no stale reads once a write completed (staleness 0),
    entries and leases all carry TTLs; the lease counter (`<ns>cache_aside_leased:seq`) is the
    only key without one. Leases fail safe: losing a lease (eviction, expiry, restart) only drops
    a fill. Single Redis only (the scripts touch several keys).

    Cost: a hit is one EVALSHA; a miss adds the database read and one EVALSHA for the fill; a
    write is a database write + one EVALSHA. One small lease key per in-flight miss.

    Args:
        lease_ttl: how long a lease holds, seconds; a fill slower than this is dropped.
        lease_wait: how long a miss waits for another lease holder's fill before reading the
            database itself (0: never waits, loads at once without filling).
        lease_poll: first pause between those polls (doubling up to 0.1 s).
        negative_ttl: cache absence for this long (None: absent keys are not cached).
        sleep: how to pause between polls; `wait_point_sleep(world)` lets the model's
            controlled scheduler run the lease holder meanwhile.
    """

    strategy = "cache_aside_leased"

    def __init__(
        self,
        redis_client: redis.Redis,
        database: Database,
        namespace: str,
        *,
        ttl: float = DEFAULT_TTL,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        lease_wait: float = 0.0,
        lease_poll: float = 0.01,
        negative_ttl: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Clock | None = None,
        before_fill: FillHook | None = None,
    ) -> None:
        super().__init__(
            redis_client, database, namespace, ttl=ttl, clock=clock, before_fill=before_fill
        )
        self._sleep = sleep
        _check_positive(lease_ttl=lease_ttl, lease_poll=lease_poll)
        if lease_wait < 0:
            raise ValueError(f"lease_wait must be >= 0 seconds, got {lease_wait!r}")
        if negative_ttl is not None and not 0 < negative_ttl <= ttl:
            raise ValueError(f"negative_ttl must be in (0, ttl], got {negative_ttl!r}")
        self.negative_ttl = negative_ttl
        self.lease_ttl = lease_ttl
        self.lease_wait = lease_wait
        self.lease_poll = lease_poll
        self._lookup_script = redis_client.register_script(_LOOKUP)
        self._fill_script = redis_client.register_script(_FILL)
        self._release_script = redis_client.register_script(_RELEASE)
        self._invalidate_script = redis_client.register_script(_INVALIDATE)

    @property
    def contract(self) -> Contract:
        return leased_contract(
            self.strategy, ttl=self.ttl, lease_ttl=self.lease_ttl, negative_ttl=self.negative_ttl
        )

    # -- Subject ----------------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        if self._is_pending(key):
            return self._load(key)
        for pause in [*self._poll_pauses(), None]:
            found = self._lookup(key)
            if found.raw is not None:
                self._on_hit(key, found)
                return self._decode(found.raw)
            if found.token is not None:
                return self._load_and_fill(key, found.token)
            if pause is not None:
                self._sleep(pause)
        return self._load(key)  # someone else holds the lease: serve without filling

    def _poll_pauses(self) -> list[float]:
        """Pauses between polls for another holder's fill: backing off from `lease_poll` to
        0.1 s, `lease_wait` in total. Planned up front, not timed: the clock may be frozen."""
        pauses: list[float] = []
        pause, left = self.lease_poll, self.lease_wait
        while left > 1e-9:
            pauses.append(min(pause, left))
            left -= pauses[-1]
            pause = min(pause * 2, max(0.1, self.lease_poll))
        return pauses

    def set(self, key: str, value: str) -> None:
        self._invalidate(key, self._db.write(key, value))

    def delete(self, key: str) -> None:
        self._invalidate(key, self._db.delete(key))

    # -- the lease protocol -----------------------------------------------------------------

    def _invalidation_keys(self, key: str) -> list[str]:
        return [self._keys.value(key), self._keys.meta("lease", key)]

    def _drop(self, key: str, version: int | None) -> None:
        self._invalidate_script(keys=self._invalidation_keys(key), args=[_version_arg(version)])

    def _lookup_keys(self, key: str) -> list[str]:
        return [self._keys.value(key), self._keys.meta("lease", key), self._keys.meta("seq")]

    def _refresh_below_ms(self) -> int:
        """Hits with less PTTL than this take a refresh lease (0: never; see RefreshAhead)."""
        return 0

    def _lookup(self, key: str) -> Lookup:
        never_refresh = _ABSENT if self.negative_ttl is not None else ""
        args: list[str | int] = [
            seconds_to_ms(self.lease_ttl),
            self._refresh_below_ms(),
            never_refresh,
        ]
        raw, token, pttl = self._lookup_script(keys=self._lookup_keys(key), args=args)
        return Lookup(text(raw), text(token), int(pttl))

    def _on_hit(self, key: str, found: Lookup) -> None:
        """Called on every hit (RefreshAhead schedules refreshes here)."""

    def _load(self, key: str, client: str | None = None) -> str | None:
        """Read the source of truth without filling."""
        return self._read_source(key, client).value

    def _read_source(self, key: str, client: str | None = None) -> Loaded:
        """Read the value and its version (errors propagate: they are never cached). `client`
        labels the load in the database's load log (default: the calling thread's name)."""
        row = self._db.read_row(key, client=client)
        return Loaded(None, 0) if row is None else Loaded(row.value, row.version)

    def _load_and_fill(self, key: str, token: str) -> str | None:
        read_at = self._clock.now()
        try:
            loaded = self._read_source(key)
        except BaseException:
            self._release(key, token)
            raise
        self._pause_before_fill(key)
        try:
            self._store(key, token, loaded, read_at)
        except redis.RedisError:
            self._release(key, token)  # don't leave waiters a lease nobody will fill
            raise
        return loaded.value

    def _store(self, key: str, token: str, loaded: Loaded, read_at: float) -> bool:
        """Fill under our lease; True if the entry was stored."""
        payload = self._encode(loaded.value)
        px = self._remaining_ms(self._entry_ttl_ms(loaded.value), read_at)
        if payload is None or px <= 0:
            self._release(key, token)
            return False
        keys = [self._keys.value(key), self._keys.meta("lease", key)]
        return bool(self._fill_script(keys=keys, args=[token, payload, px, loaded.version]))

    def _release(self, key: str, token: str) -> None:
        try:
            self._release_script(keys=[self._keys.meta("lease", key)], args=[token])
        except redis.RedisError:  # the lease expires by itself
            log.debug("could not release the lease on %r", key, exc_info=True)

    # -- entry encoding ------------------------------------------------------------------
    # Without negative caching an entry is the raw value. With it, "+<value>" or "-" (absent),
    # so any value, even "-", round-trips.

    def _encode(self, value: str | None) -> str | None:
        """The entry to store for a loaded value; None stores nothing."""
        if self.negative_ttl is None:
            return value
        return _ABSENT if value is None else f"+{value}"

    def _decode(self, raw: str) -> str | None:
        if self.negative_ttl is None:
            return raw
        return None if raw == _ABSENT else raw[1:]

    def _entry_ttl_ms(self, value: str | None) -> int:
        if value is None and self.negative_ttl is not None:
            return seconds_to_ms(self.negative_ttl)
        return self._ttl_ms()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(namespace={self._keys.namespace!r}, ttl={self.ttl!r}, "
            f"lease_ttl={self.lease_ttl!r})"
        )


register_reference(
    Reference(
        "cache_aside",
        lambda world: CacheAside(
            world.client(), world.database, world.namespace, clock=world.clock
        ),
        cache_aside_contract(),
        "Textbook cache-aside: DB then DEL; staleness bounded by the TTL (stale-set race).",
    )
)
register_reference(
    Reference(
        "cache_aside_leased",
        lambda world: LeasedCacheAside(
            world.client(), world.database, world.namespace, clock=world.clock
        ),
        leased_contract(),
        "Cache-aside with memcache-style leases: no stale sets, converges.",
    )
)
