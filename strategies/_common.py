"""Helpers shared by the reference strategies."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    """Redis key names of one strategy instance, all under the world's namespace.

    `namespace` comes from `World.namespace`, so a run on a shared server only ever touches
    its own keys.
    """

    namespace: str
    strategy: str

    def value(self, key: str) -> str:
        return f"{self.namespace}{self.strategy}:v:{key}"

    def meta(self, kind: str, key: str = "") -> str:
        """Auxiliary keys: locks, versions, tags, queues (`kind` says which)."""
        return (
            f"{self.namespace}{self.strategy}:{kind}:{key}"
            if key
            else f"{self.namespace}{self.strategy}:{kind}"
        )

    def pattern(self) -> str:
        return f"{self.namespace}{self.strategy}:*"


def jittered_ttl_ms(base_seconds: float, jitter_seconds: float, rng: random.Random) -> int:
    """A TTL in milliseconds drawn uniformly from [base - jitter, base + jitter], at least 1 ms.

    Jitter spreads the expiry of keys written together, so they do not all miss at once.
    """
    if jitter_seconds < 0 or base_seconds <= 0:
        raise ValueError(
            f"need base > 0 and jitter >= 0, got base={base_seconds}, jitter={jitter_seconds}"
        )
    low = max(base_seconds - jitter_seconds, 0.001)
    high = base_seconds + jitter_seconds
    return max(1, round(rng.uniform(low, high) * 1000))
