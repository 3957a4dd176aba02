"""Known-buggy variants of the edge strategies (stampede, XFetch, breaker, sharding, HTTP,
metrics, size guard): each reproduces one classic mistake from bug-classes.md as the smallest
override of the reference, so the suite can prove its checkers catch it.

Importing this module registers every mutant. The classes are public so tests can build them
with their own parameters.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from cachecheck._contract import Contract

from ._registry import Mutant, register_mutant
from .breaker import (
    BREAKER_CONTRACT,
    Admission,
    BreakerState,
    CircuitBreaker,
    CircuitBreakerCache,
    make_breaker_cache,
)
from .http import (
    HTTP_CONTRACT,
    CacheControl,
    HTTPCacheMiddleware,
    Preconditions,
    _Headers,
    _Response,
    make_http_middleware,
)
from .large_values import SIZE_GUARD_CONTRACT, Manifest, SizeGuard, make_size_guard, split_utf8
from .metrics import METRICS_CONTRACT, MetricsCache, make_metrics_cache
from .sharding import SHARDED_CONTRACT, Ring, ShardedCache, Topology, make_sharded_cache
from .stampede import (
    STAMPEDE_LOCK_CONTRACT,
    XFETCH_CONTRACT,
    LockedCacheAside,
    XFetchCache,
    make_locked_cache_aside,
    make_xfetch,
    seconds_to_ms,
    text,
)

if TYPE_CHECKING:
    from cachecheck._clock import Clock
    from cachecheck._contract import BreakerPolicy
    from cachecheck._world import World


# -- stampede lock --------------------------------------------------------------------------


class PlainDelLockedCacheAside(LockedCacheAside):
    """Releases with a plain `DEL`: a holder that outlasted its TTL deletes the next holder's
    lock, and a third client gets in while the second still works (bug class #15)."""

    def _release(self, key: str, token: str) -> str | None:
        pipe = self.client.pipeline(transaction=True)
        pipe.get(self.keys.meta("lock", key))  # only to record what the DEL removed
        pipe.delete(self.keys.meta("lock", key))
        deleted, _ = pipe.execute()
        return text(deleted)


class NoNxLockedCacheAside(LockedCacheAside):
    """Takes the lock with `SET ... PX` but without `NX`: every miss "acquires" it."""

    ACQUIRE_LUA = LockedCacheAside.ACQUIRE_LUA.replace("'NX', ", "")


class NoExpiryLockedCacheAside(LockedCacheAside):
    """Takes the lock with `SET ... NX` but no expiry: when a holder dies, the lock stays
    forever and every later miss waits out `max_wait` and loads itself (bug class #19)."""

    ACQUIRE_LUA = LockedCacheAside.ACQUIRE_LUA.replace(
        "redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2])",
        "redis.call('SET', KEYS[2], ARGV[1], 'NX')",
    )


# -- XFetch -------------------------------------------------------------------------------------


class NeverEarlyXFetch(XFetchCache):
    """Recomputes only once the entry expired: every concurrent reader at expiry loads."""

    def _should_recompute(self, now: float, delta: float, expiry: float) -> bool:
        return now >= expiry


class AlwaysRecomputeXFetch(XFetchCache):
    """The test inverted (a sign error on `ln(u)`): every read recomputes."""

    def _should_recompute(self, now: float, delta: float, expiry: float) -> bool:
        return True


# -- circuit breaker ----------------------------------------------------------------------------


class _NoHalfOpenBreaker(CircuitBreaker):
    def admit(self) -> Admission:
        with self._lock:
            if self._state is BreakerState.OPEN and self._timeout_elapsed():
                self._failures = 0
                self._move(BreakerState.CLOSED, "reset timeout elapsed: close for everyone")
            return Admission.CALL if self._state is BreakerState.CLOSED else Admission.FALLBACK


class NoHalfOpenBreakerCache(CircuitBreakerCache):
    """Goes from open straight to closed: after the timeout every request tries Redis again
    at once, and a still-dead Redis takes `failure_threshold` more failures to re-open."""

    def _make_breaker(self, policy: BreakerPolicy, clock: Clock) -> CircuitBreaker:
        return _NoHalfOpenBreaker(policy, clock)


class StaleAfterPartitionBreakerCache(CircuitBreakerCache):
    """Skips invalidations while Redis is unreachable and forgets them: once a partition
    heals, Redis still holds the old entries and serves them (bug class #39)."""

    def _defer_invalidation(self, key: str) -> None:
        self.stats.add("deferred_invalidations")


# -- sharding -----------------------------------------------------------------------------------


class ModuloShardedCache(ShardedCache):
    """Routes by `crc32(key) % n`: adding a node to n moves about n/(n+1) of the keys."""

    def _locate(self, ring: Ring, key: str) -> str:
        return ring.nodes[zlib.crc32(key.encode("utf-8")) % len(ring.nodes)]


class NoGenerationShardedCache(ShardedCache):
    """Trusts every entry it finds: a key that moves to a new node and back serves the copy
    its old node kept while writes invalidated the other node."""

    def _owned_since(self, key: str, topology: Topology) -> int:
        return 0


# -- metrics ------------------------------------------------------------------------------------


class NegativeAsMissMetricsCache(MetricsCache):
    """Counts a cached "absent" as a miss (`if value is None: misses += 1`)."""

    def _count(self, found: bool, value: str | None) -> None:
        super()._count(value is not None, value)


# -- size guard ---------------------------------------------------------------------------------


class UnversionedChunksSizeGuard(SizeGuard):
    """Writes chunks in place under fixed keys, one command each, reads them one by one and
    trusts what it reads: a reader can get the manifest of one write and chunks of another
    (a torn read)."""

    def _chunk_key(self, key: str, version: str, index: int) -> str:
        return self.keys.meta("chunk", f"{key}:{index}")

    def _write_chunks(self, key: str, value: str) -> Manifest:
        pieces = split_utf8(value, self.limit_bytes)
        for index, piece in enumerate(pieces):
            self.client.set(self._chunk_key(key, "", index), piece, px=seconds_to_ms(self.ttl))
        return Manifest("-", len(pieces), len(value.encode("utf-8")), "-")

    def _read_chunks(self, key: str, manifest: Manifest) -> list[str] | None:
        parts = [text(self.client.get(self._chunk_key(key, "", i))) for i in range(manifest.chunks)]
        if any(part is None for part in parts):
            return None
        return [part for part in parts if part is not None]

    def _verify(self, manifest: Manifest, value: str) -> bool:
        return True


# -- HTTP ---------------------------------------------------------------------------------------


class UnquotedETagMiddleware(HTTPCacheMiddleware):
    """Emits `ETag: 3f2a...` without the quotes the grammar requires (V1)."""

    def make_etag(self, body: bytes, headers: _Headers) -> str:
        return super().make_etag(body, headers).strip('"')


class _StringDatePreconditions(Preconditions):
    def modified_since(self, last_modified: str | None, date: str) -> bool | None:
        return None if last_modified is None else last_modified > date


class StringIMSMiddleware(HTTPCacheMiddleware):
    """Compares If-Modified-Since with Last-Modified as strings ("Fri" > "Mon"...) (C8)."""

    preconditions_class = _StringDatePreconditions


class _WeakIfMatchPreconditions(Preconditions):
    def strong_match(self, a: str, b: str) -> bool:
        return self.weak_match(a, b)


class WeakIfMatchMiddleware(HTTPCacheMiddleware):
    """Uses weak comparison for If-Match, where RFC 9110 §13.1.1 requires strong (C11)."""

    preconditions_class = _WeakIfMatchPreconditions


class BodyOn304Middleware(HTTPCacheMiddleware):
    """Sends the representation in the 304 (and its Content-Length/Type) (N1)."""

    def _not_modified(self, response: _Response) -> tuple[list[tuple[str, str]], bytes]:
        return list(response.headers.items), response.body


class StoresPrivateMiddleware(HTTPCacheMiddleware):
    """Stores `Cache-Control: private` responses in the shared cache: one user's page is
    served to the next (K2, S1)."""

    def _shareable(self, request: _Headers, response: _Response, directives: CacheControl) -> bool:
        public = {k: v for k, v in directives.directives.items() if k != "private"}
        return super()._shareable(request, response, CacheControl(public, directives.duplicates))


# -- registration -------------------------------------------------------------------------------


def _built_by(make: Callable[..., Any], cls: type[Any]) -> Callable[[World], Any]:
    """A factory building `cls` exactly as the reference factory `make` builds the reference."""
    return partial(make, cls=cls)


_MUTANTS: list[tuple[str, str, str, type[Any], Callable[..., Any], Contract, str]] = [
    ("stampede_plain_del_release", "stampede_lock", "lock released by non-owner (plain DEL)",
     PlainDelLockedCacheAside, make_locked_cache_aside, STAMPEDE_LOCK_CONTRACT, "mutual_exclusion"),
    ("stampede_lock_without_nx", "stampede_lock", "lock without NX (no mutual exclusion)",
     NoNxLockedCacheAside, make_locked_cache_aside, STAMPEDE_LOCK_CONTRACT, "single_flight"),
    ("stampede_lock_without_expiry", "stampede_lock",
     "lock without expiry (waiters starve after a holder crash)",
     NoExpiryLockedCacheAside, make_locked_cache_aside, STAMPEDE_LOCK_CONTRACT, "single_flight"),
    ("xfetch_never_early", "xfetch", "no early recomputation (stampede at expiry)",
     NeverEarlyXFetch, make_xfetch, XFETCH_CONTRACT, "single_flight"),
    ("xfetch_always_recompute", "xfetch", "early-expiration test inverted (recomputes every read)",
     AlwaysRecomputeXFetch, make_xfetch, XFETCH_CONTRACT, "single_flight"),
    ("breaker_no_half_open", "breaker", "breaker without half-open (floods Redis after reset)",
     NoHalfOpenBreakerCache, make_breaker_cache, BREAKER_CONTRACT, "breaker"),
    ("breaker_stale_after_partition", "breaker",
     "invalidations skipped while open and never replayed (stale after partition)",
     StaleAfterPartitionBreakerCache, make_breaker_cache, BREAKER_CONTRACT, "convergence"),
    ("sharded_modulo_hashing", "sharded", "modulo hashing (a resize remaps most keys)",
     ModuloShardedCache, make_sharded_cache, SHARDED_CONTRACT, "remap_fraction"),
    ("sharded_no_owner_generation", "sharded", "stale copy served after a key moves back",
     NoGenerationShardedCache, make_sharded_cache, SHARDED_CONTRACT, "staleness"),
    ("metrics_negative_hit_as_miss", "metrics", "cached absence counted as a miss",
     NegativeAsMissMetricsCache, make_metrics_cache, METRICS_CONTRACT, "metrics"),
    ("size_guard_unversioned_chunks", "size_guard", "chunks without an atomic manifest (torn read)",
     UnversionedChunksSizeGuard, make_size_guard, SIZE_GUARD_CONTRACT, "size"),
    ("http_etag_unquoted", "http", "ETag without quotes",
     UnquotedETagMiddleware, make_http_middleware, HTTP_CONTRACT, "http"),
    ("http_ims_string_compare", "http", "If-Modified-Since compared as strings",
     StringIMSMiddleware, make_http_middleware, HTTP_CONTRACT, "http"),
    ("http_if_match_weak_compare", "http", "weak ETag comparison where strong is required",
     WeakIfMatchMiddleware, make_http_middleware, HTTP_CONTRACT, "http"),
    ("http_304_with_body", "http", "304 with a body",
     BodyOn304Middleware, make_http_middleware, HTTP_CONTRACT, "http"),
    ("http_stores_private", "http", "shared cache stores private responses",
     StoresPrivateMiddleware, make_http_middleware, HTTP_CONTRACT, "http"),
]  # fmt: skip

for _name, _strategy, _bug, _cls, _make, _contract, _caught in _MUTANTS:
    register_mutant(
        Mutant(
            _name, _strategy, _bug, str(_cls.__doc__), _built_by(_make, _cls), _contract, _caught
        )
    )

__all__ = [
    "AlwaysRecomputeXFetch",
    "BodyOn304Middleware",
    "ModuloShardedCache",
    "NegativeAsMissMetricsCache",
    "NeverEarlyXFetch",
    "NoExpiryLockedCacheAside",
    "NoGenerationShardedCache",
    "NoHalfOpenBreakerCache",
    "NoNxLockedCacheAside",
    "PlainDelLockedCacheAside",
    "StaleAfterPartitionBreakerCache",
    "StoresPrivateMiddleware",
    "StringIMSMiddleware",
    "UnquotedETagMiddleware",
    "UnversionedChunksSizeGuard",
    "WeakIfMatchMiddleware",
]
