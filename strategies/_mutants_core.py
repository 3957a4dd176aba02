"""Known-buggy variants of the core strategies (cache-aside, leases, write-through,
write-behind, refresh-ahead, TTL jitter, invalidation, tags, negative caching, warming).

Each class is the smallest override of its reference that reproduces one classic mistake from
`bug-classes.md`, so the diff against the reference *is* the bug. Importing this module
registers every mutant with the contract its reference claims; the suite must find each one
through the property named in `caught_by`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import redis

from cachecheck._contract import Contract
from cachecheck._database import DatabaseUnavailable

from ._registry import Mutant, register_mutant
from .cache_aside import (
    CacheAside,
    LeasedCacheAside,
    Loaded,
    cache_aside_contract,
    leased_contract,
    wait_point_sleep,
)
from .invalidation import (
    ManualInvalidation,
    PubSubInvalidation,
    StreamInvalidation,
    event_contract,
    manual_contract,
    node_pair,
    pair_contract,
)
from .negative import NegativeCache, negative_contract
from .refresh_ahead import RefreshAhead, refresh_ahead_contract, refresh_executor
from .tags import TAG_LOOKUP, TaggedCache, tags_contract
from .ttl_jitter import JitteredTTLCache, jittered_contract
from .warming import WarmingCache, warming_contract
from .write_behind import (
    QueuedWrite,
    WriteBehind,
    newest_per_key,
    persistence_of,
    write_behind_contract,
)
from .write_through import PUT, Versioned, WriteThrough, write_through_contract

if TYPE_CHECKING:
    from cachecheck._world import World

    from .cache_aside import Lookup

__all__ = [
    "CacheAsideFillWithoutTtl",
    "JitterSecondsAsMillis",
    "LeasedDeleteBeforeUpdate",
    "LeasedUnguardedFill",
    "ManualDeleteNotInvalidated",
    "NegativeCachesErrors",
    "NegativeNotClearedOnCreate",
    "PubSubNoFlushOnReconnect",
    "RefreshDropsTtl",
    "RefreshStorm",
    "StreamResumesFromEnd",
    "TagsCheckSkipped",
    "TagsSnapshotAfterRead",
    "WarmingPlainSet",
    "WriteBehindAckBeforeCommit",
    "WriteBehindUnguardedApply",
    "WriteThroughDropsTtl",
    "WriteThroughUnconditionalSet",
]


# -- cache-aside ----------------------------------------------------------------------------


class CacheAsideFillWithoutTtl(CacheAside):
    """Fills with a plain `SET`: the entry never expires, so one stale set is forever (#10)."""

    def _fill(self, key: str, value: str, read_at: float) -> None:
        self._redis.set(self._keys.value(key), value)  # BUG: no PX


class LeasedUnguardedFill(LeasedCacheAside):
    """Takes leases but fills with a plain `SET`, without checking the lease: a fill computed
    before a write lands after the write's invalidation (the stale set, #1)."""

    def _store(self, key: str, token: str, loaded: Loaded, read_at: float) -> bool:
        payload = self._encode(loaded.value)
        px = self._remaining_ms(self._entry_ttl_ms(loaded.value), read_at)
        if payload is None or px <= 0:
            return False
        self._redis.set(self._keys.value(key), payload, px=px)  # BUG: the lease is not checked
        return True


class LeasedDeleteBeforeUpdate(LeasedCacheAside):
    """Invalidates before the database write: a read between the two takes a fresh lease,
    loads the old row and fills it, and nothing invalidates it afterwards (#2)."""

    def set(self, key: str, value: str) -> None:
        self._invalidate(key)  # BUG: before the commit (and so without its version)
        self._db.write(key, value)


# -- write-through --------------------------------------------------------------------------


class WriteThroughUnconditionalSet(WriteThrough):
    """Stores with a plain `SET`: two writers whose cache updates arrive in the opposite order
    of their commits leave the older value cached (dual-write reordering, #8)."""

    def _put(self, key: str, entry: Versioned, since: float) -> bool:
        px = self._remaining_ms(self._ttl_ms(), since)
        self._redis.set(self._keys.value(key), entry.encode(), px=max(px, 1))  # BUG: no compare
        return True


class WriteThroughDropsTtl(WriteThrough):
    """The versioned store forgets `PX`: every written entry lives forever (#10)."""

    _put_source = PUT.replace(
        "redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])",
        "redis.call('SET', KEYS[1], ARGV[2])",  # BUG: any previous TTL is discarded too
    )


# -- write-behind ---------------------------------------------------------------------------


class WriteBehindAckBeforeCommit(WriteBehind):
    """Acknowledges (XACK + XDEL) a batch before committing it: a worker that dies in between
    leaves nothing pending to reclaim, and acknowledged writes never reach the database."""

    def _flush(
        self, client: redis.Redis, batch: Sequence[QueuedWrite], alive: Callable[[], bool]
    ) -> bool:
        newest = newest_per_key(batch)
        self._settle(client, newest, batch)  # BUG: acknowledged before the commit
        for write in newest:
            if not self._may_apply(write, alive):
                return False
            self._apply(write)
        return True


class WriteBehindUnguardedApply(WriteBehind):
    """Commits with a plain write, ignoring versions: a redelivered or reclaimed older entry
    applied after a newer one moves the key back in time (#24)."""

    def _apply(self, write: QueuedWrite) -> None:
        if write.value is None:  # BUG: no version guard
            self._db.delete(write.key)
        else:
            self._db.write(write.key, write.value)


# -- refresh-ahead ---------------------------------------------------------------------------


class RefreshStorm(RefreshAhead):
    """Refreshes on every hit inside the refresh window, not only when it took the marker:
    N readers of a hot key mean N database loads per refresh (refresh storm)."""

    def _on_hit(self, key: str, found: Lookup) -> None:
        if 0 <= found.pttl < self._refresh_below_ms():  # BUG: ignores the in-flight marker
            self._schedule(key, found.token)


class RefreshDropsTtl(RefreshAhead):
    """The refresh rewrites the entry with a plain `SET`, dropping its TTL (#10)."""

    def _store_refresh(self, key: str, token: str, loaded: Loaded, read_at: float) -> None:
        payload = self._encode(loaded.value)
        if payload is not None:
            self._redis.set(self._keys.value(key), payload)  # BUG: no PX
        self._release(key, token)


# -- TTL jitter -----------------------------------------------------------------------------


class JitterSecondsAsMillis(JitteredTTLCache):
    """Passes the jittered TTL in milliseconds to `EX` (seconds): entries live 1000 times
    longer than promised (unit confusion)."""

    def _fill(self, key: str, value: str, read_at: float) -> None:
        px = self._remaining_ms(self._ttl_ms(), read_at)
        if px > 0:
            self._redis.set(self._keys.value(key), value, ex=px)  # BUG: ms given as seconds


# -- invalidation ----------------------------------------------------------------------------


class ManualDeleteNotInvalidated(ManualInvalidation):
    """The delete path removes the row but forgets to invalidate: the deleted value is served
    until its TTL (a missed invalidation)."""

    def delete(self, key: str) -> None:
        self._db.delete(key)  # BUG: no self.invalidate(key)


class PubSubNoFlushOnReconnect(PubSubInvalidation):
    """Resubscribes after a disconnect and goes on serving its L1, as if Pub/Sub redelivered
    what was published meanwhile: invalidations lost in the gap are never applied (#21)."""

    def _on_link_ready(self) -> None:
        self._l1.resume()  # BUG: no flush


class StreamResumesFromEnd(StreamInvalidation):
    """After a reconnect, reads the stream from its end (`$`) instead of the last processed
    ID: events appended during the disconnect are skipped."""

    def _resume_from(self, client: redis.Redis) -> str:
        return self._stream_end(client)  # BUG: not self._position


# -- tags -----------------------------------------------------------------------------------


class TagsCheckSkipped(TaggedCache):
    """Stores tag tokens but never compares them on a hit: `invalidate_tag` has no effect."""

    _lookup_source = TAG_LOOKUP.replace(
        "if string.sub(v, 1, sep - 1) == table.concat(current, ',') then",
        "if true then",  # BUG: the tag check is skipped
    )


class TagsSnapshotAfterRead(TaggedCache):
    """Stamps the entry with the tag tokens current at fill time instead of those taken before
    the database read: an invalidation between the read and the fill is missed (#35b)."""

    def _snapshot_for_fill(self, tag_keys: list[str], snapshot: str) -> str:
        tokens = self._redis.mget(tag_keys) if tag_keys else []
        return ",".join(str(token or "") for token in tokens)  # BUG: read after the DB read


# -- negative caching ------------------------------------------------------------------------


class NegativeNotClearedOnCreate(NegativeCache):
    """Skips invalidation when a write creates the row ("nothing can be cached for a new key"),
    but its cached absence can: the creator reads "not found" until the negative TTL (#37)."""

    def set(self, key: str, value: str) -> None:
        version = self._db.write(key, value)
        if version > 1:  # BUG: a first create leaves the tombstone in place
            self._invalidate(key, version)


class NegativeCachesErrors(NegativeCache):
    """Treats a database error as "not found", and caches it (#38)."""

    def _read_source(self, key: str, client: str | None = None) -> Loaded:
        try:
            return super()._read_source(key, client)
        except DatabaseUnavailable:
            return Loaded(None, 0)  # BUG: an outage becomes a cached absence


# -- warming ---------------------------------------------------------------------------------


class WarmingPlainSet(WarmingCache):
    """Stores warmed values with a plain `SET`, ignoring the leases: a write between the
    warm-up's read and its store is overwritten by the older value (#7)."""

    def _store_all(self, leases: dict[str, str], values: dict[str, Loaded], read_at: float) -> int:
        stored = 0
        for key, loaded in values.items():
            if loaded.value is not None:  # BUG: unconditional SET
                self._redis.set(self._keys.value(key), loaded.value, px=self._warm_ttl_ms())
                stored += 1
        return stored


# -- registration ----------------------------------------------------------------------------


def _single(cls: type[Any]) -> Callable[[World], Any]:
    """A factory for strategies built on one client."""
    return lambda world: cls(world.client(), world.database, world.namespace, clock=world.clock)


def _waiting(cls: type[Any]) -> Callable[[World], Any]:
    """A factory for strategies that poll for a lease holder (refresh-ahead)."""
    return lambda world: cls(
        world.client(),
        world.database,
        world.namespace,
        sleep=wait_point_sleep(world),
        clock=world.clock,
        executor=refresh_executor(world),
    )


def _write_behind(cls: type[WriteBehind]) -> Callable[[World], Any]:
    return lambda world: cls(
        world.client,
        world.database,
        world.namespace,
        persistence=persistence_of(world),
        clock=world.clock,
    )


_MUTANTS: list[tuple[str, str, str, Callable[[World], Any], Contract, str, str]] = [
    # (name, strategy, bug class, factory, contract, caught_by, description)
    ("cache_aside_fill_without_ttl", "cache_aside", "TTL silently dropped (#10)",
     _single(CacheAsideFillWithoutTtl), cache_aside_contract(), "ttl",
     CacheAsideFillWithoutTtl.__doc__ or ""),
    ("cache_aside_leased_unguarded_fill", "cache_aside_leased", "stale set (#1)",
     _single(LeasedUnguardedFill), leased_contract(), "convergence",
     LeasedUnguardedFill.__doc__ or ""),
    ("cache_aside_leased_delete_before_update", "cache_aside_leased",
     "delete-before-update (#2)", _single(LeasedDeleteBeforeUpdate), leased_contract(),
     "convergence", LeasedDeleteBeforeUpdate.__doc__ or ""),
    ("write_through_unconditional_set", "write_through", "dual-write reordering (#8)",
     _single(WriteThroughUnconditionalSet), write_through_contract(), "convergence",
     WriteThroughUnconditionalSet.__doc__ or ""),
    ("write_through_drops_ttl", "write_through", "TTL silently dropped (#10)",
     _single(WriteThroughDropsTtl), write_through_contract(), "ttl",
     WriteThroughDropsTtl.__doc__ or ""),
    ("write_behind_ack_before_commit", "write_behind", "acked write lost on worker crash",
     _write_behind(WriteBehindAckBeforeCommit), write_behind_contract(), "durability",
     WriteBehindAckBeforeCommit.__doc__ or ""),
    ("write_behind_unguarded_apply", "write_behind", "redelivered entry applied out of order (#24)",
     _write_behind(WriteBehindUnguardedApply), write_behind_contract(), "convergence",
     WriteBehindUnguardedApply.__doc__ or ""),
    ("refresh_ahead_refresh_storm", "refresh_ahead", "refresh storm (no in-flight marker)",
     _waiting(RefreshStorm), refresh_ahead_contract(), "single_flight",
     RefreshStorm.__doc__ or ""),
    ("refresh_ahead_drops_ttl", "refresh_ahead", "TTL silently dropped (#10)",
     _waiting(RefreshDropsTtl), refresh_ahead_contract(), "ttl", RefreshDropsTtl.__doc__ or ""),
    ("ttl_jitter_ms_as_seconds", "ttl_jitter", "TTL unit confusion (ms passed as seconds)",
     _single(JitterSecondsAsMillis), jittered_contract(), "ttl",
     JitterSecondsAsMillis.__doc__ or ""),
    ("invalidation_manual_delete_not_invalidated", "invalidation_manual",
     "missed invalidation on the delete path", _single(ManualDeleteNotInvalidated),
     manual_contract(), "convergence", ManualDeleteNotInvalidated.__doc__ or ""),
    ("invalidation_pubsub_no_flush_on_reconnect", "invalidation_pubsub",
     "invalidation lost on subscriber disconnect (#21)", node_pair(PubSubNoFlushOnReconnect),
     pair_contract(event_contract("invalidation_pubsub", durable=False)), "convergence",
     PubSubNoFlushOnReconnect.__doc__ or ""),
    ("invalidation_stream_resumes_from_end", "invalidation_stream",
     "stream consumer skips events after reconnect", node_pair(StreamResumesFromEnd),
     pair_contract(event_contract("invalidation_stream", durable=True)), "convergence",
     StreamResumesFromEnd.__doc__ or ""),
    ("tags_check_skipped", "tags", "tag invalidation misses members (#35)",
     _single(TagsCheckSkipped), tags_contract(), "tags", TagsCheckSkipped.__doc__ or ""),
    ("tags_snapshot_after_read", "tags", "member filled concurrently with invalidation (#35b)",
     _single(TagsSnapshotAfterRead), tags_contract(), "tags",
     TagsSnapshotAfterRead.__doc__ or ""),
    ("negative_not_cleared_on_create", "negative", "stale negative entry (#37)",
     _single(NegativeNotClearedOnCreate), negative_contract(), "read_your_writes",
     NegativeNotClearedOnCreate.__doc__ or ""),
    ("negative_caches_errors", "negative", "caching failures as absence (#38)",
     _single(NegativeCachesErrors), negative_contract(), "negative",
     NegativeCachesErrors.__doc__ or ""),
    ("warming_plain_set", "warming", "warming overwrites a newer value (#7)",
     _single(WarmingPlainSet), warming_contract(), "convergence", WarmingPlainSet.__doc__ or ""),
]  # fmt: skip

for _name, _strategy, _bug, _factory, _contract, _caught_by, _doc in _MUTANTS:
    register_mutant(
        Mutant(
            name=_name,
            strategy=_strategy,
            bug_class=_bug,
            description=" ".join(_doc.split()),
            factory=_factory,
            contract=_contract,
            caught_by=_caught_by,
        )
    )
