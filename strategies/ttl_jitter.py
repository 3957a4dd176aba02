"""TTL with jitter: cache-aside whose entries live a random time in [ttl - jitter, ttl + jitter].

Keys filled together (a deploy, a bulk import, a warm-up) would otherwise all expire in the same
millisecond and send their misses to the database at once (an avalanche). Drawing each TTL from
a seeded `random.Random` spreads the expiries over `2 * jitter` seconds, reproducibly.
"""

from __future__ import annotations

import random
import threading

import redis

from cachecheck._clock import Clock
from cachecheck._contract import Contract, TtlPolicy
from cachecheck._database import Database

from ._common import jittered_ttl_ms
from ._registry import Reference, register_reference
from .cache_aside import DEFAULT_TTL, CacheAside, FillHook, cache_aside_contract

__all__ = ["JitteredTTLCache", "jittered_contract"]

DEFAULT_JITTER_FRACTION = 0.1


def jittered_contract(ttl: float = DEFAULT_TTL, jitter: float | None = None) -> Contract:
    spread = ttl * DEFAULT_JITTER_FRACTION if jitter is None else jitter
    return cache_aside_contract(ttl + spread).evolve(
        name="ttl_jitter",
        ttl=TtlPolicy(max_seconds=ttl + spread, jitter=spread),
    )


class JitteredTTLCache(CacheAside):
    """Cache-aside with a TTL drawn uniformly from [ttl - jitter, ttl + jitter] per fill.

    When to use: many keys filled at the same time with the same TTL (batch loads, warm-ups,
    traffic after a cold start), where synchronized expiry would spike the database.

    Contract: as `CacheAside`, with TTLs at most `ttl + jitter` and spread `jitter` (declared in
    `TtlPolicy.jitter`); staleness is bounded by `ttl + jitter`. The TTL counts from the
    database read like every entry here.

    Cost: as `CacheAside`, plus one draw from the seeded generator per fill.

    Args:
        jitter: half-width of the spread in seconds (default 10% of `ttl`); below `ttl`.
        rng: the seeded generator TTLs are drawn from (default: `random.Random(0)`).
    """

    strategy = "ttl_jitter"

    def __init__(
        self,
        redis_client: redis.Redis,
        database: Database,
        namespace: str,
        *,
        ttl: float = DEFAULT_TTL,
        jitter: float | None = None,
        rng: random.Random | None = None,
        clock: Clock | None = None,
        before_fill: FillHook | None = None,
    ) -> None:
        super().__init__(
            redis_client, database, namespace, ttl=ttl, clock=clock, before_fill=before_fill
        )
        spread = ttl * DEFAULT_JITTER_FRACTION if jitter is None else jitter
        if not 0 <= spread < ttl:
            raise ValueError(f"jitter must be in [0, ttl), got {spread!r} with ttl={ttl!r}")
        self.jitter = spread
        self._rng = rng if rng is not None else random.Random(0)
        self._rng_lock = threading.Lock()  # draws in a fixed order per thread interleaving

    @property
    def contract(self) -> Contract:
        return jittered_contract(self.ttl, self.jitter)

    def _ttl_ms(self) -> int:
        with self._rng_lock:
            return jittered_ttl_ms(self.ttl, self.jitter, self._rng)

    def __repr__(self) -> str:
        return (
            f"JitteredTTLCache(namespace={self._keys.namespace!r}, ttl={self.ttl!r}, "
            f"jitter={self.jitter!r})"
        )


register_reference(
    Reference(
        "ttl_jitter",
        lambda world: JitteredTTLCache(
            world.client(), world.database, world.namespace, clock=world.clock
        ),
        jittered_contract(),
        "Cache-aside with TTLs drawn from [ttl - jitter, ttl + jitter] by a seeded RNG.",
    )
)
