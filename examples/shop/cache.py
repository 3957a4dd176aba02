"""The Redis cache layer: versioned entries written with a compare-and-set script.

Every entry is `"<version>|<json or null>"` with a TTL. Both the read path (filling a miss)
and the write path (after the commit) store through one Lua script that only replaces an
entry holding an *older* version. So a read that loaded a row just before a concurrent
update committed can never overwrite the newer entry the update stored, and a delete stores a
versioned tombstone instead of deleting the key.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import redis

from shop.repository import ProductData, Versioned

DEFAULT_TTL_SECONDS = 300.0

# KEYS: entry. ARGV: version, payload, ttl ms. Store only over an older version (or nothing).
STORE_IF_NEWER = """
local current = redis.call('GET', KEYS[1])
if current then
  local version = tonumber(string.match(current, '^(%d+)|'))
  if version and version >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'PX', ARGV[3])
return 1
"""


class ProductCache:
    """Product entries in Redis under `prefix`, each with a TTL and the version it holds."""

    def __init__(
        self, client: redis.Redis, *, prefix: str = "shop:", ttl: float = DEFAULT_TTL_SECONDS
    ) -> None:
        self.redis = client
        self.prefix = prefix
        self.ttl_ms = max(1, round(ttl * 1000))
        self._store_script = client.register_script(STORE_IF_NEWER)

    def key(self, product_id: str) -> str:
        return f"{self.prefix}product:{product_id}"

    def lookup(self, product_id: str) -> Versioned | None:
        """The cached entry, or None on a miss."""
        raw = self.redis.get(self.key(product_id))
        return None if raw is None else decode(raw)

    def fill(self, product_id: str, loaded: Versioned) -> None:
        """Store what the read path loaded (never over a newer entry)."""
        self.store(product_id, loaded)

    def store(self, product_id: str, entry: Versioned) -> None:
        """Store `entry` unless the cache already holds its version or a newer one. A dropped
        connection is retried once: redis-py reconnects on the next command."""
        args = [entry.version, encode_product(entry.product), self.ttl_ms]
        try:
            self._store_script(keys=[self.key(product_id)], args=args)
        except redis.ConnectionError:
            self._store_script(keys=[self.key(product_id)], args=args)


def cached(cache: ProductCache) -> Callable[[Callable[[str], Versioned]], Callable[[str], Any]]:
    """`@cached(cache)` around a loader `load(product_id) -> Versioned`: serve hits from the
    cache, load and fill misses; the decorated function returns the `ProductData` or None."""

    def decorate(load: Callable[[str], Versioned]) -> Callable[[str], ProductData | None]:
        @functools.wraps(load)
        def get(product_id: str) -> ProductData | None:
            hit = cache.lookup(product_id)
            if hit is not None:
                return hit.product
            loaded = load(product_id)
            cache.fill(product_id, loaded)
            return loaded.product

        return get

    return decorate


def encode_product(product: ProductData | None) -> str:
    if product is None:
        return "null"
    return json.dumps({"id": product.id, "name": product.name, "price": product.price_cents})


def decode(raw: str | bytes) -> Versioned:
    text = raw.decode() if isinstance(raw, bytes) else raw
    version, _, payload = text.partition("|")
    data = json.loads(payload)
    product = None if data is None else ProductData(data["id"], data["name"], data["price"])
    return Versioned(int(version), product)
