"""Negative caching: remember "this key does not exist" for a short time, so lookups of missing
keys (typos, scans, attacks: *cache penetration*) stop reaching the database.

Entries are `"+<value>"` for a value and `"-"` for a cached absence (`LeasedCacheAside` with
`negative_ttl`); absence gets its own, short TTL. Only a successful database read that found
nothing is cached as absence: a database error or timeout (`DatabaseUnavailable`, driver
errors) propagates to the caller and caches nothing, so an outage never turns into "not found"
for the next minutes. A create (or any write) invalidates the key like every other write,
tombstone included.
"""

from __future__ import annotations

import redis

from cachecheck._clock import Clock
from cachecheck._contract import Contract
from cachecheck._database import Database

from ._registry import Reference, register_reference
from .cache_aside import (
    DEFAULT_LEASE_TTL,
    DEFAULT_TTL,
    FillHook,
    LeasedCacheAside,
    leased_contract,
)

__all__ = ["DEFAULT_NEGATIVE_TTL", "NegativeCache", "negative_contract"]

DEFAULT_NEGATIVE_TTL = 5.0


def negative_contract(
    ttl: float = DEFAULT_TTL,
    negative_ttl: float = DEFAULT_NEGATIVE_TTL,
    lease_ttl: float = DEFAULT_LEASE_TTL,
) -> Contract:
    return leased_contract(
        "negative",
        ttl=ttl,
        lease_ttl=lease_ttl,
        negative_ttl=negative_ttl,
        notes=(
            f"Absence is cached for at most {negative_ttl} s, only after a successful read "
            "that found nothing; errors are never cached; a create invalidates the tombstone."
        ),
    )


class NegativeCache(LeasedCacheAside):
    """Leased cache-aside that also caches absence, briefly.

    When to use: lookups that often ask for keys that do not exist (user-supplied IDs, probes,
    "does this username exist" checks) and would otherwise all reach the database.

    Contract: as `LeasedCacheAside` (the tombstone is filled under the lease, so a create racing
    the fill cannot be hidden by it); a cached absence lasts at most `negative_ttl`; a write
    removes it at once (read-your-writes holds for creates); database errors are never cached.

    Cost: as `LeasedCacheAside`; one small tombstone per recently missing key.

    Args:
        negative_ttl: lifetime of a cached absence in seconds (keep it short).
    """

    strategy = "negative"

    def __init__(
        self,
        redis_client: redis.Redis,
        database: Database,
        namespace: str,
        *,
        ttl: float = DEFAULT_TTL,
        negative_ttl: float = DEFAULT_NEGATIVE_TTL,
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
            negative_ttl=negative_ttl,
            clock=clock,
            before_fill=before_fill,
        )

    @property
    def contract(self) -> Contract:
        assert self.negative_ttl is not None  # always set by the constructor
        return negative_contract(self.ttl, self.negative_ttl, self.lease_ttl)

    def __repr__(self) -> str:
        return (
            f"NegativeCache(namespace={self._keys.namespace!r}, ttl={self.ttl!r}, "
            f"negative_ttl={self.negative_ttl!r})"
        )


register_reference(
    Reference(
        "negative",
        lambda world: NegativeCache(
            world.client(), world.database, world.namespace, clock=world.clock
        ),
        negative_contract(),
        "Leased cache-aside caching absence for a short negative TTL; errors never cached.",
    )
)
