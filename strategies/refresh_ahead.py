"""Refresh-ahead: refresh a hot entry in the background shortly before it expires, so readers
keep hitting.

Built on `LeasedCacheAside`: the lease doubles as the "refresh in flight" marker. A hit whose
remaining TTL is below `refresh_fraction * ttl` tries to take the key's lease in the same Lua
call as the GET (`SET NX PX`); only the taker schedules a refresh, so at most one refresh per
key is in flight across all processes. The refresh reads the database and stores through the
lease compare, so a write that invalidated the key meanwhile (voiding the lease) makes the
refresh a no-op instead of a stale set, unless the refresh read that write. A miss loads
synchronously, once: concurrent missers wait for the lease holder's fill (`lease_wait`) rather
than loading too. Refresh loads are labelled `refresh:<token>` in the database's load log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Final

import redis

from cachecheck._clock import Clock
from cachecheck._contract import Contract
from cachecheck._database import Database
from cachecheck._interleave import BackgroundExecutor

from ._registry import Reference, register_reference
from .cache_aside import (
    DEFAULT_LEASE_TTL,
    DEFAULT_TTL,
    FillHook,
    LeasedCacheAside,
    Loaded,
    Lookup,
    leased_contract,
    wait_point_sleep,
)

if TYPE_CHECKING:
    from cachecheck._world import World

__all__ = [
    "REFRESH_LABEL",
    "RefreshAhead",
    "refresh_ahead_contract",
    "refresh_executor",
    "refresh_label",
]

log = logging.getLogger(__name__)

DEFAULT_LEASE_WAIT: Final = 1.0
#: Label of refresh loads in the database's load log: `refresh:<lease token>` for a refresh
#: run under the key's lease, `refresh` for one without (a bug). A refresh replaces the load
#: the next miss would have made, so a single-flight check should open a new episode at a
#: leased refresh load and count unleased ones against the current episode.
REFRESH_LABEL: Final = "refresh"


def refresh_label(token: str | None) -> str:
    """How a refresh load is labelled in `Database.loads()` (see `REFRESH_LABEL`)."""
    return REFRESH_LABEL if token is None else f"{REFRESH_LABEL}:{token}"


def refresh_ahead_contract(
    *,
    ttl: float = DEFAULT_TTL,
    lease_ttl: float = DEFAULT_LEASE_TTL,
    negative_ttl: float | None = None,
) -> Contract:
    return leased_contract(
        "refresh_ahead",
        ttl=ttl,
        lease_ttl=lease_ttl,
        negative_ttl=ttl if negative_ttl is None else negative_ttl,
        single_flight=True,
        notes=(
            "One refresh per key in flight across processes (the lease); a miss loads once "
            "while other missers wait for its fill (as long as the load finishes within "
            "lease_wait), absent keys included (cached as absent); a refresh starts a new "
            "episode. Refreshes go through the lease compare, so they never undo a concurrent "
            "write's invalidation."
        ),
    )


class RefreshAhead(LeasedCacheAside):
    """Refresh-ahead on top of leased cache-aside, with a bounded refresh pool.

    When to use: hot keys whose reload is slow enough that a synchronous miss hurts, and whose
    readers tolerate the value as of the last refresh until a write invalidates it.

    Contract: everything `LeasedCacheAside` promises, plus single-flight: at most one database
    load per key per miss episode (concurrent missers wait up to `lease_wait` for the holder's
    fill; absent keys are cached as absent for `negative_ttl`, default `ttl`, so they are no
    exception) and at most one refresh in flight per key. A refresh is the load the next miss
    would have made, done early: it opens a new episode. Cached absences are not refreshed:
    they expire. Refreshes that cannot be scheduled (pool saturated) are skipped and the lease
    released; the entry then simply expires and is reloaded.

    Cost: a hit is one EVALSHA (GET + PTTL, plus SET NX inside the refresh window); each
    refresh is one database read and one EVALSHA, off the caller's thread; `refresh_workers`
    threads; waiters poll from every `lease_poll` seconds, backing off to 0.1 s.

    Args:
        refresh_fraction: refresh when the remaining TTL drops below this fraction of `ttl`.
        refresh_workers: threads refreshing in the background.
        max_queued_refreshes: refreshes waiting for a thread before new ones are skipped.
        negative_ttl: how long an absent key is cached as absent (default: `ttl`).
        sleep: pause between polls; `wait_point_sleep(world)` under the model's scheduler.
        executor: runs the refreshes (default: a pool of `refresh_workers` threads);
            `refresh_executor(world)` runs them inline under the stateful model.
    """

    strategy = "refresh_ahead"

    def __init__(
        self,
        redis_client: redis.Redis,
        database: Database,
        namespace: str,
        *,
        ttl: float = DEFAULT_TTL,
        refresh_fraction: float = 0.2,
        refresh_workers: int = 2,
        max_queued_refreshes: int = 64,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        lease_wait: float = DEFAULT_LEASE_WAIT,
        lease_poll: float = 0.01,
        negative_ttl: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Clock | None = None,
        before_fill: FillHook | None = None,
        executor: Executor | None = None,
    ) -> None:
        super().__init__(
            redis_client,
            database,
            namespace,
            ttl=ttl,
            lease_ttl=lease_ttl,
            lease_wait=lease_wait,
            lease_poll=lease_poll,
            negative_ttl=ttl if negative_ttl is None else negative_ttl,
            sleep=sleep,
            clock=clock,
            before_fill=before_fill,
        )
        if not 0 < refresh_fraction < 1:
            raise ValueError(f"refresh_fraction must be in (0, 1), got {refresh_fraction!r}")
        if refresh_workers < 1 or max_queued_refreshes < 1:
            raise ValueError("refresh_workers and max_queued_refreshes must be >= 1")
        self.refresh_fraction = refresh_fraction
        self.max_queued_refreshes = max_queued_refreshes
        self._pool = executor or ThreadPoolExecutor(
            refresh_workers, thread_name_prefix="cachecheck-refresh"
        )
        self._in_flight = 0
        self._idle = threading.Condition()
        self._closed = False
        #: Refreshes run so far (for tests and reports).
        self.refreshes = 0

    @property
    def contract(self) -> Contract:
        return refresh_ahead_contract(
            ttl=self.ttl, lease_ttl=self.lease_ttl, negative_ttl=self.negative_ttl
        )

    def _refresh_below_ms(self) -> int:
        return max(1, int(self._ttl_ms() * self.refresh_fraction))

    def _on_hit(self, key: str, found: Lookup) -> None:
        if found.token is not None:  # we took the lease: we own this key's refresh
            self._schedule(key, found.token)

    def _schedule(self, key: str, token: str | None) -> None:
        with self._idle:
            if self._closed or self._in_flight >= self.max_queued_refreshes:
                saturated = True
            else:
                saturated = False
                self._in_flight += 1
        if saturated:
            if token is not None:
                self._release(key, token)
            return
        future: Future[None] = self._pool.submit(self._refresh, key, token)
        future.add_done_callback(self._refresh_done)

    def _refresh(self, key: str, token: str | None) -> None:
        """Reload `key` and store it under our lease (never raises: it runs in the pool)."""
        try:
            with self._idle:
                self.refreshes += 1
            read_at = self._clock.now()
            loaded = self._read_source(key, client=refresh_label(token))
            self._pause_before_fill(key)
            if token is not None:
                self._store_refresh(key, token, loaded, read_at)
        except Exception:  # the entry keeps serving until it expires; the next hit retries
            log.debug("refresh of %r failed", key, exc_info=True)
            if token is not None:
                self._release(key, token)

    def _store_refresh(self, key: str, token: str, loaded: Loaded, read_at: float) -> None:
        self._store(key, token, loaded, read_at)

    def _refresh_done(self, _future: Future[None]) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    def drain(self, timeout: float) -> bool:
        """Wait for in-flight refreshes (and failed invalidations) to finish."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return self.retry_pending(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        with self._idle:
            self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __repr__(self) -> str:
        return (
            f"RefreshAhead(namespace={self._keys.namespace!r}, ttl={self.ttl!r}, "
            f"refresh_fraction={self.refresh_fraction!r})"
        )


def refresh_executor(world: World, workers: int = 2) -> Executor:
    """The refresh pool for a subject on `world`: inline under the stateful model (so its
    schedules cover the refreshes and failures replay), a thread pool otherwise."""
    return BackgroundExecutor(world.io, workers, name="cachecheck-refresh")


register_reference(
    Reference(
        "refresh_ahead",
        lambda world: RefreshAhead(
            world.client(),
            world.database,
            world.namespace,
            sleep=wait_point_sleep(world),
            clock=world.clock,
            executor=refresh_executor(world),
        ),
        refresh_ahead_contract(),
        "Refresh-ahead: one background refresh per key (lease as marker), single-flight misses.",
    )
)
