"""Cache warming: preload hot keys (after a deploy, a flush, a failover) without ever
overwriting a newer value.

A warm-up is just a batch of leased fills: one pipelined round trip takes a lease on every key
that has no entry (keys that already have one are skipped: they are at least as fresh as
anything we could load), the database is read, and one pipelined round trip stores each value
through the lease compare. A write that lands between our read and our store deletes the lease,
so the warmer's older value is dropped instead of overwriting the newer one (the cold-cluster
warm-up race of FB NSDI '13 §4.3). Warmed entries get jittered TTLs, so a bulk warm-up does not
expire all at once.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable

import redis

from cachecheck._clock import Clock
from cachecheck._contract import Contract
from cachecheck._database import Database

from ._common import jittered_ttl_ms
from ._registry import Reference, register_reference
from .cache_aside import (
    DEFAULT_LEASE_TTL,
    DEFAULT_TTL,
    FillHook,
    LeasedCacheAside,
    Loaded,
    leased_contract,
    seconds_to_ms,
    text,
)

__all__ = ["WarmingCache", "warming_contract"]


def warming_contract(
    ttl: float = DEFAULT_TTL, warm_jitter: float | None = None, lease_ttl: float = DEFAULT_LEASE_TTL
) -> Contract:
    spread = ttl * 0.1 if warm_jitter is None else warm_jitter
    contract = leased_contract("warming", ttl=ttl + spread, lease_ttl=lease_ttl)
    return contract.evolve(
        notes=(
            "warm(keys) fills only absent keys, under leases: a write between the warm-up's "
            "read and its store wins. Warmed entries live ttl +/- warm_jitter."
        )
    )


class WarmingCache(LeasedCacheAside):
    """Leased cache-aside with a `warm(keys)` capability.

    When to use: a known hot set that should be cached before traffic arrives (a new node, a
    flushed or restarted Redis, a promoted replica).

    Contract: as `LeasedCacheAside`; `warm` never overwrites an entry and never stores a value
    older than a write that completed before the store; warmed TTLs are drawn from
    [ttl - warm_jitter, ttl + warm_jitter] with the seeded `rng`.

    Cost: `warm(n keys)` is two pipelined round trips plus one database read per key that had
    no entry; leases are held for at most `lease_ttl`.

    Args:
        warm_jitter: half-width of the TTL spread of warmed entries (default 10% of ttl).
        rng: seeded generator for the jitter (default `random.Random(0)`).
    """

    strategy = "warming"

    def __init__(
        self,
        redis_client: redis.Redis,
        database: Database,
        namespace: str,
        *,
        ttl: float = DEFAULT_TTL,
        warm_jitter: float | None = None,
        rng: random.Random | None = None,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        clock: Clock | None = None,
        before_fill: FillHook | None = None,
    ) -> None:
        super().__init__(
            redis_client,
            database,
            namespace,
            ttl=ttl,
            lease_ttl=lease_ttl,
            clock=clock,
            before_fill=before_fill,
        )
        spread = ttl * 0.1 if warm_jitter is None else warm_jitter
        if not 0 <= spread < ttl:
            raise ValueError(f"warm_jitter must be in [0, ttl), got {spread!r}")
        self.warm_jitter = spread
        self._rng = rng if rng is not None else random.Random(0)
        self._rng_lock = threading.Lock()

    @property
    def contract(self) -> Contract:
        return warming_contract(self.ttl, self.warm_jitter, self.lease_ttl)

    def warm(self, keys: Iterable[str]) -> int:
        """Preload `keys` that have no entry; return how many entries were stored."""
        leases = self._take_leases(list(dict.fromkeys(keys)))
        if not leases:
            return 0
        read_at = self._clock.now()
        try:
            values = {key: self._read_source(key) for key in leases}
        except BaseException:
            for key, token in leases.items():
                self._release(key, token)
            raise
        for key in leases:
            self._pause_before_fill(key)
        return self._store_all(leases, values, read_at)

    def _take_leases(self, keys: list[str]) -> dict[str, str]:
        """Lease every key without an entry (one round trip); key -> token."""
        pipe = self._redis.pipeline(transaction=False)
        args: list[str | int] = [seconds_to_ms(self.lease_ttl), 0, ""]
        for key in keys:
            self._lookup_script(keys=self._lookup_keys(key), args=args, client=pipe)
        leases: dict[str, str] = {}
        for key, (raw, token, _pttl) in zip(keys, pipe.execute(), strict=True):
            if raw is None and token is not None:
                leases[key] = str(text(token))
        return leases

    def _store_all(self, leases: dict[str, str], values: dict[str, Loaded], read_at: float) -> int:
        """Fill every leased key that has a value (one round trip); return how many landed."""
        pipe = self._redis.pipeline(transaction=False)
        fills: list[bool] = []  # per queued command: is it a fill (or a lease release)?
        for key, token in leases.items():
            loaded = values[key]
            px = self._remaining_ms(self._warm_ttl_ms(), read_at)
            lease = self._keys.meta("lease", key)
            payload = self._encode(loaded.value)
            if payload is None or px <= 0:
                self._release_script(keys=[lease], args=[token], client=pipe)
                fills.append(False)
            else:
                args: list[str | int] = [token, payload, px, loaded.version]
                self._fill_script(keys=[self._keys.value(key), lease], args=args, client=pipe)
                fills.append(True)
        results = pipe.execute()
        return sum(1 for is_fill, result in zip(fills, results, strict=True) if is_fill and result)

    def _warm_ttl_ms(self) -> int:
        with self._rng_lock:
            return jittered_ttl_ms(self.ttl, self.warm_jitter, self._rng)


register_reference(
    Reference(
        "warming",
        lambda world: WarmingCache(
            world.client(), world.database, world.namespace, clock=world.clock
        ),
        warming_contract(),
        "Leased cache-aside with warm(keys): lease + compare, never overwrites newer values.",
    )
)
