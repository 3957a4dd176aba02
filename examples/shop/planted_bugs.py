"""Two subtle, realistic bugs planted in the cache layer. Each is a small change to
`ProductCache` that reads fine in review; ../tests/test_shop_cachecheck.py shows cachecheck
finding each one, with the shrunk steps that replay it."""

from __future__ import annotations

import redis

from shop.cache import DEFAULT_TTL_SECONDS, STORE_IF_NEWER, ProductCache, encode_product
from shop.repository import Versioned

#: The update path's copy of the store script, which lost its `'PX', ARGV[3]`.
_STORE_WITHOUT_TTL = STORE_IF_NEWER.replace(", 'PX', ARGV[3]", "")


class StaleFillCache(ProductCache):
    """The `@cached` read path fills a miss with a plain `SET ... PX`, skipping the version
    compare ("it's only a cache fill"). A read that loaded the row just before a concurrent
    update committed then overwrites the newer entry the update stored: the old product is
    served until the TTL runs out (the classic stale-set race)."""

    def fill(self, product_id: str, loaded: Versioned) -> None:
        payload = f"{loaded.version}|{encode_product(loaded.product)}"
        self.redis.set(self.key(product_id), payload, px=self.ttl_ms)


class TtlDroppingCache(ProductCache):
    """The write path got its own copy of the compare-and-set script (to log updates), and
    the copy lost the `'PX', ARGV[3]` of the original. Fills still expire, but every updated
    product stays cached forever, so nothing heals a later missed update."""

    def __init__(
        self, client: redis.Redis, *, prefix: str = "shop:", ttl: float = DEFAULT_TTL_SECONDS
    ) -> None:
        super().__init__(client, prefix=prefix, ttl=ttl)
        self._update_script = client.register_script(_STORE_WITHOUT_TTL)

    def fill(self, product_id: str, loaded: Versioned) -> None:
        super().store(product_id, loaded)

    def store(self, product_id: str, entry: Versioned) -> None:
        args = [entry.version, encode_product(entry.product), self.ttl_ms]
        self._update_script(keys=[self.key(product_id)], args=args)
